"""The sequencer's assembler, its disassembler and its golden model.

The instruction set itself (word layout, opcodes and their effects, lane fields, error codes)
is specified in :mod:`zerohero.spec.isa`. Assembly syntax: one instruction a line, operands
as in the spec's table, ``;`` starts a comment, ``label:`` names the next word's address,
lanes are numbers or ``*`` (every lane), fields are their names (``A_ROWS``), registers
``r0`` .. ``r7``.

The assembler also reads back what the disassembler prints: a leading ``addr:`` (checked
against the word's address), numeric jump targets and ``.word value`` for raw words.

:func:`execute` is the golden model of the sequencer: what a program does, cycle by cycle,
against a :class:`LaneStub` standing in for the lanes.
"""

from __future__ import annotations

import re

from zerohero.spec.isa import (ADDRESS_FIELDS, ALL_LANES, COUNT_FIELDS, FIELDS, OPCODES,
                               REGISTERS, decode, encode)

__all__ = ["assemble", "disassemble", "AsmError", "LaneStub", "Execution", "execute"]

_OPERANDS = {
    "nop": (), "halt": (), "clrc": (),
    "ldi": ("reg", "imm"), "addi": ("reg", "imm"), "djnz": ("reg", "label"),
    "jmp": ("label",), "cfg": ("lane", "field", "imm"), "cfgr": ("lane", "field", "reg"),
    "run": ("lane",), "wait": ("lane",),
}


class AsmError(ValueError):
    pass


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
    if defines or re.search(r"\{\w+\}", source):     # a template needs its values
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
        prefix = re.match(r"(\d+):\s*", text)        # an address, as disassemble() prints
        if prefix:
            if int(prefix.group(1)) != len(words):
                raise AsmError(f"{where}: address {prefix.group(1)} but this is word "
                               f"{len(words)}")
            text = text[prefix.end():]
            if not text:
                raise AsmError(f"{where}: address {prefix.group(1)} without an instruction")
        parts = text.replace(",", " ").split()
        mnemonic, args = parts[0].lower(), parts[1:]
        if mnemonic == ".word":
            if len(args) != 1:
                raise AsmError(f"{where}: .word takes 1 operand (value), not {len(args)}")
            value = _number(args[0], where)
            if not 0 <= value <= 0xFFFF_FFFF:
                raise AsmError(f"{where}: .word {value} does not fit 32 bits")
            words.append(value)
            continue
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
                if re.fullmatch(r"-?\d\w*", arg):        # a numeric target (disassembly)
                    imm = _number(arg, where)
                    if not 0 <= imm <= 0xFFFF:
                        raise AsmError(f"{where}: jump target {imm} does not fit 16 bits")
                elif arg not in labels:
                    raise AsmError(f"{where}: unknown label {arg!r}")
                else:
                    imm = labels[arg]
        words.append(encode(OPCODES[mnemonic], a, f, imm))
    return words


def disassemble(words) -> list[str]:
    """One line per word: ``addr: text``. A word that is not exactly what its text assembles
    to (an unknown opcode or field, a register beyond r7, bits the instruction ignores set) is
    ``.word 0x...``, so :func:`assemble` of the lines gives the words back (with enough
    lanes: the disassembler does not know how many there are)."""
    names = {v: k for k, v in OPCODES.items()}
    fields = {v: k for k, v in FIELDS.items()}
    out = []
    for addr, w in enumerate(words):
        op, a, f, imm = decode(w)
        name = names.get(op)
        lane = "*" if a == ALL_LANES else str(a)
        kinds = _OPERANDS.get(name, ())
        text = None
        if (name is None or ("field" in kinds and f not in fields)
                or (name == "cfgr" and imm >= REGISTERS)
                or (kinds[:1] == ("reg",) and a >= REGISTERS)):
            pass                                # no text: .word
        elif name in ("nop", "halt", "clrc"):
            text, canonical = name, encode(op)
        elif name in ("ldi", "addi", "djnz"):
            text, canonical = f"{name} r{a}, {imm}", encode(op, a, 0, imm)
        elif name == "jmp":
            text, canonical = f"jmp {imm}", encode(op, 0, 0, imm)
        elif name == "cfg":
            text, canonical = f"cfg {lane}, {fields[f]}, {imm}", w
        elif name == "cfgr":
            text, canonical = f"cfgr {lane}, {fields[f]}, r{imm}", w
        else:
            text, canonical = f"{name} {lane}", encode(op, a)
        if text is None:
            text = f".word {w:#010x}"
        elif w != canonical:
            text = f".word {w:#010x}      ; {text} (with unused bits set)"
        out.append(f"{addr:4d}: {text}")
    return out


# Golden model -------------------------------------------------------------------------------

