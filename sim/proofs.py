"""Formal property harnesses: one per unit, proved by :mod:`zerohero.sim.formal`.

Each ``*_spec(cfg, k, mutant=None)`` returns ``(top, ports, depth)``: an Amaranth module that
instantiates the *real* component (``mutant`` names one of its deliberately broken variants
in :mod:`zerohero.sim.mutants`), drives every input from ``AnySeq``/``AnyConst`` under the
protocol assumptions, and states the properties with ``Assert``/``Cover``. ``depth`` is the
BMC / k-induction depth. The runner converts ``top`` to RTLIL and runs SymbiYosys in
``mode prove`` (BMC and k-induction, smtbmc + yices) plus ``mode cover``.

Conventions shared by every harness:

* Reset is asserted in the first cycle only (``ResetSignal() == Initial()``).
* **Stream protocol** (amaranth.lib.stream): on every output stream the unit never offers
  ``valid`` in reset, and once it raises ``valid`` with a payload, ``valid`` and the payload
  hold until ``ready``. The same is *assumed* of the environment on every input stream.
* **Token protocol** (:mod:`zerohero.spec.tokens`): input streams are assumed well-formed
  (each token is exactly one of data / bare stop / done; coordinates strictly increase within
  a fiber; a bare stop or done never closes an open fiber; a beat holds 1..k tokens); the
  joiners' output streams are asserted well-formed.
* **Watched coordinate**: one ``AnyConst`` coordinate ``wc``; the harness keeps small flags
  "``wc`` was seen in a's / b's current fiber" (with its value) and "``wc`` was emitted in the
  current output fiber", which is the standard way to state "every / no coordinate" properties
  without modelling whole fibers.
* **Helper invariants** (marked ``# helper:``) relate the unit's internal registers to the
  harness state so that k-induction closes; they are asserted (so checked), not assumed. A
  unit shows those registers as attributes once elaborated (``state``, and its windows, issue
  stage or queues), so the harness elaborates it first. A mutant is run with
  ``helpers=False``, so its counterexample names a property of the specification itself.
* **Mutants**: ``mutant=`` builds a subclass of the real component that overrides one of its
  hook methods (:data:`zerohero.sim.mutants.MUTANTS`); each must fail with a BMC
  counterexample.

The joiners are checked end to end from their input ports, but their data-path properties are
stated at the point where the join logic *consumes* tokens from its two :class:`TokenWindow`
s (``win``/``take``); :func:`window_spec` proves that a window is an in-order, lossless FIFO,
so consumed tokens are exactly the delivered ones.

Scope: reset in the first cycle only; the configurations in :data:`PROOFS` (K = 1, 2, 4 as
the presets use, at small widths so that every coordinate, value and overflow is reachable;
wider configurations are not proved here).

The fiber scanner (:func:`scanner_spec`) reads an abstract memory: one **watched fiber** (its
two pointers ``AnyConst``, non-decreasing) and one **watched entry** (``AnyConst``), every
other word ``AnySeq`` at each read; its output is checked against the job's CSR level at the
watched fiber and entry (every fiber and entry, as both are arbitrary) and for the structure
of every fiber. Its helpers see the two ``SyncFIFO`` queues through extra asynchronous read
ports on their storage: the harness gives the scanner a FIFO subclass that adds them
(:class:`_TappedSyncFIFO`, observers only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from amaranth.asserts import AnyConst, AnySeq, Initial
from amaranth.hdl import (Array, Assert, Assume, Cat, Cover, Fragment, Module, Mux, ResetSignal,
                          Signal, signed)
from amaranth.lib import data
from amaranth.lib.fifo import SyncFIFO

from zerohero.hw.join import Intersector, TokenWindow, Unioner
from zerohero.hw.memory import EntryLayout
from zerohero.hw.pe import MACLane
from zerohero.hw.protocol import TokenLayout
from zerohero.hw.scan import CompressedScanner
from zerohero.spec.config import AccelConfig

from .mutants import variant

__all__ = ["window_spec", "intersector_spec", "unioner_spec", "mac_spec", "scanner_spec",
           "formal_config", "Proof", "PROOFS"]


def formal_config(k=1, **changes) -> AccelConfig:
    """Small widths: every coordinate, value and overflow is within a few cycles' reach."""
    base = AccelConfig(name="formal", lanes=1, value_width=2, coord_width=3, acc_width=4,
                       window=k, spm_banks=2, spm_depth=16, max_level=1, counter_width=8,
                       double_buffer=False)
    return base.replace(**changes)


# Plumbing -----------------------------------------------------------------------------------

def _reset_first_cycle(m):
    """Reset in the first cycle only; returns the reset signal."""
    rst = ResetSignal()
    m.d.comb += Assume(rst == Initial())
    return rst


def _stream_rules(m, stream, rst, check):
    """The stream protocol on ``stream``, as ``check`` (``Assume`` for an input the
    environment drives, ``Assert`` for an output of the unit): nothing valid in reset; valid
    and payload hold until ready. Returns the transfer strobe."""
    payload = stream.payload.as_value()
    prev_valid, prev_ready = Signal(), Signal()
    prev_payload = Signal(len(payload))
    m.d.sync += [prev_valid.eq(stream.valid), prev_ready.eq(stream.ready),
                 prev_payload.eq(payload)]
    m.d.comb += [
        check(~(rst & stream.valid)),
        check(~(prev_valid & ~prev_ready) | (stream.valid & (payload == prev_payload))),
    ]
    xfer = Signal()
    m.d.comb += xfer.eq(stream.valid & stream.ready & ~rst)
    return xfer


def _drive_source(m, stream, rst):
    """The environment drives an input ``stream`` of the unit from ``AnySeq``, assuming the
    stream protocol. Returns the transfer strobe."""
    payload = stream.payload.as_value()
    m.d.comb += [stream.valid.eq(AnySeq(1)), payload.eq(AnySeq(len(payload)))]
    return _stream_rules(m, stream, rst, Assume)


def _check_sink(m, stream, rst, ready=None):
    """The environment drives ``ready`` of an output ``stream`` (``AnySeq`` unless given);
    asserts the stream protocol of the unit. Returns the transfer strobe."""
    m.d.comb += stream.ready.eq(AnySeq(1) if ready is None else ready)
    return _stream_rules(m, stream, rst, Assert)


def _walk(tokens, present, open_, last):
    """Walk a token sequence through the token protocol, from the fiber state
    ``(open_, last)`` (``open_``: a data token without stop was the previous token; ``last``:
    its coordinate). ``present[i]`` says token ``i`` exists (a prefix). Returns
    ``(ok, open_, last)``: ``ok`` is the protocol check of every present token, then the
    fiber state after them."""
    ok = 1
    for t, p in zip(tokens, present):
        good = (_one_kind(t) &
                (~t.data | ~open_ | (t.crd > last)) &     # increasing within a fiber
                (t.data | ~open_))                        # bare stop / done: fiber not open
        ok = ok & (~p | good)
        open_ = Mux(p, t.data & ~t.stop, open_)
        last = Mux(p & t.data, t.crd, last)
    return ok, open_, last


# TokenWindow --------------------------------------------------------------------------------

