"""The firmware assembler and disassembler (no simulator): round trips, every error message,
the row-wise template; the golden model on the template."""

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zerohero.firmware.isa import AsmError, LaneStub, assemble, disassemble, execute
from zerohero.spec.isa import ALL_LANES, FIELDS, OPCODES, REGISTERS, decode, encode
from zerohero.firmware.scheduler import PROGRAMS
from zerohero.spec.config import AccelConfig

LANES = 3


def random_source(rng, n):
    """Assembly text of ``n`` random valid instructions with labels, comments and both
    spellings of operands (decimal, hex, negative immediates, ``*``, lower-case fields)."""
    labels = [f"L{i}" for i in range(rng.randint(1, min(4, n + 1)))]
    where = sorted(rng.sample(range(n + 1), len(labels)))
    lines = []

    def number(v):
        return rng.choice([str(v), hex(v)]) if v >= 0 else str(v)

    for i in range(n):
        for label, at in zip(labels, where):
            if at == i:
                lines.append(f"{label}:" + rng.choice(["", "  ; a label"]))
        name = rng.choice(list(OPCODES))
        reg = f"r{rng.randrange(REGISTERS)}"
        lane = rng.choice(["*"] + [number(x) for x in range(LANES)])
        field = rng.choice(list(FIELDS))
        field = rng.choice([field, field.lower()])
        imm = number(rng.choice([0, 1, rng.randint(0, 0xFFFF), rng.randint(-0x8000, -1),
                                 0xFFFF, -0x8000]))
        target = rng.choice(labels + [str(rng.randint(0, 0xFFFF))])
        operands = {"nop": [], "halt": [], "clrc": [], "ldi": [reg, imm], "addi": [reg, imm],
                    "djnz": [reg, target], "jmp": [target], "cfg": [lane, field, imm],
                    "cfgr": [lane, field, reg], "run": [lane], "wait": [lane]}[name]
        text = f"{rng.choice([name, name.upper()])} {', '.join(operands)}"
        lines.append(rng.choice(["    ", "\t", ""]) + text + rng.choice(["", "   ; comment"]))
    lines += [f"{label}:" for label, at in zip(labels, where) if at == n]
    return "\n".join(lines) + "\n"


def reassemble(words, lanes=LANES):
    return assemble("\n".join(disassemble(words)), lanes)


def test_round_trip_random_programs():
    rng = random.Random(3)
    for _ in range(300):
        source = random_source(rng, rng.randint(1, 40))
        words = assemble(source, LANES)
        listing = disassemble(words)
        assert reassemble(words) == words, source
        assert disassemble(reassemble(words)) == listing
        assert not any(".word" in line for line in listing), listing


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF_FFFF), max_size=20))
def test_round_trip_any_words(words):
    """Every word comes back, unknown encodings and ignored bits (as ``.word``) included."""
    assert reassemble(words, lanes=ALL_LANES) == words


def test_disassembly():
    words = assemble("start: cfg *, A_POS, 5\ncfgr 1, relu, r7\nldi r2, -1\n"
                     "loop: djnz r2, loop\njmp start\nrun 2\nwait *\nclrc\nnop\nhalt", LANES)
    bad = [encode(11), encode(OPCODES["ldi"], REGISTERS, 0, 1),
           encode(OPCODES["cfgr"], 0, 0, REGISTERS),
           encode(OPCODES["jmp"], 1, 0, 4), encode(OPCODES["halt"], 0, 0, 1)]
    assert disassemble(words + bad) == [
        "   0: cfg *, A_POS, 5",
        "   1: cfgr 1, RELU, r7",
        "   2: ldi r2, 65535",
        "   3: djnz r2, 3",
        "   4: jmp 0",
        "   5: run 2",
        "   6: wait *",
        "   7: clrc",
        "   8: nop",
        "   9: halt",
        "  10: .word 0xb0000000",
        "  11: .word 0x20800001",
        "  12: .word 0x70000008",
        "  13: .word 0x50100004      ; jmp 4 (with unused bits set)",
        "  14: .word 0x10000001      ; halt (with unused bits set)",
    ]
    assert decode(words[1]) == (OPCODES["cfgr"], 1, FIELDS["RELU"], 7)


