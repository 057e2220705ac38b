"""The ``board`` backend of :class:`zerohero.runtime.Runtime`: :class:`Program` s over the
UART link (:mod:`zerohero.link`) of a board top built by :mod:`zerohero.fpga.boards`.

Per program: the operand and firmware writes (consecutive addresses share frames), the START
write, polling STATUS until ``irq``, and the reads. The runtime's programs end by reading the
hardware's ``CYCLES`` register, which gives the run's cycles (``cycles`` here is ``None``: the
link cannot count them); ``wall_s`` is the wall time from START to ``irq``.
"""

from __future__ import annotations

import re
import time

from zerohero.link import BoardLink, runs
from zerohero.spec.link import DEFAULT_BAUD

__all__ = ["BoardRunner", "open_serial", "BoardError"]


class BoardError(OSError):
    """The serial port cannot be used (one line, names the port)."""


def open_serial(port: str, baud: int = DEFAULT_BAUD, timeout: float = 0.5):
    """A pyserial port, or :class:`BoardError` naming ``port`` (missing, busy, no access)."""
    import serial

    try:
        return serial.Serial(port, baud, timeout=timeout)
    except (serial.SerialException, OSError) as e:
        found = re.findall(r"\[Errno \d+\] ([^:]+)", str(e))
        reason = found[-1] if found else str(e)
        raise BoardError(f"cannot open serial port {port}: {reason}") from None


class BoardRunner:
    """Executes programs on a board. ``port``: a device path (opened with pyserial at ``baud``)
    or an already open port object (the simulation's); ``clock_hz`` converts a program's cycle
    timeout into the polling deadline (with a 4x margin and at least ``min_wait`` seconds)."""

    def __init__(self, port, baud: int = DEFAULT_BAUD, clock_hz: float = 12e6,
                 link_options=None, min_wait: float = 1.0, clock=time.monotonic):
        name = port if isinstance(port, str) else getattr(port, "name", "port")
        if isinstance(port, str):
            port = open_serial(port, baud)
        self.link = BoardLink(port, name=name, **(link_options or {}))
        self.clock_hz = clock_hz
        self.min_wait = min_wait
        self.clock = clock

    def execute(self, programs) -> list[dict]:
        results = []
        for p in programs:
            errors = []
            for addr, words in runs(p.writes):
                errors += [[a, 1] for a in self.link.write(addr, words)]
            errors += [[a, 1] for a in self.link.write(p.start[0], [p.start[1]])]
            t0 = self.clock()
            deadline = t0 + max(self.min_wait, 4 * p.timeout / self.clock_hz)
            fired = False
            while True:
                if self.link.status()["irq"]:
                    fired = True
                    break
                if self.clock() > deadline:
                    break
            wall = self.clock() - t0
            reads = []
            for addr, count in [(a, len(ws)) for a, ws in runs((a, 0) for a in p.reads)]:
                words, refused = self.link.read(addr, count)
                reads += words
                errors += [[a, 0] for a in refused]
            results.append({"cycles": None, "irq": fired, "wall_s": wall, "reads": reads,
                            "errors": errors})
        return results
