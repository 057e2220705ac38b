"""Benchmarks measured on the generated Verilog (cycles and ratios, never wall time)."""

from __future__ import annotations

import math
import random
from pathlib import Path

from zerohero.spec.config import preset
from zerohero.sim.harness import build
from zerohero.model.streams import intersect_tokens
from zerohero.spec.tokens import encode_fibers
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


def _rows_matrix(rng, lengths, rows, cols=1024, empty=0.0):
    """A CSR operand whose row lengths are drawn from ``lengths`` (a list to sample)."""
    import numpy as np

    from zerohero.model import from_dense

    dense = np.zeros((rows, cols), dtype=np.int64)
    for r in range(rows):
        if rng.random() < empty:
            continue
        n = int(rng.choice(lengths))
        dense[r, rng.choice(cols, size=n, replace=False)] = rng.integers(1, 100, size=n)
    return from_dense(dense, "csr")


SCAN_DISTRIBUTIONS = [
    # (name, row lengths to draw from, share of empty rows)
    ("1", [1], 0.0),
    ("2-3", [2, 3], 0.0),
    ("4-8", [4, 5, 6, 7, 8], 0.0),
    ("4-8, 20% empty", [4, 5, 6, 7, 8], 0.2),
    ("16", [16], 0.0),
    ("16-64", list(range(16, 65)), 0.0),
]


def bench_scan(sim: str = "verilator", rows: int = 256):
    """Nonzeros per cycle streamed by one lane's CompressedScanner from its scratchpad bank."""
    import numpy as np

    from zerohero.firmware.layout import csr_image
    from zerohero.sim.fixtures import ScanBench
    from zerohero.model import load_mtx
    from zerohero.spec.tokens import matrix_row_tokens

    # sim-small's datapath; deeper banks only so that each job holds a few thousand nonzeros.
    cfg = preset("sim-small").replace(spm_banks=3, lanes=1, spm_depth=32768)
    built = build(cfg, ScanBench, sim)
    codec = StreamCodec(cfg)
    rng = np.random.default_rng(3)
    cases = [(name, _rows_matrix(rng, lengths, rows, empty=empty))
             for name, lengths, empty in SCAN_DISTRIBUTIONS]
    root = Path(__file__).resolve().parent.parent / "data" / "suitesparse"
    for name in ("west0479", "494_bus", "dwt_992"):
        cases.append((f"{name} (real)", load_mtx(root / f"{name}.mtx", values="pattern")))
    # A one-nonzero job measures the fixed start-up latency, which is not a per-row cost.
    one = _rows_matrix(rng, [1], 1)
    runs = []
    for _, A in [("one", one)] + cases:
        runs.append({"writes": {"load__0": csr_image(cfg, A, 0, A.shape[0] + 1)},
                     "pulse": ["cs_start"], "outputs": {"scan": codec.done_mask(codec.single)},
                     "set": {"cs_pos_base": 0, "cs_crd_base": A.shape[0] + 1,
                             "cs_rows": A.shape[0], "cs_level": 1, "gather": 0},
                     "timeout": 20 * (A.nnz + A.shape[0]) + 100})
    results = built.run_streams(runs)
    startup = results[0]["cycles"] - 2          # one data token and DONE
    records = []
    for (name, A), res in zip(cases, results[1:]):
        got = codec.decode(res["outputs"]["scan"], codec.single)
        if got != matrix_row_tokens(A.pos, A.crd, A.vals):
            raise RuntimeError(f"scanner output wrong in benchmark {name}")
        rows_ = A.shape[0]
        empty_rows = int(np.count_nonzero(np.diff(A.pos) == 0))
        cycles = res["cycles"]
        # Every nonzero and every empty row's stop token needs a cycle, DONE one more.
        bubbles = cycles - startup - (A.nnz + empty_rows + 1)
        records.append({
            "distribution": name, "rows": rows_, "nnz": int(A.nnz),
            "mean_row_nnz": round(A.nnz / rows_, 2), "empty_rows": empty_rows,
            "cycles": cycles, "startup_cycles": startup,
            "nnz_per_cycle_per_lane": round(A.nnz / cycles, 3),
            "bubbles_per_row": round(bubbles / rows_, 3),
        })
    return records


