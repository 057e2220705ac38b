"""Host access: the register map (JSON, C header, CLI) and the generated bus port, register
bank and scratchpad on both simulators, checked against the documented map."""

import json
import random
import shutil
import subprocess
import sys

import pytest
from conftest import unit_config

from zerohero.cli import main
from zerohero.spec.config import PRESETS, preset
from zerohero.hw.host import reg_edges
from zerohero.spec.regmap import (COUNTER_NAMES, ERR_BAD_ADDR, ERR_BUSY, LANE_BASE,
                              RegisterMap)
from zerohero.sim.harness import build

MASK32 = 0xFFFF_FFFF

#: narrow: 24-bit scratchpad words (one bus word), 16-bit counters, 5 banks (not a power of
#: two, so "past the last bank" is inside the bank field), no double buffering (the scratchpad
#: refuses every access while busy).
#: wide: 72-bit words (3 parts, stride 4: part 3 is a hole), 40-bit counters (LO/HI), double
#: buffering (scratchpad writes accepted while busy), 7 banks: broadcast groups 0-2 and 3-5.
#: piped: read latency 3 (two registered levels of the banks' read mux, 9 banks: groups of
#: 4, 4 and 1, then 2 and 1), with the wide words. staged: the requests registered beside
#: each bank (host_stage; 5 lanes and 11 banks, so its groups of 8 banks in lane-major order,
#: 0 5 1 6 2 7 3 8 and 4 9 10, are not those of bank numbers), read latency 2 (so the read-data
#: mux is one combinational level), the wide words, no double buffering (host_stage excludes
#: it). staged-piped: the same with read latency 3 (the ULX3S preset's read path: the stage,
#: then one registered level of the mux over groups of 4 banks).
#: piped and the staged ones take the banks in lane-major order (hw/host.py, lane_major).
CONFIGS = {
    "narrow": unit_config(lanes=2, spm_banks=5, counter_width=16, double_buffer=False),
    "wide": unit_config(lanes=3, spm_banks=7, acc_width=64, counter_width=40, spm_depth=32),
    "piped": unit_config(lanes=3, spm_banks=9, acc_width=64, counter_width=40, host_latency=3,
                         spm_depth=32),
    "staged": unit_config(lanes=5, spm_banks=11, acc_width=64, counter_width=40, host_latency=2,
                          host_stage=True, double_buffer=False),
    "staged-piped": unit_config(lanes=5, spm_banks=11, acc_width=64, counter_width=40,
                                host_latency=3, host_stage=True, double_buffer=False),
}


# Reference model of the documented behaviour ------------------------------------------------

class HostModel:
    """The host's view as the map documents it: one access at a time, in request order."""

    def __init__(self, rmap):
        self.rmap = rmap
        self.spm = {}                          # (bank, word) -> value; survives a reset
        self.inputs = dict(defaults(rmap.cfg))
        self.reset()

    def reset(self):
        self.store = {(r.name, f.name): f.reset for r in self.rmap for f in r.fields
                      if f.access == "rw"}
        self.stage = [0] * (self.rmap.spm_word_parts - 1)
        self.code = self.multiple = self.err_addr = self.done = 0
        self.started = False
        self.inputs = dict(defaults(self.rmap.cfg))

    def fault(self, code, addr):
        if self.code == 0:
            self.code, self.err_addr = code, addr
        else:
            self.multiple = 1

    def set(self, values):
        self.inputs.update(values)
        if values.get("done"):
            self.done = 1
        if values.get("error") and self.inputs["error_code"]:
            self.fault(self.inputs["error_code"], 0)

    def field_value(self, r, f):
        if f.access == "const":
            return f.reset
        if f.access == "pulse":
            return 0
        if f.access == "rw":
            return self.store[(r.name, f.name)]
        if r.counter is not None:
            return self.inputs[f"lane_{r.counter}__{r.lane}"] >> (32 * r.part) & (
                (1 << f.width) - 1)
        if r.name == "CYCLES":
            # A count of clock edges, which this model of accesses in order does not keep:
            # 0 until the first START, and not read after one (the accelerator's tests check
            # it against the bus player's count, edge for edge).
            assert not self.started, "CYCLES read after a START: not modelled"
            return 0
        return {("STATUS", "BUSY"): self.inputs["busy"], ("STATUS", "DONE"): self.done,
                ("STATUS", "ERROR"): int(self.code != 0), ("ERROR", "CODE"): self.code,
                ("ERROR", "MULTIPLE"): self.multiple,
                ("ERR_ADDR", "ADDR"): self.err_addr}[(r.name, f.name)]

    def access(self, addr, wdata=None):
        """``(err, rdata)`` of one bus access."""
        where = self.rmap.decode(addr)
        if where is None:
            self.fault(ERR_BAD_ADDR, addr)
            return 1, 0
        if where[0] == "reg":
            r = where[1]
            if wdata is None:
                return 0, sum(self.field_value(r, f) << f.lsb for f in r.fields)
            for f in r.fields:
                if f.access == "rw":
                    self.store[(r.name, f.name)] = f.get(wdata)
                if (r.name, f.name) == ("CONTROL", "START") and f.get(wdata):
                    self.done, self.started = 0, True
            if r.access == "wclr":
                self.code = self.multiple = self.err_addr = 0
            return 0, 0
        if where[0] == "fw":                    # write-only, while idle
            if wdata is None:
                self.fault(ERR_BAD_ADDR, addr)
                return 1, 0
            if not self.inputs["idle"]:
                self.fault(ERR_BUSY, addr)
                return 1, 0
            return 0, 0
        kind, bank, word, part = where
        if kind == "bcast" and wdata is None:   # write-only
            self.fault(ERR_BAD_ADDR, addr)
            return 1, 0
        if not self.inputs["idle"] and (wdata is None or not self.rmap.cfg.double_buffer):
            self.fault(ERR_BUSY, addr)
            return 1, 0
        parts = self.rmap.spm_word_parts
        if wdata is None:
            return 0, self.spm.get((bank, word), 0) >> (32 * part) & MASK32
        if part < parts - 1:
            self.stage[part] = wdata
        else:
            value = sum(s << (32 * i) for i, s in enumerate(self.stage))
            value |= wdata << (32 * (parts - 1))
            banks = self.rmap.bcast_banks(bank) if kind == "bcast" else [bank]
            for b in banks:
                self.spm[(b, word)] = value & ((1 << self.rmap.cfg.word_width) - 1)
        return 0, 0