def window_spec(cfg, k, mutant=None, *, helpers=True):
    """:class:`TokenWindow` is an in-order, lossless FIFO of ``2k`` tokens.

    * ``count`` equals accepted minus taken tokens and never exceeds ``2k`` (no overflow, no
      loss, no duplication);
    * ready whenever a full beat fits (``count <= k``: no bubbles at full rate);
    * order and content: a token picked nondeterministically when it is accepted (``AnySeq``
      pick) is shown at its queue position in ``win`` every cycle it is within the first ``k``
      entries, until it is taken.
    """
    m = Module()
    rst = _reset_first_cycle(m)
    dut = variant(TokenWindow, mutant)(cfg, k)
    m.submodules.dut = Fragment.get(dut, None)
    buf = dut.buf
    depth = 2 * k

    accept = _drive_source(m, dut.inp, rst)
    beat = dut.inp.payload
    m.d.comb += [dut.take.eq(AnySeq(dut.take.shape())),
                 Assume(dut.take <= dut.count),
                 Assume((beat.n >= 1) & (beat.n <= k))]

    # Count accounting.
    h_count = Signal(range(3 * k + 2))
    nxt = Signal(range(-k, 4 * k + 2))
    m.d.comb += nxt.eq(h_count - dut.take + Mux(accept, beat.n, 0))
    m.d.sync += h_count.eq(nxt)
    m.d.comb += [
        Assert(dut.count == h_count),          # no token lost or duplicated
        Assert(h_count <= depth),              # never overfilled
        Assert(~(dut.count <= k) | dut.inp.ready),   # no bubbles: ready while a beat fits
    ]

    # One picked token, followed through the queue.
    watching = Signal()
    pos = Signal(range(depth + 1))
    wval = Signal(dut.token)
    pick = AnySeq(1)
    pick_j = AnySeq(range(k)) if k > 1 else 0
    remaining = dut.count - dut.take
    win = Array(dut.win[i].as_value() for i in range(k))
    leaving = watching & (pos < dut.take)
    with m.If(watching):
        m.d.sync += pos.eq(pos - dut.take)
        with m.If(leaving):
            m.d.sync += watching.eq(0)
    with m.If((~watching | leaving) & accept & pick & (pick_j < beat.n)):
        m.d.sync += [watching.eq(1), pos.eq(remaining + pick_j),
                     wval.as_value().eq(Array(beat.tok[j].as_value() for j in range(k))[pick_j])]
    m.d.comb += [
        Assert(~(watching & (pos < k) & (pos < dut.count)) |
               (win[pos] == wval.as_value())),                  # shown in order, unchanged
        Cover(leaving & (pos == 0) & (dut.take == k) & watching),
        Cover(dut.count == depth),
    ]
    if helpers:
        m.d.comb += [
            # helper: the picked token is queued, at its position, in the buffer.
            Assert(~watching | (pos < dut.count)),
            Assert(~watching | (Array(b.as_value() for b in buf)[pos] == wval.as_value())),
        ]
    return m, [], 6


# Joiners -------------------------------------------------------------------------------------

#: BMC / k-induction depth of the joiner proofs, per window (the helpers close induction at
#: 3; the rest is margin for the base case, traded against time at K = 4).
_JOIN_DEPTH = {1: 10, 2: 8, 4: 5}


def _entry_layout(cfg):
    """What the output of one joined fiber (or of a done) must show."""
    return data.StructLayout({
        "done": 1,                                    # a done, not a fiber
        "seen_a": 1, "seen_b": 1,                     # wc in a's / b's fiber
        "val_a": signed(cfg.value_width), "val_b": signed(cfg.value_width),
        "lvl": cfg.level_width,                       # stop level = max of both
    })


class _Side:
    """Harness state of one joiner input: delivery and consumption trackers."""

    def __init__(self, m, cfg, k, stream, window, buf, rst, wc, name):
        self.window, self.buf = window, buf
        cw = cfg.coord_width
        # Delivery (environment side): fiber state after the last accepted token.
        self.del_open = Signal(name=f"{name}_del_open")
        self.del_last = Signal(cw, name=f"{name}_del_last")
        self.accept = _drive_source(m, stream, rst)
        beat = stream.payload
        ok, d_open, d_last = _walk([beat.tok[j] for j in range(k)],
                                   [j < beat.n for j in range(k)],
                                   self.del_open, self.del_last)
        m.d.comb += Assume(~stream.valid | (ok & (beat.n >= 1) & (beat.n <= k)))
        with m.If(self.accept):
            m.d.sync += [self.del_open.eq(d_open), self.del_last.eq(d_last)]

        # Consumption (join-logic side): what left the window this fiber.
        self.c_open = Signal(name=f"{name}_c_open")        # consumed data, fiber not closed
        self.c_last = Signal(cw, name=f"{name}_c_last")
        self.c_ended = Signal(name=f"{name}_c_ended")      # consumed the fiber's stop
        self.c_lvl = Signal(cfg.level_width, name=f"{name}_c_lvl")
        self.c_seen = Signal(name=f"{name}_c_seen")        # consumed wc this fiber
        self.c_val = Signal(signed(cfg.value_width), name=f"{name}_c_val")
        take, win = window.take, window.win
        removed = [i < take for i in range(k)]
        # join: the owner only takes what the window holds.
        m.d.comb += Assert(take <= window.count)
        _, c_open, c_last = _walk([win[i] for i in range(k)], removed, self.c_open, self.c_last)
        self.next_open, self.next_last = c_open, c_last
        seen, val = self.c_seen, self.c_val
        stop, lvl, done = 0, self.c_lvl, 0
        ended = self.c_ended
        for i in range(k):
            t = win[i]
            # join: nothing is consumed past the end of a side's fiber (until both ended).
            m.d.comb += Assert(~(removed[i] & ended))
            hit = removed[i] & t.data & (t.crd == wc)
            seen = seen | hit
            val = Mux(hit, t.val[0], val)
            stop = stop | (removed[i] & t.stop)
            lvl = Mux(removed[i] & t.stop, t.lvl, lvl)
            done = done | (removed[i] & t.done)
            ended = ended | (removed[i] & (t.stop | t.done))
        self.seen_now, self.val_now = seen, val
        self.stop_now, self.lvl_now, self.done_now = stop, lvl, done
        self.ended_now = self.c_ended | stop

    def rest_above(self, v):
        """The rest of this side's current fiber holds only coordinates above ``v``, and the
        join logic knows it: the side has ended, or its last consumed coordinate is ``>= v``,
        or its head is a data token above ``v``."""
        head = self.buf[0]
        return (self.c_ended | (self.c_open & (self.c_last >= v)) |
                ((self.window.count != 0) & head.data & (head.crd > v)))