def power_law_matrix(rng, rows, cols, density, alpha=1.5):
    """Row lengths drawn from a power law (Pareto, ``alpha``), scaled to ``density`` overall:
    a few long rows and many short ones, like real graphs."""
    import numpy as np

    from zerohero.model import from_dense

    raw = rng.pareto(alpha, rows) + 1
    lengths = np.minimum(cols, np.maximum(1, np.round(raw / raw.sum() * density * rows * cols)))
    dense = np.zeros((rows, cols), dtype=np.int64)
    for r, n in enumerate(lengths.astype(int)):
        dense[r, rng.choice(cols, n, replace=False)] = rng.integers(1, 100, n)
    return from_dense(dense, "csr")


def bench_spmv(sim: str = "verilator", size: int = 512,
               densities=(0.01, 0.05, 0.1, 0.25, 0.5)):
    """SpMV on the integrated accelerator (sim-small): cycles against the ideal and against the
    same matrix in dense mode (GEMV: every coordinate streamed, zeros still not multiplied)."""
    import numpy as np

    from zerohero.runtime import Runtime
    from zerohero import model

    acc = Runtime("sim-small", sim)
    rng = np.random.default_rng(12)
    cases = []
    for d in densities:
        dense = np.where(rng.random((size, size)) < d, rng.integers(-100, 101, (size, size)), 0)
        cases.append((d, "uniform", model.from_dense(dense, "csr")))
    cases.append((0.05, "power-law", power_law_matrix(rng, size, size, 0.05)))
    records = []
    for d, pattern, A in cases:
        x = rng.integers(1, 101, size)
        y, st = acc.spmv(A, x)
        if not np.array_equal(y, model.spmv(A, x, acc.sem)):
            raise RuntimeError(f"SpMV result wrong at density {d} ({pattern})")
        yd, sd = acc.gemv(A.to_dense(), x)
        if not np.array_equal(yd, y):
            raise RuntimeError(f"dense-mode result differs at density {d} ({pattern})")
        records.append({
            "kernel": "spmv", "density": d, "pattern": pattern, "nnz": int(A.nnz),
            "cycles": st["cycles"], "ideal_cycles": st["ideal_cycles"],
            "utilization": round(st["utilization"], 3),
            "dense_cycles": sd["cycles"],
            "speedup_vs_dense": round(sd["cycles"] / st["cycles"], 2),
            "target_speedup": round(0.85 / d, 2),
            "sim_cycles_per_s": round(max(st["sim_cycles_per_s"] or 0,
                                          sd["sim_cycles_per_s"] or 0)),
        })
    # A kernel of more than 100k cycles, for the simulation speed.
    dense = np.where(rng.random((size, size)) < 0.5, rng.integers(-100, 101, (size, size)), 0)
    B = rng.integers(-100, 101, (size, 8))
    A = model.from_dense(dense, "csr")
    C, st = acc.spmm(A, B)
    if not np.array_equal(C, model.spmm(A, B, acc.sem)):
        raise RuntimeError("SpMM result wrong")
    records.append({
        "kernel": "spmm x8", "density": 0.5, "pattern": "uniform", "nnz": int(A.nnz),
        "cycles": st["cycles"], "ideal_cycles": st["ideal_cycles"],
        "utilization": round(st["utilization"], 3), "dense_cycles": None,
        "speedup_vs_dense": None, "target_speedup": None,
        "sim_cycles_per_s": round(st["sim_cycles_per_s"] or 0),
    })
    return records


