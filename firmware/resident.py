"""Resident workloads: a chain of layers planned once, loaded once, run many times.

:func:`plan_chain` lays out a chain of :class:`ChainLayer` s (a network's layers) for the
accelerator's result stage and broadcast path (``AccelConfig.result_stage``): every layer's
weights stay in the operand banks, its requantization table in the vector banks, and one
program (``programs/chain.s``, a copy of ``programs/layer.s`` per layer) runs every layer of a
batch, each layer's results broadcast into the region of every vector bank where the next
layer gathers them. Between two batches the host writes only the next inputs (and, for a
shorter batch, the firmware words that count columns) and reads only the last layer's results.

Layout (every lane alike, so most fields are one broadcast ``cfg``):

* Rows of layer ``L`` go to lanes in slots: each lane owns ``R_L = ceil(rows / lanes)`` of
  them, balanced by nonzeros (longest first to the least-loaded lane with a free slot), and
  a lane's slots are contiguous in the layer's output, ``lane * R_L ..``: so a lane's
  broadcast results land at ``OUT_POS = lane * R_L`` plus its row's rank. The unused slots
  are empty rows, whose result is the zero point; the next layer's weights never refer to
  them (its columns are renumbered to the slots).
* Operand bank: layer after layer, ``pos`` (``R_L + 1`` words) then entries, at the same
  address in every lane.
* Vector bank: one input region a layer (its columns ``stride_L`` words apart: the inputs,
  then the layer's constant inputs, written once at load), each layer's table (word ``k``:
  the requantization of the row in slot ``k``), and the last layer's results (local to each
  lane, as a row-wise kernel writes them). A region per layer, not two that alternate, keeps
  every layer's constants in place for the whole life of the load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse

from zerohero.spec.memory import pack_entry, pack_rq, unpack_entry
from zerohero.spec.regmap import RegisterMap

from .isa import assemble
from .layout import csr_words
from .scheduler import (PROGRAMS, JOB_CYCLES, Program, _words, counter_reads, decode_counters,
                        lane_setup, start_write)

__all__ = ["ChainLayer", "Requant", "ChainPlan", "plan_chain", "golden_chain", "IterPlan",
           "plan_iterate", "golden_iterate"]

#: OUT_MODE bits (spec/isa.py).
BROADCAST, REQUANTIZE = 1 << 2, 1 << 3


@dataclass(frozen=True)
class Requant:
    """The result stage of a layer: per-row ``mult``, ``shift``, ``zero`` (arrays, one value a
    row, or one for all) and the bounds ``lo``, ``hi``."""

    mult: object
    shift: object
    zero: object
    lo: int
    hi: int


@dataclass
class ChainLayer:
    """``acc = A @ [a; consts]`` (ReLU if ``relu``), then ``requant`` (every layer but the
    last) into the next layer's ``a``. ``A``: integers, rows x (inputs + len(consts))."""

    A: object
    relu: bool
    consts: object = ()
    requant: Requant | None = None


def golden_chain(layers, a, sem):
    """THE chained inference on the golden model: ``(results, overflows)``, the last layer's
    results (rows x columns) of inputs ``a`` (inputs x columns) and the number of every
    layer's accumulators that the accumulator's wrap or saturation changed."""
    from zerohero import model

    a = np.asarray(a, dtype=np.int64)
    overflows = 0
    for L in layers:
        consts = np.asarray(L.consts, dtype=np.int64).reshape(-1, 1)
        b = np.vstack([a, np.repeat(consts, a.shape[1], axis=1)])
        A = model.to_format(_csr(L.A), "csr")
        acc = model.spmm(A, b, sem, relu=L.relu)
        overflows += model.count_overflows("spmm", A, b, acc, L.relu)
        q = L.requant
        a = acc if q is None else model.requantize(acc, q.mult, q.shift, q.zero, q.lo, q.hi)
    return a, overflows


