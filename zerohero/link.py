"""The host's side of the UART link: frames (:mod:`zerohero.spec.link`) with retries.

One implementation serves the real board (a pyserial port) and the simulated board top (a
cocotb bit-level port with the same ``write`` / ``read`` / ``reset_input_buffer`` methods).

The host retries a frame that was NAKed, or whose response was missing or corrupted, up to
``tries`` times, then raises :class:`BoardTimeout` ("board not responding on PORT after N
tries"). Delivery is at least once: a retried WRITE may be applied twice (writes are idempotent;
a CONTROL.START while the sequencer runs is ignored).
"""

from __future__ import annotations

import random
import time

from amaranth.lib.crc import Algorithm

from zerohero.spec.link import (BUS_ERROR, CMD_READ, CMD_STATUS, CMD_WRITE, CRC, MAX_WORDS,
                                NAK_CRC, NAK_FRAME, NAK_TIMEOUT, OK, STATUS_NAMES, SYNC_REQUEST,
                                SYNC_RESPONSE)

__all__ = ["crc8", "encode_request", "decode_response", "BoardLink", "BoardTimeout",
           "LinkError", "runs"]

_CRC = Algorithm(**CRC)(data_width=8)


def crc8(data: bytes) -> int:
    """The frame CRC (:data:`zerohero.spec.link.CRC`) of ``data``."""
    return _CRC.compute(data)