class LaneStub:
    """Lanes as the sequencer sees them: ``lane_busy``, ``lane_error`` and ``progress``.

    Per lane: ``busy[i]`` cycles busy after each run pulse (the cycles right after the pulse;
    ``None``: never idle again, 0: never busy), ``progress[i]`` a progress pulse every that
    many cycles while busy (the ``progress[i]``-th cycle after the run pulse, the
    ``2 * progress[i]``-th, ...; 0 or ``None``: never), ``error_after[i]`` the cycles from
    the lane's first run pulse to its (sticky) error (``None``: never). ``progress`` is one
    signal for all lanes: high when any lane pulses it.

    The golden model (:func:`execute`) and the testbench drive the same stub: :meth:`inputs`
    gives a cycle's inputs, :meth:`run` takes a cycle's run pulses (seen from the cycle after
    the lanes take them).
    """

    def __init__(self, lanes, busy=None, progress=None, error_after=None):
        def per_lane(values, default):
            values = [default] * lanes if values is None else list(values)
            if len(values) != lanes:
                raise ValueError(f"{len(values)} values for {lanes} lanes")
            return values

        self.lanes = lanes
        self.busy = per_lane(busy, 0)
        self.progress = [p or 0 for p in per_lane(progress, 0)]
        self.error_after = per_lane(error_after, None)
        self.started = [None] * lanes           # cycle of the last run pulse
        self.error_at = [None] * lanes
        self.queued = []                        # (cycle the lanes take it, mask)

    def _busy(self, i, cycle):
        start = self.started[i]
        return (start is not None and cycle > start
                and (self.busy[i] is None or cycle <= start + self.busy[i]))

    def inputs(self, cycle):
        """``(lane_busy, lane_error, progress)`` in ``cycle``; the first two are lane masks."""
        for at, mask in [q for q in self.queued if q[0] < cycle]:
            self._take(mask, at)
        self.queued = [q for q in self.queued if q[0] >= cycle]
        busy = error = progress = 0
        for i in range(self.lanes):
            if self._busy(i, cycle):
                busy |= 1 << i
                p = self.progress[i]
                progress |= bool(p) and (cycle - self.started[i]) % p == 0
            if self.error_at[i] is not None and cycle >= self.error_at[i]:
                error |= 1 << i
        return busy, error, int(progress)

    def run(self, mask, cycle, latency=0):
        """Run pulses (a lane mask) the sequencer sends in ``cycle``; the lanes take them
        ``latency`` cycles later (``AccelConfig.command_latency``)."""
        if mask:
            self.queued.append((cycle + latency, mask))

    def _take(self, mask, cycle):
        for i in range(self.lanes):
            if mask >> i & 1:
                self.started[i] = cycle
                if self.error_after[i] is not None and self.error_at[i] is None:
                    self.error_at[i] = cycle + self.error_after[i]


class Execution:
    """What :func:`execute` saw: ``effects`` (``("cfg", lane, field, value)`` with lane 255
    for every lane, ``("run", lane_mask)``, ``("clear",)``) in order, ``cycles`` (the cycle of
    each effect; cycle 0 executes word 0), ``outcome`` (``"done"``, an error name of
    :data:`ERRORS`, or ``None`` if ``max_cycles`` ran out), ``end`` (the cycle of the ``halt``
    or of the failing instruction), ``pc`` (its address) and ``regs``."""

    def __init__(self):
        self.effects, self.cycles = [], []
        self.outcome = self.end = self.pc = None
        self.regs = [0] * REGISTERS

    def __repr__(self):
        return (f"Execution(outcome={self.outcome!r}, end={self.end}, pc={self.pc}, "
                f"effects={len(self.effects)})")