def _per_row(v, rows, what, n):
    v = np.asarray(v, dtype=object).reshape(-1)
    if v.size not in (1, rows):
        raise ValueError(f"layer {n}: requantization {what} has {v.size} values for {rows} rows")
    return np.broadcast_to(v, (rows,))


def _csr(A):
    return scipy.sparse.csr_array(A.to_scipy() if hasattr(A, "to_scipy") else A, dtype=np.int64)


def _slots(nnz, lanes):
    """Rows per lane (``R = ceil(rows / lanes)`` slots each), balanced by cost: the rows of
    lane ``i`` in ascending order."""
    per = max(1, math.ceil(len(nnz) / lanes))
    load, assigned = [0] * lanes, [[] for _ in range(lanes)]
    for r in sorted(range(len(nnz)), key=lambda r: (-nnz[r], r)):
        lane = min((i for i in range(lanes) if len(assigned[i]) < per), key=lambda i: load[i])
        assigned[lane].append(r)
        load[lane] += max(int(nnz[r]), 1)
    return per, [sorted(rows) for rows in assigned]


@dataclass
class ChainPlan:
    """What :func:`plan_chain` gives: the one-time load, and per batch the program."""

    cfg: object
    layers: list
    max_batch: int
    load_writes: list                  # (bus address, data): weights, tables, constants
    firmware_for: object               # columns -> instruction words
    input_writes: object               # a (inputs x columns) -> bus writes
    reads_for: object                  # (columns, counters) -> bus addresses: results, counters
    decode: object                     # (reads, columns) -> (results rows x columns, counters)
    timeout_for: object                # columns -> cycles
    source: str = ""
    work: dict = field(default_factory=dict)

    def batch_program(self, a, firmware_now=None, counters=False) -> Program:
        """The program of one batch of inputs ``a`` (inputs x columns): its input writes, the
        firmware words that differ from ``firmware_now`` (all of them if None), START, the
        reads of the results (and of every lane's counters with ``counters``)."""
        cols = a.shape[1]
        rmap = RegisterMap(self.cfg)
        words = self.firmware_for(cols)
        writes = self.input_writes(a)
        writes += [(rmap.fw_base + i, w) for i, w in enumerate(words)
                   if firmware_now is None or i >= len(firmware_now) or firmware_now[i] != w]
        return Program("chain", writes, start_write(rmap), self.reads_for(cols, counters),
                       lambda values: self.decode(values, cols), words, self.source,
                       self.timeout_for(cols))


#: Columns a batch holds unless asked (the regions and their constants are sized for it).
DEFAULT_BATCH = 32


def _check(cfg, layers, loop=False):
    """The layers' CSR matrices and constants, checked against each other and ``cfg``."""
    if not cfg.result_stage:
        raise ValueError(f"config {cfg.name} is built without the result stage "
                         "(AccelConfig.result_stage=False), which a resident chain needs")
    if not layers:
        raise ValueError("a chain needs at least one layer")
    mats = [_csr(L.A) for L in layers]
    consts = [np.asarray(L.consts, dtype=np.int64).reshape(-1) for L in layers]
    for n, (L, A) in enumerate(zip(layers, mats)):
        last = n == len(layers) - 1 and not loop
        if (L.requant is None) != last:
            raise ValueError(f"layer {n}: every layer but the last is requantized into the "
                             "next one's inputs, and the last is not" if not loop else
                             "an iterated layer is requantized into its own next input")
        nxt = 0 if loop else n + 1
        if not last and A.shape[0] + len(consts[nxt]) != mats[nxt].shape[1]:
            raise ValueError(f"layer {nxt}: A has {mats[nxt].shape[1]} columns but layer "
                             f"{n} gives {A.shape[0]} inputs and it has {len(consts[nxt])} "
                             "constants")
        if len(consts[n]) > A.shape[1]:
            raise ValueError(f"layer {n}: {len(consts[n])} constants but A has "
                             f"{A.shape[1]} columns")
        q = L.requant
        if q is not None and not cfg.value_min <= q.lo <= q.hi <= cfg.value_max:
            raise ValueError(f"layer {n}: requantization bounds [{q.lo}, {q.hi}] are not "
                             f"within the {cfg.value_width}-bit values the next layer takes")
        for what, values in (("A", A.data), ("constants", consts[n])):
            if len(values) and not cfg.value_min <= int(np.min(values)) <= int(
                    np.max(values)) <= cfg.value_max:
                raise ValueError(f"layer {n}: {what} are not {cfg.value_width}-bit values")
    return mats, consts


