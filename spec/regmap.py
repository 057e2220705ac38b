"""The host's view of the accelerator: register map and address map, generated from the config.

This module imports neither Amaranth nor NumPy: the hardware (:mod:`zerohero.hw.host`), the
host runtime, the JSON export and the C header are all derived from the one
:class:`RegisterMap`, so host code and hardware cannot disagree.

Bus: word addresses of ``ADDR_WIDTH`` (32) bits, ``DATA_WIDTH`` (32) bit data (byte address =
4 x word address for hosts that think in bytes). The address space:

* ``0 .. reg_end - 1``: registers (:data:`REGISTER_LAYOUT`), then from ``LANE_BASE`` the
  per-lane performance counters ``LANE<i>_<COUNTER>`` (``_LO``/``_HI`` when
  ``counter_width > 32``). Holes between registers are not part of the map.
* ``spm_base .. spm_base + spm_banks * bank_stride - 1``: the scratchpad. Word ``w`` of bank
  ``b`` is at ``spm_base + b * bank_stride + w * word_stride + part``: a word of
  ``word_width`` bits is ``word_parts = ceil(word_width / 32)`` bus words, low 32 bits first,
  and ``word_stride`` is ``word_parts`` rounded up to a power of two (unused parts are outside
  the map). A write of a lower part is held in the port; the word is written to the bank when
  its *top* part is written, so write the parts in order, low first, top last. Reads return
  the word's bits zero-extended; written bits above ``word_width`` are dropped.
  ``spm_base`` is ``0x10000`` (or the next power of two at least the scratchpad's size, if
  larger); ``bank_stride = spm_depth * word_stride``.
* Every other address is outside the map: the access answers an error response and latches
  error code ``BAD_ADDR`` into ``ERROR``. Nothing wraps.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass

from zerohero.spec.isa import ERROR_DOCS, ERRORS

from zerohero.spec.config import COUNTER_NAMES, AccelConfig

__all__ = ["RegisterMap", "Register", "Field", "DATA_WIDTH", "ADDR_WIDTH", "REGMAP_VERSION",
           "ID_MAGIC", "COUNTER_NAMES", "ERROR_CODES", "ERROR_CODE_WIDTH", "ERR_NONE",
           "ERR_BAD_ADDR", "ERR_BUSY",
           "LANE_BASE", "SPM_BASE_MIN", "FIELD_ACCESS"]

DATA_WIDTH = 32
ADDR_WIDTH = 32
#: Bumped whenever the layout changes incompatibly.
REGMAP_VERSION = 3
#: "ZH" in the top half of ``ID``.
ID_MAGIC = 0x5A48
#: First per-lane counter register.
LANE_BASE = 0x40
#: Lowest scratchpad base address.
SPM_BASE_MIN = 0x10000

ERR_NONE, ERR_BAD_ADDR, ERR_BUSY = 0, 1, 2
#: Bits of ``ERROR.CODE`` (and of the hardware's error code signals).
ERROR_CODE_WIDTH = 8
#: ``ERROR.CODE`` values: the host port's, then the sequencer's (firmware faults).
ERROR_CODES = {
    ERR_NONE: ("NONE", "no error since ERROR was last written"),
    ERR_BAD_ADDR: ("BAD_ADDR", "a bus access to an address outside the map"),
    ERR_BUSY: ("BUSY", "a scratchpad access while the datapath was not idle"),
    **{_code: (_name, ERROR_DOCS[_name]) for _name, _code in ERRORS.items() if _code},
}

#: Field access types.
FIELD_ACCESS = {
    "const": "read-only constant (identifies the hardware); writes are ignored",
    "ro": "read-only, driven by the hardware; writes are ignored",
    "rw": "read/write storage",
    "pulse": "write 1: a one-cycle pulse to the hardware (self-clearing); reads 0",
    "wclr": "read-only, set by the hardware; any write to the register clears it",
}


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    access: str
    doc: str
    reset: int = 0

    @property
    def mask(self) -> int:
        """The field's bits in place."""
        return ((1 << self.width) - 1) << self.lsb

    def get(self, word: int) -> int:
        return (word >> self.lsb) & ((1 << self.width) - 1)