def _join_spec(cfg, k, unit, mutant, union, helpers):
    m = Module()
    rst = _reset_first_cycle(m)
    dut = variant(unit, mutant)(cfg, k)
    m.submodules.dut = Fragment.get(dut, None)
    inner = dut.state
    wa, wb = dut.wa, dut.wb
    wc = AnyConst(cfg.coord_width)                  # the watched coordinate
    A = _Side(m, cfg, k, dut.a, wa, wa.buf, rst, wc, "a")
    B = _Side(m, cfg, k, dut.b, wb, wb.buf, rst, wc, "b")
    out = dut.out
    out_xfer = _check_sink(m, out, rst)

    # Joined fibers and dones consumed but not yet fully emitted: a queue of two entries.
    q_n = Signal(range(3))
    q = [Signal(_entry_layout(cfg), name=f"q{i}") for i in range(2)]
    cur = Signal(_entry_layout(cfg))                # the fiber being consumed
    m.d.comb += [cur.seen_a.eq(A.c_seen), cur.seen_b.eq(B.c_seen),
                 cur.val_a.eq(A.c_val), cur.val_b.eq(B.c_val)]
    exp = Signal(_entry_layout(cfg))                # the fiber being emitted
    m.d.comb += exp.eq(Mux(q_n != 0, q[0], cur))

    joint_end = Signal()
    m.d.comb += joint_end.eq(A.ended_now & B.ended_now)
    both_done = Signal()
    m.d.comb += both_done.eq(A.done_now & B.done_now)
    push = Signal(_entry_layout(cfg))
    m.d.comb += [
        push.done.eq(both_done),
        push.seen_a.eq(A.seen_now), push.seen_b.eq(B.seen_now),
        push.val_a.eq(A.val_now), push.val_b.eq(B.val_now),
        push.lvl.eq(Mux(A.lvl_now > B.lvl_now, A.lvl_now, B.lvl_now)),
        # join: a done is consumed on both sides at once, between fibers.
        Assert(A.done_now == B.done_now),
        Assert(~both_done | (~A.c_ended & ~B.c_ended)),
    ]
    for X in (A, B):
        with m.If(joint_end | both_done):
            m.d.sync += [X.c_ended.eq(0), X.c_seen.eq(0), X.c_open.eq(0)]
        with m.Else():
            m.d.sync += [X.c_ended.eq(X.ended_now), X.c_lvl.eq(X.lvl_now),
                         X.c_seen.eq(X.seen_now), X.c_val.eq(X.val_now),
                         X.c_open.eq(X.next_open), X.c_last.eq(X.next_last)]

    # The output side.
    o_open = Signal()                               # data emitted in the current out fiber
    o_last = Signal(cfg.coord_width)
    o_seen = Signal()                               # wc emitted in the current out fiber
    t = out.payload
    ok, n_open, n_last = _walk([t], [out_xfer], o_open, o_last)
    closes = out_xfer & (t.stop | t.done)
    pop = closes
    emitted = out_xfer & t.data & (t.crd == wc)
    expect = (exp.seen_a | exp.seen_b) if union else (exp.seen_a & exp.seen_b)
    m.d.sync += [o_open.eq(n_open), o_last.eq(n_last)]
    with m.If(closes):
        m.d.sync += o_seen.eq(0)
    with m.Elif(emitted):
        m.d.sync += o_seen.eq(1)
    m.d.comb += [
        # out: well-formed tokens; coordinates strictly increase within a fiber; a bare stop
        # only for an empty fiber; done only between fibers.
        Assert(~out_xfer | ok),
        # out: every stop / done closes the next consumed fiber / done, in order, at the
        # larger level; nothing is closed that was not consumed.
        Assert(~closes | (q_n != 0)),
        Assert(~(out_xfer & t.stop) | (~q[0].done & (t.lvl == q[0].lvl))),
        Assert(~(out_xfer & t.done) | q[0].done),
        # out: the watched coordinate is emitted in a fiber iff it is in the join of the two
        # input fibers (checked when the fiber closes: nothing dropped, nothing invented).
        Assert(~(out_xfer & t.stop) | ((o_seen | emitted) == expect)),
    ]
    if union:
        m.d.comb += [
            # union: a data token has at least one side; an absent side reads as 0.
            Assert(~(out_xfer & t.data) | (t.has != 0)),
            Assert(~(out_xfer & t.data & ~t.has[0]) | (t.val[0] == 0)),
            Assert(~(out_xfer & t.data & ~t.has[1]) | (t.val[1] == 0)),
            # union: the watched coordinate carries exactly the sides that hold it, with their
            # values.
            Assert(~emitted | ((t.has[0] == exp.seen_a) & (t.has[1] == exp.seen_b))),
            Assert(~emitted | ~exp.seen_a | (t.val[0] == exp.val_a)),
            Assert(~emitted | ~exp.seen_b | (t.val[1] == exp.val_b)),
        ]
    else:
        m.d.comb += [
            # intersection: only coordinates of both sides, with both values.
            Assert(~(out_xfer & t.data) | (t.has == 0b11)),
            Assert(~emitted | (exp.seen_a & exp.seen_b)),
            Assert(~emitted | ((t.val[0] == exp.val_a) & (t.val[1] == exp.val_b))),
        ]

    m.d.comb += [
        # out: a consumed fiber end (or done) is on offer at once: no stop is withheld.
        Assert((q_n == 0) | out.valid),
    ]
    # error: raised exactly for a real structure mismatch (the next cycle): one side's next
    # token is its done while the other side still has (or has just ended) a fiber.
    def done_head(X):
        return (X.window.count != 0) & ~X.c_ended & X.buf[0].done

    def has_fiber(X):
        return X.c_ended | ((X.window.count != 0) & ~X.buf[0].done)

    real_mismatch = (done_head(A) & has_fiber(B)) | (done_head(B) & has_fiber(A))
    was_mismatch, had_error = Signal(), Signal()
    m.d.sync += [was_mismatch.eq(real_mismatch), had_error.eq(dut.error)]
    m.d.comb += [
        Assert(~(dut.error & ~had_error) | was_mismatch),
        Assert(~was_mismatch | dut.error),
        # error: sticky, and the unit stops consuming.
        Assert(~had_error | dut.error),
        Assert(~dut.error | ((wa.take == 0) & (wb.take == 0))),
    ]

    h = dict(dut=dut, inner=inner, A=A, B=B, q=q, q_n=q_n, cur=cur, exp=exp, o_open=o_open,
             o_last=o_last, o_seen=o_seen, wc=wc, expect=(
                 (lambda e: e.seen_a | e.seen_b) if union else (lambda e: e.seen_a & e.seen_b)))

    # Queue bookkeeping.
    pushes = joint_end | both_done
    m.d.comb += Assert(~(pushes & ~pop & (q_n == 2)))   # bounded lag (no stop withheld)
    with m.If(pop & ~pushes):
        m.d.sync += [q_n.eq(q_n - 1), q[0].eq(q[1])]
    with m.Elif(pushes & ~pop):
        m.d.sync += q_n.eq(q_n + 1)
        with m.If(q_n == 0):
            m.d.sync += q[0].eq(push)
        with m.Else():
            m.d.sync += q[1].eq(push)
    with m.Elif(pushes & pop):
        with m.If(q_n == 1):
            m.d.sync += q[0].eq(push)
        with m.Else():
            m.d.sync += [q[0].eq(q[1]), q[1].eq(push)]

    # No deadlock: with both inputs offering and out ready, an input beat is accepted or a
    # token emitted within `patience` cycles, or the structure error stops the unit. The
    # bounds are tight (see the cover): the unioner moves every such cycle; the intersector
    # may spend up to 2k - 1 cycles skipping through two full windows (both fill while its
    # pending token waits for `ready`).
    patience = 1 if union else 2 * k
    stuck = Signal(range(patience + 1))
    fair = dut.a.valid & dut.b.valid & out.ready & ~dut.error & ~rst
    with m.If(fair & ~(A.accept | B.accept | out_xfer)):
        m.d.sync += stuck.eq(Mux(stuck == patience, patience, stuck + 1))
    with m.Else():
        m.d.sync += stuck.eq(0)
    m.d.comb += [
        Assert(stuck < patience),
        Cover(out_xfer & t.data & t.stop & o_open),       # a fiber of two tokens completes
        Cover(out_xfer & t.done & ~dut.error),             # a stream completes
        Cover(emitted & exp.seen_a & exp.seen_b),          # wc in both, emitted
        Cover(dut.error),                                  # a structure error is detected
        Cover(stuck == patience - 1),                      # the response bound is tight
        Cover(wa.count == 2 * k),                          # a window fills up
    ]
    if union:
        m.d.comb += Cover(emitted & exp.seen_a & ~exp.seen_b)   # wc in a only, emitted

    if not helpers:
        return m, h
    # helper: while stuck, both windows hold more than k (else one would accept) and drain by
    # at least one token a cycle, starting from at most full (the intersector: both windows
    # fill while it waits for `ready`); for the unioner, from less than full: two full
    # windows only happen while it is blocked on out (so it offers a token) or halted.
    m.d.comb += Assert(dut.error | (stuck == 0)
                       | (stuck + wa.count + wb.count <= 4 * k - (1 if union else 0)))
    if union:
        m.d.comb += Assert(dut.error | (wa.count != 2 * k) | (wb.count != 2 * k) | out.valid)
    # helper: each window holds a well-formed continuation of what its side consumed, up to
    # what was delivered.
    for X in (A, B):
        ok, w_open, w_last = _walk(X.buf, [i < X.window.count for i in range(2 * k)],
                                   X.c_open, X.c_last)
        m.d.comb += [
            Assert(X.window.count <= 2 * k),
            Assert(ok & (w_open == X.del_open) & (~w_open | (w_last == X.del_last))),
            Assert(~(X.c_ended & X.c_open)),
            # wc consumed: the side is past it.
            Assert(~X.c_seen | X.c_ended | (X.c_open & (X.c_last >= wc))),
        ]
    # wc emitted: the output fiber is past it.
    m.d.comb += Assert(~o_seen | (o_open & (o_last >= wc)))
    # helper: the unit's fiber state is the consumed one.
    m.d.comb += [
        Assert(inner.ended_a == A.c_ended), Assert(inner.ended_b == B.c_ended),
        Assert(~A.c_ended | (inner.lvl_a == A.c_lvl)),
        Assert(~B.c_ended | (inner.lvl_b == B.c_lvl)),
        Assert(~(A.c_ended & B.c_ended)),
        # wc seen on one side only: the other side's rest of fiber lies above it.
        Assert(~(A.c_seen & ~B.c_seen) | B.rest_above(wc)),
        Assert(~(B.c_seen & ~A.c_seen) | A.rest_above(wc)),
    ]
    return m, h


