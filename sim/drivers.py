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


__all__.append("HostBusDriver")


class HostBusDriver:
    """Drives a host bus port (:class:`zerohero.hw.host.HostBusSignature`: ``<name>__valid``,
    ``__ready``, ``__addr``, ``__we``, ``__wdata``; responses on ``__ack``, ``__rdata``,
    ``__err``) and checks the response rules: exactly one ``ack`` per accepted request,
    ``latency`` cycles after the edge that accepted it, in order.

    Per cycle, like the stream drivers: after the rising edge either :meth:`offer` a request
    (only when :attr:`can_offer`; it is held until ``ready``) or :meth:`idle`, then in
    ``ReadOnly`` call :meth:`sample`, which returns the responses completed that cycle as dicts
    ``{addr, we, wdata, err, rdata, accepted, cycle}``. :meth:`transact` runs that loop itself
    for a list of requests; :meth:`read` and :meth:`write` do one access.
    """

    def __init__(self, dut, name="bus", latency=1):
        self.name = name
        self.clk = dut.clk
        self.latency = latency
        self.valid, self.ready = _port(dut, name, "valid"), _port(dut, name, "ready")
        self.addr, self.we = _port(dut, name, "addr"), _port(dut, name, "we")
        self.wdata = _port(dut, name, "wdata")
        self.ack, self.rdata = _port(dut, name, "ack"), _port(dut, name, "rdata")
        self.err = _port(dut, name, "err")
        self.offered = None             # (addr, wdata or None) held until ready
        self.pending = []               # accepted: (addr, wdata or None, accept cycle)
        self.cycle = 0                  # of transact()
        self.valid.value = 0

    @property
    def can_offer(self):
        return self.offered is None

    @property
    def busy(self):
        return self.offered is not None or bool(self.pending)

    def offer(self, addr, wdata=None):
        """Offer a read (``wdata`` None) or a write."""
        assert self.offered is None, "the previous request was not accepted yet"
        self.offered = (addr, wdata)
        self.addr.value = addr
        self.we.value = int(wdata is not None)
        self.wdata.value = wdata or 0
        self.valid.value = 1

    def idle(self):
        if self.offered is None:
            self.valid.value = 0

    def sample(self, cycle):
        done = []
        if int(self.ack.value):
            if not self.pending:
                raise ProtocolError(f"{self.name}: ack at cycle {cycle} without a request")
            addr, wdata, accepted = self.pending.pop(0)
            if cycle - accepted != self.latency:
                raise ProtocolError(f"{self.name}: response to {addr:#x} (accepted at cycle "
                                    f"{accepted}) at cycle {cycle}, latency must be "
                                    f"{self.latency}")
            err = int(self.err.value)
            done.append({"addr": addr, "we": int(wdata is not None), "wdata": wdata or 0,
                         "err": err, "rdata": int(self.rdata.value), "accepted": accepted,
                         "cycle": cycle})
        elif self.pending and cycle - self.pending[0][2] >= self.latency:
            addr, _, accepted = self.pending[0]
            raise ProtocolError(f"{self.name}: no response to {addr:#x} (accepted at cycle "
                                f"{accepted}) by cycle {cycle}")
        if self.offered is not None and int(self.ready.value):
            self.pending.append((*self.offered, cycle))
            self.offered = None
        return done

    async def transact(self, requests, gap=0.0, rng=None):
        """Issue ``requests`` (``(addr,)`` reads or ``(addr, wdata)`` writes), pipelined, with
        idle cycles between them with probability ``gap``; return their responses."""
        rng = rng or random.Random(0)
        todo = list(requests)[::-1]
        responses = []
        while todo or self.busy:
            await RisingEdge(self.clk)
            if self.can_offer and todo and rng.random() >= gap:
                self.offer(*todo.pop())
            else:
                self.idle()
            await ReadOnly()
            responses += self.sample(self.cycle)
            self.cycle += 1
        await RisingEdge(self.clk)
        self.idle()
        self.cycle += 1
        return responses

    async def read(self, addr):
        """``(rdata, err)`` of one read."""
        (r,) = await self.transact([(addr,)])
        return r["rdata"], r["err"]

    async def write(self, addr, wdata):
        """``err`` of one write."""
        (r,) = await self.transact([(addr, wdata)])
        return r["err"]