def defaults(cfg):
    d = {"idle": 1, "busy": 0, "done": 0, "error": 0, "error_code": 0}
    for name in COUNTER_NAMES:
        for lane in range(cfg.lanes):
            d[f"lane_{name}__{lane}"] = 0
    return d


def expected(rmap, sections):
    """The model's ``(err, rdata)`` for every bus op of every section."""
    model = HostModel(rmap)
    out = {}
    for section in sections:
        model.reset()
        got = out[section["name"]] = []
        for op in section["ops"]:
            if op[0] == "r":
                got.append(model.access(op[1]))
            elif op[0] == "w":
                got.append(model.access(op[1], op[2]))
            elif op[0] == "set":
                model.set(op[1])
    return out


# Programs ---------------------------------------------------------------------------------

def strobe(**values):
    """Raise inputs for one cycle."""
    return [["set", values], ["set", {k: 0 for k in values}]]


def bad_addresses(rmap):
    """Addresses outside the map, each with what it would alias to if decoding wrapped."""
    spm = rmap.spm_base
    addrs = [rmap.reg_end, rmap.reg_end + 1, LANE_BASE - 1, rmap.spm_base - 1,
             (rmap.reg_end + rmap.spm_base) // 2, rmap.spm_end, rmap.spm_end + 1,
             2 * spm, 2 * spm + rmap.addr_of("SCRATCH"), 1 << 24 | rmap.addr_of("SCRATCH"),
             1 << 31 | rmap.addr_of("SCRATCH"), 1 << 31 | spm, MASK32, MASK32 - 1]
    if rmap.spm_end < 2 * spm:
        addrs.append(2 * spm - 1)
    if rmap.bcast_groups:           # 2 * spm is the broadcast region: past its end instead
        addrs = [a for a in addrs if rmap.decode(a) is None]
        addrs += [rmap.bcast_end, rmap.bcast_end + 1]
    # Holes between the registers.
    offsets = {r.offset for r in rmap}
    addrs += [a for a in range(rmap.reg_end) if a not in offsets]
    # Unused parts of wide scratchpad words.
    if rmap.spm_word_parts < rmap.spm_word_stride:
        addrs += [spm + rmap.spm_word_parts, rmap.spm_end - 1]
    addrs = list(dict.fromkeys(addrs))
    for a in addrs:
        assert rmap.decode(a) is None, hex(a)
    return addrs


def spm_words(rmap, rng, extra=6):
    cfg = rmap.cfg
    words = []
    for bank in range(cfg.spm_banks):
        words += [(bank, 0), (bank, cfg.spm_depth - 1)]
        words += [(bank, rng.randrange(cfg.spm_depth)) for _ in range(extra)]
    return list(dict.fromkeys(words))


def write_word(rmap, bank, word, value):
    return [["w", rmap.spm_addr(bank, word, p), value >> (32 * p) & MASK32]
            for p in range(rmap.spm_word_parts)]


def read_word(rmap, bank, word):
    return [["r", rmap.spm_addr(bank, word, p)] for p in range(rmap.spm_word_parts)]


