"""Zero-skipping processing elements: the :class:`MACLane`."""

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zerohero.spec.config import COUNTER_NAMES
from .protocol import TokenLayout, token_stream

__all__ = ["MACLane", "counter_names"]

#: Per-lane performance counters, in register-map order.
counter_names = COUNTER_NAMES


class MACLane(wiring.Component):
    """One PE: multiply-accumulates operand pairs per fiber, one result per fiber.

    ``inp`` carries two-operand tokens (an intersector's output, or dense pairs). A data token
    whose operands are both present and non-zero is *issued*: its product enters the
    accumulator. A zero (or absent) operand is detected and not issued (the multiplier is not
    enabled) and counted in ``zeros``. Products are exact; the accumulator (``acc_width`` bits)
    wraps or saturates at every addition as the config says, in stream order.

    At a level-``L`` stop the lane emits the fiber's result (``max(acc, 0)`` when ``relu``) as a
    data token of width ``acc_width`` whose ``crd`` is the fiber's index within its level-1
    fiber; a stop at ``L >= 1`` becomes a stop at ``L - 1`` riding on that result. ``done``
    passes through. So a matrix's row stream becomes its result vector's stream.

    ``mode`` (0 unless set) selects the elementwise modes instead: 1 emits, for every data
    token, the product of its operands (0 when one is zero or absent, which is not issued),
    2 their sum (absent operands read 0; every data token is issued); the result keeps the
    token's ``crd``, stops and DONE pass through unchanged, and nothing accumulates. Products
    and sums of two values always fit ``acc_width``, so no overflow handling is needed.

    Pipeline: operands registered (s1), product registered (s2), accumulate: 3 cycles of
    latency, one token per cycle; the whole pipe holds while ``out`` is full and not ready.
    Counters (``counter_width`` bits, cleared by ``clear``): ``busy`` tokens accepted, ``macs``
    products issued, ``zeros`` data tokens skipped for a zero/absent operand, ``stalls`` cycles
    with an input token offered but refused (output backpressure).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        members = {
            "inp": In(token_stream(cfg, 2)),
            "out": Out(token_stream(cfg, 1, value_width=cfg.acc_width)),
            "relu": In(1),
            "clear": In(1),
            "mode": In(2),
        }
        for name in counter_names:
            members[name] = Out(cfg.counter_width)
        super().__init__(members)

    def _issues(self, tok):
        """An accumulating mode issues a data token to the multiplier when both operands are
        present and non-zero (a zero product adds nothing)."""
        return tok.data & tok.has[0] & tok.has[1] & (tok.val[0] != 0) & (tok.val[1] != 0)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        w, aw = cfg.value_width, cfg.acc_width

        hold = self.out.valid & ~self.out.ready
        m.d.comb += self.inp.ready.eq(~hold)
        accept = self.inp.valid & self.inp.ready
        tok = self.inp.p

        # s1: registered operands and control.
        s1_valid, s1_issue = Signal(), Signal()
        s1_a, s1_b = Signal(signed(w)), Signal(signed(w))
        s1_ctl = Signal(TokenLayout(cfg, 2))
        # s2: registered product.
        s2_valid, s2_issue = Signal(), Signal()
        s2_prod = Signal(signed(2 * w))
        s2_ctl = Signal(TokenLayout(cfg, 2))

        issue = self._issues(tok)
        ew_add = self.mode == 2
        ew = self.mode != 0
        issue = Mux(ew_add, tok.data, issue)
        with m.If(~hold):
            m.d.sync += [
                s1_valid.eq(accept),
                s1_issue.eq(accept & issue),
                s1_ctl.eq(tok),
                s2_valid.eq(s1_valid),
                s2_issue.eq(s1_issue),
                s2_ctl.eq(s1_ctl),
            ]
            # The multiplier only sees new operands for issued pairs (clock-enable style).
            with m.If(accept & issue):
                m.d.sync += [s1_a.eq(tok.val[0]), s1_b.eq(tok.val[1])]
            with m.If(s1_issue):
                m.d.sync += s2_prod.eq(Mux(ew_add, s1_a + s1_b, s1_a * s1_b))

        # Accumulate.
        acc = Signal(signed(aw))
        addend = Mux(s2_issue, s2_prod, 0)
        total = Signal(signed(aw + 1))
        m.d.comb += total.eq(acc + addend)
        acc_next = Signal(signed(aw))
        if cfg.overflow == "saturate":
            m.d.comb += acc_next.eq(Mux(total > cfg.acc_max, cfg.acc_max,
                                        Mux(total < cfg.acc_min, cfg.acc_min, total)))
        else:
            m.d.comb += acc_next.eq(total[:aw])

        fiber = Signal(cfg.coord_width)       # index of the current fiber in its parent
        # The registers the formal harness relates to the tokens accepted.
        self.state = SimpleNamespace(s1_valid=s1_valid, s1_issue=s1_issue, s1_ctl=s1_ctl,
                                     s1_a=s1_a, s1_b=s1_b, s2_valid=s2_valid,
                                     s2_issue=s2_issue, s2_ctl=s2_ctl, s2_prod=s2_prod,
                                     acc=acc, fiber=fiber)
        with m.If(self.out.ready):
            m.d.sync += self.out.valid.eq(0)
        ew_val = Signal(signed(aw))
        m.d.comb += ew_val.eq(Mux(s2_issue, s2_prod, 0))
        with m.If(~hold & s2_valid & ew):
            m.d.sync += [
                self.out.valid.eq(1),
                self.out.p.crd.eq(s2_ctl.crd),
                self.out.p.val[0].eq(Mux(self.relu & ew_val[-1], 0, ew_val)),
                self.out.p.has.eq(s2_ctl.data),
                self.out.p.data.eq(s2_ctl.data),
                self.out.p.stop.eq(s2_ctl.stop),
                self.out.p.lvl.eq(s2_ctl.lvl),
                self.out.p.done.eq(s2_ctl.done),
            ]
        with m.Elif(~hold & s2_valid):
            with m.If(s2_ctl.stop):
                m.d.sync += [
                    acc.eq(0),
                    fiber.eq(Mux(s2_ctl.lvl != 0, 0, fiber + 1)),
                    self.out.valid.eq(1),
                    self.out.p.crd.eq(fiber),
                    self.out.p.val[0].eq(Mux(self.relu & acc_next[-1], 0, acc_next)),
                    self.out.p.has.eq(1),
                    self.out.p.data.eq(1),
                    self.out.p.stop.eq(s2_ctl.lvl != 0),
                    self.out.p.lvl.eq(Mux(s2_ctl.lvl != 0, s2_ctl.lvl - 1, 0)),
                    self.out.p.done.eq(0),
                ]
            with m.Elif(s2_ctl.done):
                m.d.sync += [acc.eq(0), fiber.eq(0), self.out.valid.eq(1),
                             self.out.p.eq(0), self.out.p.done.eq(1)]
            with m.Else():
                m.d.sync += acc.eq(acc_next)

        # Performance counters.
        counters = {
            "busy": accept,
            "macs": accept & issue,
            "zeros": accept & tok.data & ~issue,
            "stalls": self.inp.valid & ~self.inp.ready,
        }
        for name, event in counters.items():
            reg = getattr(self, name)
            with m.If(self.clear):
                m.d.sync += reg.eq(0)
            with m.Elif(event):
                m.d.sync += reg.eq(reg + 1)
        return m
