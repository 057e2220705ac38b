"""The sequencer: runs firmware (:mod:`zerohero.firmware.isa`) that drives the lanes.

The host loads the program into the instruction memory (``fw_wr``) and pulses ``start``; the
sequencer executes from address 0 until ``halt`` (``done``) or an error (``error`` with
``error_code``; it halts too). One instruction a cycle: the registered instruction memory
reads the successor (next address or jump target) while an instruction executes; ``wait``
holds until its lanes are idle. Words are predecoded as the host writes them (``predecode``:
the memory keeps opcode flags, the static operand checks and the lane mask beside the word)
and every register keeps its range flags beside it, so an instruction executes from flags,
not from a decoder and comparators behind the memory's read data; the timing is the ISA
model's either way.

Lane fields are written over a broadcast bus (``cfg_we``, ``cfg_lane``, ``cfg_field``,
``cfg_value``); ``run`` pulses the lanes' ``run`` bits. A ``wait`` that sees no ``progress``
for ``watchdog`` cycles stops with ``WATCHDOG``; an address field beyond the bank stops with
``RANGE`` before any lane sees it.
"""

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal
from amaranth.lib import data
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from zerohero.firmware.isa import (ADDRESS_FIELDS, ALL_LANES, COUNT_FIELDS, ERRORS, FIELDS,
                                   OPCODES, REGISTERS)

__all__ = ["Sequencer", "range_flags"]


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
    #: Every opcode has a flag of its own in a predecoded word (``Sequencer.predecode``).
    KINDS = tuple(OPCODES)

    def __init__(self, cfg):
        self.cfg = cfg
        self.decoded = data.StructLayout({
            "word": 32, "illegal": 1, "is_addr": 1, "is_count": 1, "imm_bad": 1,
            "lanes": cfg.lanes, **{name: 1 for name in self.KINDS}})
        super().__init__({
            "fw_wr": In(wiring.Signature({
                "addr": Out(range(cfg.fw_depth)), "en": Out(1), "data": Out(32)})),
            "start": In(1),
            "watchdog": In(32),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
            "error_code": Out(8),
            "pc": Out(range(cfg.fw_depth)),
            "cfg_we": Out(1),
            "cfg_lane": Out(8),
            "cfg_field": Out(4),
            "cfg_value": Out(16),
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
        op, a, f, imm = word[28:32], word[20:28], word[16:20], word[0:16]
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
        ]
        for name in self.KINDS:
            m.d.comb += d[name].eq(is_op[name])
        for i in range(cfg.lanes):
            m.d.comb += d.lanes[i].eq((a == i) | (a == ALL_LANES))
        return d

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.imem = imem = Memory(shape=self.decoded, depth=cfg.fw_depth, init=[])
        wp = imem.write_port()
        rp = imem.read_port()
        m.d.comb += [wp.addr.eq(self.fw_wr.addr), wp.en.eq(self.fw_wr.en & ~self.busy),
                     wp.data.eq(self.predecode(m, self.fw_wr.data))]

        regs = [Signal(16, name=f"r{i}") for i in range(REGISTERS)]
        flags = [Signal(3, name=f"r{i}_flags") for i in range(REGISTERS)]
        reg_file, flag_file = Array(regs), Array(flags)
        d = rp.data
        word = d.word
        a, f, imm = word[20:28], word[16:20], word[0:16]
        rsel = a[:3]
        watch = Signal(32)

        def write_reg(value):
            wrapped = Signal(16)                # mod 2**16, as the register keeps it
            m.d.comb += wrapped.eq(value)
            m.d.sync += [reg_file[rsel].eq(wrapped),
                         flag_file[rsel].eq(range_flags(cfg, wrapped))]

        def fail(code):
            return [self.error.eq(1), self.error_code.eq(ERRORS[code]), self.busy.eq(0)]

        # One instruction a cycle: while the word at `pc` executes, the word at its successor
        # (the next address or a jump target) is read, so only `wait` stalls.
        complete = Signal()
        jumped = Signal()
        target = Signal(range(cfg.fw_depth))
        m.d.comb += [rp.addr.eq(target), rp.en.eq(complete)]
        next_pc = self.pc + 1
        m.d.comb += target.eq(next_pc[:len(target)])

        def stop(code):
            m.d.sync += fail(code)
            m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += target.eq(0)
                with m.If(self.start):
                    m.d.comb += complete.eq(1)          # reads word 0
                    m.d.sync += [self.pc.eq(0), self.busy.eq(1), self.done.eq(0),
                                 self.error.eq(0), self.error_code.eq(0), watch.eq(0)]
                    m.next = "EXEC"
            with m.State("EXEC"):
                with m.If(complete):
                    m.d.sync += [self.pc.eq(target), watch.eq(0)]
                with m.If(self.lane_error.any()):
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
                        write_reg(imm)
                    with m.If(d.addi):
                        m.d.comb += complete.eq(1)
                        write_reg(reg_file[rsel] + imm)
                    with m.If(d.djnz):
                        write_reg(reg_file[rsel] - 1)
                        with m.If(~flag_file[rsel][2]):
                            m.d.comb += [target.eq(imm), jumped.eq(1)]
                        m.d.comb += complete.eq(1)
                    with m.If(d.jmp):
                        m.d.comb += [target.eq(imm), jumped.eq(1), complete.eq(1)]
                    with m.If(d.cfg | d.cfgr):
                        src = flag_file[imm[:3]]
                        bad_range = Mux(d.cfgr, (d.is_addr & src[0]) | (d.is_count & src[1]),
                                        d.imm_bad)
                        with m.If(bad_range):
                            stop("RANGE")
                        with m.Else():
                            m.d.comb += [self.cfg_we.eq(1), self.cfg_lane.eq(a),
                                         self.cfg_field.eq(f),
                                         self.cfg_value.eq(Mux(d.cfgr, reg_file[imm[:3]], imm)),
                                         complete.eq(1)]
                    with m.If(d.run):
                        m.d.comb += [self.run.eq(d.lanes), complete.eq(1)]
                    with m.If(d.wait):
                        with m.If((self.lane_busy & d.lanes) == 0):
                            m.d.comb += complete.eq(1)
                        with m.Else():
                            m.d.sync += watch.eq(Mux(self.progress, 0, watch + 1))
                            with m.If(watch >= self.watchdog):
                                stop("WATCHDOG")
                    with m.If(d.clrc):
                        m.d.comb += [self.clear.eq(1), complete.eq(1)]
                    # Running off the end of the program is an illegal instruction too.
                    with m.If(complete & ~jumped & (next_pc == cfg.fw_depth)):
                        stop("ILLEGAL")
        return m
