"""Generic cocotb test: drive stream ports from a spec file, collect the outputs.

The pytest side (:mod:`zerohero.sim.harness`) packs the inputs, runs this module on a built
design and compares what comes back with the golden model, so this module knows nothing of
any particular unit. Spec (JSON, path in ``ZH_SPEC``)::

    {"seed": 1, "runs": [{"inputs": {"a": [payload, ...]}, "outputs": {"out": last_mask},
                          "set": {"relu": 1}, "read": ["busy__0"], "stall": 0.3,
                          "timeout": 10000}]}

Results (JSON, path in ``ZH_RESULT``): per run the payloads and transfer cycles of every
output, the cycles until the last output and the values of the ``read`` signals.
"""

import json
import os
import random

import cocotb
from cocotb.triggers import RisingEdge

from zerohero.sim.drivers import StreamSink, StreamSource, StreamTB


@cocotb.test()
async def run_streams(dut):
    spec = json.load(open(os.environ["ZH_SPEC"]))
    rng = random.Random(spec.get("seed", 0))
    tb = StreamTB(dut)
    results = []
    for run in spec["runs"]:
        for name, value in run.get("set", {}).items():
            getattr(dut, name).value = value
        stall = run.get("stall", 0.0)
        tb.sources = [StreamSource(dut, name, items, stall, rng)
                      for name, items in run["inputs"].items()]
        tb.sinks = [StreamSink(dut, name, stall, rng, last_mask=mask)
                    for name, mask in run["outputs"].items()]
        await tb.reset()
        cycles = await tb.run(run.get("timeout", 100_000))
        await RisingEdge(dut.clk)
        results.append({
            "cycles": cycles,
            "outputs": {s.name: s.items for s in tb.sinks},
            "out_cycles": {s.name: s.cycles for s in tb.sinks},
            "read": {name: int(getattr(dut, name).value) for name in run.get("read", [])},
        })
    json.dump(results, open(os.environ["ZH_RESULT"], "w"))