BENCHES = {"intersect": bench_intersect, "scan": bench_scan, "spmv": bench_spmv}


def table(records: list[dict]) -> str:
    """A Markdown table of benchmark records."""
    keys = list(records[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in records]
    return "\n".join(lines)


def _sparse_case_record(acc, kernel, name, A, B):
    """Run one sparse-output kernel, check it against the golden model, one table row."""
    from zerohero import model

    if kernel == "ewmul":
        C, st = acc.ewmul(A, B)
        want = model.ewmul(A, B, acc.sem)
    else:
        C, st = getattr(acc, kernel)(A, B)
        want = getattr(model, kernel)(A, B, acc.sem)
    want = want.to_scipy()
    if (C != want).nnz or C.nnz != want.nnz:
        raise RuntimeError(f"{kernel} result wrong on {name}")
    # The dataflow's own bound: spgemm streams all of B (nnz + cols tokens) once per row of
    # A, rows spread over the lanes; the elementwise kernels stream both rows once.
    lanes = acc.cfg.lanes
    if kernel == "spgemm":
        stream = math.ceil(A.shape[0] / lanes) * (B.nnz + B.shape[1])
    else:
        stream = math.ceil((A.nnz + B.nnz) / lanes)
    return {"kernel": kernel, "matrix": name, "shape": "x".join(map(str, A.shape)),
            "nnz_A": int(A.nnz), "nnz_B": int(B.nnz), "nnz_C": int(C.nnz),
            "tiles": st["tiles"], "cycles": st["cycles"], "ideal_cycles": st["ideal_cycles"],
            "utilization": round(st["utilization"], 3), "stream_bound": stream,
            "cycles_per_stream_bound": round(st["cycles"] / stream, 2)}


def bench_spgemm(sim: str = "verilator", config: str = "sim-small"):
    """SpGEMM (and the elementwise kernels) on random and real matrices: cycles against the
    ideal (``ceil(useful MACs / lanes)``) and against the dataflow's stream bound."""
    import numpy as np

    from zerohero.runtime import Runtime
    from zerohero import model
    from zerohero.sim.harness import ROOT

    acc = Runtime(config, sim)
    rng = np.random.default_rng(21)
    data = ROOT / "data" / "suitesparse"

    def rand(shape, d):
        vals = rng.integers(-100, 101, shape)
        return model.from_dense(np.where(rng.random(shape) < d, vals, 0), "csr")

    records = []
    for d in (0.02, 0.05, 0.1, 0.2):
        records.append(_sparse_case_record(acc, "spgemm", f"uniform {d:g}",
                                           rand((128, 128), d), rand((128, 128), d)))
    pl = power_law_matrix(rng, 128, 128, 0.05)
    records.append(_sparse_case_record(acc, "spgemm", "power-law 0.05", pl, rand((128, 128),
                                                                                 0.05)))
    for name in ("karate", "GD97_b", "bcspwr04"):
        A = model.load_mtx(data / f"{name}.mtx", values="quantize", value_width=8)
        records.append(_sparse_case_record(acc, "spgemm", f"{name} (A @ A)", A, A))
    A, B = rand((512, 512), 0.05), rand((512, 512), 0.05)
    records.append(_sparse_case_record(acc, "ewmul", "uniform 0.05", A, B))
    records.append(_sparse_case_record(acc, "ewadd", "uniform 0.05", A, B))
    return records


def small_banks_config():
    """sim-small with 256-word banks (8 lanes): small enough that real matrices need tiling,
    wide enough (16-bit values) for them and for lane balancing to matter."""
    from zerohero.spec.config import preset

    return preset("sim-small").replace(name="small-banks", spm_depth=256)


def _tiled_records(cfg, sim, kernel, name, A, B, want):
    """``kernel`` on operands that need tiling, run three times: full-depth tiles loaded
    between runs (``sequential``), half-depth tiles alternating between the bank halves, each
    loaded while the one before runs (``double-buffered``), and the runtime's default, which
    runs whichever it estimates faster (``default`` marks the row it picked). ``want(result)``
    checks each result against the golden model."""
    from zerohero.runtime import Runtime

    records, totals = [], {}
    for mode in (False, True, None):
        result, st = getattr(Runtime(cfg, sim, double_buffer=mode), kernel)(A, B)
        if not want(result):
            raise RuntimeError(f"tiled {kernel} result wrong on {name} (double_buffer={mode})")
        total = st["cycles"] + st["load_cycles"] + st["read_cycles"] - st["hidden_cycles"]
        if mode is None:                        # the same plan as one of the two rows
            pick = next(r for r in records if (r["tiles"], r["end_to_end"]) ==
                        (st["tiles"], total))
            pick["default"] = "yes"
            continue
        totals[mode] = total
        records.append({
            "kernel": f"{kernel} tiled", "matrix": name, "shape": "x".join(map(str, A.shape)),
            "nnz": int(A.nnz), "mode": "double-buffered" if mode else "sequential",
            "tiles": st["tiles"], "cycles": st["cycles"], "ideal_cycles": st["ideal_cycles"],
            "utilization": round(st["utilization"], 3), "load_cycles": st["load_cycles"],
            "read_cycles": st["read_cycles"], "hidden_cycles": st["hidden_cycles"],
            "load_hidden": round(st["hidden_cycles"] / st["load_cycles"], 3),
            "load_per_compute": round(st["load_cycles"] / st["cycles"], 1),
            "end_to_end": total, "end_to_end_vs_sequential": round(totals[False] / total, 2),
            "default": "",
        })
    return records


def bench_spmv_tiled(sim: str = "verilator"):
    """Tiled SpMV: operands larger than the scratchpad of :func:`small_banks_config`
    (:func:`_tiled_records`). ``load_cycles`` are the cycles a host write was on the bus (one
    32-bit word a cycle), ``hidden_cycles`` those during a run; ``end_to_end`` = compute +
    load + read - hidden."""
    import numpy as np

    from zerohero import model
    from zerohero.sim.harness import ROOT

    cfg = small_banks_config()
    sem = model.IntSemantics.from_config(cfg)
    rng = np.random.default_rng(13)
    cases = []
    for size, d in ((512, 0.05), (1024, 0.02)):
        dense = np.where(rng.random((size, size)) < d, rng.integers(-100, 101, (size, size)), 0)
        cases.append((f"uniform {size} {d:g}", model.from_dense(dense, "csr")))
    cases.append(("bcsstk13", model.load_mtx(ROOT / "data" / "suitesparse" / "bcsstk13.mtx",
                                             values="quantize", value_width=16)))
    records = []
    for name, A in cases:
        x = rng.integers(-100, 101, A.shape[1])
        want = model.spmv(A, x, sem)
        records += _tiled_records(cfg, sim, "spmv", name, A, x,
                                  lambda y, want=want: np.array_equal(y, want))
    return records


def bench_spgemm_tiled(sim: str = "verilator"):
    """Tiled SpGEMM on sim-small: ``A @ B`` of two random 1024 x 1024 matrices at 2 % (B's
    CSC does not fit half an operand bank, the results not one vector bank), as
    :func:`bench_spmv_tiled`."""
    import numpy as np

    from zerohero import model

    cfg = preset("sim-small")
    rng = np.random.default_rng(2)

    def rand(n, d):
        vals = rng.integers(1, 101, (n, n)) * rng.choice([-1, 1], (n, n))
        return model.from_dense(np.where(rng.random((n, n)) < d, vals, 0), "csr")

    A, B = rand(1024, 0.02), rand(1024, 0.02)
    want = model.spgemm(A, B, model.IntSemantics.from_config(cfg)).to_scipy()
    return _tiled_records(cfg, sim, "spgemm", "uniform 1024 0.02", A, B,
                          lambda C: (C != want).nnz == 0 and C.nnz == want.nnz)


BENCHES["spgemm"] = bench_spgemm


def bench_nn(sim: str = "verilator",
             configs=("sim-small", "ulx3s-85f", "ulx3s-85f-resident"),
             sparsities=(0.0, 0.5, 0.8, 0.9), rtl_images: int = 32):
    """The digits MLP (64-128-64-10) pruned to each sparsity (unstructured, fine-tuned),
    quantized for each preset, its first ``rtl_images`` test images run on ``sim``, two ways:
    ``per-layer`` (a runtime call per layer and batch, weights sent and activations
    requantized on the host every time) and, on configurations with the result stage,
    ``resident`` (loaded once; a batch is one program, every layer requantized and broadcast
    on the chip). Per inference: compute cycles, end-to-end cycles (the host bus's loading and
    reading back), host words each way, runtime calls; for ``resident`` the one-time load
    (``load_words``) and ``transition_cycles``, the cycles a layer costs a column beyond its
    busiest lane's stream (job start, pipeline, the broadcast's tail and the barrier). A
    board preset's projected time on the board at its clock and over its UART at the default
    baud (:func:`zerohero.link.program_bytes` of the same programs); the float network in
    NumPy measured in the same run on this CPU, one image at a time and the test set in one
    batch. The floor of the host traffic is the network's input and output words. A
    network that cannot stay resident on a configuration is a row that says which layer
    does not fit (``fits``)."""
    import time

    import numpy as np

    from zerohero import nn
    from zerohero.fpga.boards import BOARDS
    from zerohero.link import program_bytes
    from zerohero.runtime import Runtime
    from zerohero.spec.link import DEFAULT_BAUD

    _, _, Xte, _ = nn.load_digits_split()
    net = nn.train()

    def cpu_us(batched: bool) -> float:
        """Best of 5 rounds of the float forward pass over the test set, us an image."""
        best = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            if batched:
                net.forward(Xte)
            else:
                for x in Xte:
                    net.forward(x[None, :])
            best = min(best, time.perf_counter() - t0)
        return best / len(Xte) * 1e6

    cpu_one, cpu_batched = cpu_us(False), cpu_us(True)
    boards = {name: b for b in BOARDS.values() for name in b.presets}
    n = min(rtl_images, len(Xte))
    records = []
    for name in configs:
        cfg = preset(name)
        board = boards.get(name)
        for sparsity in sparsities:
            c = nn.compile_network(net, cfg, sparsity)
            gold = nn.golden_infer(c, Xte[:n])
            acc = Runtime(cfg, sim)
            programs = []
            execute = acc.execute

            def recording(progs, *args, **kwargs):
                programs.extend(acc._reading_cycles(progs))
                return execute(progs, *args, **kwargs)

            acc.execute = recording
            if cfg.result_stage:
                try:
                    m = acc.load(c)             # plans the chain: raises if it cannot fit
                except ValueError as e:
                    records.append({"config": name, "mode": "resident", "sparsity": sparsity,
                                    "fits": str(e).split(":")[0] + " does not fit"})
                    continue
                logits, st = m.infer(Xte[:n])
                load_words = st["resident_load"]["host_words_out"]
                programs[:] = programs[1:]                   # the load is counted apart
                mode, calls, batch = "resident", st["batches"], st["batch"]
                busiest = m.plan.work["busiest"]
                transition = (st["compute_cycles"] - sum(busiest) * n) / (len(busiest) * n)
            else:
                [(logits, st)] = nn.run_network(acc, [(c, "spmm")], Xte[:n])
                mode, calls, batch = "per-layer", st["programs"], c.max_batch()
                load_words, transition = None, None
            link_s = (sum(program_bytes(p.writes + [p.start], p.reads) for p in programs)
                      * 10 / DEFAULT_BAUD / n if board else None)
            records.append({
                "config": name, "mode": mode, "sparsity": sparsity, "fits": "yes", "batch": batch,
                "runtime_calls": round(calls / n, 3),
                "compute_cycles": round(st["cycles"] / n, 1),
                "end_to_end_cycles": round(st["end_to_end_cycles"] / n, 1),
                "host_bus_share": round(1 - st["cycles"] / st["end_to_end_cycles"], 3),
                "host_words_out": round(st["host_words_out"] / n, 1),
                "host_words_in": round(st["host_words_in"] / n, 1),
                "load_words": load_words,
                "transition_cycles": None if transition is None else round(transition, 1),
                "input_words": Xte.shape[1], "output_words": c.layers[-1].A.shape[0],
                "board_compute_us": (round(st["cycles"] / n / board.target(name)[0], 2)
                                     if board else None),
                "board_link_ms": round(link_s * 1e3, 2) if board else None,
                "numpy_one_image_us": round(cpu_one, 1),
                "numpy_batched_us": round(cpu_batched, 2),
                "bit_exact": bool(np.array_equal(logits, gold)),
            })
    return records


def bench_pagerank(sim: str = "verilator", graphs=("karate", "bcspwr04"), iters: int = 20):
    """PageRank on the chip (:func:`zerohero.graph.pagerank`) of SuiteSparse graphs (their
    pattern, as undirected graphs: an edge each way), ``iters`` iterations in one program on
    ``sim`` with sim-small: cycles an iteration, the host words between iterations, end-to-end
    cycles (load and read back included), the L1 distance of the ranks from NetworkX's
    (``networkx.pagerank``, float64), and on this CPU in the same run the time of one
    iteration of the same power iteration in SciPy (a float64 SpMV and the teleport)."""
    import time

    import networkx as nx
    import numpy as np
    import scipy.sparse

    from zerohero import model
    from zerohero.graph import pagerank, pagerank_layer
    from zerohero.runtime import Runtime
    from zerohero.sim.harness import ROOT

    cfg = preset("sim-small")
    acc = Runtime(cfg, sim)
    records = []
    for name in graphs:
        m = model.read_mtx(ROOT / "data" / "suitesparse" / f"{name}.mtx")
        W = scipy.sparse.csr_array((np.ones(len(m.rows)), (m.rows, m.cols)), shape=m.shape)
        W.setdiag(0)
        W.eliminate_zeros()
        ranks, st = pagerank(acc, W, iters=iters)
        G = nx.from_scipy_sparse_array(W, create_using=nx.DiGraph)
        ref = nx.pagerank(G)
        ref = np.array([ref[i] for i in range(W.shape[0])])
        M = (0.85 * (scipy.sparse.diags(1 / np.asarray(W.sum(axis=1)).ravel()) @ W).T).tocsr()
        x, best = np.full(W.shape[0], 1 / W.shape[0]), math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(100):
                x = M @ x + 0.15 / W.shape[0]
            best = min(best, (time.perf_counter() - t0) / 100)
        layer, _ = pagerank_layer(cfg, W)
        records.append({
            "graph": name, "nodes": st["nodes"], "edges": st["edges"],
            "matrix_nnz": int(scipy.sparse.csr_array(layer.A).nnz), "lanes": cfg.lanes,
            "iterations": st["iterations"],
            "cycles_per_iteration": round(st["cycles_per_iteration"], 1),
            "ideal_cycles_per_iteration": math.ceil(
                scipy.sparse.csr_array(layer.A).nnz / cfg.lanes),
            "host_words_between_iterations": st["host_words_between_iterations"],
            "end_to_end_cycles": st["end_to_end_cycles"],
            "l1_vs_networkx": float(f"{np.abs(ranks - ref).sum():.2g}"),
            "top5_as_networkx": list(np.argsort(-ranks)[:5]) == list(np.argsort(-ref)[:5]),
            "scipy_us_per_iteration": round(best * 1e6, 2),
        })
    return records


BENCHES["pagerank"] = bench_pagerank
BENCHES["nn"] = bench_nn


#: ONNX operators of the conformance run, by how a case becomes a network: alone (a layer
#: of its own, or refused), after an identity layer (fused and host ops need a layer before
#: them), or before one (no-ops need a layer after them).
ONNX_ALONE = ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "Conv", "ConvInteger",
              "QLinearConv", "MaxPool", "AveragePool")
