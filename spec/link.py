"""The UART host link's frame format: the one specification of the board's bridge
(:mod:`zerohero.hw.uart_bridge`) and the host's transport (:mod:`zerohero.link`).

Frame format (bytes; words are 32-bit little-endian; bus addresses are word addresses of
:mod:`zerohero.spec.regmap`)::

    request   0x5A  CMD  SEQ  COUNT  ADDR[4]  DATA[4 * COUNT] (WRITE only)  CRC
    response  0xA5  STATUS  SEQ  COUNT  DATA[4 * COUNT]                     CRC

* ``CMD``: ``WRITE`` (1) writes ``COUNT`` words to ``ADDR, ADDR + 1, ...``; ``READ`` (2) reads
  ``COUNT`` words from there; ``STATUS`` (3, ``COUNT`` = 1, ``ADDR`` ignored) returns one word:
  bit 0 ``irq`` (done or error pending), bit 1 ``busy``. ``1 <= COUNT <= MAX_WORDS``.
* ``SEQ``: chosen by the host, echoed in the response (stale responses are recognised).
* ``CRC``: CRC-8 (polynomial 0x07, initial value 0, no reflection, no final XOR) over every
  byte after the sync byte, up to the CRC itself.
* ``STATUS`` of the response: ``OK`` (0); ``NAK_CRC`` (1): CRC mismatch or a byte without its
  stop bit; ``NAK_TIMEOUT`` (2): the line went idle for ``GAP_TIMEOUT_BYTES`` byte times inside
  a frame (truncated); ``NAK_FRAME`` (3): unknown ``CMD`` or ``COUNT`` out of range (the rest
  is discarded until the line is idle for the same time); ``BUS_ERROR`` (4): the frame was
  executed but a bus access was refused (the ``ERROR`` register says why). A NAKed frame is
  never applied: the board buffers a ``WRITE``'s words and writes them only after the CRC
  matched. A NAK's ``COUNT`` is 0; a READ's response carries ``COUNT`` words also on
  ``BUS_ERROR``; a WRITE's response has none.

The host retries a frame that was NAKed, or whose response was missing or corrupted, up to
``tries`` times, then raises :class:`BoardTimeout` ("board not responding on PORT after N
tries"). Delivery is at least once: a retried WRITE may be applied twice (writes are idempotent;
a CONTROL.START while the sequencer runs is ignored).
"""

__all__ = ["SYNC_REQUEST", "SYNC_RESPONSE", "CMD_WRITE", "CMD_READ", "CMD_STATUS", "MAX_WORDS",
           "OK", "NAK_CRC", "NAK_TIMEOUT", "NAK_FRAME", "BUS_ERROR", "STATUS_NAMES",
           "GAP_TIMEOUT_BYTES", "HEADER_BYTES", "CRC", "DEFAULT_BAUD"]

SYNC_REQUEST = 0x5A
SYNC_RESPONSE = 0xA5
CMD_WRITE, CMD_READ, CMD_STATUS = 1, 2, 3
#: Words per frame (the board buffers a frame's words before applying them).
MAX_WORDS = 16
OK, NAK_CRC, NAK_TIMEOUT, NAK_FRAME, BUS_ERROR = range(5)
STATUS_NAMES = {OK: "OK", NAK_CRC: "NAK_CRC", NAK_TIMEOUT: "NAK_TIMEOUT",
                NAK_FRAME: "NAK_FRAME", BUS_ERROR: "BUS_ERROR"}
#: Idle byte times inside a frame after which the board drops it as truncated.
GAP_TIMEOUT_BYTES = 64
#: Bytes of a request before its data: sync, cmd, seq, count, addr[4].
HEADER_BYTES = 8
#: CRC-8/SMBUS, as ``amaranth.lib.crc.Algorithm`` takes it (its catalog's ``CRC8_SMBUS``).
CRC = {"crc_width": 8, "polynomial": 0x07, "initial_crc": 0x00, "reflect_input": False,
       "reflect_output": False, "xor_output": 0x00}
#: The line rate of both boards' links: the fastest both boards' USB UARTs take (the
#: iCEBreaker's FT2232H and the ULX3S's FT231X make 3 Mbaud exactly), a whole number of clocks
#: a bit at the boards' clocks (9 at 27 MHz, 10 at 30, 25 at 75). ``zerohero build --baud``
#: builds a bitstream for another rate (115200, say); the host takes the rate of the build.
DEFAULT_BAUD = 3_000_000