def encode_request(cmd: int, seq: int, addr: int, words=(), count: int | None = None) -> bytes:
    """One request frame. ``words`` for WRITE; ``count`` for READ (STATUS: 1)."""
    words = list(words)
    if cmd == CMD_WRITE:
        count = len(words)
    elif count is None:
        count = 1
    if cmd not in (CMD_WRITE, CMD_READ, CMD_STATUS):
        raise ValueError(f"unknown link command {cmd!r}")
    if not 1 <= count <= MAX_WORDS:
        raise ValueError(f"a frame carries 1 to {MAX_WORDS} words, not {count}")
    body = bytes([cmd, seq & 0xFF, count]) + (addr & 0xFFFFFFFF).to_bytes(4, "little")
    for w in words:
        body += (w & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes([SYNC_REQUEST]) + body + bytes([crc8(body)])


class LinkError(Exception):
    """A response that is malformed or a NAK (retried by :class:`BoardLink`)."""


class BoardTimeout(RuntimeError):
    """The board did not answer a frame correctly after every try."""


def decode_response(frame: bytes):
    """``(status, seq, words)`` of a complete response frame; :class:`LinkError` if malformed."""
    if len(frame) < 5 or frame[0] != SYNC_RESPONSE:
        raise LinkError(f"malformed response {frame.hex()}")
    count = frame[3]
    if len(frame) != 5 + 4 * count:
        raise LinkError(f"response length {len(frame)} does not match its count {count}")
    if crc8(frame[1:]) != 0:
        raise LinkError(f"response CRC mismatch in {frame.hex()}")
    words = [int.from_bytes(frame[4 + 4 * i:8 + 4 * i], "little") for i in range(count)]
    return frame[1], frame[2], words


class BoardLink:
    """Frames over a serial port with retries.

    ``port``: anything with ``write(bytes)``, ``read(n) -> bytes`` (returns early, shorter, when
    its ``timeout`` expires), ``reset_input_buffer()`` and a ``timeout`` attribute (seconds),
    i.e. a ``serial.Serial`` or the simulation's port. ``quiet``: seconds to wait after a failed
    try before retrying (longer than the board's gap timeout, so it has dropped the frame).
    ``stats`` counts frames, retries and NAKs by status.
    """

    def __init__(self, port, name: str = "port", tries: int = 4, quiet: float = 0.05,
                 sleep=time.sleep, seed=None):
        self.port = port
        self.name = name
        self.tries = tries
        self.quiet = quiet
        self.sleep = sleep
        self.seq = random.Random(seed).randrange(256)
        self.stats = {"frames": 0, "retries": 0, "naks": {}, "bad_responses": 0,
                      "no_response": 0}

    # One frame --------------------------------------------------------------------------

    def transact(self, cmd: int, addr: int = 0, words=(), count: int | None = None):
        """``(status, words)`` of one request, retried until a well-formed answer that is not
        a NAK; ``status`` is OK or BUS_ERROR."""
        self.seq = (self.seq + 1) & 0xFF
        frame = encode_request(cmd, self.seq, addr, words, count)
        self.stats["frames"] += 1
        last = "no response"
        for attempt in range(self.tries):
            if attempt:
                self.stats["retries"] += 1
                self.sleep(self.quiet)
                self.port.reset_input_buffer()
            self.port.write(frame)
            try:
                status, words_back = self._response()
            except LinkError as e:
                last = str(e)
                continue
            if status in (OK, BUS_ERROR):
                return status, words_back
            self.stats["naks"][STATUS_NAMES.get(status, status)] = \
                self.stats["naks"].get(STATUS_NAMES.get(status, status), 0) + 1
            last = f"board answered {STATUS_NAMES.get(status, status)}"
        raise BoardTimeout(f"board not responding on {self.name} after {self.tries} tries "
                           f"({last})")

    def _response(self):
        """Read one response for the current ``seq`` (older ones are skipped)."""
        while True:
            head = b""
            while head[:1] != bytes([SYNC_RESPONSE]):     # hunt for the sync byte
                b = self.port.read(1)
                if not b:
                    self.stats["no_response"] += 1
                    raise LinkError("no response")
                head = b
            head += self._read_exact(3)
            frame = head + self._read_exact(4 * head[3] + 1)
            try:
                status, seq, words = decode_response(frame)
            except LinkError:
                self.stats["bad_responses"] += 1
                raise
            if seq == self.seq or status in (NAK_CRC, NAK_TIMEOUT, NAK_FRAME):
                return status, words
            # A late answer to an earlier try of another frame: skip it.

    def _read_exact(self, n: int) -> bytes:
        data = self.port.read(n)
        if len(data) != n:
            self.stats["bad_responses"] += 1
            raise LinkError(f"truncated response ({len(data)} of {n} bytes)")
        return data

    # Words ------------------------------------------------------------------------------

    def write(self, addr: int, words) -> list[int]:
        """Write consecutive words; returns the addresses of frames the bus refused."""
        words, refused = list(words), []
        for i in range(0, len(words), MAX_WORDS):
            status, _ = self.transact(CMD_WRITE, addr + i, words[i:i + MAX_WORDS])
            if status == BUS_ERROR:
                refused.append(addr + i)
        return refused

    def read(self, addr: int, count: int) -> tuple[list[int], list[int]]:
        """``(words, refused frame addresses)`` of ``count`` consecutive words."""
        out, refused = [], []
        for i in range(0, count, MAX_WORDS):
            n = min(MAX_WORDS, count - i)
            status, words = self.transact(CMD_READ, addr + i, count=n)
            if status == BUS_ERROR:
                refused.append(addr + i)
            out += words
        return out, refused

    def status(self) -> dict:
        _, (word,) = self.transact(CMD_STATUS)
        return {"irq": bool(word & 1), "busy": bool(word & 2)}


def program_bytes(writes, reads, polls: int = 1) -> int:
    """Bytes a program's traffic puts on the UART, both ways, with no retries: ``writes``
    ``(addr, data)`` (START included), ``polls`` STATUS polls, ``reads`` addresses; frames of
    at most ``MAX_WORDS`` consecutive words, as :class:`BoardLink` sends them. A response is
    sync, status, seq, count, its words and the CRC."""
    def chunks(pairs):
        return [(a + i, ws[i:i + MAX_WORDS]) for a, ws in runs(pairs)
                for i in range(0, len(ws), MAX_WORDS)]

    total = sum(len(encode_request(CMD_WRITE, 0, a, ws)) + 5 for a, ws in chunks(writes))
    total += sum(len(encode_request(CMD_READ, 0, a, count=len(ws))) + 5 + 4 * len(ws)
                 for a, ws in chunks((a, 0) for a in reads))
    return total + polls * (len(encode_request(CMD_STATUS, 0, 0)) + 5 + 4)


def runs(pairs):
    """Group ``[(addr, data), ...]`` into ``[(start, [data...]), ...]`` of consecutive
    addresses, in order."""
    out = []
    for addr, data in pairs:
        if out and out[-1][0] + len(out[-1][1]) == addr:
            out[-1][1].append(data)
        else:
            out.append((addr, [data]))
    return out
