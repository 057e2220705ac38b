"""Gated clock domains: a part of the design that stops when nothing can change it.

:func:`add_gated_domain` adds a domain whose clock is ``sync``'s, gated by an enable latched
on the falling edge (what a clock gate cell does: the enable settles while the clock is low,
so a gated edge is clean and coincides with the ungated one). Its reset is a register of the
domain itself: a synchronous reset enters every flip-flop's next state, and one from another
domain would make all of the domain's logic depend on that domain's clock. The domain leaves
reset one cycle after ``sync``.

Why gate: an event-driven or Verilator simulation evaluates a stopped domain's logic not at
all, as long as that logic depends on nothing outside the domain (Verilator evaluates
combinational logic on every edge of any clock domain it reads). The machine is the same
cycle for cycle as long as the enable is high whenever the domain's state could change; the
users of this (hw/accelerator.py, hw/lane.py) say why theirs is, and
tests/test_accelerator.py compares gated and ungated builds job by job. Ungated
(``gating=False``: the FPGA presets, where a gated clock would be a clock made in logic) the
domain's clock is ``sync``'s.
"""

from amaranth.hdl import ClockDomain, ClockSignal, ResetSignal, Signal

__all__ = ["add_gated_domain"]


def add_gated_domain(m, name: str, wake, gating: bool) -> ClockDomain:
    """Add the local domain ``name`` to module ``m``, clocked while ``wake`` (a value of the
    ``sync`` domain's side; reset wakes it too) if ``gating``, always otherwise."""
    cd = ClockDomain(name, local=True)
    m.domains += cd
    rst = Signal(reset_less=True, name=f"{name}_rst")
    m.d[name] += rst.eq(ResetSignal())
    m.d.comb += cd.rst.eq(rst)
    if not gating:
        m.d.comb += cd.clk.eq(ClockSignal())
        return cd
    latch = ClockDomain(f"{name}_gate", clk_edge="neg", reset_less=True, local=True)
    m.domains += latch
    enable = Signal(reset_less=True, name=f"{name}_enable")
    m.d.comb += [latch.clk.eq(ClockSignal()), cd.clk.eq(ClockSignal() & enable)]
    m.d[latch.name] += enable.eq(wake | ResetSignal() | rst)
    return cd