def program(rmap, rng):
    cfg = rmap.cfg
    regs = list(rmap)
    writable = [r for r in regs if r.write_mask]
    readonly = [r for r in regs if not r.write_mask and r.access != "wclr"]
    ctl = rmap["CONTROL"]
    start, clear, relu = (ctl.field(n).mask for n in ("START", "CLEAR", "RELU"))
    sections = []

    sections.append({"name": "reset", "ops": [["r", r.offset] for r in regs]})

    ops = []
    for r in writable:
        for v in [MASK32, 0, 0x5A5A5A5A, 0xA5A5A5A5] + [rng.getrandbits(32) for _ in range(4)]:
            ops += [["w", r.offset, v], ["r", r.offset]]
    sections.append({"name": "rw", "ops": ops})
    sections.append({"name": "rw-gaps", "gap": 0.5, "ops": ops})

    ops = []
    for r in readonly:
        ops += [["w", r.offset, MASK32], ["r", r.offset], ["w", r.offset, ~r.reset & MASK32],
                ["r", r.offset], ["w", r.offset, 0], ["r", r.offset]]
    ops += [["r", rmap.addr_of("ERROR")]]
    sections.append({"name": "ro", "ops": ops})

    a = rmap.addr_of
    sections.append({"name": "pulses", "ops": [
        ["w", a("CONTROL"), start], ["r", a("CONTROL")], ["wait", 3],
        ["w", a("CONTROL"), clear], ["r", a("CONTROL")], ["wait", 3],
        ["w", a("CONTROL"), start | clear | relu], ["r", a("CONTROL")], ["wait", 3],
        ["w", a("CONTROL"), start | relu], ["w", a("CONTROL"), start | relu],
        ["r", a("CONTROL")],
        ["wait", 3],
        ["w", a("CONTROL"), 0], ["r", a("CONTROL")], ["wait", 2],
        # STATUS: BUSY live, DONE sticky until START, ERROR from a hardware error.
        ["r", a("STATUS")], ["set", {"busy": 1}], ["r", a("STATUS")], ["set", {"busy": 0}],
        ["r", a("STATUS")],
        *strobe(done=1), ["r", a("STATUS")], ["wait", 5], ["r", a("STATUS")],
        ["w", a("CONTROL"), start], ["r", a("STATUS")],
        ["set", {"error_code": 0x42}], *strobe(error=1), ["r", a("STATUS")], ["r", a("ERROR")],
        ["r", a("ERR_ADDR")],
        ["set", {"error_code": 0x43}], *strobe(error=1), ["r", a("ERROR")],
        ["w", a("ERROR"), 0], ["r", a("ERROR")], ["r", a("STATUS")],
        # An error code 0 is no error.
        ["set", {"error_code": 0}], *strobe(error=1), ["r", a("ERROR")],
    ]})

    ops = []
    for round_ in range(3):
        values = {}
        for name in COUNTER_NAMES:
            for lane in range(cfg.lanes):
                v = ((1 << cfg.counter_width) - 1 if round_ == 1 else
                     rng.getrandbits(cfg.counter_width))
                values[f"lane_{name}__{lane}"] = v
        ops += [["set", values]]
        ops += [["r", r.offset] for r in regs if r.counter is not None]
    sections.append({"name": "counters", "ops": ops})

    ops = []
    words = spm_words(rmap, rng)
    for bank, word in words:
        ops += write_word(rmap, bank, word, rng.getrandbits(cfg.word_width))
    for bank, word in words:
        ops += read_word(rmap, bank, word)
    # Bits above word_width are dropped; all ones and all zeros.
    b0, wl = (0, 1), (cfg.spm_banks - 1, cfg.spm_depth - 1)
    ops += write_word(rmap, *b0, (1 << (32 * rmap.spm_word_parts)) - 1) + read_word(rmap, *b0)
    ops += write_word(rmap, *wl, 0) + read_word(rmap, *wl)
    if rmap.spm_word_parts > 1:
        # A lower part alone does not write the word; the top part writes it.
        ops += [["w", rmap.spm_addr(*b0, 0), 0x12345678]] + read_word(rmap, *b0)
        ops += [["w", rmap.spm_addr(*b0, rmap.spm_word_parts - 1), 0x9]] + read_word(rmap, *b0)
    sections.append({"name": "spm", "ops": ops})

    ops = [["w", a("SCRATCH"), 0x600DF00D]] + write_word(rmap, 0, 0, 0x5EED)
    for i, addr in enumerate(bad_addresses(rmap)):
        access = ["r", addr] if i % 2 else ["w", addr, MASK32]
        ops += [["w", a("ERROR"), 0], access, ["r", a("ERROR")], ["r", a("ERR_ADDR")],
                ["r", a("STATUS")]]
    ops += [["w", a("ERROR"), 0], ["r", MASK32], ["w", rmap.spm_end, 1], ["r", a("ERROR")],
            ["r", a("ERR_ADDR")]]
    # Nothing was written through an alias.
    ops += [["r", a("SCRATCH")]] + read_word(rmap, 0, 0)
    sections.append({"name": "bad", "ops": ops})

    # Broadcast: a word into the same place of every bank of a group, write-only.
    ops = []
    for group in range(rmap.bcast_groups):
        for word in (0, cfg.spm_depth - 1, rng.randrange(cfg.spm_depth)):
            value = rng.getrandbits(cfg.word_width)
            ops += [["w", rmap.bcast_addr(group, word, p), value >> (32 * p) & MASK32]
                    for p in range(rmap.spm_word_parts)]
            ops += [op for b in range(cfg.spm_banks) for op in read_word(rmap, b, word)]
        ops += [["r", rmap.bcast_addr(group, 1, 0)], ["r", a("ERROR")], ["w", a("ERROR"), 0]]
    sections.append({"name": "broadcast", "ops": ops})

    last = (cfg.spm_banks - 1, cfg.spm_depth - 1)
    ops = write_word(rmap, *last, 0x77) + [["set", {"idle": 0}]]
    ops += read_word(rmap, *last) + write_word(rmap, *last, 0x99)
    ops += [["r", a("ERROR")], ["r", a("ERR_ADDR")], ["r", a("SCRATCH")],
            ["w", a("SCRATCH"), 0x1234], ["r", a("SCRATCH")], ["set", {"idle": 1}]]
    ops += read_word(rmap, *last)
    sections.append({"name": "busy", "ops": ops})

    # Random traffic over the whole map, pipelined and with gaps.
    targets = ([r.offset for r in regs if r.name not in ("CONTROL",)] +
               [rmap.spm_addr(b, w, p) for b, w in words for p in range(rmap.spm_word_parts)]
               + [rmap.bcast_addr(g, w, p) for g in range(rmap.bcast_groups)
                  for _, w in words[:4] for p in range(rmap.spm_word_parts)]
               + bad_addresses(rmap)[:6])
    ops = []
    for _ in range(400):
        addr = rng.choice(targets)
        if rng.random() < 0.05:
            ops.append(["set", {"idle": int(rng.random() < 0.7)}])
        ops.append(["w", addr, rng.getrandbits(32)] if rng.random() < 0.5 else ["r", addr])
    for gap in (0.0, 0.3):
        sections.append({"name": f"random-{gap}", "gap": gap, "ops": ops})
    # The register bank samples the inputs `reg_edges` edges after acceptance: a `set` right
    # after a request waits until that request has been sampled.
    extra = reg_edges(rmap.cfg) - 1
    for section in sections if extra else []:
        ops = section["ops"]
        section["ops"] = [o for prev, op in zip([["wait"]] + ops, ops)
                          for o in ([["wait", extra]] if op[0] == "set" and prev[0] in ("r", "w")
                                    else []) + [op]]
    return sections


