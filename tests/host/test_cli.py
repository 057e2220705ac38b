"""The command line: Verilog for every preset, lint, one-line errors."""

import json
import subprocess
import sys

import pytest

from zerohero.cli import main
from zerohero.spec.config import PRESETS
from zerohero.sim.fixtures import TOPS


def zerohero(*args):
    return subprocess.run([sys.executable, "-m", "zerohero", *args], capture_output=True,
                          text=True)


@pytest.mark.parametrize("config", list(PRESETS))
def test_verilog_for_every_preset(tmp_path, config):
    out = tmp_path / "top.v"
    assert main(["verilog", "--config", config, "-o", str(out)]) == 0
    text = out.read_text()
    desc = json.loads(out.with_suffix(".json").read_text())
    assert f"module {desc['module']}" in text
    assert desc["config"]["name"] == config
    names = {p["name"] for p in desc["ports"]}
    assert desc["top"] == "accelerator"
    assert {"bus__valid", "bus__addr", "bus__rdata", "irq", "clk", "rst"} <= names
    for port in desc["ports"]:
        assert f" {port['name']};" in text, port["name"]


@pytest.mark.parametrize("config", list(PRESETS))
def test_lint_clean_for_every_preset_and_top(capsys, config):
    # The FPGA presets cover window 1 (a zero-width index once made ASCRANGE warnings there).
    assert main(["lint", "--config", config]) == 0
    out = capsys.readouterr().out
    assert out.count("clean") == len(TOPS)


@pytest.mark.parametrize("args, message", [
    (["verilog", "--config", "nope", "-o", "x.v"], "unknown configuration 'nope'"),
    (["demo", "--config", "nope"], "unknown configuration 'nope'"),
])
def test_errors_are_one_line(args, message):
    proc = zerohero(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zerohero: error:") and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_zeroed_memories_become_one_loop_and_nothing_else_changes():
    from zerohero.hw.top import compact_zero_init

    zero = "  initial begin\n" + "".join(f"    mem[{i}] = 8'h00;\n" for i in range(3)) + "  end\n"
    assert compact_zero_init("x\n" + zero + "y\n") == (
        "x\n  initial begin : zh_zero_init_1\n    integer zh_i;\n"
        "    for (zh_i = 0; zh_i < 3; zh_i = zh_i + 1) mem[zh_i] = 0;\n  end\ny\n")
    # A non-zero word, a gap in the indices, two memories: left as they are.
    for block in (zero.replace("mem[1] = 8'h00", "mem[1] = 8'h01"),
                  zero.replace("mem[2]", "mem[3]"),
                  zero.replace("mem[2]", "other[2]")):
        assert compact_zero_init(block) == block


def test_verification_tops_come_from_the_sim_layer(tmp_path):
    from zerohero.hw import top as hw_top

    # hardware ships only its own tops; the CLI adds the testbenches' tops from sim/
    assert set(hw_top.TOPS) == {"accelerator", "intersector", "unioner"}
    assert set(TOPS) == set(hw_top.TOPS) | {"pe-array", "host-memory"}
    out = tmp_path / "pe.v"
    assert main(["verilog", "--config", "icebreaker", "--top", "pe-array", "-o", str(out)]) == 0
    desc = json.loads(out.with_suffix(".json").read_text())
    assert desc["module"] == "zerohero_pe_array" and desc["top"] == "pe-array"
