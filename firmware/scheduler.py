"""Host side of the firmware: splitting work across lanes and building programs.

Real matrices have skewed rows, so rows are given to lanes by their cost, not by index:
longest-processing-time first, each row to the least-loaded lane so far. Within a lane rows
keep ascending order, so each lane's stream is a valid CSR row stream.

:func:`plan_rowwise` turns one row-wise kernel (SpMV, SpMSpV, SpMM, GEMV, GEMM) into a
:class:`Program`: the bus writes that load every lane's banks and the firmware
(``programs/rowwise.s``), the CONTROL write that starts it, the bus reads that fetch results
and counters, and the decoder of those reads. Everything is checked before anything is sent:
an operand that does not fit a bank or the configured widths is a ``ValueError`` naming it
(:class:`CapacityError` when it is the bank, so that :mod:`.sparse` can tile the operands).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse

from zerohero.spec.config import COUNTER_NAMES
from zerohero.spec.memory import pack_entry, unpack_entry
from zerohero.spec.regmap import RegisterMap

from .isa import assemble
from .layout import csr_words

__all__ = ["balance_rows", "Program", "plan_rowwise", "useful_macs", "KERNELS", "CapacityError",
           "counter_reads", "decode_counters"]

PROGRAMS = Path(__file__).resolve().parent / "programs"
#: Fixed cost of a job beyond its stream (firmware, scanner start-up, MAC pipeline, barrier),
#: as the simulated accelerator takes it (docs/benchmarks.md); for the estimate in
#: ``Program.work``.
JOB_CYCLES = 34
KERNELS = ("spmv", "spmspv", "spmm", "gemv", "gemm")


def balance_rows(costs, lanes: int) -> list[list[int]]:
    """Row indices per lane, balancing the sum of ``costs`` (one non-negative cost per row)."""
    if lanes < 1:
        raise ValueError(f"lanes must be at least 1, not {lanes!r}")
    heap = [(0, lane) for lane in range(lanes)]
    assigned = [[] for _ in range(lanes)]
    for row in sorted(range(len(costs)), key=lambda r: (-costs[r], r)):
        load, lane = heapq.heappop(heap)
        assigned[lane].append(row)
        heapq.heappush(heap, (load + costs[row], lane))
    return [sorted(rows) for rows in assigned]


@dataclass
class Program:
    kernel: str
    writes: list = field(default_factory=list)      # (bus address, data)
    start: tuple = (0, 0)
    reads: list = field(default_factory=list)       # bus addresses
    decode: Callable = None                         # reads -> (result, counters per lane)
    firmware: list = field(default_factory=list)    # instruction words
    source: str = ""                                # the firmware's assembly
    timeout: int = 0                                # cycles
    work: int = 0                                   # estimated run cycles (tiling choice)


def _words(rmap, bank, base, values, broadcast=False):
    """Bus writes of scratchpad words ``values`` at ``bank``/``base``: low part first.
    ``broadcast``: ``bank`` is a broadcast group instead (0: every lane's operand bank, 1:
    every lane's vector bank), one bus write for all lanes."""
    at = rmap.bcast_addr if broadcast else rmap.spm_addr
    out = []
    parts = rmap.spm_word_parts
    for i, word in enumerate(values):
        for p in range(parts):
            out.append((at(bank, base + i, p), (int(word) >> (32 * p)) & 0xFFFFFFFF))
    return out


def start_write(rmap) -> tuple[int, int]:
    """The bus write ``(address, data)`` that starts the sequencer (``CONTROL.START``)."""
    control = rmap["CONTROL"]
    return control.offset, 1 << control.field("START").lsb


def counter_reads(rmap) -> list[int]:
    """Bus addresses of every lane's performance counters, lane after lane, in
    :data:`COUNTER_NAMES` order, parts low first (what :func:`decode_counters` takes)."""
    return [rmap.counter(lane, name, p).offset for lane in range(rmap.cfg.lanes)
            for name in COUNTER_NAMES for p in range(rmap.counter_parts)]


def decode_counters(rmap, values) -> list[dict]:
    """Per lane ``{counter name: value}`` from the words read at :func:`counter_reads`."""
    parts = rmap.counter_parts
    words = iter(values)
    return [{name: sum(next(words) << (32 * p) for p in range(parts)) for name in COUNTER_NAMES}
            for _ in range(rmap.cfg.lanes)]


class CapacityError(ValueError):
    """An operand does not fit a bank (the tiler then splits it; see :mod:`.sparse`)."""


def lane_setup(per_lane):
    """Firmware lines setting each lane's fields; a field equal on every lane is broadcast
    (one instruction instead of one per lane)."""
    setup = []
    for name in per_lane[0]:
        values = {f[name] for f in per_lane}
        if len(values) == 1:
            setup.append(f"        cfg   *, {name}, {values.pop()}")
        else:
            setup += [f"        cfg   {lane}, {name}, {f[name]}" for lane, f in enumerate(per_lane)]
    return setup


def load_firmware(cfg, rmap, kernel, program, defines, writes):
    """Assemble ``programs/<program>`` with ``defines`` and append the bus writes that load it
    to ``writes``; returns ``(instruction words, expanded source)``."""
    source = (PROGRAMS / program).read_text()
    firmware = assemble(source, cfg.lanes, defines)
    if len(firmware) > cfg.fw_depth:
        raise CapacityError(f"{kernel}: firmware of {len(firmware)} instructions exceeds "
                            f"fw_depth {cfg.fw_depth}")
    writes += [(rmap.fw_base + i, w) for i, w in enumerate(firmware)]
    return firmware, source.format(**defines)


def _fits(cfg, what, used):
    if used > cfg.spm_depth:
        raise CapacityError(f"{what} needs {used} words but a bank holds {cfg.spm_depth} "
                         f"(config {cfg.name})")


def plan_rowwise(cfg, kernel: str, A, B, relu: bool = False) -> Program:
    """A :class:`Program` computing ``A @ B`` row-wise.

    ``A``: a CSR (spmv, spmspv, spmm) or a Dense 2-D (gemv, gemm) format object;
    ``B``: a dense 1-D vector (spmv, gemv), a SparseVector (spmspv) or a dense 2-D matrix
    (spmm, gemm). Values must already be checked against the configured widths.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; known: {', '.join(KERNELS)}")
    rmap = RegisterMap(cfg)
    rows, inner = A.shape
    if inner - 1 > cfg.coord_max or rows - 1 > cfg.coord_max:
        raise ValueError(f"{kernel}: A is {rows} x {inner} but coordinates have "
                         f"{cfg.coord_width} bits (largest {cfg.coord_max})")
    dense_a = kernel in ("gemv", "gemm")
    sparse_b = kernel == "spmspv"
    if dense_a:
        a_rows = np.asarray(A.array if hasattr(A, "array") else A, dtype=np.int64)
        nnz = np.full(rows, inner)
    else:
        nnz = np.diff(A.pos)
    if sparse_b:
        b_cols = 1
        xs_crd, xs_val = np.asarray(B.crd), np.asarray(B.vals)
        b_words = [0, len(xs_crd)] + [pack_entry(cfg, int(c), int(v))
                                      for c, v in zip(xs_crd, xs_val)]
        b_stride = 0
    else:
        Bd = np.asarray(B, dtype=np.int64)
        Bd = Bd.reshape(inner, -1)
        b_cols = Bd.shape[1]
        b_words = [pack_entry(cfg, r, int(Bd[r, j])) for j in range(b_cols) for r in range(inner)]
        b_stride = inner
    _fits(cfg, f"{kernel}: B ({'sparse vector' if sparse_b else f'{inner} x {b_cols}'})",
          len(b_words))
    # Cost of a row on its lane: its stream (one entry a cycle; an empty row costs one).
    if sparse_b:
        costs = [max(int(n), len(xs_crd), 1) for n in nnz]
    else:
        costs = [max(int(n), 1) for n in nnz]
    lanes = balance_rows(costs, cfg.lanes)

    writes, per_lane = [], []
    for lane, lrows in enumerate(lanes):
        if dense_a:
            image = [pack_entry(cfg, c, int(a_rows[r, c])) for r in lrows for c in range(inner)]
            fields = {"A_MODE": 1, "A_POS": 0, "A_CRD": inner, "A_COLS": inner}
        else:
            pos, entries = csr_words(cfg, A, lrows)
            image = pos + entries
            fields = {"A_MODE": 0, "A_POS": 0, "A_CRD": len(pos), "A_COLS": 0}
        fields.update({"A_ROWS": len(lrows), "B_MODE": int(sparse_b), "B_CRD": 2,
                       "RELU": int(relu)})
        _fits(cfg, f"{kernel}: lane {lane}'s rows of A", len(image))
        writes += _words(rmap, lane, 0, image)
        per_lane.append(fields)
    writes += _words(rmap, 1, 0, b_words, broadcast=True)     # B: every lane's vector bank
    setup = lane_setup(per_lane)
    # Results follow B in every lane's vector bank.
    out_base = len(b_words)
    out_stride = max(len(lrows) for lrows in lanes)
    _fits(cfg, f"{kernel}: B and the results", out_base + b_cols * out_stride)
    if out_base + b_cols * out_stride > 0xFFFF:
        raise CapacityError(f"{kernel}: results end beyond the 16-bit addresses of the firmware")

    defines = {"lane_setup": "\n".join(setup), "b_base": 0, "out_base": out_base,
               "columns": b_cols, "b_stride": b_stride, "out_stride": out_stride}
    firmware, source = load_firmware(cfg, rmap, kernel, "rowwise.s", defines, writes)

    # Reads: every result word (all parts), then every lane's counters.
    parts = rmap.spm_word_parts
    reads, where = [], []
    for lane, lrows in enumerate(lanes):
        for j in range(b_cols):
            for t, r in enumerate(lrows):
                base = out_base + j * out_stride + t
                reads += [rmap.spm_addr(cfg.lanes + lane, base, p) for p in range(parts)]
                where.append((r, j))
    reads += counter_reads(rmap)

    def decode(values):
        result = np.zeros((rows, b_cols), dtype=np.int64)
        n = len(where) * parts
        for i, (r, j) in enumerate(where):
            word = sum(values[i * parts + p] << (32 * p) for p in range(parts))
            result[r, j] = unpack_entry(cfg, word)[1]
        counters = decode_counters(rmap, values[n:])
        if kernel in ("spmv", "spmspv", "gemv"):
            result = result[:, 0]
        return result, counters

    busiest = max(sum(costs[r] for r in lrows) for lrows in lanes)
    timeout = 64 + 4 * b_cols * (busiest + 32 + out_stride)
    return Program(kernel, writes, start_write(rmap), reads, decode,
                   firmware, source, timeout, work=b_cols * (busiest + JOB_CYCLES))


def useful_macs(kernel, A, B) -> int:
    """Products of two nonzeros the kernel must issue (the ideal work)."""
    # A stays sparse: a dense copy of a large sparse A would not fit in memory.
    a = scipy.sparse.csr_array(A.to_scipy() if hasattr(A, "to_scipy") else np.asarray(A))
    a = scipy.sparse.csr_array(((a.data != 0).astype(np.int64), a.indices, a.indptr),
                               shape=a.shape)
    b = (B.to_dense() if kernel == "spmspv" else np.asarray(B)) != 0
    return int((a @ b.reshape(a.shape[1], -1).astype(np.int64)).sum())

