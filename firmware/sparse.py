"""Sparse-output kernels and tiling: programs for SpGEMM, elementwise multiply and add, and the
tiles of operands larger than the scratchpad.

Dataflows (every lane owns some rows of the result; rows are balanced by cost with
:func:`~zerohero.firmware.scheduler.balance_rows`):

* **ewmul / ewadd** (``C = A .* B`` / ``C = A + B``): lane ``i``'s rows of A are its
  operand-bank stream, the same rows of B a CSR in its vector bank streamed alongside
  (``B_MODE`` 2: intersector, 3: unioner); the MAC's elementwise mode (``MAC_MODE`` 1 / 2)
  emits one product or sum per coordinate and the compressed writer stores the row. One job
  per lane.
* **spgemm** (``C = A @ B``), inner products row by row: every lane's operand bank holds all
  of B (the tile's columns) as CSC, its vector bank its rows of A as CSR. Job ``r`` of a lane
  streams every column of B against row ``r`` of A repeated (``B_MODE`` 1): the intersector
  pairs ``A[r, k]`` with ``B[k, j]`` in increasing ``k`` and the MAC emits ``C[r, j]`` for
  every ``j`` of the tile; the compressed writer appends the row (``OUT_MODE`` 3 after the
  first job). Work per row is ``nnz(B) + cols(B)`` cycles, whatever the density of the row.

Zero policy: the compressed writer drops every zero result, so a product or sum that cancels
(``a + b = 0``, ``sum_k A[i, k] B[k, j] = 0``) is not stored, exactly like the golden model's
kernels (and an entirely-zero result is a CSR with no entries, every row empty).

Tiling: a kernel whose operands do not fit a bank is split into tiles (blocks of rows of the
result; for spgemm also blocks of columns of B; for the row-wise kernels blocks of the inner
dimension, whose partial sums the host adds). Each tile is one :class:`Program`; all tiles
run in one simulator run (``Accelerator.execute``) and the results are stitched exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse

from zerohero.spec.memory import unpack_entry
from zerohero.spec.regmap import RegisterMap
from zerohero import model

from .layout import csr_words
from .scheduler import (JOB_CYCLES, CapacityError, Program, _fits, _words, balance_rows,
                        counter_reads, decode_counters, lane_setup, load_firmware,
                        plan_rowwise, start_write)

__all__ = ["plan_sparse", "plan_tiles", "plan_double_buffered", "relocate",
           "estimated_cycles", "stitch", "SPARSE_KERNELS", "Tile"]

SPARSE_KERNELS = ("spgemm", "ewmul", "ewadd")


def plan_sparse(cfg, kernel: str, A, B, relu: bool = False) -> Program:
    """A :class:`Program` computing the sparse result of ``kernel`` on scipy CSR ``A``, ``B``
    (int64 values already checked against the widths). ``decode`` returns ``(scipy CSR,
    counters)``. Raises :class:`CapacityError` when the operands do not fit the banks."""
    if kernel not in SPARSE_KERNELS:
        raise ValueError(f"unknown sparse kernel {kernel!r}; known: {', '.join(SPARSE_KERNELS)}")
    rmap = RegisterMap(cfg)
    A = scipy.sparse.csr_array(A)
    B = scipy.sparse.csr_array(B)
    rows = A.shape[0]
    out_cols = B.shape[1]
    a_nnz = np.diff(A.indptr)
    if kernel == "spgemm":
        Bc = scipy.sparse.csc_array(B)
        Bc.sort_indices()
        # Structural nonzeros of each row of C: room for its entries (cancellation only
        # makes the row shorter).
        struct = (abs(A).astype(bool).astype(np.int64) @ abs(B).astype(bool).astype(np.int64))
        c_cap = np.diff(scipy.sparse.csr_array(struct).indptr)
        # A row's job streams all of B and meets every column with the row (the
        # intersector consumes up to `window` entries of a side a cycle).
        costs = [int(Bc.nnz + out_cols + out_cols * -(-int(a_nnz[r]) // cfg.window))
                 for r in range(rows)]
    else:
        b_nnz = np.diff(B.indptr)
        if kernel == "ewmul":
            c_cap = np.minimum(a_nnz, b_nnz)
        else:
            c_cap = a_nnz + b_nnz
        costs = [max(int(a_nnz[r] + b_nnz[r]), 1) for r in range(rows)]
    lanes = balance_rows(costs, cfg.lanes)
    if kernel == "spgemm":
        # Every job ends at a barrier: job t of every lane should cost about the same, so
        # each lane takes its rows longest first (any order works: pos says which is which).
        lanes = [sorted(lrows, key=lambda r: (-costs[r], r)) for lrows in lanes]
    jobs = max(len(r) for r in lanes)          # spgemm: jobs per lane (rows, padded)

    writes, per_lane, layout = [], [], []
    if kernel == "spgemm":          # all of B in every lane's operand bank: one broadcast
        b_pos, b_ent = csr_words(cfg, Bc, range(out_cols))
        writes += _words(rmap, 0, 0, b_pos + b_ent, broadcast=True)
    for lane, lrows in enumerate(lanes):
        cap = int(sum(c_cap[r] for r in lrows))
        if kernel == "spgemm":
            op = b_pos + b_ent
            vpos, vent = csr_words(cfg, A, lrows, pad_to=jobs)
            out_rows = jobs
            fields = {"A_MODE": 0, "A_POS": 0, "A_CRD": len(b_pos), "A_ROWS": out_cols,
                      "B_MODE": 1, "B_CRD": len(vpos), "MAC_MODE": 0}
        else:
            op_pos, op_ent = csr_words(cfg, A, lrows)
            op = op_pos + op_ent
            vpos, vent = csr_words(cfg, B, lrows)
            out_rows = len(lrows)
            fields = {"A_MODE": 0, "A_POS": 0, "A_CRD": len(op_pos), "A_ROWS": len(lrows),
                      "B_MODE": 2 if kernel == "ewmul" else 3, "B_POS": 0, "B_CRD": len(vpos),
                      "MAC_MODE": 1 if kernel == "ewmul" else 2}
        out_pos = len(op)
        out_base = len(vpos) + len(vent)
        _fits(cfg, f"{kernel}: lane {lane}'s operand bank (stream and result pos)",
              out_pos + max(out_rows, 1) + 1)
        _fits(cfg, f"{kernel}: lane {lane}'s vector bank (operand and result entries)",
              out_base + cap)
        fields.update({"OUT_POS": out_pos, "OUT_BASE": out_base, "RELU": int(relu),
                       "OUT_MODE": 1})
        if kernel != "spgemm":
            writes += _words(rmap, lane, 0, op)
        writes += _words(rmap, cfg.lanes + lane, 0, vpos + vent)
        per_lane.append(fields)
        layout.append((lrows, out_pos, out_rows, out_base, cap))

    setup = lane_setup(per_lane)
    if kernel == "spgemm":
        program, defines = "spgemm.s", {"lane_setup": "\n".join(setup), "jobs": jobs}
    else:
        program, defines = "elementwise.s", {"lane_setup": "\n".join(setup)}
    firmware, source = load_firmware(cfg, rmap, kernel, program, defines, writes)

    parts = rmap.spm_word_parts
    reads = []
    for lane, (lrows, out_pos, out_rows, out_base, cap) in enumerate(layout):
        reads += [rmap.spm_addr(lane, out_pos + t, 0) for t in range(out_rows + 1)]
        reads += [rmap.spm_addr(cfg.lanes + lane, out_base + t, p)
                  for t in range(cap) for p in range(parts)]
    reads += counter_reads(rmap)

    def decode(values):
        row_entries = [None] * rows
        k = 0
        for lane, (lrows, out_pos, out_rows, out_base, cap) in enumerate(layout):
            pos = values[k:k + out_rows + 1]
            k += out_rows + 1
            words = [sum(values[k + t * parts + p] << (32 * p) for p in range(parts))
                     for t in range(cap)]
            k += cap * parts
            if pos[0] != 0 or any(b < a for a, b in zip(pos, pos[1:])) or pos[-1] > cap:
                raise RuntimeError(f"{kernel}: lane {lane} wrote a malformed pos {pos}")
            for t, r in enumerate(lrows):
                row_entries[r] = [unpack_entry(cfg, w) for w in words[pos[t]:pos[t + 1]]]
        counters = decode_counters(rmap, values[k:])
        indptr, indices, data = [0], [], []
        for ents in row_entries:
            indices += [c for c, _ in ents]
            data += [v for _, v in ents]
            indptr.append(len(indices))
        C = scipy.sparse.csr_array((np.array(data, dtype=np.int64),
                                    np.array(indices, dtype=np.int64), np.array(indptr)),
                                   shape=(rows, out_cols))
        return C, counters

    # Generous: every job as long as the longest row's (jobs end at a barrier).
    timeout = 256 + 4 * (max(sum(costs[r] for r in lrows) for lrows in lanes) +
                         jobs * (max(costs, default=0) + 40))
    if kernel == "spgemm":      # jobs in lockstep: each as long as its longest row
        work = sum(max((costs[lrows[t]] for lrows in lanes if t < len(lrows)), default=0)
                   + JOB_CYCLES for t in range(jobs))
    else:
        work = max(sum(costs[r] for r in lrows) for lrows in lanes) + JOB_CYCLES
    return Program(kernel, writes, start_write(rmap), reads, decode, firmware,
                   source, timeout, work=work)


# Tiling -------------------------------------------------------------------------------------

class Tile:
    """One tile: its program, the rows of the result it computes and its column offset."""

    def __init__(self, program, rows, col0, cols):
        self.program, self.rows, self.col0, self.cols = program, rows, col0, cols


def _split(idx):
    h = len(idx) // 2
    return idx[:h], idx[h:]


def _plan_recursive(plan, rows, cols, out):
    """Plan tiles of ``rows`` (an index array) of one block of columns ``cols``, halving the
    rows until a tile fits. ``plan(rows, cols)`` returns a Program or raises CapacityError."""
    try:
        out.append(Tile(plan(rows, cols), rows, cols[0] if len(cols) else 0, cols))
    except CapacityError as err:
        if len(rows) <= 1:
            raise CapacityError(f"{err} (even a tile of one row)") from None
        for half in _split(rows):
            _plan_recursive(plan, half, cols, out)


def plan_tiles(cfg, kernel: str, A, B, relu: bool = False) -> list:
    """The :class:`Tile` s of ``kernel`` on ``A`` and ``B``: one tile when everything fits,
    else blocks of result rows (and of inner columns for the row-wise kernels, of the
    columns of B for spgemm), each small enough for the banks, lanes balanced within each.

    ``A``/``B`` as :func:`plan_rowwise` (row-wise kernels) or :func:`plan_sparse` take them.
    Inner-dimension tiles of a row-wise kernel produce partial sums that the host adds, which
    is exact with ``overflow="wrap"`` (addition modulo ``2**acc_width``); with ``saturate``
    it is only exact when no partial sum can saturate, so such a tiling is refused unless
    the operands bound every partial sum inside the accumulator range."""
    if kernel not in SPARSE_KERNELS:
        return _plan_rowwise_tiles(cfg, kernel, A, B, relu)
    As = scipy.sparse.csr_array(A)
    Bs = scipy.sparse.csr_array(B)
    a_nnz = np.diff(As.indptr)
    tiles = []
    if kernel != "spgemm":
        b_nnz = np.diff(Bs.indptr)
        cap = np.minimum(a_nnz, b_nnz) if kernel == "ewmul" else a_nnz + b_nnz
        # Per row: the larger of its words in the operand bank (A, result pos) and in the
        # vector bank (B, result entries).
        cost = np.maximum(a_nnz + 2, b_nnz + 1 + cap)

        def plan(rows, cols):
            return plan_sparse(cfg, kernel, As[rows], Bs[rows], relu)
        for rows in _blocks(cost, cfg.lanes * (cfg.spm_depth - 4)):
            _plan_recursive(plan, rows, np.arange(1), tiles)
        return tiles
    Bc = scipy.sparse.csc_array(Bs)
    Bc.sort_indices()
    # Column blocks of B: at most half an operand bank (the rest holds the result's pos).
    col_blocks = _blocks(np.diff(Bc.indptr) + 1, cfg.spm_depth // 2 - 1)
    struct = scipy.sparse.csr_array(As.astype(bool).astype(np.int64) @
                                    Bs.astype(bool).astype(np.int64))
    for cols in col_blocks:
        Bt = Bc[:, cols].tocsr()
        cap = np.diff(struct[:, cols].tocsr().indptr)
        b_words = Bt.nnz + len(cols) + 1
        rows_per_lane = max(cfg.spm_depth - b_words - 2, 1)

        def plan(rows, cols_, Bt=Bt):
            return plan_sparse(cfg, kernel, As[rows], Bt, relu)
        for rows in _blocks(a_nnz + 1 + cap, cfg.lanes * (cfg.spm_depth - 4),
                            max_rows=cfg.lanes * rows_per_lane):
            _plan_recursive(plan, rows, cols, tiles)
    return tiles


def relocate(program: Program, half_cfg, cfg, upper: bool) -> Program:
    """``program``, planned for ``half_cfg`` (``cfg`` with banks half as deep), moved into the
    lower or upper half of ``cfg``'s banks: its scratchpad addresses are re-encoded (and
    offset by ``spm_depth / 2`` for the upper half), its firmware addresses re-encoded, and
    its START write sets ``CONTROL.HALF``, which the lanes OR into every address, so the
    firmware itself is unchanged."""
    src, dst = RegisterMap(half_cfg), RegisterMap(cfg)
    offset = cfg.spm_depth // 2 if upper else 0

    def move(addr):
        where = src.decode(addr)
        if where is None:
            raise ValueError(f"{program.kernel}: address {addr:#x} is outside the map")
        if where[0] in ("spm", "bcast"):
            kind, bank, word, part = where
            at = dst.spm_addr if kind == "spm" else dst.bcast_addr
            return at(bank, word + offset, part)
        if where[0] == "fw":
            return dst.fw_base + where[1]
        return addr                         # registers sit at the same offsets

    control, value = program.start
    half = dst["CONTROL"].field("HALF")
    return dataclasses.replace(
        program, writes=[(move(a), d) for a, d in program.writes],
        reads=[move(a) for a in program.reads],
        start=(control, value | int(upper) << half.lsb))


def estimated_cycles(cfg, tiles, overlap: bool) -> int:
    """End-to-end cycle estimate of running ``tiles``: one bus word a cycle for every write
    and read, plus each tile's estimated run (``Program.work``), less, with ``overlap``, the
    scratchpad writes of tile ``i + 1`` that fit in tile ``i``'s run."""
    fw_base = RegisterMap(cfg).fw_base
    programs = [t.program for t in tiles]
    total = sum(len(p.writes) + len(p.reads) + p.work for p in programs)
    if overlap:
        total -= sum(min(prev.work, sum(1 for a, _ in p.writes if a < fw_base))
                     for prev, p in zip(programs, programs[1:]))
    return total


