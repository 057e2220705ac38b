"""Memory-side streaming: fiber scanners, the gather locator and the output writers.

Every scanner emits the shared token stream (:mod:`zerohero.hw.protocol`) from the scratchpad
(:mod:`zerohero.hw.memory`): rows are level-0 fibers, the last row's stop carries ``level``
(1 for a matrix), then DONE. A job's parameters are sampled on the ``start`` pulse; ``busy`` is
high until DONE has been handed to the output FIFO.

Each cycle a scanner issues at most one token: one that needs a read (its entry or value) or
one that does not (an empty fiber's stop, DONE). Issued tokens meet their read data one
cycle later (the scratchpad's registered read) and enter a 4-deep output FIFO; a token is only
issued when the FIFO has room for it, so backpressure never drops read data. Latency from
``start`` to the first token: 4 cycles (compressed), 3 (dense).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .memory import EntryLayout, ReadPortSignature, WritePortSignature
from .protocol import TokenLayout, token_stream

__all__ = ["CompressedScanner", "DenseScanner", "Locator", "DenseWriter", "CompressedWriter"]

FIFO_DEPTH = 4


class _Issue:
    """The issue stage shared by the scanners: ``s1`` aligns an issued token with its read
    data and pushes it into the output FIFO. ``mem_crd``/``mem_val`` say which fields come
    from the entry read one cycle earlier."""

    def __init__(self, m, cfg, rd, out, operands=1):
        self.cfg = cfg
        layout = TokenLayout(cfg, operands)
        fifo = m.submodules.out_fifo = SyncFIFO(width=layout.size, depth=FIFO_DEPTH)
        self.s1 = Signal(layout)
        self.s1_valid = Signal()
        self.s1_mem_crd = Signal()
        self.s1_mem_val = Signal()
        self.rd = rd
        entry = data.View(EntryLayout(cfg), rd.data)
        token = Signal(layout)
        m.d.comb += token.eq(self.s1)
        with m.If(self.s1_mem_crd):
            m.d.comb += token.crd.eq(entry.crd)
        with m.If(self.s1_mem_val):
            m.d.comb += token.val[operands - 1].eq(entry.val[:cfg.value_width])
        m.d.comb += [
            fifo.w_en.eq(self.s1_valid),
            fifo.w_data.eq(token),
            out.valid.eq(fifo.r_rdy),
            out.payload.eq(fifo.r_data),
            fifo.r_en.eq(out.ready),
        ]
        # Room for a new token: the FIFO must hold it and the one already in s1.
        self.room = Signal()
        m.d.comb += self.room.eq(fifo.level + self.s1_valid < FIFO_DEPTH)
        m.d.sync += self.s1_valid.eq(0)
        self.m = m

    def issue(self, read_addr=None, mem_crd=False, mem_val=False, **fields):
        """Statements issuing one token this cycle (call inside the block that decides)."""
        m = self.m
        stmts = [self.s1_valid.eq(1), self.s1.eq(0), self.s1_mem_crd.eq(mem_crd),
                 self.s1_mem_val.eq(mem_val)]
        for name, value in fields.items():
            if name == "val":
                stmts += [self.s1.val[i].eq(v) for i, v in enumerate(value)]
            else:
                stmts.append(getattr(self.s1, name).eq(value))
        m.d.sync += stmts
        if read_addr is not None:
            m.d.comb += [self.rd.en.eq(1), self.rd.addr.eq(read_addr)]


def _job_ports(cfg, **extra):
    addr = cfg.spm_addr_width
    ports = {"start": In(1), "busy": Out(1), "level": In(cfg.level_width)}
    ports.update({name: In(unsigned(addr + 1) if name in ("rows", "cols") else addr)
                  for name in extra})
    return ports


class CompressedScanner(wiring.Component):
    """Scans a compressed level: rows ``0..rows-1`` of a CSR operand.

    ``pos`` (``rows + 1`` pointers at ``pos_base``) is read on ``pos_rd``; entries (packed
    ``(crd, val)`` words at ``crd_base + pos[r] ..``) on ``crd_rd``. Fiber bounds are
    prefetched into a 4-deep queue while the current row streams, so back-to-back rows cost no
    bubble: one nonzero per cycle whatever the row lengths, and an empty row costs one cycle
    (its stop token).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            **_job_ports(cfg, pos_base=1, crd_base=1, rows=1),
            "pos_rd": Out(ReadPortSignature(cfg)),
            "crd_rd": Out(ReadPortSignature(cfg)),
            "out": Out(token_stream(cfg, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        aw = cfg.spm_addr_width
        issue = _Issue(m, cfg, self.crd_rd, self.out)

        pos_base, crd_base = Signal(aw), Signal(aw)
        rows, level = Signal(aw + 1), Signal(cfg.level_width)

        # Bounds prefetch: read pos[0..rows], queue (start, end, last) per row.
        bounds = m.submodules.bounds = SyncFIFO(width=2 * (aw + 1) + 1, depth=4)
        p_next = Signal(aw + 1)             # next pos index to read
        p_inflight = Signal()
        p_prev = Signal(aw + 1)             # pos[i - 1], the start of the row pos[i] ends
        p_have_prev = Signal()
        p_active = Signal()
        with m.If(p_active & (p_next <= rows) & (bounds.level + p_inflight < 4)):
            m.d.comb += [self.pos_rd.en.eq(1), self.pos_rd.addr.eq(pos_base + p_next)]
            m.d.sync += [p_next.eq(p_next + 1), p_inflight.eq(1)]
        with m.Else():
            m.d.sync += p_inflight.eq(0)
        with m.If(p_inflight):
            value = self.pos_rd.data[:aw + 1]
            m.d.sync += [p_prev.eq(value), p_have_prev.eq(1)]
            with m.If(p_have_prev):
                m.d.comb += [bounds.w_en.eq(1),
                             bounds.w_data.eq(Cat(p_prev, value, p_next == rows + 1))]

        # Row streamer.
        cur_valid = Signal()
        cur_addr, cur_end = Signal(aw + 1), Signal(aw + 1)
        cur_last = Signal()
        finished = Signal()         # every row issued; DONE next
        empty = Signal()            # a job of no rows: one empty fiber, then DONE
        q_start = bounds.r_data[:aw + 1]
        q_end = bounds.r_data[aw + 1:2 * aw + 2]
        q_last = bounds.r_data[-1]

        with m.If(self.start & ~self.busy):
            m.d.sync += [
                pos_base.eq(self.pos_base), crd_base.eq(self.crd_base), rows.eq(self.rows),
                level.eq(self.level), self.busy.eq(1), p_active.eq(self.rows != 0),
                p_next.eq(0), p_have_prev.eq(0), cur_valid.eq(0), finished.eq(0),
                empty.eq(self.rows == 0),
            ]
        with m.Elif(self.busy & issue.room):
            with m.If(empty):               # an empty operand: one empty fiber at `level`
                issue.issue(stop=1, lvl=level)
                m.d.sync += [empty.eq(0), finished.eq(1)]
            with m.Elif(cur_valid):
                row_end = Signal()
                with m.If(cur_addr == cur_end):         # empty row: its own stop token
                    issue.issue(stop=1, lvl=Mux(cur_last, level, 0))
                    m.d.comb += row_end.eq(1)
                with m.Else():
                    is_last = cur_addr + 1 == cur_end
                    issue.issue(read_addr=crd_base + cur_addr, mem_crd=True, mem_val=True,
                                data=1, has=1, stop=is_last, lvl=Mux(is_last & cur_last, level, 0))
                    m.d.sync += cur_addr.eq(cur_addr + 1)
                    m.d.comb += row_end.eq(is_last)
                with m.If(row_end):
                    # Next row from the queue in the same cycle: no bubble between rows.
                    m.d.comb += bounds.r_en.eq(bounds.r_rdy & ~cur_last)
                    m.d.sync += [cur_valid.eq(bounds.r_rdy & ~cur_last),
                                 cur_addr.eq(q_start), cur_end.eq(q_end), cur_last.eq(q_last),
                                 finished.eq(cur_last)]
            with m.Elif(finished):
                issue.issue(done=1)
                m.d.sync += [self.busy.eq(0), finished.eq(0), p_active.eq(0)]
            with m.Elif(bounds.r_rdy):
                m.d.comb += bounds.r_en.eq(1)
                m.d.sync += [cur_valid.eq(1), cur_addr.eq(q_start), cur_end.eq(q_end),
                             cur_last.eq(q_last)]
        return m


class DenseScanner(wiring.Component):
    """Scans a dense level: ``rows`` fibers of ``cols`` coordinates each; the value of
    ``(r, c)`` is the entry at ``base + r * stride + c``. Every coordinate is emitted, zero or
    not: the PE detects zero operands and does not issue them. One token per cycle."""

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            **_job_ports(cfg, base=1, stride=1, rows=1, cols=1),
            "rd": Out(ReadPortSignature(cfg)),
            "out": Out(token_stream(cfg, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        aw = cfg.spm_addr_width
        issue = _Issue(m, cfg, self.rd, self.out)
        base, stride, level = Signal(aw), Signal(aw), Signal(cfg.level_width)
        rows, cols = Signal(aw + 1), Signal(aw + 1)
        r, c = Signal(aw + 1), Signal(aw + 1)
        row_addr = Signal(aw)
        finished, empty = Signal(), Signal()
        with m.If(self.start & ~self.busy):
            m.d.sync += [base.eq(self.base), stride.eq(self.stride), rows.eq(self.rows),
                         cols.eq(self.cols), level.eq(self.level), r.eq(0), c.eq(0),
                         row_addr.eq(self.base), self.busy.eq(1), finished.eq(0),
                         empty.eq(self.rows == 0)]
        with m.Elif(self.busy & issue.room):
            last_row = r + 1 == rows
            with m.If(empty):
                issue.issue(stop=1, lvl=level)
                m.d.sync += [empty.eq(0), finished.eq(1)]
            with m.Elif(finished):
                issue.issue(done=1)
                m.d.sync += [self.busy.eq(0), finished.eq(0)]
            with m.Elif(cols == 0):
                issue.issue(stop=1, lvl=Mux(last_row, level, 0))
                m.d.sync += [r.eq(r + 1), finished.eq(last_row)]
            with m.Else():
                last_col = c + 1 == cols
                issue.issue(read_addr=row_addr + c, mem_val=True, crd=c, data=1, has=1,
                            stop=last_col, lvl=Mux(last_col & last_row, level, 0))
                m.d.sync += c.eq(c + 1)
                with m.If(last_col):
                    m.d.sync += [c.eq(0), r.eq(r + 1), row_addr.eq(row_addr + stride),
                                 finished.eq(last_row)]
        return m


class Locator(wiring.Component):
    """Gathers a dense vector by coordinate: each data token ``(crd, a)`` on ``inp`` leaves on
    ``out`` as the pair ``(crd, a, x[crd])`` with ``x[crd]`` the entry at ``base + crd`` (read on
    ``rd``, a vector bank); stop and DONE tokens pass through. One token per cycle, 2 cycles of
    latency. ``base`` is sampled while the stream runs, so it must be stable for a job."""

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "base": In(cfg.spm_addr_width),
            "inp": In(token_stream(cfg, 1)),
            "rd": Out(ReadPortSignature(cfg)),
            "out": Out(token_stream(cfg, 2)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        issue = _Issue(m, cfg, self.rd, self.out, operands=2)
        tok = self.inp.p
        m.d.comb += self.inp.ready.eq(issue.room)
        with m.If(self.inp.valid & issue.room):
            issue.issue(read_addr=Mux(tok.data, self.base + tok.crd, 0), mem_val=tok.data,
                        crd=tok.crd, val=[tok.val[0], 0], has=Mux(tok.data, 0b11, 0),
                        data=tok.data, stop=tok.stop, lvl=tok.lvl, done=tok.done)
        return m


class DenseWriter(wiring.Component):
    """Writes each data token's value (as an entry with its ``crd``) to ``base + n`` for the
    n-th data token of the job, one per cycle (always ready). ``count`` is the number written;
    ``busy`` falls when DONE arrives."""

    def __init__(self, cfg, value_width=None):
        self.cfg = cfg
        self.value_width = cfg.acc_width if value_width is None else value_width
        super().__init__({
            "start": In(1), "busy": Out(1), "base": In(cfg.spm_addr_width),
            "inp": In(token_stream(cfg, 1, value_width=self.value_width)),
            "wr": Out(WritePortSignature(cfg)),
            "count": Out(cfg.spm_addr_width + 1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        base = Signal(cfg.spm_addr_width)
        tok = self.inp.p
        m.d.comb += self.inp.ready.eq(self.busy)
        with m.If(self.start):
            m.d.sync += [base.eq(self.base), self.count.eq(0), self.busy.eq(1)]
        with m.Elif(self.inp.valid & self.inp.ready):
            with m.If(tok.data):
                m.d.comb += [self.wr.en.eq(1), self.wr.addr.eq(base + self.count),
                             self.wr.data.eq(_entry(m, cfg, tok.crd, tok.val[0]))]
                m.d.sync += self.count.eq(self.count + 1)
            with m.If(tok.done):
                m.d.sync += self.busy.eq(0)
        return m


def _entry(m, cfg, crd, val):
    """The packed scratchpad entry of ``(crd, val)`` (``val`` sign-extended)."""
    entry = Signal(EntryLayout(cfg))
    m.d.comb += [entry.crd.eq(crd), entry.val.eq(val)]
    return entry.as_value()


class CompressedWriter(wiring.Component):
    """Writes a token stream as a compressed level: entries ``(crd, val)`` to ``crd_base + k``
    on ``entry_wr`` and pointers ``pos[0..rows]`` to ``pos_base`` on ``pos_wr`` (a different
    bank, so a row end never costs a cycle). Tokens whose value is zero are dropped when
    ``drop_zeros`` is set (a fiber whose values all cancel becomes an empty row); every stop,
    at any level, ends a row. Ready from the cycle after ``start`` until DONE. ``rows`` and ``nnz`` count what was written."""

    def __init__(self, cfg, value_width=None):
        self.cfg = cfg
        self.value_width = cfg.acc_width if value_width is None else value_width
        aw = cfg.spm_addr_width
        super().__init__({
            "start": In(1), "busy": Out(1), "drop_zeros": In(1),
            "pos_base": In(aw), "crd_base": In(aw),
            "inp": In(token_stream(cfg, 1, value_width=self.value_width)),
            "entry_wr": Out(WritePortSignature(cfg)),
            "pos_wr": Out(WritePortSignature(cfg)),
            "rows": Out(aw + 1),
            "nnz": Out(aw + 1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        aw = cfg.spm_addr_width
        pos_base, crd_base, drop = Signal(aw), Signal(aw), Signal()
        tok = self.inp.p
        m.d.comb += self.inp.ready.eq(self.busy)
        keep = tok.data & ~(drop & (tok.val[0] == 0))
        nnz_after = self.nnz + keep
        with m.If(self.start):
            m.d.sync += [pos_base.eq(self.pos_base), crd_base.eq(self.crd_base),
                         drop.eq(self.drop_zeros), self.rows.eq(0), self.nnz.eq(0),
                         self.busy.eq(1)]
            m.d.comb += [self.pos_wr.en.eq(1), self.pos_wr.addr.eq(self.pos_base),
                         self.pos_wr.data.eq(0)]
        with m.Elif(self.inp.valid & self.inp.ready):
            with m.If(keep):
                m.d.comb += [self.entry_wr.en.eq(1), self.entry_wr.addr.eq(crd_base + self.nnz),
                             self.entry_wr.data.eq(_entry(m, cfg, tok.crd, tok.val[0]))]
            m.d.sync += self.nnz.eq(nnz_after)
            with m.If(tok.stop):
                m.d.comb += [self.pos_wr.en.eq(1),
                             self.pos_wr.addr.eq(pos_base + self.rows + 1),
                             self.pos_wr.data.eq(nnz_after)]
                m.d.sync += self.rows.eq(self.rows + 1)
            with m.If(tok.done):
                m.d.sync += self.busy.eq(0)
        return m
