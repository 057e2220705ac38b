"""Top-level designs the generator can emit, and their Verilog plus port description."""

from __future__ import annotations

import json
import re

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from .accelerator import Accelerator
from zerohero.spec.config import AccelConfig
from .join import Intersector, Unioner

__all__ = ["TOPS", "DEFAULT_TOP", "make_top", "generate", "describe_ports",
           "compact_zero_init"]

#: Name -> factory(cfg) of the shipped tops: ``accelerator`` is the integrated design, the
#: others are its parts. Verification tops extend this table in the sim layer
#: (:data:`zerohero.sim.fixtures.TOPS`), which hardware does not import.
TOPS = {
    "accelerator": Accelerator,
    "intersector": Intersector,
    "unioner": Unioner,
}
DEFAULT_TOP = "accelerator"


def make_top(cfg: AccelConfig, top=DEFAULT_TOP, tops=None) -> wiring.Component:
    """The top named ``top`` in ``tops`` (default :data:`TOPS`), or ``top(cfg)`` for a
    component class."""
    if callable(top):
        return top(cfg)
    tops = TOPS if tops is None else tops
    try:
        factory = tops[top]
    except KeyError:
        raise ValueError(f"unknown top {top!r}; known: {', '.join(tops)}") from None
    return factory(cfg)


def _layout_fields(layout, prefix=""):
    """Flat ``[{name, offset, width, signed}]`` of a data layout (nested names joined by .)."""
    if isinstance(layout, data.ArrayLayout):
        size = Shape.cast(layout.elem_shape).width
        items = [(str(i), layout.elem_shape, i * size) for i in range(layout.length)]
    else:
        items = [(name, f.shape, f.offset) for name, f in layout]
    out = []
    for name, shape, offset in items:
        full = f"{prefix}{name}"
        if isinstance(shape, data.Layout):
            out += [{**f, "offset": f["offset"] + offset}
                    for f in _layout_fields(shape, full + ".")]
        else:
            shape = Shape.cast(shape)
            out.append({"name": full, "offset": offset, "width": shape.width,
                        "signed": shape.signed})
    return out


def describe_ports(component: wiring.Component) -> list[dict]:
    """Every Verilog port of ``component`` with direction, width and payload fields."""
    ports = [{"name": "clk", "dir": "in", "width": 1}, {"name": "rst", "dir": "in", "width": 1}]
    for path, member, value in component.signature.flatten(component):
        name = "__".join(str(p) for p in path)
        entry = {"name": name, "dir": "in" if member.flow == wiring.In else "out",
                 "width": len(value.as_value()) if hasattr(value, "as_value") else len(value)}
        shape = member.shape
        if isinstance(shape, data.Layout):
            entry["fields"] = _layout_fields(shape)
        ports.append(entry)
    return ports


def generate(cfg: AccelConfig, top: str = DEFAULT_TOP, name: str | None = None, tops=None):
    """``(verilog_text, description)`` of the top named ``top`` in ``tops`` (default
    :data:`TOPS`) for ``cfg``, or of a component class ``top``."""
    component = make_top(cfg, top, tops)
    label = top if isinstance(top, str) else top.__name__.lower()
    name = name or f"zerohero_{label.replace('-', '_')}"
    text = compact_zero_init(verilog.convert(component, name=name, emit_src=False))
    description = {
        "module": name,
        "top": label,
        "config": cfg.to_dict(),
        "ports": describe_ports(component),
    }
    return text, description


_INIT_BLOCK = re.compile(r"^  initial begin\n((?:    [^\n]*\n)+?)  end\n", re.M)
_ZERO_WORD = re.compile(r"    (\S+ ?)\[(\d+)\] = \d+'h0+;")


def compact_zero_init(text: str) -> str:
    """``text`` with every memory initialization that sets words 0..N-1 of one memory to zero,
    one statement a word (how Yosys writes Amaranth's memories: 16 x 32768 lines for
    sim-small's scratchpad), written as one ``for`` loop; the same initial contents in an
    eighth of the text, which Icarus and Verilator compile much faster.
    Anything else is left as it is."""
    count = 0

    def loop(block):
        nonlocal count
        lines = block.group(1).splitlines()
        words = [_ZERO_WORD.fullmatch(line) for line in lines]
        if len(lines) < 2 or not all(words) or len({w.group(1) for w in words}) != 1 or \
                any(int(w.group(2)) != i for i, w in enumerate(words)):
            return block.group(0)
        count += 1
        return (f"  initial begin : zh_zero_init_{count}\n    integer zh_i;\n"
                f"    for (zh_i = 0; zh_i < {len(lines)}; zh_i = zh_i + 1) "
                f"{words[0].group(1)}[zh_i] = 0;\n  end\n")

    return _INIT_BLOCK.sub(loop, text)


def dumps(description) -> str:
    return json.dumps(description, indent=2) + "\n"