_RESULTS = {}


def run(sim, name):
    """``(rmap, sections, results)`` of the whole program on ``sim`` (run once, cached)."""
    if (sim, name) not in _RESULTS:
        cfg = CONFIGS[name]
        rmap = RegisterMap(cfg)
        sections = program(rmap, random.Random(name))
        built = build(cfg, "host-memory", sim)
        scratch = rmap.addr_of("SCRATCH")
        spec = {"seed": 1, "latency": cfg.host_latency, "defaults": defaults(cfg),
                "watch": ["start", "clear", "relu"], "sections": sections,
                "transact": {"requests": [[scratch, 0xCAFE], [scratch], [MASK32], [0]],
                             "gap": 0.3, "read": scratch, "write": [rmap.reg_end, 1]}}
        results = built.run("zerohero.sim.tb.host", spec)
        _RESULTS[(sim, name)] = rmap, sections, results
    return _RESULTS[(sim, name)]


def responses(sim, name, section):
    """``(rmap, [(op, response)])`` of a section, after checking it against the model."""
    rmap, sections, results = run(sim, name)
    want = expected(rmap, sections)[section]
    spec = next(s for s in sections if s["name"] == section)
    bus_ops = [op for op in spec["ops"] if op[0] in ("r", "w")]
    got = results[section]["responses"]
    assert len(got) == len(bus_ops), f"{section}: {len(got)} responses to {len(bus_ops)} requests"
    for i, (op, g, (err, rdata)) in enumerate(zip(bus_ops, got, want)):
        assert g["addr"] == op[1]
        where = rmap.decode(op[1])
        what = where[1].name if where and where[0] == "reg" else where
        assert (g["err"], g["rdata"]) == (err, rdata), (
            f"{section} request {i} {op[0]} {op[1]:#x} ({what}): got err={g['err']} "
            f"rdata={g['rdata']:#x}, expected err={err} rdata={rdata:#x}")
    return rmap, list(zip(bus_ops, got))


