"""cocotb testbench of the simulated board top (:class:`zerohero.hw.uart_bridge.SimUartTop`): the host
code of :mod:`zerohero.link` / :mod:`zerohero.board_backend` drives the ``rx``/``tx`` pins bit by bit.

Spec (JSON in ``ZH_SPEC``): ``config`` (AccelConfig dict), ``clocks_per_bit``, ``timeout_s``
(host read timeout, simulated seconds) and ``mode``:

* ``"kernel"``: ``Runtime(config, backend="board", port=<the pins>)`` runs ``kernel`` on
  dense ``A`` and ``B`` (``relu``); with ``fault_every = k`` every k-th frame the host sends has
  one random bit flipped (seeded). Result: ``result``, the link ``stats``.
* ``"resident"``: ``Runtime(config, backend="board", ...).load(layers, batch)`` (``layers``:
  ``A``, ``relu``, ``consts``, ``requant`` as ``[mult, shift, zero, lo, hi]`` or null), then
  ``infer`` of each array of ``X`` in turn, one call each, then an SpMV of ``between``
  (``A``, ``x``) and one more ``infer``, of ``again``; then ``Runtime.iterate`` of
  ``iterate`` (``layer`` as in ``layers``, ``x``, ``iterations``) twice. Result: ``results``
  and ``stats`` of every ``infer``, the SpMV's result ``between``, the iterates and stats of
  both ``iterate`` calls ``iterated``, the link ``stats``.
* ``"faults"``: one-try frames with single faults (each check records what the board answered
  and the word read back afterwards), a frame corrupted on its first two tries with four tries
  allowed, a refused bus read, and a disconnected board. Result: a dict of observations.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

from zerohero import link
from zerohero.spec import link as frames
from zerohero.spec.config import AccelConfig
from zerohero.spec.regmap import RegisterMap
from zerohero.sim.serial_pins import SimSerial, UartPins, bridge

PERIOD_NS = 10


def flip(frame: bytes, byte: int, bit: int) -> bytes:
    data = bytearray(frame)
    data[byte] ^= 1 << bit
    return bytes(data)


def board_runtime(spec, port):
    from zerohero.runtime import Runtime

    return Runtime(AccelConfig.from_dict(spec["config"]), "board", port=port,
                   clock_hz=1e9 / PERIOD_NS, min_wait=0.02,
                   clock=lambda: get_sim_time(unit="ns") * 1e-9,
                   link_options={"quiet": spec["quiet_s"], "sleep": port.sleep, "seed": 1})


def run_kernel(spec, port):
    import numpy as np

    every = spec.get("fault_every")
    rng = random.Random(spec.get("seed", 0))
    if every:
        port.faults = lambda n, frame: (flip(frame, rng.randrange(1, len(frame)),
                                             rng.randrange(8)) if n % every == every - 1
                                        else frame)
    acc = board_runtime(spec, port)
    A, B = np.array(spec["A"]), np.array(spec["B"])
    result, stats = getattr(acc, spec["kernel"])(A, B, relu=spec.get("relu", False))
    return {"result": np.asarray(result).tolist(), "stats": acc._board.link.stats,
            "writes": port.writes, "cycles": stats["cycles"]}


def run_resident(spec, port):
    import numpy as np

    from zerohero.firmware.resident import ChainLayer, Requant

    def layer(L):
        return ChainLayer(np.array(L["A"]), L["relu"], L["consts"],
                          None if L["requant"] is None else Requant(*L["requant"]))

    layers = [layer(L) for L in spec["layers"]]
    acc = board_runtime(spec, port)
    m = acc.load(layers, batch=spec["batch"])
    calls = [m.infer(np.array(X)) for X in spec["X"]]
    between, _ = acc.spmv(np.array(spec["between"]["A"]), np.array(spec["between"]["x"]))
    calls.append(m.infer(np.array(spec["again"])))
    it = spec["iterate"]
    iterated = [acc.iterate(layer(it["layer"]), np.array(it["x"]), it["iterations"])
                for _ in range(2)]
    return {"iterated": [[xk.tolist(), st] for (xk, _), st in iterated],
            "results": [r.tolist() for r, _ in calls], "stats": [st for _, st in calls],
            "between": np.asarray(between).tolist(), "link": acc._board.link.stats}


def run_faults(spec, port):
    cfg = AccelConfig.from_dict(spec["config"])
    rmap = RegisterMap(cfg)
    addr = rmap.spm_addr(0, 5)
    # Seeded: the link's first SEQ is random, and a damaged frame whose later bytes happen to
    # hold the sync byte (a SEQ or CRC of 0x5A) is legitimately re-framed from there.
    one = link.BoardLink(port, name="sim", tries=1, quiet=spec["quiet_s"], sleep=port.sleep,
                         seed=0)
    out = {"checks": {}}
    one.write(addr, [0x12345678])
    good = link.encode_request(frames.CMD_WRITE, 0, addr, [0xCAFEF00D])
    cases = {                                   # name -> how the one try is damaged
        "data_bit": lambda f: flip(f, frames.HEADER_BYTES + 1, 3),
        "crc_bit": lambda f: flip(f, len(f) - 1, 0),
        "addr_bit": lambda f: flip(f, 5, 2),
        "sync_lost": lambda f: flip(f, 0, 7),
        "count_larger": lambda f: flip(f, 3, 1),        # 1 -> 3 words: waits, times out
        "count_zero": lambda f: flip(f, 3, 0),          # 1 -> 0 words: bad frame
        "bad_command": lambda f: flip(f, 1, 2),         # WRITE -> 5
        "truncated": lambda f: f[:len(f) - 3],
        "header_only": lambda f: f[:4],
    }
    assert good[3] == 1
    for name, damage in cases.items():
        sent = []
        port.faults = lambda n, f, damage=damage, sent=sent: sent.append(damage(f)) or sent[-1]
        try:
            one.transact(frames.CMD_WRITE, addr, [0xCAFEF00D])
            answer = "applied"
        except link.BoardTimeout as e:
            answer = str(e)
        port.faults = None
        one.sleep(one.quiet)
        port.reset_input_buffer()
        words, _ = one.read(addr, 1)
        out["checks"][name] = {"answer": answer, "after": words[0], "sent": sent[0].hex()}
    out["single_try_stats"] = one.stats

    # Retries: the first two tries damaged, the third goes through.
    retry = link.BoardLink(port, name="sim", tries=4, quiet=spec["quiet_s"], sleep=port.sleep,
                           seed=1)
    port.faults = lambda n, f, first=port.writes: (flip(f, 9, 5) if n == first
                                                   else f[:6] if n == first + 1 else f)
    retry.write(addr, [0xCAFEF00D])
    port.faults = None
    out["retried_value"] = retry.read(addr, 1)[0][0]
    out["retry_stats"] = retry.stats

    # A read of a hole in the register map: executed, answered BUS_ERROR, not retried.
    hole = max(r.offset for r in rmap) + 1
    status, words = retry.transact(frames.CMD_READ, hole, count=1)
    out["bus_error"] = {"status": status, "words": words, "frames": retry.stats["frames"],
                        "retries": retry.stats["retries"]}

    # No board: every try times out.
    port.connected = False
    lost = link.BoardLink(port, name="sim", tries=3, quiet=spec["quiet_s"], sleep=port.sleep,
                          seed=2)
    try:
        lost.status()
        out["lost"] = "answered"
    except link.BoardTimeout as e:
        out["lost"] = str(e)
    out["framing_errors"] = port.pins.framing_errors
    return out


@cocotb.test()
async def board_link(dut):
    spec = json.load(open(os.environ["ZH_SPEC"]))
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start())
    dut.rst.value = 1
    pins = UartPins(dut, spec["clocks_per_bit"], PERIOD_NS)
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    port = SimSerial(pins, spec["timeout_s"])
    body = {"kernel": run_kernel, "resident": run_resident, "faults": run_faults}[spec["mode"]]
    result = await bridge(body)(spec, port)
    result["sim_ns"] = get_sim_time(unit="ns")
    json.dump(result, open(os.environ["ZH_RESULT"], "w"))
