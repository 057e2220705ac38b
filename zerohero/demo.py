"""``zerohero demo`` / ``make demo``: the main job on the simulated accelerator, end to end.

1. generates the Verilog of the default configuration's top (``build/demo``);
2. builds it with Verilator (or Icarus) and runs SpMSpV on a real SuiteSparse matrix: rows are
   balanced across the lanes by cost, each lane intersects its rows with the sparse vector,
   and only matching nonzeros reach a multiplier;
3. checks every output element against the bit-exact golden model and prints the counters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zerohero.hw.config import preset
from zerohero.sim.harness import ROOT
from zerohero.sim.model import SparseVector, load_mtx, spmspv as golden_spmspv, IntSemantics

DEFAULT_MATRIX = ROOT / "data" / "suitesparse" / "west0479.mtx"


def run_demo(sim: str = "verilator", matrix: str | None = None, config: str = "sim-small",
             x_density: float = 0.05, seed: int = 1):
    from zerohero.hw.top import dumps, generate
    from zerohero.sim.rtl_kernels import spmspv

    cfg = preset(config)
    path = Path(matrix) if matrix else DEFAULT_MATRIX
    print(f"zerohero demo: SpMSpV y = A @ x on the '{cfg.name}' accelerator "
          f"({cfg.lanes} lanes, window {cfg.window}, {cfg.value_width}-bit values, "
          f"{cfg.acc_width}-bit {cfg.overflow} accumulators), simulated with {sim}")
    A = load_mtx(path, values="quantize", value_width=8)
    rng = np.random.default_rng(seed)
    cols = A.shape[1]
    crd = np.sort(rng.choice(cols, size=max(1, int(x_density * cols)), replace=False))
    vals = rng.integers(-127, 128, size=len(crd))
    vals[vals == 0] = 1
    x = SparseVector(cols, crd, vals)
    out = Path("build") / "demo"
    out.mkdir(parents=True, exist_ok=True)
    text, description = generate(cfg)
    vpath = out / f"{description['module']}.v"
    vpath.write_text(text)
    (out / f"{description['module']}.json").write_text(dumps(description))
    print(f"  Verilog: {vpath} ({len(text.splitlines())} lines)")

    print(f"  A: {path.name}, {A.shape[0]} x {A.shape[1]}, {A.nnz} stored entries "
          f"(values quantized to 8 bits); x: {len(crd)} nonzeros of {cols}")

    y, stats = spmspv(cfg, A, x, sim=sim)
    want = golden_spmspv(A, x, IntSemantics.from_config(cfg))
    bad = np.flatnonzero(y != want)
    dense_macs = A.shape[0] * A.shape[1]
    print(f"  cycles {stats['cycles']}, MACs issued {stats['macs']} "
          f"(a dense GEMV would issue {dense_macs}), zero operands skipped "
          f"{stats['zeros_skipped']}, MAC utilization {stats['utilization']:.1%}")
    print("  lane:  " + " ".join(f"{i:>6}" for i in range(cfg.lanes)))
    print("  rows:  " + " ".join(f"{v:>6}" for v in stats["lane_rows"]))
    print("  MACs:  " + " ".join(f"{v:>6}" for v in stats["lane_macs"]))
    print("  busy:  " + " ".join(f"{v:>6}" for v in stats["lane_busy"]))
    if len(bad):
        i = bad[0]
        raise RuntimeError(f"RTL result differs from the golden model at y[{i}]: "
                           f"got {y[i]}, expected {want[i]} ({len(bad)} elements differ)")
    print(f"  result: all {len(y)} elements of y match the bit-exact golden model "
          f"({np.count_nonzero(y)} nonzero)")
    return y, stats