ONNX_AFTER_LAYER = ("Add", "BatchNormalization", "Relu", "Softmax", "ArgMax")
ONNX_BEFORE_LAYER = ("Flatten", "Reshape", "Identity", "Dropout")
ONNX_ELEMENTWISE = ("Relu", "Identity", "Dropout")


def _conformance_model(case):
    """The ONNX backend test ``case`` (one node) as a network for zerohero: every input but
    the first an initializer (a layer's weights are constants), wrapped in an identity
    ``MatMul`` where its op needs a layer; ``(model, x, expected, op)``."""
    import numpy as np
    from onnx import helper, numpy_helper

    g = case.model.graph
    node = g.node[0]
    op = node.op_type
    inputs, outputs = case.data_sets[0]
    x, expected = np.asarray(inputs[0]), np.asarray(outputs[0])
    inits = [numpy_helper.from_array(np.asarray(v), i.name) for i, v in
             zip(list(g.input)[1:], inputs[1:])]
    nodes, out_name = [node], node.output[0]
    x_info, y_info = g.input[0], g.output[0]
    if op in ONNX_ELEMENTWISE and x.ndim > 2:
        # An elementwise op's case on batch x ... is the same case on batch x features.
        x, expected = x.reshape(len(x), -1), expected.reshape(len(x), -1)
        x_info = helper.make_tensor_value_info(x_info.name, x_info.type.tensor_type.elem_type,
                                               list(x.shape))
    if op in ONNX_AFTER_LAYER or op in ONNX_BEFORE_LAYER:
        f = expected.shape[-1] if op in ONNX_BEFORE_LAYER else x.shape[-1]
        inits.append(numpy_helper.from_array(np.eye(f, dtype=np.float32), "zh_identity"))
        if op in ONNX_AFTER_LAYER:
            first = helper.make_node("MatMul", ["zh_x", "zh_identity"], [x_info.name],
                                     name="zh_layer")
            nodes = [first, node]
            x_info = helper.make_tensor_value_info("zh_x", x_info.type.tensor_type.elem_type,
                                                   list(x.shape))
            if op == "Relu":          # a Relu is fused between two layers
                inits.append(numpy_helper.from_array(np.eye(f, dtype=np.float32), "zh_id2"))
                nodes.append(helper.make_node("MatMul", [out_name, "zh_id2"], ["zh_y"],
                                              name="zh_layer2"))
                out_name = "zh_y"
        else:
            nodes = [node, helper.make_node("MatMul", [out_name, "zh_identity"], ["zh_y"],
                                            name="zh_layer")]
            out_name = "zh_y"
        y_info = helper.make_tensor_value_info(
            out_name, helper.np_dtype_to_tensor_dtype(expected.dtype), list(expected.shape))
    model = helper.make_model(
        helper.make_graph(nodes, case.name, [x_info], [y_info], inits),
        opset_imports=case.model.opset_import)
    return model, x, expected, op