cocotb_test = pytest.mark.cocotb
configs = pytest.mark.parametrize("name", list(CONFIGS))


@cocotb_test
@configs
def test_reset_values_as_documented(sim, name):
    rmap, pairs = responses(sim, name, "reset")
    for (op, got), r in zip(pairs, rmap):
        assert (got["err"], got["rdata"]) == (0, r.reset), r.name
    assert pairs[0][1]["rdata"] >> 16 == 0x5A48
    assert pairs[1][1]["rdata"] == rmap.map_hash


@cocotb_test
@configs
@pytest.mark.parametrize("section", ["rw", "rw-gaps"])
def test_rw_registers_write_then_read(sim, name, section):
    rmap, pairs = responses(sim, name, section)
    for (wop, wres), (rop, rres) in zip(pairs[::2], pairs[1::2]):
        r = rmap.decode(rop[1])[1]
        assert wres["err"] == rres["err"] == 0
        assert rres["rdata"] == wop[2] & r.write_mask, r.name


@cocotb_test
@configs
def test_ro_registers_ignore_writes(sim, name):
    rmap, pairs = responses(sim, name, "ro")
    for op, res in pairs:
        assert res["err"] == 0
        if op[0] == "r":
            assert res["rdata"] == rmap.decode(op[1])[1].reset


@cocotb_test
@configs
def test_control_pulses_self_clear_and_status(sim, name):
    rmap, pairs = responses(sim, name, "pulses")
    trace = run(sim, name)[2]["pulses"]["trace"]
    ctl = rmap.addr_of("CONTROL")
    start, clear, relu = (rmap["CONTROL"].field(n).mask for n in ("START", "CLEAR", "RELU"))

    def high_cycles(signal):
        changes = trace[signal] + [[10**9, 0]]
        return [c for (c0, v), (c1, _) in zip(changes, changes[1:]) if v
                for c in range(c0, c1)]

    writes = [res for op, res in pairs if op[0] == "w" and op[1] == ctl]
    edge = reg_edges(rmap.cfg)         # the register bank acts on this edge after acceptance
    want_start = [w["accepted"] + edge for w in writes if w["wdata"] & start]
    want_clear = [w["accepted"] + edge for w in writes if w["wdata"] & clear]
    assert high_cycles("start") == want_start           # one cycle per write, back to back too
    assert high_cycles("clear") == want_clear
    # RELU is stored by every write of CONTROL (write START with the RELU you want).
    want_relu, level = [[0, 0]], 0
    for w in writes:
        if int(bool(w["wdata"] & relu)) != level:
            level ^= 1
            want_relu.append([w["accepted"] + edge, level])
    assert trace["relu"] == want_relu and len(want_relu) == 3
    # Reads of CONTROL return RELU only.
    reads = [res["rdata"] for op, res in pairs if op[0] == "r" and op[1] == ctl]
    assert reads == [0, 0, relu, relu, 0]
    status = [res["rdata"] for op, res in pairs if op[0] == "r" and op[1] == rmap.addr_of(
        "STATUS")]
    assert status == [0, 0b001, 0, 0b010, 0b010, 0, 0b100, 0]
    errors = [res["rdata"] for op, res in pairs if op[0] == "r" and op[1] == rmap.addr_of(
        "ERROR")]
    assert errors == [0x42, 0x142, 0, 0]


@cocotb_test
@configs
def test_lane_counters_read_back(sim, name):
    rmap, pairs = responses(sim, name, "counters")
    assert len(pairs) == 3 * rmap.cfg.lanes * len(COUNTER_NAMES) * rmap.counter_parts


@cocotb_test
@configs
def test_scratchpad_every_bank(sim, name):
    rmap, pairs = responses(sim, name, "spm")
    assert all(res["err"] == 0 for _, res in pairs)
    banks = {rmap.decode(op[1])[1] for op, _ in pairs}
    assert banks == set(range(rmap.cfg.spm_banks))


@cocotb_test
@configs
def test_bad_addresses_flagged(sim, name):
    rmap, pairs = responses(sim, name, "bad")
    bad = set(bad_addresses(rmap))
    i = 1 + rmap.spm_word_parts      # index of the first ["w", ERROR]
    for addr in bad_addresses(rmap):
        access, error, err_addr, status = [p[1] for p in pairs[i + 1:i + 5]]
        assert access["addr"] == addr and access["err"] == 1 and access["rdata"] == 0
        assert error["rdata"] == ERR_BAD_ADDR and err_addr["rdata"] == addr, hex(addr)
        assert status["rdata"] & rmap["STATUS"].field("ERROR").mask
        i += 5
    # Two bad accesses: the first one's address is kept, MULTIPLE set.
    assert [res["rdata"] for _, res in pairs[i + 3:i + 5]] == [0x100 | ERR_BAD_ADDR, MASK32]
    assert all(res["err"] == (op[1] in bad) for op, res in pairs)


