"""The ``zerohero`` command line.

Verbs: ``verilog`` (generate a top for a preset), ``lint`` (Verilator lint of every preset),
``demo`` (the main job on the simulated accelerator), ``bench`` (measured benchmarks).
Errors print one line and exit non-zero; ``ZH_DEBUG=1`` shows the traceback. Every file a
verb writes is checked before it runs and written whole or not at all (:mod:`zerohero.outputs`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from zerohero.outputs import Outputs, check, write, write_all
from zerohero.spec.config import PRESETS, preset

__all__ = ["main", "LINT_WAIVERS"]

#: Verilator lint classes waived for Amaranth's generated Verilog (all others are errors):
#: WIDTHEXPAND/WIDTHTRUNC: Amaranth sizes arithmetic itself and relies on Verilog extension;
#: CASEINCOMPLETE: its case statements follow a default assignment; PROCASSINIT: it gives
#: registers initial values where declared; UNUSEDSIGNAL: unused bits of packed payloads;
#: DECLFILENAME: one file holds every module.
LINT_WAIVERS = ("WIDTHEXPAND", "WIDTHTRUNC", "CASEINCOMPLETE", "PROCASSINIT", "UNUSEDSIGNAL",
                "DECLFILENAME")


class CLIError(Exception):
    """An error reported to the user as one line."""


def cmd_verilog(args):
    from zerohero.hw.top import dumps
    from zerohero.sim.harness import generated

    cfg = preset(args.config)
    outs = Outputs()
    out = outs.add("-o", args.output)
    # The description is <name>.json beside the Verilog (documented, and what scripts read),
    # so -o cannot itself be a .json, and an existing .json that is not a port description
    # belongs to someone else: refused rather than overwritten (a re-run replaces its own).
    if out.path.suffix.lower() == ".json":
        raise out.error("the port description is written beside the Verilog as NAME.json; "
                        "give the Verilog another name, such as a .v")
    ports = outs.add("port description", out.path.with_suffix(".json"))
    if ports.target.exists() and not _is_port_description(ports.target):
        raise out.error(f"{ports.path} (written beside it) exists and is not a port "
                        "description; move it or choose another -o")
    text, description = generated(cfg, args.top)
    write_all([(out, text), (ports, dumps(description))])
    print(f"wrote {out.path} ({description['module']}, config {cfg.name}, {cfg.lanes} lanes) "
          f"and {ports.path}")


def _is_port_description(path: Path) -> bool:
    """Whether ``path`` holds what ``zerohero verilog`` writes beside the Verilog."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"module", "top", "ports"} <= data.keys()


def lint_file(path: Path, top: str) -> list[str]:
    """Warnings of ``verilator --lint-only -Wall`` beyond :data:`LINT_WAIVERS`."""
    from zerohero.sim.harness import use_pinned_verilator

    use_pinned_verilator()
    cmd = ["verilator", "--lint-only", "-Wall", f"--top-module", top, str(path)]
    cmd += [f"-Wno-{w}" for w in LINT_WAIVERS]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("%")]
    if proc.returncode != 0 and not lines:
        lines = [proc.stderr.strip() or f"verilator exited {proc.returncode}"]
    return lines


def cmd_lint(args):
    from zerohero.sim.fixtures import TOPS
    from zerohero.sim.harness import generated

    configs = [args.config] if args.config else list(PRESETS)
    tops = [args.top] if args.top else list(TOPS)
    failed = 0
    for name in configs:
        for top in tops:
            text, description = generated(preset(name), top)
            path = Path("build") / "lint" / name / f"{description['module']}.v"
            write(check("lint", path), text)
            problems = lint_file(path, description["module"])
            status = "clean" if not problems else f"{len(problems)} problem(s)"
            print(f"{name:12s} {top:12s} {status}")
            for p in problems[:10]:
                print("   ", p)
            failed += bool(problems)
    if failed:
        raise CLIError(f"lint failed for {failed} design(s) (waived: {', '.join(LINT_WAIVERS)})")


