"""The sequencer RTL against its golden model (:func:`zerohero.firmware.isa.execute`), on both
simulators: random programs and one case per error path, every cycle's cfg write, run pulse
and counter clear, the outcome and the cycle it ends in compared bit-exact.

Every case states its expected outcome too, so the golden model is held to the documented
semantics, not just the RTL to the golden model. All cases of a kind run in one simulation
per simulator (cached), the tests then check their own case.
"""

import functools
import random

import pytest
from conftest import SCALE, unit_config

from zerohero.firmware.isa import LaneStub, assemble, disassemble, execute
from zerohero.spec.isa import (ADDRESS_FIELDS, ALL_LANES, COUNT_FIELDS, ERRORS, FIELDS, OPCODES,
                               REGISTERS, encode)
from zerohero.hw.sequencer import Sequencer, range_flags
from zerohero.sim.harness import build, first_mismatch

CFG = unit_config(lanes=3, spm_banks=6, spm_depth=64, fw_depth=32, watchdog_cycles=40)
DEPTH, FW, WD, LANES = CFG.spm_depth, CFG.fw_depth, CFG.watchdog_cycles, CFG.lanes
RANDOM_PROGRAMS = 400
TIMEOUT = 1000
CODES = {v: k for k, v in ERRORS.items()}
#: The sequencer's timing options (AccelConfig): as in the simulation presets, the lanes'
#: status registered, that with the fetch taking every djnz as taken, and with the commands
#: staged once (the ULX3S preset) or twice on their way to the lanes.
VARIANTS = {"base": {}, "status": {"status_latency": 1},
            "pipelined": {"status_latency": 1, "predict_jumps": True},
            "staged": {"status_latency": 1, "predict_jumps": True, "command_latency": 1},
            "two-stage": {"predict_jumps": True, "command_latency": 2}}


def case(program, expect, watchdog=WD, busy=None, progress=None, error_after=None):
    """A run spec: ``program`` is assembly text or a list of words; ``expect`` the outcome,
    or a triple where the boundary moves with the lanes' latency as the sequencer sees it:
    the outcomes with status_latency + command_latency 0, 1 and 2 (see VARIANTS)."""
    words = assemble(program, LANES) if isinstance(program, str) else list(program)
    return {"words": words, "watchdog": watchdog, "busy": busy or [0] * LANES,
            "progress": progress or [0] * LANES, "error_after": error_after or [None] * LANES,
            "timeout": TIMEOUT, "expect": expect}


def golden(run, variant="base"):
    stub = LaneStub(LANES, run["busy"], run["progress"], run["error_after"])
    return execute(run["words"], CFG.replace(**VARIANTS[variant]), stub,
                   run["watchdog"], max_cycles=run["timeout"])


def expected(run, variant):
    want, options = run["expect"], VARIANTS[variant]
    latency = options.get("status_latency", 0) + options.get("command_latency", 0)
    return want[latency] if isinstance(want, tuple) else want


def nops(n):
    return [0] * n


# Directed cases: every error path, both sides of every boundary -----------------------------

