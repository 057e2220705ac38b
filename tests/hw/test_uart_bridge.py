"""The UART host link: frame encoding (pure Python) and the full path host code -> bit-level
UART pins -> :class:`zerohero.hw.uart_bridge.SimUartTop` (bridge + accelerator) under cocotb, checked
against the golden model; faults (bit errors, truncated frames, a missing board) must be
rejected and reported, never applied."""

import dataclasses

import numpy as np
import pytest

from zerohero import link
from zerohero.spec import link as frames
from zerohero.spec.config import preset
from zerohero.hw.uart_bridge import SIM_CLOCKS_PER_BIT, SimUartTop
from zerohero import model
from zerohero.sim.harness import build

from conftest import acc_config, random_chain

CFG = preset("icebreaker")
PERIOD_S = 10e-9
GAP_S = frames.GAP_TIMEOUT_BYTES * 10 * SIM_CLOCKS_PER_BIT * PERIOD_S
BASE = {"config": CFG.to_dict(), "clocks_per_bit": SIM_CLOCKS_PER_BIT,
        # Longest answer: 16 words (69 bytes) or a NAK after the gap timeout.
        "timeout_s": GAP_S + 100 * 10 * SIM_CLOCKS_PER_BIT * PERIOD_S, "quiet_s": 2 * GAP_S}


def test_crc8_check_value():
    # The catalogue check value of CRC-8/SMBUS (poly 0x07, init 0): crc("123456789") = 0xF4.
    assert link.crc8(b"123456789") == 0xF4


def test_request_and_response_encoding():
    frame = link.encode_request(frames.CMD_WRITE, 7, 0x1234, [0xDEADBEEF, 1])
    assert frame[:8] == bytes([0x5A, 1, 7, 2, 0x34, 0x12, 0, 0])
    assert frame[8:12] == bytes([0xEF, 0xBE, 0xAD, 0xDE])
    assert link.crc8(frame[1:]) == 0                  # the CRC closes the frame
    body = bytes([frames.OK, 9, 1, 1, 2, 3, 4])
    assert link.decode_response(bytes([0xA5]) + body + bytes([link.crc8(body)])) == \
        (frames.OK, 9, [0x04030201])
    with pytest.raises(link.LinkError, match="CRC mismatch"):
        link.decode_response(bytes([0xA5]) + body + bytes([link.crc8(body) ^ 1]))
    with pytest.raises(ValueError, match="1 to 16 words, not 17"):
        link.encode_request(frames.CMD_READ, 0, 0, count=17)


def test_program_bytes_follow_the_frame_format():
    # By the format of spec.link: a WRITE of n words is 9 + 4n bytes and its answer 5; a READ
    # of n words 9 and its answer 5 + 4n; a STATUS poll 9 and 9. Runs of consecutive addresses
    # share frames of up to 16 words.
    assert link.program_bytes([(0x8, 1)], []) == (13 + 5) + (9 + 9)
    writes = [(0x10000 + i, i) for i in range(17)] + [(0x8, 1)]
    assert link.program_bytes(writes, [0x40, 0x41, 0xD], polls=2) == (
        (9 + 64 + 5) + (9 + 4 + 5) + (13 + 5)           # 16 + 1 consecutive words, START
        + (9 + 5 + 8) + (9 + 5 + 4)                     # two reads, then one elsewhere
        + 2 * (9 + 9))


@pytest.fixture
def board_sim(sim):
    """The fault checks run on both simulators; the kernels (longer) on Verilator only."""
    return build(CFG, SimUartTop, sim)


@pytest.fixture(scope="module")
def verilator_board():
    return build(CFG, SimUartTop, "verilator")


def operands(rows=6, cols=8, seed=3):
    rng = np.random.default_rng(seed)
    A = rng.integers(-100, 101, size=(rows, cols)) * (rng.random((rows, cols)) < 0.4)
    x = rng.integers(-100, 101, size=cols)
    return A, x


def golden_spmv(A, x):
    return model.spmv(model.to_format(A, "csr"), x, model.IntSemantics.from_config(CFG))


@pytest.mark.cocotb
@pytest.mark.parametrize("latency", [1, 2])
def test_spmv_over_the_uart(verilator_board, latency):
    """Also with the host bus answering 2 cycles after a request (the ULX3S preset's
    ``host_latency``): the bridge waits for each ``ack``."""
    A, x = operands()
    cfg = CFG.replace(host_latency=latency)
    board = verilator_board if cfg == CFG else build(cfg, SimUartTop, "verilator")
    out = board.run("tb_board_link", {**BASE, "config": cfg.to_dict(), "mode": "kernel",
                                             "kernel": "spmv", "A": A.tolist(),
                                             "B": x.tolist()})
    np.testing.assert_array_equal(np.array(out["result"]), golden_spmv(A, x))
    assert out["stats"]["retries"] == 0 and out["stats"]["naks"] == {}
    if latency == 1:
        # The board reads the run's cycles from the CYCLES register: the count of the same
        # job on the bus player, whatever carries the bus (here the UART bridge).
        from zerohero.runtime import Runtime

        assert out["cycles"] == Runtime(cfg, "verilator").spmv(A, x)[1]["sim_cycles"] > 0


