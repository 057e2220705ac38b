"""The integrated Accelerator end to end: host runtime -> firmware -> RTL -> golden model."""

import numpy as np
import pytest
from conftest import acc_config, rand

from zerohero.firmware.isa import assemble
from zerohero.spec.isa import ERRORS
from zerohero.firmware.scheduler import Program, plan_rowwise
from zerohero.spec.regmap import RegisterMap
from zerohero.runtime import Runtime
from zerohero import model
from zerohero.sim.harness import ROOT

DATA = ROOT / "data" / "suitesparse"


GOLDEN = {"spmv": model.spmv, "spmspv": model.spmspv, "spmm": model.spmm, "gemv": model.gemv,
          "gemm": model.gemm}


def check(acc, kernel, A, B, relu=False):
    got, stats = getattr(acc, kernel)(A, B, relu=relu)
    Af = model.Dense(np.asarray(A)) if kernel in ("gemv", "gemm") else model.to_format(A, "csr")
    want = GOLDEN[kernel](Af, B, acc.sem, relu=relu)
    assert np.array_equal(got, want), (
        f"{kernel}: first difference at {np.argwhere(got != want)[0]}: "
        f"got {got[tuple(np.argwhere(got != want)[0])]}, "
        f"expected {want[tuple(np.argwhere(got != want)[0])]}")
    assert stats["macs"] == stats["useful_macs"], "MACs issued must be exactly the useful ones"
    assert stats["cycles"] >= stats["ideal_cycles"]
    # The hardware's CYCLES register counts what the bus player counts, on every build here
    # (host latencies 1 to 3, gated or not, double-buffered, late status).
    assert stats["cycles"] == stats["sim_cycles"]
    return stats


@pytest.mark.cocotb
def test_every_kernel_on_random_and_edge_operands(sim):
    cfg = acc_config()
    acc = Runtime(cfg, sim)
    rng = np.random.default_rng(1)
    A = rand(rng, (14, 30), 0.3, cfg)
    A[3] = 0                                    # empty row
    A[:, 7] = 0                                 # empty column
    x = rand(rng, 30, 1.0, cfg)
    check(acc, "spmv", A, x)
    check(acc, "spmv", A, x, relu=True)
    check(acc, "spmv", np.zeros((5, 9), dtype=np.int64), rand(rng, 9, 1.0, cfg))  # all zero
    single = np.zeros((6, 11), dtype=np.int64)
    single[4, 10] = cfg.value_min
    check(acc, "spmv", single, rand(rng, 11, 1.0, cfg))
    extreme = np.full((4, 12), cfg.value_max)
    extreme[1] = cfg.value_min                  # products overflow the 16-bit accumulator
    stats = check(acc, "spmv", extreme, np.full(12, cfg.value_min))
    assert stats["zeros_skipped"] == 0
    xs = model.SparseVector(30, np.array([0, 5, 7, 29]), np.array([3, -4, 9, cfg.value_max]))
    check(acc, "spmspv", A, xs)
    check(acc, "spmspv", A, model.SparseVector(30, np.array([], dtype=np.int64),
                                              np.array([], dtype=np.int64)))
    B = rand(rng, (30, 3), 0.7, cfg)
    check(acc, "spmm", A, B)
    check(acc, "spmm", A, B, relu=True)
    D = rand(rng, (9, 12), 0.6, cfg)             # dense operands with zeros: still skipped
    stats = check(acc, "gemv", D, rand(rng, 12, 0.8, cfg))
    assert stats["zeros_skipped"] > 0
    check(acc, "gemm", D, rand(rng, (12, 2), 0.8, cfg))
    check(acc, "gemv", np.full((3, 5), 7), np.full(5, -3))     # fully dense


