"""Sparse-output kernels (spgemm, ewmul, ewadd) end to end: runtime -> firmware -> RTL with the
compressed writer -> scipy CSR, bit-exact against the golden model; zero policy; CLI."""

import json

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from conftest import SCALE, acc_config, rand

from zerohero.cli import main
from zerohero.runtime import Runtime
from zerohero import model
from zerohero.sim.harness import ROOT

DATA = ROOT / "data" / "suitesparse"


def golden(kernel, A, B, sem, relu=False):
    A, B = model.to_format(A, "csr"), model.to_format(B, "csr")
    if kernel == "ewmul":
        return model.ewmul(A, B, sem)
    return getattr(model, kernel)(A, B, sem, relu=relu)


def check(acc, kernel, A, B, relu=False):
    """Run on the accelerator; the CSR must equal the golden model's entry for entry (same
    structure: no stored zeros, sorted columns) and issue exactly the useful operations."""
    C, stats = acc.ewmul(A, B) if kernel == "ewmul" else getattr(acc, kernel)(A, B, relu=relu)
    want = golden(kernel, A, B, acc.sem, relu)
    assert isinstance(C, scipy.sparse.csr_array)
    assert C.shape == want.shape
    assert C.has_sorted_indices
    assert np.array_equal(C.indptr, want.pos), f"{kernel}: row pointers differ"
    assert np.array_equal(C.indices, want.crd), f"{kernel}: columns differ"
    assert np.array_equal(C.data, want.vals), f"{kernel}: values differ"
    assert not (C.data == 0).any()
    assert stats["macs"] == stats["useful_macs"]
    assert stats["cycles"] >= stats["ideal_cycles"]
    return C, stats


@pytest.mark.cocotb
def test_sparse_kernels_random_and_edge_cases(sim):
    cfg = acc_config()
    acc = Runtime(cfg, sim)
    rng = np.random.default_rng(5)
    s = SCALE[sim]
    rows, cols = max(4, int(16 * s)), max(5, int(20 * s))
    A = rand(rng, (rows, cols), 0.3, cfg)
    B = rand(rng, (rows, cols), 0.3, cfg)
    A[1] = 0                                    # empty row of A
    B[:, 2] = 0                                 # empty column of B
    A[3] = np.maximum(A[3], -cfg.value_max)
    B[3] = -A[3]                                # row 3: a + b cancels everywhere
    C, _ = check(acc, "ewadd", A, B)
    assert C.indptr[4] == C.indptr[3], "cancelled sums must be dropped"
    check(acc, "ewadd", A, B, relu=True)
    check(acc, "ewmul", A, B)
    # Disjoint patterns: an entirely-zero product, every row empty.
    even = np.zeros((rows, cols), dtype=np.int64)
    even[:, ::2] = 3
    odd = np.zeros((rows, cols), dtype=np.int64)
    odd[:, 1::2] = -3
    C, _ = check(acc, "ewmul", even, odd)
    assert C.nnz == 0
    # SpGEMM: random, empty rows/columns, cancellation, overflow (16-bit accumulator wraps).
    Bm = rand(rng, (cols, max(3, int(12 * s))), 0.3, cfg)
    Bm[:, 0] = 0                                # empty column of C
    check(acc, "spgemm", A, Bm)
    check(acc, "spgemm", A, Bm, relu=True)
    cancel_a = np.array([[1, 1, 0], [2, 0, 0]])
    cancel_b = np.array([[5, 1], [-5, 1], [7, 7]])  # row 0: 5 - 5 = 0, dropped
    C, _ = check(acc, "spgemm", cancel_a, cancel_b)
    assert C.toarray().tolist() == [[0, 2], [10, 2]] and C.nnz == 3
    big = np.full((2, 8), cfg.value_max)        # 8 * 127 * 127 = 129032: wraps at 16 bits
    check(acc, "spgemm", big, big.T.copy())
    C, _ = check(acc, "spgemm", np.zeros((3, 4), dtype=np.int64), rand(rng, (4, 5), 0.5, cfg))
    assert C.nnz == 0 and C.shape == (3, 5)


@pytest.mark.cocotb
def test_sparse_kernels_real_matrix():
    """karate (34 x 34, quantized to 8 bits): A @ A, A .* A^T, A + A^T on Verilator."""
    cfg = acc_config()
    acc = Runtime(cfg, "verilator")
    A = model.load_mtx(DATA / "karate.mtx", values="quantize", value_width=8).to_scipy()
    At = scipy.sparse.csr_array(A.T)
    check(acc, "spgemm", A, A)
    check(acc, "ewmul", A, At)
    check(acc, "ewadd", A, -At)                 # antisymmetric sum: cancellations
    check(acc, "ewadd", A, At)