@cocotb_test
@configs
def test_broadcast_writes_every_bank_of_its_group(sim, name):
    """Checked against the model (responses()); here: that the section tests something."""
    rmap, pairs = responses(sim, name, "broadcast")
    assert len(pairs) > 0 if rmap.bcast_groups else len(pairs) == 0
    if rmap.bcast_groups:               # the broadcast read is refused as a bad address
        assert [res["err"] for op, res in pairs if op[0] == "r" and
                rmap.decode(op[1])[0] == "bcast"] == [1] * rmap.bcast_groups


@cocotb_test
@configs
def test_scratchpad_refused_while_not_idle(sim, name):
    """While busy a read is refused; so is a write without double buffering, and with it the
    write lands (the host loads the next tile during a run)."""
    rmap, pairs = responses(sim, name, "busy")
    parts = rmap.spm_word_parts
    read, write = pairs[parts:2 * parts], pairs[2 * parts:3 * parts]
    double = rmap.cfg.double_buffer
    assert all(res["err"] == 1 for _, res in read)
    assert all(res["err"] == int(not double) for _, res in write)
    error, err_addr, scratch = (res["rdata"] for _, res in pairs[3 * parts:3 * parts + 3])
    refused = parts if double else 2 * parts            # more than one sets MULTIPLE
    assert error == (0x100 if refused > 1 else 0) | ERR_BUSY
    assert err_addr == read[0][0][1]
    assert [res["rdata"] for _, res in pairs[-parts:]] == (
        [0x99] if double else [0x77]) + [0] * (parts - 1)


@cocotb_test
@configs
def test_driver_transact_read_write(sim, name):
    rmap, _, results = run(sim, name)
    got = results["transact"]
    assert [(r["err"], r["rdata"]) for r in got["responses"]] == [
        (0, 0), (0, 0xCAFE), (1, 0), (0, rmap["ID"].reset)]
    assert got["read"] == [0xCAFE, 0] and got["write"] == 1


@cocotb_test
@configs
@pytest.mark.parametrize("gap", [0.0, 0.3])
def test_random_traffic_matches_model(sim, name, gap):
    responses(sim, name, f"random-{gap}")


# The map itself: JSON, C header, CLI --------------------------------------------------------

ALL_CONFIGS = [*PRESETS.values(), *CONFIGS.values(),
               unit_config(lanes=1, spm_banks=2, counter_width=64, double_buffer=False)]


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=lambda c: f"{c.name}-{c.lanes}")
def test_decode_covers_the_map(cfg):
    rmap = RegisterMap(cfg)
    for r in rmap:
        assert rmap.decode(r.offset) == ("reg", r) and rmap.addr_of(r.name) == r.offset
        assert r.reset == sum(f.reset << f.lsb for f in r.fields)
        bits = 0
        for f in r.fields:
            assert f.lsb + f.width <= 32 and not bits & f.mask, (r.name, f.name)
            bits |= f.mask
    for bank in range(cfg.spm_banks):
        for word in (0, cfg.spm_depth - 1):
            for part in range(rmap.spm_word_parts):
                assert rmap.decode(rmap.spm_addr(bank, word, part)) == ("spm", bank, word, part)
    for group in range(rmap.bcast_groups):
        for word in (0, cfg.spm_depth - 1):
            for part in range(rmap.spm_word_parts):
                assert rmap.decode(rmap.bcast_addr(group, word, part)) == (
                    "bcast", group, word, part)
        assert max(rmap.bcast_banks(group)) < cfg.spm_banks
    assert rmap.spm_base & (rmap.spm_base - 1) == 0 and rmap.reg_end <= rmap.spm_base
    for addr in bad_addresses(rmap):
        assert rmap.decode(addr) is None
    # Per-lane counters at the documented places.
    for lane in range(cfg.lanes):
        for c, counter in enumerate(COUNTER_NAMES):
            for part in range(rmap.counter_parts):
                r = rmap.counter(lane, counter, part)
                assert r.offset == (LANE_BASE + lane * rmap.lane_stride
                                    + c * rmap.counter_parts + part)