def cmd_demo(args):
    from zerohero.demo import run_demo

    run_demo(sim=args.sim, config=args.config)


def cmd_bench(args):
    from zerohero import bench

    if args.tiled:
        tiled = {"spmv": bench.bench_spmv_tiled, "spgemm": bench.bench_spgemm_tiled}
        if args.what not in tiled:
            raise CLIError(f"--tiled applies to bench spmv and spgemm, not {args.what}")
        records = tiled[args.what](sim=args.sim)
    else:
        records = bench.BENCHES[args.what](sim=args.sim)
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(bench.table(records))


def cmd_regmap(args):
    from zerohero.spec.regmap import RegisterMap

    rmap = RegisterMap(preset(args.config))
    outs = Outputs()
    files = [(out, text()) for out, text in (
        (outs.add("--json", args.json), lambda: json.dumps(rmap.to_json(), indent=2) + "\n"),
        (outs.add("--header", args.header), rmap.to_c_header)) if out]
    if not files:
        print(rmap.table())
    write_all(files)
    for out, _ in files:
        print(f"wrote {out.path} (register map of config {args.config}, "
              f"hash 0x{rmap.map_hash:08X})")


def cmd_run(args):
    from zerohero.run_command import run_command

    status = run_command(args)
    if status:
        raise SystemExit(status)


def cmd_nn(args):
    from zerohero.nn import nn_command

    status = nn_command(args)
    if status:
        raise SystemExit(status)


def cmd_graph(args):
    from zerohero.graph import graph_command

    status = graph_command(args)
    if status:
        raise SystemExit(status)


def cmd_build(args):
    from zerohero.fpga.boards import FPGAError, build_board

    try:
        report = build_board(args.board, args.config, seed=args.seed, mhz=args.mhz,
                             progress=lambda m: print(f"[zerohero] {m}", file=sys.stderr),
                             router=args.router, baud=args.baud)
    except FPGAError as e:
        raise CLIError(str(e)) from None
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        lc = report["lc"]
        print(f"{report['board']}: config {report['config']} ({report['lanes']} lanes), "
              f"Fmax {report['fmax_mhz']} MHz (clock {report['clock_mhz']:g}, target "
              f"{report['target_mhz']:g}), "
              f"{report['lut']} LUT4, {report['ff']} FF, {lc['used']}/{lc['available']} logic "
              f"cells, {report['bram']['used']}/{report['bram']['available']} BRAM, "
              f"{report['dsp']['used']}/{report['dsp']['available']} DSP; "
              f"wrote {report['bitstream']} in {report['build_s']} s")
        path = report["critical_path"]
        if path:
            print(f"critical path: {path['start']} -> {path['end']}, {path['ns']} ns "
                  f"({path['routing_ns']} ns routing, {path['logic_levels']} logic levels)")
    if not report["timing_met"]:
        print(f"zerohero: error: timing not met on {report['board']}: Fmax "
              f"{report['fmax_mhz']} MHz < clock {report['clock_mhz']:g} MHz", file=sys.stderr)
        raise SystemExit(1)
    if not report["target_met"]:
        print(f"[zerohero] timing met at {report['clock_mhz']:g} MHz; the board's target of "
              f"{report['target_mhz']:g} MHz is not (Fmax {report['fmax_mhz']} MHz)",
              file=sys.stderr)


def cmd_flash(args):
    from zerohero.fpga.boards import FPGAError, flash_board

    try:
        print(flash_board(args.board, force=args.force, config=args.config), end="")
    except FPGAError as e:
        raise CLIError(str(e)) from None


