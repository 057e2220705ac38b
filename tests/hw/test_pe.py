"""PE array (zero-skipping MAC lanes): generated Verilog against the golden model."""

import random

import pytest
from conftest import SCALE, unit_config

from zerohero.sim.fixtures import PEArray
from zerohero.sim.harness import build, first_mismatch
from zerohero.model.kernels import IntSemantics
from zerohero.model.streams import counts, intersect_tokens, mac_tokens, union_tokens
from zerohero.spec.tokens import encode_fibers
from zerohero.sim.units import StreamCodec, random_fibers


def pair_streams(cfg, rng, count):
    """Two-operand streams: joined sparse fibers (absent sides), dense fibers with zeros,
    and extreme values that overflow the accumulator."""
    lo, hi = cfg.value_min, cfg.value_max
    extreme = [[(c, hi) for c in range(40)], [(c, lo) for c in range(40)], []]
    mixed = [[(c, hi if c % 3 else lo) for c in range(30)]]
    streams = [
        intersect_tokens(encode_fibers(extreme), encode_fibers(extreme)),
        intersect_tokens(encode_fibers(extreme), encode_fibers(extreme[::-1][1:] + [[]])),
        intersect_tokens(encode_fibers(mixed), encode_fibers(mixed)),
        intersect_tokens(encode_fibers([[]]), encode_fibers([[]])),  # one empty fiber
    ]
    for _ in range(count):
        n = rng.randint(1, 8)
        da, db = rng.choice([0.2, 0.6, 1.0]), rng.choice([0.2, 0.6, 1.0])
        # Dense-ish operands with explicit zeros: values drawn to include 0 often.
        a = [[(c, v if rng.random() < 0.7 else 0) for c, v in f]
             for f in random_fibers(rng, n, 24, da, lo, hi)]
        b = [[(c, v if rng.random() < 0.7 else 0) for c, v in f]
             for f in random_fibers(rng, n, 24, db, lo, hi)]
        join = rng.choice([intersect_tokens, union_tokens])
        streams.append(join(encode_fibers(a), encode_fibers(b)))
    return streams


@pytest.mark.cocotb
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_pe_array_matches_golden(sim, overflow):
    cfg = unit_config(overflow=overflow)
    built = build(cfg, PEArray, sim)
    codec = StreamCodec(cfg)
    sem = IntSemantics.from_config(cfg)
    rng = random.Random(overflow)
    streams = pair_streams(cfg, rng, int(24 * SCALE[sim]))
    runs, expected = [], []
    # Each run feeds two lanes different streams; odd runs stall every port and use ReLU.
    for i in range(0, len(streams) - 1, 2):
        relu = (i // 2) % 2
        stall = 0.3 if relu else 0.0
        lanes = streams[i:i + 2]
        runs.append({
            "inputs": {f"inp__{j}": codec.tokens(s, codec.pair) for j, s in enumerate(lanes)},
            "outputs": {f"out__{j}": codec.done_mask(codec.result) for j in range(2)},
            "set": {"relu": relu, "clear": 0},
            "read": [f"{c}__{j}" for c in ("busy", "macs", "zeros", "stalls") for j in range(2)],
            "stall": stall, "timeout": 20_000,
        })
        expected.append((lanes, relu, stall))
    results = built.run_streams(runs, seed=1)
    for r, ((lanes, relu, stall), res) in enumerate(zip(expected, results)):
        for j, pairs in enumerate(lanes):
            got = codec.decode(res["outputs"][f"out__{j}"], codec.result)
            want = mac_tokens(pairs, sem, relu=bool(relu))
            problem = first_mismatch(got, want, f"run {r} lane {j} out")
            assert problem is None, f"{problem}\n  input={pairs}"
            macs, zeros = counts(pairs)
            read = res["read"]
            assert read[f"macs__{j}"] == macs, f"run {r} lane {j}: MACs issued"
            assert read[f"zeros__{j}"] == zeros, f"run {r} lane {j}: zero operands skipped"
            assert read[f"busy__{j}"] == len(pairs), f"run {r} lane {j}: busy cycles"
            if stall == 0:
                assert read[f"stalls__{j}"] == 0, f"run {r} lane {j}: stalls without backpressure"