def _directed():
    c = {}
    # ILLEGAL
    c["illegal-opcode-11"] = case([encode(6, 0, FIELDS["RELU"], 1), encode(11), encode(1)],
                                  "ILLEGAL")
    c["illegal-opcode-15"] = case([0xF000_0000, encode(1)], "ILLEGAL")
    # (Every 4-bit field number is a lane field, so no field is illegal.)
    c["illegal-lane-cfg"] = case([encode(OPCODES["cfg"], LANES, 0, 0), encode(1)], "ILLEGAL")
    c["illegal-lane-cfgr"] = case([encode(OPCODES["cfgr"], 254, 0, 0), encode(1)], "ILLEGAL")
    c["illegal-lane-run"] = case("run 0\n" + f".word {encode(OPCODES['run'], LANES)}\nhalt",
                                 "ILLEGAL", busy=[5, 0, 0])
    c["illegal-lane-wait"] = case([encode(OPCODES["wait"], 200), encode(1)], "ILLEGAL")
    c["illegal-register-ldi"] = case([encode(OPCODES["ldi"], REGISTERS, 0, 1), encode(1)],
                                     "ILLEGAL")
    c["illegal-register-addi"] = case([encode(OPCODES["addi"], 255, 0, 1), encode(1)],
                                      "ILLEGAL")
    c["illegal-register-djnz"] = case([encode(OPCODES["djnz"], 9, 0, 0), encode(1)], "ILLEGAL")
    c["illegal-register-cfgr"] = case(
        [encode(OPCODES["cfgr"], 0, FIELDS["RELU"], REGISTERS), encode(1)], "ILLEGAL")
    # A target beyond the memory: taken (it would wrap onto the halt at 1), not taken, djnz.
    c["illegal-jmp-beyond"] = case(f"jmp 2\nhalt\njmp {FW + 1}", "ILLEGAL")
    c["illegal-jmp-0xffff"] = case("jmp 0xffff", "ILLEGAL")
    c["illegal-djnz-beyond-taken"] = case(f"ldi r1, 2\ndjnz r1, {FW}\nhalt", "ILLEGAL")
    c["illegal-djnz-beyond-not-taken"] = case(f"ldi r1, 1\ndjnz r1, {FW + 1}\nhalt", "ILLEGAL")
    c["jmp-last-word"] = case(f"jmp {FW - 1}\n" + "nop\n" * (FW - 2) + "halt", "done")
    # Running off the end: all nops; the last word's effect is seen first; a djnz falling
    # through at the last word.
    c["off-end-nops"] = case([], "ILLEGAL")
    c["off-end-after-cfg"] = case(nops(FW - 1) + [encode(OPCODES["cfg"], 1, FIELDS["RELU"], 1)],
                                  "ILLEGAL")
    c["off-end-djnz"] = case([encode(OPCODES["ldi"], 1, 0, 3), encode(OPCODES["jmp"], 0, 0,
                                                                      FW - 2)]
                             + nops(FW - 4) + [encode(OPCODES["clrc"]),
                                               encode(OPCODES["djnz"], 1, 0, FW - 2)],
                             "ILLEGAL")
    c["halt-last-word"] = case(nops(FW - 1) + [encode(1)], "done")
    # The word after next is fetched while a register write is still in `ir`: a djnz right
    # after a write to its register, both ways; a jump as word 0 (fetched at start).
    c["djnz-after-ldi"] = case("ldi r1, 1\ndjnz r1, 0\ncfg 0, RELU, 1\nhalt", "done")
    c["djnz-after-addi"] = case("ldi r2, 4\nloop: cfg 0, RELU, 1\naddi r2, -1\n"
                                "djnz r2, loop\ncfg 1, RELU, 1\nhalt", "done")
    c["djnz-after-djnz"] = case("ldi r3, 2\ndjnz r3, 2\ndjnz r3, 0\ncfg 2, RELU, 1\nhalt",
                                "done")
    c["jmp-first"] = case("jmp 2\ncfg 0, RELU, 1\nhalt", "done")
    c["djnz-first"] = case("djnz r4, 2\ncfg 0, RELU, 1\nhalt", "done")
    c["every-lane"] = case("cfg *, A_ROWS, 1\nldi r0, 7\ncfgr *, RELU, r0\nrun *\nwait *\n"
                           "clrc\nhalt", "done", busy=[3, 1, 6], progress=[1, 0, 2])
    # RANGE: every address field at depth - 1 (fine) and at depth; counts at depth (fine) and
    # depth + 1; through a register; fields that are not addresses take any value.
    for name in ADDRESS_FIELDS:
        limit = DEPTH + 1 if name in COUNT_FIELDS else DEPTH
        c[f"range-{name}-ok"] = case(f"cfg 1, {name}, {limit - 1}\nhalt", "done")
        c[f"range-{name}"] = case(f"cfg 1, {name}, {limit - 1}\ncfg *, {name}, {limit}\n"
                                  "halt", "RANGE")
    c["range-cfgr"] = case(f"ldi r5, {DEPTH - 1}\ncfgr 0, OUT_BASE, r5\naddi r5, 1\n"
                           "cfgr 0, OUT_BASE, r5\nhalt", "RANGE")
    c["range-cfgr-wrapped"] = case("ldi r5, 0xffff\naddi r5, 1\ncfgr 2, B_POS, r5\n"
                                   "addi r5, -1\ncfgr 2, A_MODE, r5\nhalt", "done")
    c["range-not-addresses"] = case("\n".join(f"cfg 0, {name}, 0xffff" for name in FIELDS
                                              if name not in ADDRESS_FIELDS) + "\nhalt", "done")
    # UNIT: while waiting, on a lane nobody waits for, in the cycle of a halt (it wins), the
    # cycle after the halt (too late: done).
    c["unit-while-waiting"] = case("run 1\nwait 1\nhalt", "UNIT", busy=[0, 20, 0],
                                   error_after=[None, 5, None])
    c["unit-other-lane"] = case("run 2\nrun 0\nwait 0\nhalt", "UNIT", busy=[30, 0, 0],
                                error_after=[None, None, 3])
    # The error in cycle 2 (the halt's), seen there or (registered) in cycle 3; with the
    # command stage the lane takes the run in cycle 1, so error_after 1 is the halt's cycle.
    c["unit-at-halt"] = case("run 0\nnop\nhalt", ("UNIT", "done", "done"),
                             error_after=[2, None, None])
    c["unit-before-halt"] = case("run 0\nnop\nhalt", ("UNIT", "UNIT", "done"),
                                 error_after=[1, None, None])
    c["unit-two-before-halt"] = case("run 0\nnop\nnop\nhalt", "UNIT",
                                     error_after=[1, None, None])
    c["unit-after-halt"] = case("run 0\nnop\nhalt", "done", error_after=[3, None, None])
    # WATCHDOG: run in cycle 0, the lane busy in cycles 1..N, the wait from cycle 1 trips in
    # cycle 1 + WD if still busy then. Registered, the wait sees the lane busy in 1..N + 1
    # (in 1 after the run pulse, then the status of the cycle before), one cycle longer; with
    # the command stage too (the lane busy in 2..N + 1), two cycles longer.
    c["watchdog-stuck"] = case("run 0\nwait 0\nhalt", "WATCHDOG", busy=[None, 0, 0])
    c["watchdog-busy-wd-2"] = case("run 0\nwait 0\nhalt", "done", busy=[WD - 2, 0, 0])
    c["watchdog-busy-wd-1"] = case("run 0\nwait 0\nhalt", ("done", "done", "WATCHDOG"),
                                   busy=[WD - 1, 0, 0])
    c["watchdog-busy-wd"] = case("run 0\nwait 0\nhalt", ("done", "WATCHDOG", "WATCHDOG"),
                                 busy=[WD, 0, 0])
    c["watchdog-busy-wd+1"] = case("run 0\nwait 0\nhalt", "WATCHDOG", busy=[WD + 1, 0, 0])
    c["watchdog-barrier"] = case("run *\nwait *\nhalt", "WATCHDOG", busy=[2, None, 5],
                                 progress=[1, 0, 1])
    c["watchdog-progress"] = case("run 0\nwait 0\nhalt", "done", busy=[5 * WD, 0, 0],
                                  progress=[10, 0, 0])
    c["watchdog-progress-every-wd"] = case("run 0\nwait 0\nhalt",
                                           ("done", "WATCHDOG", "WATCHDOG"),
                                           busy=[3 * WD, 0, 0], progress=[WD, 0, 0])
    c["watchdog-progress-every-wd-1"] = case("run 0\nwait 0\nhalt", ("done", "done", "WATCHDOG"),
                                             busy=[3 * WD, 0, 0], progress=[WD - 1, 0, 0])
    c["watchdog-progress-every-wd-2"] = case("run 0\nwait 0\nhalt", "done",
                                             busy=[3 * WD, 0, 0], progress=[WD - 2, 0, 0])
    c["watchdog-progress-too-rare"] = case("run 0\nwait 0\nhalt", "WATCHDOG",
                                           busy=[3 * WD, 0, 0], progress=[WD + 1, 0, 0])
    c["watchdog-other-lane-progress"] = case("run *\nwait 1\nhalt", "done",
                                             busy=[4 * WD, 2 * WD, 0], progress=[7, 0, 0])
    c["watchdog-per-wait"] = case("run 0\nwait 0\nrun 0\nwait 0\nhalt", "done",
                                  busy=[WD - 5, 0, 0])
    c["watchdog-zero"] = case("run 0\nwait 0\nhalt", "WATCHDOG", watchdog=0, busy=[1, 0, 0])
    # A lane that is never busy (the stub only: a run makes a lane pending for a cycle at
    # least) still counts as busy in the cycle after its run pulse when registered.
    c["watchdog-zero-idle"] = case("run 0\nwait 0\nhalt", ("done", "WATCHDOG", "WATCHDOG"),
                                   watchdog=0)
    return c


