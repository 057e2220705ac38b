"""Host access: the memory-mapped bus port and the register bank.

The address and register maps come from :class:`zerohero.spec.regmap.RegisterMap` (no Amaranth
there, so host code imports it too); this module only turns that map into hardware.

Bus protocol (:class:`HostBusSignature`, 32-bit word addresses, 32-bit data): the host raises
``valid`` with ``addr``, ``we`` and ``wdata`` and holds them until ``ready``; a request is
accepted on a clock edge where ``valid`` and ``ready`` are both high. Exactly
``cfg.host_latency`` cycles later (1: on the next edge) the port presents the response for
one cycle: ``ack`` high, ``err`` (the request was refused) and, for a read without error,
``rdata`` (0 otherwise). The register bank acts on a request (see :func:`reg_edges`) on the
first edge after acceptance, or with ``host_latency`` > 1 on the second, so that the decode
has a cycle to itself; either way requests take effect in order. Responses cannot be
stalled. The port accepts one request per cycle
(``ready`` is low only while a scratchpad write during a run waits for its bank's write port,
see :class:`HostPort`), and responses come back in order.

Errors (``err`` in the response, and the code latched in ``ERROR`` with the address in
``ERR_ADDR`` unless an earlier error is still latched):

* ``BAD_ADDR`` (1): the address is outside the map (a hole between registers, between the
  regions, past the last bank, or an unused part of a scratchpad word). Nothing wraps: every
  one of the 32 address bits is decoded.
* ``BUSY`` (2): a scratchpad access while ``idle`` is low (the datapath owns the scratchpad;
  with double buffering only reads are refused) or a firmware write then; the access does
  nothing.

Writes to read-only registers (and read-only fields) are accepted and ignored.
"""

import functools
import operator

from amaranth.hdl import Array, C, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zerohero.spec.regmap import (ADDR_WIDTH, COUNTER_NAMES, DATA_WIDTH, ERR_BAD_ADDR, ERR_BUSY,
                                  ERROR_CODE_WIDTH, RegisterMap)

from .memory import ReadPortSignature, WritePortSignature

__all__ = ["HostBusSignature", "RegAccessSignature", "FaultSignature", "RegisterBank",
           "HostPort", "reg_edges"]

#: With ``cfg.host_stage``: groups of ``STAGE_GROUP`` banks (in :func:`lane_major` order) share
#: a register stage for the request's address and data (each bank has its own for the enables).
STAGE_GROUP = 8


def lane_major(cfg):
    """The banks in the order the host's per-group structures (the request stage, the
    read-data mux) take them: each lane's operand bank ``i`` beside its vector bank
    ``lanes + i``, then any further banks. Grouped by bank number instead, those structures
    gather the operand banks in one place and the vector banks in another, and placement
    stretches every lane between the two (the 24-lane ECP5 build's paths crossed the chip)."""
    paired = [b for i in range(cfg.lanes) for b in (i, cfg.lanes + i) if b < cfg.spm_banks]
    return paired + [b for b in range(cfg.spm_banks) if b not in paired]


class HostBusSignature(wiring.Signature):
    """The host bus, from the host's (initiator's) side; see the module docstring."""

    def __init__(self):
        super().__init__({
            "valid": Out(1),
            "ready": In(1),
            "addr": Out(ADDR_WIDTH),
            "we": Out(1),
            "wdata": Out(DATA_WIDTH),
            "ack": In(1),
            "rdata": In(DATA_WIDTH),
            "err": In(1),
        })


class RegAccessSignature(wiring.Signature):
    """Port -> register bank, from the port's side. ``hit`` (combinational) says ``addr`` is a
    register; ``en`` is only raised on a hit; ``rdata`` is valid ``reg_read_levels`` cycles
    after a read."""

    def __init__(self, addr_width):
        super().__init__({
            "addr": Out(addr_width),
            "en": Out(1),
            "we": Out(1),
            "wdata": Out(DATA_WIDTH),
            "hit": In(1),
            "rdata": In(DATA_WIDTH),
        })


class FaultSignature(wiring.Signature):
    """Port -> register bank: a refused bus access (``en`` for one cycle) with its code and
    address, to be latched in ``ERROR``/``ERR_ADDR``."""

    def __init__(self):
        super().__init__({
            "en": Out(1),
            "code": Out(ERROR_CODE_WIDTH),
            "addr": Out(ADDR_WIDTH),
        })