@dataclass(frozen=True)
class Register:
    """One 32-bit register. ``access`` summarises the fields: ``ro`` (writes have no effect),
    ``rw`` (some field is writable or pulses) or ``wclr`` (writing clears it)."""

    name: str
    offset: int
    access: str
    fields: tuple
    doc: str
    #: Read value after reset, with every hardware input at 0.
    reset: int = 0
    #: For a per-lane counter: its lane, counter name and 32-bit part (0 = LO).
    lane: int | None = None
    counter: str | None = None
    part: int | None = None

    @property
    def write_mask(self) -> int:
        """Bits that a write stores (and a read returns)."""
        return sum(f.mask for f in self.fields if f.access == "rw")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def to_dict(self) -> dict:
        d = {"name": self.name, "offset": self.offset, "access": self.access,
             "reset": self.reset, "doc": self.doc,
             "fields": [asdict(f) for f in self.fields]}
        if self.lane is not None:
            d.update(lane=self.lane, counter=self.counter, part=self.part)
        return d


def _f(name, lsb, width, access, doc, reset=0):
    return Field(name, lsb, width, access, doc, reset)


def _fixed_registers(cfg: AccelConfig, spm_word_stride: int) -> list[tuple]:
    """``(offset, name, fields, doc)`` of the registers below ``LANE_BASE``."""
    return [
        (0x00, "ID", [
            _f("VERSION", 0, 16, "const", "register map version", REGMAP_VERSION),
            _f("MAGIC", 16, 16, "const", "0x5A48 ('ZH')", ID_MAGIC)],
         "identifies a zerohero accelerator and its register map version"),
        (0x01, "MAP_HASH", [
            _f("HASH", 0, 32, "const", "CRC-32 of the register map (see RegisterMap.map_hash)")],
         "must equal ZH_MAP_HASH of the host's header: same config, same map"),
        (0x02, "CONFIG0", [
            _f("LANES", 0, 16, "const", "processing lanes", cfg.lanes),
            _f("WINDOW", 16, 4, "const", "intersector window K", cfg.window),
            _f("OVERFLOW", 20, 1, "const", "accumulator overflow: 0 wrap, 1 saturate",
               int(cfg.overflow == "saturate")),
            _f("MAX_LEVEL", 24, 2, "const", "highest stop-token level", cfg.max_level)],
         "datapath configuration"),
        (0x03, "CONFIG1", [
            _f("VALUE_WIDTH", 0, 8, "const", "signed value bits", cfg.value_width),
            _f("COORD_WIDTH", 8, 8, "const", "coordinate bits", cfg.coord_width),
            _f("ACC_WIDTH", 16, 8, "const", "accumulator bits", cfg.acc_width),
            _f("COUNTER_WIDTH", 24, 8, "const", "performance counter bits",
               cfg.counter_width)],
         "datapath widths"),
        (0x04, "CONFIG2", [
            _f("SPM_BANKS", 0, 16, "const", "scratchpad banks", cfg.spm_banks),
            _f("SPM_WORD_WIDTH", 16, 8, "const", "bits of a scratchpad word", cfg.word_width),
            _f("SPM_WORD_STRIDE", 24, 4, "const", "address step between scratchpad words "
               "(bus words per word, ceil(SPM_WORD_WIDTH / 32), rounded up to a power of two)",
               spm_word_stride)],
         "scratchpad geometry"),
        (0x05, "CONFIG3", [
            _f("SPM_DEPTH", 0, 32, "const", "words per scratchpad bank", cfg.spm_depth)],
         "scratchpad depth"),
        (0x08, "CONTROL", [
            _f("START", 0, 1, "pulse", "start the sequencer; clears STATUS.DONE"),
            _f("CLEAR", 1, 1, "pulse", "clear every per-lane counter"),
            _f("RELU", 2, 1, "rw", "fused ReLU on results")] + ([
            _f("HALF", 3, 1, "rw", "bank half the lanes use in the run START begins: the top "
               "bank-address bit of every lane access (double buffering)")]
            if cfg.double_buffer else []),
         "START and CLEAR are self-clearing pulses (read 0); RELU"
         + (" and HALF are stored bits" if cfg.double_buffer else " is a stored bit")),
        (0x09, "STATUS", [
            _f("BUSY", 0, 1, "ro", "the datapath is running"),
            _f("DONE", 1, 1, "ro", "a run finished since the last START (sticky)"),
            _f("ERROR", 2, 1, "ro", "ERROR.CODE is not 0")],
         "run state"),
        (0x0A, "ERROR", [
            _f("CODE", 0, ERROR_CODE_WIDTH, "wclr", "first error since ERROR was written: 0 none, "
               "1 bad address, 2 scratchpad busy, 3-6 sequencer faults (ILLEGAL, RANGE, UNIT, "
               "WATCHDOG)"),
            _f("MULTIPLE", ERROR_CODE_WIDTH, 1, "wclr", "more errors happened after the first")],
         "sticky first error; writing any value clears ERROR and ERR_ADDR"),
        (0x0B, "ERR_ADDR", [
            _f("ADDR", 0, 32, "ro", "bus address of the access that set ERROR.CODE 1 or 2")],
         "cleared together with ERROR"),
        (0x0C, "SCRATCH", [
            _f("VALUE", 0, 32, "rw", "no effect; for link tests")],
         "read/write scratch register"),
        (0x0D, "CYCLES", [
            _f("VALUE", 0, 32, "ro", "cycles of the last run: from the edge that accepted its "
               "START write to the edge that raised irq, modulo 2**32 (it counts on while a "
               "run has not ended)")],
         "the last run's cycle count, measured by the hardware (what the host reads on a "
         "board, where no simulator counts)"),
    ]


