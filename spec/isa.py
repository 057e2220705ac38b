"""The sequencer's instruction set: word layout, opcodes, lane fields and error codes.

One instruction is a 32-bit word::

    31    28 27        20 19  16 15                 0
    | op   |  a (lane)   | f   |  imm (16 bits)     |

``a`` is a lane (0..255) or a register (r0..r7); ``f`` a lane field or a register; ``imm`` an
unsigned 16-bit immediate (a jump target, a value, or a register index in its low bits).

========  ==================  ======================================================
mnemonic  operands            effect
========  ==================  ======================================================
nop                           nothing
halt                          stop; STATUS.done
ldi       rD, imm             rD = imm
addi      rD, imm             rD = rD + imm (mod 2**16; imm may be written negative)
djnz      rD, label           rD = rD - 1; jump to label if rD != 0
jmp       label               jump
cfg       lane, FIELD, imm    lane's FIELD = imm (lane ``*`` = every lane)
cfgr      lane, FIELD, rS     lane's FIELD = rS (lane ``*`` = every lane)
run       lane                start the lane's configured job (``*`` = every lane)
wait      lane                wait until the lane is idle (``*`` = every lane: a barrier)
clrc                          clear the performance counters
========  ==================  ======================================================

Lane fields (what a job does; addresses are word addresses within the lane's banks):

==========  ============================================================================
field       meaning
==========  ============================================================================
A_MODE      0: compressed rows (pos/crd in the operand bank), 1: dense rows
A_POS       compressed: ``pos`` base; dense: base of row 0
A_CRD       compressed: entries base; dense: row stride
A_ROWS      rows of the job
A_COLS      dense: columns per row
B_MODE      0: gather ``x[crd]`` from the vector bank, 1: intersect with one sparse fiber
            (``pos[0..1]`` at B_POS) met by every row, 2: intersect row ``r`` with fiber
            ``r`` of a CSR in the vector bank, 3: union of row ``r`` with fiber ``r``
B_POS       gather: vector base; join: the fibers' ``pos`` base
B_CRD       join: the fibers' entries base
OUT_BASE    dense output: where the results go (vector bank); compressed: the entries
RELU        1: fused ReLU on results
OUT_MODE    bit 0: 0 dense writer (one result per data token, at OUT_BASE + n), 1
            compressed writer (zero results dropped, entries at OUT_BASE of the vector
            bank, ``pos`` at OUT_POS of the operand bank); bit 1: append (the compressed
            writer continues the rows and entries of its previous job, ``pos[0]`` is not
            rewritten); with ``AccelConfig.result_stage``, dense writer only: bit 2
            broadcast (result n goes to OUT_BASE + OUT_POS + n of every lane's vector
            bank), bit 3 requantize (each broadcast result through the bus's result
            stage: RQ_*; gather jobs)
OUT_POS     compressed output: where ``pos`` goes (operand bank); broadcast output: the
            lane's offset in the shared result (its first row)
MAC_MODE    0: one dot product per fiber, 1: elementwise product per pair, 2:
            elementwise sum per pair (absent operands read 0)
RQ_TABLE    requantize: base of the per-row table in lane 0's vector bank (word
            ``OUT_POS + n`` for the job's n-th result: multiplier, shift, zero point;
            spec/memory.py), read by the broadcast bus's result stage
RQ_LO       requantize: lowest result (signed 16 bits)
RQ_HI       requantize: highest result (signed 16 bits)
==========  ============================================================================

Errors halt the sequencer with a code in the ERROR register: ``ILLEGAL`` (unknown opcode or
field, register or lane out of range), ``RANGE`` (an address field beyond the bank),
``UNIT`` (a lane's intersector reported a structure error), ``WATCHDOG`` (a ``wait`` saw no
progress for the watchdog's cycle count). A jump target beyond the instruction memory and
running off its end are ``ILLEGAL`` too.

This module is the encoding only (plain Python, read by the hardware, the assembler, the
register map and the golden model); the assembler, disassembler and the ISA's golden model
live in :mod:`zerohero.firmware.isa`.
"""

__all__ = ["WORD_WIDTH", "WORD_FIELDS", "OP_WIDTH", "A_WIDTH", "F_WIDTH", "IMM_WIDTH",
           "OPCODES", "FIELDS", "ADDRESS_FIELDS", "COUNT_FIELDS", "ERRORS", "ERROR_DOCS",
           "ALL_LANES", "REGISTERS", "encode", "decode"]

#: Bit fields of an instruction word: name -> (lowest bit, width).
WORD_WIDTH = 32
WORD_FIELDS = {"imm": (0, 16), "f": (16, 4), "a": (20, 8), "op": (28, 4)}
OP_WIDTH, A_WIDTH, F_WIDTH, IMM_WIDTH = (WORD_FIELDS[n][1] for n in ("op", "a", "f", "imm"))

OPCODES = {"nop": 0, "halt": 1, "ldi": 2, "addi": 3, "djnz": 4, "jmp": 5, "cfg": 6,
           "cfgr": 7, "run": 8, "wait": 9, "clrc": 10}
FIELDS = {"A_MODE": 0, "A_POS": 1, "A_CRD": 2, "A_ROWS": 3, "A_COLS": 4, "B_MODE": 5,
          "B_POS": 6, "B_CRD": 7, "OUT_BASE": 8, "RELU": 9, "OUT_MODE": 10, "OUT_POS": 11,
          "MAC_MODE": 12, "RQ_TABLE": 13, "RQ_LO": 14, "RQ_HI": 15}
#: Fields holding scratchpad addresses or counts, checked against the bank depth.
ADDRESS_FIELDS = ("A_POS", "A_CRD", "A_ROWS", "A_COLS", "B_POS", "B_CRD", "OUT_BASE", "OUT_POS",
                  "RQ_TABLE")
#: Of those, the counts: up to the bank depth (the others are addresses, below it).
COUNT_FIELDS = ("A_ROWS", "A_COLS")
#: Sequencer error codes, as ERROR.CODE reads them (1 and 2 are the host port's BAD_ADDR, BUSY).
ERRORS = {"NONE": 0, "ILLEGAL": 3, "RANGE": 4, "UNIT": 5, "WATCHDOG": 6}
#: What each sequencer error means (the register map documents them from here).
ERROR_DOCS = {
    "ILLEGAL": "unknown opcode, bad register or lane, jump target outside the "
               "program, or running off its end",
    "RANGE": "a lane field set to an address beyond the bank",
    "UNIT": "a lane's intersector reported a stream structure error",
    "WATCHDOG": "a wait saw no lane progress for watchdog_cycles",
}
ALL_LANES = 255
REGISTERS = 8


def encode(op: int, a: int = 0, f: int = 0, imm: int = 0) -> int:
    """The instruction word of ``(op, a, f, imm)`` (``imm`` taken modulo 2**IMM_WIDTH)."""
    word = 0
    for name, value in (("op", op), ("a", a), ("f", f), ("imm", imm)):
        low, width = WORD_FIELDS[name]
        word |= (value & ((1 << width) - 1)) << low
    return word


def decode(word: int) -> tuple[int, int, int, int]:
    """``(op, a, f, imm)`` of an instruction word."""
    return tuple(word >> WORD_FIELDS[n][0] & ((1 << WORD_FIELDS[n][1]) - 1)
                 for n in ("op", "a", "f", "imm"))
