"""The broadcast bus and its result stage: lanes' results to every vector bank (``OUT_MODE``
bit 2), requantized on the way (bit 3).

Broadcast results cross one bus, a write a cycle into every vector bank, so one stage on that
bus serves every lane. Each write's entry value (an accumulator) leaves the stage as
``clamp(((acc * m + (2**s >> 1)) >> s) + z, lo, hi)``: ``m`` (unsigned), ``s`` and ``z`` from
the table word the write names (its row's: the layout is :func:`zerohero.spec.memory.pack_rq`),
``lo`` and ``hi`` from the job (``RQ_LO``, ``RQ_HI``). The product is exact and the shift
arithmetic, so this is round half up of ``acc * m / 2**s``, bit for bit
:func:`zerohero.model.requantize`. A write without ``rq`` passes unchanged.

The bus spans the chip (a request from every lane, a write into every vector bank), so every
path that crosses it starts or ends at a register, and none crosses it twice in a cycle:

* Arbitration: a lane asks with its queue's head (``req``, registered in the lane); the lowest
  lane that asks is granted, its head taken into the bus register, and ``ack`` (a register)
  pops it a cycle later. A lane granted in one cycle is not granted in the next, when its
  ``req`` still shows the popped head.
* Credits: a grant is issued only while fewer than ``DEPTH`` writes are between a grant and the
  banks (``occ``), so the stage never waits: its output queue always has room.
* The banks' write ports: a lane's own writes to its vector bank (``own``: this cycle's
  enables, which the accelerator registers before the banks) come first; the queue's head goes
  out in the next cycle no lane writes its own bank, through the output register ``out``.

Pipeline from a grant: the bus register, the table read (s1), the table word registered (s2),
the product (s3), rounded and shifted (s4), offset and clamped (s5), the output queue,
``out``: eight cycles, one write a cycle.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from zerohero.spec.isa import IMM_WIDTH
from zerohero.spec.memory import RQ_MULT_BITS, RQ_SHIFT_BITS, rq_zero_bits

from .memory import EntryLayout, ReadPortSignature

__all__ = ["BroadcastBus", "BusWriteLayout", "DEPTH"]

#: Writes between a grant and the banks at most: the seven cycles from a grant to the output
#: queue's pop and one to spare, so that one write a cycle flows while no lane writes its own
#: bank.
DEPTH = 8


class BusWriteLayout(data.StructLayout):
    """A broadcast write: where it goes, the entry, and its row's table word (``rq``: to be
    requantized)."""

    def __init__(self, cfg):
        super().__init__({"addr": cfg.spm_addr_width, "entry": EntryLayout(cfg),
                          "table": cfg.spm_addr_width, "rq": 1})


class BroadcastBus(wiring.Component):
    """Ports: per lane ``req`` (a write is offered in ``inp[i]``) and ``ack`` (it was taken:
    pop it); ``own`` (a lane writes its own vector bank this cycle, so the bank port is
    taken in the next); ``out_valid``/``out`` (the write for every vector bank, registered);
    ``lo``/``hi`` (the job's signed bounds, ``hi >= lo``); ``rd``: the read port of the bank
    that holds the table; ``busy``: a write is on its way."""

    def __init__(self, cfg):
        self.cfg = cfg
        layout = BusWriteLayout(cfg)
        super().__init__({
            "req": In(cfg.lanes), "ack": Out(cfg.lanes), "inp": In(layout).array(cfg.lanes),
            "own": In(1), "out_valid": Out(1), "out": Out(layout),
            "lo": In(signed(IMM_WIDTH)), "hi": In(signed(IMM_WIDTH)),
            "rd": Out(ReadPortSignature(cfg)), "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        layout = BusWriteLayout(cfg)

        # Arbitration: the lowest lane that asks (x & -x), not one granted in the last cycle.
        occ = Signal(range(DEPTH + 1))
        asked = Signal(cfg.lanes)
        grant = Signal(cfg.lanes)
        m.d.comb += asked.eq(self.req & ~self.ack)
        with m.If(occ != DEPTH):
            m.d.comb += grant.eq(asked & (~asked + 1))
        # s0: the bus register; not named `bus`, the instance name, which it would hide (lint).
        s0_valid, s0 = Signal(name="s0_valid"), Signal(layout, name="s0")
        taken = 0
        for i, inp in enumerate(self.inp):
            taken = taken | Mux(grant[i], inp.as_value(), 0)
        m.d.sync += [self.ack.eq(grant), s0_valid.eq(grant.any()), s0.eq(taken)]

        # The result stage, a register after each step: s1 (the write; its table word in the
        # bank's read register), s2 (the word in a register of ours), s3 (the product), s4
        # (rounded and shifted), s5 (offset and clamped).
        m.d.comb += [self.rd.addr.eq(s0.table), self.rd.en.eq(s0_valid & s0.rq)]
        stages = [(s0_valid, s0)]
        for k in range(1, 6):
            stages.append((Signal(name=f"s{k}_valid"), Signal(layout, name=f"s{k}")))
            m.d.sync += [stages[k][0].eq(stages[k - 1][0]), stages[k][1].eq(stages[k - 1][1])]
        s2, s4, (s5_valid, s5) = stages[2][1], stages[4][1], stages[5]
        # acc (signed, aw bits) times m (unsigned): exact in pw = aw + RQ_MULT_BITS bits, and
        # above -2**(pw - 1), so every shift from pw on rounds it to 0, as pw itself does: the
        # shift saturates at pw, which keeps the adders pw + 1 bits wide for any table word.
        pw = cfg.acc_width + RQ_MULT_BITS
        zbits = rq_zero_bits(cfg)
        word = Signal.like(self.rd.data, name="table_word")
        prod = Signal(signed(pw), name="product")
        shift = Signal(range(pw + 1))
        zero, zero_q = Signal(signed(zbits), name="zero"), Signal(signed(zbits), name="zero_q")
        half, rounded = Signal(pw), Signal(signed(pw + 1))
        scaled = Signal(signed(pw + 1), name="scaled")
        s = word[RQ_MULT_BITS:RQ_MULT_BITS + RQ_SHIFT_BITS]
        m.d.sync += [word.eq(self.rd.data),
                     prod.eq(s2.entry.val * word[:RQ_MULT_BITS]),
                     shift.eq(Mux(s > pw, pw, s)),
                     zero.eq(word[RQ_MULT_BITS + RQ_SHIFT_BITS:].as_signed()),
                     zero_q.eq(zero)]
        # Round half up: add half of the last kept unit (none when s = 0), shift arithmetic.
        m.d.comb += [half.eq((1 << shift) >> 1), rounded.eq(prod + half)]
        m.d.sync += scaled.eq(rounded >> shift)
        offset = Signal(signed(max(pw + 1, zbits) + 1))
        m.d.comb += offset.eq(scaled + zero_q)
        with m.If(s4.rq):
            m.d.sync += s5.entry.val.eq(
                Mux(offset < self.lo, self.lo, Mux(offset > self.hi, self.hi, offset)))

        # The output queue never overflows: it holds at most the `occ` writes granted.
        m.submodules.queue = queue = SyncFIFO(width=layout.size, depth=DEPTH)
        pop = queue.r_rdy & ~self.own
        m.d.comb += [queue.w_en.eq(s5_valid), queue.w_data.eq(s5), queue.r_en.eq(pop)]
        m.d.sync += [self.out_valid.eq(pop), self.out.eq(queue.r_data),
                     occ.eq(occ + grant.any() - pop)]
        m.d.comb += self.busy.eq((occ != 0) | self.out_valid)
        return m