def _access(fields) -> str:
    kinds = {f.access for f in fields}
    if "wclr" in kinds:
        return "wclr"
    if kinds & {"rw", "pulse"}:
        return "rw"
    return "ro"


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class RegisterMap:
    """Registers and address regions of an accelerator built from ``cfg``."""

    def __init__(self, cfg: AccelConfig):
        self.cfg = cfg
        #: Bus words holding one scratchpad word, and the address step between words.
        self.spm_word_parts = cfg.spm_word_parts
        self.spm_word_stride = cfg.spm_word_stride
        #: Registers per counter (LO, HI when wider than 32 bits).
        self.counter_parts = -(-cfg.counter_width // DATA_WIDTH)
        #: Address step from one lane's counters to the next (a power of two).
        self.lane_stride = _pow2_at_least(len(COUNTER_NAMES) * self.counter_parts)

        regs = []
        for offset, name, fields, doc in _fixed_registers(cfg, self.spm_word_stride):
            for f in fields:
                if f.reset >> f.width:
                    raise ValueError(f"{name}.{f.name} = {f.reset} does not fit {f.width} bits")
            reset = sum(f.reset << f.lsb for f in fields)
            regs.append(Register(name, offset, _access(fields), tuple(fields), doc, reset))
        for lane in range(cfg.lanes):
            for c, counter in enumerate(COUNTER_NAMES):
                for part in range(self.counter_parts):
                    width = min(DATA_WIDTH, cfg.counter_width - DATA_WIDTH * part)
                    suffix = ("", "_LO", "_HI")[part + 1 if self.counter_parts > 1 else 0]
                    bits = f"bits {DATA_WIDTH * part}..{DATA_WIDTH * part + width - 1} of " \
                        if self.counter_parts > 1 else ""
                    fields = (Field("VALUE", 0, width, "ro", "counter value"),)
                    regs.append(Register(
                        f"LANE{lane}_{counter.upper()}{suffix}",
                        LANE_BASE + lane * self.lane_stride + c * self.counter_parts + part,
                        "ro", fields, f"{bits}lane {lane}'s {counter} counter (cleared by "
                        "CONTROL.CLEAR)", 0, lane, counter, part))
        self.registers: list[Register] = regs
        self._by_name = {r.name: r for r in regs}
        self._by_offset = {r.offset: r for r in regs}
        assert len(self._by_name) == len(regs) and len(self._by_offset) == len(regs)
        #: One past the highest register address.
        self.reg_end = max(r.offset for r in regs) + 1

        self.bank_stride = cfg.spm_depth * self.spm_word_stride
        self.spm_size = cfg.spm_banks * self.bank_stride
        self.spm_base = max(SPM_BASE_MIN, _pow2_at_least(self.spm_size))
        self.spm_end = self.spm_base + self.spm_size
        assert self.reg_end <= self.spm_base
        # Broadcast (write-only): one write stores a word in the same place of every lane's
        # operand bank (group 0) or vector bank (group 1); AccelConfig has both for every lane.
        self.bcast_groups = 2
        self.bcast_base = 2 * self.spm_base
        self.bcast_size = self.bcast_groups * self.bank_stride
        self.bcast_end = self.bcast_base + self.bcast_size
        # Firmware (the sequencer's instruction memory): write-only, after the scratchpad.
        self.fw_base = 3 * self.spm_base
        self.fw_end = self.fw_base + cfg.fw_depth
        # AccelConfig bounds the scratchpad so that every region fits the address space.
        assert self.fw_end <= 1 << ADDR_WIDTH
        # The hash covers everything above, so it is computed last.
        self.map_hash = self._hash()
        hash_reg = self._by_name["MAP_HASH"]
        hashed = Register(hash_reg.name, hash_reg.offset, hash_reg.access,
                          (Field("HASH", 0, 32, "const", hash_reg.fields[0].doc,
                                 self.map_hash),), hash_reg.doc, self.map_hash)
        self.registers[self.registers.index(hash_reg)] = hashed
        self._by_name[hashed.name] = self._by_offset[hashed.offset] = hashed

    # Lookup -------------------------------------------------------------------------------

    def __iter__(self):
        return iter(self.registers)

    def __len__(self):
        return len(self.registers)

    def __getitem__(self, name: str) -> Register:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no register {name!r}") from None

    def addr_of(self, name: str) -> int:
        """Bus word address of the named register."""
        return self[name].offset

    def counter(self, lane: int, name: str, part: int = 0) -> Register:
        suffix = "" if self.counter_parts == 1 else ("_LO", "_HI")[part]
        return self[f"LANE{lane}_{name.upper()}{suffix}"]

    def spm_addr(self, bank: int, word: int, part: int = 0) -> int:
        """Bus address of part ``part`` (32 bits each, low first) of a scratchpad word."""
        if not (0 <= bank < self.cfg.spm_banks and 0 <= word < self.cfg.spm_depth
                and 0 <= part < self.spm_word_parts):
            raise ValueError(f"no scratchpad word bank {bank} word {word} part {part}")
        return self.spm_base + bank * self.bank_stride + word * self.spm_word_stride + part

    def bcast_addr(self, group: int, word: int, part: int = 0) -> int:
        """Bus address of part ``part`` of word ``word`` of every lane's operand bank
        (``group`` 0: banks ``0 .. lanes - 1``) or vector bank (1: ``lanes .. 2 lanes - 1``)."""
        if not (0 <= group < self.bcast_groups and 0 <= word < self.cfg.spm_depth
                and 0 <= part < self.spm_word_parts):
            raise ValueError(f"no broadcast word group {group} word {word} part {part}")
        return self.bcast_base + group * self.bank_stride + word * self.spm_word_stride + part

    def bcast_banks(self, group: int) -> range:
        """The banks a write to broadcast ``group`` stores into."""
        return range(group * self.cfg.lanes, (group + 1) * self.cfg.lanes)

    def decode(self, addr: int):
        """``("reg", Register)``, ``("spm", bank, word, part)``, ``("bcast", group, word,
        part)``, ``("fw", index)`` or ``None`` (outside the map; the hardware answers an
        error)."""
        if addr in self._by_offset:
            return ("reg", self._by_offset[addr])
        if self.spm_base <= addr < self.spm_end:
            off = addr - self.spm_base
            bank, rest = divmod(off, self.bank_stride)
            word, part = divmod(rest, self.spm_word_stride)
            if part < self.spm_word_parts:
                return ("spm", bank, word, part)
        if self.bcast_base <= addr < self.bcast_end:
            group, rest = divmod(addr - self.bcast_base, self.bank_stride)
            word, part = divmod(rest, self.spm_word_stride)
            if part < self.spm_word_parts:
                return ("bcast", group, word, part)
        if self.fw_base <= addr < self.fw_end:
            return ("fw", addr - self.fw_base)
        return None

    @property
    def regions(self) -> list[dict]:
        return [
            {"name": "registers", "base": 0, "size": self.reg_end,
             "doc": "registers; holes between them are outside the map"},
            {"name": "scratchpad", "base": self.spm_base, "size": self.spm_size,
             "banks": self.cfg.spm_banks, "depth": self.cfg.spm_depth,
             "word_width": self.cfg.word_width, "word_parts": self.spm_word_parts,
             "word_stride": self.spm_word_stride,
             "bank_stride": self.bank_stride,
             "doc": "bank b word w at base + b * bank_stride + w * word_stride + part (part "
                    "< word_parts, low 32 bits first; a word is written when its top part "
                    "is written); only while the datapath is idle, else error BUSY"},
            {"name": "broadcast", "base": self.bcast_base, "size": self.bcast_size,
             "groups": self.bcast_groups, "group_stride": self.bank_stride,
             "doc": "write-only: group g word w at base + g * group_stride + w * word_stride + "
                    "part stores the word in every lane's operand bank (g = 0: banks 0 .. "
                    "lanes - 1) or vector bank (g = 1: banks lanes .. 2 lanes - 1) at once; "
                    "like scratchpad writes otherwise (a read is an error)"},
            {"name": "firmware", "base": self.fw_base, "size": self.cfg.fw_depth,
             "doc": "the sequencer's instruction memory, one 32-bit instruction per address; "
                    "write-only (a read is an error), only while the sequencer is idle"},
        ]

    # Export -------------------------------------------------------------------------------

    def _hash(self) -> int:
        """CRC-32 of the canonical map (without the hash itself and the config's name)."""
        body = self._body()
        for r in body["registers"]:
            if r["name"] == "MAP_HASH":
                r["reset"] = 0
                r["fields"][0]["reset"] = 0
        del body["config"]["name"]
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return zlib.crc32(text.encode())

    def _body(self) -> dict:
        return {
            "version": REGMAP_VERSION,
            "config": self.cfg.to_dict(),
            "bus": {"addr_width": ADDR_WIDTH, "data_width": DATA_WIDTH, "addressing": "word",
                    "latency": self.cfg.host_latency},
            "regions": self.regions,
            "lanes": {"base": LANE_BASE, "stride": self.lane_stride,
                      "counters": list(COUNTER_NAMES), "parts": self.counter_parts},
            "error_codes": {str(k): {"name": n, "doc": d} for k, (n, d) in ERROR_CODES.items()},
            "registers": [r.to_dict() for r in self.registers],
        }

    def to_json(self) -> dict:
        """The whole map as plain data (what ``zerohero regmap --json`` writes)."""
        return {**self._body(), "map_hash": self.map_hash,
                "field_access": dict(FIELD_ACCESS)}

    def to_c_header(self) -> str:
        """A C header: ``ZH_<REG>_ADDR`` (word addresses), ``ZH_<REG>_<FIELD>_SHIFT/_WIDTH/
        _MASK`` (mask in place), reset values, config constants and scratchpad macros."""
        cfg = self.cfg
        guard = "ZEROHERO_REGS_H"
        lines = [
            f"/* zerohero register map for config '{cfg.name}': generated by "
            f"`zerohero regmap --header`, do not edit. */",
            "/* Addresses are 32-bit word addresses; byte address = 4 * word address. */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            f"#define ZH_REGMAP_VERSION {REGMAP_VERSION}u",
            f"#define ZH_ID_MAGIC_VALUE 0x{ID_MAGIC:04X}u",
            f"#define ZH_MAP_HASH 0x{self.map_hash:08X}u",
            f"#define ZH_ADDR_WIDTH {ADDR_WIDTH}",
            f"#define ZH_DATA_WIDTH {DATA_WIDTH}",
            f"#define ZH_BUS_LATENCY {cfg.host_latency}",
            "",
            "/* Configuration (also readable from CONFIG0..CONFIG3). */",
            f"#define ZH_CFG_LANES {cfg.lanes}",
            f"#define ZH_CFG_WINDOW {cfg.window}",
            f"#define ZH_CFG_VALUE_WIDTH {cfg.value_width}",
            f"#define ZH_CFG_COORD_WIDTH {cfg.coord_width}",
            f"#define ZH_CFG_ACC_WIDTH {cfg.acc_width}",
            f"#define ZH_CFG_OVERFLOW_SATURATE {int(cfg.overflow == 'saturate')}",
            f"#define ZH_CFG_MAX_LEVEL {cfg.max_level}",
            f"#define ZH_CFG_COUNTER_WIDTH {cfg.counter_width}",
            f"#define ZH_CFG_SPM_BANKS {cfg.spm_banks}",
            f"#define ZH_CFG_SPM_DEPTH {cfg.spm_depth}",
            f"#define ZH_CFG_SPM_WORD_WIDTH {cfg.word_width}",
            "",
            "/* Error codes (ERROR.CODE): 1-2 from the host port, 3-6 from the sequencer. */",
        ]
        lines += [f"#define ZH_ERR_{n} {k}u" for k, (n, _) in ERROR_CODES.items()]
        lines += [
            "",
            "/* Scratchpad: word w of bank b is ZH_SPM_WORD_PARTS bus words from",
            "   ZH_SPM_ADDR(b, w), low 32 bits first; it is written when its top part is. */",
            f"#define ZH_SPM_BASE 0x{self.spm_base:X}u",
            f"#define ZH_SPM_SIZE 0x{self.spm_size:X}u",
            f"#define ZH_SPM_BANKS {cfg.spm_banks}u",
            f"#define ZH_SPM_DEPTH {cfg.spm_depth}u",
            f"#define ZH_SPM_WORD_PARTS {self.spm_word_parts}u",
            f"#define ZH_SPM_WORD_STRIDE {self.spm_word_stride}u",
            f"#define ZH_SPM_BANK_STRIDE 0x{self.bank_stride:X}u",
            "#define ZH_SPM_ADDR(bank, word) (ZH_SPM_BASE + (bank) * ZH_SPM_BANK_STRIDE + "
            "(word) * ZH_SPM_WORD_STRIDE)",
            "",
            "/* Broadcast (write-only): word w of every lane's operand bank (group 0) or",
            "   vector bank (group 1) at once, ZH_SPM_WORD_PARTS bus words from",
            "   ZH_BCAST_ADDR(group, w). */",
            f"#define ZH_BCAST_BASE 0x{self.bcast_base:X}u",
            f"#define ZH_BCAST_GROUPS {self.bcast_groups}u",
            "#define ZH_BCAST_ADDR(group, word) (ZH_BCAST_BASE + (group) * ZH_SPM_BANK_STRIDE + "
            "(word) * ZH_SPM_WORD_STRIDE)",
            "",
            "/* Firmware: instruction i at ZH_FW_BASE + i (write-only, while idle). */",
            f"#define ZH_FW_BASE 0x{self.fw_base:X}u",
            f"#define ZH_FW_DEPTH {cfg.fw_depth}u",
            "",
            "/* Per-lane counters: ZH_LANE_ADDR(lane, ZH_COUNTER_<NAME>) (+1 for the _HI part). */",
            f"#define ZH_LANE_BASE 0x{LANE_BASE:X}u",
            f"#define ZH_LANE_STRIDE {self.lane_stride}u",
            f"#define ZH_COUNTER_PARTS {self.counter_parts}u",
        ]
        lines += [f"#define ZH_COUNTER_{n.upper()} {i * self.counter_parts}u"
                  for i, n in enumerate(COUNTER_NAMES)]
        lines += ["#define ZH_LANE_ADDR(lane, counter) (ZH_LANE_BASE + (lane) * ZH_LANE_STRIDE "
                  "+ (counter))", "", "/* Registers. */"]
        for r in self.registers:
            lines.append(f"#define ZH_{r.name}_ADDR 0x{r.offset:04X}u  /* {r.access}: "
                         f"{r.doc.replace('*/', '* /')} */")
            lines.append(f"#define ZH_{r.name}_RESET 0x{r.reset:08X}u")
            for f in r.fields:
                p = f"ZH_{r.name}_{f.name}"
                lines += [f"#define {p}_SHIFT {f.lsb}", f"#define {p}_WIDTH {f.width}",
                          f"#define {p}_MASK 0x{f.mask:08X}u"]
        lines += ["", f"#endif /* {guard} */", ""]
        return "\n".join(lines)

    def table(self) -> str:
        """A readable summary (what ``zerohero regmap`` prints)."""
        cfg = self.cfg
        out = [f"register map v{REGMAP_VERSION} of config {cfg.name}: {len(self)} registers, "
               f"hash 0x{self.map_hash:08X}; 32-bit word addresses, 32-bit data",
               f"{'addr':>8}  {'name':16s} {'access':6s} {'reset':>10s}  fields"]
        for r in self.registers:
            fields = ", ".join(
                f"{f.name}[{f.lsb + f.width - 1}:{f.lsb}]" if f.width > 1
                else f"{f.name}[{f.lsb}]" for f in r.fields)
            out.append(f"{r.offset:#8x}  {r.name:16s} {r.access:6s} {r.reset:#10x}  {fields}")
        out.append(f"{self.spm_base:#8x}  scratchpad: {cfg.spm_banks} banks x {cfg.spm_depth} "
                   f"words of {cfg.word_width} bits ({self.spm_word_parts} bus words each, "
                   f"low first), "
                   f"bank stride {self.bank_stride:#x}, word stride {self.spm_word_stride}; "
                   f"ends at {self.spm_end - 1:#x}")
        out.append(f"{self.bcast_base:#8x}  broadcast: a word into every lane's operand "
                   f"bank (group 0) or vector bank (group 1, at +{self.bank_stride:#x}), "
                   f"write-only")
        out.append(f"{self.fw_base:#8x}  firmware: {cfg.fw_depth} instructions, write-only")
        out.append("every other address answers an error (ERROR.CODE 1)")
        return "\n".join(out)
