"""The result stage: per-row integer requantization on the broadcast bus (``OUT_MODE`` bit 3).

Broadcast results cross one bus (a write a cycle into every vector bank,
:class:`~zerohero.hw.accelerator.Accelerator`), so one stage on that bus serves every lane.
Each write's entry value (an accumulator) leaves as
``clamp(((acc * m + (2**s >> 1)) >> s) + z, lo, hi)``: ``m`` (unsigned), ``s`` and ``z`` from
the table word the write names (its row's: the layout is :func:`zerohero.spec.memory.pack_rq`),
``lo`` and ``hi`` from the job (``RQ_LO``, ``RQ_HI``). The product is exact and the shift
arithmetic, so this is round half up of ``acc * m / 2**s``, bit for bit
:func:`zerohero.model.requantize`. A write without ``rq`` passes unchanged.

Pipeline: the write and its table read (s1), the product (s2), shift, offset and clamp
(``out``): three cycles of latency, one write a cycle. Every stage holds while ``out`` waits
(``hold``: the banks' write ports are taken); the table's read port is enabled only when s1
advances, so its read register holds s1's word.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from zerohero.spec.isa import IMM_WIDTH
from zerohero.spec.memory import RQ_MULT_BITS, RQ_SHIFT_BITS, rq_zero_bits

from .memory import EntryLayout, ReadPortSignature

__all__ = ["ResultStage", "BusWriteLayout"]


class BusWriteLayout(data.StructLayout):
    """A broadcast write: where it goes, the entry, and its row's table word (``rq``: to be
    requantized)."""

    def __init__(self, cfg):
        super().__init__({"addr": cfg.spm_addr_width, "entry": EntryLayout(cfg),
                          "table": cfg.spm_addr_width, "rq": 1})


class ResultStage(wiring.Component):
    """Ports: ``inp`` (``valid``, ``payload``: a :class:`BusWriteLayout`; taken when
    ``ready``), ``out`` (``valid``, ``payload``: the write, requantized), ``hold`` (``out`` is
    not taken this cycle); ``lo``/``hi`` (signed bounds, ``hi >= lo``); ``rd``: the read port
    of the bank that holds the table; ``busy``: a write is in the pipeline."""

    def __init__(self, cfg):
        self.cfg = cfg
        layout = BusWriteLayout(cfg)
        super().__init__({
            "inp_valid": In(1), "inp": In(layout), "inp_ready": Out(1),
            "out_valid": Out(1), "out": Out(layout), "hold": In(1),
            "lo": In(signed(IMM_WIDTH)), "hi": In(signed(IMM_WIDTH)),
            "rd": Out(ReadPortSignature(cfg)), "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        layout = BusWriteLayout(cfg)
        go = Signal()
        m.d.comb += [go.eq(~(self.out_valid & self.hold)), self.inp_ready.eq(go)]
        take = self.inp_valid & go
        m.d.comb += [self.rd.addr.eq(self.inp.table), self.rd.en.eq(take & self.inp.rq)]

        s1_valid, s1 = Signal(name="s1_valid"), Signal(layout, name="s1")
        s2_valid, s2 = Signal(name="s2_valid"), Signal(layout, name="s2")
        m.d.comb += self.busy.eq(s1_valid | s2_valid | self.out_valid)
        # acc (signed, aw bits) times m (unsigned): exact in pw = aw + RQ_MULT_BITS bits, and
        # above -2**(pw - 1), so every shift from pw on rounds it to 0, as pw itself does: the
        # shift saturates at pw, which keeps the adders pw + 1 bits wide for any table word.
        pw = cfg.acc_width + RQ_MULT_BITS
        prod = Signal(signed(pw), name="product")
        shift = Signal(range(pw + 1))
        zbits = rq_zero_bits(cfg)
        zero = Signal(signed(zbits))
        word = self.rd.data
        s = word[RQ_MULT_BITS:RQ_MULT_BITS + RQ_SHIFT_BITS]
        with m.If(go):
            m.d.sync += [s1_valid.eq(take), s1.eq(self.inp),
                         s2_valid.eq(s1_valid), s2.eq(s1),
                         prod.eq(s1.entry.val * word[:RQ_MULT_BITS]),
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
            m.d.sync += [self.out_valid.eq(s2_valid), self.out.eq(s2)]
            with m.If(s2.rq):
                m.d.sync += self.out.entry.val.eq(clamped)
        return m