DIRECTED = _directed()


# Random programs --------------------------------------------------------------------------

def _straight(rng, i, n):
    """One random instruction at address ``i`` of about ``n`` words (no control flow except,
    rarely, a wild jump, a halt or a random word)."""
    kind = rng.choices(["ldi", "addi", "cfg", "cfgr", "run", "wait", "clrc", "nop", "halt",
                        "djnz", "jmp", "junk"], [3, 3, 6, 3, 3, 3, 1, 1, 0.1, 0.3, 0.3, 0.1])[0]
    reg = rng.randrange(REGISTERS)
    lane = rng.choice([ALL_LANES] + list(range(LANES)))
    field = rng.randrange(len(FIELDS))
    if kind in ("ldi", "addi"):
        value = rng.choice([rng.randint(0, 5), rng.randint(0, DEPTH - 1), rng.randint(0, DEPTH - 1),
                            rng.randint(0, DEPTH + 2), rng.randint(0, 0xFFFF), 0xFFFF])
        return encode(OPCODES[kind], reg, 0, value)
    if kind in ("djnz", "jmp"):
        return encode(OPCODES[kind], reg * (kind == "djnz"), 0, rng.randint(0, n - 1))
    if kind == "cfg":
        value = rng.choice([rng.randint(0, 0xFFFF), DEPTH, DEPTH + 1]) if rng.random() < 0.1 \
            else rng.randint(0, DEPTH - 1)
        return encode(OPCODES[kind], lane, field, value)
    if kind == "cfgr":
        return encode(OPCODES[kind], lane, field, reg)
    if kind in ("run", "wait"):
        return encode(OPCODES[kind], lane)
    if kind == "junk":                          # a random word: mostly illegal
        return rng.getrandbits(32)
    return encode(OPCODES[kind])


