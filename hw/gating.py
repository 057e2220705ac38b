"""Gated clock domains: parts of the design that stop when nothing can change them.

:func:`gated_clock` is ``sync``'s clock gated by an enable latched on the falling edge (what
a clock gate cell does: the enable settles while the clock is low, so a gated edge is clean
and coincides with the ungated one). :func:`add_domain` adds a domain on a given clock whose
reset is a register of the domain itself (an :func:`own_copy`, so synthesis keeps one per
domain): a synchronous reset enters every flip-flop's next state, and one from another domain
would make all of the domain's logic depend on that domain's clock. A domain leaves reset one
cycle after ``sync``. :func:`add_gated_domain` combines the two.

Why gate: an event-driven or Verilator simulation evaluates a stopped domain's logic not at
all, as long as that logic depends on nothing outside the domain (Verilator evaluates
combinational logic on every edge of any clock domain it reads). The machine is the same
cycle for cycle as long as the enable is high whenever the domain's state could change; the
users (hw/accelerator.py, hw/lane.py) say why theirs is, and tests/hw/test_accelerator.py
compares gated and ungated builds job by job. Ungated (``gating=False``, the FPGA presets,
where a gated clock would be a clock made in logic) a domain's clock is ``sync``'s.
"""

from amaranth.hdl import ClockDomain, ClockSignal, ResetSignal, Signal

__all__ = ["add_domain", "add_gated_domain", "gated_clock", "own_copy"]


def own_copy(m, domain: str, reg, value):
    """``reg`` follows ``value`` a cycle late, as ``m.d[domain] += reg.eq(value)`` would, but
    loads only when the two differ. Copies of one signal registered the plain way (a lane's
    reset, its ``clear``, a bank's owner) have the same inputs, and Yosys merges them into one
    flip-flop fanned out across the chip; this enable reads the register itself, so every copy
    stays beside its users."""
    with m.If(reg != value):
        m.d[domain] += reg.eq(value)


def gated_clock(m, name: str, wake):
    """``sync``'s clock gated by ``wake`` (a value on ``sync``'s side), latched on the falling
    edge in the reset-less domain ``<name>_gate`` of ``m``."""
    latch = ClockDomain(f"{name}_gate", clk_edge="neg", reset_less=True, local=True)
    m.domains += latch
    enable = Signal(reset_less=True, name=f"{name}_enable")
    clk = Signal(name=f"{name}_clk")
    m.d.comb += [latch.clk.eq(ClockSignal()), clk.eq(ClockSignal() & enable)]
    m.d[latch.name] += enable.eq(wake)
    return clk


def add_domain(m, name: str, clk) -> ClockDomain:
    """Add the local domain ``name`` to ``m``, clocked by ``clk``, with a reset register of its
    own (sampling ``sync``'s reset: ``clk`` must run during reset)."""
    cd = ClockDomain(name, local=True)
    m.domains += cd
    rst = Signal(reset_less=True, name=f"{name}_rst")
    m.d.comb += [cd.clk.eq(clk), cd.rst.eq(rst)]
    own_copy(m, name, rst, ResetSignal())
    return cd


def add_gated_domain(m, name: str, wake, gating: bool) -> ClockDomain:
    """:func:`add_domain` on ``sync``'s clock, gated by ``wake`` if ``gating``; reset wakes it
    too, until the domain's reset register has followed ``sync``'s reset."""
    if not gating:
        return add_domain(m, name, ClockSignal())
    clk = Signal(name=f"{name}_gated")
    cd = add_domain(m, name, clk)
    m.d.comb += clk.eq(gated_clock(m, name, wake | ResetSignal() | cd.rst))
    return cd
