"""The scratchpad's word formats, shared by the hardware, the firmware's layouts and the host.

* A packed entry is ``crd`` in bits ``[0, coord_width)`` and the two's complement ``val`` in
  ``[coord_width, coord_width + acc_width)`` (operands sign-extended, so operand and result
  entries share one format); pointers are plain unsigned integers.
* A bitmap row is ``ceil(cols / BITMAP_BITS)`` words, bit ``b`` of word ``w`` set where column
  ``w * BITMAP_BITS + b`` holds a nonzero.
"""

__all__ = ["BITMAP_BITS", "pack_entry", "unpack_entry"]

#: Columns per bitmap word.
BITMAP_BITS = 32


def pack_entry(cfg, crd: int, val: int) -> int:
    """The scratchpad word of entry ``(crd, val)`` (``val`` checked against acc_width)."""
    if not 0 <= crd <= cfg.coord_max:
        raise ValueError(f"coordinate {crd} does not fit {cfg.coord_width} bits")
    if not cfg.acc_min <= val <= cfg.acc_max:
        raise ValueError(f"value {val} does not fit signed {cfg.acc_width} bits")
    return int(crd) | ((int(val) & ((1 << cfg.acc_width) - 1)) << cfg.coord_width)


def unpack_entry(cfg, word: int):
    crd = word & cfg.coord_max
    val = (word >> cfg.coord_width) & ((1 << cfg.acc_width) - 1)
    if val >> (cfg.acc_width - 1):
        val -= 1 << cfg.acc_width
    return crd, val
