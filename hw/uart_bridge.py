"""UART host bridge: serial bytes in and out, framed commands on the host bus.

:class:`UARTReceiver` and :class:`UARTTransmitter` are 8N1 UARTs with ``clocks_per_bit``
clock cycles per bit. :class:`UartBridge` parses the frames of :mod:`zerohero.link` (format,
CRC-8 and status codes are documented there), buffers a frame's words, checks the CRC, and
only then performs the bus accesses on ``bus`` (:class:`~zerohero.hw.host.HostBusSignature`)
and sends the response. :class:`UartTop` is the board-agnostic top: bridge + accelerator with
only ``rx``, ``tx`` and ``leds`` ports (the board tops in :mod:`zerohero.fpga.boards` wire
them to pins; this one is simulated directly).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.crc import Algorithm
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from zerohero.spec import link

from .accelerator import Accelerator
from .host import HostBusSignature

__all__ = ["UARTReceiver", "UARTTransmitter", "UartBridge", "UartTop", "SimUartTop",
           "SIM_CLOCKS_PER_BIT"]

#: Clock cycles per bit of the simulated board top (fast simulation).
SIM_CLOCKS_PER_BIT = 8


def _check_cpb(clocks_per_bit):
    if not isinstance(clocks_per_bit, int) or clocks_per_bit < 4:
        raise ValueError(f"clocks_per_bit must be an integer of at least 4, not "
                         f"{clocks_per_bit!r}")


class _UART(wiring.Component):
    """A UART of ``clocks_per_bit`` clock cycles per bit (``self.cpb``); the subclass's
    annotations give the ports."""

    def __init__(self, clocks_per_bit):
        _check_cpb(clocks_per_bit)
        self.cpb = clocks_per_bit
        super().__init__()


class UARTReceiver(_UART):
    """8N1 receiver. ``rx`` is synchronized (2 flip-flops) and sampled mid-bit. For every byte
    ``valid`` pulses one cycle with ``data`` and ``error`` (the stop bit was low)."""

    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)
    error: Out(1)

    def elaborate(self, platform):
        m = Module()
        cpb = self.cpb
        rx = Signal()
        # Idle high from reset, as the line idles: no false start bit.
        m.submodules.rx_sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(cpb))
        bit = Signal(range(8))
        shift = Signal(8)
        m.d.sync += self.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(cpb // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):                    # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(cpb - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), timer.eq(cpb - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [self.data.eq(shift), self.valid.eq(1), self.error.eq(~rx)]
                    m.next = "IDLE"
        return m


class UARTTransmitter(_UART):
    """8N1 transmitter: takes ``data`` when ``valid`` and ``ready`` are high (``ready`` is high
    while idle), shifts it out on ``tx`` (start bit, 8 data bits LSB first, stop bit)."""

    data: In(8)
    valid: In(1)
    ready: Out(1)
    tx: Out(1, init=1)

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10, init=0x3FF)
        left = Signal(range(11))
        timer = Signal(range(self.cpb))
        m.d.comb += [self.ready.eq(left == 0), self.tx.eq(shift[0])]
        with m.If(left == 0):
            with m.If(self.valid):
                m.d.sync += [shift.eq(Cat(Const(0, 1), self.data, Const(1, 1))),
                             left.eq(10), timer.eq(self.cpb - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shift.eq(Cat(shift[1:], Const(1, 1))), left.eq(left - 1),
                         timer.eq(self.cpb - 1)]
        return m


class UartBridge(wiring.Component):
    """Frames of :mod:`zerohero.link` on ``rx``/``tx`` <-> accesses on ``bus``.

    ``irq`` and ``busy`` feed the STATUS command. ``nak`` is high from a NAKed frame until the
    next good one (an LED). One bus access at a time (request, wait for ``ack``); a frame's
    words sit in a ``MAX_WORDS`` x 32 buffer (received words before a WRITE, read words before
    the response). A frame is dropped as truncated after ``gap_cycles`` idle cycles inside it
    (default ``GAP_TIMEOUT_BYTES`` byte times).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    bus: Out(HostBusSignature())
    irq: In(1)
    busy: In(1)
    nak: Out(1)

    def __init__(self, clocks_per_bit, gap_cycles=None):
        _check_cpb(clocks_per_bit)
        self.cpb = clocks_per_bit
        self.gap_cycles = gap_cycles or link.GAP_TIMEOUT_BYTES * 10 * clocks_per_bit
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.urx = urx = UARTReceiver(self.cpb)
        m.submodules.utx = utx = UARTTransmitter(self.cpb)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        m.submodules.buf = buf = Memory(shape=32, depth=link.MAX_WORDS, init=[])
        bw, br = buf.write_port(), buf.read_port(transparent_for=())
        bus = self.bus
        nwords = link.MAX_WORDS

        cmd = Signal(8)
        seq = Signal(8)
        count = Signal(8)
        addr = Signal(32)
        req_addr = Signal(32)
        req_wdata = Signal(32)
        req_we, req_valid = Signal(), Signal()
        # The bus is driven from flip-flops only (the host port's decoders and the register
        # bank's error capture follow it combinationally), the write data too: not the
        # buffer's read data, which Yosys may build as a LUT RAM read after an address register.
        m.d.comb += [bus.valid.eq(req_valid), bus.addr.eq(req_addr), bus.we.eq(req_we),
                     bus.wdata.eq(req_wdata)]
        word = Signal(32)
        nbyte = Signal(range(8))            # header byte / byte within a data word
        nword = Signal(range(nwords + 1))   # words received / executed / sent
        bad = Signal()                      # a byte of this frame had no stop bit
        gap = Signal(range(self.gap_cycles + 1))
        status = Signal(8)
        out_count = Signal(8)
        err = Signal()
        # One CRC serves both directions (a frame is received, then answered): ``start`` clears
        # it before each, and a byte added in one cycle is in ``crc.crc`` from the next.
        m.submodules.crc = crc = Algorithm(**link.CRC)(data_width=8).create()

        def add_to_crc(byte):
            m.d.comb += [crc.data.eq(byte), crc.valid.eq(1)]

        def reject(nak_status):             # answer with a NAK (no words), apply nothing
            m.d.sync += [status.eq(nak_status), out_count.eq(0)]
            m.next = "RESPOND"

        # Gap timer: restarted by every received byte.
        with m.If(urx.valid):
            m.d.sync += gap.eq(0)
        with m.Elif(gap != self.gap_cycles):
            m.d.sync += gap.eq(gap + 1)
        timed_out = gap == self.gap_cycles

        m.d.comb += [br.addr.eq(nword), br.en.eq(1)]
        valid_cmd = (urx.data != 0) & (urx.data <= link.CMD_STATUS)    # header byte 0 check

        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += crc.start.eq(1)
                m.d.sync += [nbyte.eq(0), nword.eq(0), bad.eq(0)]
                with m.If(urx.valid & (urx.data == link.SYNC_REQUEST) & ~urx.error):
                    m.next = "HEADER"
            with m.State("HEADER"):                 # cmd, seq, count, addr[0..3]
                with m.If(urx.valid):
                    add_to_crc(urx.data)
                    m.d.sync += [nbyte.eq(nbyte + 1), bad.eq(bad | urx.error)]
                    with m.Switch(nbyte):
                        with m.Case(0):
                            m.d.sync += cmd.eq(urx.data)
                            with m.If(~valid_cmd):
                                m.next = "DISCARD"
                        with m.Case(1):
                            m.d.sync += seq.eq(urx.data)
                        with m.Case(2):
                            m.d.sync += count.eq(urx.data)
                            with m.If((urx.data == 0) | (urx.data > nwords) |
                                      ((cmd == link.CMD_STATUS) & (urx.data != 1))):
                                m.next = "DISCARD"
                        with m.Default():
                            m.d.sync += addr.eq(Cat(addr[8:], urx.data))
                            with m.If(nbyte == 6):
                                m.d.sync += nbyte.eq(0)
                                with m.If(cmd == link.CMD_WRITE):
                                    m.next = "DATA"
                                with m.Else():
                                    m.next = "CRC"
                with m.Elif(timed_out):
                    reject(link.NAK_TIMEOUT)
            with m.State("DATA"):
                m.d.comb += [bw.addr.eq(nword), bw.data.eq(Cat(word[8:], urx.data))]
                with m.If(urx.valid):
                    add_to_crc(urx.data)
                    m.d.sync += [nbyte.eq(nbyte + 1), bad.eq(bad | urx.error),
                                 word.eq(Cat(word[8:], urx.data))]
                    with m.If(nbyte == 3):
                        m.d.comb += bw.en.eq(1)
                        m.d.sync += [nbyte.eq(0), nword.eq(nword + 1)]
                        with m.If(nword + 1 == count):
                            m.next = "CRC"
                with m.Elif(timed_out):
                    reject(link.NAK_TIMEOUT)
            with m.State("CRC"):                   # the byte must be the CRC of those before
                with m.If(urx.valid):
                    m.d.sync += [nword.eq(0), err.eq(0)]
                    with m.If((urx.data != crc.crc) | bad | urx.error):
                        reject(link.NAK_CRC)
                    with m.Elif(cmd == link.CMD_STATUS):
                        m.next = "STATUS"
                    with m.Else():
                        m.next = "LOAD"
                with m.Elif(timed_out):
                    reject(link.NAK_TIMEOUT)
            with m.State("DISCARD"):                # until the line is idle
                with m.If(timed_out):
                    reject(link.NAK_FRAME)
            with m.State("STATUS"):
                m.d.comb += [bw.addr.eq(0), bw.data.eq(Cat(self.irq, self.busy)), bw.en.eq(1)]
                m.d.sync += [status.eq(link.OK), out_count.eq(1)]
                m.next = "RESPOND"
            # Execute: LOAD (buffer word nword -> br.data), WDATA (br.data -> the request's
            # data register), REQUEST (until ready), ACK. The request's address and direction
            # are registered in LOAD, its data and valid in WDATA.
            with m.State("LOAD"):
                m.d.sync += [req_addr.eq(addr + nword), req_we.eq(cmd == link.CMD_WRITE)]
                m.next = "WDATA"
            with m.State("WDATA"):
                m.d.sync += [req_wdata.eq(br.data), req_valid.eq(1)]
                m.next = "REQUEST"
            with m.State("REQUEST"):
                with m.If(bus.ready):
                    m.d.sync += req_valid.eq(0)
                    m.next = "ACK"
            with m.State("ACK"):
                with m.If(bus.ack):
                    m.d.comb += [bw.addr.eq(nword), bw.data.eq(bus.rdata),
                                 bw.en.eq(cmd == link.CMD_READ)]
                    m.d.sync += [err.eq(err | bus.err), nword.eq(nword + 1)]
                    with m.If(nword + 1 == count):
                        m.d.sync += [out_count.eq(Mux(cmd == link.CMD_READ, count, 0))]
                        m.next = "DONE"
                    with m.Else():
                        m.next = "LOAD"
            with m.State("DONE"):
                m.d.sync += status.eq(Mux(err, link.BUS_ERROR, link.OK))
                m.next = "RESPOND"
            # Response: sync, status, seq, count, out_count words, crc.
            with m.State("RESPOND"):
                m.d.comb += crc.start.eq(1)
                m.d.sync += [nword.eq(0), nbyte.eq(0), self.nak.eq(status >= 1)]
                with m.If(status == link.BUS_ERROR):
                    m.d.sync += self.nak.eq(0)
                m.next = "R_SYNC"
            send = [
                ("R_SYNC", link.SYNC_RESPONSE, False, "R_STATUS"),
                ("R_STATUS", status, True, "R_SEQ"),
                ("R_SEQ", seq, True, "R_COUNT"),
            ]
            for state, value, in_crc, nxt in send:
                with m.State(state):
                    m.d.comb += [utx.data.eq(value), utx.valid.eq(1)]
                    with m.If(utx.ready):
                        if in_crc:
                            add_to_crc(utx.data)
                        m.next = nxt
            with m.State("R_COUNT"):
                m.d.comb += [utx.data.eq(out_count), utx.valid.eq(1)]
                with m.If(utx.ready):
                    add_to_crc(utx.data)
                    with m.If(out_count != 0):
                        m.next = "R_DATA"
                    with m.Else():
                        m.next = "R_CRC"
            with m.State("R_DATA"):                 # br.data is buffer[nword] (held > 1 cycle)
                m.d.comb += [utx.data.eq(br.data.word_select(nbyte[:2], 8)), utx.valid.eq(1)]
                with m.If(utx.ready):
                    add_to_crc(utx.data)
                    m.d.sync += nbyte.eq(nbyte + 1)
                    with m.If(nbyte == 3):
                        m.d.sync += [nbyte.eq(0), nword.eq(nword + 1)]
                        with m.If(nword + 1 == out_count):
                            m.next = "R_CRC"
                        with m.Else():
                            m.next = "R_WAIT"
            with m.State("R_WAIT"):                 # one cycle for the buffer's read port
                m.next = "R_DATA"
            with m.State("R_CRC"):
                m.d.comb += [utx.data.eq(crc.crc), utx.valid.eq(1)]
                with m.If(utx.ready):
                    m.next = "SYNC"
        return m


class UartTop(wiring.Component):
    """Board-agnostic top: :class:`UartBridge` driving an :class:`Accelerator`.

    Ports: ``rx`` (serial in), ``tx`` (serial out), ``leds``: bit 0 busy, bit 1 irq, bit 2 the
    last frame was NAKed."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    leds: Out(3)

    def __init__(self, cfg, clocks_per_bit, gap_cycles=None):
        self.cfg = cfg
        self.bridge = UartBridge(clocks_per_bit, gap_cycles)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self.bridge
        m.submodules.accel = accel = Accelerator(self.cfg)
        wiring.connect(m, bridge.bus, accel.bus)
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx),
                     bridge.irq.eq(accel.irq), bridge.busy.eq(accel.busy),
                     self.leds.eq(Cat(accel.busy, accel.irq, bridge.nak))]
        return m


class SimUartTop(UartTop):
    """:class:`UartTop` at :data:`SIM_CLOCKS_PER_BIT` (what the simulation tests build)."""

    def __init__(self, cfg):
        super().__init__(cfg, SIM_CLOCKS_PER_BIT)
