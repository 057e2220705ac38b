"""Where board builds go, one at a time, and what ``flash`` programs (issue 32): builds go under
the working directory (or ``$ZH_FPGA_BUILD_DIR``), never the installed package's folder; two
builds of one board do not mix; ``flash`` programs only the bitstream its report describes.
The toolchain is not run here (tests/fpga/test_boards.py runs it): its steps are stood in
for, the folder, lock and hash logic is real."""

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from zerohero.cli import main
from zerohero.fpga import boards
from zerohero.spec.config import preset

SPEC = boards.board("icebreaker")


@pytest.fixture
def default_root(monkeypatch, tmp_path):
    """No test override of the build root, no environment setting, cwd ``tmp_path``."""
    monkeypatch.setattr(boards, "BUILD_ROOT", None)
    monkeypatch.delenv("ZH_FPGA_BUILD_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def test_builds_go_under_the_working_directory(default_root, tmp_path, monkeypatch):
    """The root is decided when a build runs, as an absolute path (a report's ``bitstream``
    names its file from any directory)."""
    folder = boards.build_dir(SPEC, preset(SPEC.config))
    assert folder == Path.cwd() / "build" / "fpga" / "icebreaker" and folder.is_absolute()
    assert folder.resolve() == tmp_path.resolve() / "build" / "fpga" / "icebreaker"
    monkeypatch.setenv("ZH_FPGA_BUILD_DIR", str(tmp_path / "elsewhere"))
    assert boards.build_dir(SPEC, preset(SPEC.config)) == tmp_path / "elsewhere" / "icebreaker"
    monkeypatch.setenv("ZH_FPGA_BUILD_DIR", "rel")
    assert boards.build_dir(SPEC, preset(SPEC.config)) == Path.cwd() / "rel" / "icebreaker"


def finished_build(folder, bitstream=b"\x01\x02", recorded=b"\x01\x02", timing_met=True):
    """A build's files as build_board leaves them (``bitstream`` ``None``: none), the report
    recording ``recorded``'s hash (``None``: no hash, as an older zerohero wrote)."""
    folder.mkdir(parents=True, exist_ok=True)
    if bitstream is not None:
        (folder / SPEC.bitstream).write_bytes(bitstream)
    report = {"timing_met": timing_met, "fmax_mhz": 30.0, "clock_mhz": 27.0}
    if recorded is not None:
        report["bitstream_sha256"] = hashlib.sha256(recorded).hexdigest()
    (folder / "report.json").write_text(json.dumps(report))


@pytest.fixture
def fake_iceprog(tmp_path, monkeypatch):
    """An ``iceprog`` on PATH that records the file it was asked to program."""
    log = tmp_path / "programmed"
    tool = tmp_path / "bin" / "iceprog"
    tool.parent.mkdir()
    tool.write_text(f'#!/bin/sh\necho "$1" >> {log}\necho done\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.parametrize("bitstream, recorded, why", [
    (b"\x01\x02", b"another build", "its SHA-256 differs"),
    (b"\x01\x02", None, "the report records no SHA-256"),
    (None, b"\x01\x02", "it does not exist"),
])
def test_flash_refuses_a_bitstream_its_report_does_not_describe(default_root, tmp_path, capsys,
                                                                fake_iceprog, bitstream,
                                                                recorded, why):
    folder = boards.build_dir(SPEC, preset(SPEC.config))
    finished_build(folder, bitstream=bitstream, recorded=recorded)
    assert main(["flash", "icebreaker"]) == 2
    assert capsys.readouterr().err == (
        f"zerohero: error: {folder / SPEC.bitstream} is not the bitstream "
        f"{folder / 'report.json'} describes ({why}): rebuild with `zerohero build icebreaker`\n")
    assert not fake_iceprog.exists()                    # nothing was programmed


def test_flash_programs_the_bitstream_its_report_describes(default_root, tmp_path, capsys,
                                                           fake_iceprog):
    folder = boards.build_dir(SPEC, preset(SPEC.config))
    finished_build(folder)
    assert main(["flash", "icebreaker"]) == 0
    assert fake_iceprog.read_text().split() == [str(folder / SPEC.bitstream)]


def test_two_builds_of_one_board_run_one_after_the_other(default_root, monkeypatch):
    """The toolchain is stood in for by a platform whose build writes the bitstream slowly:
    with the lock the two builds' tool steps never overlap, and each report hashes its own
    bitstream."""
    spans, lock = [], threading.Lock()

    class Plan:
        def execute_local(self, root, env=None):
            begin = time.monotonic()
            time.sleep(0.3)
            folder = boards.Path(root)
            (folder / SPEC.bitstream).write_bytes(threading.current_thread().name.encode())
            (folder / "report-pnr.json").write_text(json.dumps({
                "utilization": {k: {"used": 1, "available": 2} for k in
                                ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP")},
                "fmax": {"clk": {"achieved": 30.0, "constraint": 27.0}},
                "critical_paths": []}))
            (folder / "zerohero.stat.json").write_text(json.dumps(
                {"design": {"num_cells_by_type": {}}}))
            with lock:
                spans.append((begin, time.monotonic()))

    class Platform:
        device = "stand-in"

        def prepare(self, top, name, **overrides):
            return Plan()

    monkeypatch.setattr(boards.Board, "make_platform", lambda self: Platform())
    reports = {}

    def build(name):
        reports[name] = boards.build_board("icebreaker", progress=lambda _: None)

    threads = [threading.Thread(target=build, args=(n,), name=n) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (_, end), (begin, _) = sorted(spans)
    assert end <= begin, "the two builds' tool steps overlapped"
    for name, report in reports.items():
        assert report["bitstream_sha256"] == hashlib.sha256(name.encode()).hexdigest()
    # The folder holds the build that finished last (reports fills in finishing order).
    folder, last = boards.build_dir(SPEC, preset(SPEC.config)), list(reports.values())[-1]
    assert last["bitstream"] == str(folder / SPEC.bitstream)
    assert json.loads((folder / "report.json").read_text()) == last
