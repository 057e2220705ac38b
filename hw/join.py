"""Joiners: the :class:`Intersector` (sparse multiply) and :class:`Unioner` (sparse add).

Both take two token streams in beats of up to ``k`` tokens (see :mod:`zerohero.hw.protocol`),
walk them fiber by fiber in lockstep (fiber ``i`` of ``a`` is joined with fiber ``i`` of
``b``), and emit one joined stream (two operands per token) with the same fiber structure.
The stop level of an output fiber is the larger of the two input levels.

A structure mismatch (one input ends its stream while the other still has a fiber) raises
the sticky ``error`` output and the unit stops consuming; the sequencer's error path turns that
into a status code.
"""

from types import SimpleNamespace

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .protocol import TokenLayout, beat_stream, token_stream

__all__ = ["Intersector", "Unioner"]


class TokenWindow(wiring.Component):
    """A ``2k``-entry shift buffer that accepts beats of up to ``k`` tokens and shows its first
    ``k`` entries as a comparison window; the owner removes ``take`` (0..k) entries a cycle.

    ``inp.ready`` depends only on the buffer's registered fill, so a full-rate producer and a
    consumer that takes ``k`` a cycle run without bubbles.
    """

    def __init__(self, cfg, k):
        self.k = k
        self.depth = 2 * k
        self.token = TokenLayout(cfg, 1)
        super().__init__({
            "inp": In(beat_stream(cfg, k)),
            "win": Out(data.ArrayLayout(self.token, k)),
            "count": Out(range(2 * k + 1)),
            "take": In(range(k + 1)),
        })

    def _beat_fits(self, count):
        """A beat of up to ``k`` tokens fits beside ``count`` buffered ones."""
        return count <= self.depth - self.k

    def elaborate(self, platform):
        m = Module()
        k, depth = self.k, self.depth
        buf = [Signal(self.token, name=f"buf{i}") for i in range(depth)]
        # The buffer, entry by entry (the formal harness follows tokens through it).
        self.buf = buf
        # The comparison window shows the first k entries.
        for i in range(k):
            m.d.comb += self.win[i].eq(buf[i])

        m.d.comb += self.inp.ready.eq(self._beat_fits(self.count))
        accept = self.inp.valid & self.inp.ready
        remaining = Signal(range(depth + 1))
        m.d.comb += remaining.eq(self.count - self.take)
        incoming = Mux(accept, self.inp.p.n, 0)
        m.d.sync += self.count.eq(remaining + incoming)

        raw = Array(buf[i].as_value() for i in range(depth))
        beat = Array(self.inp.p.tok[j].as_value() for j in range(k))
        for i in range(depth):
            with m.If(i < remaining):
                m.d.sync += buf[i].as_value().eq(raw[i + self.take])
            with m.Elif(accept):
                j = Signal(range(-depth, depth + 1), name=f"ins{i}")
                m.d.comb += j.eq(i - remaining)
                with m.If(j < k):
                    m.d.sync += buf[i].as_value().eq(beat[j[:max(1, (k - 1).bit_length())]])
        return m


class _JoinInputs:
    """One input side: its fiber state (``ended``: the side has consumed the end of its current
    fiber, at level ``lvl``) and the decoded heads of its window's first ``k`` entries, what the
    join logic needs each cycle."""

    def __init__(self, m, cfg, window, k, name):
        self.ended = ended = Signal(name=f"ended_{name}")
        self.lvl = Signal(cfg.level_width, name=f"lvl_{name}")
        w, n = window.win, window.count
        self.head = w[0]
        known = Signal(name=f"{name}_known")
        m.d.comb += known.eq(~ended & (n != 0))
        self.known = known                         # a head token is present and counts
        self.is_done = known & w[0].done
        self.is_bare = known & ~w[0].data & w[0].stop & ~w[0].done
        self.is_data = known & w[0].data
        # in_fiber[i]: entry i is a data token of the current fiber (no stop before it).
        self.in_fiber = []
        open_ = ~ended
        for i in range(k):
            s = Signal(name=f"{name}_inf{i}")
            m.d.comb += s.eq(open_ & (n > i) & w[i].data)
            self.in_fiber.append(s)
            open_ = open_ & (n > i) & w[i].data & ~w[i].stop
        self.win = w

    def fiber_level(self, end_lvl):
        """The level of this side's fiber end: the recorded one once the side has ended its
        fiber, else ``end_lvl`` (of the end it consumes this cycle)."""
        return Mux(self.ended, self.lvl, end_lvl)