def _renumbered(cfg, n, A, remap, width, nconst):
    """``A`` with its first ``len(remap)`` columns moved to ``remap`` and its constants' columns
    to ``width ..``."""
    A = A.tocoo()
    ins = len(remap)
    cols = np.where(A.col < ins, remap[np.minimum(A.col, max(ins - 1, 0))] if ins else 0,
                    A.col - ins + width)
    out = scipy.sparse.csr_array((A.data, (A.row, cols)), shape=(A.shape[0], width + nconst))
    out.sort_indices()
    if max(out.shape[1], out.shape[0]) - 1 > cfg.coord_max:
        raise ValueError(f"layer {n}: {max(out.shape)} coordinates exceed coord_width "
                         f"{cfg.coord_width} bits")
    return out


def _slot_map(assigned, per, rows):
    """Row -> its slot (``lane * per + rank``)."""
    remap = np.empty(rows, dtype=np.int64)
    for lane, rs in enumerate(assigned):
        remap[rs] = lane * per + np.arange(len(rs))
    return remap


def _operands(cfg, rmap, mats, slots, owners):
    """Bus writes of every layer's rows into the operand banks, layer after layer at one
    address in every lane: ``(writes, [(A_POS, A_CRD)], words used)``."""
    writes, at, used, depth = [], [], 0, cfg.spm_depth
    for n, A in enumerate(mats):
        images = [csr_words(cfg, A, rows, pad_to=slots[n]) for rows in owners[n]]
        size = max(len(pos) + len(ent) for pos, ent in images)
        if used + size > depth:
            raise ValueError(f"layer {n}: its weights need {size} words of every operand bank "
                             f"but {depth - used} are left after layers 0..{n - 1} (banks of "
                             f"{depth} words, config {cfg.name}): {used + size - depth} short; "
                             "the whole network stays resident, so it must fit at once")
        for lane, (pos, ent) in enumerate(images):
            writes += _words(rmap, lane, used, pos + ent)
        at.append((used, used + slots[n] + 1))
        used += size
    return writes, at, used


def _tables(cfg, rmap, layers, mats, slots, owners):
    """Bus writes of the requantized layers' tables at the bottom of every vector bank (word
    ``k``: the row in slot ``k``, which the bus's result stage reads for the results of that
    row): ``(writes, base per layer, words used)``."""
    writes, tables, at = [], [], 0
    for n, L in enumerate(layers):
        q = L.requant
        if q is None:
            tables.append(None)
            continue
        tables.append(at)
        per_row = [_per_row(v, mats[n].shape[0], what, n)
                   for v, what in ((q.mult, "mult"), (q.shift, "shift"), (q.zero, "zero"))]
        words = []
        for rows in owners[n]:
            words += [pack_rq(cfg, int(per_row[0][r]), int(per_row[1][r]), int(per_row[2][r]))
                      for r in rows]
            words += [pack_rq(cfg, 0, 0, 0)] * (slots[n] - len(rows))
        writes += _words(rmap, 1, at, words, broadcast=True)
        at += len(words)
    return writes, tables, at


