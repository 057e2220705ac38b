"""Intersector and Unioner: generated Verilog against the token-level golden model."""

import random

import pytest
from conftest import SCALE, unit_config

from zerohero.sim.harness import build, first_mismatch
from zerohero.model.streams import intersect_tokens, union_tokens
from zerohero.sim.units import StreamCodec, fiber_pair_cases

GOLDEN = {"intersector": intersect_tokens, "unioner": union_tokens}


@pytest.mark.cocotb
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("unit", ["intersector", "unioner"])
def test_join_matches_golden(sim, unit, k):
    cfg = unit_config(window=k)
    built = build(cfg, unit, sim)
    codec = StreamCodec(cfg)
    rng = random.Random(f"{unit}-{k}")
    cases = fiber_pair_cases(cfg, rng, int(40 * SCALE[sim]))
    runs = []
    for i, (a, b) in enumerate(cases):
        # Full-rate runs first, then random stalls on every port with ragged beats.
        stall = 0.0 if i % 2 == 0 else 0.3
        ragged = rng if i % 2 else None
        runs.append({"inputs": {"a": codec.beats(a, ragged), "b": codec.beats(b, ragged)},
                     "outputs": {"out": codec.done_mask(codec.pair)},
                     "stall": stall, "timeout": 20_000})
    results = built.run_streams(runs, seed=k)
    for i, ((a, b), res) in enumerate(zip(cases, results)):
        got = codec.decode(res["outputs"]["out"], codec.pair)
        want = GOLDEN[unit](a, b)
        problem = first_mismatch(got, want, f"case {i} out")
        assert problem is None, f"{problem}\n  a={a}\n  b={b}"
