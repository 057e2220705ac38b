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

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .memory import EntryLayout, ReadPortSignature, WritePortSignature
from zerohero.spec.memory import BITMAP_BITS

from .protocol import TokenLayout, token_stream

__all__ = ["CompressedScanner", "DenseScanner", "BitmapScanner", "Locator", "DenseWriter",
           "CompressedWriter"]

FIFO_DEPTH = 4


class _Issue:
    """The issue stage shared by the scanners: ``s1`` aligns an issued token with its read
    data and pushes it into the output FIFO. ``mem_crd``/``mem_val`` say which fields come
    from the entry read one cycle earlier.

    With ``pending``, a data token waits in a pending register until the next token shows
    whether it ends its fiber; a ``close`` token (``stop``/``lvl`` set) then puts the stop on
    the pending token, or becomes a stop token of its own when nothing is pending (an empty
    fiber). Tokens issued with ``stop`` set are final at once.
    """

    def __init__(self, m, cfg, rd, out, operands=1, pending=False, fifo_type=SyncFIFO):
        self.cfg = cfg
        layout = TokenLayout(cfg, operands)
        fifo = m.submodules.out_fifo = fifo_type(width=layout.size, depth=FIFO_DEPTH)
        self.fifo = fifo
        self.s1 = Signal(layout)
        self.s1_valid = Signal()
        self.s1_mem_crd = Signal()
        self.s1_mem_val = Signal()
        self.s1_close = Signal()
        self.rd = rd
        entry = data.View(EntryLayout(cfg), rd.data[:EntryLayout(cfg).size])
        token = Signal(layout)
        m.d.comb += token.eq(self.s1)
        with m.If(self.s1_mem_crd):
            m.d.comb += token.crd.eq(entry.crd)
        with m.If(self.s1_mem_val):
            m.d.comb += token.val[operands - 1].eq(entry.val[:cfg.value_width])
        m.d.comb += [
            out.valid.eq(fifo.r_rdy),
            out.payload.eq(fifo.r_data),
            fifo.r_en.eq(out.ready),
        ]
        held = 0
        if not pending:
            m.d.comb += [fifo.w_en.eq(self.s1_valid), fifo.w_data.eq(token)]
        else:
            pend = Signal(layout)
            pend_valid, pend_final = Signal(), Signal()
            held = pend_valid
            push = Signal()
            m.d.comb += fifo.w_data.eq(pend)
            with m.If(self.s1_valid & self.s1_close):
                with m.If(pend_valid & ~pend_final):
                    m.d.sync += [pend.stop.eq(1), pend.lvl.eq(token.lvl), pend_final.eq(1)]
                with m.Else():
                    m.d.comb += push.eq(pend_valid)
                    m.d.sync += [pend.eq(token), pend_valid.eq(1), pend_final.eq(1)]
            with m.Elif(self.s1_valid):
                m.d.comb += push.eq(pend_valid)
                m.d.sync += [pend.eq(token), pend_valid.eq(1),
                             pend_final.eq(token.stop | token.done)]
            with m.Elif(pend_valid & pend_final):
                m.d.comb += push.eq(1)
                m.d.sync += pend_valid.eq(0)
            m.d.comb += fifo.w_en.eq(push)
        # Room for a new token: the FIFO must hold it and every token ahead of it.
        self.room = Signal()
        m.d.comb += self.room.eq(fifo.level + self.s1_valid + held < FIFO_DEPTH)
        m.d.sync += self.s1_valid.eq(0)
        self.m = m

    def address(self, addr):
        """The read port's address, every cycle (``issue(read=True)`` sets ``en``): addresses
        and write data wait for nothing, so the decision to issue only reaches a bank's enable,
        not its address pins (the ECP5 critical paths into the block RAMs otherwise)."""
        self.m.d.comb += self.rd.addr.eq(addr)

    def issue(self, read=False, mem_crd=False, mem_val=False, close=False, **fields):
        """Statements issuing one token this cycle (call inside the block that decides); with
        ``read``, the token reads the entry at :meth:`address`."""
        m = self.m
        stmts = [self.s1_valid.eq(1), self.s1.eq(0), self.s1_mem_crd.eq(mem_crd),
                 self.s1_mem_val.eq(mem_val), self.s1_close.eq(close)]
        for name, value in fields.items():
            if name == "val":
                stmts += [self.s1.val[i].eq(v) for i, v in enumerate(value)]
            else:
                stmts.append(getattr(self.s1, name).eq(value))
        m.d.sync += stmts
        if read:
            m.d.comb += self.rd.en.eq(1)


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
    (its stop token). With ``repeat``, the one fiber ``pos[0]..pos[1]`` is streamed ``rows``
    times (a vector met by every row of a matrix).
    """

    #: The class of both queues (the output FIFO and the bounds queue); the formal harness
    #: substitutes a subclass that also shows the queued words.
    fifo_type = SyncFIFO

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            **_job_ports(cfg, pos_base=1, crd_base=1, rows=1),
            "repeat": In(1),
            "pos_rd": Out(ReadPortSignature(cfg)),
            "crd_rd": Out(ReadPortSignature(cfg)),
            "out": Out(token_stream(cfg, 1)),
        })

    def _ends_row(self, addr, end):
        """The entry at ``addr`` is the last of a row that ends before ``end``."""
        return addr + 1 == end

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        aw = cfg.spm_addr_width
        issue = _Issue(m, cfg, self.crd_rd, self.out, fifo_type=self.fifo_type)

        pos_base, crd_base = Signal(aw), Signal(aw)
        rows, level = Signal(aw + 1), Signal(cfg.level_width)

        # Bounds prefetch: read pos[0..rows], queue (start, end, last) per row.
        bounds = m.submodules.bounds = self.fifo_type(width=2 * (aw + 1) + 1, depth=4)
        p_next = Signal(aw + 2)             # next pos index to read: 0..rows + 1
        p_inflight = Signal()
        p_prev = Signal(aw + 1)             # pos[i - 1], the start of the row pos[i] ends
        p_end = Signal(aw + 1)              # repeat: pos[1]
        p_have_prev = Signal()
        p_active = Signal()
        repeat = Signal()
        rep_ready, rep_count = Signal(), Signal(aw + 1)
        p_limit = Mux(repeat, 1, rows)
        m.d.comb += self.pos_rd.addr.eq(pos_base + p_next)     # (_Issue.address says why)
        with m.If(p_active & (p_next <= p_limit) & (bounds.level + p_inflight < 4)):
            m.d.comb += self.pos_rd.en.eq(1)
            m.d.sync += [p_next.eq(p_next + 1), p_inflight.eq(1)]
        with m.Else():
            m.d.sync += p_inflight.eq(0)
        with m.If(p_inflight):
            value = self.pos_rd.data[:aw + 1]
            with m.If(~(repeat & p_have_prev)):
                m.d.sync += [p_prev.eq(value), p_have_prev.eq(1)]
            with m.If(p_have_prev & ~repeat):
                m.d.comb += [bounds.w_en.eq(1),
                             bounds.w_data.eq(Cat(p_prev, value, p_next == rows + 1))]
            with m.If(p_have_prev & repeat):
                m.d.sync += [p_end.eq(value), rep_ready.eq(1)]
        # Repeat: the same bounds, once per row.
        with m.If(rep_ready & (rep_count < rows) & bounds.w_rdy):
            m.d.comb += [bounds.w_en.eq(1),
                         bounds.w_data.eq(Cat(p_prev, p_end, rep_count + 1 == rows))]
            m.d.sync += rep_count.eq(rep_count + 1)

        # Row streamer.
        cur_valid = Signal()
        cur_addr, cur_end = Signal(aw + 1), Signal(aw + 1)
        cur_last = Signal()
        finished = Signal()         # every row issued; DONE next
        empty = Signal()            # a job of no rows: one empty fiber, then DONE
        q_start = bounds.r_data[:aw + 1]
        q_end = bounds.r_data[aw + 1:2 * aw + 2]
        q_last = bounds.r_data[-1]
        issue.address(crd_base + cur_addr)
        # What the formal harness relates to the job's stream: the issue stage, the bounds
        # queue, and the job, prefetch and row-streamer registers.
        self.issue, self.bounds = issue, bounds
        self.state = SimpleNamespace(
            pos_base=pos_base, crd_base=crd_base, rows=rows, level=level, repeat=repeat,
            p_next=p_next, p_inflight=p_inflight, p_prev=p_prev, p_end=p_end,
            p_have_prev=p_have_prev, p_active=p_active, rep_ready=rep_ready,
            rep_count=rep_count, cur_valid=cur_valid, cur_addr=cur_addr, cur_end=cur_end,
            cur_last=cur_last, finished=finished, empty=empty)

        with m.If(self.start & ~self.busy):
            m.d.sync += [
                pos_base.eq(self.pos_base), crd_base.eq(self.crd_base), rows.eq(self.rows),
                level.eq(self.level), self.busy.eq(1), p_active.eq(self.rows != 0),
                p_next.eq(0), p_have_prev.eq(0), cur_valid.eq(0), finished.eq(0),
                empty.eq(self.rows == 0), repeat.eq(self.repeat), rep_ready.eq(0),
                rep_count.eq(0),
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
                    is_last = self._ends_row(cur_addr, cur_end)
                    issue.issue(read=True, mem_crd=True, mem_val=True,
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
        issue.address(row_addr + c)
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
                issue.issue(read=True, mem_val=True, crd=c, data=1, has=1,
                            stop=last_col, lvl=Mux(last_col & last_row, level, 0))
                m.d.sync += c.eq(c + 1)
                with m.If(last_col):
                    m.d.sync += [c.eq(0), r.eq(r + 1), row_addr.eq(row_addr + stride),
                                 finished.eq(last_row)]
        return m


class BitmapScanner(wiring.Component):
    """Scans a bitmap level: ``rows`` fibers of ``cols`` coordinates; row ``r``'s presence bits
    are the ``ceil(cols / 32)`` words at ``bitmap_base + r * ceil(cols / 32)`` (bit ``b`` of
    word ``w`` is coordinate ``32 w + b``), and the values of the set bits follow each other,
    row after row, as entries at ``val_base``.

    One set bit leaves per cycle; an all-zero word costs a cycle. The stop rides on the last
    set bit of a row; when the row's last word is not the one holding it, the token is held in
    a pending register until the row end is seen, so only an empty row gets a stop token of
    its own. Bitmap words are prefetched (port ``bits_rd``) while values stream (``val_rd``).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            **_job_ports(cfg, bitmap_base=1, val_base=1, rows=1, cols=1),
            "bits_rd": Out(ReadPortSignature(cfg)),
            "val_rd": Out(ReadPortSignature(cfg)),
            "out": Out(token_stream(cfg, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        aw, B = cfg.spm_addr_width, BITMAP_BITS
        lb = (B - 1).bit_length()
        issue = _Issue(m, cfg, self.val_rd, self.out, pending=True)
        bitmap_base, val_base = Signal(aw), Signal(aw)
        rows, cols, level = Signal(aw + 1), Signal(aw + 1), Signal(cfg.level_width)
        wpr = Signal(aw + 1)                    # words per row

        # Word prefetch: (bits, last word of its row, last row) into a 2-deep queue. A row of
        # no columns is one zero "word" needing no read.
        words = m.submodules.words = SyncFIFO(width=B + 2, depth=2)
        f_row, f_word = Signal(aw + 1), Signal(aw + 1)
        f_addr = Signal(aw)
        f_active = Signal()
        f_inflight = Signal()
        f_meta = Signal(2)                      # (last word, last row) of the word in flight
        f_nocols = Signal()
        m.d.comb += self.bits_rd.addr.eq(f_addr)                # (_Issue.address says why)
        with m.If(f_active & (words.level + f_inflight < 2)):
            last_word = (f_word + 1 >= wpr)
            last_row = f_row + 1 == rows
            m.d.sync += [f_inflight.eq(1), f_meta.eq(Cat(last_word, last_row)),
                         f_nocols.eq(wpr == 0)]
            m.d.comb += self.bits_rd.en.eq(wpr != 0)
            m.d.sync += f_addr.eq(f_addr + (wpr != 0))
            with m.If(last_word):
                m.d.sync += [f_word.eq(0), f_row.eq(f_row + 1), f_active.eq(~last_row)]
            with m.Else():
                m.d.sync += f_word.eq(f_word + 1)
        with m.Else():
            m.d.sync += f_inflight.eq(0)
        with m.If(f_inflight):
            m.d.comb += [words.w_en.eq(1),
                         words.w_data.eq(Cat(Mux(f_nocols, 0, self.bits_rd.data[:B]), f_meta))]

        # Bit scanner.
        cur = Signal(B)
        cur_base = Signal(aw + 1)               # coordinate of bit 0 of the current word
        cur_last_word, cur_last_row, cur_valid = Signal(), Signal(), Signal()
        k = Signal(aw)                          # next value address
        finished, empty = Signal(), Signal()
        low = Signal(range(B))                  # lowest set bit of cur
        for b in reversed(range(B)):
            with m.If(cur[b]):
                m.d.comb += low.eq(b)
        rest = cur & (cur - 1)

        def pop():
            m.d.comb += words.r_en.eq(words.r_rdy)
            m.d.sync += cur_valid.eq(words.r_rdy)
            with m.If(words.r_rdy):
                m.d.sync += [cur.eq(words.r_data[:B]), cur_last_word.eq(words.r_data[B]),
                             cur_last_row.eq(words.r_data[B + 1]),
                             cur_base.eq(Mux(cur_last_word, 0, cur_base + B))]

        issue.address(k)
        with m.If(self.start & ~self.busy):
            m.d.sync += [
                bitmap_base.eq(self.bitmap_base), val_base.eq(self.val_base), rows.eq(self.rows),
                cols.eq(self.cols), level.eq(self.level), wpr.eq((self.cols + B - 1) >> lb),
                self.busy.eq(1), f_active.eq(self.rows != 0), f_row.eq(0), f_word.eq(0),
                f_addr.eq(self.bitmap_base), k.eq(self.val_base), cur_valid.eq(0),
                cur_last_word.eq(1), cur_base.eq(0), finished.eq(0),
                empty.eq(self.rows == 0),
            ]
        with m.Elif(self.busy & issue.room):
            lvl = Mux(cur_last_row, level, 0)
            with m.If(empty):
                issue.issue(stop=1, lvl=level, close=1)
                m.d.sync += [empty.eq(0), finished.eq(1)]
            with m.Elif(finished):
                issue.issue(done=1)
                m.d.sync += [self.busy.eq(0), finished.eq(0), f_active.eq(0)]
            with m.Elif(cur_valid & (cur != 0)):
                known_last = (rest == 0) & cur_last_word
                issue.issue(read=True, mem_val=True, crd=cur_base + low, data=1, has=1,
                            stop=known_last, lvl=Mux(known_last, lvl, 0))
                m.d.sync += [k.eq(k + 1), cur.eq(rest)]
                with m.If(rest == 0):
                    with m.If(cur_last_word & cur_last_row):
                        m.d.sync += [cur_valid.eq(0), finished.eq(1)]
                    with m.Else():
                        pop()
            with m.Elif(cur_valid):             # an exhausted or all-zero word
                with m.If(cur_last_word):       # the row ends: close it
                    issue.issue(stop=1, lvl=lvl, close=1)
                with m.If(cur_last_word & cur_last_row):
                    m.d.sync += [cur_valid.eq(0), finished.eq(1)]
                with m.Else():
                    pop()
            with m.Else():
                pop()
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
        issue.address(self.base + tok.crd)
        with m.If(self.inp.valid & issue.room):
            issue.issue(read=True, mem_val=tok.data,
                        crd=tok.crd, val=[tok.val[0], 0], has=Mux(tok.data, 0b11, 0),
                        data=tok.data, stop=tok.stop, lvl=tok.lvl, done=tok.done)
        return m


class DenseWriter(wiring.Component):
    """Writes each data token's value (as an entry with its ``crd``) to ``base + n`` for the
    n-th data token of the job, one per cycle (always ready). ``count`` is the number written;
    ``busy`` falls when DONE arrives.

    ``arbitrated``: the writes wait for ``wr_ready`` (an arbiter's grant). ``wr.en`` asks for
    the write of the token offered without waiting for ``wr_ready``, which may depend on it;
    the write and the token are taken in a cycle with both."""

    def __init__(self, cfg, value_width=None, arbitrated=False):
        self.cfg = cfg
        self.value_width = cfg.acc_width if value_width is None else value_width
        self.arbitrated = arbitrated
        super().__init__({
            "start": In(1), "busy": Out(1), "base": In(cfg.spm_addr_width),
            "inp": In(token_stream(cfg, 1, value_width=self.value_width)),
            "wr": Out(WritePortSignature(cfg)),
            "count": Out(cfg.spm_addr_width + 1),
            **({"wr_ready": In(1)} if arbitrated else {}),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        base = Signal(cfg.spm_addr_width)
        tok = self.inp.p
        granted = self.wr_ready if self.arbitrated else 1
        m.d.comb += self.inp.ready.eq(self.busy & (granted | ~tok.data))
        # Address and data every cycle, only the enable decided (as _Issue.address).
        m.d.comb += [self.wr.addr.eq(base + self.count),
                     self.wr.data.eq(_entry(m, cfg, tok.crd, tok.val[0]))]
        with m.If(self.start):
            m.d.sync += [base.eq(self.base), self.count.eq(0), self.busy.eq(1)]
        with m.Else():
            m.d.comb += self.wr.en.eq(self.busy & self.inp.valid & tok.data)
            with m.If(self.inp.valid & self.inp.ready):
                with m.If(tok.data):
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
    at any level, ends a row. Ready from the cycle after ``start`` until DONE. ``rows`` and
    ``nnz`` count what was written.
    With ``append`` set at ``start``, the job continues the previous one: ``rows`` and ``nnz``
    are kept and ``pos[0]`` is not written again (a matrix written by several jobs)."""

    def __init__(self, cfg, value_width=None):
        self.cfg = cfg
        self.value_width = cfg.acc_width if value_width is None else value_width
        aw = cfg.spm_addr_width
        super().__init__({
            "start": In(1), "busy": Out(1), "drop_zeros": In(1), "append": In(1),
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
                         drop.eq(self.drop_zeros), self.busy.eq(1)]
            with m.If(~self.append):
                m.d.sync += [self.rows.eq(0), self.nnz.eq(0)]
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