def _fields(cfg, L, slots, a_at, table):
    """Every lane's fields of a layer's jobs (B_POS and OUT_BASE are the program's)."""
    fields = [{"A_MODE": 0, "A_POS": a_at[0], "A_CRD": a_at[1], "A_ROWS": slots,
               "B_MODE": 0, "RELU": int(L.relu),
               "OUT_MODE": 0 if L.requant is None else BROADCAST | REQUANTIZE,
               "OUT_POS": 0 if L.requant is None else lane * slots}
              for lane in range(cfg.lanes)]
    if L.requant is not None:
        for f in fields:
            f.update({"RQ_TABLE": table, "RQ_LO": L.requant.lo & 0xFFFF,
                      "RQ_HI": L.requant.hi & 0xFFFF})
    return lane_setup(fields)


def _firmware(cfg, source, what):
    words = assemble(source, cfg.lanes)
    if len(words) > cfg.fw_depth:
        raise ValueError(f"{what}'s firmware of {len(words)} instructions exceeds fw_depth "
                         f"{cfg.fw_depth} (config {cfg.name})")
    return words


def _busiest(mats, slots, owners):
    """Per layer, the cycles of its busiest lane's stream (an empty row costs one)."""
    return [max(sum(max(int(k), 1) for k in np.diff(A.indptr)[rows]) + slots[n] - len(rows)
                for rows in owners[n]) for n, A in enumerate(mats)]


def _entries(cfg, values, first_crd=0):
    if len(values) and not cfg.value_min <= int(min(values)) <= int(max(values)) <= cfg.value_max:
        raise ValueError(f"inputs are not {cfg.value_width}-bit values")
    return [pack_entry(cfg, first_crd + r, int(v)) for r, v in enumerate(values)]


def _read_words(rmap, values, at):
    parts = rmap.spm_word_parts
    return unpack_entry(rmap.cfg, sum(values[at + p] << (32 * p) for p in range(parts)))[1]


