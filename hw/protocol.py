"""Hardware layouts of the token protocol (described in :mod:`zerohero.spec.tokens`).

``TokenLayout(cfg, operands)`` is the one token layout every unit uses:

========  ===========================  ==============================================
field     shape                        meaning
========  ===========================  ==============================================
``crd``   ``unsigned(coord_width)``    coordinate of a data token
``val``   ``signed(W) x operands``     operand values (``W`` = ``value_width``)
``has``   ``unsigned(operands)``       operand present (unions mark the absent side 0)
``data``  1                            ``crd``/``val`` are meaningful
``stop``  1                            this token ends a fiber at level ``lvl``
``lvl``   ``unsigned(level_width)``    level of the stop
``done``  1                            end of stream (``data = stop = 0``)
========  ===========================  ==============================================

``BeatLayout(token, k)`` packs ``1..k`` consecutive tokens of one stream into one transfer
(field ``n`` counts them, ``tok[0]`` is first); wide scanners feed the K-window intersector
with it.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream

__all__ = ["TokenLayout", "BeatLayout", "token_stream", "beat_stream", "pack", "unpack"]


class TokenLayout(data.StructLayout):
    def __init__(self, cfg, operands=1, value_width=None):
        self.operands = operands
        self.value_width = cfg.value_width if value_width is None else value_width
        super().__init__({
            "crd": unsigned(cfg.coord_width),
            "val": data.ArrayLayout(signed(self.value_width), operands),
            "has": unsigned(operands),
            "data": 1,
            "stop": 1,
            "lvl": unsigned(cfg.level_width),
            "done": 1,
        })


class BeatLayout(data.StructLayout):
    def __init__(self, token_layout, k):
        self.k = k
        self.token = token_layout
        super().__init__({
            "tok": data.ArrayLayout(token_layout, k),
            "n": unsigned(k.bit_length()),
        })


def token_stream(cfg, operands=1, value_width=None):
    return stream.Signature(TokenLayout(cfg, operands, value_width))


def beat_stream(cfg, k, operands=1):
    return stream.Signature(BeatLayout(TokenLayout(cfg, operands), k))


# Bit-level packing, for testbenches and host code that see the flattened Verilog port.

def pack(layout, value) -> int:
    """Nested dicts/lists/ints -> the integer on the Verilog port (checks every field fits)."""
    return layout.const(value).as_value().value


def unpack(layout, bits: int):
    """Inverse of :func:`pack`: dicts for structs, lists for arrays, ints for leaves."""
    def walk(v):
        if isinstance(v, data.Const):
            if isinstance(v.shape(), data.ArrayLayout):
                return [walk(x) for x in v]
            return {name: walk(v[name]) for name, _ in v.shape()}
        return int(v)
    return walk(data.Const(layout, bits))