def test_map_hash_tracks_the_map_not_the_name():
    cfg = CONFIGS["narrow"]
    h = RegisterMap(cfg).map_hash
    assert RegisterMap(cfg.replace(name="other")).map_hash == h
    assert RegisterMap(cfg.replace(lanes=1)).map_hash != h
    assert RegisterMap(cfg.replace(spm_depth=32)).map_hash != h
    assert len({RegisterMap(c).map_hash for c in PRESETS.values()}) == len(PRESETS)


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=lambda c: f"{c.name}-{c.lanes}")
def test_json_agrees_with_map(cfg):
    rmap = RegisterMap(cfg)
    doc = json.loads(json.dumps(rmap.to_json()))
    assert doc["map_hash"] == rmap.map_hash and doc["config"] == cfg.to_dict()
    assert [r["name"] for r in doc["registers"]] == [r.name for r in rmap]
    for jr, r in zip(doc["registers"], rmap):
        assert (jr["offset"], jr["access"], jr["reset"]) == (r.offset, r.access, r.reset)
        assert [(f["name"], f["lsb"], f["width"], f["access"]) for f in jr["fields"]] == [
            (f.name, f.lsb, f.width, f.access) for f in r.fields]
    spm = next(g for g in doc["regions"] if g["name"] == "scratchpad")
    assert (spm["base"], spm["bank_stride"], spm["banks"]) == (
        rmap.spm_base, rmap.bank_stride, cfg.spm_banks)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=lambda c: f"{c.name}-{c.lanes}")
def test_c_header_agrees_with_map(tmp_path, cfg):
    """Compile a program that prints every macro of the header; compare with Python."""
    rmap = RegisterMap(cfg)
    (tmp_path / "zh_regs.h").write_text(rmap.to_c_header())
    prints = []

    def p(key, expr):
        prints.append(f'    printf("{key} %llu\\n", (unsigned long long)({expr}));')

    want = {}
    for r in rmap:
        p(f"{r.name}.addr", f"ZH_{r.name}_ADDR")
        p(f"{r.name}.reset", f"ZH_{r.name}_RESET")
        want[f"{r.name}.addr"], want[f"{r.name}.reset"] = r.offset, r.reset
        for f in r.fields:
            for what, value in (("SHIFT", f.lsb), ("WIDTH", f.width), ("MASK", f.mask)):
                key = f"{r.name}.{f.name}.{what}"
                p(key, f"ZH_{r.name}_{f.name}_{what}")
                want[key] = value
    checks = {
        "map_hash": ("ZH_MAP_HASH", rmap.map_hash),
        "spm_base": ("ZH_SPM_BASE", rmap.spm_base),
        "spm_stride": ("ZH_SPM_BANK_STRIDE", rmap.bank_stride),
        "spm_banks": ("ZH_SPM_BANKS", cfg.spm_banks),
        "lanes": ("ZH_CFG_LANES", cfg.lanes),
        "latency": ("ZH_BUS_LATENCY", cfg.host_latency),
        "word_width": ("ZH_CFG_SPM_WORD_WIDTH", cfg.word_width),
        "err_bad": ("ZH_ERR_BAD_ADDR", ERR_BAD_ADDR),
        "err_busy": ("ZH_ERR_BUSY", ERR_BUSY),
    }
    last = (cfg.spm_banks - 1, cfg.spm_depth - 1)
    checks["spm_last"] = (f"ZH_SPM_ADDR({last[0]}, {last[1]})", rmap.spm_addr(*last))
    checks["spm_1_3"] = (f"ZH_SPM_ADDR({min(1, last[0])}, 3)", rmap.spm_addr(min(1, last[0]), 3))
    if rmap.bcast_groups:
        checks["bcast_1_last"] = (f"ZH_BCAST_ADDR(1, {last[1]})", rmap.bcast_addr(1, last[1]))
    for c in COUNTER_NAMES:
        checks[f"lane_{c}"] = (f"ZH_LANE_ADDR({cfg.lanes - 1}, ZH_COUNTER_{c.upper()})",
                               rmap.counter(cfg.lanes - 1, c).offset)
    for key, (expr, value) in checks.items():
        p(key, expr)
        want[key] = value
    src = tmp_path / "check.c"
    src.write_text('#include <stdio.h>\n#include "zh_regs.h"\n#include "zh_regs.h"\n'
                   "int main(void) {\n" + "\n".join(prints) + "\n    return 0;\n}\n")
    exe = tmp_path / "check"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o", str(exe),
                    str(src)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    got = {k: int(v) for k, v in (line.split() for line in out.splitlines())}
    assert got == want


def test_hardware_counter_ports_are_the_counter_names_in_order():
    """The counters the lanes and the register bank expose, by port name, are the register
    map's COUNTER_NAMES in order (24-bit counters: no other port has that width)."""
    from amaranth.hdl import Shape
    from amaranth.lib.wiring import In, Out

    from zerohero.hw.host import RegisterBank
    from zerohero.hw.lane import Lane
    from zerohero.hw.pe import MACLane

    cfg = unit_config(counter_width=24, spm_depth=32)

    def ports(component, flow):
        return tuple(name for name, m in component.signature.members.items()
                     if m.is_port and m.flow == flow
                     and Shape.cast(m.shape).width == cfg.counter_width)

    assert ports(MACLane(cfg), Out) == COUNTER_NAMES
    assert ports(Lane(cfg), Out) == COUNTER_NAMES
    assert ports(RegisterBank(cfg), In) == tuple(f"lane_{n}" for n in COUNTER_NAMES)


