"""The sequencer: runs firmware (:mod:`zerohero.firmware.isa`) that drives the lanes.

The host loads the program into the instruction memory (``fw_wr``) and pulses ``start``; the
sequencer executes from address 0 until ``halt`` (``done``) or an error (``error`` with
``error_code``; it halts too). One instruction a cycle, from an instruction register, while
the registered instruction memory reads the word after the next one (its address is chosen
from the memory's read data: the next word's jump, decided with the register written by the
executing word forwarded); ``wait`` holds until its lanes are idle. Words are predecoded as the
host writes them (``predecode``: the memory keeps opcode flags, the static operand checks, the
lane mask and what makes a register 1 beside the word), every register keeps its range flags
beside it, and word 0 is kept in a register for ``start``: nothing but that choice of address
is computed from the memory's read data, whose clock-to-out is most of an ECP5 cycle. The
timing is exactly the ISA golden model's (:func:`zerohero.firmware.isa.execute`).

Lane fields are written over a broadcast bus (``cfg_we``, ``cfg_lane``, ``cfg_field``,
``cfg_value``; ``cfg_load`` names the lanes the word in execution addresses, written or not);
``run`` pulses the lanes' ``run`` bits. A ``wait`` that sees no ``progress``
for ``watchdog`` cycles stops with ``WATCHDOG``; an address field beyond the bank stops with
``RANGE`` before any lane sees it. With ``status_latency`` 1 the lanes' status is registered
before the sequencer sees it (one cycle later, as the golden model has it); with
``command_latency`` n the lanes take the commands n cycles later (hw/accelerator.py). With
``predict_jumps`` the fetch takes every ``djnz`` as taken, so the address after the next word
is chosen by that word's jump flag alone (not by the register it counts, forwarded); a
``djnz`` that falls through then costs a cycle.
"""

import operator
from functools import reduce
from types import SimpleNamespace

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal
from amaranth.lib import data
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from zerohero.spec.config import WATCHDOG_WIDTH
from zerohero.spec.isa import (A_WIDTH, ADDRESS_FIELDS, ALL_LANES, COUNT_FIELDS, ERRORS,
                               F_WIDTH, FIELDS, IMM_WIDTH, OPCODES, REGISTERS, WORD_FIELDS,
                               WORD_WIDTH)
from zerohero.spec.regmap import ERROR_CODE_WIDTH

__all__ = ["Sequencer", "range_flags", "word_fields"]


def word_fields(word):
    """The ``op``, ``a``, ``f`` and ``imm`` fields of an instruction word (slices of it, as
    :data:`~zerohero.spec.isa.WORD_FIELDS` places them)."""
    return tuple(word[low:low + width] for low, width in
                 (WORD_FIELDS[name] for name in ("op", "a", "f", "imm")))


def range_flags(cfg, value):
    """A register's value against the bank depth, kept beside the register: an address field
    at or beyond it, a count beyond it; and whether ``djnz`` would fall through. The depth is
    a power of two (``AccelConfig`` checks), so both comparisons are ORs of bits, not
    subtractions: a new register value (after the adder of ``addi``/``djnz``) gets its flags
    without a second carry chain (the ECP5 critical path otherwise)."""
    aw = cfg.spm_addr_width
    at_or_above = value[aw:].any()
    above = value[aw + 1:].any() | (value[aw] & value[:aw].any()) if aw < len(value) else C(0, 1)
    return Cat(at_or_above, above, value == 1)


