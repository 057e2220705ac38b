"""The sequencer's instruction set, its assembler and its disassembler.

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
B_MODE      0: gather ``x[crd]`` from the vector bank, 1: intersect with a sparse fiber
B_POS       gather: vector base; intersect: the fiber's ``pos`` base (2 words)
B_CRD       intersect: the fiber's entries base
OUT_BASE    where the lane writes its results (operand bank)
RELU        1: fused ReLU on results
==========  ============================================================================

Errors halt the sequencer with a code in the ERROR register: ``ILLEGAL`` (unknown opcode or
field, register or lane out of range), ``RANGE`` (an address field beyond the bank),
``UNIT`` (a lane's intersector reported a structure error), ``WATCHDOG`` (a ``wait`` saw no
progress for the watchdog's cycle count).
"""

from __future__ import annotations

import re

__all__ = ["OPCODES", "FIELDS", "ERRORS", "ALL_LANES", "REGISTERS", "assemble",
           "disassemble", "encode", "AsmError"]

OPCODES = {"nop": 0, "halt": 1, "ldi": 2, "addi": 3, "djnz": 4, "jmp": 5, "cfg": 6,
           "cfgr": 7, "run": 8, "wait": 9, "clrc": 10}
FIELDS = {"A_MODE": 0, "A_POS": 1, "A_CRD": 2, "A_ROWS": 3, "A_COLS": 4, "B_MODE": 5,
          "B_POS": 6, "B_CRD": 7, "OUT_BASE": 8, "RELU": 9}
#: Fields holding scratchpad addresses or counts, checked against the bank depth.
ADDRESS_FIELDS = ("A_POS", "A_CRD", "A_ROWS", "A_COLS", "B_POS", "B_CRD", "OUT_BASE")
ERRORS = {"NONE": 0, "ILLEGAL": 2, "RANGE": 3, "UNIT": 4, "WATCHDOG": 5}
ALL_LANES = 255
REGISTERS = 8

_OPERANDS = {
    "nop": (), "halt": (), "clrc": (),
    "ldi": ("reg", "imm"), "addi": ("reg", "imm"), "djnz": ("reg", "label"),
    "jmp": ("label",), "cfg": ("lane", "field", "imm"), "cfgr": ("lane", "field", "reg"),
    "run": ("lane",), "wait": ("lane",),
}


class AsmError(ValueError):
    pass


def encode(op: int, a: int = 0, f: int = 0, imm: int = 0) -> int:
    return (op << 28) | (a << 20) | (f << 16) | (imm & 0xFFFF)


def _number(text, where):
    try:
        return int(text, 0)
    except ValueError:
        raise AsmError(f"{where}: {text!r} is not a number") from None


def assemble(source: str, lanes: int, defines: dict | None = None) -> list[int]:
    """Words of an assembly program. ``defines`` are names usable as immediates (``{name}``
    placeholders are substituted first, so templates can be filled by the scheduler).
    Comments start with ``;``; labels end with ``:``."""
    defines = dict(defines or {})
    if defines:
        try:
            source = source.format(**defines)
        except KeyError as e:
            raise AsmError(f"template needs a value for {e.args[0]!r}") from None
    lines = []
    labels = {}
    for n, raw in enumerate(source.splitlines(), 1):
        text = raw.split(";", 1)[0].strip()
        while text and re.match(r"^[A-Za-z_]\w*:", text):
            name, text = text.split(":", 1)
            if name in labels:
                raise AsmError(f"line {n}: label {name!r} defined twice")
            labels[name] = len(lines)
            text = text.strip()
        if text:
            lines.append((n, text))
    words = []
    for n, text in lines:
        where = f"line {n}"
        parts = text.replace(",", " ").split()
        mnemonic, args = parts[0].lower(), parts[1:]
        if mnemonic not in OPCODES:
            raise AsmError(f"{where}: unknown instruction {parts[0]!r}")
        kinds = _OPERANDS[mnemonic]
        if len(args) != len(kinds):
            raise AsmError(f"{where}: {mnemonic} takes {len(kinds)} operand(s) "
                           f"({', '.join(kinds) or 'none'}), not {len(args)}")
        a = f = imm = 0
        for kind, arg in zip(kinds, args):
            if kind == "reg":
                m = re.fullmatch(r"r(\d+)", arg.lower())
                if not m or int(m.group(1)) >= REGISTERS:
                    raise AsmError(f"{where}: {arg!r} is not a register r0..r{REGISTERS - 1}")
                if mnemonic == "cfgr":
                    imm = int(m.group(1))
                else:
                    a = int(m.group(1))
            elif kind == "lane":
                lane = ALL_LANES if arg == "*" else _number(arg, where)
                if lane != ALL_LANES and not 0 <= lane < lanes:
                    raise AsmError(f"{where}: lane {lane} out of range 0..{lanes - 1} "
                                   "(or * for every lane)")
                a = lane
            elif kind == "field":
                if arg.upper() not in FIELDS:
                    raise AsmError(f"{where}: unknown field {arg!r}; known: "
                                   f"{', '.join(FIELDS)}")
                f = FIELDS[arg.upper()]
            elif kind == "imm":
                value = _number(arg, where)
                if not -0x8000 <= value <= 0xFFFF:
                    raise AsmError(f"{where}: immediate {value} does not fit 16 bits")
                imm = value
            elif kind == "label":
                if arg not in labels:
                    raise AsmError(f"{where}: unknown label {arg!r}")
                imm = labels[arg]
        words.append(encode(OPCODES[mnemonic], a, f, imm))
    return words


def disassemble(words) -> list[str]:
    """One line per word: ``addr: text`` (unknown encodings as ``.word 0x...``)."""
    names = {v: k for k, v in OPCODES.items()}
    fields = {v: k for k, v in FIELDS.items()}
    out = []
    for addr, w in enumerate(words):
        op, a, f, imm = w >> 28, (w >> 20) & 0xFF, (w >> 16) & 0xF, w & 0xFFFF
        name = names.get(op)
        lane = "*" if a == ALL_LANES else str(a)
        if name is None or (name in ("cfg", "cfgr") and f not in fields):
            text = f".word {w:#010x}"
        elif name in ("nop", "halt", "clrc"):
            text = name
        elif name in ("ldi", "addi"):
            text = f"{name} r{a}, {imm}"
        elif name == "djnz":
            text = f"djnz r{a}, {imm}"
        elif name == "jmp":
            text = f"jmp {imm}"
        elif name == "cfg":
            text = f"cfg {lane}, {fields[f]}, {imm}"
        elif name == "cfgr":
            text = f"cfgr {lane}, {fields[f]}, r{imm & 7}"
        else:
            text = f"{name} {lane}"
        out.append(f"{addr:4d}: {text}")
    return out
