"""The result stage: per-row integer requantization of a lane's results (``OUT_MODE`` bit 3).

Each data token's value (an accumulator) leaves as
``clamp(((acc * m + (2**s >> 1)) >> s) + z, lo, hi)``: ``m`` (unsigned), ``s`` and ``z`` from
word ``n`` of the job's table for its ``n``-th result (the layout is
:func:`zerohero.spec.memory.pack_rq`), ``lo`` and ``hi`` from the job (``RQ_LO``, ``RQ_HI``).
The product is exact and the shift arithmetic, so this is round half up of ``acc * m / 2**s``,
bit for bit :func:`zerohero.model.requantize`. Other tokens (stops, DONE) pass unchanged.

Pipeline: the token and the table read (s1), the product (s2), shift, offset and clamp (out):
three cycles of latency, one token a cycle; every stage holds while ``out`` waits, and the
table's read port is enabled only when s1 advances, so its read register holds s1's word.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zerohero.spec.isa import IMM_WIDTH
from zerohero.spec.memory import RQ_MULT_BITS, RQ_SHIFT_BITS, rq_zero_bits

from .memory import ReadPortSignature
from .protocol import TokenLayout, token_stream

__all__ = ["ResultStage"]


class ResultStage(wiring.Component):
    """Ports: ``inp``/``out`` result streams (``acc_width`` values); ``start`` (restarts the
    row count), ``table`` (the table's base), ``lo``/``hi`` (signed bounds, ``hi >= lo``);
    ``rd``: the read port of the bank that holds the table."""

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "inp": In(token_stream(cfg, 1, value_width=cfg.acc_width)),
            "out": Out(token_stream(cfg, 1, value_width=cfg.acc_width)),
            "start": In(1), "table": In(cfg.spm_addr_width),
            "lo": In(signed(IMM_WIDTH)), "hi": In(signed(IMM_WIDTH)),
            "rd": Out(ReadPortSignature(cfg)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        aw = cfg.acc_width
        layout = TokenLayout(cfg, 1, value_width=aw)
        n = Signal(cfg.spm_addr_width, name="row")
        go = Signal()
        m.d.comb += [go.eq(~self.out.valid | self.out.ready), self.inp.ready.eq(go)]
        take = self.inp.valid & go
        m.d.comb += [self.rd.addr.eq(self.table + n), self.rd.en.eq(take & self.inp.p.data)]
        with m.If(self.start):
            m.d.sync += n.eq(0)
        with m.Elif(take & self.inp.p.data):
            m.d.sync += n.eq(n + 1)

        s1_valid, s1 = Signal(name="s1_valid"), Signal(layout, name="s1")
        s2_valid, s2 = Signal(name="s2_valid"), Signal(layout, name="s2")
        # acc (signed, aw bits) times m (unsigned): exact in pw = aw + RQ_MULT_BITS bits, and
        # above -2**(pw - 1), so every shift from pw on rounds it to 0, as pw itself does: the
        # shift saturates at pw, which keeps the adders pw + 1 bits wide for any table word.
        pw = aw + RQ_MULT_BITS
        prod = Signal(signed(pw), name="product")
        shift = Signal(range(pw + 1))
        zbits = rq_zero_bits(cfg)
        zero = Signal(signed(zbits))
        word = self.rd.data
        s = word[RQ_MULT_BITS:RQ_MULT_BITS + RQ_SHIFT_BITS]
        with m.If(go):
            m.d.sync += [s1_valid.eq(self.inp.valid), s1.eq(self.inp.p),
                         s2_valid.eq(s1_valid), s2.eq(s1),
                         prod.eq(s1.val[0] * word[:RQ_MULT_BITS]),
                         shift.eq(Mux(s > pw, pw, s)),
                         zero.eq(word[RQ_MULT_BITS + RQ_SHIFT_BITS:].as_signed())]

        # Round half up: add half of the last kept unit (none when s = 0), shift arithmetic.
        half = Signal(pw)
        rounded = Signal(signed(pw + 1))
        scaled = Signal(signed(max(pw + 1, zbits) + 1))
        m.d.comb += [half.eq((1 << shift) >> 1), rounded.eq(prod + half),
                     scaled.eq((rounded >> shift) + zero)]
        clamped = Mux(scaled < self.lo, self.lo, Mux(scaled > self.hi, self.hi, scaled))
        with m.If(go):
            m.d.sync += [self.out.valid.eq(s2_valid), self.out.p.eq(s2)]
            with m.If(s2.data):
                m.d.sync += self.out.p.val[0].eq(clamped)
        return m