def plan_chain(cfg, layers, batch: int | None = None) -> ChainPlan:
    """Plan ``layers`` (:class:`ChainLayer`) to run resident, in batches of up to ``batch``
    columns (default :data:`DEFAULT_BATCH`, fewer when the vector banks hold fewer).
    ``ValueError`` naming the layer (and, for a bank, the shortfall) when they do not fit the
    configuration."""
    if batch is not None and not (isinstance(batch, int) and 1 <= batch <= 0xFFFF):
        raise ValueError(f"batch must be an integer between 1 and 65535, not {batch!r}")
    mats, consts = _check(cfg, layers)
    lanes, depth = cfg.lanes, cfg.spm_depth
    rmap = RegisterMap(cfg)

    # Slots, and each layer's columns renumbered to the slots of the layer before.
    slots, owners, inputs = [], [], mats[0].shape[1] - len(consts[0])
    widths = [inputs]                  # inputs a column of each layer's region holds
    remap = np.arange(inputs)
    for n, A in enumerate(mats):
        mats[n] = _renumbered(cfg, n, A, remap, widths[n], len(consts[n]))
        per, assigned = _slots(np.diff(mats[n].indptr), lanes)
        slots.append(per)
        owners.append(assigned)
        remap = _slot_map(assigned, per, A.shape[0])
        widths.append(lanes * per)

    writes, a_at, used = _operands(cfg, rmap, mats, slots, owners)
    table_writes, tables, at = _tables(cfg, rmap, layers, mats, slots, owners)
    writes += table_writes
    # Vector banks: the tables, then the regions (sized for the largest batch that fits).
    strides = [widths[n] + len(consts[n]) for n in range(len(layers))]
    per_column = sum(strides) + slots[-1]
    max_batch = (depth - at) // per_column
    if max_batch < 1:
        raise ValueError(f"the chain's inputs, constants and results need {per_column} words of "
                         f"every vector bank per column, and its tables {at}: more than the "
                         f"{depth} a bank holds (config {cfg.name})")
    max_batch = min(max_batch, batch or DEFAULT_BATCH)
    regions = []
    for n in range(len(layers)):
        regions.append(at)
        at += max_batch * strides[n]
    out_at = at
    for n in range(len(layers)):
        for j in range(max_batch):       # the constants of every column, written once
            writes += _words(rmap, 1, regions[n] + j * strides[n] + widths[n],
                             _entries(cfg, consts[n], widths[n]), broadcast=True)

    def firmware_for(columns):
        blocks = []
        for n, L in enumerate(layers):
            last = n == len(layers) - 1
            blocks.append((PROGRAMS / "layer.s").read_text().format(
                n=n, rows=slots[n], setup="\n".join(_fields(cfg, L, slots[n], a_at[n],
                                                              tables[n])),
                b_base=regions[n], b_stride=strides[n], columns=columns,
                out_base=out_at if last else regions[n + 1],
                out_stride=slots[n] if last else strides[n + 1]))
        return _firmware(cfg, (PROGRAMS / "chain.s").read_text().format(
            layers="\n".join(blocks)), "the chain")

    def input_writes(a):
        a = np.asarray(a, dtype=np.int64)
        if a.ndim != 2 or a.shape[0] != inputs or not 1 <= a.shape[1] <= max_batch:
            raise ValueError(f"the chain takes {inputs} inputs x 1..{max_batch} columns, not "
                             f"an array of shape {a.shape}")
        out = []
        for j in range(a.shape[1]):
            out += _words(rmap, 1, regions[0] + j * strides[0], _entries(cfg, a[:, j]),
                          broadcast=True)
        return out

    parts = rmap.spm_word_parts
    placed = [(lane, t, r) for lane, rows in enumerate(owners[-1]) for t, r in enumerate(rows)]

    def reads_for(columns, counters=False):
        reads = [rmap.spm_addr(lanes + lane, out_at + j * slots[-1] + t, p)
                 for j in range(columns) for lane, t, _ in placed for p in range(parts)]
        return reads + (counter_reads(rmap) if counters else [])

    def decode(values, columns):
        result = np.zeros((mats[-1].shape[0], columns), dtype=np.int64)
        i = 0
        for j in range(columns):
            for _, _, r in placed:
                result[r, j] = _read_words(rmap, values, i)
                i += parts
        return result, decode_counters(rmap, values[i:]) if len(values) > i else []

    busiest = _busiest(mats, slots, owners)

    def timeout_for(columns):
        return 64 + 4 * columns * sum(b + JOB_CYCLES + lanes * s for b, s in zip(busiest, slots))

    return ChainPlan(cfg, layers, max_batch, writes, firmware_for, input_writes, reads_for,
                     decode, timeout_for, (PROGRAMS / "chain.s").read_text(),
                     {"slots": slots, "regions": regions, "tables": tables, "out": out_at,
                      "operand_words": used, "busiest": busiest})


@dataclass
class IterPlan:
    """What :func:`plan_iterate` gives: the load, and per run of ``iterations`` the program."""

    cfg: object
    layer: ChainLayer
    load_writes: list
    firmware_for: object               # iterations -> instruction words
    input_writes: object               # x -> bus writes (region 0)
    reads: list                        # both regions' real rows
    decode: object                     # reads -> (region 0's x, region 1's x)
    timeout_for: object                # iterations -> cycles
    work: dict = field(default_factory=dict)

    def program(self, x, iterations: int, load: bool = True) -> Program:
        """The program running ``iterations`` iterations from ``x`` (with the load first when
        ``load``): its decode gives ``(x after them, x one iteration before)``."""
        if not (isinstance(iterations, (int, np.integer)) and 1 <= iterations <= 2 * 0xFFFF + 1):
            raise ValueError(f"iterations must be between 1 and {2 * 0xFFFF + 1}, not "
                             f"{iterations!r}")
        rmap = RegisterMap(self.cfg)
        words = self.firmware_for(int(iterations))
        writes = (self.load_writes if load else []) + self.input_writes(x)
        writes += [(rmap.fw_base + i, w) for i, w in enumerate(words)]

        def decode(values):
            x0, x1 = self.decode(values)
            return ((x1, x0) if iterations % 2 else (x0, x1)), []
        return Program("iterate", writes, start_write(rmap), self.reads, decode, words,
                       (PROGRAMS / "iterate.s").read_text(), self.timeout_for(int(iterations)))


