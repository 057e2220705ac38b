"""The banked scratchpad.

``cfg.spm_banks`` banks of ``cfg.spm_depth`` words of ``cfg.word_width`` bits, each an
``amaranth.lib.memory.Memory`` with one write port and two read ports whose data is
registered (valid the cycle after ``en``; needed for Fmax on iCE40 and ECP5, and what lets
synthesis map a bank to block RAM: EBR on iCE40, DP16KD on ECP5; two read ports replicate the
bank's block RAM).

Layout rules the scheduler follows (so every lane streams one nonzero per cycle):

* **Operand bank** ``i`` (``0 <= i < lanes``) holds lane ``i``'s streamed operand: the ``pos``
  array and the packed ``(crd, val)`` words of its rows (or its dense rows). Read port 0
  prefetches fiber bounds, read port 1 streams entries.
* **Vector bank** ``lanes + i`` holds what lane ``i`` meets its rows with: the dense vector or
  matrix it gathers from (the locator reads it on port 0) or the sparse fiber it intersects
  with (both ports), so that never competes with streaming; its write port takes lane ``i``'s
  results, after the operand. A full-rate SpMV on every lane therefore needs
  ``spm_banks >= 2 * lanes`` (the presets have exactly that).
* A packed entry is ``crd`` in bits ``[0, coord_width)`` and the two's complement ``val`` in
  ``[coord_width, coord_width + acc_width)`` (operands sign-extended, so operand and result
  entries share one format); pointers are plain unsigned integers.

The host reaches every word through :mod:`zerohero.hw.host` while the datapath is idle.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out

__all__ = ["EntryLayout", "ReadPortSignature", "WritePortSignature", "Scratchpad", "READ_PORTS"]

READ_PORTS = 2


class EntryLayout(data.StructLayout):
    """A packed nonzero: coordinate and value."""

    def __init__(self, cfg):
        super().__init__({"crd": unsigned(cfg.coord_width), "val": signed(cfg.acc_width)})


# Not lib.memory's ReadPort.Signature: its en has init 1, ours idles at 0 (the readers raise it
# only to read, the data register holds otherwise).
class ReadPortSignature(wiring.Signature):
    """A registered read port, from the reader's side: ``data`` is valid one cycle after
    ``en`` with ``addr``."""

    def __init__(self, cfg):
        super().__init__({
            "addr": Out(cfg.spm_addr_width),
            "en": Out(1),
            "data": In(cfg.word_width),
        })


def WritePortSignature(cfg):
    """A write port of a bank, from the writer's side: ``lib.memory``'s
    :class:`~amaranth.lib.memory.WritePort.Signature`, flipped."""
    return WritePort.Signature(addr_width=cfg.spm_addr_width,
                               shape=unsigned(cfg.word_width)).flip()


class Scratchpad(wiring.Component):
    """Ports: ``rd[bank][port]`` (``READ_PORTS`` per bank) and ``wr[bank]``.

    ``read_domains``: per bank, the clock domain of its read data registers (the accelerator
    clocks a bank's with the lane that reads it, see
    :class:`~zerohero.hw.accelerator.Accelerator`); ``sync`` by default. The memory is written
    in ``sync``."""

    def __init__(self, cfg, read_domains=None):
        self.cfg = cfg
        self.read_domains = read_domains or ["sync"] * cfg.spm_banks
        super().__init__({
            "rd": In(ReadPortSignature(cfg)).array(cfg.spm_banks, READ_PORTS),
            "wr": In(WritePortSignature(cfg)).array(cfg.spm_banks),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        for b in range(cfg.spm_banks):
            mem = m.submodules[f"bank{b}"] = Memory(shape=unsigned(cfg.word_width),
                                                    depth=cfg.spm_depth, init=[],
                                                    attrs={"no_rw_check": 1})
            wp = mem.write_port()
            wiring.connect(m, wiring.flipped(self.wr[b]), wp)
            for p in range(READ_PORTS):
                # An asynchronous read and the data register written out, not a synchronous
                # read port: synthesis merges the two into the block RAM's own registered
                # read and, with ``no_rw_check``, leaves a read of the address being written
                # in the same cycle undefined instead of emulating read-first in logic (a
                # write-delay register and a bypass mux on every data bit: 216 flip-flops
                # and ~200 LUT4 per two banks, tests/hw/test_synth.py). Nothing reads a word in
                # the cycle it is written: results go after the operands (rules above), the
                # host only reads while the lanes are idle and, double-buffered, writes the
                # half they do not use. Simulation keeps read-first (old data).
                rp = mem.read_port(domain="comb")
                port = self.rd[b][p]
                data = Signal.like(port.data, reset_less=True)  # block RAMs do not reset
                m.d.comb += [rp.addr.eq(port.addr), port.data.eq(data)]
                with m.If(port.en):
                    m.d[self.read_domains[b]] += data.eq(rp.data)
        return m
