"""The integrated accelerator: what ``zerohero verilog`` emits and the host runtime drives.

Scratchpad + ``lanes`` x :class:`Lane` + :class:`Sequencer` + register bank + host port. The
host writes operands into the scratchpad and a program into the sequencer's instruction
memory through ``bus`` (:mod:`zerohero.spec.regmap` has the map), writes CONTROL.START and waits
for ``irq`` (high while STATUS.DONE or an error is pending); then it reads results and
counters. While the sequencer runs, the lanes own the scratchpad ports and host accesses to
it are refused (BUSY); while it is idle, the host owns them (with ``cfg.host_stage``, whose
host requests reach the banks a cycle after acceptance, the banks change hands a cycle after
the sequencer starts or stops). With ``cfg.command_latency`` 1 the sequencer's commands pass
a register stage per lane on their way; with 2, a stage per group of lanes before that.

Double buffering (``cfg.double_buffer``): the START write's ``CONTROL.HALF`` is latched for the
run and sets the top address bit of every lane access, so a program planned for half-deep
banks runs in the lower or the upper half of every bank. While it runs, the host may write
(not read) the scratchpad, i.e. load the next tile into the other half: a bank's write port
belongs to its lane whenever the lane writes (results, compressed ``pos``) and to the host
otherwise; a host write that collides waits through the bus's ``ready``.

Clocks: lane ``i`` and the read data registers of its banks are in clock domain ``lane<i>``
(hw/gating.py), with its own reset register. With ``cfg.clock_gating`` (the simulation
presets) those clocks run only while something can change a lane: the sequencer runs, a lane
is busy or has a RUN pending, the host reads the scratchpad or clears the counters, reset,
and ``GATE_TAIL`` cycles after any of those. Inside a lane, the join units have a gated clock
of their own (hw/lane.py). Nothing in a lane depends combinationally on the rest (its
commands, its reset and its broadcast grant arrive through registers), so a Verilator
simulation skips a stopped lane entirely: a job that mostly loads and reads back simulates 3x faster, and the machine
is the same cycle for cycle (``tests/hw/test_accelerator.py`` plays the same jobs on gated and
ungated builds and compares every result, counter and cycle count). Ungated (the FPGA
presets), every lane clock is ``clk``.

Bank ownership follows :mod:`zerohero.hw.memory`: lane ``i`` streams from operand bank ``i``
(both read ports) and gathers or intersects from vector bank ``lanes + i``, whose write port
takes the lane's results; a compressed output's ``pos`` goes to the operand bank's write port.
With ``cfg.result_stage``, a lane's broadcast results (``OUT_MODE`` bit 2) go to every vector
bank's write port through one arbitrated bus (:class:`~zerohero.hw.result.BroadcastBus`), where
the next job of every lane gathers them; the lanes' own writes to their vector banks then pass
a register on the way, so the bus knows a cycle ahead which write cycles they take.
"""

from amaranth.hdl import C, Cat, ClockSignal, DomainRenamer, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zerohero.spec.config import COUNTER_NAMES
from zerohero.spec.isa import ALL_LANES, FIELDS

from .gating import add_domain, gated_clock, own_copy
from .host import HostBusSignature, HostPort, RegisterBank
from .lane import Lane, LaneCommand
from .memory import Scratchpad, WritePortSignature
from .result import BroadcastBus
from .sequencer import Sequencer

__all__ = ["GATE_TAIL", "Accelerator"]

#: Cycles the gated lane clock keeps running after the last reason to run (registered
#: commands and counters settle in 2).
GATE_TAIL = 8
#: Lanes a command stage of ``command_latency`` 2 serves (its first stage: field and value).
CMD_GROUP = 4


