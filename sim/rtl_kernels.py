"""Kernels run on the generated Verilog of the compute core (the RTL backend so far).

``spmspv`` streams each lane's rows of ``A`` against the sparse vector ``x`` through the
:class:`~zerohero.hw.core.SparseCore` under cocotb and gathers ``y``; the memory controller and
sequencer of later issues will take over the streaming that the testbench does here.
"""

from __future__ import annotations

import math

import numpy as np

from zerohero.firmware.scheduler import balance_rows

from .harness import build
from .model import CSR, IntSemantics, SparseVector, to_format
from .tokens import encode_fibers
from .units import StreamCodec

__all__ = ["spmspv"]


def spmspv(cfg, A, x, sim: str = "verilator", relu: bool = False, stall: float = 0.0):
    """``(y, stats)`` of ``A @ x`` on the RTL: ``A`` CSR-convertible, ``x`` a SparseVector."""
    A = to_format(A, "csr")
    x = to_format(x, "vector")
    sem = IntSemantics.from_config(cfg)
    rows, cols = A.shape
    if x.length != cols:
        raise ValueError(f"spmspv: A has {cols} columns but x has length {x.length}")
    sem.check_values(A.vals, "A")
    sem.check_values(x.vals, "x")
    for name, extent in (("A columns", cols), ("A rows", rows)):
        if extent - 1 > cfg.coord_max:
            raise ValueError(f"spmspv: {name} = {extent} exceed coord_width {cfg.coord_width} "
                             f"(largest coordinate {cfg.coord_max})")
    xf = [(int(c), int(v)) for c, v in zip(x.crd, x.vals)]
    k = cfg.window
    # Cost of a row on a lane: its window cycles against x (each side k coordinates a cycle).
    nnz = np.diff(A.pos)
    costs = [max(math.ceil(n / k), math.ceil(len(xf) / k), 1) for n in nnz]
    lanes = balance_rows(costs, cfg.lanes)
    codec = StreamCodec(cfg)
    inputs, outputs = {}, {}
    for lane, lrows in enumerate(lanes):
        fa = [[(int(A.crd[j]), int(A.vals[j])) for j in range(A.pos[r], A.pos[r + 1])]
              for r in lrows]
        fb = [xf for _ in lrows]
        inputs[f"a__{lane}"] = codec.beats(encode_fibers(fa))
        inputs[f"b__{lane}"] = codec.beats(encode_fibers(fb))
        outputs[f"out__{lane}"] = codec.done_mask(codec.result)
    built = build(cfg, "core", sim)
    run = {"inputs": inputs, "outputs": outputs, "set": {"relu": int(relu), "clear": 0},
           "read": [f"{c}__{lane}" for c in ("busy", "macs", "zeros", "stalls")
                    for lane in range(cfg.lanes)] + ["error"],
           "stall": stall, "timeout": 50 * (A.nnz + len(xf) * rows + rows) + 1000}
    res = built.run_streams([run])[0]
    if res["read"]["error"]:
        raise RuntimeError(f"spmspv: a lane flagged a stream structure error "
                           f"(mask {res['read']['error']:#x})")
    y = np.zeros(rows, dtype=np.int64)
    for lane, lrows in enumerate(lanes):
        got = codec.decode(res["outputs"][f"out__{lane}"], codec.result)
        results = [t for t in got if t.data]
        if len(results) != len(lrows) or not got[-1].done:
            raise RuntimeError(f"spmspv: lane {lane} returned {len(results)} results for "
                               f"{len(lrows)} rows")
        for r, t in zip(lrows, results):
            y[r] = t.val[0]
    read = res["read"]
    macs = [read[f"macs__{i}"] for i in range(cfg.lanes)]
    useful = sum(macs)
    cycles = res["cycles"]
    stats = {
        "cycles": cycles,
        "ideal_cycles": math.ceil(useful / cfg.lanes),
        "macs": useful,
        "zeros_skipped": sum(read[f"zeros__{i}"] for i in range(cfg.lanes)),
        "utilization": useful / (cfg.lanes * cycles) if cycles else 0.0,
        "lane_rows": [len(r) for r in lanes],
        "lane_macs": macs,
        "lane_busy": [read[f"busy__{i}"] for i in range(cfg.lanes)],
    }
    return y, stats
