"""The one generator configuration: every hardware parameter lives in :class:`AccelConfig`.

This module imports neither Amaranth nor NumPy, so the golden model, the host runtime and the
firmware tools can all derive from the same object.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zerohero.spec.isa import ALL_LANES

__all__ = ["AccelConfig", "PRESETS", "preset", "OVERFLOW_MODES", "SignedRanges", "COUNTER_NAMES",
           "WATCHDOG_WIDTH"]

OVERFLOW_MODES = ("wrap", "saturate")
#: Per-lane performance counters (hardware ports, register map and runtime all use these).
COUNTER_NAMES = ("busy", "macs", "zeros", "stalls")
WINDOWS = (1, 2, 4, 8)
#: Bits of the sequencer's watchdog count (``watchdog_cycles`` is below ``1 << WATCHDOG_WIDTH``).
WATCHDOG_WIDTH = 32


def _signed_bound(width_field, top):
    """A property: the lowest (``top`` false) or highest two's complement integer of the width
    in the field named ``width_field``."""
    def bound(self):
        half = 1 << (getattr(self, width_field) - 1)
        return half - 1 if top else -half
    return property(bound)


class SignedRanges:
    """Value and accumulator ranges of anything with ``value_width`` and ``acc_width``."""

    value_min = _signed_bound("value_width", top=False)
    value_max = _signed_bound("value_width", top=True)
    acc_min = _signed_bound("acc_width", top=False)
    acc_max = _signed_bound("acc_width", top=True)


@dataclass(frozen=True)
class AccelConfig(SignedRanges):
    """Generator parameters of one accelerator instance.

    Values are signed two's complement integers of ``value_width`` bits; coordinates are
    unsigned integers of ``coord_width`` bits. A product of two values is exact
    (``2 * value_width`` bits); products are summed per fiber into an accumulator of
    ``acc_width`` bits that either wraps (two's complement) or saturates at every addition,
    in coordinate order.
    """

    name: str = "custom"
    #: Processing elements (one MAC each) and the independent streams that feed them.
    lanes: int = 8
    #: Signed value width, bits.
    value_width: int = 16
    #: Unsigned coordinate width, bits (largest coordinate is ``2**coord_width - 1``).
    coord_width: int = 16
    #: Signed accumulator width, bits; at least ``2 * value_width`` so products are exact.
    acc_width: int = 32
    #: What the accumulator does on overflow: ``"wrap"`` or ``"saturate"``.
    overflow: str = "wrap"
    #: Intersector comparison window: coordinates per input consumed per cycle (K).
    window: int = 4
    #: Highest stop-token level a stream may carry (0 = end of a row fiber, 1 = end of matrix).
    max_level: int = 1
    #: Scratchpad banks: at least two per lane, lane ``i`` streaming from operand bank ``i``
    #: and gathering from (and writing to) vector bank ``lanes + i`` (hw/memory.py).
    spm_banks: int = 16
    #: Words per scratchpad bank (a lane's addresses are 16-bit firmware fields).
    spm_depth: int = 1024
    #: Width of the per-lane performance counters, bits.
    counter_width: int = 32
    #: Words of sequencer instruction memory.
    fw_depth: int = 256
    #: Cycles a sequencer ``wait`` may see no lane progress before it stops with WATCHDOG.
    watchdog_cycles: int = 1 << 16
    #: Build the sparse-output path of every lane (unioner, compressed writer, elementwise MAC
    #: modes: spgemm, ewmul, ewadd); it costs about a quarter more LUTs a lane.
    sparse_out: bool = True
    #: The broadcast path and its result stage (``OUT_MODE`` bits 2 and 3, hw/result.py,
    #: hw/accelerator.py): results written into every lane's vector bank, where the next job
    #: gathers them, requantized per row on the way: layers and iterations chained without
    #: the host. Dense outputs only; one ``acc_width`` x 16-bit multiplier for all lanes.
    result_stage: bool = True
    #: Double buffering: ``CONTROL.HALF`` puts the lanes in one half of every bank while the
    #: host writes the next tile into the other half during the run (see hw/accelerator.py);
    #: each half is a bank of ``spm_depth / 2`` words to the tile planner.
    double_buffer: bool = True
    #: Clock gating: the lanes (with their banks' read data registers) and each lane's join
    #: units run on clocks that stop while nothing can change them (hw/gating.py). The same
    #: machine cycle for cycle either way; gated, Verilator skips what is stopped, so it
    #: simulates faster. Off in the FPGA presets (a gated clock would be a clock made in logic
    #: there).
    clock_gating: bool = True
    #: Host bus read latency, cycles from the edge that accepts a request to the one that
    #: presents its response (hw/host.py). 1: the read data of every bank is muxed into the
    #: response in one cycle. ``n`` > 1: it goes through ``n - 1`` registered levels of that
    #: mux first (``n - 2`` with ``host_stage``), so no cycle gathers every bank (the large
    #: FPGA preset).
    host_latency: int = 1
    #: The host's scratchpad requests are registered near the banks before they reach them
    #: (each bank's enables, and the address and write data per group of
    #: :data:`zerohero.hw.host.STAGE_GROUP` banks; the first of ``host_latency``'s cycles, so
    #: it needs 2 or more), and the banks change hands between the host and the lanes a cycle
    #: after the sequencer starts or stops: no cycle carries the host's decode across the chip
    #: to a bank. Not with ``double_buffer`` (whose writes wait for the bank's port in the cycle
    #: they are accepted).
    host_stage: bool = False
    #: Cycles between the lanes' status (busy, error, progress) and the sequencer. 0: a
    #: ``wait`` sees a lane go idle in the same cycle. 1: the status is registered first (the
    #: OR of every lane's error and progress before the register), so no cycle gathers every
    #: lane into the sequencer's decisions; a ``wait`` completes, and a lane error stops the
    #: sequencer, one cycle later (:func:`zerohero.firmware.isa.execute` models both).
    status_latency: int = 0
    #: The sequencer's fetch takes every ``djnz`` as taken: the address after the next word is
    #: chosen by the next word's own jump flag alone (not by the register it counts), and a
    #: ``djnz`` that falls through is followed by one cycle that executes nothing (the fetch
    #: of its successor). Off: every instruction takes one cycle, a ``djnz`` either way.
    predict_jumps: bool = False
    #: Cycles the sequencer's commands (``cfg``, ``run``, ``clrc``) spend in a register stage
    #: per lane before the lane's own command registers. 0: none. 1: the stage cuts the
    #: broadcast from the sequencer to every lane in two, so no cycle carries a command from the
    #: middle of the chip to its edge; every lane starts a job a cycle later, so a ``wait``
    #: completes a cycle later (:func:`zerohero.firmware.isa.execute` models it). 2: a stage
    #: per group of lanes before that one, so the broadcast reaches a few group registers
    #: (hw/accelerator.py); jobs start two cycles later.
    command_latency: int = 0

    def __post_init__(self):
        def need(cond, field, expected):
            if not cond:
                value = getattr(self, field)
                raise ValueError(
                    f"AccelConfig.{field} must be {expected}, not {value!r}")

        for field in ("lanes", "value_width", "coord_width", "acc_width", "spm_banks",
                      "spm_depth", "counter_width", "window", "max_level", "fw_depth",
                      "watchdog_cycles", "host_latency", "status_latency",
                      "command_latency"):
            value = getattr(self, field)
            need(isinstance(value, int) and not isinstance(value, bool), field, "an integer")
        need(isinstance(self.name, str) and self.name != "", "name", "a non-empty string")
        need(isinstance(self.sparse_out, bool), "sparse_out", "True or False")
        need(isinstance(self.double_buffer, bool), "double_buffer", "True or False")
        need(isinstance(self.result_stage, bool), "result_stage", "True or False")
        need(isinstance(self.clock_gating, bool), "clock_gating", "True or False")
        need(isinstance(self.predict_jumps, bool), "predict_jumps", "True or False")
        need(isinstance(self.host_stage, bool), "host_stage", "True or False")
        # Lane number ALL_LANES addresses every lane in the firmware's 8-bit lane field.
        need(1 <= self.lanes < ALL_LANES, "lanes", f"between 1 and {ALL_LANES - 1}")
        need(2 <= self.value_width <= 32, "value_width", "between 2 and 32")
        need(1 <= self.coord_width <= 32, "coord_width", "between 1 and 32")
        need(2 * self.value_width <= self.acc_width <= 64, "acc_width",
             f"between 2 * value_width = {2 * self.value_width} and 64")
        need(self.overflow in OVERFLOW_MODES, "overflow", f"one of {OVERFLOW_MODES}")
        need(self.window in WINDOWS, "window", f"one of {WINDOWS}")
        need(0 <= self.max_level <= 3, "max_level", "between 0 and 3")
        # An operand bank and a vector bank per lane (hw/accelerator.py, hw/memory.py).
        need(self.spm_banks >= 2 * self.lanes, "spm_banks",
             f"at least 2 * lanes = {2 * self.lanes}")
        # CONFIG2.SPM_BANKS is 16 bits.
        need(self.spm_banks <= 0xFFFF, "spm_banks", "at most 65535")
        # A lane's bank addresses and counts are 16-bit firmware fields.
        need(16 <= self.spm_depth <= 65536 and self.spm_depth & (self.spm_depth - 1) == 0,
             "spm_depth", "a power of two between 16 and 65536")
        if self.double_buffer:
            # Each half is planned as a bank of its own, which needs the 16 words above.
            need(self.spm_depth >= 32, "spm_depth", "at least 32 with double_buffer")
        need(8 <= self.counter_width <= 64, "counter_width", "between 8 and 64")
        need(16 <= self.watchdog_cycles < 1 << WATCHDOG_WIDTH, "watchdog_cycles",
             f"between 16 and 2**{WATCHDOG_WIDTH} - 1")
        need(1 <= self.host_latency <= 4, "host_latency", "between 1 and 4")
        if self.host_stage:
            need(self.host_latency >= 2, "host_latency", "at least 2 with host_stage")
            need(not self.double_buffer, "double_buffer", "False with host_stage")
        need(self.status_latency in (0, 1), "status_latency", "0 or 1")
        need(self.command_latency in (0, 1, 2), "command_latency", "0, 1 or 2")
        need(16 <= self.fw_depth <= 65536 and self.fw_depth & (self.fw_depth - 1) == 0,
             "fw_depth", "a power of two between 16 and 65536")
        # The scratchpad, broadcast and firmware regions (spec/regmap.py: at 1, 2 and 3 times a
        # power of two at least the scratchpad's size) fit the 32-bit bus address space.
        most = (1 << 30) // (self.spm_depth * self.spm_word_stride)
        need(self.spm_banks <= most, "spm_banks",
             f"at most {most} with spm_depth = {self.spm_depth} and {self.spm_word_stride} bus "
             f"words a scratchpad word (the bus address space)")

    # Derived quantities -------------------------------------------------------------------

    @property
    def level_width(self) -> int:
        """Bits of the stop-token level field."""
        return max(1, self.max_level.bit_length())

    @property
    def word_width(self) -> int:
        """Scratchpad word: one packed entry (coordinate, value at accumulator width, so operand
        and result entries share one format), one pointer, or 32 bitmap bits."""
        return max(self.coord_width + self.acc_width, self.spm_addr_width + 1, 32)

    @property
    def spm_addr_width(self) -> int:
        """Bits of a word address within one bank."""
        return (self.spm_depth - 1).bit_length()

    @property
    def spm_word_parts(self) -> int:
        """32-bit bus words holding one scratchpad word (low part first)."""
        return -(-self.word_width // 32)

    @property
    def spm_word_stride(self) -> int:
        """Bus address step between scratchpad words: :attr:`spm_word_parts` rounded up to a
        power of two."""
        return 1 << (self.spm_word_parts - 1).bit_length()

    @property
    def coord_max(self) -> int:
        return (1 << self.coord_width) - 1

    def replace(self, **changes) -> "AccelConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AccelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown AccelConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


PRESETS = {
    # Simulation default: 8 lanes, window 4, a comfortable scratchpad.
    # Banks: one streamed-operand bank and one vector bank per lane (see hw/memory.py).
    "sim-small": AccelConfig(name="sim-small", lanes=8, window=4, spm_banks=16,
                             spm_depth=32768),
    # Both FPGA presets leave out the sparse-output path (sparse_out: about a quarter more
    # LUTs a lane) and double buffering (their banks are too small to halve usefully), and
    # the result stage: the UP5K is short of logic cells for it, and the ULX3S with it does
    # not route at the board's clock (docs/fpga.md).
    # iCE40UP5K (iCEBreaker): a lane is ~1600 LUT4 + ~1300 FF, so one lane fits the 5280 logic
    # cells. int8 values, 20-bit accumulators and 12-bit coordinates make a 32-bit word (2 EBR
    # per 256 words per copy). predict_jumps: the sequencer's fetch address is otherwise the
    # critical path, and it takes fewer LUTs.
    "icebreaker": AccelConfig(name="icebreaker", lanes=1, window=1, spm_banks=2,
                              spm_depth=512, value_width=8, acc_width=20, coord_width=12,
                              counter_width=16, fw_depth=64, sparse_out=False,
                              result_stage=False, double_buffer=False, clock_gating=False,
                              predict_jumps=True),
    # ECP5-85F (ULX3S): 32 lanes of int8 MACs (MULT18X18D); 32-bit words so a 512-deep bank
    # copy is one DP16KD (64 banks x 2 read ports = 128 of 208). The sequencer's status and
    # fetch options cut its paths, the command and host stages (command_latency, host_stage)
    # the long nets to the lanes and banks, and a select register per group of the host's
    # read-data mux its fan-out to every bank (docs/fpga.md); 32 lanes meet the board's
    # clock only with its placer options and seed (fpga/boards.py). Window 1 and 16-bit
    # counters: 32 lanes of window 2 with 32-bit counters do not fit the LUT4 slots.
    "ulx3s-85f": AccelConfig(name="ulx3s-85f", lanes=32, window=1, spm_banks=64,
                             spm_depth=512, value_width=8, acc_width=20, coord_width=12,
                             counter_width=16, sparse_out=False, result_stage=False,
                             double_buffer=False,
                             clock_gating=False, host_latency=3, host_stage=True,
                             status_latency=1, predict_jumps=True, command_latency=2),
    # ECP5-85F (ULX3S) holding a network resident: the result stage and its broadcast bus,
    # on 16 lanes. 32 lanes with the stage fill 83 % of the LUT4 slots and do not route
    # (docs/fpga.md); 16 lanes fill 43 % and route, at a lower clock (fpga/boards.py).
    "ulx3s-85f-resident": AccelConfig(name="ulx3s-85f-resident", lanes=16, window=1,
                                      spm_banks=32, spm_depth=512, value_width=8,
                                      acc_width=20, coord_width=12, counter_width=16,
                                      sparse_out=False, result_stage=True,
                                      double_buffer=False, clock_gating=False, host_latency=3,
                                      host_stage=True, status_latency=1, predict_jumps=True,
                                      command_latency=2),
}


def preset(name: str) -> AccelConfig:
    """The named preset, or ``ValueError`` listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown configuration {name!r}; known presets: {', '.join(PRESETS)}") from None