class Accelerator(wiring.Component):
    """The accelerator for ``cfg`` (an :class:`~zerohero.spec.config.AccelConfig`, which has
    checked that it builds; module docstring for the parts and the clocks).

    Ports:

    * ``bus`` (:class:`~zerohero.hw.host.HostBusSignature`, in): the host's word-addressed
      request/response bus (``valid``/``ready`` requests, a response ``cfg.host_latency``
      cycles after acceptance) onto the register map, the scratchpad and the instruction
      memory (:mod:`zerohero.spec.regmap`); accesses the map refuses set ``ERROR``.
    * ``irq`` (out): set when a run ends (``STATUS.DONE``) or stops with an error, cleared by
      the next ``CONTROL.START``.
    * ``busy`` (out): the sequencer runs (the lanes own the scratchpad).

    Timing is the golden model's cycle for cycle (:func:`zerohero.firmware.isa.execute`):
    the sequencer's commands pass ``cfg.command_latency`` register stages on their way to the
    lanes, and it sees their status ``cfg.status_latency`` cycles late.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "bus": In(HostBusSignature()),
            "irq": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        lane_domains = [f"lane{i}" for i in range(cfg.lanes)]
        m.submodules.spm = spm = Scratchpad(
            cfg, read_domains=[lane_domains[b % cfg.lanes] for b in range(cfg.spm_banks)])
        m.submodules.host = host = HostPort(cfg)
        m.submodules.regs = regs = RegisterBank(cfg)
        m.submodules.seq = seq = Sequencer(cfg)
        lanes = [Lane(cfg) for _ in range(cfg.lanes)]
        for i, lane in enumerate(lanes):
            m.submodules[f"lane{i}"] = DomainRenamer(lane_domains[i])(lane)

        wiring.connect(m, wiring.flipped(self.bus), host.bus)
        wiring.connect(m, host.reg, regs.reg)
        wiring.connect(m, host.fault, regs.fault)
        wiring.connect(m, host.fw_wr, seq.fw_wr)
        idle = ~seq.busy
        m.d.comb += host.idle.eq(idle)

        # Sequencer <-> register bank: start, status, error strobes.
        done_prev, error_prev = Signal(), Signal()
        m.d.sync += [done_prev.eq(seq.done), error_prev.eq(seq.error)]
        m.d.comb += [
            seq.start.eq(regs.start & idle),
            seq.watchdog.eq(cfg.watchdog_cycles),
            regs.busy.eq(seq.busy),
            regs.done.eq(seq.done & ~done_prev),
            regs.error.eq(seq.error & ~error_prev),
            regs.error_code.eq(seq.error_code),
            self.busy.eq(seq.busy),
        ]
        irq = Signal()
        with m.If(regs.start):
            m.d.sync += irq.eq(0)
        with m.Elif((seq.done & ~done_prev) | (seq.error & ~error_prev)):
            m.d.sync += irq.eq(1)
        m.d.comb += self.irq.eq(irq)

        # Lanes: configuration bus, run pulses, status, counters. With command_latency 1 the
        # sequencer's commands go through a register stage per lane first, so the broadcast
        # from the sequencer to the lanes takes two cycles. The field and value load when the
        # word in execution names that lane (`cfg_load`, straight from the sequencer's
        # instruction register; the stage is only read with `we`, which implies it): a copy
        # per lane, not one set Yosys merges and fans out, with a shallow enable. With
        # command_latency 2 a stage per group of CMD_GROUP lanes comes before that (the field
        # and value, loaded when the word names a lane of the group; `we`, `run` and
        # `cfg_load` per lane): the broadcast net reaches lanes / CMD_GROUP registers, not
        # every lane's. `clear` has one stage per command stage, shared by all lanes.
        clear = seq.clear
        for k in range(cfg.command_latency):
            clear_q = Signal(name=f"clear_stage{k}")
            m.d.sync += clear_q.eq(clear)
            clear = clear_q
        groups = {}
        if cfg.command_latency == 2:
            for g in range(0, cfg.lanes, CMD_GROUP):
                groups[g] = (Signal.like(seq.cfg_field, name=f"group{g}_field_stage"),
                             Signal.like(seq.cfg_value, name=f"group{g}_value_stage"))
                with m.If(seq.cfg_load[g:g + CMD_GROUP].any()):
                    m.d.sync += [groups[g][0].eq(seq.cfg_field), groups[g][1].eq(seq.cfg_value)]
        # The broadcast bus (below): a lane counts as busy while a result is on its way to the
        # banks, so a barrier waits for the last one.
        bus = None
        bus_busy = C(0, 1)
        if cfg.result_stage:
            m.submodules.bus = bus = BroadcastBus(cfg)
            bus_busy = bus.busy
        progress = 0
        own_wr = {}
        for i, lane in enumerate(lanes):
            cmd = LaneCommand().create(path=(f"lane{i}_cmd",))
            m.d.comb += [
                cmd.we.eq(seq.cfg_we & ((seq.cfg_lane == i) | (seq.cfg_lane == ALL_LANES))),
                cmd.field.eq(seq.cfg_field), cmd.value.eq(seq.cfg_value), cmd.run.eq(seq.run[i]),
            ]
            load = seq.cfg_load[i]
            if groups:
                first = LaneCommand().create(path=(f"lane{i}_stage0",))
                load_q = Signal(name=f"lane{i}_cfg_load_stage0")
                m.d.sync += [first.we.eq(cmd.we), first.run.eq(cmd.run), load_q.eq(load)]
                field, value = groups[i - i % CMD_GROUP]
                m.d.comb += [first.field.eq(field), first.value.eq(value)]
                cmd, load = first, load_q
            if cfg.command_latency:
                staged = LaneCommand().create(path=(f"lane{i}_stage",))
                m.d.sync += [staged.we.eq(cmd.we), staged.run.eq(cmd.run)]
                with m.If(load):
                    m.d.sync += [staged.field.eq(cmd.field), staged.value.eq(cmd.value)]
                cmd = staged
            m.d.comb += cmd.clear.eq(clear | regs.clear)
            wiring.connect(m, cmd, lane.cmd)
            busy = lane.active | lane.pending | bus_busy
            if cfg.result_stage:
                m.d.comb += [bus.req[i].eq(lane.bc_valid), bus.inp[i].eq(lane.bc),
                             lane.bc_ready.eq(bus.ack[i])]
                # The lane's own writes to its vector bank, a cycle late (below).
                own_wr[i] = q = WritePortSignature(cfg).create(path=(f"lane{i}_own_wr",))
                m.d.sync += [q.addr.eq(lane.out_wr.addr), q.en.eq(lane.out_wr.en),
                             q.data.eq(lane.out_wr.data)]
                busy = busy | q.en
            m.d.comb += [seq.lane_busy[i].eq(busy),
                         seq.lane_error[i].eq(lane.error)]
            progress = progress | lane.progress
            for name in COUNTER_NAMES:
                m.d.comb += getattr(regs, f"lane_{name}")[i].eq(getattr(lane, name))
        m.d.comb += seq.progress.eq(progress)

        # The lanes' clocks (module docstring): one gated clock shared by all lanes, and one
        # domain a lane on it, so each lane has its own reset register (a reset net of a few
        # hundred flip-flops, not of all of them).
        lanes_clk = ClockSignal()
        if cfg.clock_gating:
            busy = (ResetSignal() | seq.start | seq.busy | regs.clear | bus_busy
                    | Cat(lane.active | lane.pending for lane in lanes).any()
                    | Cat(port.en for port in host.spm_rd).any())
            tail = Signal(range(GATE_TAIL + 1))
            with m.If(busy):
                m.d.sync += tail.eq(GATE_TAIL)
            with m.Elif(tail != 0):
                m.d.sync += tail.eq(tail - 1)
            lanes_clk = gated_clock(m, "lanes", busy | (tail != 0))
        for name in lane_domains:
            add_domain(m, name, lanes_clk)

        # Scratchpad ports: the lanes while the sequencer runs, the host while it is idle (and,
        # with double buffering, the write ports whenever the lane does not write).
        top = cfg.spm_addr_width - 1
        half = Signal()                 # CONTROL.HALF of the current run
        if cfg.double_buffer:
            with m.If(seq.start):
                m.d.sync += half.eq(regs.half)

        def lane_addr(addr):
            return addr | (half << top) if cfg.double_buffer else addr

        # Broadcast writes (result_stage, hw/result.py): one a cycle into every vector bank,
        # in a cycle no lane writes its own. The lanes' own writes to their vector banks go
        # through a register first, so the bus knows a cycle ahead which cycles are taken.
        if cfg.result_stage:
            m.d.comb += bus.own.eq(Cat(lane.out_wr.en for lane in lanes).any())
            # The bounds of the job: the sequencer's writes of RQ_LO / RQ_HI to lane 0 (or to
            # every lane), as the lanes take them.
            lo, hi = Signal.like(bus.lo, name="rq_lo"), Signal.like(bus.hi, name="rq_hi")
            to_lane0 = seq.cfg_we & ((seq.cfg_lane == 0) | (seq.cfg_lane == ALL_LANES))
            for field, reg in (("RQ_LO", lo), ("RQ_HI", hi)):
                with m.If(to_lane0 & (seq.cfg_field == FIELDS[field])):
                    m.d.sync += reg.eq(seq.cfg_value)
            m.d.comb += [bus.lo.eq(lo), bus.hi.eq(hi)]
        for b in range(cfg.spm_banks):
            lane = lanes[b % cfg.lanes] if b < 2 * cfg.lanes else None
            operand = b < cfg.lanes
            lanes_own = seq.busy
            if cfg.host_stage:
                # The host's requests reach the banks a cycle late (HostPort), so the banks
                # change hands a cycle late too: a register per bank beside it (own_copy).
                lanes_own = Signal(name=f"spm{b}_lanes_own")
                own_copy(m, "sync", lanes_own, seq.busy)
            for p in range(2):
                src = None if lane is None else (lane.op_rd[p] if operand else lane.vec_rd[p])
                ours = spm.rd[b][p]
                host_port = host.spm_rd[b] if p == 0 else None
                table = bus is not None and b == cfg.lanes and p == 1
                with m.If(lanes_own & (src is not None)):
                    if src is not None:
                        m.d.comb += [ours.addr.eq(lane_addr(src.addr)), ours.en.eq(src.en)]
                    if table:
                        # The bus stage's table reads (lane 0's second vector port is free in
                        # the gather jobs that requantize).
                        with m.If(bus.rd.en):
                            m.d.comb += [ours.addr.eq(lane_addr(bus.rd.addr)), ours.en.eq(1)]
                with m.Else():
                    if host_port is not None:
                        m.d.comb += [ours.addr.eq(host_port.addr), ours.en.eq(host_port.en)]
                if src is not None:
                    m.d.comb += src.data.eq(ours.data)
                if table:
                    m.d.comb += bus.rd.data.eq(ours.data)
                if host_port is not None:
                    m.d.comb += host_port.data.eq(ours.data)
            wr = spm.wr[b]
            # A lane's results go to its vector bank, compressed ``pos`` to its operand bank.
            src = None if lane is None else (lane.pos_wr if operand else lane.out_wr)
            broadcast_here = src is not None and not operand and cfg.result_stage
            if broadcast_here:
                src = own_wr[b % cfg.lanes]
            lane_writes = lanes_own & (src is not None)
            if src is not None and cfg.double_buffer:
                lane_writes &= src.en | bus.out_valid if broadcast_here else src.en
                m.d.comb += host.wr_taken[b].eq(lane_writes)
            with m.If(lane_writes):
                if broadcast_here:
                    with m.If(src.en):
                        m.d.comb += [wr.addr.eq(lane_addr(src.addr)), wr.en.eq(1),
                                     wr.data.eq(src.data)]
                    with m.Else():
                        m.d.comb += [wr.addr.eq(lane_addr(bus.out.addr)),
                                     wr.en.eq(bus.out_valid),
                                     wr.data.eq(bus.out.entry.as_value())]
                elif src is not None:
                    m.d.comb += [wr.addr.eq(lane_addr(src.addr)), wr.en.eq(src.en),
                                 wr.data.eq(src.data)]
            with m.Else():
                m.d.comb += [wr.addr.eq(host.spm_wr[b].addr), wr.en.eq(host.spm_wr[b].en),
                             wr.data.eq(host.spm_wr[b].data)]
        return m