@pytest.mark.cocotb
def test_real_matrices_and_saturation(sim):
    cfg = acc_config(overflow="saturate")
    acc = Runtime(cfg, sim)
    rng = np.random.default_rng(2)
    karate = model.load_mtx(DATA / "karate.mtx", values="pattern")
    check(acc, "spmv", karate, rand(rng, 34, 1.0, cfg))
    cage = model.load_mtx(DATA / "cage5.mtx", values="quantize", value_width=8)
    check(acc, "spmm", cage, rand(rng, (37, 2), 1.0, cfg))
    big = np.full((3, 40), cfg.value_max)       # sums saturate at +32767
    check(acc, "spmv", big, np.full(40, cfg.value_max))


@pytest.mark.cocotb
def test_largest_operand_that_fits(sim):
    cfg = acc_config()
    acc = Runtime(cfg, sim, double_buffer=False)    # full-depth tiles (counted below)
    rng = np.random.default_rng(3)
    # 2 lanes x 10 rows of 24 nonzeros + 5 more on row 0: pos 11 + 245 entries = 256 words.
    A = np.zeros((20, 200), dtype=np.int64)
    for r in range(20):
        A[r, rng.choice(200, 24, replace=False)] = rng.integers(1, 50, 24)
    A[0, [c for c in range(200) if A[0, c] == 0][:5]] = 1
    check(acc, "spmv", A, rand(rng, 200, 1.0, cfg))
    A[0, [c for c in range(200) if A[0, c] == 0][:1]] = 1      # one more: no longer fits,
    with pytest.raises(ValueError, match="lane 0's rows of A needs 257 words but a bank "
                                         "holds 256"):
        plan_rowwise(cfg, "spmv", model.to_format(A, "csr"), rand(rng, 200, 1.0, cfg))
    stats = check(acc, "spmv", A, rand(rng, 200, 1.0, cfg))    # so the runtime tiles it
    assert stats["tiles"] == 2


@pytest.mark.cocotb
def test_clock_gating_is_cycle_for_cycle_the_same_machine(sim):
    """The gated clocks (hw/gating.py; the simulation presets) only skip cycles in which
    nothing they clock could change: a gated and an ungated build of one configuration give
    the same results, counters and cycle counts (kernel, loading, reading back) for every
    kind of job: gather, intersection, dense mode, compressed outputs, several tiles, and
    double buffering (host writes while the lanes run)."""
    rng = np.random.default_rng(11)
    cfg = acc_config()
    A = rand(rng, (14, 30), 0.3, cfg)
    x = rand(rng, 30, 1.0, cfg)
    xs = model.SparseVector(30, np.array([0, 5, 7, 29]), np.array([3, -4, 9, cfg.value_max]))
    rows = 16 if sim == "icarus" else 40
    one, both = (False,), (False, True)         # double buffering off / off and on
    cases = [("spmv", A, x, one), ("spmspv", A, xs, one),
             ("spmm", A, rand(rng, (30, 3), 0.7, cfg), one),
             ("gemv", rand(rng, (6, 9), 0.6, cfg), rand(rng, 9, 1.0, cfg), one),
             ("ewadd", A, rand(rng, A.shape, 0.3, cfg), one),
             # Several tiles each, without and with double buffering.
             ("spmv", rand(rng, (rows, 200), 0.3, cfg), rand(rng, 200, 1.0, cfg), both),
             ("spgemm", rand(rng, (rows, 60), 0.2, cfg), rand(rng, (60, 50), 0.2, cfg), both)]
    builds = {(gating, double): Runtime(acc_config(clock_gating=gating), sim,
                                            double_buffer=double)
              for gating in (True, False) for double in both}
    for kernel, a, b, modes in cases:
        for double in modes:
            (got, st), (want, ref) = (getattr(builds[g, double], kernel)(a, b)
                                      for g in (True, False))
            assert st["tiles"] > 1 or modes is one
            equal = (got != want).nnz == 0 if hasattr(got, "nnz") else np.array_equal(got, want)
            assert equal, f"{kernel}: results differ with clock gating"
            for key in ref:
                if key != "sim_cycles_per_s":
                    assert st[key] == ref[key], f"{kernel}: {key} {st[key]} gated, {ref[key]} not"


