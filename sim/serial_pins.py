"""A serial port made of the simulated board top's pins, for the host code of
:mod:`zerohero.link` (which runs unchanged in a :func:`cocotb.bridge` thread).

:class:`UartPins` drives ``rx`` and samples ``tx`` at the bit level (8N1, ``clocks_per_bit``
clock periods per bit): one await per bit, none per clock. :class:`SimSerial` wraps it in the
blocking pyserial subset the link uses (``write``, ``read``, ``reset_input_buffer``,
``timeout``); seconds are simulated seconds. Its ``faults`` hook corrupts or truncates what the
host writes, and ``connected = False`` models a missing board.
"""

from __future__ import annotations

from cocotb.task import bridge, resume  # noqa: F401  (bridge: for the testbench)
from cocotb.triggers import Event, FallingEdge, First, Timer
from cocotb.utils import get_sim_time

__all__ = ["UartPins", "SimSerial", "bridge"]


class UartPins:
    def __init__(self, dut, clocks_per_bit: int, period_ns: float):
        import cocotb

        self.dut = dut
        self.bit_ns = clocks_per_bit * period_ns
        self.received = bytearray()
        self.framing_errors = 0
        self._arrived = Event()
        dut.rx.value = 1
        cocotb.start_soon(self._monitor())

    async def send(self, data: bytes):
        for byte in data:
            for level in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                self.dut.rx.value = level
                await Timer(self.bit_ns, unit="ns")

    async def _monitor(self):
        while True:
            await FallingEdge(self.dut.tx)
            await Timer(self.bit_ns * 1.5, unit="ns")      # middle of data bit 0
            byte = 0
            for i in range(8):
                byte |= int(self.dut.tx.value) << i
                await Timer(self.bit_ns, unit="ns")
            if not int(self.dut.tx.value):
                self.framing_errors += 1
            self.received.append(byte)
            self._arrived.set()
            await Timer(self.bit_ns * 0.25, unit="ns")     # stay clear of the stop bit's end

    async def recv(self, n: int, timeout_ns: float) -> bytes:
        deadline = get_sim_time(unit="ns") + timeout_ns
        while len(self.received) < n:
            left = deadline - get_sim_time(unit="ns")
            if left <= 0:
                break
            self._arrived.clear()
            await First(self._arrived.wait(), Timer(left, unit="ns", round_mode="ceil"))
        data = bytes(self.received[:n])
        del self.received[:n]
        return data


class SimSerial:
    """The pyserial subset :class:`zerohero.link.BoardLink` uses, over :class:`UartPins`.

    ``faults``: optional callable ``(try_number, frame) -> frame`` applied to every write
    (``try_number`` counts writes from 0): flip bits, cut frames short. ``connected``: when
    false nothing reaches the board (a missing board)."""

    name = "sim"

    def __init__(self, pins: UartPins, timeout: float, faults=None):
        self.pins = pins
        self.timeout = timeout
        self.faults = faults
        self.connected = True
        self.writes = 0
        self._send = resume(pins.send)
        self._recv = resume(pins.recv)
        self._sleep = resume(self._wait)

    @staticmethod
    async def _wait(seconds):
        await Timer(seconds * 1e9, unit="ns", round_mode="ceil")

    def write(self, data: bytes):
        if self.faults:
            data = self.faults(self.writes, bytes(data))
        self.writes += 1
        if self.connected:
            self._send(data)
        else:
            self._sleep(len(data) * 10 * self.pins.bit_ns * 1e-9)
        return len(data)

    def read(self, n: int) -> bytes:
        return self._recv(n, self.timeout * 1e9)

    def reset_input_buffer(self):
        self.pins.received.clear()

    def sleep(self, seconds: float):
        self._sleep(seconds)