def intersector_spec(cfg, k, mutant=None, *, helpers=True):
    """:class:`Intersector`: the intersection, fiber by fiber (see the module docstring)."""
    m, h = _join_spec(cfg, k, Intersector, mutant, union=False, helpers=helpers)
    if not helpers:
        return m, [], _JOIN_DEPTH[k]
    inner, q, q_n, A, B = h["inner"], h["q"], h["q_n"], h["A"], h["B"]
    pend, pend_valid, pend_final = inner.pend, inner.pend_valid, inner.pend_final
    o_open, o_last, o_seen, wc = h["o_open"], h["o_last"], h["o_seen"], h["wc"]
    exp = h["exp"]
    has_wc = pend_valid & pend.data & (pend.crd == wc)
    # helper: the pending register and the queue. A final pending token closes the queued
    # fiber (or is the queued done); a current one is the newest match of the fiber being
    # consumed, below everything either side has yet to deliver in it.
    m.d.comb += [
        Assert(q_n <= 1),
        Assert((q_n == 1) == (pend_valid & pend_final)),
        Assert(~(pend_valid & pend_final) | (pend.done == q[0].done)),
        Assert(~(pend_valid & pend_final & ~pend.done) |
               (pend.stop & (pend.lvl == q[0].lvl))),
        Assert(~(pend_valid & pend_final & pend.done) | (~pend.data & ~pend.stop)),
        Assert(~(pend_valid & ~pend_final) | (pend.data & ~pend.stop & ~pend.done)),
        Assert(~(pend_valid & pend.data) | (pend.has == 0b11)),
        # an open output fiber's next token waits in pend (a match leaves only when the next
        # match or the fiber's end replaces it).
        Assert(~o_open | pend_valid),
        # a structure error is only detected between fibers: never with a match pending.
        Assert(~h["dut"].error | ~(pend_valid & ~pend_final)),
        Assert(~(pend_valid & pend.data & o_open) | (pend.crd > o_last)),
        Assert(~(pend_valid & ~pend.data) | ~o_open),
        Assert(~has_wc | ((pend.val[0] == exp.val_a) & (pend.val[1] == exp.val_b))),
        Assert((o_seen | has_wc) == h["expect"](exp)),
        Assert(~(q_n == 1) | ~(A.c_seen & B.c_seen)),
    ]
    for X in (A, B):
        m.d.comb += [
            Assert(~(pend_valid & ~pend_final) |
                   X.c_ended | (X.c_open & (X.c_last >= pend.crd))),
        ]
    return m, [], _JOIN_DEPTH[k]


def unioner_spec(cfg, k, mutant=None, *, helpers=True):
    """:class:`Unioner`: the union, fiber by fiber, ``has`` marking the present sides."""
    m, h = _join_spec(cfg, k, Unioner, mutant, union=True, helpers=helpers)
    if not helpers:
        return m, [], _JOIN_DEPTH[k]
    q, q_n, A, B, exp = h["q"], h["q_n"], h["A"], h["B"], h["exp"]
    o_open, o_last, o_seen, wc = h["o_open"], h["o_last"], h["o_seen"], h["wc"]
    out = h["dut"].out
    t = out.payload
    ok, _, _ = _walk([t], [out.valid], o_open, o_last)
    has_wc = out.valid & t.data & (t.crd == wc)
    emitted_any = o_open | (out.valid & t.data)
    last = Mux(out.valid & t.data, t.crd, o_last)
    # helper: the output register and the queue. A stop / done waiting in the register
    # closes the queued fiber / is the queued done; a data token is the newest of the fiber
    # being consumed, and both sides' rest of fiber lies above it.
    m.d.comb += [
        Assert(q_n <= 1),
        Assert((q_n == 1) == (out.valid & (t.stop | t.done))),
        Assert(~(out.valid & t.done) | q[0].done),
        Assert(~(out.valid & t.stop) | (~q[0].done & (t.lvl == q[0].lvl))),
        Assert(~out.valid | ok),
        Assert(~(out.valid & t.data) | (t.has != 0)),
        Assert(~(out.valid & t.data & ~t.has[0]) | (t.val[0] == 0)),
        Assert(~(out.valid & t.data & ~t.has[1]) | (t.val[1] == 0)),
        Assert(~has_wc | ((t.has[0] == exp.seen_a) & (t.has[1] == exp.seen_b))),
        Assert(~has_wc | ~exp.seen_a | (t.val[0] == exp.val_a)),
        Assert(~has_wc | ~exp.seen_b | (t.val[1] == exp.val_b)),
        Assert((o_seen | has_wc) == (exp.seen_a | exp.seen_b)),
        Assert(~(q_n == 1) | ~(A.c_seen | B.c_seen)),
        Assert(~(emitted_any & (q_n == 0)) | (A.rest_above(last) & B.rest_above(last))),
    ]
    return m, [], _JOIN_DEPTH[k]


# MACLane ------------------------------------------------------------------------------------

def _acc_add(m, cfg, acc, x, name):
    """``(acc + x, overflowed)`` at ``acc_width`` bits, wrapped or saturated (the spec's
    arithmetic, as in the golden model's ``IntSemantics.acc_add``)."""
    aw = cfg.acc_width
    total = Signal(signed(aw + 2 * cfg.value_width + 1), name=f"{name}_total")
    res = Signal(signed(aw), name=name)
    m.d.comb += total.eq(acc + x)
    if cfg.overflow == "wrap":
        m.d.comb += res.eq(total[:aw].as_signed())
    else:
        m.d.comb += res.eq(Mux(total > cfg.acc_max, cfg.acc_max,
                               Mux(total < cfg.acc_min, cfg.acc_min, total)))
    return res, (total > cfg.acc_max) | (total < cfg.acc_min)


def _one_kind(t):
    """The token is exactly one of: data, bare stop, done."""
    return ((t.data & ~t.done) | (~t.data & t.stop & ~t.done) | (~t.data & ~t.stop & t.done))


def _issued(t):
    """The spec's issue rule: a data token with both operands present and non-zero."""
    return t.data & t.has[0] & t.has[1] & (t.val[0] != 0) & (t.val[1] != 0)