def bench_onnx(sim: str = "verilator", ops=ONNX_ALONE + ONNX_AFTER_LAYER + ONNX_BEFORE_LAYER,
               config="sim-small"):
    """ONNX's own backend node tests (``onnx.backend.test.case.node``, generated by the
    installed ``onnx``) of the operators zerohero maps and the ones it refuses: each case
    imported as a network (:func:`_conformance_model`), then ``result`` ``pass`` (the float
    network's output equals the case's expected output within 1e-5 relative; for a
    one-layer network also the integer network on the golden model, dequantized, within the
    quantization bound ``quant_bound``, and the same network on ``sim`` equal to the golden
    model's bit for bit, ``on_sim``), ``refused`` (the importer's reason) or ``FAIL``."""
    import warnings

    import numpy as np
    from onnx.backend.test.case import node as cases

    from zerohero.frontend import OnnxError, load_onnx
    from zerohero.runtime import Runtime

    cfg = preset(config)
    acc = Runtime(cfg, sim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # the generators' own overflow warnings
        found = [c for c in cases.collect_testcases(None)
                 if c.model is not None and len(c.model.graph.node) == 1
                 and c.model.graph.node[0].op_type in ops and c.data_sets]
    records = []
    for case in sorted(found, key=lambda c: (ops.index(c.model.graph.node[0].op_type), c.name)):
        model, x, expected, op = _conformance_model(case)
        r = {"op": op, "case": case.name.removeprefix("test_"), "result": "pass",
             "reason": None, "float_error": None, "quant_error": None, "quant_bound": None,
             "on_sim": None}
        records.append(r)
        try:
            net = load_onnx(model)
        except OnnxError as e:
            # The reason without the file's name and the list of what is supported.
            r["result"] = "refused"
            r["reason"] = str(e).split(": ", 1)[1].split("; supported:")[0]
            continue
        X = net.flatten(x.reshape((x.shape[0], -1)) if x.ndim > 1 else x[None, :], "x")
        got = net.mlp.forward(X)
        if op in ("ArgMax", "Softmax"):       # the host's tail: only the labels are used
            want = expected.reshape(len(X), -1)
            ok = np.array_equal(net.labels(got), want.reshape(-1) if op == "ArgMax"
                                else np.argmax(want, axis=1))
            r["float_error"] = 0.0 if ok else None
        else:
            want = expected.reshape(got.shape)
            err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
            r["float_error"] = float(f"{err:.2g}")
            ok = err <= 1e-5
            if ok and len(net.mlp.weights) == 1:
                ok = _within_quant_bound(net.mlp, acc, X, want, r)
        if not ok:
            r["result"] = "FAIL"
    return records


def _within_quant_bound(mlp, runtime, X, want, r) -> bool:
    """A one-layer network quantized (calibrated on ``X`` itself, so no input clips) and
    run on the golden model: ``|y - acc * s_w * s_a| <= s_a/2 * sum|W| + s_w/2 * s_a *
    sum|xq| + bias_rows * s_w * s_a * amax / 2`` per output (the rounding of the inputs, of
    the weights and of the bias; docs/neural-networks.md); then on ``runtime``'s backend,
    equal to the golden model's."""
    import numpy as np

    from zerohero import nn

    c = nn.compile_network(mlp, runtime.cfg, 0.0, calibration=X, finetune_epochs=0)
    [L] = c.layers
    acc = nn.golden_infer(c, X)
    [(got, _)] = nn.run_network(runtime, [(c, "spmm")], X)
    r["on_sim"] = "bit-exact" if np.array_equal(got, acc) else "differs"
    s = L.w_scale * L.a_scale
    xq = np.abs(c.quantize_input(X)).T                            # batch x in
    W = np.abs(mlp.weights[0])                                    # in x out
    bound = (L.a_scale / 2 * W.sum(axis=0)[None, :] + L.w_scale / 2 * L.a_scale
             * xq.sum(axis=1)[:, None] + L.bias_rows * s * L.amax / 2)
    err = np.abs(acc * s - want)
    r["quant_error"] = float(f"{np.max(err):.3g}")
    r["quant_bound"] = float(f"{np.max(bound):.3g}")
    return bool(np.all(err <= bound * (1 + 1e-9) + 1e-12)) and r["on_sim"] == "bit-exact"


BENCHES["onnx"] = bench_onnx
