"""Generic cocotb test: drive stream ports from a spec file, collect the outputs.

The pytest side (:mod:`zerohero.sim.harness`) packs the inputs, runs this module on a built
design and compares what comes back with the golden model, so this module knows nothing of
any particular unit. Spec (JSON, path in ``ZH_SPEC``)::

    {"seed": 1, "runs": [{
        "writes": {"load__0": [[addr, word], ...]},   # preload through write ports
        "set": {"relu": 1},                           # static inputs
        "pulse": ["cs_start"],                        # one-cycle pulses after the preload
        "inputs": {"a": [payload, ...]},              # stream sources
        "outputs": {"out": last_mask},                # stream sinks, until a payload & mask
        "watch": ["wr"],                              # write ports to record (addr, data)
        "read": ["busy__0"],                          # signals read at the end
        "stall": 0.3, "timeout": 10000}]}

Results (JSON, path in ``ZH_RESULT``): per run the payloads and transfer cycles of every
output, the watched writes, the cycles from the pulse to the last output and the ``read``
values.
"""

import json
import os
import random

import cocotb
from cocotb.triggers import RisingEdge

from zerohero.sim.drivers import StreamSink, StreamSource, StreamTB


class WriteMonitor:
    """Records ``(addr, data)`` of every cycle a write port's ``en`` is high."""

    def __init__(self, dut, name):
        self.en = getattr(dut, f"{name}__en")
        self.addr = getattr(dut, f"{name}__addr")
        self.data = getattr(dut, f"{name}__data")
        self.writes = []

    def drive(self):
        pass

    def sample(self, cycle):
        if int(self.en.value):
            self.writes.append([int(self.addr.value), int(self.data.value)])


async def preload(dut, writes):
    for name, words in writes.items():
        en, addr, data = (getattr(dut, f"{name}__{f}") for f in ("en", "addr", "data"))
        for a, d in words:
            en.value, addr.value, data.value = 1, a, d
            await RisingEdge(dut.clk)
        en.value = 0


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
                      for name, items in run.get("inputs", {}).items()]
        tb.sinks = [StreamSink(dut, name, stall, rng, last_mask=mask)
                    for name, mask in run["outputs"].items()]
        monitors = [WriteMonitor(dut, name) for name in run.get("watch", [])]
        await tb.reset()
        await preload(dut, run.get("writes", {}))
        pulses = [getattr(dut, name) for name in run.get("pulse", [])]
        cycles = await tb.run(run.get("timeout", 100_000), monitors, pulses)
        await RisingEdge(dut.clk)
        results.append({
            "cycles": cycles,
            "outputs": {s.name: s.items for s in tb.sinks},
            "out_cycles": {s.name: s.cycles for s in tb.sinks},
            "writes": {name: mon.writes for name, mon in zip(run.get("watch", []), monitors)},
            "read": {name: int(getattr(dut, name).value) for name in run.get("read", [])},
        })
    json.dump(results, open(os.environ["ZH_RESULT"], "w"))