def mac_spec(cfg, k=None, mutant=None, *, helpers=True):
    """:class:`MACLane`: per fiber, the sum of the products of the issued pairs.

    * out: one result per fiber (at its stop), in order: the sum of the products of the
      issued pairs since the previous stop, at ``acc_width`` bits wrapping or saturating at
      every addition, ``max(0, .)`` under ``relu``; its ``crd`` is the fiber's index in its
      level-1 fiber and a level-``L >= 1`` stop rides on it as level ``L - 1``; done passes;
    * a zero or absent operand is never issued: the multiplier's operand registers only
      load for issued pairs, the product register only for an issued pair in stage 1;
    * counters ``busy``, ``macs``, ``zeros``, ``stalls`` count their events since ``clear``;
    * stream protocol on ``inp`` (assumed) and ``out`` (asserted).
    """
    m = Module()
    rst = _reset_first_cycle(m)
    dut = variant(MACLane, mutant)(cfg)
    m.submodules.dut = Fragment.get(dut, None)
    inner = dut.state
    w, aw = cfg.value_width, cfg.acc_width
    accept = _drive_source(m, dut.inp, rst)
    out_xfer = _check_sink(m, dut.out, rst)
    relu = AnyConst(1)
    m.d.comb += [dut.relu.eq(relu), dut.clear.eq(AnySeq(1)), dut.mode.eq(0)]
    tok = dut.inp.payload
    m.d.comb += Assume(~dut.inp.valid | _one_kind(tok))

    # Shadow accumulator of the accepted stream and the results it owes, in order.
    result = TokenLayout(cfg, 1, value_width=aw)
    sh_acc = Signal(signed(aw))
    sh_fiber = Signal(cfg.coord_width)
    overflows = []

    def after(acc, fiber, t, name):
        """(result token, acc after, fiber after, emits) of one token on top of a state."""
        prod = Mux(_issued(t), t.val[0] * t.val[1], 0)
        total, overflow = _acc_add(m, cfg, acc, prod, f"{name}_sum")
        overflows.append(overflow)
        res = Signal(result, name=f"{name}_res")
        with m.If(t.stop):
            m.d.comb += [
                res.crd.eq(fiber), res.has.eq(1), res.data.eq(1),
                res.val[0].eq(Mux(relu & (total < 0), 0, total)),
                res.stop.eq(t.lvl != 0), res.lvl.eq(Mux(t.lvl != 0, t.lvl - 1, 0)),
            ]
        with m.Elif(t.done):
            m.d.comb += res.done.eq(1)
        acc_after = Mux(t.stop | t.done, 0, total)
        fiber_after = Mux(t.done | (t.stop & (t.lvl != 0)), 0,
                          Mux(t.stop, (fiber + 1)[:cfg.coord_width], fiber))
        return res, acc_after, fiber_after, t.stop | t.done

    res_in, acc_in, fiber_in, emits_in = after(sh_acc, sh_fiber, tok, "in")
    with m.If(accept):
        m.d.sync += [sh_acc.eq(acc_in), sh_fiber.eq(fiber_in)]

    depth_q = 4
    q_n = Signal(range(depth_q + 1))
    q = [Signal(result, name=f"res{i}") for i in range(depth_q)]
    push = accept & emits_in
    m.d.comb += [
        # out: every output token is the next result owed, exactly.
        Assert(~out_xfer | ((q_n != 0) & (dut.out.payload.as_value() == q[0].as_value()))),
        Assert(~(push & ~out_xfer & (q_n == depth_q))),   # bounded latency
    ]
    shifted = q[1:] + [q[-1]]
    for i in range(depth_q):
        src = Mux(out_xfer, shifted[i].as_value(), q[i].as_value())
        slot = Mux(out_xfer, q_n - 1, q_n)
        with m.If(push & (slot == i)):
            m.d.sync += q[i].as_value().eq(res_in.as_value())
        with m.Else():
            m.d.sync += q[i].as_value().eq(src)
    m.d.sync += q_n.eq(q_n + push - out_xfer)

    # Counters.
    events = {
        "busy": accept,
        "macs": accept & _issued(tok),
        "zeros": accept & tok.data & ~_issued(tok),
        "stalls": dut.inp.valid & ~dut.inp.ready & ~rst,
    }
    for name, event in events.items():
        shadow = Signal(cfg.counter_width, name=f"sh_{name}")
        with m.If(dut.clear):
            m.d.sync += shadow.eq(0)
        with m.Elif(event):
            m.d.sync += shadow.eq(shadow + 1)
        m.d.comb += Assert(getattr(dut, name) == shadow)     # counts its events

    # Zero skipping, at the multiplier: its operand registers hold the last issued pair's
    # operands (so they never load a zero or absent pair), an issue in stage 1 is always a
    # pair the spec issues, and the product register changes only after one.
    s1_valid, s1_issue, s1_ctl = inner.s1_valid, inner.s1_issue, inner.s1_ctl
    s1_a, s1_b, s2_prod = inner.s1_a, inner.s1_b, inner.s2_prod
    last_a, last_b = Signal(signed(w)), Signal(signed(w))
    with m.If(accept & _issued(tok)):
        m.d.sync += [last_a.eq(tok.val[0]), last_b.eq(tok.val[1])]
    hold = dut.out.valid & ~dut.out.ready
    prod_may_load = Signal()
    prev_prod = Signal(signed(2 * w))
    m.d.sync += [prod_may_load.eq(s1_valid & _issued(s1_ctl) & ~hold), prev_prod.eq(s2_prod)]
    m.d.comb += [
        Assert((s1_a == last_a) & (s1_b == last_b)),
        Assert(~s1_issue | (s1_valid & _issued(s1_ctl))),
        Assert(prod_may_load | (s2_prod == prev_prod) | rst),
        Cover(out_xfer & dut.out.payload.data & (dut.out.payload.val[0] != 0) &
              (dut.macs == 2)),                              # a result of two products
        Cover(accept & overflows[0]),                        # the accumulator overflows
        Cover(out_xfer & dut.out.payload.done),              # a stream completes
    ]
    if not helpers:
        return m, [], _MAC_DEPTH

    # helper: a mirror of the pipeline (stages advance when out is not held) relates the
    # unit's registers to the accepted tokens: stage registers, issue flags, product, and the
    # accumulator and fiber index behind the tokens still in flight.
    h1v, h2v = Signal(), Signal()
    h1, h2 = Signal(TokenLayout(cfg, 2)), Signal(TokenLayout(cfg, 2))
    with m.If(~hold):
        m.d.sync += [h1v.eq(accept), h1.eq(tok), h2v.eq(h1v), h2.eq(h1)]
    s2_valid, s2_issue, s2_ctl = inner.s2_valid, inner.s2_issue, inner.s2_ctl
    acc, fiber = inner.acc, inner.fiber
    r2, acc2, fiber2, e2 = after(acc, fiber, h2, "h2")
    r2 = Mux(h2v, r2.as_value(), 0)
    acc2, fiber2, e2 = Mux(h2v, acc2, acc), Mux(h2v, fiber2, fiber), h2v & e2
    r1, acc1, fiber1, e1 = after(acc2, fiber2, h1, "h1")
    acc1, fiber1, e1 = Mux(h1v, acc1, acc2), Mux(h1v, fiber1, fiber2), h1v & e1
    owed = [(dut.out.valid, dut.out.payload.as_value()), (e2, r2), (e1, r1.as_value())]
    m.d.comb += [
        Assert(s1_valid == h1v), Assert(s2_valid == h2v),
        Assert(~h1v | _one_kind(h1)), Assert(~h2v | _one_kind(h2)),
        Assert(~h1v | (s1_ctl.as_value() == h1.as_value())),
        Assert(~h2v | (s2_ctl.as_value() == h2.as_value())),
        Assert(s1_issue == (h1v & _issued(h1))), Assert(s2_issue == (h2v & _issued(h2))),
        Assert(~s1_issue | ((s1_a == h1.val[0]) & (s1_b == h1.val[1]))),
        Assert(~s2_issue | (s2_prod == h2.val[0] * h2.val[1])),
        Assert((sh_acc == acc1) & (sh_fiber == fiber1)),
        Assert(q_n == sum(p for p, _ in owed)),
    ]
    # the results owed, in order: the output register, then stage 2, then stage 1.
    for j in range(3):
        expect = 0
        for combo in range(8):
            present = [(combo >> i) & 1 for i in range(3)]
            if sum(present) <= j:
                continue
            which = [i for i in range(3) if present[i]][j]
            cond = 1
            for i in range(3):
                cond = cond & (owed[i][0] if present[i] else ~owed[i][0])
            expect = Mux(cond, owed[which][1], expect)
        m.d.comb += Assert(~(q_n > j) | (q[j].as_value() == expect))
    return m, [], _MAC_DEPTH