def build_parser():
    p = argparse.ArgumentParser(prog="zerohero", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    # Every top: the shipped ones and the verification tops of the unit testbenches.
    from zerohero.sim.fixtures import DEFAULT_TOP, TOPS

    v = sub.add_parser("verilog", help="write the Verilog and a JSON port description")
    v.add_argument("--config", default="sim-small", help=f"preset: {', '.join(PRESETS)}")
    v.add_argument("--top", default=DEFAULT_TOP, choices=list(TOPS))
    v.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="Verilog file, such as top.v; the JSON port description is written "
                        "beside it as top.json (an existing .json there that is not a port "
                        "description is refused, not overwritten)")
    v.set_defaults(func=cmd_verilog)

    lt = sub.add_parser("lint", help="verilator --lint-only on the generated Verilog")
    lt.add_argument("--config", help="one preset (default: all)")
    lt.add_argument("--top", choices=list(TOPS), help="one top (default: all)")
    lt.set_defaults(func=cmd_lint)

    d = sub.add_parser("demo", help="the main job on the simulated accelerator")
    d.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    d.add_argument("--config", default="sim-small", help=f"preset: {', '.join(PRESETS)}")
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="measured benchmarks (cycles, ratios); onnx: ONNX's "
                       "operator conformance cases")
    b.add_argument("what", choices=["intersect", "scan", "spmv", "spgemm", "nn", "pagerank",
                                    "onnx"])
    b.add_argument("--tiled", action="store_true",
                   help="spmv, spgemm: operands larger than the scratchpad, tiled: "
                        "sequential, double-buffered, and which the runtime picks")
    b.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    b.add_argument("--json", action="store_true", help="print JSON records")
    b.set_defaults(func=cmd_bench)

    from zerohero.run_command import DEFAULT_B_COLS, DEFAULT_DENSITY, DEFAULT_MAX_VALUE, KERNELS

    r = sub.add_parser("run", help="one kernel on a backend, checked; prints the stats",
                       description="Run one kernel on the simulated accelerator (or the golden "
                       "model), check the result bit-exactly and print the stats. Exit status: "
                       "0 check passed, 1 check or simulation failed, 2 bad input.")
    r.add_argument("kernel", choices=list(KERNELS))
    r.add_argument("--config", help=f"preset: {', '.join(PRESETS)} (default: sim-small, or "
                   "the board's with --board)")
    r.add_argument("--sim", default="verilator", choices=["verilator", "icarus", "model"])
    r.add_argument("--a", metavar="FILE", help="first operand: .mtx (Matrix Market) or .npy")
    r.add_argument("--b", metavar="FILE", help="second operand (default: generated to match A)")
    r.add_argument("--random", metavar="ROWSxCOLS", help="generate A instead of --a")
    r.add_argument("--density", metavar="D",
                   help=f"nonzero fraction of generated A and sparse B (default {DEFAULT_DENSITY})")
    r.add_argument("--seed", metavar="S", help="seed of generated operands (default 0)")
    r.add_argument("--b-cols", metavar="N",
                   help=f"columns of a generated B for spmm/gemm (default {DEFAULT_B_COLS})")
    r.add_argument("--max-value", metavar="M", help="generated values are nonzero integers in "
                   f"[-M, M] (default {DEFAULT_MAX_VALUE}; 'full': the configured range)")
    r.add_argument("--quantize", action="store_true",
                   help="scale real-valued or out-of-range operands to the value width")
    r.add_argument("--relu", action="store_true", help="fused ReLU on the results")
    r.add_argument("--double-buffer", action=argparse.BooleanOptionalAction, default=None,
                   help="tiled operands: half-deep tiles, each loaded while the one before "
                        "runs (configs with double_buffer); default: whichever is estimated "
                        "faster")
    r.add_argument("--out", metavar="FILE", help="write the result: .npy (dense) or .mtx")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    r.set_defaults(func=cmd_run)

    from zerohero.nn import add_parser as add_nn_parser

    add_nn_parser(sub, cmd_nn)

    from zerohero.graph import add_parser as add_graph_parser

    add_graph_parser(sub, cmd_graph)

    r.add_argument("--board", help="run on an FPGA board over its UART (with --port)")
    r.add_argument("--port", help="serial device of the board, e.g. /dev/ttyUSB1")

    from zerohero.fpga.boards import BOARDS, ROUTERS

    bd = sub.add_parser("build", help="bitstream and report for a board (YoWASP toolchain)",
                        description="Synthesize, place and route the board top; exit 1 if "
                        "timing is not met at the clock, 2 if the design does not fit or a "
                        "tool fails.")
    bd.add_argument("board", choices=list(BOARDS))
    bd.add_argument("--config", help="preset (default: the board's; other presets a board "
                    "has a target for: " + "; ".join(
                        f"{b.name}: {', '.join(b.presets[1:])}" for b in BOARDS.values()
                        if b.variants) + ")")
    bd.add_argument("--mhz", type=float, help="design clock: the fastest the PLL makes at or "
                    "below it (default: the board's target, "
                    + ", ".join(f"{b.name} {b.target_mhz:g}" for b in BOARDS.values()) + ")")
    from zerohero.spec.link import DEFAULT_BAUD

    bd.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                    help=f"the UART's line rate (default {DEFAULT_BAUD}; runs on the board "
                    "take the rate of its last build)")
    bd.add_argument("--seed", type=int, help="nextpnr seed (default: the board's, "
                    + ", ".join(f"{b.name} {b.seed}" for b in BOARDS.values()) + ")")
    bd.add_argument("--router", choices=ROUTERS, help="nextpnr router (default: the board's, "
                    + ", ".join(f"{b.name} {b.router}" for b in BOARDS.values()) + ")")
    bd.add_argument("--json", action="store_true", help="print the report as JSON")
    bd.set_defaults(func=cmd_build)

    fl = sub.add_parser("flash", help="program a board with its last bitstream")
    fl.add_argument("board", choices=list(BOARDS))
    fl.add_argument("--config", help="the preset whose last build to flash (default: the "
                    "board's; " + "; ".join(f"{b.name}: {', '.join(b.presets)}"
                                           for b in BOARDS.values()) + ")")
    fl.add_argument("--force", action="store_true",
                    help="flash even a bitstream whose build missed timing at its clock")
    fl.set_defaults(func=cmd_flash)

    rm = sub.add_parser("regmap", help="host register map: table, JSON or C header")
    rm.add_argument("--config", default="sim-small", help=f"preset: {', '.join(PRESETS)}")
    rm.add_argument("--json", metavar="FILE", help="write the map as JSON")
    rm.add_argument("--header", metavar="FILE", help="write the map as a C header")
    rm.set_defaults(func=cmd_regmap)
    return p