class _Joiner(wiring.Component):
    """What the :class:`Intersector` and the :class:`Unioner` share: the ports, a
    :class:`TokenWindow` on each input, and the fiber bookkeeping of the two sides."""

    def __init__(self, cfg, k=None):
        self.cfg = cfg
        self.k = cfg.window if k is None else k
        super().__init__({
            "a": In(beat_stream(cfg, self.k)),
            "b": In(beat_stream(cfg, self.k)),
            "out": Out(token_stream(cfg, 2)),
            "error": Out(1),
        })

    def _sides(self, m, k):
        """The input windows (``self.wa``, ``self.wb``, for the formal harness) and the two
        sides, decoding ``k`` entries of each window."""
        m.submodules.wa = wa = TokenWindow(self.cfg, self.k)
        m.submodules.wb = wb = TokenWindow(self.cfg, self.k)
        self.wa, self.wb = wa, wb
        wiring.connect(m, wiring.flipped(self.a), wa.inp)
        wiring.connect(m, wiring.flipped(self.b), wb.inp)
        return _JoinInputs(m, self.cfg, wa, k, "a"), _JoinInputs(m, self.cfg, wb, k, "b")

    @staticmethod
    def _mismatch(A, B):
        """One side's stream is done while the other still has (part of) a fiber."""
        return ((A.is_done & (B.ended | (B.known & ~B.head.done))) |
                (B.is_done & (A.ended | (A.known & ~A.head.done))))

    @staticmethod
    def _out_level(A, end_lvl_a, B, end_lvl_b):
        """An output fiber's stop level: the larger of the two sides' fiber levels."""
        la, lb = A.fiber_level(end_lvl_a), B.fiber_level(end_lvl_b)
        return Mux(la > lb, la, lb)

    @staticmethod
    def _track_fibers(m, fiber_end, ends):
        """Update the sides' fiber state (within the caller's ``m.If``): a joined fiber's end
        opens the next fiber on both sides; else a side that consumes the end of its fiber
        (``ends``: per side ``(side, consumed, level)``) records it."""
        with m.If(fiber_end):
            m.d.sync += [X.ended.eq(0) for X, _, _ in ends]
        with m.Else():
            for X, end, lvl in ends:
                with m.If(end):
                    m.d.sync += [X.ended.eq(1), X.lvl.eq(lvl)]