def test_saturating_spgemm_on_the_model_backend():
    sat = Runtime(acc_config(overflow="saturate"), "model")
    big = np.full((2, 8), 127)
    C, _ = sat.spgemm(big, big.T.copy())
    assert (C.toarray() == 32767).all()


@pytest.mark.cocotb
def test_saturating_spgemm_on_verilator():
    cfg = acc_config(overflow="saturate")
    acc = Runtime(cfg, "verilator")
    rng = np.random.default_rng(8)
    big = np.full((3, 8), cfg.value_max)
    big[1] = cfg.value_min
    check(acc, "spgemm", big, big.T.copy())
    check(acc, "spgemm", rand(rng, (9, 12), 0.5, cfg), rand(rng, (12, 7), 0.5, cfg))


def test_bad_sparse_operands_are_rejected_before_running():
    acc = Runtime(acc_config(), "verilator")
    with pytest.raises(ValueError, match="spgemm: A has 4 columns but the second operand has 5"):
        acc.spgemm(np.ones((3, 4), dtype=np.int64), np.ones((5, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"ewadd: A has shape \(3, 4\) but B has shape \(3, 5\)"):
        acc.ewadd(np.ones((3, 4), dtype=np.int64), np.ones((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="does not fit signed 8-bit"):
        acc.ewmul(np.full((2, 2), 300), np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="a dimension of 300 exceeds the coordinates of "
                                         "coord_width 8 bits"):
        acc.spgemm(np.ones((2, 3), dtype=np.int64), np.ones((3, 300), dtype=np.int64))
    assert acc._built is None


@pytest.mark.parametrize("sem", [model.IntSemantics(8, 16, "wrap"),
                                 model.IntSemantics(8, 16, "saturate"),
                                 model.IntSemantics(16, 32, "saturate")])
@pytest.mark.parametrize("kernel", ["spgemm", "ewmul", "ewadd"])
def test_sparse_reference_equals_the_golden_model(sem, kernel):
    """The CLI's independent NumPy reference (model backend) agrees with the golden model,
    overflow included."""
    from zerohero import run_command as zrun

    rng = np.random.default_rng(7)
    for trial in range(4):
        rows, inner, cols = rng.integers(1, 30, 3)
        A = rand(rng, (rows, inner), 0.6, sem)
        B = rand(rng, (inner, cols) if kernel == "spgemm" else (rows, inner), 0.6, sem)
        Af, Bf = model.from_dense(A, "csr"), model.from_dense(B, "csr")
        for relu in (False, True) if kernel != "ewmul" else (False,):
            want = model.KERNELS[kernel](Af, Bf, sem, relu=relu).to_dense()
            got = zrun.sparse_reference(kernel, Af, Bf, sem, relu)
            assert (got.data != 0).all()            # zero results are not entries
            assert np.array_equal(got.toarray(), want)


def test_cli_sparse_kernels_on_the_model(capsys, tmp_path):
    for kernel in ("spgemm", "ewmul", "ewadd"):
        out = tmp_path / f"{kernel}.mtx"
        status = main(["run", kernel, "--random", "23x17", "--density", "0.2", "--sim", "model",
                       "--out", str(out), "--json"])
        record = json.loads(capsys.readouterr().out)
        assert status == 0 and record["check"] == "pass", record
        C = scipy.io.mmread(str(out))
        assert C.shape == tuple(record["result"]["shape"])
        assert C.nnz == record["result"]["nonzeros"]
    try:
        status = main(["run", "ewmul", "--random", "4x4", "--relu", "--sim", "model"])
    except SystemExit as e:
        status = e.code
    assert status == 2
    assert "ewmul has no fused ReLU" in capsys.readouterr().err


def test_icebreaker_leaves_the_sparse_path_out(capsys):
    status = main(["run", "spgemm", "--random", "30x20", "--config", "icebreaker"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "config icebreaker is built without the sparse-output path" in err


@pytest.mark.cocotb
def test_cli_spgemm_on_verilator(capsys, tmp_path):
    """Shares the sim-small Verilator build with test_run, demo and bench."""
    out = tmp_path / "c.mtx"
    status = main(["run", "spgemm", "--random", "30x20", "--density", "0.15", "--b-cols", "9",
                   "--config", "sim-small", "--out", str(out), "--json", "-q"])
    record = json.loads(capsys.readouterr().out)
    assert status == 0 and record["check"] == "pass", record
    assert record["cycles"] >= record["ideal_cycles"] > 0
    assert scipy.io.mmread(str(out)).shape == (30, 9)