def _block(rng, words, room, depth=0):
    """Append a random block of at most ``room`` words: an instruction, a counted loop
    (``ldi rK, n`` / body / ``djnz rK``, maybe nested) or a forward jump over a few words."""
    start = len(words)
    roll = rng.random()
    if roll < 0.2 and room >= 4 and depth < 2:
        reg = rng.randrange(REGISTERS)
        words.append(encode(OPCODES["ldi"], reg, 0, rng.randint(1, 4)))
        body = len(words)
        while len(words) - start < rng.randint(3, room - 1) and len(words) - start < room - 1:
            _block(rng, words, room - 1 - (len(words) - start), depth + 1)
        words.append(encode(OPCODES["djnz"], reg, 0, body))
    elif roll < 0.3 and room >= 3:
        skip = rng.randint(1, min(3, room - 1))
        words.append(encode(OPCODES["jmp"], 0, 0, start + 1 + skip))
        words += [_straight(rng, start + 1 + k, FW) for k in range(skip)]
    else:
        words.append(_straight(rng, start, FW))


def random_program(rng):
    """Words of a random program: counted loops (nested too), forward jumps, lane fields (in
    range mostly), runs and waits, a few wild jumps and random words, ending in a halt (or,
    sometimes, running off the end)."""
    n = rng.randint(3, FW)
    words = []
    while len(words) < n - 1:
        _block(rng, words, n - 1 - len(words))
    if rng.random() < 0.95 or n < FW:
        words.append(encode(OPCODES["halt"]))
    return words


