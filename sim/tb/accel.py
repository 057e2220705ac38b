"""cocotb program runner for the integrated :class:`~zerohero.hw.accelerator.Accelerator`.

Spec (JSON in ``ZH_SPEC``)::

    {"jobs": [{"writes": [[addr, data], ...],      # operands and firmware, through the bus
               "start": [addr, data],              # the CONTROL write that starts it
               "reads": [addr, ...],               # results and counters, after irq
               "timeout": cycles}]}

Only loading and reading back are per-cycle Python; while the kernel runs the testbench
waits on ``irq`` (or the timeout), so Verilator runs at full speed. Results (``ZH_RESULT``):
per job ``cycles`` from the START write to ``irq``, ``load_cycles`` / ``read_cycles`` of the
bus writes before it and the reads after it, ``wall_s`` (wall time of that wait),
``irq`` (False on a timeout), the read values and any error responses.
"""

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from zerohero.sim.drivers import HostBusDriver

PERIOD_NS = 10


@cocotb.test()
async def run_program(dut):
    spec = json.load(open(os.environ["ZH_SPEC"]))
    # The clock toggles in the GPI layer (C++): no Python runs while a kernel executes.
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start())
    bus = HostBusDriver(dut)
    results = []
    for job in spec["jobs"]:
        dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        load_start = get_sim_time(unit="ns")
        responses = await bus.transact([tuple(w) for w in job["writes"]])
        load = round((get_sim_time(unit="ns") - load_start) / PERIOD_NS)
        errors = [r for r in responses if r["err"]]
        await bus.transact([tuple(job["start"])])
        start = get_sim_time(unit="ns")
        wall = time.perf_counter()
        fired = True
        if not int(dut.irq.value):
            trigger = await First(RisingEdge(dut.irq), Timer(job["timeout"] * PERIOD_NS,
                                                             unit="ns"))
            fired = isinstance(trigger, RisingEdge)
        cycles = round((get_sim_time(unit="ns") - start) / PERIOD_NS)
        wall = time.perf_counter() - wall
        read_start = get_sim_time(unit="ns")
        reads = await bus.transact([(a,) for a in job["reads"]])
        read = round((get_sim_time(unit="ns") - read_start) / PERIOD_NS)
        errors += [r for r in reads if r["err"]]
        results.append({"cycles": cycles, "load_cycles": load, "read_cycles": read,
                        "irq": fired, "wall_s": wall, "reads": [r["rdata"] for r in reads],
                        "errors": [[r["addr"], r["we"]] for r in errors]})
    json.dump(results, open(os.environ["ZH_RESULT"], "w"))