def plan_double_buffered(cfg, kernel: str, A, B, relu: bool = False) -> list:
    """Tiles for double buffering: planned as :func:`plan_tiles` for banks half as deep,
    tile ``i`` in the lower (even ``i``) or upper (odd ``i``) half of every bank, so that the
    host can load tile ``i + 1`` while tile ``i`` runs (``Accelerator.execute(...,
    overlap=True)``). Needs ``cfg.double_buffer``."""
    if not cfg.double_buffer:
        raise ValueError(f"config {cfg.name} is built without double buffering "
                         f"(AccelConfig.double_buffer=False)")
    half_cfg = cfg.replace(spm_depth=cfg.spm_depth // 2)
    tiles = plan_tiles(half_cfg, kernel, A, B, relu)
    for i, tile in enumerate(tiles):
        tile.program = relocate(tile.program, half_cfg, cfg, upper=i % 2 == 1)
    return tiles


def _blocks(cost, budget, max_rows=None):
    """Consecutive index blocks whose summed ``cost`` stays within ``budget`` (and at most
    ``max_rows`` indices); a block always takes at least one index."""
    blocks, start, acc = [], 0, 0
    n = len(cost)
    for r in range(n):
        if r > start and (acc + cost[r] > budget or (max_rows and r - start >= max_rows)):
            blocks.append(np.arange(start, r))
            start, acc = r, 0
        acc += int(cost[r])
    if n:
        blocks.append(np.arange(start, n))
    return blocks


def _plan_rowwise_tiles(cfg, kernel, A, B, relu):
    dense_a = kernel in ("gemv", "gemm")
    sparse_b = kernel == "spmspv"
    if dense_a:
        Ad = np.asarray(A.array if hasattr(A, "array") else A, dtype=np.int64)
        As = scipy.sparse.csr_array(Ad)
    else:
        As = scipy.sparse.csr_array(A.to_scipy())
        Ad = None
    rows, inner = As.shape
    if sparse_b:
        Bd = B.to_dense()
    else:
        Bd = np.asarray(B, dtype=np.int64)
    vector = Bd.ndim == 1
    B2 = Bd.reshape(inner, -1)
    try:
        return [Tile(plan_rowwise(cfg, kernel, A, B, relu), np.arange(rows), 0,
                     np.arange(inner))]
    except CapacityError:
        pass
    if cfg.overflow == "saturate":
        bound = (abs(As) @ np.abs(B2)).max(initial=0)
        if bound > cfg.acc_max:
            raise ValueError(
                f"{kernel}: the operands need tiling along the inner dimension, whose partial "
                f"sums are only exact with overflow='wrap' or when no sum can saturate, but a "
                f"sum of |products| reaches {bound} > acc_max {cfg.acc_max}")
    # Inner tiles: as wide as the vector bank can hold with room for results.
    width = inner
    per_col = B2.shape[1] if not sparse_b else 1
    while width > 1 and width * per_col > cfg.spm_depth // 2:
        width = (width + 1) // 2
    col_blocks = [np.arange(c, min(c + width, inner)) for c in range(0, inner, width)]
    tiled_relu = relu and len(col_blocks) == 1

    def sub_a(rows_, cols_):
        if dense_a:
            return model.Dense(Ad[np.ix_(rows_, cols_)])
        return model.from_scipy(As[rows_][:, cols_], "csr")

    def sub_b(cols_):
        if sparse_b:
            return model.to_format(B2[cols_, 0], "vector")
        seg = B2[cols_]
        return seg[:, 0] if vector else seg

    tiles = []
    for cols in col_blocks:
        def plan(rows_, cols_):
            return plan_rowwise(cfg, kernel, sub_a(rows_, cols_), sub_b(cols_), tiled_relu)
        # Per row: its words in the operand bank (pos + entries); results in the vector bank.
        cost = (np.full(rows, len(cols)) if dense_a else np.diff(As[:, cols].indptr)) + 1
        room = cfg.spm_depth - len(cols) * per_col
        for block in _blocks(cost, cfg.lanes * (cfg.spm_depth - 4),
                             max_rows=cfg.lanes * max(room // max(per_col, 1), 1)):
            _plan_recursive(plan, block, cols, tiles)
    return tiles


def stitch(cfg, kernel, tiles, decoded, shape, sem, relu=False):
    """The full result from the decoded results of ``tiles`` (see :func:`plan_tiles`)."""
    rows, cols = shape
    if kernel in SPARSE_KERNELS:
        parts = []
        for tile, (C, _) in zip(tiles, decoded):
            C = scipy.sparse.coo_array(C)
            parts.append((tile.rows[C.row], C.col + tile.col0, C.data))
        r = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, int)
        c = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, int)
        v = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
        C = scipy.sparse.csr_array((v, (r, c)), shape=shape)
        C.sort_indices()
        return C
    vector = cols is None
    out = np.zeros((rows, 1 if vector else cols), dtype=np.int64)
    inner_tiled = len({t.col0 for t in tiles}) > 1
    for tile, (res, _) in zip(tiles, decoded):
        res = np.asarray(res, dtype=np.int64).reshape(len(tile.rows), -1)
        if not inner_tiled:
            out[tile.rows] = res
            continue
        for i, r in enumerate(tile.rows):
            for j in range(out.shape[1]):
                out[r, j] = sem.acc_add(out[r, j], int(res[i, j]))
    if inner_tiled and relu:
        out = np.maximum(out, 0)
    return out[:, 0] if vector else out
