"""The compute core end to end: SpMSpV on the RTL against the golden model."""

import numpy as np
import pytest
from conftest import unit_config

from zerohero.demo import run_demo
from zerohero.sim.harness import ROOT
from zerohero.sim.model import IntSemantics, from_dense, SparseVector, load_mtx, spmspv as golden
from zerohero.sim.rtl_kernels import spmspv


def random_case(rng, rows, cols, density, cfg):
    dense = np.where(rng.random((rows, cols)) < density,
                     rng.integers(cfg.value_min, cfg.value_max + 1, (rows, cols)), 0)
    dense[rows // 2] = 0                       # an empty row
    dense[-1] = 0                              # empty last row
    dense[1] = 0
    dense[1, cols - 1] = cfg.value_max         # one-element row at the largest coordinate
    A = from_dense(dense, "csr")
    crd = np.flatnonzero(rng.random(cols) < 0.4)
    crd = np.union1d(crd, [cols - 1])
    x = SparseVector(cols, crd, rng.integers(cfg.value_min, cfg.value_max + 1, len(crd)))
    return A, x


@pytest.mark.cocotb
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_spmspv_random_matches_golden(sim, overflow):
    cfg = unit_config(overflow=overflow, coord_width=6)
    rng = np.random.default_rng(3)
    rows = 24 if sim == "verilator" else 10
    A, x = random_case(rng, rows, 64, 0.3, cfg)
    y, stats = spmspv(cfg, A, x, sim=sim, stall=0.2)
    want = golden(A, x, IntSemantics.from_config(cfg))
    bad = np.flatnonzero(y != want)
    assert not len(bad), f"y[{bad[0]}]: got {y[bad[0]]}, expected {want[bad[0]]}"
    # MACs issued are exactly the matched pairs of nonzeros: nothing multiplies a zero.
    dense = A.to_dense()
    xd = x.to_dense()
    useful = int(np.count_nonzero((dense != 0) & (xd[None, :] != 0)))
    assert stats["macs"] == useful


def test_spmspv_rejects_coordinates_beyond_width():
    cfg = unit_config(coord_width=4)
    A = load_mtx(ROOT / "data" / "suitesparse" / "karate.mtx", values="pattern")
    x = SparseVector(34, np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="spmspv: A columns = 34 exceed coord_width 4"):
        spmspv(cfg, A, x)


@pytest.mark.cocotb
def test_demo_on_real_matrix(sim):
    matrix = None if sim == "verilator" else str(ROOT / "data/suitesparse/karate.mtx")
    y, stats = run_demo(sim=sim, matrix=matrix)   # raises on any mismatch with the golden
    assert stats["macs"] > 0 and stats["cycles"] >= stats["ideal_cycles"]