_MAC_DEPTH = 6


# CompressedScanner ----------------------------------------------------------------------------

#: Jobs whose DONE has not left the scanner yet: at most 3 (a job is started once the previous
#: one's DONE is issued, at most 4 tokens are in flight, and a job is at least 2 tokens).
_SCAN_JOBS = 3


class _TappedSyncFIFO(SyncFIFO):
    """A :class:`SyncFIFO` that also shows what it holds: ``taps[a]`` is the word at address
    ``a`` of its storage (one asynchronous read port per address, driving nothing in the
    FIFO), ``produce`` / ``consume`` its write and read pointers (the addresses of its own
    write port and read port)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        storage = m.submodules.storage
        (w_port,), (r_port,) = storage.write_ports, storage.read_ports
        self.produce, self.consume = w_port.addr, r_port.addr
        self.taps = []
        for addr in range(self.depth):
            port = storage.read_port(domain="comb")
            m.d.comb += port.addr.eq(addr)
            self.taps.append(port.data)
        return m


def _job_layout(cfg):
    aw = cfg.spm_addr_width
    return data.StructLayout({"pos_base": aw, "crd_base": aw, "rows": aw + 1,
                              "level": cfg.level_width, "repeat": 1})


def scanner_spec(cfg, k=1, mutant=None, *, helpers=True):
    """:class:`CompressedScanner`: a job's token stream is its CSR level, fiber by fiber.

    The scratchpad is abstracted to one **watched fiber** and one **watched entry**, both
    ``AnyConst``: pointer index ``wp`` holds ``P0`` and ``wp + 1`` holds ``P1 >= P0`` (a CSR
    level's pointers do not decrease), the entry at offset ``we`` from ``crd_base`` holds the
    word ``D``; every other word reads as ``AnySeq``, anew at each read (so nothing is assumed
    of it, and the scanner may rely on nothing it did not read where the spec says). Reads
    answer one cycle after ``en``, and only those of the job being scanned are modelled (the
    memory may change between jobs). Fiber ``wf`` of a job is watched when its bounds are that
    pair: ``wf = wp`` (``wf = any``, ``wp = 0`` with ``repeat``). As the watched indices are
    arbitrary, every fiber and entry of every job is covered. Jobs are started by ``start`` at
    any time (ignored while ``busy``), with any parameters; they may overlap in flight.

    * out: the stream protocol (valid and payload held until ready, under any ready);
    * out: each token is exactly one of data / bare stop / DONE; row ``i < rows`` is one fiber
      (a job of no rows: one empty fiber); its stop carries the job's ``level`` on the last
      fiber, 0 before; DONE follows the last fiber, exactly once; nothing comes without a job;
    * out, watched fiber: exactly ``P1 - P0`` data tokens, the stop on the last (a bare stop
      for an empty fiber, and only then); data token ``j`` is the entry at
      ``crd_base + P0 + j``: when that is the watched entry, it carries ``D``'s coordinate and
      value (``has`` set);
    * memory: reads only for a job (while ``busy``);
    * busy: high from the cycle after an accepted ``start``; falls in the cycle after DONE is
      issued (handed to the output stage); no token is issued while it is low.

    The harness keeps a queue of the jobs whose DONE has not left (``job0`` at the output) and
    the position ``(o_r, o_j)`` (fiber, data token) the output has reached in ``job0``.
    """
    m = Module()
    rst = _reset_first_cycle(m)
    dut = variant(CompressedScanner, mutant)(cfg)
    dut.fifo_type = _TappedSyncFIFO
    m.submodules.dut = Fragment.get(dut, None)
    inner = dut.state
    aw, vw = cfg.spm_addr_width, cfg.value_width
    pw = aw + 1                                     # a pointer, a row count
    NJ = _SCAN_JOBS
    busy = dut.busy

    # Jobs: any parameters, any time; the queue of those not finished at the output.
    for name in ("start", "level", "pos_base", "crd_base", "rows", "repeat"):
        port = getattr(dut, name)
        m.d.comb += port.eq(AnySeq(len(port)))
    start = Signal()
    m.d.comb += start.eq(dut.start & ~busy & ~rst)
    jobs = [Signal(_job_layout(cfg), name=f"job{i}") for i in range(NJ)]
    n_jobs = Signal(range(NJ + 1))

    def job(q):
        return SimpleNamespace(**{f: Array(getattr(j, f) for j in jobs)[q] for f in
                                  ("pos_base", "crd_base", "rows", "level", "repeat")})

    T = job(n_jobs - 1)                             # the newest job: scanned while busy

    # The watched fiber and entry.
    wp, wf = Signal(pw, name="wp"), Signal(pw, name="wf")      # pointer pair, fiber
    P0, P1 = Signal(pw, name="P0"), Signal(pw, name="P1")      # pos[wp], pos[wp + 1]
    we = Signal(aw, name="we")                                  # entry crd_base + we
    D = Signal(EntryLayout(cfg), name="D")                      # holds D
    L = Signal(pw, name="L")                                    # the watched fiber's length
    m.d.comb += [s.eq(AnyConst(len(s))) for s in (wp, wf, P0, P1, we)]
    m.d.comb += [D.as_value().eq(AnyConst(len(D.as_value()))), L.eq(P1 - P0),
                 Assume(P0 <= P1)]                              # a CSR level's pointers

    def watched(jb, r):
        return (r == wf) & (r < jb.rows) & Mux(jb.repeat, wp == 0, wp == wf)

    # The memory's two read ports (data one cycle after en), for the newest job.
    def read_port(rd, name, cases):
        valid = Signal(name=f"{name}_valid")
        addr = Signal(aw, name=f"{name}_addr")
        word = Signal(cfg.word_width, name=f"{name}_word")
        m.d.sync += [valid.eq(rd.en), addr.eq(rd.addr)]
        value = AnySeq(cfg.word_width)
        for at, v in reversed(cases):
            value = Mux(addr == at, v, value)
        m.d.comb += [word.eq(value), rd.data.eq(Mux(valid, word, AnySeq(cfg.word_width)))]
        return valid, addr

    pos_valid, pos_addr = read_port(dut.pos_rd, "pos_rd", [((T.pos_base + wp)[:aw], P0),
                                                            ((T.pos_base + wp + 1)[:aw], P1)])
    crd_valid, crd_addr = read_port(dut.crd_rd, "crd_rd",
                                    [((T.crd_base + we)[:aw], D.as_value())])

    # The specification of a token ``t`` at position ``(q, r, j)``: job ``q`` of the queue,
    # its fiber ``r`` (``r = max(rows, 1)``: DONE), data token ``j`` of the fiber. ``check``
    # takes each property (the output asserts each one, on its own line; a helper all).
    def spec(t, q, r, j, check):
        jb = job(q)
        nf = Mux(jb.rows == 0, 1, jb.rows)
        w = watched(jb, r)
        # a token belongs to a started job: nothing after a job's DONE until the next job.
        check(q < n_jobs)
        # exactly one of data, bare stop, DONE; data carries its operand.
        check(_one_kind(t) & (~t.data | (t.has == 1)))
        # DONE right after the last fiber, exactly once.
        check(t.done == (r == nf))
        # the last fiber's stop carries the job's level, earlier ones level 0.
        check(~t.stop | (t.lvl == Mux(r + 1 == nf, jb.level, 0)))
        # a job of no rows: one empty fiber.
        check(~((jb.rows == 0) & (r == 0)) | (t.stop & ~t.data))
        # watched fiber: a data token only while entries are left (at most P1 - P0).
        check(~(w & t.data) | (j < L))
        # watched fiber: the stop on its (P1 - P0)-th data token; a bare stop only if empty.
        check(~(w & t.stop & t.data) | (j + 1 == L))
        check(~(w & t.stop & ~t.data) | ((j == 0) & (L == 0)))
        # watched fiber: data token j is the entry at crd_base + P0 + j (crd and value).
        check(~(w & t.data & ((P0 + j)[:aw] == we)) |
              ((t.crd == D.crd) & (t.val[0].as_unsigned() == D.val[:vw])))

    def all_of(t, q, r, j):
        conds = []
        spec(t, q, r, j, conds.append)
        return Cat(*conds).all()

    def succ(t, q, r, j):
        return (Mux(t.done, q + 1, q), Mux(t.done, 0, Mux(t.stop, r + 1, r)),
                Mux(t.done | t.stop, 0, j + 1))

    # The output: every token offered is the next one specified.
    out = dut.out
    out_xfer = _check_sink(m, out, rst)
    t = out.payload
    offer = out.valid & ~rst
    o_r, o_j = Signal(pw), Signal(pw)

    def out_check(ok):
        m.d.comb += Assert(~offer | ok, src_loc_at=1)

    spec(t, 0, o_r, o_j, out_check)
    pop = Signal()
    m.d.comb += pop.eq(out_xfer & t.done)
    with m.If(out_xfer):
        _, nr, nj = succ(t, 0, o_r, o_j)
        m.d.sync += [o_r.eq(nr), o_j.eq(nj)]
    new = Signal(_job_layout(cfg))
    m.d.comb += [new.pos_base.eq(dut.pos_base), new.crd_base.eq(dut.crd_base),
                 new.rows.eq(dut.rows), new.level.eq(dut.level), new.repeat.eq(dut.repeat)]
    for i in range(NJ):
        with m.If(start & (n_jobs - pop == i)):
            m.d.sync += jobs[i].eq(new)
        with m.Elif(pop):
            m.d.sync += jobs[i].eq(jobs[min(i + 1, NJ - 1)])
    m.d.sync += n_jobs.eq(n_jobs + start - pop)
    m.d.comb += Assert(~(start & ~pop & (n_jobs == NJ)))        # jobs in flight bounded

    # memory: read only for a job.
    m.d.comb += Assert(busy | ~(dut.pos_rd.en | dut.crd_rd.en))

    # busy: from the cycle after start until DONE is issued; nothing is issued without it.
    issue = dut.issue
    s1_valid = issue.s1_valid
    busy_prev, start_prev = Signal(), Signal()
    m.d.sync += [busy_prev.eq(busy), start_prev.eq(start)]
    m.d.comb += [
        Assert(~start_prev | busy),                                 # rises after start
        Assert(~(busy_prev & ~busy) | (s1_valid & issue.s1.done)),  # falls: DONE just issued
        Assert(~(s1_valid & issue.s1.done) | ~busy),                # ... and then it falls
        Assert(busy_prev | ~s1_valid),                              # no issue without it
    ]

    # Covers.
    w_seen, w_hit = Signal(), Signal()              # the watched fiber / entry left
    saw_empty, saw_data = Signal(), Signal()        # in the job at the output
    w_out = out_xfer & watched(job(0), o_r)
    with m.If(pop):
        m.d.sync += [saw_empty.eq(0), saw_data.eq(0), w_seen.eq(0), w_hit.eq(0)]
    with m.Elif(out_xfer):
        m.d.sync += [saw_empty.eq(saw_empty | (t.stop & ~t.data)),
                     saw_data.eq(saw_data | t.data),
                     w_seen.eq(w_seen | (w_out & t.stop)),
                     w_hit.eq(w_hit | (w_out & t.data & ((P0 + o_j)[:aw] == we)))]
    m.d.comb += [
        Cover(pop & saw_empty & saw_data & (job(0).rows == 3)),   # a job with an empty row
        Cover(pop & job(0).repeat & (job(0).rows == 2) & saw_data & w_seen),   # repeat
        Cover(w_out & t.stop & (o_j == 2) & w_hit),                # watched fiber of 3 entries
        Cover(start & (n_jobs == 2)),                              # jobs overlap in flight
    ]
    if not helpers:
        return m, [], _SCAN_BMC_DEPTH
    # helper: positions. The output FIFO and then the issue stage hold the next tokens of the
    # specified stream (each at the position its predecessors lead to, and as specified
    # there), and the scanner's state is where the stream continues in the newest job (the
    # row being streamed, the bounds queue, the pointer prefetch); with busy low, every queued
    # job is issued up to its DONE.
    fifo, bounds = issue.fifo, dut.bounds
    layout = TokenLayout(cfg, 1)
    empty, finished = inner.empty, inner.finished
    cur_valid, cur_addr, cur_end, cur_last = (inner.cur_valid, inner.cur_addr, inner.cur_end,
                                              inner.cur_last)
    for f in (fifo, bounds):                        # helper: the FIFOs' pointers and level
        m.d.comb += [Assert(f.level <= 4),
                     Assert((f.produce - f.consume)[:2] == f.level[:2])]
    m.d.comb += Assert(fifo.level + s1_valid <= 4)

    def valid_position(q, r, j):
        jb = job(q)
        nf = Mux(jb.rows == 0, 1, jb.rows)
        return ((r <= nf) & (~(r == nf) | (j == 0)) &
                (~watched(jb, r) | (j < L) | (j == 0)))

    def position(q, r, j, name):
        sig = (Signal(range(NJ + 2), name=f"{name}_q"), Signal(pw, name=f"{name}_r"),
               Signal(pw, name=f"{name}_j"))
        m.d.comb += [s.eq(v) for s, v in zip(sig, (q, r, j))]
        return sig

    taps, consume = fifo.taps, fifo.consume
    chain = [position(0, o_r, o_j, "g0")]
    m.d.comb += [Assert((n_jobs != 0) | ((o_r == 0) & (o_j == 0))),
                 Assert((n_jobs == 0) | valid_position(*chain[0]))]
    for i in range(4):
        tok = Signal(layout, name=f"fifo{i}")
        m.d.comb += tok.as_value().eq(Array(taps)[(consume + i)[:2]])
        m.d.comb += Assert(~(i < fifo.level) | all_of(tok, *chain[i]))
        chain.append(position(*succ(tok, *chain[i]), f"g{i + 1}"))
    at_s1 = [Array(c[n] for c in chain)[fifo.level] for n in range(3)]
    s1_tok = data.View(layout, fifo.w_data)
    g_s1 = position(*at_s1, "g_s1")
    m.d.comb += Assert(~s1_valid | all_of(s1_tok, *g_s1))
    gq, gr, gj = position(*(Mux(s1_valid, a, b) for a, b in zip(succ(s1_tok, *g_s1), g_s1)),
                          "g_issue")
    # helper: the issue stage's read: the watched fiber's entries at crd_base + P0 + j.
    m.d.comb += Assert(~(s1_valid & s1_tok.data & watched(job(g_s1[0]), g_s1[1])) |
                       (issue.s1_mem_crd & crd_valid &
                        (crd_addr == (T.crd_base + P0 + g_s1[2])[:aw])))

    # helper: the scanner's state, where the stream continues in the newest job.
    g_pop = Signal(range(2 ** pw + 1))              # rows taken from the bounds queue
    with m.If(start):
        m.d.sync += g_pop.eq(0)
    with m.Elif(bounds.r_en & bounds.r_rdy):
        m.d.sync += g_pop.eq(g_pop + 1)
    m.d.comb += [
        Assert(~busy | (n_jobs != 0)),
        Assert(~busy | ((inner.pos_base == T.pos_base) & (inner.crd_base == T.crd_base) &
                        (inner.rows == T.rows) & (inner.level == T.level) &
                        (inner.repeat == T.repeat))),
        Assert(empty + finished + cur_valid <= 1),
        Assert(busy | ~(empty | finished | cur_valid)),
        Assert(~(busy & empty) | (T.rows == 0)),
        Assert(~busy | (g_pop <= T.rows)),
        Assert(~busy | ((gq == n_jobs - 1) & valid_position(gq, gr, gj))),
        Assert(busy | ((gq == n_jobs) & (gr == 0) & (gj == 0))),
        Assert(~(busy & empty) | ((gr == 0) & (gj == 0))),
        Assert(~(busy & finished) | ((gr == Mux(T.rows == 0, 1, T.rows)) & (gj == 0))),
        Assert(~(busy & cur_valid) | ((gr + 1 == g_pop) & (cur_last == (gr + 1 == T.rows)))),
        Assert(~(busy & cur_valid & watched(T, gr)) |
               ((cur_addr == (P0 + gj)[:pw]) & (cur_end == P1))),
        Assert(~(busy & ~cur_valid & ~finished & ~empty) |
               ((gr == g_pop) & (gj == 0) & (gr < T.rows))),
    ]

    # helper: the bounds queue (row g_pop + i, its last flag, the watched row's bounds) and
    # the pointer prefetch (pointers read and used, the last one kept, the read in flight).
    p_next, p_inflight, p_prev, p_end = inner.p_next, inner.p_inflight, inner.p_prev, inner.p_end
    p_have_prev, p_active = inner.p_have_prev, inner.p_active
    rep_ready, rep_count = inner.rep_ready, inner.rep_count
    recv = Signal(pw + 1)                           # pointers read and used
    m.d.comb += recv.eq(p_next - p_inflight)
    bl = bounds.level
    live = busy & (T.rows != 0)
    rows_mode, rep_mode = live & ~T.repeat, live & T.repeat
    idle = ~p_active & ~p_inflight & (bl == 0) & ~(rep_ready & (rep_count < inner.rows))
    last_read = (recv - 1)[:aw]                     # pos index of p_prev, modulo the bank
    m.d.comb += [
        Assert(~(busy & (T.rows == 0)) | (idle & (g_pop == 0) & ~rep_ready)),
        Assert(busy | idle),
        Assert(~live | p_active),
        Assert(~live | ~p_inflight | (p_next != 0)),
        Assert(~live | (p_have_prev == (recv != 0))),
        Assert(~live | ~p_inflight |
               (pos_valid & (pos_addr == (T.pos_base + p_next - 1)[:aw]))),
        Assert(~live | (bl + p_inflight <= 4)),
        Assert(~(busy & finished & (T.rows != 0)) | (g_pop == T.rows)),
        Assert(~rows_mode | (p_next <= T.rows + 1)),
        Assert(~rows_mode | ~p_have_prev | (g_pop + bl == recv - 1)),
        Assert(~rows_mode | p_have_prev | ((g_pop == 0) & (bl == 0))),
        Assert(~(rows_mode & p_have_prev & (last_read == wp[:aw])) | (p_prev == P0)),
        Assert(~(rows_mode & p_have_prev & (last_read == (wp + 1)[:aw])) | (p_prev == P1)),
        Assert(~rows_mode | ~rep_ready),
        Assert(~rep_mode | (p_next <= 2)),
        Assert(~(rep_mode & p_have_prev & (wp == 0)) | (p_prev == P0)),
        Assert(~rep_mode | (rep_ready == (recv == 2))),
        Assert(~(rep_mode & rep_ready & (wp == 0)) | (p_end == P1)),
        Assert(~rep_mode | (rep_count == g_pop + bl)),
        Assert(~rep_mode | rep_ready | (rep_count == 0)),
        Assert(~rep_mode | (rep_count <= T.rows)),
    ]
    btaps, bconsume = bounds.taps, bounds.consume
    for i in range(4):
        row = g_pop + i
        entry = Array(btaps)[(bconsume + i)[:2]]
        held = live & (i < bl)
        m.d.comb += [
            Assert(~held | (entry[-1] == (row + 1 == T.rows))),
            Assert(~(held & watched(T, row)) | (entry[:2 * pw] == Cat(P0, P1))),
        ]
    return m, [], _SCAN_DEPTH


#: Induction depth of the scanner proof, and the BMC depth of its mutant (a row of two
#: entries reaches the output 8 cycles after start).
_SCAN_DEPTH = 8
_SCAN_BMC_DEPTH = 12


# Registry -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    """One formal run: ``spec(cfg, k, mutant=mutant)`` must pass (or, for a mutant, fail)."""
    name: str
    unit: str
    spec: object
    k: int
    props: str
    cfg_changes: dict = field(default_factory=dict)
    mutant: str | None = None
    #: Helper invariants are for induction; a mutant runs without them, so that its
    #: counterexample names a property of the specification rather than a helper.
    helpers: bool | None = None
    #: Depth of the cover run (default: the proof's depth).
    cover_depth: int | None = None

    @property
    def expect_pass(self) -> bool:
        return self.mutant is None

    def build(self):
        cfg = formal_config(self.k, **self.cfg_changes)
        helpers = self.expect_pass if self.helpers is None else self.helpers
        return self.spec(cfg, self.k, mutant=self.mutant, helpers=helpers)


_WINDOW_PROPS = "fifo order/content, count, no overflow, no bubbles"
_MAC_CFG = dict(value_width=3, acc_width=6)
_MAC_PROPS = ("stream, results = shadow accumulator (wrap/saturate, relu, crd, levels), "
              "done, zero skipping at the multiplier, counters, covers")
_JOIN_PROPS = ("stream, token protocol, order, watched crd in<->out, values, stops 1:1 "
               "in order with level, done, bounded response, covers")
_SCAN_PROPS = ("stream, token kinds, one fiber per row (rows, repeat, empty job), stop "
               "levels, DONE once after the last; watched fiber: pos[i+1]-pos[i] data tokens, "
               "token j = entry crd_base+pos[i]+j; reads only when busy; busy; covers")

PROOFS = [
    *(Proof(f"window_k{k}", "TokenWindow", window_spec, k, _WINDOW_PROPS) for k in (1, 2, 4)),
    Proof("window_k2_ready_late", "TokenWindow", window_spec, 2, _WINDOW_PROPS,
          mutant="ready_late"),
    *(Proof(f"intersector_k{k}", "Intersector", intersector_spec, k, _JOIN_PROPS,
            cover_depth=2 * k + 6) for k in (1, 2, 4)),
    Proof("intersector_k2_skip_le", "Intersector", intersector_spec, 2, _JOIN_PROPS,
          mutant="skip_le"),
    *(Proof(f"unioner_k{k}", "Unioner", unioner_spec, k, _JOIN_PROPS, cover_depth=8)
      for k in (1, 2, 4)),
    Proof("unioner_k2_tie_lt", "Unioner", unioner_spec, 2, _JOIN_PROPS, mutant="tie_lt"),
    Proof("unioner_k2_absent_val", "Unioner", unioner_spec, 2, _JOIN_PROPS,
          mutant="absent_val"),
    *(Proof(f"maclane_{ov}", "MACLane", mac_spec, 1, _MAC_PROPS, _MAC_CFG | dict(overflow=ov))
      for ov in ("wrap", "saturate")),
    Proof("maclane_wrap_issue_zero", "MACLane", mac_spec, 1, _MAC_PROPS,
          _MAC_CFG | dict(overflow="wrap"), mutant="issue_zero"),
    Proof("scanner_csr", "CompressedScanner", scanner_spec, 1, _SCAN_PROPS,
          cover_depth=12),
    Proof("scanner_csr_last_off_by_one", "CompressedScanner", scanner_spec, 1,
          _SCAN_PROPS, mutant="last_off_by_one"),
]
