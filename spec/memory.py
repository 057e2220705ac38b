"""The scratchpad's word formats, shared by the hardware, the firmware's layouts and the host.

* A packed entry is ``crd`` in bits ``[0, coord_width)`` and the two's complement ``val`` in
  ``[coord_width, coord_width + acc_width)`` (operands sign-extended, so operand and result
  entries share one format); pointers are plain unsigned integers.
* A bitmap row is ``ceil(cols / BITMAP_BITS)`` words, bit ``b`` of word ``w`` set where column
  ``w * BITMAP_BITS + b`` holds a nonzero.
* A result-stage table word (one per result row, ``OUT_MODE`` bit 3) is the unsigned multiplier
  ``m`` in bits ``[0, 16)``, the shift ``s`` in ``[16, 22)`` and the two's complement zero point
  ``z`` in ``[22, word_width)``; the row's result is
  ``clamp(((acc * m + (2**s >> 1)) >> s) + z, RQ_LO, RQ_HI)`` (round half up, as
  :func:`zerohero.model.requantize`).
"""

__all__ = ["BITMAP_BITS", "RQ_MULT_BITS", "RQ_SHIFT_BITS", "pack_entry", "unpack_entry",
           "pack_rq", "rq_zero_bits"]

#: Columns per bitmap word.
BITMAP_BITS = 32
#: Bits of a result-stage table word's multiplier and shift (its zero point takes the rest).
RQ_MULT_BITS, RQ_SHIFT_BITS = 16, 6


def rq_zero_bits(cfg) -> int:
    """Bits of a table word's signed zero point."""
    return cfg.word_width - RQ_MULT_BITS - RQ_SHIFT_BITS


def pack_rq(cfg, mult: int, shift: int, zero: int) -> int:
    """The table word of one result row's requantization ``(mult, shift, zero)``."""
    zbits = rq_zero_bits(cfg)
    if not 0 <= mult < 1 << RQ_MULT_BITS:
        raise ValueError(f"requantization multiplier {mult} is not an unsigned "
                         f"{RQ_MULT_BITS}-bit integer")
    if not 0 <= shift < 1 << RQ_SHIFT_BITS:
        raise ValueError(f"requantization shift {shift} is not between 0 and "
                         f"{(1 << RQ_SHIFT_BITS) - 1}")
    if not -(1 << (zbits - 1)) <= zero < 1 << (zbits - 1):
        raise ValueError(f"zero point {zero} does not fit the table word's signed {zbits} bits")
    return (int(mult) | int(shift) << RQ_MULT_BITS
            | (int(zero) & ((1 << zbits) - 1)) << (RQ_MULT_BITS + RQ_SHIFT_BITS))


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
