"""The host runtime: one API for every backend.

``Runtime(config, backend)`` has one method per kernel. Each takes NumPy arrays or
scipy.sparse matrices (or the golden model's formats), checks them against the configuration
(shape, widths, coordinate range, scratchpad capacity) before anything runs, and returns
``(result, stats)``: the result as NumPy (dense) and ``stats`` a dict with ``cycles``,
``ideal_cycles`` (``ceil(useful MACs / lanes)``), ``utilization``, ``macs``,
``zeros_skipped`` and ``lane_busy`` (plus ``tiles``, ``load_cycles``, ``read_cycles``: the
bus cycles spent loading operands and reading results, and ``hidden_cycles``: the load cycles
that overlapped a run, with double buffering; ``compute_cycles`` (``cycles``) beside
``end_to_end_cycles`` = compute + load + read - hidden, and ``host_words_out`` /
``host_words_in``, the bus words written (START included) and read). Operands larger than
the scratchpad are tiled (:mod:`zerohero.firmware.sparse`), optionally double-buffered, and
all tiles run in one simulator run. ``spgemm``/``ewmul``/``ewadd`` return a
``scipy.sparse.csr_array``
with zero results dropped.

Backends: ``"verilator"`` and ``"icarus"`` run the generated Verilog of
:class:`zerohero.hw.accelerator.Accelerator` under the Verilog bus player
(:meth:`zerohero.sim.harness.Built.play`: the host's writes, START, the wait for ``irq`` and
the reads played from a script, clocked by a C++ loop on Verilator and by ``vvp`` on
Icarus); ``"model"`` runs the golden model (no cycle figures); ``"board"`` executes the
same :class:`Program` s on an FPGA board over its UART (:mod:`zerohero.board_backend`).
``cycles`` is the hardware's own count (the ``CYCLES`` register, read after every run: from
the edge that accepted START to the one that raised ``irq``) on the simulators and the board
alike; on a simulator it equals the bus player's count (``tests/hw/test_accelerator.py``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse

from zerohero.firmware.isa import assemble
from zerohero.firmware.resident import (golden_chain, golden_iterate, plan_chain,
                                        plan_iterate)
from zerohero.firmware.scheduler import Program, start_write, useful_macs
from zerohero.firmware.sparse import (SPARSE_KERNELS, estimated_cycles, plan_double_buffered,
                                      plan_tiles, stitch)
from zerohero.spec.config import AccelConfig, preset
from zerohero.spec.regmap import RegisterMap
from zerohero import model

__all__ = ["Runtime", "BACKENDS"]

BACKENDS = ("verilator", "icarus", "model", "board")


class Runtime:
    def __init__(self, config: AccelConfig | str = "sim-small", backend: str = "verilator",
                 progress=None, port=None, double_buffer: bool | None = None, **board_options):
        """``progress``: optional callable taking one line of text, called at the slow
        stages of an RTL run (building the simulation model, simulating). ``double_buffer``
        (tiled operands, configurations with double buffering): ``True`` plans the tiles for
        half-deep banks and loads each while the previous one runs, ``False`` plans
        full-depth tiles loaded between runs, ``None`` (default) plans both and runs the one
        with fewer estimated cycles end to end (:func:`estimated_cycles`: the overlap pays
        for compute-heavy tiles such as SpGEMM's, not for bus-bound SpMV; see "Double
        buffering" in docs/architecture.md). ``backend="board"`` runs on an FPGA board over its UART
        (:mod:`zerohero.board_backend`): ``port`` is the serial device (or an open port object);
        ``board_options`` go to ``BoardRunner``."""
        self.progress = progress or (lambda message: None)
        self.cfg = preset(config) if isinstance(config, str) else config
        self.double_buffer = double_buffer if self.cfg.double_buffer else False
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.backend = backend
        self.sem = model.IntSemantics.from_config(self.cfg)
        self._built = None
        self.last_run = None
        # What a board holds from the last program that ran there to the end (a Resident,
        # or an iteration's matrix), so that nothing runs on weights another program replaced.
        self._holding = None
        if backend == "board":
            from zerohero.board_backend import BoardRunner

            if port is None:
                raise ValueError("backend 'board' needs port= (a serial device such as "
                                 "/dev/ttyUSB1)")
            self._board = BoardRunner(port, **board_options)

    # Kernels ---------------------------------------------------------------------------

    def spmv(self, A, x, relu=False):
        A, x = self._csr(A, "A"), self._dense(x, "x", 1)
        self._inner("spmv", A, x.shape[0])
        return self._run("spmv", A, x, relu)

    def spmspv(self, A, x, relu=False):
        A = self._csr(A, "A")
        x = model.to_format(x, "vector")
        self.sem.check_values(x.vals, "x")
        self._inner("spmspv", A, x.length)
        return self._run("spmspv", A, x, relu)

    def spmm(self, A, B, relu=False):
        A, B = self._csr(A, "A"), self._dense(B, "B", 2)
        self._inner("spmm", A, B.shape[0])
        return self._run("spmm", A, B, relu)

    def gemv(self, A, x, relu=False):
        A, x = self._dense(A, "A", 2), self._dense(x, "x", 1)
        self._inner("gemv", A, x.shape[0])
        return self._run("gemv", model.Dense(A), x, relu)

    def gemm(self, A, B, relu=False):
        A, B = self._dense(A, "A", 2), self._dense(B, "B", 2)
        self._inner("gemm", A, B.shape[0])
        return self._run("gemm", model.Dense(A), B, relu)

    # Sparse results (scipy.sparse CSR; zero results, cancellations included, are dropped).

    def spgemm(self, A, B, relu=False):
        A, B = self._csr(A, "A"), self._csr(B, "B")
        self._inner("spgemm", A, B.shape[0])
        self._coords("spgemm", A.shape[1], B.shape[1])
        return self._run_sparse("spgemm", A, B, relu)

    def ewmul(self, A, B):
        A, B = self._csr(A, "A"), self._csr(B, "B")
        self._same("ewmul", A, B)
        return self._run_sparse("ewmul", A, B, False)

    def ewadd(self, A, B, relu=False):
        A, B = self._csr(A, "A"), self._csr(B, "B")
        self._same("ewadd", A, B)
        return self._run_sparse("ewadd", A, B, relu)

    # Resident workloads ----------------------------------------------------------------

    def load(self, workload, batch: int | None = None) -> "Resident":
        """Load a chain of layers once and keep it on the accelerator: a
        :class:`~zerohero.nn.CompiledNetwork` (anything with ``chain_layers()``, and
        ``quantize_input`` for its real inputs) or a list of
        :class:`~zerohero.firmware.resident.ChainLayer`. Returns the :class:`Resident`
        whose ``infer`` runs it, in batches of up to ``batch`` samples
        (:func:`~zerohero.firmware.resident.plan_chain`)."""
        return Resident(self, workload, batch)

    def iterate(self, layer, x, iterations: int):
        """``((x_K, x_K-1), stats)``: ``K = iterations`` steps of
        ``x <- requantize(A [x; consts])`` (a :class:`~zerohero.firmware.resident.ChainLayer`
        with ``requant``) in one program on the chip, nothing from the host between two steps;
        the last two iterates, bit for bit the golden model's
        (:func:`~zerohero.firmware.resident.golden_iterate`). The matrix, its table and
        constants are written first, except on a board that still holds them from the call
        before (then only the input is)."""
        plan = plan_iterate(self.cfg, layer)
        held = ("iterate", tuple(plan.load_writes))
        program = plan.program(x, iterations, load=self._holding != held)
        gold_k, gold_prev, overflows = golden_iterate(layer, x, iterations, self.sem)
        if self.backend == "model":
            (xk, prev), run = (gold_k, gold_prev), _not_run(program)
        else:
            [run] = self.execute([program], holds=held)
            (xk, prev), _ = program.decode(run["reads"])
        # A board's link counts no bus cycles: its load and read cycles are None.
        cycles, load_c, read = run["cycles"], run.get("load_cycles"), run.get("read_cycles")
        stats = {
            "iterations": iterations, "cycles": cycles, "compute_cycles": cycles,
            "cycles_per_iteration": None if cycles is None else cycles / iterations,
            "load_cycles": load_c, "read_cycles": read,
            "end_to_end_cycles": (None if None in (cycles, load_c, read)
                                  else cycles + load_c + read),
            "host_words_out": run["host_words_out"], "host_words_in": run["host_words_in"],
            # One program from the first step to the last: the host is off the bus between.
            "host_words_between_iterations": 0,
            "overflows": overflows,
        }
        return (xk, prev), stats

    # Checks ----------------------------------------------------------------------------

    def _coords(self, kernel, *extents):
        for n in extents:
            if n - 1 > self.cfg.coord_max:
                raise ValueError(f"{kernel}: a dimension of {n} exceeds the coordinates of "
                                 f"coord_width {self.cfg.coord_width} bits (largest "
                                 f"{self.cfg.coord_max})")

    def _same(self, kernel, A, B):
        if A.shape != B.shape:
            raise ValueError(f"{kernel}: A has shape {A.shape} but B has shape {B.shape}")
        self._coords(kernel, A.shape[1])

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

    def _golden(self, kernel, A, B, relu, macs, tiles):
        """The ``model`` backend: the golden model's result, the stats it can give (no
        cycles; the bus words of the ``tiles`` planned, as the hardware would take them)."""
        stats = {"cycles": None, "ideal_cycles": math.ceil(macs / self.cfg.lanes),
                 "utilization": None, "macs": macs, "zeros_skipped": None, "lane_busy": None,
                 "compute_cycles": None, "end_to_end_cycles": None, "tiles": len(tiles)}
        programs = self._reading_cycles([t.program for t in tiles])
        stats["host_words_out"] = sum(_words_out(p) for p in programs)
        stats["host_words_in"] = sum(len(p.reads) for p in programs)
        return model.KERNELS[kernel](A, B, self.sem, relu=relu), stats

    def _run(self, kernel, A, B, relu):
        if kernel in ("spmv", "spmspv", "gemv"):
            shape = (A.shape[0], None)
        else:
            shape = (A.shape[0], np.asarray(B).shape[1])
        return self._dispatch(kernel, A, B, relu, shape, useful_macs(kernel, A, B))

    def _run_sparse(self, kernel, A, B, relu):
        if not self.cfg.sparse_out:
            raise ValueError(f"{kernel}: config {self.cfg.name} is built without the "
                             f"sparse-output path (AccelConfig.sparse_out=False); use a "
                             f"configuration with sparse_out=True")
        a = A.to_scipy().astype(bool).astype(np.int64)
        b = B.to_scipy().astype(bool).astype(np.int64)
        if kernel == "spgemm":
            macs = int((a @ b).sum())
            shape = (A.shape[0], B.shape[1])
        else:
            macs = int((a.multiply(b) if kernel == "ewmul" else (a + b).astype(bool)).sum())
            shape = A.shape
        return self._dispatch(kernel, A, B, relu, shape, macs)

    def _dispatch(self, kernel, A, B, relu, shape, macs):
        """Plan, run on the backend, count the overflowed results (``stats["overflows"]``).

        Every backend plans the tiles, the ``model`` backend too: planning is where the
        operands meet the hardware's limits (coordinate width, bank and firmware capacity,
        the partial sums of inner tiles under saturation), so every backend refuses the same
        operands with the same message before anything runs."""
        sparse = kernel in SPARSE_KERNELS
        empty = sparse and 0 in shape              # no entries: nothing to plan or run
        if not empty:
            tiles, overlap = self._plan(kernel, *((A.to_scipy(), B.to_scipy()) if sparse
                                                  else (A, B)), relu)
        if self.backend == "model":
            result, stats = self._golden(kernel, A, B, relu, macs, [] if empty else tiles)
            if sparse:
                result = scipy.sparse.csr_array(result.to_scipy())
        elif empty:
            result, stats = scipy.sparse.csr_array(shape, dtype=np.int64), self._stats([], [], macs)
        else:
            result, stats = self._run_tiles(kernel, tiles, overlap, relu, shape, macs)
        # Results the accumulator's wrap or saturation changed: the golden model's semantics,
        # and what the hardware returns, but not the true integer answer the user asked for.
        stats["overflows"] = model.count_overflows(kernel, A, B, result, relu)
        return result, stats

    def _plan(self, kernel, A, B, relu):
        """``(tiles, overlap)``: one tile when everything fits, else the tiles of
        :func:`plan_tiles`, or those of :func:`plan_double_buffered` (``overlap``) when
        double buffering is asked for or estimated to be faster."""
        tiles = plan_tiles(self.cfg, kernel, A, B, relu)
        overlap = len(tiles) > 1 and self.double_buffer is not False
        if overlap:
            halves = plan_double_buffered(self.cfg, kernel, A, B, relu)
            if self.double_buffer or (estimated_cycles(self.cfg, halves, True)
                                      < estimated_cycles(self.cfg, tiles, False)):
                tiles = halves
            else:
                overlap = False
        return tiles, overlap

    def _run_tiles(self, kernel, tiles, overlap, relu, shape, macs):
        """Run the planned tiles in one simulator run and stitch their results."""
        jobs = self.execute([t.program for t in tiles], overlap=overlap)
        decoded = [t.program.decode(job["reads"]) for t, job in zip(tiles, jobs)]
        result = stitch(self.cfg, kernel, tiles, decoded, shape, self.sem, relu)
        return result, self._stats(jobs, [c for _, c in decoded], macs)

    def _stats(self, jobs, counters, macs):
        """Stats of the jobs of one kernel; ``counters``: per job, per lane."""
        def counted(key):              # a board's link cannot count bus cycles
            values = [j.get(key) for j in jobs]
            return None if None in values else sum(values)

        cycles = counted("cycles")
        lanes = self.cfg.lanes
        load, read, hidden = (counted(k) for k in ("load_cycles", "read_cycles",
                                                   "hidden_cycles"))
        return {
            "cycles": cycles,
            "ideal_cycles": math.ceil(macs / lanes),
            "utilization": macs / (lanes * cycles) if cycles else None,
            "macs": sum(c["macs"] for cs in counters for c in cs),
            "useful_macs": macs,
            "zeros_skipped": sum(c["zeros"] for cs in counters for c in cs),
            "lane_busy": [sum(cs[i]["busy"] for cs in counters) for i in range(lanes)],
            # End to end: every simulated cycle of the run (loading, kernels, reading back)
            # over its wall time.
            "sim_cycles_per_s": (self.last_run["cycles"] / self.last_run["wall_s"]
                                 if jobs and self.last_run and self.last_run["wall_s"]
                                 else None),
            # The bus player's count on a simulator (equal to ``cycles``; None on a board).
            "sim_cycles": counted("sim_cycles"),
            "tiles": len(jobs),
            "load_cycles": load,
            "read_cycles": read,
            # Loading that overlapped the previous tile's run (double buffering).
            "hidden_cycles": hidden,
            # The system as a user meets it: compute (START to irq) beside every cycle from
            # the first operand write to the last result read, and the bus words each way
            # (writes and START out; results, counters and CYCLES in).
            "compute_cycles": cycles,
            "end_to_end_cycles": (None if None in (cycles, load, read, hidden)
                                  else cycles + load + read - hidden),
            "host_words_out": sum(j["host_words_out"] for j in jobs),
            "host_words_in": sum(j["host_words_in"] for j in jobs),
        }

    def execute(self, programs, overlap: bool = False, keep: bool = False, holds=None):
        """Run :class:`Program` s on the backend (on a simulator, in one simulation); per
        program ``{cycles, reads, ...}``. ``self.last_run`` keeps a simulation's simulated
        cycles (loading and reading back included) and its wall time. ``overlap``: the
        programs alternate between bank halves (:func:`plan_double_buffered`), so on a
        simulator each one's scratchpad writes are played while the one before runs (the
        board backend runs them one after the other). ``keep``: a simulator does not reset
        the accelerator between two programs (as a board, where a program finds what the one
        before left: a resident workload). ``holds``: what the board holds once the programs
        have run (``None``: nothing a later call may rely on)."""
        programs = self._reading_cycles(programs)
        if self.backend == "board":
            self.progress(f"running on the board: {sum(len(p.writes) for p in programs)} "
                          f"words out, {sum(len(p.reads) for p in programs)} back...")
            self._holding = None           # until every program has run, the board holds none
            results = self._board.execute(programs)
        else:
            results = self._simulate(programs, overlap, keep)
        for p, res in zip(programs, results):
            counted = res["reads"].pop() if len(res["reads"]) == len(p.reads) else None
            # The simulator's own count (the bus player's) stays as a cross-check.
            res["sim_cycles"], res["cycles"] = res.get("cycles"), counted
            res["host_words_out"], res["host_words_in"] = _words_out(p), len(p.reads)
            if res["errors"]:
                addr, we = res["errors"][0]
                raise RuntimeError(f"{p.kernel}: the accelerator refused the bus "
                                   f"{'write' if we else 'read'} at {addr:#x}")
            if not res["irq"]:
                raise RuntimeError(f"{p.kernel}: no completion within {p.timeout} cycles")
        if self.backend == "board":
            self._holding = holds
        return results

    def _reading_cycles(self, programs):
        """``programs`` each reading the hardware's CYCLES register last: the run's cycle
        count on every backend, the board's too (where no simulator counts)."""
        cycles_at = RegisterMap(self.cfg)["CYCLES"].offset
        return [dataclasses.replace(p, reads=[*p.reads, cycles_at]) for p in programs]

    def _simulate(self, programs, overlap=False, keep=False):
        from zerohero.sim.harness import build

        if self._built is None:
            self.progress(f"generating the Verilog of config {self.cfg.name} and building its "
                          f"{self.backend} model (the build is reused from build/sim/ while the "
                          f"Verilog is unchanged)...")
            self._built = build(self.cfg, "accelerator", self.backend, player=True)
        self.progress(f"simulating on {self.backend}: loading "
                      f"{sum(len(p.writes) for p in programs)} words, running, reading back "
                      f"{sum(len(p.reads) for p in programs)} words...")
        fw_base = RegisterMap(self.cfg).fw_base     # firmware: written while idle only
        run = self._built.play([{"writes": [w for w in p.writes if w[0] < fw_base],
                                 "late_writes": [w for w in p.writes if w[0] >= fw_base],
                                 "start": p.start, "reads": p.reads, "timeout": p.timeout}
                                for p in programs], overlap=overlap, reset=not keep)
        self.last_run = {"cycles": run["cycles"], "wall_s": run["wall_s"]}
        if not run["done"] and all(res["irq"] for res in run["jobs"]):
            raise RuntimeError("the simulation did not finish its program list")
        return run["jobs"]


