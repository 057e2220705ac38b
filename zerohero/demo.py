"""``zerohero demo`` / ``make demo``: the main job on the simulated accelerator.

Generates the Verilog of the integrated accelerator for ``sim-small``, builds it with
Verilator, and runs the kernels on real SuiteSparse matrices and on generated ones through the
host runtime (operands and firmware loaded over the host bus, the sequencer drives the lanes).
Every result is checked bit-exactly against the golden model, and each sparse kernel is run
again in dense mode (every coordinate streamed) on the same hardware for the speedup.
Then the digits network of :mod:`zerohero.nn` (80% sparse) runs a few test images on the
hardware, checked bit-exactly against the golden integer inference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from zerohero import model, outputs
from zerohero.sim.harness import ROOT, generated

DATA = ROOT / "data" / "suitesparse"


def _cases(rng, cfg):
    vmax = 100

    def vec(n, density=1.0):
        v = rng.integers(-vmax, vmax + 1, n)
        v[v == 0] = 1
        return np.where(rng.random(n) < density, v, 0)

    def mtx(name, values="quantize"):
        return model.load_mtx(DATA / f"{name}.mtx", values=values, value_width=8)

    west = mtx("west0479")
    bus = mtx("494_bus")
    lp = mtx("lp_scsd1")
    bcspwr = mtx("bcspwr04", "pattern")
    gen = model.from_dense(np.where(rng.random((512, 512)) < 0.05,
                                    rng.integers(-vmax, vmax + 1, (512, 512)), 0), "csr")
    dense = np.where(rng.random((96, 96)) < 0.7, rng.integers(-vmax, vmax + 1, (96, 96)), 0)
    xs = vec(479, 0.05)
    return [
        ("spmv", "west0479", west, vec(479), False),
        ("spmv", "494_bus", bus, vec(494), False),
        ("spmv", "lp_scsd1 (77x760)", lp, vec(760), False),
        ("spmv+relu", "random 512x512 5%", gen, vec(512), True),
        ("spmspv", "west0479, x 5%", west,
         model.SparseVector(479, np.flatnonzero(xs), xs[xs != 0]), False),
        ("spmm", "bcspwr04 x 4 cols", bcspwr, rng.integers(-vmax, vmax + 1, (274, 4)), False),
        ("gemv", "random 96x96 70%", dense, vec(96), False),
        ("gemm", "random 96x96 70% x 4", dense, rng.integers(-vmax, vmax + 1, (96, 4)), False),
    ]


DENSE_MODE = {"spmv": "gemv", "spmspv": "gemv", "spmm": "gemm"}


def run_demo(sim: str = "verilator", config: str = "sim-small", seed: int = 1, out=None):
    from zerohero.hw.top import dumps
    from zerohero.runtime import Runtime

    out = out or sys.stdout
    acc = Runtime(config, sim)
    cfg = acc.cfg
    print(f"zerohero demo: the '{cfg.name}' accelerator ({cfg.lanes} lanes, {cfg.value_width}-bit "
          f"values, {cfg.acc_width}-bit {cfg.overflow} accumulators, {cfg.spm_banks} banks of "
          f"{cfg.spm_depth} words) simulated with {sim}", file=out)
    build = Path("build") / "demo"
    text, description = generated(cfg)
    files = outputs.Outputs()
    vpath = build / f"{description['module']}.v"
    outputs.write_all([(files.add("the demo's Verilog", vpath), text),
                       (files.add("its port description", vpath.with_suffix(".json")),
                        dumps(description))])
    print(f"  Verilog: {vpath} ({len(text.splitlines())} lines); building the simulation model "
          "(a few minutes the first time)...", file=out, flush=True)
    rows = []
    failed = 0
    for label, name, A, B, relu in _cases(np.random.default_rng(seed), cfg):
        kernel = label.split("+")[0]
        got, st = getattr(acc, kernel)(A, B, relu=relu)
        want = model.KERNELS[kernel](A, B, acc.sem, relu=relu)
        ok = np.array_equal(got, want)
        failed += not ok
        speedup = "-"
        if kernel in DENSE_MODE:
            dense_kernel = DENSE_MODE[kernel]
            Bd = B.to_dense() if kernel == "spmspv" else B
            dres, dst = getattr(acc, dense_kernel)(A.to_dense(), Bd, relu=relu)
            ok = ok and np.array_equal(dres, want)
            speedup = f"{dst['cycles'] / st['cycles']:.1f}x"
        nnz = A.nnz if hasattr(A, "nnz") else int(np.count_nonzero(A))
        rows.append((label, name, nnz, st["cycles"], st["ideal_cycles"],
                     f"{st['utilization']:.0%}", speedup, "pass" if ok else "FAIL"))
        print(f"  {label:10s} {name:22s} done", file=out, flush=True)
    head = ("kernel", "matrix", "nnz", "cycles", "ideal cycles", "utilization",
            "speedup vs dense", "check")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("", file=out)
    for r in [head] + rows:
        print("  " + "  ".join(str(v).rjust(w) if i >= 2 else str(v).ljust(w)
                               for i, (v, w) in enumerate(zip(r, widths))), file=out)
    print("\n  utilization = useful MACs / (lanes x cycles); ideal cycles = useful MACs / lanes;"
          "\n  dense mode streams every coordinate of A on the same hardware (zeros are still "
          "not multiplied).", file=out)
    if failed:
        raise RuntimeError(f"{failed} kernel result(s) differ from the golden model")
    print(f"  all {len(rows)} results match the bit-exact golden model", file=out)
    from zerohero.nn import demo_digits

    demo_digits(sim, config, out=out)
    return rows