@pytest.mark.cocotb
@pytest.mark.parametrize("host_stage", [False, True])
def test_host_read_latency_only_delays_the_responses(sim, host_stage):
    """``host_latency`` 3 (two registered levels of the banks' read mux, or with
    ``host_stage`` the requests registered beside each bank and one level, as in the ULX3S
    preset): results match the golden model and the latency-1 build, and every cycle figure
    is the same except two: a run ends 1 cycle later (the register bank, START included, acts
    on the second edge after acceptance) and reading back 2 cycles later, per tile (the reads
    stay pipelined, one a cycle)."""
    rng = np.random.default_rng(12)
    cfg = acc_config()
    A = rand(rng, (14, 30), 0.3, cfg)
    cases = [("spmv", A, rand(rng, 30, 1.0, cfg)), ("spmm", A, rand(rng, (30, 3), 0.7, cfg)),
             ("spmv", rand(rng, (16, 200), 0.3, cfg), rand(rng, 200, 1.0, cfg))]
    # Without double buffering (whose loads stall on the lanes' write ports, and so move
    # with the run's start), every other figure is the same.
    staged = {"host_stage": True, "double_buffer": False} if host_stage else {}
    slow, ref = (Runtime(acc_config(host_latency=lat, **more), sim, double_buffer=False)
                 for lat, more in ((3, staged), (1, {})))
    later = {"cycles": 1, "sim_cycles": 1, "compute_cycles": 1, "read_cycles": 2,
             "end_to_end_cycles": 3}
    for kernel, a, b in cases:
        st, rst = check(slow, kernel, a, b), check(ref, kernel, a, b)
        for key in rst:
            if key not in ("sim_cycles_per_s", "utilization"):
                want = rst[key] + later[key] * st["tiles"] if key in later else rst[key]
                assert st[key] == want, f"{kernel}: {key} {st[key]}, {rst[key]} at latency 1"
    assert st["tiles"] > 1
    if not host_stage:
        # With it: the host writes the next tile while the lanes run.
        st = check(Runtime(acc_config(host_latency=3), sim), *cases[-1])
        assert st["tiles"] > 1 and st["hidden_cycles"] > 0


@pytest.mark.cocotb
def test_banks_change_hands_a_cycle_late_with_host_stage(sim):
    """With ``host_stage`` a scratchpad request reaches its bank a cycle after it is accepted,
    so the banks go to the lanes a cycle after the sequencer starts. Writes played one a
    cycle right after START are each refused (BUSY) or written, none lost: a write accepted
    in the last cycle before the sequencer runs must still land (with the banks handed over
    at once it would reach a bank the lanes own)."""
    from zerohero.sim.harness import build

    cfg = acc_config(host_latency=3, host_stage=True, double_buffer=False)
    rmap = RegisterMap(cfg)
    control = rmap["CONTROL"]
    start = (control.offset, 1 << next(f for f in control.fields if f.name == "START").lsb)
    firmware = [(rmap.fw_base + i, w)
                for i, w in enumerate(assemble("ldi r0, 40\nloop: djnz r0, loop\nhalt", 1))]
    parts, top = rmap.spm_word_parts, rmap.spm_word_parts - 1
    words = [(b, w) for b in range(cfg.spm_banks) for w in range(3)]
    writes = [(rmap.spm_addr(b, w, p), 100 + i if p == 0 else 0)
              for i, (b, w) in enumerate(words) for p in range(parts)]
    jobs = [{"late_writes": firmware, "start": start, "reads": [], "timeout": 500},
            # Played while job 0 starts (overlap); read back after job 1's own run.
            {"writes": writes, "start": start, "timeout": 500,
             "reads": [rmap.spm_addr(b, w) for b, w in words]}]
    played = build(cfg, "accelerator", sim, player=True).play(jobs, overlap=True)["jobs"]
    assert all(job["irq"] for job in played), played
    refused = {addr for addr, we in played[1]["errors"] if we}
    landed = 0
    for i, ((b, w), got) in enumerate(zip(words, played[1]["reads"])):
        if rmap.spm_addr(b, w, top) in refused:
            assert got == 0, f"bank {b} word {w}: refused, yet it reads {got}"
        else:
            assert got == 100 + i, f"bank {b} word {w}: written without error, reads {got}"
            landed += 1
    # The window is exercised: some writes land before the run, the rest are refused.
    assert 0 < landed < len(words), (landed, sorted(refused))


