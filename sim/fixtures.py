"""Test fixtures: small tops that put memory-side units next to a real scratchpad."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from zerohero.hw.memory import Scratchpad, WritePortSignature
from zerohero.hw.protocol import token_stream
from zerohero.hw.scan import BitmapScanner, CompressedScanner, DenseScanner, Locator

__all__ = ["ScanBench"]


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