@pytest.mark.cocotb
def test_spmv_over_a_noisy_uart(verilator_board):
    """Every 5th frame the host sends has one bit flipped: each is NAKed (or unanswered) and
    retried, and the result is still exact."""
    A, x = operands(seed=4)
    out = verilator_board.run("tb_board_link",
                        {**BASE, "mode": "kernel", "kernel": "spmv", "A": A.tolist(),
                         "B": x.tolist(), "fault_every": 5, "seed": 2})
    np.testing.assert_array_equal(np.array(out["result"]), golden_spmv(A, x))
    stats = out["stats"]
    assert stats["retries"] == out["writes"] - stats["frames"]
    assert stats["retries"] >= out["writes"] // 5 - 1 > 0, stats
    assert sum(stats["naks"].values()) + stats["no_response"] >= stats["retries"], stats


@pytest.mark.cocotb
def test_a_chain_stays_resident_on_the_board():
    """A 2-lane board with the result stage: the first ``infer`` loads the chain, the next
    sends only inputs (and column counts) over the bit-level UART, bit for bit the
    golden chain; a kernel run in between replaces the weights, so the next ``infer`` loads
    again instead of running on them. An iteration loads its matrix once for two calls."""
    from zerohero.firmware.resident import golden_chain, golden_iterate, plan_iterate
    from zerohero.runtime import Runtime

    cfg = acc_config()
    rng = np.random.default_rng(11)
    layers = random_chain(rng, cfg, [12, 17, 9, 5])
    calls = [rng.integers(-20, 40, (n, 12)) for n in (6, 3, 3)]
    A, x = operands()
    step = random_chain(rng, cfg, [8, 8, 1])[0]             # square in its inputs, requantized
    x0 = rng.integers(0, 30, 8)

    def as_json(L):
        return {"A": L.A.tolist(), "relu": L.relu, "consts": L.consts.tolist(),
                "requant": None if L.requant is None else
                [np.asarray(v).tolist() for v in dataclasses.astuple(L.requant)]}

    spec = {**BASE, "config": cfg.to_dict(), "mode": "resident", "batch": 4,
            "X": [X.tolist() for X in calls[:2]], "again": calls[2].tolist(),
            "layers": [as_json(L) for L in layers],
            "between": {"A": A.tolist(), "x": x.tolist()},
            "iterate": {"layer": as_json(step), "x": x0.tolist(), "iterations": 3}}
    out = build(cfg, SimUartTop, "verilator").run("tb_board_link", spec)
    sem = model.IntSemantics.from_config(cfg)
    for X, got in zip(calls, out["results"], strict=True):
        assert np.array_equal(np.array(got), golden_chain(layers, X.T, sem)[0].T)
    np.testing.assert_array_equal(np.array(out["between"]), model.spmv(
        model.to_format(A, "csr"), x, sem))
    first, second, reloaded = out["stats"]
    model_first = Runtime(cfg, "model").load(layers, batch=4).infer(calls[0])[1]
    assert first["resident_load"]["host_words_out"] == \
        model_first["resident_load"]["host_words_out"] > 0
    assert second["resident_load"] is None
    assert first["host_words_out"] == model_first["host_words_out"]
    assert second["host_words_out"] <= 3 * 12 + 1 + 3          # inputs, START, counts
    assert second["host_words_in"] == 3 * 5 + 1                # outputs, CYCLES
    assert reloaded["resident_load"]["host_words_out"] > 0
    assert all(st["compute_cycles"] > 0 for st in out["stats"])
    gold = golden_iterate(step, x0, 3, sem)[0]
    (x1, loaded), (x2, held) = out["iterated"]
    assert x1 == x2 == gold.tolist()
    # The second call writes the input and the firmware only: not the matrix again.
    assert loaded["host_words_out"] - held["host_words_out"] == \
        len(plan_iterate(cfg, step).load_writes) > 0
    assert out["link"]["retries"] == 0


@pytest.mark.cocotb
def test_faults_are_rejected_and_reported(board_sim):
    out = board_sim.run("tb_board_link", {**BASE, "mode": "faults"})
    expect = {
        "data_bit": "NAK_CRC", "crc_bit": "NAK_CRC", "addr_bit": "NAK_CRC",
        "sync_lost": "no response", "count_larger": "NAK_TIMEOUT", "count_zero": "NAK_FRAME",
        "bad_command": "NAK_FRAME", "truncated": "NAK_TIMEOUT", "header_only": "NAK_TIMEOUT",
    }
    # The bridge hunts for the next sync byte: the lost-sync frame goes unanswered only if none
    # of its later bytes is 0x5A (the testbench seeds the link's SEQ so that holds).
    assert frames.SYNC_REQUEST not in bytes.fromhex(out["checks"]["sync_lost"]["sent"])
    for name, want in expect.items():
        check = out["checks"][name]
        reason = want if want == "no response" else f"board answered {want}"
        assert check["answer"] == f"board not responding on sim after 1 tries ({reason})", \
            (name, check)
        assert check["after"] == 0x12345678, (name, "a rejected frame was applied")
    assert out["retried_value"] == 0xCAFEF00D
    assert out["retry_stats"]["retries"] == 2
    assert out["bus_error"]["status"] == frames.BUS_ERROR
    assert out["bus_error"]["retries"] == 2                 # not retried
    assert out["lost"].startswith("board not responding on sim after 3 tries")
    assert out["framing_errors"] == 0