def execute(words, cfg, lanes: LaneStub | None = None, watchdog: int | None = None,
            max_cycles: int = 100_000, regs=None) -> Execution:
    """Run ``words`` as the sequencer does, one instruction a cycle.

    ``cfg`` gives ``lanes``, ``spm_depth``, ``fw_depth`` and ``watchdog_cycles`` (the default
    of ``watchdog``); words after ``words`` are 0 (``nop``) up to ``fw_depth``. ``lanes`` is
    the :class:`LaneStub` driving the lane inputs (idle, error-free lanes if ``None``; it is
    updated). ``regs`` are the registers at the start (zeros by default).

    Per cycle: a lane error stops with ``UNIT`` before anything else; then the instruction at
    ``pc`` executes completely or not at all. ``ILLEGAL``: an unknown opcode, a field beyond
    :data:`FIELDS`, a register beyond r7, a lane that is neither < ``cfg.lanes`` nor 255,
    a jump target (``jmp``, ``djnz``, taken or not) >= ``fw_depth``, and running off the end
    of the instruction memory: the last word completes (its effect is seen) and then there is
    no next word. ``RANGE``: a ``cfg``/``cfgr`` of an address field >= ``spm_depth`` or of a
    count (:data:`COUNT_FIELDS`) > ``spm_depth``. ``wait`` holds while any of its lanes is
    busy; after ``watchdog`` such cycles in a row without ``progress`` the next one stops with
    ``WATCHDOG`` (a cycle with ``progress`` restarts the count).

    With ``cfg.status_latency`` 1 the lane inputs a cycle sees are the previous cycle's (the
    sequencer registers them), a lane counting as busy in the cycle after its run pulse too:
    a ``wait`` ends, a lane error stops and ``progress`` restarts the count one cycle later.
    With ``cfg.command_latency`` n a run pulse reaches the lanes n cycles later (``lanes`` sees
    it then), and the sequencer counts its lanes busy in the n cycles after the pulse (with
    ``status_latency`` 1 in the n + 1 cycles after it). With ``cfg.predict_jumps`` the
    cycle after a ``djnz`` that falls through executes nothing (a lane error still stops in
    it).
    """
    depth = cfg.fw_depth
    if len(words) > depth:
        raise ValueError(f"{len(words)} words do not fit {depth} words of instruction memory")
    mem = [int(w) for w in words] + [0] * (depth - len(words))
    lanes = lanes or LaneStub(cfg.lanes)
    limit = cfg.watchdog_cycles if watchdog is None else watchdog
    names = {v: k for k, v in OPCODES.items()}
    all_mask = (1 << cfg.lanes) - 1
    ex = Execution()
    r = ex.regs = list(regs) if regs is not None else [0] * REGISTERS
    pc = watch = 0
    seen = (0, 0, 0)                    # status_latency 1: the previous cycle's inputs
    # Run pulses, one mask a cycle: the sequencer counts a lane busy until the status it sees
    # shows the run (the cycles of command and status latency after the pulse).
    issued, forward = [], cfg.command_latency + cfg.status_latency
    bubble = False                      # predict_jumps: this cycle follows a fall-through

    def lane_mask(a):
        return all_mask if a == ALL_LANES else 1 << a

    for cycle in range(max_cycles):
        ex.end, ex.pc = cycle, pc
        busy, error, progress = now = lanes.inputs(cycle)
        if cfg.status_latency:
            (busy, error, progress), seen = seen, now
        for runs in issued[-forward:] if forward else ():
            busy |= runs
        issued.append(0)
        if error:
            ex.outcome = "UNIT"
            return ex
        if bubble:
            bubble = False
            continue
        op, a, f, imm = decode(mem[pc])
        name = names.get(op)
        kinds = _OPERANDS.get(name, ())
        lane_ok = a == ALL_LANES or a < cfg.lanes
        if (name is None
                or (kinds[:1] == ("reg",) and a >= REGISTERS)
                or (name == "cfgr" and imm >= REGISTERS)
                or ("lane" in kinds and not lane_ok)
                or ("field" in kinds and f >= len(FIELDS))
                or ("label" in kinds and imm >= depth)):
            ex.outcome = "ILLEGAL"
            return ex
        nxt, jumped, effect, runs = pc + 1, False, None, 0
        if name == "halt":
            ex.outcome = "done"
            return ex
        elif name == "ldi":
            r[a] = imm
        elif name == "addi":
            r[a] = (r[a] + imm) & 0xFFFF
        elif name == "djnz":
            r[a] = (r[a] - 1) & 0xFFFF
            if r[a]:
                nxt, jumped = imm, True
            else:
                bubble = cfg.predict_jumps
        elif name == "jmp":
            nxt, jumped = imm, True
        elif name in ("cfg", "cfgr"):
            field = next(k for k, v in FIELDS.items() if v == f)
            value = r[imm] if name == "cfgr" else imm
            if field in ADDRESS_FIELDS and (
                    value > cfg.spm_depth if field in COUNT_FIELDS else value >= cfg.spm_depth):
                ex.outcome = "RANGE"
                return ex
            effect = ("cfg", a, f, value)
        elif name == "run":
            runs = lane_mask(a)
            effect = ("run", runs)
        elif name == "wait":
            if busy & lane_mask(a):
                if watch >= limit:
                    ex.outcome = "WATCHDOG"
                    return ex
                watch = 0 if progress else watch + 1
                continue
        elif name == "clrc":
            effect = ("clear",)
        if effect:
            ex.effects.append(effect)
            ex.cycles.append(cycle)
        lanes.run(runs, cycle, cfg.command_latency)
        issued[-1] = runs
        if not jumped and nxt == depth:
            ex.outcome = "ILLEGAL"
            return ex
        pc, watch = nxt, 0
    ex.end = ex.pc = None
    return ex
