"""cocotb stream drivers for Amaranth ports (``<port>__valid``, ``__ready``, ``__payload``).

:class:`StreamSource` drives a producer port from a list of raw payload integers,
:class:`StreamSink` drives ``ready`` and collects payloads, and both check the protocol
(the :class:`StreamSink` is also the monitor: once the DUT raises ``valid`` it must hold
``valid`` and the payload until ``ready``). Random stalls: a source lowers ``valid`` between
items and a sink lowers ``ready`` with the given probability.

Python stays out of the per-port await loop: :class:`StreamTB` advances every driver from one
coroutine, two awaits per clock cycle (drive after the rising edge, sample in ``ReadOnly``).
"""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = ["StreamSource", "StreamSink", "StreamTB", "ProtocolError"]


class ProtocolError(AssertionError):
    pass


def _port(dut, name, field):
    return getattr(dut, f"{name}__{field}")


class StreamSource:
    def __init__(self, dut, name, items, stall=0.0, rng=None):
        self.name = name
        self.valid = _port(dut, name, "valid")
        self.ready = _port(dut, name, "ready")
        self.payload = _port(dut, name, "payload")
        self.items = list(items)
        self.index = 0
        self.stall = stall
        self.rng = rng or random.Random(0)
        self.offering = False
        self.valid.value = 0

    @property
    def finished(self):
        return self.index >= len(self.items)

    def drive(self):
        if not self.offering and not self.finished and self.rng.random() >= self.stall:
            self.offering = True
            self.payload.value = self.items[self.index]
        self.valid.value = int(self.offering)

    def sample(self, cycle):
        if self.offering and int(self.ready.value):
            self.offering = False
            self.index += 1


class StreamSink:
    def __init__(self, dut, name, stall=0.0, rng=None, last_mask=0):
        self.name = name
        self.valid = _port(dut, name, "valid")
        self.ready = _port(dut, name, "ready")
        self.payload = _port(dut, name, "payload")
        self.stall = stall
        self.rng = rng or random.Random(1)
        self.last_mask = last_mask      # a payload with any of these bits ends the stream
        self.items = []
        self.cycles = []                # cycle of each transfer
        self.held = None                # payload offered last cycle and not taken
        self.finished = False
        self.ready.value = 0

    def drive(self):
        self.ready.value = int(self.rng.random() >= self.stall)

    def sample(self, cycle):
        valid = int(self.valid.value)
        payload = int(self.payload.value) if valid else None
        if self.held is not None:
            if not valid:
                raise ProtocolError(f"{self.name}: valid dropped at cycle {cycle} before ready")
            if payload != self.held:
                raise ProtocolError(f"{self.name}: payload changed at cycle {cycle} while "
                                    f"waiting for ready: {self.held:#x} -> {payload:#x}")
        self.held = None
        if valid:
            if int(self.ready.value):
                self.items.append(payload)
                self.cycles.append(cycle)
                if payload & self.last_mask:
                    self.finished = True
            else:
                self.held = payload


class StreamTB:
    """Clock, reset and a set of drivers advanced together, one coroutine for all."""

    def __init__(self, dut, period_ns=10):
        self.dut = dut
        self.clk = dut.clk
        self.sources: list[StreamSource] = []
        self.sinks: list[StreamSink] = []
        self.cycle = 0
        cocotb.start_soon(Clock(self.clk, period_ns, unit="ns").start())

    async def reset(self, cycles=2):
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.clk)
        self.dut.rst.value = 0

    async def run(self, timeout, monitors=(), pulses=()):
        """Advance until every sink has seen its last item and every source has sent all of
        its items; return the cycles taken, counting the first one. ``monitors`` are sampled
        every cycle too (objects with ``drive`` and ``sample``); ``pulses`` are signals held
        high during the first cycle only. Call right after a rising edge."""
        start = self.cycle
        for p in pulses:
            p.value = 1
        drivers = self.sources + self.sinks + list(monitors)
        while not all(s.finished for s in self.sinks + self.sources):
            if self.cycle - start > timeout:
                pending = [s.name for s in self.sinks + self.sources if not s.finished]
                left = {s.name: len(s.items) - s.index for s in self.sources}
                raise TimeoutError(f"no end of stream on {pending} after {timeout} cycles; "
                                   f"items left per source: {left}")
            for d in drivers:
                d.drive()
            await ReadOnly()
            for d in drivers:
                d.sample(self.cycle)
            self.cycle += 1
            await RisingEdge(self.clk)
            for p in pulses:
                p.value = 0
        for s in self.sources:
            s.valid.value = 0
        for s in self.sinks:
            s.ready.value = 0
        return self.cycle - start
