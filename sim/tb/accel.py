"""cocotb side of the program runner for the integrated accelerator.

The host's bus traffic is played by the Verilog bus player (``sim/hdl/zh_player.v``, built by
``build(cfg, "accelerator", sim, player=True)``): it reads ``script.txt``, drives the bus one
request per cycle, waits for ``irq`` after each CONTROL write and logs every response to
``played.txt``. No Python runs per cycle, while loading, running or reading back. This test
only waits for the player's ``done`` (or a cycle limit) and times the run.

Spec (JSON in ``ZH_SPEC``): ``{"limit": cycles}``. Result (``ZH_RESULT``):
``{"done": bool, "wall_s": seconds}``; :meth:`zerohero.sim.harness.Built.play` reads
``played.txt`` itself.
"""

import json
import os
import time

import cocotb
from cocotb.triggers import First, RisingEdge, Timer

PERIOD_NS = 10      # zh_player.v: always #5 clk = ~clk (timescale 1ns)


@cocotb.test()
async def run_program(dut):
    spec = json.load(open(os.environ["ZH_SPEC"]))
    wall = time.perf_counter()
    done = bool(int(dut.done.value))
    if not done:
        trigger = await First(RisingEdge(dut.done), Timer(spec["limit"] * PERIOD_NS, unit="ns"))
        done = not isinstance(trigger, Timer)
    json.dump({"done": done, "wall_s": time.perf_counter() - wall},
              open(os.environ["ZH_RESULT"], "w"))
