"""Scanners, the gather locator and the scratchpad: Verilog against the golden model."""

import numpy as np
import pytest
from conftest import SCALE, unit_config

from zerohero.firmware.layout import bitmap_image, csr_image, dense_image
from zerohero.sim.fixtures import ScanBench
from zerohero.sim.harness import ROOT, build, first_mismatch
from zerohero.model import from_dense, load_mtx
from zerohero.spec.tokens import data, encode_fibers, matrix_row_tokens
from zerohero.sim.units import StreamCodec

DATA = ROOT / "data" / "suitesparse"


def bench_config():
    return unit_config(coord_width=12, spm_banks=4, spm_depth=4096)


def random_csr(rng, rows, cols, cfg, lengths):
    dense = np.zeros((rows, cols), dtype=np.int64)
    for r in range(rows):
        n = min(cols, int(rng.choice(lengths)))
        crd = rng.choice(cols, size=n, replace=False)
        dense[r, crd] = rng.integers(cfg.value_min, cfg.value_max + 1, size=n)
    dense[rows // 3] = 0                          # empty rows, the last one too
    dense[-1] = 0
    dense[1] = 0
    dense[1, cols - 1] = cfg.value_min            # one element at the largest coordinate
    return from_dense(dense, "csr")


def scan_run(cfg, A, codec, pos_base=0, crd_base=None, gather=None, stall=0.0, level=1):
    crd_base = A.shape[0] + 1 if crd_base is None else crd_base
    writes = {"load__0": csr_image(cfg, A, pos_base, crd_base)}
    run = {"writes": writes, "pulse": ["cs_start"], "stall": stall, "timeout": 50_000,
           "set": {"cs_pos_base": pos_base, "cs_crd_base": crd_base, "cs_rows": A.shape[0],
                   "cs_level": level, "cs_repeat": 0, "gather": int(gather is not None),
                   "loc_base": 0}}
    if gather is None:
        run["outputs"] = {"scan": codec.done_mask(codec.single)}
    else:
        writes["load__1"] = dense_image(cfg, gather, 0)
        run["outputs"] = {"pairs": codec.done_mask(codec.pair)}
    return run


def expected_scan(A, level=1):
    return matrix_row_tokens(A.pos, A.crd, A.vals, level)


def expected_pairs(A, x):
    out = []
    for t in expected_scan(A):
        out.append(data(t.crd, t.val[0], int(x[t.crd]), stop=t.stop) if t.data else t)
    return out


def check_runs(built, codec, runs, want):
    """Run ``runs``; ``want[i]`` = (output port, token layout, expected tokens) of run i."""
    for i, (res, (port, layout, tokens)) in enumerate(zip(built.run_streams(runs), want)):
        got = codec.decode(res["outputs"][port], layout)
        problem = first_mismatch(got, tokens, f"run {i} {port}")
        assert problem is None, problem


def cases(cfg, sim):
    rng = np.random.default_rng(11)
    small = SCALE[sim] < 1
    out = [random_csr(rng, 20 if small else 60, 200, cfg, lengths)
           for lengths in ([0, 1, 2], [4, 5, 6, 7, 8], [16, 40])]
    out.append(load_mtx(DATA / "karate.mtx", values="pattern"))
    if not small:
        out.append(load_mtx(DATA / "west0479.mtx", values="quantize", value_width=8))
        out.append(load_mtx(DATA / "lp_scsd1.mtx", values="quantize", value_width=8))
    out.append(from_dense(np.zeros((3, 5), dtype=np.int64), "csr"))      # all rows empty
    return out


@pytest.mark.cocotb
def test_compressed_scanner_and_locator(sim):
    cfg = bench_config()
    built = build(cfg, ScanBench, sim)
    codec = StreamCodec(cfg)
    rng = np.random.default_rng(5)
    runs, want = [], []
    for i, A in enumerate(cases(cfg, sim)):
        stall = 0.0 if i % 2 == 0 else 0.3
        runs.append(scan_run(cfg, A, codec, pos_base=3, crd_base=A.shape[0] + 7, stall=stall))
        want.append(("scan", codec.single, expected_scan(A)))
        x = rng.integers(cfg.value_min, cfg.value_max + 1, size=A.shape[1])
        runs.append(scan_run(cfg, A, codec, gather=x, stall=0.3 - stall))
        want.append(("pairs", codec.pair, expected_pairs(A, x)))
    # Repeat: row 0 of a matrix streamed once per row (how SpMSpV meets x with every row).
    for A in cases(cfg, sim)[:2] + [from_dense(np.zeros((4, 6), dtype=np.int64), "csr")]:
        run = scan_run(cfg, A, codec, stall=0.2)
        run["set"]["cs_repeat"] = 1
        runs.append(run)
        row0 = [(int(c), int(v)) for c, v in zip(A.crd[A.pos[0]:A.pos[1]],
                                                 A.vals[A.pos[0]:A.pos[1]])]
        want.append(("scan", codec.single, encode_fibers([row0] * A.shape[0])))
    # A job of no rows is one empty fiber at the job's level.
    empty = from_dense(np.zeros((0, 4), dtype=np.int64), "csr")
    runs.append(scan_run(cfg, empty, codec))
    want.append(("scan", codec.single, encode_fibers([])))
    check_runs(built, codec, runs, want)


@pytest.mark.cocotb
def test_dense_scanner(sim):
    cfg = bench_config()
    built = build(cfg, ScanBench, sim)
    codec = StreamCodec(cfg)
    rng = np.random.default_rng(8)
    runs, want = [], []
    for rows, cols, stride in [(5, 7, 9), (1, 1, 1), (4, 0, 4), (0, 3, 3), (12, 16, 16)]:
        a = rng.integers(cfg.value_min, cfg.value_max + 1, size=(rows, cols))
        a[rng.random(a.shape) < 0.3] = 0
        writes = dense_image(cfg, a, 5, stride) if rows and cols else []
        runs.append({"writes": {"load__1": writes}, "pulse": ["ds_start"], "stall": 0.3,
                     "set": {"ds_base": 5, "ds_stride": stride, "ds_rows": rows,
                             "ds_cols": cols, "ds_level": 1},
                     "outputs": {"dense": codec.done_mask(codec.single)}})
        want.append(("dense", codec.single,
                     encode_fibers([[(c, int(a[r, c])) for c in range(cols)]
                                    for r in range(rows)])))
    check_runs(built, codec, runs, want)


@pytest.mark.cocotb
def test_bitmap_scanner(sim):
    cfg = bench_config()
    built = build(cfg, ScanBench, sim)
    codec = StreamCodec(cfg)
    rng = np.random.default_rng(9)
    mats = []
    for rows, cols, density in [(6, 70, 0.1), (8, 32, 0.5), (5, 100, 0.02), (3, 0, 0.0),
                                (0, 10, 0.0), (4, 64, 1.0)]:
        a = np.where(rng.random((rows, cols)) < density,
                     rng.integers(1, cfg.value_max + 1, (rows, cols)), 0)
        if rows > 2 and cols > 40:
            a[1] = 0
            a[2, :] = 0
            a[2, 3] = 5                  # the row's only bit is in its first word
        mats.append(a)
    runs, want = [], []
    for a in mats:
        Bm = from_dense(a, "bitmap")
        runs.append({"writes": {"load__2": bitmap_image(cfg, Bm, 4, 300)},
                     "pulse": ["bm_start"], "stall": 0.3,
                     "set": {"bm_bitmap_base": 4, "bm_val_base": 300, "bm_rows": a.shape[0],
                             "bm_cols": a.shape[1], "bm_level": 1},
                     "outputs": {"bitmap": codec.done_mask(codec.single)}})
        want.append(("bitmap", codec.single,
                     encode_fibers([[(c, int(a[r, c])) for c in range(a.shape[1]) if a[r, c]]
                                    for r in range(a.shape[0])])))
    check_runs(built, codec, runs, want)
