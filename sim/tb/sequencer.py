"""cocotb test of the :class:`zerohero.hw.sequencer.Sequencer` alone: load programs, run them
against stub lanes, record every cycle's visible effects.

The pytest side (``tests/hw/test_sequencer.py``) compares the records with the golden model
(:func:`zerohero.firmware.isa.execute`), which drives the same :class:`LaneStub`. Spec (JSON,
path in ``ZH_SPEC``)::

    {"fw_depth": 32,
     "command_latency": 0,                     # AccelConfig's: the lanes take a run that late
     "runs": [{"words": [...],                 # the program (padded with nops to fw_depth)
               "watchdog": 40,                 # the watchdog input
               "busy": [3, null, 0],           # LaneStub arguments, per lane
               "progress": [1, 0, 0],
               "error_after": [null, 5, null],
               "timeout": 1000}]}              # cycles before giving up

Every run starts with a reset, loads the whole instruction memory through ``fw_wr`` and
pulses ``start``; cycle 0 is the first cycle after the ``start`` pulse (the one executing
word 0). Per cycle the lane inputs come from the stub and the cycle's outputs are sampled;
the run ends when ``done`` or ``error`` rises; a cycle with ``cfg_we`` fails the test unless
``cfg_load`` names the lanes it writes. Results (JSON, path in ``ZH_RESULT``), per
run: ``effects`` as ``[cycle, "cfg", lane, field, value]``, ``[cycle, "run", mask]`` and
``[cycle, "clear"]``, ``end`` (the last cycle with ``busy`` high), ``done``, ``error``,
``error_code`` and ``busy`` after it (``end`` null on a timeout).
"""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from zerohero.firmware.isa import LaneStub
from zerohero.spec.isa import ALL_LANES


async def _reset(dut):
    for name in ("start", "fw_wr__en", "lane_busy", "lane_error", "progress"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def _load(dut, words, depth):
    words = list(words) + [0] * (depth - len(words))
    for addr, word in enumerate(words):
        dut.fw_wr__en.value, dut.fw_wr__addr.value, dut.fw_wr__data.value = 1, addr, word
        await RisingEdge(dut.clk)
    dut.fw_wr__en.value = 0


async def _run(dut, run, lanes, depth, latency):
    await _reset(dut)
    await _load(dut, run["words"], depth)
    stub = LaneStub(lanes, run.get("busy"), run.get("progress"), run.get("error_after"))
    dut.watchdog.value = run["watchdog"]
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    effects = []
    end = None
    for cycle in range(run.get("timeout", 10_000)):
        busy, error, progress = stub.inputs(cycle)
        dut.lane_busy.value, dut.lane_error.value, dut.progress.value = busy, error, progress
        await ReadOnly()
        if int(dut.done.value) or int(dut.error.value):  # registered: the previous cycle ended it
            end = cycle - 1
            break
        if not int(dut.busy.value):
            raise AssertionError(f"cycle {cycle}: busy low without done or error")
        if int(dut.cfg_we.value):
            lane = int(dut.cfg_lane.value)
            effects.append([cycle, "cfg", lane, int(dut.cfg_field.value),
                            int(dut.cfg_value.value)])
            # The lanes a write reaches are among those `cfg_load` lets copy the bus.
            written = (1 << lanes) - 1 if lane == ALL_LANES else 1 << lane
            load = int(dut.cfg_load.value)
            if load & written != written:
                raise AssertionError(f"cycle {cycle}: cfg to lane {lane} with cfg_load "
                                     f"{load:#x}")
        mask = int(dut.run.value)
        if mask:
            effects.append([cycle, "run", mask])
        if int(dut.clear.value):
            effects.append([cycle, "clear"])
        stub.run(mask, cycle, latency)
        await RisingEdge(dut.clk)
    result = {"effects": effects, "end": end, "done": int(dut.done.value),
              "error": int(dut.error.value), "error_code": int(dut.error_code.value),
              "busy": int(dut.busy.value)}
    await RisingEdge(dut.clk)                   # out of ReadOnly
    return result


@cocotb.test()
async def run_programs(dut):
    spec = json.load(open(os.environ["ZH_SPEC"]))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    lanes, depth = len(dut.lane_busy), spec["fw_depth"]
    latency = spec.get("command_latency", 0)
    results = [await _run(dut, run, lanes, depth, latency) for run in spec["runs"]]
    json.dump(results, open(os.environ["ZH_RESULT"], "w"))