def random_runs(count, variant, seed=5):
    """``count`` random runs that end within the timeout (per the golden model)."""
    rng = random.Random(seed)
    runs = []
    while len(runs) < count:
        stuck = rng.random() < 0.3
        run = case(random_program(rng), None,
                   watchdog=rng.choice([WD, WD, rng.randint(0, 6)]),
                   busy=[rng.choice([0, 1, 2, 3, 5, 8, 12] + [None] * stuck)
                         for _ in range(LANES)],
                   progress=[rng.choice([0, 1, 2, 3]) for _ in range(LANES)],
                   error_after=[rng.randint(1, 20) if rng.random() < 0.05 else None
                                for _ in range(LANES)])
        run["timeout"] = 400
        if golden(run, variant).outcome is not None:
            runs.append(run)
    return runs


# Running and checking ---------------------------------------------------------------------

@functools.cache
def simulate(sim, kind, variant):
    """``(runs, results)`` of every run of ``kind`` (directed: a dict by name) on ``sim``,
    of the sequencer ``variant``."""
    if kind == "directed":
        names = list(DIRECTED)
        runs = [DIRECTED[n] for n in names]
    else:
        runs = random_runs(max(1, round(RANDOM_PROGRAMS * SCALE[sim])), variant)
    built = build(CFG.replace(**VARIANTS[variant]), Sequencer, sim)
    spec = {"fw_depth": FW, "command_latency": VARIANTS[variant].get("command_latency", 0),
            "runs": [{k: v for k, v in r.items() if k != "expect"}
                                     for r in runs]}
    results = built.run("zerohero.sim.tb.sequencer", spec)
    if kind == "directed":
        return dict(zip(names, runs)), dict(zip(names, results))
    return runs, results


def compare(run, got, what, variant):
    """The RTL's record of ``run`` against the golden model; returns the golden execution."""
    ex = golden(run, variant)
    listing = "\n".join(disassemble(run["words"]))
    where = (f"{what} (busy={run['busy']}, progress={run['progress']}, "
             f"error_after={run['error_after']}, watchdog={run['watchdog']}):\n{listing}")
    want = [[c, *e] for c, e in zip(ex.cycles, ex.effects)]
    got_effects = [list(e) for e in got["effects"]]
    bad = first_mismatch(got_effects, want, "effects ([cycle, kind, ...])")
    assert bad is None, f"{where}\n{bad}"
    assert got["end"] is not None, f"{where}\nno done or error within {run['timeout']} cycles"
    outcome = "done" if got["done"] and not got["error"] else CODES.get(got["error_code"])
    assert (outcome, got["end"]) == (ex.outcome, ex.end), (
        f"{where}\nended with {outcome} in cycle {got['end']}, expected {ex.outcome} in "
        f"cycle {ex.end} (at word {ex.pc})")
    assert got["busy"] == 0 and got["done"] + got["error"] == 1, f"{where}\n{got}"
    assert got["error_code"] == (0 if ex.outcome == "done" else ERRORS[ex.outcome])
    return ex


@pytest.mark.cocotb
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", list(DIRECTED))
def test_directed(sim, name, variant):
    runs, results = simulate(sim, "directed", variant)
    run = runs[name]
    ex = golden(run, variant)
    want = expected(run, variant)
    assert ex.outcome == want, f"golden model: {ex.outcome}, expected {want}"
    compare(run, results[name], name, variant)


@pytest.mark.cocotb
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_random_programs(sim, variant):
    runs, results = simulate(sim, "random", variant)
    assert len(results) == len(runs)
    outcomes = {}
    for i, (run, got) in enumerate(zip(runs, results)):
        ex = compare(run, got, f"random program {i}", variant)
        outcomes[ex.outcome] = outcomes.get(ex.outcome, 0) + 1
    # The generator mostly makes programs that complete, and reaches every outcome.
    assert outcomes.get("done", 0) >= len(runs) // 2, outcomes
    if len(runs) >= 100:
        assert set(outcomes) == {"done", *ERRORS} - {"NONE"}, outcomes


# The golden model's own details (no simulator) ----------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_golden_directed_cases_state_their_outcome(variant):
    for name, run in DIRECTED.items():
        assert golden(run, variant).outcome == expected(run, variant), name