def reg_edges(cfg):
    """The edge after acceptance at which the register bank acts on a request (a write's
    effect, a pulse, a read's sample, a refused access latched in ``ERROR``): 1, or 2 with
    ``host_latency`` > 1."""
    return 1 + (cfg.host_latency > 1)


def reg_read_levels(cfg):
    """Registered levels of the register bank's read mux: 2 when the read latency leaves a
    cycle after the bank's sample (``host_latency`` >= 3; each lane's counters are muxed and
    registered by themselves first, so no cycle gathers every lane's counters across the chip
    into one read register), else 1."""
    return 2 if cfg.host_latency > reg_edges(cfg) else 1


def _delay(m, value, cycles, name, reset_less=False):
    """``value`` through ``cycles`` registers (named ``<name>_d<i>``)."""
    for i in range(cycles):
        reg = Signal(len(value), name=f"{name}_d{i + 1}", reset_less=reset_less)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def _reg_addr_width(rmap):
    return (rmap.spm_base - 1).bit_length()


def _hardware_members(cfg):
    """Hardware-side ports of the register bank."""
    members = {
        "start": Out(1),        # CONTROL.START: one-cycle pulse
        "clear": Out(1),        # CONTROL.CLEAR: one-cycle pulse (clears the lane counters)
        "relu": Out(1),         # CONTROL.RELU
        "half": Out(1),         # CONTROL.HALF (0 without double buffering)
        "busy": In(1),          # STATUS.BUSY
        "done": In(1),          # one-cycle strobe: sets STATUS.DONE (cleared by START)
        "error": In(1),         # one-cycle strobe: latch error_code (>= 3) in ERROR
        "error_code": In(ERROR_CODE_WIDTH),
    }
    for name in COUNTER_NAMES:
        members[f"lane_{name}"] = In(cfg.counter_width).array(cfg.lanes)
    return members