@pytest.mark.cocotb
@pytest.mark.parametrize("command_latency", [0, 1, 2])
def test_pipelined_sequencer_only_delays_the_run(sim, command_latency):
    """``status_latency`` 1 and ``predict_jumps`` (the ULX3S preset: the lanes' status
    registered before the sequencer, its fetch taking every djnz as taken), with
    ``command_latency`` 0, 1 and 2 (the commands staged on their way to the lanes; with 2 a
    stage per group of lanes first, so 5 lanes: two groups): results match the golden model
    and the plain build, and the only figure that moves is the run's cycles, by one per
    ``wait`` and one more per command stage (the lanes start that much later) and one per
    ``djnz`` that falls through (rowwise.s: a wait per column of B, one column loop, per
    tile)."""
    rng = np.random.default_rng(13)
    cfg = acc_config()
    if command_latency == 2:
        cfg = cfg.replace(lanes=5, spm_banks=10)
    A = rand(rng, (14, 30), 0.3, cfg)
    cases = [("spmv", A, rand(rng, 30, 1.0, cfg), 1), ("spmm", A, rand(rng, (30, 3), 0.7, cfg), 3),
             ("spmv", rand(rng, (8 * cfg.lanes, 200), 0.3, cfg), rand(rng, 200, 1.0, cfg), 1)]
    slow = Runtime(cfg.replace(status_latency=1, predict_jumps=True,
                                   command_latency=command_latency), sim)
    ref = Runtime(cfg, sim)
    for kernel, a, b, waits in cases:
        st, rst = check(slow, kernel, a, b), check(ref, kernel, a, b)
        for key in rst:
            if key not in ("sim_cycles_per_s", "utilization"):
                per_tile = (1 + command_latency) * waits + 1
                moves = key in ("cycles", "sim_cycles", "compute_cycles", "end_to_end_cycles")
                want = rst[key] + per_tile * st["tiles"] if moves else rst[key]
                assert st[key] == want, f"{kernel}: {key} {st[key]}, {rst[key]} unpipelined"
    assert st["tiles"] > 1


