"""Hardware layouts of the token protocol (described in :mod:`zerohero.spec.tokens`).

``TokenLayout(cfg, operands)`` is the one token layout every unit uses, with the fields of
:func:`zerohero.spec.tokens.token_fields`.

``BeatLayout(token, k)`` packs ``1..k`` consecutive tokens of one stream into one transfer
(field ``n`` counts them, ``tok[0]`` is first); wide scanners feed the K-window intersector
with it.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream

from zerohero.spec.tokens import token_fields

__all__ = ["TokenLayout", "BeatLayout", "token_stream", "beat_stream", "pack", "unpack"]


class TokenLayout(data.StructLayout):
    def __init__(self, cfg, operands=1, value_width=None):
        self.operands = operands
        self.value_width = cfg.value_width if value_width is None else value_width
        fields = {}
        for name, f in token_fields(cfg, operands, self.value_width).items():
            shape = signed(f.width) if f.signed else unsigned(f.width)
            fields[name] = shape if f.count is None else data.ArrayLayout(shape, f.count)
        super().__init__(fields)


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