class Sequencer(wiring.Component):
    """The firmware sequencer (module docstring): one instruction a cycle, ``wait`` excepted.

    Ports:

    * ``fw_wr`` (in): the host's writes into the instruction memory, taken while idle
      (``busy`` low) and predecoded on the way in; ``start`` (in): execute from address 0
      (word 0 is in a register, so the first word executes the cycle after ``start``).
    * ``busy``, ``done``, ``error``/``error_code`` (out): running; halted (until the next
      ``start``); stopped by a fault with its :data:`~zerohero.spec.isa.ERRORS` code. ``pc``:
      the address of the executing word.
    * ``watchdog`` (in): the cycles a ``wait`` may see no ``progress`` (``WATCHDOG``).
    * the lane command bus (out, combinational from the executing word): ``cfg_we`` writes
      ``cfg_value`` into field ``cfg_field`` of lane ``cfg_lane`` (or every lane,
      :data:`~zerohero.spec.isa.ALL_LANES`); ``cfg_load`` names the lanes a ``cfg``/``cfgr``
      word addresses, taken or not; ``run`` (one bit a lane) and ``clear`` pulse for a cycle.
    * lane status (in): ``lane_busy``, ``lane_error`` (one bit a lane) and ``progress`` (any
      lane's MAC took a token), seen ``cfg.status_latency`` cycles late.

    Timing is the ISA golden model's cycle for cycle (:func:`zerohero.firmware.isa.execute`),
    for every ``status_latency``, ``command_latency`` and ``predict_jumps``.
    """

    #: Every opcode has a flag of its own in a predecoded word (``Sequencer.predecode``).
    KINDS = tuple(OPCODES)

    def __init__(self, cfg):
        self.cfg = cfg
        self.decoded = data.StructLayout({
            "word": WORD_WIDTH, "illegal": 1, "is_addr": 1, "is_count": 1, "imm_bad": 1,
            "one_from": IMM_WIDTH, "loads_one": 1, "djnz_reg": REGISTERS,
            "lanes": cfg.lanes, **{name: 1 for name in self.KINDS},
            # predict_jumps: the word is a jmp or a djnz (the fetch takes it as taken).
            **({"may_jump": 1} if cfg.predict_jumps else {})})
        super().__init__({
            "fw_wr": In(wiring.Signature({
                "addr": Out(range(cfg.fw_depth)), "en": Out(1), "data": Out(WORD_WIDTH)})),
            "start": In(1),
            "watchdog": In(WATCHDOG_WIDTH),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
            "error_code": Out(ERROR_CODE_WIDTH),
            "pc": Out(range(cfg.fw_depth)),
            "cfg_we": Out(1),
            "cfg_lane": Out(A_WIDTH),
            "cfg_field": Out(F_WIDTH),
            "cfg_value": Out(IMM_WIDTH),
            "cfg_load": Out(cfg.lanes),
            "run": Out(cfg.lanes),
            "clear": Out(1),
            "lane_busy": In(cfg.lanes),
            "lane_error": In(cfg.lanes),
            "progress": In(1),
        })

    def predecode(self, m, word):
        """What an instruction word means, decoded where it is written into the instruction
        memory (the host's write, not the fetch): the memory holds the word and these flags,
        so executing one is a few gates after the memory read, not a decoder, a range
        comparator and the error logic in a row (the iCE40 critical path otherwise)."""
        cfg = self.cfg
        d = Signal(self.decoded)
        op, a, f, imm = word_fields(word)
        lane_ok = (a == ALL_LANES) | (a < cfg.lanes)
        reg_ok = a < REGISTERS                  # ldi, addi, djnz: rD in a
        target_ok = imm < cfg.fw_depth          # jmp, djnz
        is_op = {name: op == code for name, code in OPCODES.items()}
        reg_op = is_op["ldi"] | is_op["addi"] | is_op["djnz"]
        is_cfg = is_op["cfg"] | is_op["cfgr"]
        is_addr = sum((f == FIELDS[n]) for n in ADDRESS_FIELDS if n not in COUNT_FIELDS) != 0
        is_count = sum((f == FIELDS[n]) for n in COUNT_FIELDS) != 0
        illegal = ((sum(is_op.values()) == 0)
                   | (reg_op & ~reg_ok) | (is_op["djnz"] & ~target_ok)
                   | (is_op["jmp"] & ~target_ok)
                   | (is_cfg & (~lane_ok | (f >= len(FIELDS))))
                   | (is_op["cfgr"] & (imm >= REGISTERS))
                   | ((is_op["run"] | is_op["wait"]) & ~lane_ok))
        m.d.comb += [
            d.word.eq(word), d.illegal.eq(illegal),
            d.is_addr.eq(is_addr), d.is_count.eq(is_count),
            d.imm_bad.eq((is_addr & (imm >= cfg.spm_depth)) | (is_count & (imm > cfg.spm_depth))),
            # Whether the register write makes rD 1: ldi of 1, or rD at `one_from` before
            # (addi: 1 - imm, djnz: 2), so that is one comparison, not an adder and one.
            d.loads_one.eq(imm == 1),
            d.one_from.eq(Mux(is_op["djnz"], 2, 1 - imm)),
        ]
        for i in range(REGISTERS):              # a djnz's register, one-hot
            m.d.comb += d.djnz_reg[i].eq(is_op["djnz"] & (a == i))
        for name in self.KINDS:
            m.d.comb += d[name].eq(is_op[name])
        if self.cfg.predict_jumps:
            m.d.comb += d.may_jump.eq(is_op["jmp"] | is_op["djnz"])
        for i in range(cfg.lanes):
            m.d.comb += d.lanes[i].eq((a == i) | (a == ALL_LANES))
        return d

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        # An asynchronous read and its data register written out (as the scratchpad's banks,
        # hw/memory.py): synthesis merges them into the block RAM's registered read with its
        # own clock enable, and ``no_rw_check`` leaves a read of the word being written
        # undefined instead of emulating it in logic (flip-flops on every data bit, all on
        # the read enable). Words are written only while idle, and the read that `start`
        # uses comes at least a cycle after the host's last write.
        m.submodules.imem = imem = Memory(shape=self.decoded, depth=cfg.fw_depth, init=[],
                                          attrs={"no_rw_check": 1})
        wp, read = imem.write_port(), imem.read_port(domain="comb")
        rp = SimpleNamespace(addr=read.addr, en=Signal(name="imem_en"),
                             data=Signal(self.decoded, name="imem_data", reset_less=True))
        with m.If(rp.en):
            m.d.sync += rp.data.eq(read.data)
        word_in = self.predecode(m, self.fw_wr.data)
        writing = self.fw_wr.en & ~self.busy
        m.d.comb += [wp.addr.eq(self.fw_wr.addr), wp.en.eq(writing), wp.data.eq(word_in)]
        # Word 0 is kept in a register as well, so `start` executes it in the next cycle.
        first = Signal(self.decoded)
        with m.If(writing & (self.fw_wr.addr == 0)):
            m.d.sync += first.eq(word_in)

        regs = [Signal(IMM_WIDTH, name=f"r{i}") for i in range(REGISTERS)]
        flags = [Signal(3, name=f"r{i}_flags") for i in range(REGISTERS)]
        reg_file, flag_file = Array(regs), Array(flags)
        # Two stages: the instruction register `ir` holds the executing word (at `pc`), the
        # memory's read data its successor (at `npc`), and the memory reads the successor's
        # successor. Only that choice (next address or jump target) is made from the read data
        # (whose clock-to-out is most of an ECP5 cycle); an instruction executes from `ir`.
        ir, npc = Signal(self.decoded), Signal(range(cfg.fw_depth))
        d = ir
        word = d.word
        _, a, f, imm = word_fields(word)
        rsel = a[:3]
        watch = Signal(WATCHDOG_WIDTH)

        # The lanes' status: as it is, or (status_latency 1) the previous cycle's. The lanes
        # run in the last command_latency + status_latency cycles count as busy: their
        # `pending` is not in the status yet.
        lane_error, progress = self.lane_error.any(), self.progress
        if cfg.status_latency:
            error_q, progress_q = Signal(), Signal()
            m.d.sync += [error_q.eq(lane_error), progress_q.eq(progress)]
            lane_error, progress = error_q, progress_q
        # A run is kept as the word's lane mask and a flag, not as the `run` bits: command
        # latency's per-lane stage registers those, and Yosys would merge the two copies, which
        # put the stage's flip-flops beside the lanes on the path into the `wait` logic.
        # `busy_next`: what the lanes' busy flags will be in the next cycle (the status this
        # cycle, with status_latency 1, and the runs then in flight). A `wait` reads them
        # registered, not the status and each run stage's flag and mask (four terms a lane at
        # command_latency 2), whose OR tree into `complete` was the ULX3S builds' critical path.
        issued = Signal()
        mask, flag = d.lanes, issued
        stages = cfg.command_latency + cfg.status_latency
        busy_next = [self.lane_busy] if cfg.status_latency else []
        for k in range(stages):
            busy_next.append(Mux(flag, mask, 0))
            if k + 1 < stages:
                mask_q = Signal(cfg.lanes, name=f"ran_{k + 1}_lanes")
                flag_q = Signal(name=f"ran_{k + 1}")
                m.d.sync += [mask_q.eq(mask), flag_q.eq(flag)]
                mask, flag = mask_q, flag_q
        # `lanes_idle`: the lanes a `wait` in `ir` names are idle. With status_latency 1 all of
        # `busy_next` is known a cycle ahead, so the AND-OR over the lanes is registered: one
        # per word `ir` may hold next (the word it holds, the read data, word 0), chosen by
        # where `ir` was loaded from (`ir_src`). The gather from every lane then ends at these
        # flip-flops, not at the fetch's enables through `complete` (the ULX3S critical path of
        # most builds before). Otherwise the runs in flight are registered, one flag a lane.
        ir_src = Signal(2)                      # 0: kept, 1: the read data, 2: word 0
        if cfg.status_latency:
            busy_n, ahead = reduce(operator.or_, busy_next), []
            for name, lanes in (("kept", d.lanes), ("read", rp.data.lanes),
                                ("first", first.lanes)):
                q = Signal(name=f"lanes_idle_{name}", init=1)
                m.d.sync += q.eq((busy_n & lanes) == 0)
                ahead.append(q)
            lanes_idle = Array(ahead)[ir_src]
        else:
            lane_busy = self.lane_busy
            if stages:
                busy_q = Signal(cfg.lanes)
                m.d.sync += busy_q.eq(reduce(operator.or_, busy_next))
                lane_busy = lane_busy | busy_q
            lanes_idle = (lane_busy & d.lanes) == 0

        # What `ldi`/`addi`/`djnz` in `ir` write (mod 2**IMM_WIDTH, as the register keeps it;
        # djnz adds -1).
        new_value = Signal(IMM_WIDTH)
        minus_one = (1 << IMM_WIDTH) - 1
        m.d.comb += new_value.eq(Mux(d.ldi, imm, reg_file[rsel] + Mux(d.djnz, minus_one, imm)))
        new_flags = range_flags(cfg, new_value)

        def write_reg():
            m.d.sync += [reg_file[rsel].eq(new_value), flag_file[rsel].eq(new_flags)]

        def jumps(w, ones):
            """Whether the word ``w`` jumps, with ``ones`` the registers' ``== 1`` flags (an
            AND-OR with the predecoded one-hot register: two LUT levels)."""
            return w.jmp | (w.djnz_reg & ~Cat(*ones)).any()

        # The successor's successor, from the read data: whether it jumps (with `ir`'s register
        # write forwarded to a `djnz` after it) picks its target or the address after `npc`.
        # While idle (not `busy`: FSM state IDLE) the successor of word 0 is read, for `start`.
        idle = ~self.busy
        # predict_jumps: a djnz in `ir` that falls through (its register was 1) had its target
        # fetched; the address after it is read instead, and a nop takes its place in `ir`.
        missed = Signal()
        if cfg.predict_jumps:
            m.d.comb += missed.eq(~idle & d.djnz & flag_file[rsel][2])
            sequential = Mux(idle, Mux(first.may_jump, first.word, 1),
                             Mux(missed, self.pc + 1, npc + 1))
            # The read data's jump flag alone picks the address: one LUT after the memory.
            m.d.comb += rp.addr.eq(Mux(~(idle | missed) & rp.data.may_jump, rp.data.word,
                                       sequential))
        else:
            writes = d.ldi | d.addi | d.djnz
            new_one = Mux(d.ldi, d.loads_one, reg_file[rsel] == d.one_from)
            ones = [Mux(writes & (rsel == i), new_one, flags[i][2]) for i in range(REGISTERS)]
            first_jumps = jumps(first, [fl[2] for fl in flags])
            sequential = Mux(idle, Mux(first_jumps, first.word, 1), npc + 1)
            m.d.comb += rp.addr.eq(Mux(~idle & jumps(rp.data, ones), rp.data.word, sequential))
        # The fetch moves on (`pc`, `ir`, `npc` and the memory's read enable) when a word
        # completes, not on every cycle but a stalled `wait`: that shallower signal shares its
        # stall tree with the stop and `cfg_we` logic in synthesis, which placement stretches
        # across the chip (the timing log has the measurements).
        complete = Signal()
        jumped = Signal()
        next_pc = self.pc + 1
        # (idle: every cycle, below. One expression, not an IDLE case: Icarus runs no process
        # at time 0, and a case's output would stay X until its inputs change.)
        m.d.comb += rp.en.eq(idle | complete)

        def fail(code):
            return [self.error.eq(1), self.error_code.eq(ERRORS[code]), self.busy.eq(0)]

        # The broadcast bus's lane, field and value are the word's whatever it is; only
        # `cfg_we` waits for the checks (so they are not a reset of every lane's value register).
        # `cfg_load`: the lanes a `cfg`/`cfgr` word in `ir` names, whether or not it is taken (a
        # superset of the lanes `cfg_we` writes, from `ir`'s flags alone, for a stage that may
        # copy the bus early: command_latency).
        m.d.comb += [self.cfg_lane.eq(a), self.cfg_field.eq(f),
                     self.cfg_value.eq(Mux(d.cfgr, reg_file[imm[:3]], imm)),
                     self.cfg_load.eq(Mux(d.cfg | d.cfgr, d.lanes, 0))]

        def stop(code):
            m.d.sync += fail(code)
            m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                # The first two words are loaded every idle cycle (nothing reads them before
                # `start`), so `start` enables only the state and the status flags: a few
                # flip-flops beside the sequencer, not every register of it from the host side.
                m.d.sync += [self.pc.eq(0), ir.eq(first), ir_src.eq(2), npc.eq(rp.addr),
                             watch.eq(0)]
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), self.done.eq(0), self.error.eq(0),
                                 self.error_code.eq(0)]
                    m.next = "EXEC"
            with m.State("EXEC"):
                m.d.sync += ir_src.eq(complete)
                with m.If(complete):
                    m.d.sync += [self.pc.eq(npc), ir.eq(rp.data), npc.eq(rp.addr), watch.eq(0)]
                    with m.If(missed):
                        m.d.sync += [self.pc.eq(self.pc), ir.eq(0), ir.nop.eq(1)]
                with m.If(lane_error):
                    stop("UNIT")
                with m.Elif(d.illegal):
                    stop("ILLEGAL")
                with m.Elif(d.halt):
                    m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    with m.If(d.nop):
                        m.d.comb += complete.eq(1)
                    with m.If(d.ldi):
                        m.d.comb += complete.eq(1)
                        write_reg()
                    with m.If(d.addi):
                        m.d.comb += complete.eq(1)
                        write_reg()
                    with m.If(d.djnz):
                        write_reg()
                        with m.If(~flag_file[rsel][2]):
                            m.d.comb += jumped.eq(1)
                        m.d.comb += complete.eq(1)
                    with m.If(d.jmp):
                        m.d.comb += [jumped.eq(1), complete.eq(1)]
                    with m.If(d.cfg | d.cfgr):
                        src = flag_file[imm[:3]]
                        bad_range = Mux(d.cfgr, (d.is_addr & src[0]) | (d.is_count & src[1]),
                                        d.imm_bad)
                        with m.If(bad_range):
                            stop("RANGE")
                        with m.Else():
                            m.d.comb += [self.cfg_we.eq(1), complete.eq(1)]
                    with m.If(d.run):
                        m.d.comb += [self.run.eq(d.lanes), issued.eq(1), complete.eq(1)]
                    with m.If(d.wait):
                        with m.If(lanes_idle):
                            m.d.comb += complete.eq(1)
                        with m.Else():
                            m.d.sync += watch.eq(Mux(progress, 0, watch + 1))
                            with m.If(watch >= self.watchdog):
                                stop("WATCHDOG")
                    with m.If(d.clrc):
                        m.d.comb += [self.clear.eq(1), complete.eq(1)]
                    # Running off the end of the program is an illegal instruction too.
                    with m.If(complete & ~jumped & (next_pc == cfg.fw_depth)):
                        stop("ILLEGAL")
        return m
