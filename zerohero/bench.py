"""Benchmarks measured on the generated Verilog (cycles and ratios, never wall time)."""

from __future__ import annotations

import math
import random

from zerohero.hw.config import preset
from zerohero.sim.harness import build
from zerohero.sim.model.streams import intersect_tokens
from zerohero.sim.tokens import encode_fibers
from zerohero.sim.units import StreamCodec

__all__ = ["bench_intersect", "BENCHES", "table"]


def _intersect_pairs(rng: random.Random, short: int):
    """The two benchmark cases as (case, a_coords, b_coords).

    balanced: two streams of ``16 * short`` coordinates, each drawn from twice that range
    (about half of each stream matches). skewed: a long stream of ``16 * short`` coordinates
    and a short one of ``short``, with matches equal to ~5% of all coordinates of the pair.
    """
    n_long = 16 * short
    space = range(2 * n_long)
    a = sorted(rng.sample(space, n_long))
    b = sorted(rng.sample(space, n_long))
    yield "balanced", a, b
    matches = round(0.05 * (n_long + short))
    outside = sorted(set(space) - set(a))
    b = sorted(rng.sample(a, matches) + rng.sample(outside, short - matches))
    yield "skewed", a, b


def bench_intersect(sim: str = "verilator", windows=(1, 2, 4), short: int = 128):
    """Coordinates consumed per cycle and cycles per match of the Intersector, per window."""
    records = []
    base = preset("sim-small")
    for k in windows:
        cfg = base.replace(window=k)
        built = build(cfg, "intersector", sim)
        codec = StreamCodec(cfg)
        cases = list(_intersect_pairs(random.Random(7), short))
        runs = []
        for case, a, b in cases:
            ta = encode_fibers([[(c, 1) for c in a]], level=0)
            tb = encode_fibers([[(c, 1) for c in b]], level=0)
            runs.append({"inputs": {"a": codec.beats(ta), "b": codec.beats(tb)},
                         "outputs": {"out": codec.done_mask(codec.pair)},
                         "timeout": 10 * (len(a) + len(b))})
        for (case, a, b), res in zip(cases, built.run_streams(runs)):
            got = codec.decode(res["outputs"]["out"], codec.pair)
            want = intersect_tokens(encode_fibers([[(c, 1) for c in a]], level=0),
                                    encode_fibers([[(c, 1) for c in b]], level=0))
            if got != want:
                raise RuntimeError(f"intersector output wrong in benchmark {case} K={k}")
            matches = len(set(a) & set(b))
            coords = len(a) + len(b)
            # Cycles from the first input beat offered to the last token (DONE) accepted.
            cycles = res["cycles"]
            # The window bounds each input to k coordinates a cycle, and a match costs a cycle.
            limit_cycles = max(matches, math.ceil(len(a) / k), math.ceil(len(b) / k))
            records.append({
                "window": k, "case": case, "coords": coords, "matches": matches,
                "cycles": cycles,
                "coords_per_cycle": round(coords / cycles, 3),
                "cycles_per_match": round(cycles / matches, 3),
                "limit_coords_per_cycle": round(coords / limit_cycles, 3),
            })
    return records


BENCHES = {"intersect": bench_intersect}


def table(records: list[dict]) -> str:
    """A Markdown table of benchmark records."""
    keys = list(records[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in records]
    return "\n".join(lines)
