"""The Makefile: what its targets run with no arguments is accepted by the CLI, and its header
comment names every target. Checked with ``make -n`` (nothing is run)."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from zerohero.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = ROOT / "Makefile"


def dry_run(target: str, *variables: str) -> list[str]:
    """The command lines ``make -n TARGET`` would run."""
    proc = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), target,
                           *variables], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def zerohero_command(lines: list[str], verb: str) -> list[str]:
    """The arguments after ``-m zerohero`` of the one line that runs ``zerohero VERB``."""
    found = [shlex.split(ln) for ln in lines if f"-m zerohero {verb}" in ln]
    assert len(found) == 1, lines
    words = found[0]
    return words[words.index("zerohero") + 1:]


@pytest.mark.parametrize("variables", [(), ("CONFIG=icebreaker",), ("TOP=intersector",)])
def test_make_verilog_passes_arguments_the_cli_accepts(variables):
    """``make verilog`` with no arguments once passed ``--top core``, a top that does not
    exist; the CLI's parser (its ``--top`` and ``--config`` choices) must accept the line."""
    from zerohero.hw.top import DEFAULT_TOP, TOPS
    from zerohero.spec.config import PRESETS

    argv = zerohero_command(dry_run("verilog", *variables), "verilog")
    args = build_parser().parse_args(argv)      # exits (SystemExit 2) on an unknown --top
    assert args.top in TOPS and args.config in PRESETS
    given = dict(v.split("=", 1) for v in variables)
    assert args.top == given.get("TOP", DEFAULT_TOP)
    assert args.config == given.get("CONFIG", "sim-small")
    assert args.output == f"build/{args.config}/zerohero_{args.top.replace('-', '_')}.v"


def test_make_test_runs_the_suite_in_parallel():
    line = next(ln for ln in dry_run("test") if "-m pytest" in ln)
    assert " -n auto" in line, line
    assert " -n 2" in next(ln for ln in dry_run("test", "JOBS=2") if "-m pytest" in ln)


def test_setup_installs_the_constraints_and_reruns_when_they_change():
    text = MAKEFILE.read_text()
    assert re.search(r"^\$\(VENV\)/\.installed: pyproject\.toml \$\(CONSTRAINTS\)$", text, re.M)
    assert re.search(r"^CONSTRAINTS := requirements/constraints\.txt$", text, re.M)
    assert "pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'" in text
    pins = [ln for ln in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
            if ln and not ln.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==\S+", ln) for ln in pins), pins


def test_header_names_every_target():
    text = MAKEFILE.read_text()
    header = text[:text.index("\n\n")]
    phony = {t for line in re.findall(r"^\.PHONY:(.*)$", text, re.M) for t in line.split()}
    internal = {"iverilog"}                     # a step of setup
    assert phony - internal <= set(re.findall(r"^#\s+make (\w+)", header, re.M)), header