class Intersector(_Joiner):
    """Sparse intersection of two coordinate streams with a ``k``-coordinate window.

    Ports: ``a``, ``b`` (beats of ``k`` single-operand tokens), ``out`` (two-operand tokens,
    ``has = 0b11``), ``error`` (sticky structure mismatch).

    Only coordinates present in both fibers produce a data token, so nothing downstream ever
    multiplies by an absent (zero) element. Each cycle the unit drops every coordinate of one
    input's window that is below the other input's head (up to ``k`` at once) and emits at most
    one match: non-matching runs are consumed ``k`` per cycle and the physical limit is one
    cycle per match. Empty output fibers get a stop token of their own; a non-empty output fiber's
    stop rides on its last match (held one cycle in a pending register until it is known to be
    the last), so fiber boundaries cost no output cycle. While that pending token waits for
    ``out.ready`` the unit stalls. Latency: 2 cycles from a window head to ``out``.
    """

    def _below(self, c, head):
        """Coordinate ``c`` lies below the other side's ``head``: it cannot match, so it is
        skipped."""
        return c < head

    def elaborate(self, platform):
        m = Module()
        cfg, k = self.cfg, self.k
        A, B = self._sides(m, k)
        wa, wb = self.wa, self.wb
        ended_a, ended_b = A.ended, B.ended

        # Skip-ahead: count the prefix of each window that lies below the other side's head
        # (everything of the current fiber, when the other side has ended its fiber).
        def below(X, Y, ended_y):
            cnt = Signal(range(k + 1))
            lt = [X.in_fiber[i] & (ended_y | (Y.is_data & self._below(X.win[i].crd, Y.head.crd)))
                  for i in range(k)]
            m.d.comb += cnt.eq(sum(lt))
            return cnt

        skip_a, skip_b = below(A, B, ended_b), below(B, A, ended_a)
        # Heads after the skip; a match needs both.
        pa = Array(A.win[i].as_value() for i in range(k))[skip_a]
        pb = Array(B.win[i].as_value() for i in range(k))[skip_b]
        ha = data.View(TokenLayout(cfg, 1), pa)
        hb = data.View(TokenLayout(cfg, 1), pb)
        pa_ok = Array(A.in_fiber)[skip_a] & (skip_a < k)
        pb_ok = Array(B.in_fiber)[skip_b] & (skip_b < k)
        match = Signal()
        m.d.comb += match.eq(pa_ok & pb_ok & (ha.crd == hb.crd))

        take_a = Signal(range(k + 1))
        take_b = Signal(range(k + 1))
        m.d.comb += [
            take_a.eq(Mux(A.is_bare, 1, skip_a + match)),
            take_b.eq(Mux(B.is_bare, 1, skip_b + match)),
        ]
        # Did this cycle consume the token that ends the side's fiber?
        def ends(X, take):
            if k == 1:                  # (no zero-width index signal in the Verilog)
                last = X.win[0]
            else:
                idx = Signal(range(k))
                m.d.comb += idx.eq(take - 1)
                last = data.View(TokenLayout(cfg, 1),
                                 Array(X.win[i].as_value() for i in range(k))[idx])
            e = Signal()
            m.d.comb += e.eq((take != 0) & last.stop)
            return e, last.lvl

        end_a, end_lvl_a = ends(A, take_a)
        end_b, end_lvl_b = ends(B, take_b)
        fin_a = ended_a | end_a
        fin_b = ended_b | end_b
        fiber_end = Signal()
        m.d.comb += fiber_end.eq(fin_a & fin_b)
        out_lvl = self._out_level(A, end_lvl_a, B, end_lvl_b)

        both_done = A.is_done & B.is_done
        mismatch = self._mismatch(A, B)

        # Pending output token: the newest match (or stop / done) waits here until it is known
        # whether it ends its fiber. `final` = its stop/done fields are settled.
        pend = Signal(TokenLayout(cfg, 2))
        pend_valid, pend_final = Signal(), Signal()
        pend_cur = pend_valid & ~pend_final
        # The registers the formal harness relates to the streams consumed and emitted.
        self.state = SimpleNamespace(ended_a=ended_a, ended_b=ended_b, lvl_a=A.lvl,
                                     lvl_b=B.lvl, pend=pend, pend_valid=pend_valid,
                                     pend_final=pend_final)
        creates = match | (fiber_end & ~pend_cur) | both_done
        m.d.comb += [
            self.out.valid.eq(pend_valid & (pend_final | creates)),
            self.out.p.eq(pend),
        ]
        # A pending token the output refuses stalls the unit, skip-ahead too: what `go` waits
        # for is then flip-flops and the window heads' flags, not the comparison and the stop
        # logic behind it (that chain, fanned out to every window register, would otherwise be
        # the lanes' critical path on the ECP5). The output only refuses when its consumer
        # stalls.
        blocked = pend_valid & ~self.out.ready
        halt = self.error | mismatch
        go = Signal()
        m.d.comb += go.eq(~blocked & ~halt)

        with m.If(mismatch):
            m.d.sync += self.error.eq(1)
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += pend_valid.eq(0)

        with m.If(go):
            m.d.comb += [
                wa.take.eq(Mux(both_done, 1, take_a)),
                wb.take.eq(Mux(both_done, 1, take_b)),
            ]
            self._track_fibers(m, fiber_end, [(A, end_a, end_lvl_a), (B, end_b, end_lvl_b)])

            with m.If(match):
                m.d.sync += [
                    pend.crd.eq(ha.crd),
                    pend.val[0].eq(ha.val[0]),
                    pend.val[1].eq(hb.val[0]),
                    pend.has.eq(0b11),
                    pend.data.eq(1),
                    pend.stop.eq(fiber_end),
                    pend.lvl.eq(Mux(fiber_end, out_lvl, 0)),
                    pend.done.eq(0),
                    pend_valid.eq(1),
                    pend_final.eq(fiber_end),
                ]
            with m.Elif(fiber_end & pend_cur):
                m.d.sync += [pend.stop.eq(1), pend.lvl.eq(out_lvl), pend_final.eq(1)]
            with m.Elif(fiber_end):
                m.d.sync += [
                    pend.eq(0), pend.stop.eq(1), pend.lvl.eq(out_lvl),
                    pend_valid.eq(1), pend_final.eq(1),
                ]
            with m.Elif(both_done):
                m.d.sync += [pend.eq(0), pend.done.eq(1), pend_valid.eq(1), pend_final.eq(1)]
        return m