def test_golden_timing():
    ex = golden(case("run 0\nwait 0\nhalt", "done", busy=[4, 0, 0]))
    # run in cycle 0, busy in 1..4, the wait holds 1..4 and completes in 5, halt in 6.
    assert (ex.effects, ex.cycles, ex.outcome, ex.end, ex.pc) == ([("run", 1)], [0], "done",
                                                                  6, 2)
    ex = golden(case("run 0\nwait 0\nhalt", "WATCHDOG", busy=[None, 0, 0]))
    assert (ex.outcome, ex.end, ex.pc) == ("WATCHDOG", 1 + WD, 1)
    ex = golden(case("ldi r0, 3\nloop: clrc\ndjnz r0, loop\nhalt", "done"))
    assert ex.effects == [("clear",)] * 3 and ex.cycles == [1, 3, 5] and ex.regs[0] == 0
    ex = golden(case("loop: jmp loop", None))
    assert ex.outcome is None and ex.end is None
    with pytest.raises(ValueError, match="33 words do not fit 32"):
        execute(nops(FW + 1), CFG)


def test_golden_timing_with_predicted_jumps():
    # A djnz that falls through (in 6) is followed by a cycle that executes nothing; taken
    # ones (2, 4) and jmp cost nothing more.
    fast = CFG.replace(predict_jumps=True)
    words = assemble("ldi r0, 3\nloop: clrc\njmp next\nnext: djnz r0, loop\nhalt", LANES)
    ex = execute(words, fast)
    assert ex.cycles == [1, 4, 7] and (ex.outcome, ex.end, ex.pc) == ("done", 11, 4)
    assert execute(words, CFG).end == 10
    # A lane error in that cycle still stops there.
    words = assemble("run 0\nldi r0, 1\ndjnz r0, 0\nhalt", LANES)
    ex = execute(words, fast, LaneStub(LANES, busy=[9, 0, 0], error_after=[3, None, None]))
    assert (ex.outcome, ex.end) == ("UNIT", 3)


def test_golden_timing_with_registered_lane_status():
    # The wait sees cycle t - 1's status: the lane is busy in 1..4 (and counts as busy in 1,
    # after its run pulse), so the wait completes in 6, not 5 (and not in 1); halt in 7.
    ex = golden(case("run 0\nwait 0\nhalt", "done", busy=[4, 0, 0]), "status")
    assert (ex.effects, ex.cycles, ex.outcome, ex.end, ex.pc) == ([("run", 1)], [0], "done",
                                                                  7, 2)
    # A lane error in cycle 3 stops in cycle 4; the watchdog counts from cycle 1 as before.
    run = case("run 0\nwait 0\nhalt", "UNIT", busy=[None, 0, 0], error_after=[3, None, None])
    assert [(golden(run, v).outcome, golden(run, v).end) for v in ("base", "status")] == [
        ("UNIT", 3), ("UNIT", 4)]
    ex = golden(case("run 0\nwait 0\nhalt", "WATCHDOG", busy=[None, 0, 0]), "status")
    assert (ex.outcome, ex.end, ex.pc) == ("WATCHDOG", 1 + WD, 1)


@pytest.mark.parametrize("depth", [16, 64, 512, 32768])
def test_range_flags_are_the_comparisons(depth):
    """The register range flags, built from bits for a power-of-two depth, equal ``>= depth``,
    ``> depth`` and ``== 1`` at every edge value (Amaranth's simulator, no Verilog)."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    value, flags = Signal(16), Signal(3)
    m = Module()
    m.d.comb += flags.eq(range_flags(CFG.replace(spm_depth=depth, double_buffer=depth >= 32), value))
    edges = {0, 1, 2, 0xFFFF, 0x8000} | {e + d for e in (depth, 2 * depth, 3 * depth)
                                          for d in (-1, 0, 1)}
    values = sorted(v for v in edges | set(random.Random(depth).sample(range(1 << 16), 200))
                    if 0 <= v < 1 << 16)
    seen = []

    async def bench(ctx):
        for v in values:
            ctx.set(value, v)
            seen.append(ctx.get(flags))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    want = [(v >= depth) | (v > depth) << 1 | (v == 1) << 2 for v in values]
    assert seen == want
