"""The sequencer: runs firmware (:mod:`zerohero.firmware.isa`) that drives the lanes.

The host loads the program into the instruction memory (``fw_wr``) and pulses ``start``; the
sequencer executes from address 0 until ``halt`` (``done``) or an error (``error`` with
``error_code``; it halts too). One instruction a cycle: the registered instruction memory
reads the successor (next address or jump target) while an instruction executes; ``wait``
holds until its lanes are idle.

Lane fields are written over a broadcast bus (``cfg_we``, ``cfg_lane``, ``cfg_field``,
``cfg_value``); ``run`` pulses the lanes' ``run`` bits. A ``wait`` that sees no ``progress``
for ``watchdog`` cycles stops with ``WATCHDOG``; an address field beyond the bank stops with
``RANGE`` before any lane sees it.
"""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from zerohero.firmware.isa import (ADDRESS_FIELDS, ALL_LANES, COUNT_FIELDS, ERRORS, FIELDS,
                                   OPCODES, REGISTERS)

__all__ = ["Sequencer"]


class Sequencer(wiring.Component):
    def __init__(self, cfg):
        self.cfg = cfg
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

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.imem = imem = Memory(shape=32, depth=cfg.fw_depth, init=[])
        wp = imem.write_port()
        rp = imem.read_port()
        m.d.comb += [wp.addr.eq(self.fw_wr.addr), wp.en.eq(self.fw_wr.en & ~self.busy),
                     wp.data.eq(self.fw_wr.data)]

        regs = [Signal(16, name=f"r{i}") for i in range(REGISTERS)]
        reg_file = Array(regs)
        word = rp.data
        op, a, f, imm = word[28:32], word[20:28], word[16:20], word[0:16]
        rsel = a[:3]
        watch = Signal(32)
        lane_ok = (a == ALL_LANES) | (a < cfg.lanes)
        reg_ok = a < REGISTERS                  # ldi, addi, djnz: rD in a
        target_ok = imm < cfg.fw_depth          # jmp, djnz
        lane_bit = Signal(cfg.lanes)
        for i in range(cfg.lanes):
            m.d.comb += lane_bit[i].eq((a == i) | (a == ALL_LANES))

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
                with m.Else():
                    with m.Switch(op):
                        with m.Case(OPCODES["nop"]):
                            m.d.comb += complete.eq(1)
                        with m.Case(OPCODES["halt"]):
                            m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                            m.next = "IDLE"
                        with m.Case(OPCODES["ldi"], OPCODES["addi"], OPCODES["djnz"]):
                            with m.If(~reg_ok | ((op == OPCODES["djnz"]) & ~target_ok)):
                                stop("ILLEGAL")
                            with m.Elif(op == OPCODES["ldi"]):
                                m.d.comb += complete.eq(1)
                                m.d.sync += reg_file[rsel].eq(imm)
                            with m.Elif(op == OPCODES["addi"]):
                                m.d.comb += complete.eq(1)
                                m.d.sync += reg_file[rsel].eq(reg_file[rsel] + imm)
                            with m.Else():
                                dec = Signal(16)
                                m.d.comb += dec.eq(reg_file[rsel] - 1)
                                m.d.sync += reg_file[rsel].eq(dec)
                                with m.If(dec != 0):
                                    m.d.comb += [target.eq(imm), jumped.eq(1)]
                                m.d.comb += complete.eq(1)
                        with m.Case(OPCODES["jmp"]):
                            with m.If(~target_ok):
                                stop("ILLEGAL")
                            with m.Else():
                                m.d.comb += [target.eq(imm), jumped.eq(1), complete.eq(1)]
                        with m.Case(OPCODES["cfg"], OPCODES["cfgr"]):
                            value = Mux(op == OPCODES["cfgr"], reg_file[imm[:3]], imm)
                            is_addr = Signal()
                            is_count = Signal()
                            m.d.comb += [
                                is_addr.eq(sum((f == FIELDS[n]) for n in ADDRESS_FIELDS
                                               if n not in COUNT_FIELDS) != 0),
                                is_count.eq(sum((f == FIELDS[n]) for n in COUNT_FIELDS) != 0),
                            ]
                            bad_range = ((is_addr & (value >= cfg.spm_depth)) |
                                         (is_count & (value > cfg.spm_depth)))
                            with m.If(~lane_ok | (f >= len(FIELDS)) |
                                      ((op == OPCODES["cfgr"]) & (imm >= REGISTERS))):
                                stop("ILLEGAL")
                            with m.Elif(bad_range):
                                stop("RANGE")
                            with m.Else():
                                m.d.comb += [self.cfg_we.eq(1), self.cfg_lane.eq(a),
                                             self.cfg_field.eq(f), self.cfg_value.eq(value),
                                             complete.eq(1)]
                        with m.Case(OPCODES["run"]):
                            with m.If(~lane_ok):
                                stop("ILLEGAL")
                            with m.Else():
                                m.d.comb += [self.run.eq(lane_bit), complete.eq(1)]
                        with m.Case(OPCODES["wait"]):
                            with m.If(~lane_ok):
                                stop("ILLEGAL")
                            with m.Elif((self.lane_busy & lane_bit) == 0):
                                m.d.comb += complete.eq(1)
                            with m.Else():
                                m.d.sync += watch.eq(Mux(self.progress, 0, watch + 1))
                                with m.If(watch >= self.watchdog):
                                    stop("WATCHDOG")
                        with m.Case(OPCODES["clrc"]):
                            m.d.comb += [self.clear.eq(1), complete.eq(1)]
                        with m.Default():
                            stop("ILLEGAL")
                    # Running off the end of the program is an illegal instruction too.
                    with m.If(complete & ~jumped & (next_pc == cfg.fw_depth)):
                        stop("ILLEGAL")
        return m
