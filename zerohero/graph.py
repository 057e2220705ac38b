"""Graph workloads on the chip: PageRank by fixed-point power iteration.

The graph is its adjacency matrix ``W`` (entry ``(i, j)``: an edge from ``i`` to ``j`` with
its weight, as ``networkx.to_scipy_sparse_array`` gives it). NetworkX's iteration is
``x' = d (x P) + d (x . dangling) / N + (1 - d) / N`` with ``P`` the row-normalized ``W`` and
the dangling nodes' (no out-edges) rank spread uniformly. Here that is one matrix,
``M = d (P^T + 1 dangling^T / N)``: a dangling node's column is dense (``N`` entries), the
rest has one entry an edge. Each iteration is one SpMV plus the result stage on the chip:

* ``M`` is quantized to ``value_width``-bit integers ``round(M 2**f)`` (``f`` the largest that
  keeps every entry in range and a row's sum within half the accumulator), ``x`` to
  ``round(x S)`` with ``S`` the largest scale whose ranks cannot leave the value range (a
  rank is at most ``(1 - d) / N + max(M)``);
* the result stage divides by ``2**f`` (multiplier 1, shift ``f``, round half up) and adds
  the teleport term ``round(S (1 - d) / N)`` as every row's zero point, clamped to
  ``[0, value_max]``.

The fixed-point iteration is the golden model's, bit for bit on every backend; against
NetworkX it differs by the quantization (``docs/graphs.md`` has the bound the tests check).
``pagerank`` is the ranks divided by their sum (so they sum to 1).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse

from zerohero.firmware.resident import ChainLayer, Requant

__all__ = ["pagerank", "pagerank_layer", "MIN_LEVELS", "CHUNK", "add_parser"]

#: Fewest value levels an average rank must have (``S / N``), else the graph is too large
#: for the value width.
MIN_LEVELS = 4
#: Iterations a program runs when iterating to a tolerance (the host checks between programs).
CHUNK = 10
#: NetworkX's defaults.
MAX_ITER, TOL = 100, 1e-6


def pagerank_layer(cfg, W, damping: float = 0.85):
    """``(ChainLayer, S)``: the quantized iteration of the graph ``W`` (scipy sparse or dense,
    N x N, non-negative weights) for ``cfg``, and the scale of its ranks."""
    W = scipy.sparse.csr_array(W, dtype=np.float64)
    n = W.shape[0]
    if W.ndim != 2 or W.shape[0] != W.shape[1] or n == 0:
        raise ValueError(f"the adjacency matrix must be square and not empty, not "
                         f"{W.shape[0]} x {W.shape[1]}")
    if not 0 < damping < 1:
        raise ValueError(f"the damping factor must be between 0 and 1 (exclusive), not "
                         f"{damping!r}")
    if W.nnz and (not np.isfinite(W.data).all() or W.data.min() < 0):
        raise ValueError("edge weights must be finite and non-negative")
    W.eliminate_zeros()
    out = np.asarray(W.sum(axis=1)).reshape(-1)
    dangling = out == 0
    P = scipy.sparse.diags(np.where(dangling, 0, 1 / np.where(dangling, 1, out))) @ W
    M = (damping * P.T).tocsr()
    if dangling.any():
        cols = np.flatnonzero(dangling)
        M = M + scipy.sparse.csr_array(
            (np.full(n * len(cols), damping / n), (np.tile(np.arange(n), len(cols)),
                                                   np.repeat(cols, n))), shape=(n, n))
    vmax = cfg.value_max
    top = float(M.max()) if M.nnz else 0.0
    S = math.floor(vmax / min(1.0, (1 - damping) / n + top))
    if S < MIN_LEVELS * n:
        raise ValueError(f"{n} nodes are too many for {cfg.value_width}-bit values: the ranks' "
                         f"scale {S} leaves {S / n:.2g} levels an average node (at least "
                         f"{MIN_LEVELS}); at most {S // MIN_LEVELS} nodes with config "
                         f"{cfg.name}")
    # A row's sum is about 2**f times its next rank (at most vmax), plus half a unit of
    # rounding per entry times the ranks it meets (at most S): both halves of the accumulator.
    half = cfg.acc_max // 2
    if S > half:
        raise ValueError(f"the ranks' scale {S} does not fit half of a {cfg.acc_width}-bit "
                         "accumulator")
    f = min(math.floor(math.log2(vmax / top)) if top else 0, math.floor(math.log2(half / vmax)))
    while f > 0 and round(top * 2 ** f) > vmax:
        f -= 1
    Mq = M.copy()
    Mq.data = np.floor(M.data * 2 ** f + 0.5)
    Mq.eliminate_zeros()
    teleport = math.floor(S * (1 - damping) / n + 0.5)
    layer = ChainLayer(Mq.astype(np.int64), relu=False, consts=(),
                       requant=Requant(1, f, teleport, 0, vmax))
    return layer, S


def pagerank(runtime, W, damping: float = 0.85, iters: int | None = None,
             tol: float | None = None, max_iter: int = MAX_ITER):
    """``(ranks, stats)``: the PageRank of graph ``W`` on ``runtime``'s backend. ``iters``: run
    exactly that many iterations in one program; otherwise iterate until the L1 change of the
    normalized ranks between the last two iterations is below ``N * tol`` (NetworkX's test;
    default ``tol`` 1e-6) or no rank moved by more than one unit of its fixed-point scale
    (the resolution, below which rounding keeps the ranks moving), checking every
    :data:`CHUNK` iterations, and ``ValueError`` after ``max_iter``."""
    if iters is not None and tol is not None:
        raise ValueError("give the iteration count or the tolerance, not both")
    if iters is not None and not (isinstance(iters, (int, np.integer)) and iters >= 1):
        raise ValueError(f"the iteration count must be at least 1, not {iters!r}")
    tol = TOL if tol is None else tol
    if not tol > 0:
        raise ValueError(f"the tolerance must be positive, not {tol!r}")
    layer, S = pagerank_layer(runtime.cfg, W, damping)
    n = W.shape[0]
    x = np.full(n, math.floor(S / n + 0.5), dtype=np.int64)
    runs, done, change = [], 0, None
    converged = None if iters is not None else False   # None: a fixed count
    while True:
        k = iters if iters is not None else min(CHUNK, max_iter - done)
        (x, prev), st = runtime.iterate(layer, x, k)
        runs.append(st)
        done += k
        change = float(np.abs(_normalized(x) - _normalized(prev)).sum())
        if iters is not None:
            break
        # The rounding of every step leaves ranks a unit (1 / S) either way of their fixed
        # point: a tolerance below that resolution ends there.
        if change < n * tol or np.abs(x - prev).max() <= 1:
            converged = True
            break
        if done >= max_iter:
            raise ValueError(f"PageRank did not converge within {max_iter} iterations (L1 "
                             f"change {change:.3g}, tolerance {n * tol:.3g})")

    def total(key):
        values = [r[key] for r in runs]
        return None if None in values else sum(values)

    cycles = total("cycles")
    # Host words between the first iteration and the last: none inside a program; between
    # two programs, the first one's reads and the next one's writes.
    between = sum(r["host_words_in"] for r in runs[:-1]) + sum(r["host_words_out"]
                                                               for r in runs[1:])
    stats = {
        "nodes": n, "edges": int(scipy.sparse.csr_array(W).nnz), "damping": damping,
        "iterations": done, "programs": len(runs), "converged": converged,
        "l1_change_last": change, "scale": S, "matrix_shift": layer.requant.shift,
        "cycles": cycles,
        "cycles_per_iteration": None if cycles is None else cycles / done,
        "host_words_between_iterations": between,
        "host_words_out": total("host_words_out"), "host_words_in": total("host_words_in"),
        "end_to_end_cycles": total("end_to_end_cycles"),
        "overflows": total("overflows"),
    }
    return _normalized(x), stats


def _normalized(x):
    x = np.asarray(x, dtype=np.float64)
    s = x.sum()
    return x / s if s else x


# Command line: zerohero graph pagerank -----------------------------------------------------

def add_parser(sub, func):
    from zerohero.spec.config import PRESETS

    p = sub.add_parser("graph", help="graph workloads on the accelerator (PageRank)",
                       description="PageRank of a graph (its adjacency matrix, .mtx: entry "
                       "(i, j) an edge from i to j) by power iteration on the chip. Exit "
                       "status: 0 ok, 1 a failed run, 2 bad input.")
    p.add_argument("algorithm", choices=["pagerank"])
    p.add_argument("file", metavar="FILE.mtx", help="the adjacency matrix (Matrix Market)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--iters", metavar="K", type=int,
                       help="exactly K iterations, in one program")
    group.add_argument("--tol", metavar="T", type=float,
                       help=f"iterate until the L1 change is below N*T (default {TOL:g}), "
                       f"checked every {CHUNK} iterations, at most {MAX_ITER}")
    p.add_argument("--damping", metavar="D", type=float, default=0.85,
                   help="damping factor (default 0.85)")
    p.add_argument("--config", default="sim-small", help=f"preset: {', '.join(PRESETS)}")
    p.add_argument("--sim", default="verilator", choices=["verilator", "icarus", "model"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=func)


def graph_command(args) -> int:
    import json
    import sys
    from pathlib import Path

    from zerohero import model
    from zerohero.run_command import input_file
    from zerohero.runtime import Runtime
    from zerohero.spec.config import preset

    path = Path(args.file)
    input_file(path, args.file)
    m = model.read_mtx(path)
    W = scipy.sparse.csr_array((m.values.astype(np.float64), (m.rows, m.cols)), shape=m.shape)
    progress = (lambda s: None) if args.quiet else (
        lambda s: print(f"[graph] {s}", file=sys.stderr, flush=True))
    runtime = Runtime(preset(args.config), args.sim, progress=progress)
    try:
        ranks, st = pagerank(runtime, W, args.damping, args.iters, args.tol)
    except ValueError as e:
        raise ValueError(f"{args.file}: {e}") from None
    if st["overflows"]:
        print(f"zerohero: error: {st['overflows']} accumulators overflowed, which the "
              "quantization's bounds rule out: a bug in zerohero", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"pagerank": ranks.tolist(), **st}))
        return 0
    order = np.argsort(-ranks, kind="stable")[:10]
    print(f"PageRank of {args.file}: {st['nodes']} nodes, {st['edges']} edges, damping "
          f"{st['damping']}; {st['iterations']} iterations on {args.sim} "
          f"({'converged' if st['converged'] else 'fixed count'})")
    if st["cycles_per_iteration"] is not None:
        print(f"  {st['cycles_per_iteration']:.0f} cycles an iteration, "
              f"{st['host_words_between_iterations']} host words between iterations")
    for i in order:
        print(f"  node {i}: {ranks[i]:.6f}")
    return 0