class Terminated(BaseException):
    """SIGTERM (``kill``, ``timeout``, a cancelled CI job): unwinds like Ctrl-C, so that
    outputs half written are removed (:mod:`zerohero.outputs`)."""


def _terminate(signum, frame):
    raise Terminated


def main(argv=None):
    """The command line: 0 done, 1 a failed check or run, 2 bad input (one line), 130 an
    interrupt (Ctrl-C), 143 SIGTERM, 141 a closed output pipe (``| head``). Anything else is a
    bug, reported as one line too."""
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()   # signals' only
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        args.func(args)
    except (KeyboardInterrupt, Terminated) as e:
        if os.environ.get("ZH_DEBUG"):
            raise
        stopped = isinstance(e, Terminated)
        print(f"zerohero: {'terminated' if stopped else 'interrupted'}", file=sys.stderr)
        return 143 if stopped else 130
    except BrokenPipeError:
        # The reader is gone: say nothing more, and keep Python's exit from failing to flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (CLIError, ValueError, OSError, MemoryError) as e:
        if os.environ.get("ZH_DEBUG"):
            raise
        message = (f"out of memory ({str(e) or 'an allocation failed'}): the operands are too "
                   "large for this machine" if isinstance(e, MemoryError) else e)
        print(f"zerohero: error: {message}", file=sys.stderr)
        return 2
    except Exception as e:
        if os.environ.get("ZH_DEBUG"):
            raise
        from zerohero.run_command import _one_line

        print(f"zerohero: internal error: {type(e).__name__}: {_one_line(e)} (a bug in "
              "zerohero; ZH_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
