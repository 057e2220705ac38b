"""cocotb test of a design with a host bus port (``bus__*``): run request programs, record
the responses and the watched outputs.

The pytest side (``tests/hw/test_host.py``) builds the programs from the register map and checks
what comes back, so this module knows nothing of particular registers. Spec (JSON, path in
``ZH_SPEC``)::

    {"seed": 1, "bus": "bus", "latency": 1,
     "defaults": {"idle": 1, "busy": 0},          # applied at every section's reset
     "watch": ["start", "clear", "relu"],         # outputs traced every cycle
     "sections": [{"name": "rw", "gap": 0.3,
                   "ops": [["w", addr, data], ["r", addr], ["set", {"busy": 1}],
                           ["wait", 3]]}]}

Every section starts with a reset (inputs at their defaults; cycle 0 is the first cycle after
it). Ops run in order: bus requests are pipelined (a new one each cycle, or after an idle
cycle with probability ``gap``); ``set`` drives inputs for the following cycles and takes one
cycle without a request, ``wait`` idles. Results (JSON, path in ``ZH_RESULT``): per section
the bus responses in order (``addr, we, wdata, err, rdata, accepted, cycle``: the cycle that
accepted the request and the one with its response), the ``set`` ops' cycles, and per
watched output its ``[cycle, value]`` changes (from cycle 0). An optional ``"transact":
{"requests": [[addr], [addr, data]], "gap": 0.3, "read": addr, "write": [addr, data]}``
exercises :meth:`HostBusDriver.transact`, ``read`` and ``write`` after a last reset.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from zerohero.sim.drivers import HostBusDriver


def _signal(dut, name):
    return getattr(dut, name)


async def _reset(dut, defaults, cycles=2):
    dut.rst.value = 1
    for name, value in defaults.items():
        _signal(dut, name).value = value
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def _run_section(dut, bus, section, defaults, watch, rng, timeout):
    await _reset(dut, defaults)
    bus.pending.clear()
    bus.offered = None
    bus.idle()
    ops = list(section["ops"])[::-1]
    gap = section.get("gap", 0.0)
    responses, sets = [], []
    trace = {name: [] for name in watch}
    waiting = 0
    cycle = 0
    while ops or bus.busy or waiting:
        if cycle > timeout:
            raise TimeoutError(f"section {section['name']}: still running after {timeout} "
                               "cycles")
        await RisingEdge(dut.clk)
        if waiting:
            waiting -= 1
            bus.idle()
        elif bus.can_offer and ops:
            op = ops[-1]
            if op[0] == "set":
                ops.pop()
                for name, value in op[1].items():
                    _signal(dut, name).value = value
                sets.append(cycle)
                bus.idle()
            elif op[0] == "wait":
                ops.pop()
                waiting = op[1] - 1
                bus.idle()
            elif rng.random() >= gap:
                ops.pop()
                if op[0] == "r":
                    bus.offer(op[1])
                elif op[0] == "w":
                    bus.offer(op[1], op[2])
                else:
                    raise ValueError(f"unknown op {op!r}")
            else:
                bus.idle()
        else:
            bus.idle()
        await ReadOnly()
        responses += bus.sample(cycle)
        for name in watch:
            value = int(_signal(dut, name).value)
            if not trace[name] or trace[name][-1][1] != value:
                trace[name].append([cycle, value])
        cycle += 1
    await RisingEdge(dut.clk)
    bus.idle()
    return {"responses": responses, "sets": sets, "trace": trace, "cycles": cycle}


@cocotb.test()
async def run_host(dut):
    spec = json.load(open(os.environ["ZH_SPEC"]))
    rng = random.Random(spec.get("seed", 0))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    bus = HostBusDriver(dut, spec.get("bus", "bus"), spec.get("latency", 1))
    results = {}
    for section in spec["sections"]:
        results[section["name"]] = await _run_section(
            dut, bus, section, spec.get("defaults", {}), spec.get("watch", []), rng,
            section.get("timeout", 100_000))
    if "transact" in spec:
        # The driver's own loop: pipelined requests, then one read() and one write().
        await _reset(dut, spec.get("defaults", {}))
        t = spec["transact"]
        got = await bus.transact([tuple(req) for req in t["requests"]], t.get("gap", 0.0), rng)
        rdata, rerr = await bus.read(t["read"])
        werr = await bus.write(*t["write"])
        results["transact"] = {"responses": got, "read": [rdata, rerr], "write": werr}
    json.dump(results, open(os.environ["ZH_RESULT"], "w"))