def test_bad_operands_are_rejected_before_running():
    cfg = acc_config()
    acc = Runtime(cfg, "verilator")        # nothing is built: every call fails first
    with pytest.raises(ValueError, match="spmv: A has 4 columns but the second operand has 5"):
        acc.spmv(np.ones((3, 4), dtype=np.int64), np.ones(5, dtype=np.int64))
    with pytest.raises(ValueError, match="does not fit signed 8-bit"):
        acc.spmv(np.full((2, 2), 300), np.ones(2, dtype=np.int64))
    with pytest.raises(ValueError, match="coordinates have 8 bits"):
        acc.spmv(np.ones((2, 300), dtype=np.int64), np.ones(300, dtype=np.int64))
    with pytest.raises(ValueError, match="x must be 1-D"):
        acc.spmv(np.ones((2, 2), dtype=np.int64), np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        Runtime(cfg, "gpu")
    assert acc._built is None


def firmware_job(cfg, source):
    """A program of hand-written firmware that reads back STATUS and ERROR."""
    rmap = RegisterMap(cfg)
    words = assemble(source, cfg.lanes) if isinstance(source, str) else source
    control = rmap["CONTROL"]
    start = next(f for f in control.fields if f.name == "START").lsb
    return Program("firmware", [(rmap.fw_base + i, w) for i, w in enumerate(words)],
                   (control.offset, 1 << start),
                   [rmap.addr_of("STATUS"), rmap.addr_of("ERROR")], None, words, "", 500)


@pytest.mark.cocotb
def test_firmware_errors_halt_with_a_code(sim):
    cfg = acc_config()
    acc = Runtime(cfg, sim)
    rmap = RegisterMap(cfg)
    status = {f.name: f for f in rmap["STATUS"].fields}
    cases = {
        "ILLEGAL": [0xF0000000],                                   # unknown opcode
        "RANGE": f"cfg 0, A_POS, {cfg.spm_depth}\nhalt",           # beyond the bank
        "NONE": "cfg *, A_ROWS, 0\nrun *\nwait *\nhalt",           # an empty job completes
    }
    jobs = acc.execute([firmware_job(cfg, src) for src in cases.values()])
    for (name, _), job in zip(cases.items(), jobs):
        value, error = job["reads"]
        assert error & 0xFF == ERRORS[name], f"{name}: ERROR register {error:#x}"
        assert bool(value >> status["ERROR"].lsb & 1) == (name != "NONE")
        assert bool(value >> status["DONE"].lsb & 1) == (name == "NONE")


@pytest.mark.parametrize("name", ["sim-small", "icebreaker", "ulx3s-85f"])
def test_largest_operands_that_fit_each_preset(name):
    """At every preset's capacity the scheduler plans the job; one word more is refused with
    a clear error before anything runs (the RTL runs above use a small configuration)."""
    from zerohero.firmware.scheduler import plan_rowwise
    from zerohero.spec.config import preset

    cfg = preset(name)
    n = cfg.spm_depth - 2                       # one row per lane: pos (2 words) + n entries
    rows = cfg.lanes
    pos = np.arange(rows + 1) * n
    crd = np.tile(np.arange(n), rows)
    x = np.ones(n + 1, dtype=np.int64)          # vector bank: n + 1 words + 1 result = full
    wide = model.CSR((rows, n + 1), pos, crd, np.ones(rows * n, dtype=np.int64))
    program = plan_rowwise(cfg, "spmv", wide, x)
    assert len(program.firmware) <= cfg.fw_depth
    wider = model.CSR((rows, n + 2), pos, crd, np.ones(rows * n, dtype=np.int64))
    with pytest.raises(ValueError, match=f"B and the results needs {cfg.spm_depth + 1} words"):
        plan_rowwise(cfg, "spmv", wider, np.ones(n + 2, dtype=np.int64))
    longer = model.CSR((rows, n + 1), pos + np.r_[0, np.ones(rows, dtype=np.int64)],
                       np.r_[np.arange(n + 1), np.tile(np.arange(n), rows - 1)],
                       np.ones(rows * n + 1, dtype=np.int64))
    with pytest.raises(ValueError, match=f"rows of A needs {cfg.spm_depth + 1} words"):
        plan_rowwise(cfg, "spmv", longer, np.ones(n + 1, dtype=np.int64))


@pytest.mark.cocotb
def test_end_to_end_figures_count_the_host_bus(sim):
    """``end_to_end_cycles`` adds the bus cycles of loading and reading back to the compute
    cycles; the words each way are the program's. Checked against the bus player's own counts:
    each write of a single-tile load takes one bus cycle (START is not loading), and the reads
    are pipelined, one a cycle from the cycle after irq. The model backend gives the same
    words from the same plan."""
    cfg = acc_config()
    rng = np.random.default_rng(21)
    A, x = rand(rng, (14, 30), 0.3, cfg), rand(rng, 30, 1.0, cfg)
    st = check(Runtime(cfg, sim, double_buffer=False), "spmv", A, x)
    assert st["tiles"] == 1 and st["hidden_cycles"] == 0
    assert st["compute_cycles"] == st["cycles"]
    assert st["end_to_end_cycles"] == st["cycles"] + st["load_cycles"] + st["read_cycles"]
    assert st["load_cycles"] == st["host_words_out"] - 1
    # the first read the cycle after irq is seen, the last response host_latency later
    assert st["read_cycles"] == st["host_words_in"] + 1 + cfg.host_latency
    _, mst = Runtime(cfg, "model").spmv(A, x)
    assert (mst["host_words_out"], mst["host_words_in"]) == (st["host_words_out"],
                                                             st["host_words_in"])
