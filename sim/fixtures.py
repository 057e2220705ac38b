"""Test fixtures: the verification tops (units under test next to what they need) and the
table of every top the generator can emit, shipped and verification ones.

``zerohero verilog --top NAME`` and :func:`zerohero.sim.harness.build` look names up in
:data:`TOPS` here; hardware (:mod:`zerohero.hw.top`) knows only the shipped tops.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zerohero.hw import top as hw_top
from zerohero.hw.host import HostBusSignature, HostPort, RegisterBank
from zerohero.hw.memory import Scratchpad, WritePortSignature
from zerohero.hw.pe import MACLane, counter_names
from zerohero.hw.protocol import token_stream
from zerohero.hw.scan import BitmapScanner, CompressedScanner, DenseScanner, Locator
from zerohero.spec.config import COUNTER_NAMES

__all__ = ["PEArray", "HostMemory", "ScanBench", "TOPS", "DEFAULT_TOP", "make_top",
           "generate"]


class PEArray(wiring.Component):
    """``cfg.lanes`` independent :class:`MACLane` s; ports are arrays indexed by lane."""

    def __init__(self, cfg):
        self.cfg = cfg
        members = {
            "inp": In(token_stream(cfg, 2)).array(cfg.lanes),
            "out": Out(token_stream(cfg, 1, value_width=cfg.acc_width)).array(cfg.lanes),
            "relu": In(1),
            "clear": In(1),
        }
        for name in counter_names:
            members[name] = Out(cfg.counter_width).array(cfg.lanes)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for i in range(self.cfg.lanes):
            lane = m.submodules[f"lane{i}"] = MACLane(self.cfg)
            wiring.connect(m, wiring.flipped(self.inp[i]), lane.inp)
            wiring.connect(m, lane.out, wiring.flipped(self.out[i]))
            m.d.comb += [lane.relu.eq(self.relu), lane.clear.eq(self.clear)]
            for name in counter_names:
                m.d.comb += getattr(self, name)[i].eq(getattr(lane, name))
        return m


class HostMemory(wiring.Component):
    """:class:`HostPort` + :class:`RegisterBank` + :class:`Scratchpad` (read port 0 and the
    write port of every bank). Ports: ``bus``, ``idle`` and the register bank's hardware side
    (``start``, ``clear``, ``relu``, ``half``, ``busy``, ``done``, ``error``, ``error_code``,
    ``lane_<counter>[lane]``)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.bank = RegisterBank(cfg)
        hardware = {name: member for name, member in self.bank.signature.members.items()
                    if name not in ("reg", "fault")}
        super().__init__({
            "bus": In(HostBusSignature()),
            "idle": In(1),
            **hardware,
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        port = m.submodules.port = HostPort(cfg)
        bank = m.submodules.regs = self.bank
        spm = m.submodules.spm = Scratchpad(cfg)
        wiring.connect(m, wiring.flipped(self.bus), port.bus)
        wiring.connect(m, port.reg, bank.reg)
        wiring.connect(m, port.fault, bank.fault)
        for b in range(cfg.spm_banks):
            wiring.connect(m, port.spm_rd[b], spm.rd[b][0])
            wiring.connect(m, port.spm_wr[b], spm.wr[b])
        m.d.comb += port.idle.eq(self.idle)
        for name in ("start", "clear", "relu", "half"):
            m.d.comb += getattr(self, name).eq(getattr(bank, name))
        for name in ("busy", "done", "error", "error_code"):
            m.d.comb += getattr(bank, name).eq(getattr(self, name))
        for name in COUNTER_NAMES:
            for lane in range(cfg.lanes):
                m.d.comb += getattr(bank, f"lane_{name}")[lane].eq(
                    getattr(self, f"lane_{name}")[lane])
        return m


class ScanBench(wiring.Component):
    """Scratchpad (``cfg.spm_banks >= 3``) with: a :class:`CompressedScanner` on bank 0 whose
    stream leaves on ``scan`` (``gather = 0``) or through a :class:`Locator` reading bank 1 on
    ``pairs`` (``gather = 1``); a :class:`DenseScanner` on bank 1 (``dense``); a
    :class:`BitmapScanner` on bank 2 (``bitmap``). ``load[b]`` writes bank ``b``. Job ports are
    the units' own, prefixed ``cs_``, ``ds_``, ``bm_``; ``loc_base`` is the locator's."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.cs = CompressedScanner(cfg)
        self.ds = DenseScanner(cfg)
        self.bm = BitmapScanner(cfg)
        self.loc = Locator(cfg)
        self.jobs = {"cs": self.cs, "ds": self.ds, "bm": self.bm}
        members = {
            "load": In(WritePortSignature(cfg)).array(cfg.spm_banks),
            "gather": In(1),
            "scan": Out(token_stream(cfg, 1)),
            "pairs": Out(token_stream(cfg, 2)),
            "dense": Out(token_stream(cfg, 1)),
            "bitmap": Out(token_stream(cfg, 1)),
            "loc_base": In(cfg.spm_addr_width),
        }
        for prefix, unit in self.jobs.items():
            for name, member in unit.signature.members.items():
                if member.is_port:
                    members[f"{prefix}_{name}"] = member
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.spm = spm = Scratchpad(self.cfg)
        m.submodules.cs = cs = self.cs
        m.submodules.ds = ds = self.ds
        m.submodules.loc = loc = self.loc
        m.submodules.bm = bm = self.bm
        for b in range(self.cfg.spm_banks):
            wiring.connect(m, wiring.flipped(self.load[b]), spm.wr[b])
        for prefix, unit in self.jobs.items():
            for name, member in unit.signature.members.items():
                if member.is_port:
                    mine, theirs = getattr(self, f"{prefix}_{name}"), getattr(unit, name)
                    if member.flow == In:
                        m.d.comb += theirs.eq(mine)
                    else:
                        m.d.comb += mine.eq(theirs)
        wiring.connect(m, cs.pos_rd, spm.rd[0][0])
        wiring.connect(m, cs.crd_rd, spm.rd[0][1])
        wiring.connect(m, loc.rd, spm.rd[1][0])
        wiring.connect(m, ds.rd, spm.rd[1][1])
        wiring.connect(m, bm.bits_rd, spm.rd[2][0])
        wiring.connect(m, bm.val_rd, spm.rd[2][1])
        wiring.connect(m, bm.out, wiring.flipped(self.bitmap))
        m.d.comb += loc.base.eq(self.loc_base)
        # cs.out goes to `scan` or through the locator to `pairs`.
        m.d.comb += [
            self.scan.payload.eq(cs.out.payload), loc.inp.payload.eq(cs.out.payload),
            self.scan.valid.eq(cs.out.valid & ~self.gather),
            loc.inp.valid.eq(cs.out.valid & self.gather),
            cs.out.ready.eq((self.gather & loc.inp.ready) | (~self.gather & self.scan.ready)),
        ]
        wiring.connect(m, loc.out, wiring.flipped(self.pairs))
        wiring.connect(m, ds.out, wiring.flipped(self.dense))
        return m


#: Name -> factory(cfg) of every top: the shipped ones (:data:`zerohero.hw.top.TOPS`) and the
#: verification tops, which exist for the unit testbenches.
TOPS = {
    **hw_top.TOPS,
    "pe-array": PEArray,
    "host-memory": HostMemory,
}
DEFAULT_TOP = hw_top.DEFAULT_TOP


def make_top(cfg, top=DEFAULT_TOP):
    """:func:`zerohero.hw.top.make_top` over :data:`TOPS`."""
    return hw_top.make_top(cfg, top, TOPS)


def generate(cfg, top=DEFAULT_TOP, name=None):
    """:func:`zerohero.hw.top.generate` over :data:`TOPS`: ``(verilog_text, description)``."""
    return hw_top.generate(cfg, top, name, TOPS)