class RegisterBank(wiring.Component):
    """The registers of :class:`RegisterMap`, generated field by field from the map.

    Ports: ``reg`` and ``fault`` from the :class:`HostPort`; hardware side ``start``,
    ``clear`` (pulses), ``relu``, and inputs ``busy``, ``done``, ``error``/``error_code`` and
    the per-lane counters ``lane_<counter>[lane]``. ``ERROR.CODE`` keeps the first error
    (bus faults take precedence over a hardware error in the same cycle); later ones set
    ``ERROR.MULTIPLE``. A write to ``ERROR`` clears it and ``ERR_ADDR`` (an error in the same
    cycle is then latched as the first).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.rmap = RegisterMap(cfg)
        super().__init__({
            "reg": In(RegAccessSignature(_reg_addr_width(self.rmap))),
            "fault": In(FaultSignature()),
            **_hardware_members(cfg),
        })

    def elaborate(self, platform):
        m = Module()
        rmap, reg = self.rmap, self.reg

        code = Signal(ERROR_CODE_WIDTH)
        multiple = Signal()
        err_addr = Signal(ADDR_WIDTH)
        done = Signal()
        cycles = Signal(DATA_WIDTH)
        # Hardware behind each (register, field): live values, pulses and storage.
        live = {
            ("STATUS", "BUSY"): self.busy,
            ("STATUS", "DONE"): done,
            ("STATUS", "ERROR"): code != 0,
            ("ERROR", "CODE"): code,
            ("ERROR", "MULTIPLE"): multiple,
            ("ERR_ADDR", "ADDR"): err_addr,
            ("CYCLES", "VALUE"): cycles,
        }
        pulses = {("CONTROL", "START"): self.start, ("CONTROL", "CLEAR"): self.clear}
        outputs = {("CONTROL", "RELU"): self.relu, ("CONTROL", "HALF"): self.half}
        pulse_now = {key: Signal(name=f"{key[1].lower()}_write") for key in pulses}
        clear_error = Signal()

        storage = {}
        for r in rmap:
            for f in r.fields:
                if f.access == "rw":
                    store = Signal(f.width, init=f.reset, name=f"{r.name}_{f.name}".lower())
                    storage[(r.name, f.name)] = store
                    if (r.name, f.name) in outputs:
                        m.d.comb += outputs[(r.name, f.name)].eq(store)
                elif f.access == "pulse":
                    m.d.sync += pulses[(r.name, f.name)].eq(pulse_now[(r.name, f.name)])

        hit = Signal()
        with m.Switch(reg.addr):
            with m.Case(*(r.offset for r in rmap)):
                m.d.comb += hit.eq(1)
        m.d.comb += reg.hit.eq(hit)
        # The access (and a fault) act on the edge after acceptance, or the one after that
        # when the read latency allows: then the port's decode has a cycle to itself.
        # Only the enables are reset: the rest follows the bus every cycle.
        en, f_en = (_delay(m, v, reg_edges(self.cfg) - 1, n)
                    for v, n in ((reg.en, "en"), (self.fault.en, "fault_en")))
        we, addr, wdata, f_code, f_addr = (
            _delay(m, v, reg_edges(self.cfg) - 1, n, reset_less=True)
            for v, n in ((reg.we, "we"), (reg.addr, "addr"), (reg.wdata, "wdata"),
                         (self.fault.code, "fault_code"), (self.fault.addr, "fault_addr")))
        # The value read: one per lane's counters and one for the rest with two read levels
        # (each 0 unless the address is its own, so the second level is an OR), else one.
        def part(r):
            return r.lane if reg_read_levels(self.cfg) == 2 and r.counter is not None else -1

        # (A lane's only as wide as its counters: bits nothing drives would be a process
        # without inputs, which Icarus never runs and Verilator warns about.)
        values = {k: Signal(DATA_WIDTH if k < 0 else min(DATA_WIDTH, self.cfg.counter_width),
                            name=f"rvalue_{k + 1}")
                  for k in sorted({part(r) for r in rmap})}
        # Writes: one strobe per writable register, decoded from the port's request and
        # registered with it (so with two edges the decode is in the first cycle, not in
        # front of the registers and ERROR's latch: the ECP5 critical path before).
        writable = [r for r in rmap if r.access == "wclr" or
                    any(f.access in ("rw", "pulse") for f in r.fields)]
        for r in writable:
            w = _delay(m, reg.en & reg.we & (reg.addr == r.offset), reg_edges(self.cfg) - 1,
                       f"{r.name.lower()}_we")
            for f in r.fields:
                key, wbits = (r.name, f.name), wdata[f.lsb:f.lsb + f.width]
                if f.access == "pulse":
                    m.d.comb += pulse_now[key].eq(w & wbits[0])
                elif f.access == "rw":
                    with m.If(w):
                        m.d.sync += storage[key].eq(wbits)
            if r.access == "wclr":
                m.d.comb += clear_error.eq(w)
        # Reads: the value of the register addressed.
        with m.Switch(addr):
            for r in rmap:
                with m.Case(r.offset):
                    for f in r.fields:
                        key = (r.name, f.name)
                        bits = values[part(r)][f.lsb:f.lsb + f.width]
                        if f.access == "const":
                            m.d.comb += bits.eq(f.reset)
                        elif f.access == "pulse":
                            pass                        # reads as 0
                        elif f.access == "rw":
                            m.d.comb += bits.eq(storage[key])
                        elif r.counter is not None:
                            counter = getattr(self, f"lane_{r.counter}")[r.lane]
                            lo = DATA_WIDTH * r.part
                            m.d.comb += bits.eq(counter[lo:lo + f.width])
                        elif key in live:
                            m.d.comb += bits.eq(live[key])
                        else:
                            raise ValueError(f"register field {r.name}.{f.name} ({f.access}) "
                                             "has no hardware in RegisterBank")
        if len(values) == 1:
            with m.If(en & ~we):
                m.d.sync += reg.rdata.eq(values[-1])
        else:
            held = {k: Signal.like(v, name=f"rheld_{k + 1}") for k, v in values.items()}
            with m.If(en & ~we):
                m.d.sync += [held[k].eq(v) for k, v in values.items()]
            m.d.sync += reg.rdata.eq(functools.reduce(operator.or_, held.values()))

        # STATUS.DONE: set by the done strobe, cleared by START (which wins).
        with m.If(pulse_now[("CONTROL", "START")]):
            m.d.sync += done.eq(0)
        with m.Elif(self.done):
            m.d.sync += done.eq(1)

        # CYCLES: the registered START pulse (``start``, high the cycle after the write's
        # decode, so no bus decode reaches the counter: the iCE40's critical path otherwise)
        # loads reg_edges; counting on to the done or error strobe (from which Accelerator
        # registers irq) gives the bus player's count (sim/hdl/zh_player.v, "C cycles"),
        # which tests/hw/test_accelerator.py checks on every build it runs. A START while the
        # sequencer runs starts nothing, and restarts no count.
        counting = Signal()
        with m.If(self.start & ~self.busy):
            m.d.sync += [cycles.eq(reg_edges(self.cfg)), counting.eq(1)]
        with m.Elif(counting):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(self.done | self.error):
                m.d.sync += counting.eq(0)

        # ERROR / ERR_ADDR: the first error since the last write to ERROR.
        with m.If(clear_error):
            m.d.sync += [code.eq(0), multiple.eq(0), err_addr.eq(0)]
        event = f_en | (self.error & (self.error_code != 0))
        with m.If(event):
            with m.If((code == 0) | clear_error):
                m.d.sync += [code.eq(Mux(f_en, f_code, self.error_code)),
                             err_addr.eq(Mux(f_en, f_addr, 0))]
            with m.Else():
                m.d.sync += multiple.eq(1)
        return m


class HostPort(wiring.Component):
    """Decodes the host bus into the register bank and the scratchpad.

    ``spm_rd[bank]``/``spm_wr[bank]`` are one read and one write port per bank, to be given
    the scratchpad by the integrating top while ``idle`` is high; ``fw_wr`` writes the
    sequencer's instruction memory. While ``idle`` is low a scratchpad or firmware access is
    refused with ``BUSY``; reading the firmware region is a bad address.

    Broadcast writes (``RegisterMap.bcast_addr``) store one word into every bank of a group
    (every lane's operand bank, or every lane's vector bank) through the same write ports.

    With ``cfg.double_buffer`` scratchpad *writes* are accepted while ``idle`` is low (the
    host loads the half of the banks the lanes do not use; reads and firmware writes are still
    refused): ``wr_taken[bank]`` says the datapath uses that bank's write port this cycle, and
    a write that would complete a word there waits (``ready`` low) until the port is free.

    With ``cfg.host_stage`` the ports present a request in the cycle after its acceptance:
    its enables from a register per bank, its address and data from a register per group of
    :data:`STAGE_GROUP` banks (:func:`lane_major`); the integrating top then gives the banks to
    the host a cycle after ``idle`` rises and takes them a cycle after it falls.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.rmap = RegisterMap(cfg)
        super().__init__({
            "bus": In(HostBusSignature()),
            "reg": Out(RegAccessSignature(_reg_addr_width(self.rmap))),
            "fault": Out(FaultSignature()),
            "spm_rd": Out(ReadPortSignature(cfg)).array(cfg.spm_banks),
            "spm_wr": Out(WritePortSignature(cfg)).array(cfg.spm_banks),
            "fw_wr": Out(wiring.Signature({"addr": Out(range(cfg.fw_depth)), "en": Out(1),
                                           "data": Out(DATA_WIDTH)})),
            "idle": In(1),
            "wr_taken": In(1).array(cfg.spm_banks),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, rmap, bus = self.cfg, self.rmap, self.bus
        k = _reg_addr_width(rmap)                       # spm_base == 1 << k
        parts, stride = rmap.spm_word_parts, rmap.spm_word_stride
        pb, aw = (stride - 1).bit_length(), cfg.spm_addr_width

        accept = bus.valid & bus.ready

        # Registers: below spm_base, and a register there (holes are errors).
        in_regs = bus.addr[k:] == 0
        m.d.comb += [self.reg.addr.eq(bus.addr[:k]), self.reg.we.eq(bus.we),
                     self.reg.wdata.eq(bus.wdata)]
        reg_hit = in_regs & self.reg.hit
        m.d.comb += self.reg.en.eq(accept & reg_hit)

        # Scratchpad: spm_base + bank * bank_stride + word * stride + part.
        off = bus.addr[:k]
        part, word, bank = off[:pb], off[pb:pb + aw], off[pb + aw:]
        part_ok = (part < parts) if parts < stride else 1
        # Broadcast (write-only): the same offsets, `bank` naming the group of banks written.
        in_spm = (bus.addr[k:] == 1) & part_ok
        if rmap.bcast_groups:
            in_bc = (bus.addr[k:] == 2) & part_ok & bus.we
            bc_hit = in_bc & (off < rmap.bcast_size)
        else:
            in_bc = bc_hit = C(0, 1)
        spm_hit = (in_spm & (off < rmap.spm_size)) | bc_hit
        top_part = part == parts - 1
        groups = [rmap.bcast_banks(g) for g in range(rmap.bcast_groups)]
        # While the datapath runs only writes are let through (double buffering), and one that
        # completes a word waits for its bank's write port (every bank of a broadcast group).
        spm_allowed = self.idle | bus.we if cfg.double_buffer else self.idle
        spm_go = accept & spm_hit & spm_allowed
        if cfg.double_buffer:
            taken = Array(self.wr_taken)[bank] if cfg.spm_banks > 1 else self.wr_taken[0]
            if groups:
                group_taken = Array(Cat(*(self.wr_taken[b] for b in g)).any() for g in groups)
                taken = Mux(bc_hit, group_taken[bank[0]], taken)
            m.d.comb += bus.ready.eq(~(bus.valid & bus.we & spm_hit & top_part & ~self.idle
                                       & taken))
        else:
            m.d.comb += bus.ready.eq(1)
        wdata = bus.wdata
        if parts > 1:
            stage = Signal(DATA_WIDTH * (parts - 1))    # lower parts of a wide word
            wdata = Cat(stage, bus.wdata)
            with m.If(spm_go & bus.we & ~top_part):
                with m.Switch(part):
                    for p in range(parts - 1):
                        with m.Case(p):
                            m.d.sync += stage[DATA_WIDTH * p:DATA_WIDTH * (p + 1)].eq(bus.wdata)
        order = lane_major(cfg)
        position = Array(C(order.index(b), range(cfg.spm_banks)) for b in range(cfg.spm_banks))
        if cfg.host_stage:
            # The request's address and data registered once per group of STAGE_GROUP banks
            # (lane-major), loaded for any request to a block of STAGE_GROUP / 2 bank numbers
            # that holds one of the group's banks: a load enable two LUT levels from the bus's
            # bank bits, different for each group, so Yosys cannot merge the copies. A superset
            # of the accepted requests loads it, which is harmless: a bank only uses its
            # group's stage in the cycle its own registered enable below says a request for it
            # is there.
            bc_region = bus.addr[k:] == 2
            staged = []
            block_bits = (STAGE_GROUP // 2).bit_length() - 1
            for g in range(-(-cfg.spm_banks // STAGE_GROUP)):
                addr, data = (Signal.like(v, name=f"spm_g{g}_{n}_stage")
                              for v, n in ((word, "addr"), (wdata, "data")))
                blocks = sorted({b >> block_bits
                                 for b in order[g * STAGE_GROUP:(g + 1) * STAGE_GROUP]})
                ours = Cat(*(bank[block_bits:] == x for x in blocks)).any()
                with m.If(bus.valid & (bc_region | ours)):
                    m.d.sync += [addr.eq(word), data.eq(wdata)]
                staged.append((addr, data))
        # A bank's enables: its own number in the scratchpad region (or its group's in the
        # broadcast region) implies the range checks of spm_hit / bc_hit (the depth is a power
        # of two, so `bank` is the offset's top bits), so they leave those compares' carry
        # chains out (on the ECP5 they were on the critical path to the banks).
        bank_go = accept & in_spm & spm_allowed
        bc_go = accept & in_bc & spm_allowed
        for b in range(cfg.spm_banks):
            sel = bank_go & (bank == b)
            for g, banks in enumerate(groups):
                if b in banks:
                    sel |= bc_go & (bank == g)
            addr, data = word, wdata
            rd_en, wr_en = ~bus.we & sel, bus.we & top_part & sel
            if cfg.host_stage:
                addr, data = staged[order.index(b) // STAGE_GROUP]
                rd_q, wr_q = Signal(name=f"spm{b}_rd_stage"), Signal(name=f"spm{b}_wr_stage")
                m.d.sync += [rd_q.eq(rd_en), wr_q.eq(wr_en)]
                rd_en, wr_en = rd_q, wr_q
            m.d.comb += [
                self.spm_rd[b].addr.eq(addr), self.spm_rd[b].en.eq(rd_en),
                self.spm_wr[b].addr.eq(addr), self.spm_wr[b].data.eq(data),
                self.spm_wr[b].en.eq(wr_en),
            ]

        # Firmware: write-only, at fw_base = 3 * spm_base.
        fw_hit = (bus.addr[k:] == 3) & (off < cfg.fw_depth) & bus.we
        m.d.comb += [self.fw_wr.addr.eq(off), self.fw_wr.data.eq(bus.wdata),
                     self.fw_wr.en.eq(accept & fw_hit & self.idle)]

        # Faults.
        bad = accept & ~reg_hit & ~spm_hit & ~fw_hit
        busy = accept & ((spm_hit & ~spm_allowed) | fw_hit) & ~self.idle
        m.d.comb += [self.fault.en.eq(bad | busy),
                     self.fault.code.eq(Mux(bad, ERR_BAD_ADDR, ERR_BUSY)),
                     self.fault.addr.eq(bus.addr)]

        # Response, cfg.host_latency cycles after acceptance. The first edge is the banks'
        # own read (with cfg.host_stage the request's stage, and the read the second; the
        # register bank samples at edge `reg_edges`, through `reg_read_levels` registered
        # levels); each further one a registered level of the banks' read-data mux
        # (everything else is only delayed).
        lat = cfg.host_latency
        ack, err, from_reg, from_spm = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [ack.eq(accept), err.eq(bad | busy),
                     from_reg.eq(accept & reg_hit & ~bus.we),
                     from_spm.eq(spm_go & ~bus.we)]
        level = [self.spm_rd[b].data for b in order]
        bank_r = Signal(range(cfg.spm_banks))          # the bank's place in `order`
        with m.If(spm_go):
            m.d.sync += bank_r.eq(position[bank])
        sel, bits = bank_r, (cfg.spm_banks - 1).bit_length()
        if cfg.host_stage:
            sel = _delay(m, sel, 1, "spm_sel_stage", reset_less=True)
        levels = lat - 1 - cfg.host_stage       # registered levels of the read-data mux
        for s in range(levels):
            # 2**step banks (then groups) a register; the final, combinational level too.
            step = -(-bits // (levels + 1 - s))
            groups = [level[i:i + (1 << step)] for i in range(0, len(level), 1 << step)]
            level = [Signal(len(g[0]), name=f"spm_rdata_{s + 1}_{i}", reset_less=True)
                     for i, g in enumerate(groups)]
            for i, (reg, g) in enumerate(zip(level, groups)):
                pick = sel[:step]
                if s == 0 and cfg.host_stage and len(groups) > 1:
                    # With the stage, each first-level group has its own copy of the select's
                    # low bits, loaded only for a read of that group (so Yosys keeps the
                    # copies apart): one select register fanned out to every bank's data
                    # was the ULX3S critical path (placed far from most of its banks).
                    pick = Signal(step, name=f"spm_sel_stage_{i}", reset_less=True)
                    with m.If(bank_r[step:] == i):
                        m.d.sync += pick.eq(bank_r[:step])
                m.d.sync += reg.eq(Array(g)[pick] if len(g) > 1 else g[0])
            sel = _delay(m, sel[step:], 1, f"spm_sel_{s + 1}", reset_less=True)
            bits -= step
        data = Array(level)[sel] if len(level) > 1 else level[0]
        wide = Signal(DATA_WIDTH * parts)
        m.d.comb += wide.eq(data)
        spm_rdata = wide
        if parts > 1:
            part_r = Signal(range(parts))
            with m.If(spm_go):
                m.d.sync += part_r.eq(part)
            spm_rdata = Array(wide[DATA_WIDTH * p:DATA_WIDTH * (p + 1)]
                              for p in range(parts))[_delay(m, part_r, lat - 1, "part",
                                                               reset_less=True)]
        ack, err, from_reg, from_spm = (
            _delay(m, v, lat - 1, n) for v, n in ((ack, "ack"), (err, "err"),
                                                  (from_reg, "from_reg"),
                                                  (from_spm, "from_spm")))
        reg_rdata = _delay(m, self.reg.rdata, lat - reg_edges(cfg) - reg_read_levels(cfg) + 1,
                           "reg_rdata", reset_less=True)
        m.d.comb += [bus.ack.eq(ack), bus.err.eq(err),
                     bus.rdata.eq(Mux(from_reg, reg_rdata, Mux(from_spm, spm_rdata, 0)))]
        return m
