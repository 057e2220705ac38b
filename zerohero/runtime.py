"""The host runtime: one API for every backend.

``Accelerator(config, backend)`` has one method per kernel. Each takes NumPy arrays or
scipy.sparse matrices (or the golden model's formats), checks them against the configuration
(shape, widths, coordinate range, scratchpad capacity) before anything runs, and returns
``(result, stats)``: the result as NumPy (dense) and ``stats`` a dict with ``cycles``,
``ideal_cycles`` (``ceil(useful MACs / lanes)``), ``utilization``, ``macs``,
``zeros_skipped`` and ``lane_busy``.

Backends: ``"verilator"`` and ``"icarus"`` run the generated Verilog of
:class:`zerohero.hw.accelerator.Accelerator` under cocotb (the host loads the scratchpad and
the firmware, starts, waits for ``irq``, reads back); ``"model"`` runs the golden model (no
cycle figures); ``"board"`` executes the same :class:`Program` s on an FPGA board over its UART
(:mod:`zerohero.board`; ``cycles`` is ``None`` there).
"""

from __future__ import annotations

import math

import numpy as np

from zerohero.firmware.scheduler import plan_rowwise, useful_macs
from zerohero.hw.config import AccelConfig, preset
from zerohero.sim import model

__all__ = ["Accelerator", "BACKENDS"]

BACKENDS = ("verilator", "icarus", "model", "board")


class Accelerator:
    def __init__(self, config: AccelConfig | str = "sim-small", backend: str = "verilator",
                 progress=None, port=None, **board_options):
        """``progress``: optional callable taking one line of text, called at the slow
        stages of an RTL run (building the simulation model, simulating). ``backend="board"``
        runs on an FPGA board over its UART (:mod:`zerohero.board`): ``port`` is the serial
        device (or an open port object); ``board_options`` go to ``BoardRunner``."""
        self.progress = progress or (lambda message: None)
        self.cfg = preset(config) if isinstance(config, str) else config
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.backend = backend
        self.sem = model.IntSemantics.from_config(self.cfg)
        self._built = None
        if backend == "board":
            from zerohero.board import BoardRunner

            if port is None:
                raise ValueError("backend 'board' needs port= (a serial device such as "
                                 "/dev/ttyUSB1)")
            self._board = BoardRunner(port, **board_options)

    # Kernels ---------------------------------------------------------------------------

    def spmv(self, A, x, relu=False):
        A, x = self._csr(A, "A"), self._dense(x, "x", 1)
        self._inner("spmv", A, x.shape[0])
        return self._run("spmv", A, x, relu, model.spmv)

    def spmspv(self, A, x, relu=False):
        A = self._csr(A, "A")
        x = model.to_format(x, "vector")
        self.sem.check_values(x.vals, "x")
        self._inner("spmspv", A, x.length)
        return self._run("spmspv", A, x, relu, model.spmspv)

    def spmm(self, A, B, relu=False):
        A, B = self._csr(A, "A"), self._dense(B, "B", 2)
        self._inner("spmm", A, B.shape[0])
        return self._run("spmm", A, B, relu, model.spmm)

    def gemv(self, A, x, relu=False):
        A, x = self._dense(A, "A", 2), self._dense(x, "x", 1)
        self._inner("gemv", A, x.shape[0])
        return self._run("gemv", model.Dense(A), x, relu, model.gemv)

    def gemm(self, A, B, relu=False):
        A, B = self._dense(A, "A", 2), self._dense(B, "B", 2)
        self._inner("gemm", A, B.shape[0])
        return self._run("gemm", model.Dense(A), B, relu, model.gemm)

    # Checks ----------------------------------------------------------------------------

    def _csr(self, A, name):
        A = model.to_format(A, "csr")
        self.sem.check_values(A.vals, name)
        return A

    def _dense(self, x, name, ndim):
        if hasattr(x, "toarray"):
            x = x.toarray()
        elif hasattr(x, "to_dense"):
            x = x.to_dense()
        arr = np.asarray(x)
        if arr.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, not {arr.ndim}-D with shape {arr.shape}")
        self.sem.check_values(arr, name)
        return arr.astype(np.int64)

    @staticmethod
    def _inner(kernel, A, length):
        if A.shape[1] != length:
            raise ValueError(f"{kernel}: A has {A.shape[1]} columns but the second operand "
                             f"has {length} rows")

    # Execution -------------------------------------------------------------------------

    def _run(self, kernel, A, B, relu, golden):
        macs = useful_macs(kernel, A, B)
        if self.backend == "model":
            result = golden(A, B, self.sem, relu=relu)
            stats = {"cycles": None, "ideal_cycles": math.ceil(macs / self.cfg.lanes),
                     "utilization": None, "macs": macs, "zeros_skipped": None,
                     "lane_busy": None}
            return result, stats
        program = plan_rowwise(self.cfg, kernel, A, B, relu)
        job = self.execute([program])[0]
        result, counters = program.decode(job["reads"])
        issued = sum(c["macs"] for c in counters)
        cycles = job["cycles"]
        stats = {
            "cycles": cycles,
            "ideal_cycles": math.ceil(macs / self.cfg.lanes),
            "utilization": macs / (self.cfg.lanes * cycles) if cycles else None,
            "macs": issued,
            "useful_macs": macs,
            "zeros_skipped": sum(c["zeros"] for c in counters),
            "lane_busy": [c["busy"] for c in counters],
            "sim_cycles_per_s": cycles / job["wall_s"] if cycles and job.get("wall_s") else None,
        }
        return result, stats

    def execute(self, programs):
        """Run :class:`Program` s on the backend; per program ``{cycles, reads}``."""
        if self.backend == "board":
            self.progress(f"running on the board: {sum(len(p.writes) for p in programs)} "
                          f"words out, {sum(len(p.reads) for p in programs)} back...")
            results = self._board.execute(programs)
        else:
            results = self._simulate(programs)
        for p, res in zip(programs, results):
            if res["errors"]:
                addr, we = res["errors"][0]
                raise RuntimeError(f"{p.kernel}: the accelerator refused the bus "
                                   f"{'write' if we else 'read'} at {addr:#x}")
            if not res["irq"]:
                raise RuntimeError(f"{p.kernel}: no completion within {p.timeout} cycles")
        return results

    def _simulate(self, programs):
        from zerohero.sim.harness import build

        if self._built is None:
            self.progress(f"generating the Verilog of config {self.cfg.name} and building its "
                          f"{self.backend} model (the build is reused from build/sim/ while the "
                          f"Verilog is unchanged)...")
            self._built = build(self.cfg, "accelerator", self.backend)
        self.progress(f"simulating on {self.backend}: loading "
                      f"{sum(len(p.writes) for p in programs)} words, running, reading back "
                      f"{sum(len(p.reads) for p in programs)} words...")
        jobs = [{"writes": p.writes, "start": list(p.start), "reads": p.reads,
                 "timeout": p.timeout} for p in programs]
        return self._built.run("zerohero.sim.tb.accel", {"jobs": jobs})


