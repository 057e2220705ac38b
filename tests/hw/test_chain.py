"""Resident chains (firmware/resident.py, hw/result.py, the broadcast path): the RTL against
the golden model bit for bit, both against a naive Python-integer reference written here, and
the host traffic of a resident run."""

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from zerohero import model
from zerohero.firmware.resident import Requant, golden_chain, plan_chain
from zerohero.runtime import Runtime
from zerohero.spec.regmap import RegisterMap

from conftest import SCALE, acc_config, random_chain

CFG = acc_config()


def naive_chain(layers, X):
    """Python integers, one sample at a time: exact sums (the cases stay in range), ReLU, and
    round half up of ``acc * m / 2**s`` as the fraction it is."""
    out = []
    for x in X:
        a = [int(v) for v in x]
        for L in layers:
            A = np.asarray(L.A, dtype=object)
            inp = a + [int(c) for c in L.consts]
            acc = [sum(int(w) * v for w, v in zip(row, inp)) for row in A]
            if L.relu:
                acc = [max(v, 0) for v in acc]
            q = L.requant
            if q is None:
                a = acc
                continue
            rows = len(acc)
            m, s, z = (np.broadcast_to(np.asarray(v, dtype=object).reshape(-1), (rows,))
                       for v in (q.mult, q.shift, q.zero))
            a = [min(max(int((Fraction(v * int(m[r]), 2 ** int(s[r])) + Fraction(1, 2)) // 1)
                         + int(z[r]), q.lo), q.hi)
                 for r, v in enumerate(acc)]
        out.append(a)
    return np.array(out, dtype=np.int64)


def test_requantize_is_round_half_up_of_the_fraction():
    rng = np.random.default_rng(3)
    acc = rng.integers(-1 << 20, 1 << 20, 400)
    acc[:4] = [3, -3, 5, -5]                       # ties at shift 1
    m = rng.integers(0, 1 << 16, 400)
    m[:4] = 1
    s = rng.integers(0, 40, 400)
    s[:4] = 1
    z = rng.integers(-9, 10, 400)
    got = model.requantize(acc, m, s, z, -1000, 1000)
    want = [min(max(int((Fraction(int(a) * int(mm), 2 ** int(ss)) + Fraction(1, 2)) // 1)
                    + int(zz), -1000), 1000) for a, mm, ss, zz in zip(acc, m, s, z)]
    assert got.tolist() == want
    assert got[:4].tolist() == [2 + z[0], -1 + z[1], 3 + z[2], -2 + z[3]]


def test_a_chain_on_rtl_is_the_golden_chain_and_the_naive_one(sim):
    rng = np.random.default_rng(7)
    layers = random_chain(rng, CFG, [12, 17, 9, 5])
    n = max(3, int(11 * SCALE[sim]))
    X = rng.integers(-20, 40, (n, 12))
    m = Runtime(CFG, sim).load(layers, batch=4)           # batches of 4, the last shorter
    got, st = m.infer(X, counters=True)
    gold, _ = golden_chain(layers, X.T, model.IntSemantics.from_config(CFG))
    assert np.array_equal(got, gold.T)
    assert np.array_equal(got, naive_chain(layers, X))
    assert st["batches"] == -(-n // 4) and st["overflows"] == 0
    assert st["compute_cycles"] > 0 and st["macs"] > 0
    # The requantized values reach both clamps and the zero points move them.
    assert (got != 0).any()


def test_the_host_writes_only_inputs_between_batches():
    rng = np.random.default_rng(8)
    layers = random_chain(rng, CFG, [12, 17, 9, 5])
    plan = plan_chain(CFG, layers, batch=4)
    first = plan.batch_program(rng.integers(0, 9, (12, 4)))
    again = plan.batch_program(rng.integers(0, 9, (12, 4)), first.firmware)
    parts = 1
    assert len(again.writes) == 12 * 4 * parts                    # the inputs, nothing else
    assert len(again.reads) == 5 * 4 * parts                       # the outputs, nothing else
    short = plan.batch_program(rng.integers(0, 9, (12, 2)), again.firmware)
    assert 12 * 2 < len(short.writes) <= 12 * 2 + 3                # + the column counts
    X = rng.integers(0, 9, (10, 12))
    st = Runtime(CFG, "model").load(layers, batch=4).infer(X)[1]
    # The inputs, 3 STARTs, the first word (a halt while loading), the short batch's counts.
    assert st["host_words_out"] == 10 * 12 + 3 + 1 + 3
    assert st["host_words_in"] == 10 * 5 + 3                       # outputs, CYCLES x3


def test_a_digits_network_runs_resident_bit_exact_on_verilator():
    from zerohero import nn

    _, _, Xte, _ = nn.load_digits_split()
    c = nn.compile_network(nn.train(), "sim-small", 0.8)
    acc = Runtime("sim-small", "verilator")
    logits, st = acc.load(c).infer(Xte[:40])
    assert np.array_equal(logits, nn.golden_infer(c, Xte[:40]))
    assert st["batches"] == 2 and st["resident_load"]["host_words_out"] > 0
    per = st["per_inference"]
    parts = RegisterMap(acc.cfg).spm_word_parts       # bus words a scratchpad word
    assert per["host_words_out"] <= 64 * parts + 1 and per["host_words_in"] <= 10 * parts + 1


def test_a_config_without_the_result_stage_is_refused():
    cfg = dataclasses.replace(CFG, result_stage=False)
    with pytest.raises(ValueError, match="without the result stage"):
        plan_chain(cfg, random_chain(np.random.default_rng(1), cfg, [4, 3, 2]))


def test_weights_that_do_not_fit_name_the_layer_and_the_shortfall():
    rng = np.random.default_rng(2)
    layers = random_chain(rng, CFG, [12, 20, 30, 5], density=1.0)
    with pytest.raises(ValueError, match=r"layer 1: its weights need \d+ words of every operand "
                                         r"bank but \d+ are left .* \d+ short"):
        plan_chain(CFG, layers)


def test_bounds_the_next_layer_cannot_take_are_refused():
    rng = np.random.default_rng(2)
    layers = random_chain(rng, CFG, [4, 3, 2])
    layers[0] = dataclasses.replace(layers[0], requant=Requant(1, 0, 0, 0, 200))
    with pytest.raises(ValueError, match=r"layer 0: requantization bounds \[0, 200\]"):
        plan_chain(CFG, layers)