class Unioner(_Joiner):
    """Sparse union of two coordinate streams: every coordinate of either fiber, once.

    Same ports as :class:`Intersector`. Output tokens carry both operands with ``has`` marking
    the present sides (an absent operand reads as 0). One coordinate leaves per cycle, the stop
    of a non-empty fiber rides on its last token, and only a fiber empty on both sides gets a
    stop token of its own. Latency: 1 cycle from the window heads to ``out``.
    """

    def _goes_first(self, x, y):
        """A head at coordinate ``x`` leaves no later than the other side's at ``y`` (equal
        heads leave together, as one token)."""
        return x <= y

    def _operand(self, present, value):
        """An output operand: the side's ``value`` when it is ``present``, else 0."""
        return Mux(present, value, 0)

    def elaborate(self, platform):
        m = Module()
        A, B = self._sides(m, 1)
        wa, wb = self.wa, self.wb
        ended_a, ended_b = A.ended, B.ended
        # The registers the formal harness relates to the streams consumed.
        self.state = SimpleNamespace(ended_a=ended_a, ended_b=ended_b, lvl_a=A.lvl,
                                     lvl_b=B.lvl)
        # A side's head is settled when it is data, or its fiber is known to be over.
        a_over = ended_a | A.is_bare
        b_over = ended_b | B.is_bare
        a_set = A.is_data | a_over
        b_set = B.is_data | b_over
        both_data = A.is_data & B.is_data
        use_a = A.is_data & (b_over | (both_data & self._goes_first(A.head.crd, B.head.crd)))
        use_b = B.is_data & (a_over | (both_data & self._goes_first(B.head.crd, A.head.crd)))
        # Bare stops are consumed as soon as both heads are settled.
        take_a = use_a | (A.is_bare & b_set)
        take_b = use_b | (B.is_bare & a_set)
        end_a = take_a & A.head.stop
        end_b = take_b & B.head.stop
        fiber_end = Signal()
        m.d.comb += fiber_end.eq((ended_a | end_a) & (ended_b | end_b))
        out_lvl = self._out_level(A, A.head.lvl, B, B.head.lvl)

        both_done = A.is_done & B.is_done
        mismatch = self._mismatch(A, B)
        emits = use_a | use_b | fiber_end | both_done

        go = Signal()
        m.d.comb += go.eq((~self.out.valid | self.out.ready) & ~self.error & ~mismatch)
        with m.If(mismatch):
            m.d.sync += self.error.eq(1)
        with m.If(self.out.ready):
            m.d.sync += self.out.valid.eq(0)
        with m.If(go):
            m.d.comb += [wa.take.eq(take_a | both_done), wb.take.eq(take_b | both_done)]
            self._track_fibers(m, fiber_end, [(A, end_a, A.head.lvl), (B, end_b, B.head.lvl)])
            with m.If(emits):
                m.d.sync += [
                    self.out.valid.eq(1),
                    self.out.p.crd.eq(Mux(use_a, A.head.crd, B.head.crd)),
                    self.out.p.val[0].eq(self._operand(use_a, A.head.val[0])),
                    self.out.p.val[1].eq(self._operand(use_b, B.head.val[0])),
                    self.out.p.has.eq(Mux(use_a, 1, 0) | Mux(use_b, 2, 0)),
                    self.out.p.data.eq(use_a | use_b),
                    self.out.p.stop.eq(fiber_end),
                    self.out.p.lvl.eq(Mux(fiber_end, out_lvl, 0)),
                    self.out.p.done.eq(both_done),
                ]
        return m