class Resident:
    """A chain of layers resident on the accelerator (:meth:`Runtime.load`): its weights,
    requantization tables, constant inputs and firmware are written once; each batch of
    ``infer`` writes only its inputs (and the firmware words that count columns, when a batch
    is shorter), starts, and reads only the last layer's results.

    The first ``infer`` loads; a board then keeps the chain between calls, until another
    program runs there (the next ``infer`` loads again). A simulation starts empty, so every
    ``infer`` on a simulator loads first, in the same simulation. A load is reported apart
    from the inferences (``stats["resident_load"]``). The ``model`` backend gives the golden
    model's results and the bus words, no cycles."""

    def __init__(self, runtime, workload, batch=None):
        self.runtime = runtime
        self.layers = (workload.chain_layers() if hasattr(workload, "chain_layers")
                       else list(workload))
        self._prepare = getattr(workload, "quantize_input", None)
        self.plan = plan = plan_chain(runtime.cfg, self.layers, batch)
        # The load: weights, tables, constants and the firmware, whose first word is a halt
        # for the load's own START (so the load ends with a run that does nothing); the first
        # batch writes the real first word.
        firmware = plan.firmware_for(plan.max_batch)
        halted = [assemble("halt", runtime.cfg.lanes)[0]] + firmware[1:]
        rmap = RegisterMap(runtime.cfg)
        self._load_program = Program(
            "load", plan.load_writes + [(rmap.fw_base + i, w) for i, w in enumerate(halted)],
            start_write(rmap), [], lambda values: (None, []), halted, "halt", 64)
        self._held = None                 # the firmware the board holds while it holds this

    def _inputs(self, X):
        if self._prepare is not None:
            return self._prepare(X)
        X = np.asarray(X)
        if X.ndim != 2 or not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"infer takes integer inputs, one row a sample (2-D), not an "
                             f"array of shape {X.shape} and dtype {X.dtype}")
        return X.astype(np.int64).T

    def infer(self, X, counters: bool = False):
        """``(results, stats)``: one row of results per sample of ``X`` (a network's integer
        logits), bit for bit the golden model's chain
        (:func:`~zerohero.firmware.resident.golden_chain`, which also counts the overflowed
        accumulators of every layer). ``counters``: read every lane's counters after each batch
        too (``macs``, ``zeros_skipped``), which costs host words."""
        rt, plan = self.runtime, self.plan
        a = self._inputs(X)
        n, B = a.shape[1], plan.max_batch
        if n == 0:
            raise ValueError("infer needs at least one sample")
        gold, overflows = golden_chain(self.layers, a, rt.sem)
        load = [] if rt.backend == "board" and rt._holding is self else [self._load_program]
        held = self._load_program.firmware if load else self._held
        programs = []
        for s in range(0, n, B):
            programs.append(plan.batch_program(a[:, s:s + B], held, counters))
            held = programs[-1].firmware
        if rt.backend == "model":
            runs = [_not_run(p) for p in load + programs]
            results = gold
        else:
            runs = rt.execute(load + programs, keep=True, holds=self)
            got = [p.decode(r["reads"]) for p, r in zip(programs, runs[len(load):])]
            results = np.hstack([res for res, _ in got])
            lanes = [c for _, cs in got for c in cs]
            self._held = held
        loaded, runs = (runs[0], runs[1:]) if load else (None, runs)

        def total(key):
            values = [r.get(key) for r in runs]
            return None if None in values else sum(values)

        compute, load_c, read = total("cycles"), total("load_cycles"), total("read_cycles")
        e2e = None if None in (compute, load_c, read) else compute + load_c + read
        stats = {
            "images": n, "batch": B, "batches": len(programs),
            "cycles": compute, "compute_cycles": compute,
            "load_cycles": load_c, "read_cycles": read, "end_to_end_cycles": e2e,
            "host_words_out": total("host_words_out"), "host_words_in": total("host_words_in"),
            "overflows": overflows,
            "macs": sum(c["macs"] for c in lanes) if counters and rt.backend != "model" else None,
            "zeros_skipped": (sum(c["zeros"] for c in lanes)
                              if counters and rt.backend != "model" else None),
            # What the load cost this call: None when a board still held the chain.
            "resident_load": None if loaded is None else {
                "cycles": loaded.get("load_cycles"), "host_words_out": loaded["host_words_out"]},
        }
        stats["per_inference"] = {k: None if stats[k] is None else stats[k] / n
                                  for k in ("compute_cycles", "load_cycles", "read_cycles",
                                            "end_to_end_cycles", "host_words_out",
                                            "host_words_in")}
        return results.T, stats


def _not_run(program) -> dict:
    """The ``model`` backend's record of a program it does not run: no cycles, the bus words
    the hardware would take (its CYCLES read included)."""
    return {"cycles": None, "load_cycles": None, "read_cycles": None,
            "host_words_out": _words_out(program), "host_words_in": len(program.reads) + 1}


def _words_out(program) -> int:
    """Bus words a program writes: its operands and firmware, and the START."""
    return len(program.writes) + 1