def test_register_map_has_every_region():
    """Every configuration's map has its broadcast region (two groups: every lane's operand
    bank and every lane's vector bank); none is dropped."""
    from zerohero.spec.config import AccelConfig

    for cfg in [AccelConfig(), *PRESETS.values()]:
        rmap = RegisterMap(cfg)
        regions = {r["name"]: r for r in rmap.regions}
        assert list(regions) == ["registers", "scratchpad", "broadcast", "firmware"]
        assert regions["broadcast"]["groups"] == rmap.bcast_groups == 2
        assert regions["broadcast"]["size"] == 2 * rmap.bank_stride
        assert [list(rmap.bcast_banks(g)) for g in (0, 1)] == [
            list(range(cfg.lanes)), list(range(cfg.lanes, 2 * cfg.lanes))]
        assert "broadcast:" in rmap.table()


def test_cli_regmap_writes_json_and_header(tmp_path, capsys):
    js, hdr = tmp_path / "regs.json", tmp_path / "inc" / "zh_regs.h"
    assert main(["regmap", "--config", "icebreaker", "--json", str(js), "--header",
                 str(hdr)]) == 0
    rmap = RegisterMap(preset("icebreaker"))
    assert json.loads(js.read_text()) == json.loads(json.dumps(rmap.to_json()))
    assert hdr.read_text() == rmap.to_c_header()
    assert "regs.json" in capsys.readouterr().out


def test_cli_regmap_prints_table(capsys):
    assert main(["regmap", "--config", "sim-small"]) == 0
    out = capsys.readouterr().out
    rmap = RegisterMap(preset("sim-small"))
    for r in rmap:
        assert f"{r.offset:#8x}  {r.name} " in out
    assert f"{rmap.spm_base:#x}" in out


def test_cli_regmap_error_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "zerohero", "regmap", "--config", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zerohero: error:") and "nope" in lines[0]


def test_lint_host_memory_clean(capsys):
    assert main(["lint", "--top", "host-memory", "--config", "sim-small"]) == 0
    assert "clean" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_lint_host_memory_test_configs(tmp_path, name):
    """The configs with wide words (staging, part select) and LO/HI counters lint clean too."""
    from zerohero.cli import lint_file
    from zerohero.sim.fixtures import generate

    text, description = generate(CONFIGS[name], "host-memory")
    path = tmp_path / "host_memory.v"
    path.write_text(text)
    assert lint_file(path, description["module"]) == []


@pytest.mark.parametrize("name", ["wide", "piped"])
def test_write_refused_while_its_bank_is_taken_reaches_no_bank(name):
    """Double buffering: a write that completes a word in a bank whose write port the
    datapath takes (any bank of a broadcast group) is refused (``ready`` low) and enables no
    bank's write port; otherwise exactly its banks' ports are enabled. A read while idle is
    never refused. Every request, each single taken bank and none (Amaranth's simulator on
    the port alone: the bank's own port gives the datapath priority, so an enable there would
    be invisible in the full design)."""
    from amaranth.sim import Simulator

    from zerohero.hw.host import HostPort

    cfg = CONFIGS[name]
    rmap = RegisterMap(cfg)
    port = HostPort(cfg)
    banks, top = cfg.spm_banks, rmap.spm_word_parts - 1
    requests = [(rmap.spm_addr(b, 1, p), {b}, p == top) for b in range(banks)
                for p in (0, top)]
    requests += [(rmap.bcast_addr(g, 2, p), set(rmap.bcast_banks(g)), p == top)
                 for g in range(rmap.bcast_groups) for p in (0, top)]
    failures = []

    async def bench(ctx):
        ctx.set(port.bus.valid, 1)
        for idle in (0, 1):
            ctx.set(port.idle, idle)
            for taken in [None, *range(banks)]:
                for b in range(banks):
                    ctx.set(port.wr_taken[b], b == taken)
                for we in (1, 0):
                    for addr, targets, completes in requests:
                        if not we and (not idle or addr >= rmap.bcast_base):
                            continue                # refused as BUSY / a bad address
                        ctx.set(port.bus.we, we)
                        ctx.set(port.bus.addr, addr)
                        refused = we and completes and not idle and taken in targets
                        wr = {b for b in range(banks) if ctx.get(port.spm_wr[b].en)}
                        rd = {b for b in range(banks) if ctx.get(port.spm_rd[b].en)}
                        want_wr = targets if we and completes and not refused else set()
                        want_rd = set() if we else targets
                        got = (ctx.get(port.bus.ready), wr, rd)
                        if got != (int(not refused), want_wr, want_rd):
                            failures.append((idle, taken, we, hex(addr), got))

    sim = Simulator(port)
    sim.add_testbench(bench)
    sim.run()
    assert not failures, failures[:5]