def plan_iterate(cfg, layer: ChainLayer) -> IterPlan:
    """Plan ``x <- requantize(A [x; consts])`` iterated on the chip (``layer.requant`` set,
    ``A`` square in its inputs): one SpMV a step, its results broadcast into the other of two
    regions of every vector bank. The rows and columns of ``A`` are renumbered alike (the
    output of a step is the input of the next)."""
    mats, consts = _check(cfg, [layer], loop=True)
    lanes, depth = cfg.lanes, cfg.spm_depth
    rmap = RegisterMap(cfg)
    rows = mats[0].shape[0]
    per, assigned = _slots(np.diff(mats[0].indptr), lanes)
    remap = _slot_map(assigned, per, rows)
    width, nconst = lanes * per, len(consts[0])
    A = _renumbered(cfg, 0, mats[0], remap, width, nconst)
    # Rows stay in the lanes' slots: renumbering the columns does not change a row's cost.
    writes, a_at, used = _operands(cfg, rmap, [A], [per], [assigned])
    table_writes, tables, at = _tables(cfg, rmap, [layer], [A], [per], [assigned])
    writes += table_writes
    stride = width + nconst
    if at + 2 * stride > depth:
        raise ValueError(f"the iteration's two regions of {stride} words and its table of {at} "
                         f"need {at + 2 * stride} words of every vector bank, more than the "
                         f"{depth} a bank holds (config {cfg.name})")
    x0, x1 = at, at + stride
    for base in (x0, x1):
        writes += _words(rmap, 1, base + width, _entries(cfg, consts[0], width), broadcast=True)
    setup = "\n".join(_fields(cfg, layer, per, a_at[0], tables[0]))

    def firmware_for(iterations):
        steps = []
        if iterations % 2:
            steps.append((PROGRAMS / "step.s").read_text().format(a=x0, b=x1))
        if iterations // 2:
            a, b = (x1, x0) if iterations % 2 else (x0, x1)
            steps.append((PROGRAMS / "pair.s").read_text().format(count=iterations // 2,
                                                                   a=a, b=b))
        return _firmware(cfg, (PROGRAMS / "iterate.s").read_text().format(
            iterations=iterations, setup=setup, steps="\n".join(steps)), "the iteration")

    def input_writes(x):
        x = np.asarray(x, dtype=np.int64).reshape(-1)
        if len(x) != rows:
            raise ValueError(f"the iteration takes {rows} values, not {len(x)}")
        entries = _entries(cfg, x)
        out = []
        for r in range(rows):
            out += _words(rmap, 1, x0 + int(remap[r]), [entries[r]], broadcast=True)
        return out

    parts = rmap.spm_word_parts
    reads = [rmap.spm_addr(lanes, base + int(remap[r]), p)
             for base in (x0, x1) for r in range(rows) for p in range(parts)]

    def decode(values):
        got = [_read_words(rmap, values, i * parts) for i in range(2 * rows)]
        return np.array(got[:rows], dtype=np.int64), np.array(got[rows:], dtype=np.int64)

    busiest = _busiest([A], [per], [assigned])[0]

    def timeout_for(iterations):
        return 64 + 4 * iterations * (busiest + JOB_CYCLES + lanes * per)

    return IterPlan(cfg, layer, writes, firmware_for, input_writes, reads, decode, timeout_for,
                    {"slots": per, "regions": (x0, x1), "operand_words": used})


def golden_iterate(layer, x, iterations, sem):
    """THE iteration on the golden model: ``(x after iterations, x one before, overflows)``."""
    x = np.asarray(x, dtype=np.int64).reshape(-1, 1)
    prev, overflows = x, 0
    for _ in range(iterations):
        prev = x
        x, o = golden_chain([layer], x, sem)
        overflows += o
    return x[:, 0], prev[:, 0], overflows