ERRORS = [
    ("foo r1, 2", "line 1: unknown instruction 'foo'"),
    ("nop\n\n  LDX r1, 2", "line 3: unknown instruction 'LDX'"),
    ("ldi r1", "line 1: ldi takes 2 operand(s) (reg, imm), not 1"),
    ("halt 1", "line 1: halt takes 0 operand(s) (none), not 1"),
    ("cfg 0, A_POS, 1, 2", "line 1: cfg takes 3 operand(s) (lane, field, imm), not 4"),
    ("ldi r8, 1", "line 1: 'r8' is not a register r0..r7"),
    ("addi x1, 1", "line 1: 'x1' is not a register r0..r7"),
    ("cfgr 0, RELU, 3", "line 1: '3' is not a register r0..r7"),
    ("djnz r-1, 0", "line 1: 'r-1' is not a register r0..r7"),
    ("run 3", "line 1: lane 3 out of range 0..2 (or * for every lane)"),
    ("wait -1", "line 1: lane -1 out of range 0..2 (or * for every lane)"),
    ("cfg 254, A_POS, 0", "line 1: lane 254 out of range 0..2 (or * for every lane)"),
    ("run x", "line 1: 'x' is not a number"),
    ("cfg 0, A_FOO, 1", "line 1: unknown field 'A_FOO'; known: A_MODE, A_POS, A_CRD, A_ROWS, "
                        "A_COLS, B_MODE, B_POS, B_CRD, OUT_BASE, RELU, OUT_MODE, OUT_POS, "
                        "MAC_MODE, RQ_TABLE, RQ_LO, RQ_HI"),
    ("ldi r0, 65536", "line 1: immediate 65536 does not fit 16 bits"),
    ("cfg 0, RELU, -32769", "line 1: immediate -32769 does not fit 16 bits"),
    ("ldi r0, 1.5", "line 1: '1.5' is not a number"),
    ("jmp nowhere", "line 1: unknown label 'nowhere'"),
    ("loop: nop\nLoop: djnz r0, LOOP", "line 2: unknown label 'LOOP'"),
    ("jmp 0x10000", "line 1: jump target 65536 does not fit 16 bits"),
    ("djnz r0, -1", "line 1: jump target -1 does not fit 16 bits"),
    ("a: nop\nb: a: nop", "line 2: label 'a' defined twice"),
    (".word 1, 2", "line 1: .word takes 1 operand (value), not 2"),
    (".word 0x100000000", "line 1: .word 4294967296 does not fit 32 bits"),
    ("   0: nop\n   2: nop", "line 2: address 2 but this is word 1"),
    ("0:", "line 1: address 0 without an instruction"),
    ("ldi r1, {value}\ncfg 0, A_POS, {base}", "template needs a value for 'base'"),
]


@pytest.mark.parametrize("source,message", ERRORS, ids=[m for _, m in ERRORS])
def test_error_messages(source, message):
    defines = {"value": 1} if "{" in source else None
    with pytest.raises(AsmError) as e:
        assemble(source, LANES, defines)
    assert str(e.value) == message


def test_template_without_values():
    with pytest.raises(AsmError, match=re.escape("template needs a value for 'lane_setup'")):
        assemble((PROGRAMS / "rowwise.s").read_text(), LANES)


def test_labels_and_comments():
    words = assemble("; only a comment\nfirst: second:\n  jmp second ; a comment: with colon\n"
                     "third: jmp third\nlast:", LANES)
    assert words == [encode(OPCODES["jmp"], 0, 0, 0), encode(OPCODES["jmp"], 0, 0, 1)]
    assert assemble("jmp end\nend:", LANES) == [encode(OPCODES["jmp"], 0, 0, 1)]
    assert assemble("addi r3, -1\ncfg *, relu, 0xffff", LANES) == [
        encode(OPCODES["addi"], 3, 0, 0xFFFF), encode(OPCODES["cfg"], ALL_LANES, 9, 0xFFFF)]


# The row-wise template --------------------------------------------------------------------

ROWWISE_DEFINES = {
    "lane_setup": "\n".join(["        cfg   *, A_MODE, 0", "        cfg   0, A_ROWS, 3",
                             "        cfg   1, A_ROWS, 2", "        cfg   2, A_ROWS, 2",
                             "        cfg   *, A_CRD, 4"]),
    "b_base": 0, "out_base": 40, "columns": 3, "b_stride": 10, "out_stride": 3,
}


def test_rowwise_template_assembles():
    words = assemble((PROGRAMS / "rowwise.s").read_text(), LANES, ROWWISE_DEFINES)
    assert [line.split(": ", 1)[1] for line in disassemble(words)] == [
        "clrc", "cfg *, A_MODE, 0", "cfg 0, A_ROWS, 3", "cfg 1, A_ROWS, 2", "cfg 2, A_ROWS, 2",
        "cfg *, A_CRD, 4", "ldi r1, 0", "ldi r2, 40", "ldi r3, 3",
        "cfgr *, B_POS, r1", "cfgr *, OUT_BASE, r2", "run *", "wait *", "addi r1, 10",
        "addi r2, 3", "djnz r3, 9", "halt"]
    assert reassemble(words) == words


def test_rowwise_template_on_the_golden_model():
    cfg = AccelConfig(name="isa", lanes=LANES, spm_banks=6, spm_depth=64, fw_depth=32)
    words = assemble((PROGRAMS / "rowwise.s").read_text(), LANES, ROWWISE_DEFINES)
    lanes = LaneStub(LANES, busy=[6, 2, 9], progress=[1, 1, 1])
    ex = execute(words, cfg, lanes)
    assert ex.outcome == "done" and ex.pc == len(words) - 1
    columns = [e for e in ex.effects if e[0] == "cfg" and e[1] == ALL_LANES
               and e[2] in (FIELDS["B_POS"], FIELDS["OUT_BASE"])]
    assert columns == [("cfg", ALL_LANES, FIELDS[f], v)
                       for j in range(3) for f, v in (("B_POS", 10 * j), ("OUT_BASE", 40 + 3 * j))]
    assert ex.effects.count(("run", 0b111)) == 3 and ex.effects[0] == ("clear",)
    # Each barrier waits for the slowest lane (9 cycles): 9 setup cycles, then per column
    # 2 cfgr + run + 9 + 1 (wait) + addi + addi + djnz, then the halt.
    assert ex.end == 9 + 3 * 16
    # More columns than the bank has room for: RANGE at column 7's B_POS (70 >= 64), after
    # 7 columns ran.
    ex = execute(assemble((PROGRAMS / "rowwise.s").read_text(), LANES,
                          {**ROWWISE_DEFINES, "columns": 9}), cfg, LaneStub(LANES))
    assert (ex.outcome, ex.pc, ex.effects.count(("run", 0b111))) == ("RANGE", 9, 7)
