"""``zerohero run``: operands from files or generated, every kernel on the model backend, the
independent NumPy reference, quantization, --out, every input error, and one Verilator run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from zerohero import run_command as zrun
from zerohero.cli import main
from zerohero.spec.config import preset
from zerohero import model
from zerohero.sim.harness import ROOT

DATA = ROOT / "data" / "suitesparse"
CFG = preset("sim-small")
SEM = model.IntSemantics.from_config(CFG)
KEYS = {"kernel", "config", "backend", "check", "cycles", "ideal_cycles", "utilization", "macs",
        "zeros_skipped"}


def run(capsys, *args):
    """``zerohero run ARGS --json`` in process: ``(status, record or None, stderr)``."""
    try:
        status = main(["run", *args, "--json"])
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


def model_run(capsys, *args):
    status, record, err = run(capsys, *args, "--sim", "model")
    assert status == 0, err
    assert record["check"] == "pass"
    return record


def npy(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, np.asarray(array))
    return str(path)


def mtx(tmp_path, name, matrix, **kw):
    path = tmp_path / name
    scipy.io.mmwrite(str(path), matrix, **kw)
    return str(path)


# Model backend: every kernel, generated operands --------------------------------------------

@pytest.mark.parametrize("kernel", [k for k in zrun.KERNELS if k not in zrun.SPARSE_B])
@pytest.mark.parametrize("relu", [False, True])
def test_every_kernel_generated_on_model(capsys, tmp_path, kernel, relu):
    out = tmp_path / "c.npy"
    args = [kernel, "--random", "37x29", "--density", "0.2", "--seed", "3", "--out", str(out)]
    r = model_run(capsys, *args, *(["--relu"] if relu else []))
    assert KEYS <= set(r)
    assert (r["kernel"], r["config"], r["backend"], r["relu"]) == (kernel, "sim-small", "model",
                                                                   relu)
    assert r["cycles"] is None and r["utilization"] is None and r["zeros_skipped"] is None
    assert r["a"]["shape"] == [37, 29]
    if kernel in ("spmv", "spmspv", "spmm"):
        assert r["a"]["stored"] == round(0.2 * 37 * 29)
    b_shape = [29] if kernel in zrun.VECTOR_B else [29, 8]
    assert r["b"]["shape"] == b_shape
    c = np.load(out)
    assert list(c.shape) == r["result"]["shape"] == [37] + b_shape[1:]
    assert (c >= 0).all() if relu else (c < 0).any()
    # The same operands through the golden model directly.
    a = zrun.random_a(kernel, 37, 29, 0.2, 127, 3)
    b = zrun.random_b(kernel, 29, 0.2, 8, 127, 3)
    A, B, _, _ = zrun.kernel_operands(kernel, a, b)
    assert np.array_equal(c, model.KERNELS[kernel](A, B, SEM, relu=relu))
    assert r["macs"] == r["useful_macs"] and r["ideal_cycles"] == -(-r["macs"] // CFG.lanes)


def test_generated_operands_follow_the_options(capsys):
    r = model_run(capsys, "spmspv", "--random", "50x400", "--density", "0.05", "--seed", "9",
                  "--max-value", "3")
    assert r["a"]["stored"] == 1000 and r["b"]["stored"] == 20
    assert "values in [-3, 3]" in r["a"]["source"]
    a = zrun.random_a("spmspv", 50, 400, 0.05, 3, 9)
    assert set(np.abs(a.sparse.data)) <= {1, 2, 3} and 0 not in a.sparse.data
    full = model_run(capsys, "spmm", "--random", "8x8", "--max-value", "full", "--b-cols", "3")
    assert f"[-{CFG.value_max}, {CFG.value_max}]" in full["a"]["source"]
    assert full["result"]["shape"] == [8, 3]
    # At least one nonzero however small the density.
    assert model_run(capsys, "spmv", "--random", "4x4", "--density", "1e-9")["a"]["stored"] == 1


def test_seed_decides_and_b_does_not_depend_on_a(capsys, tmp_path):
    def result(*args):
        out = tmp_path / "r.npy"
        model_run(capsys, "spmv", *args, "--out", str(out))
        return np.load(out)

    assert np.array_equal(result("--random", "30x20", "--seed", "5"),
                          result("--random", "30x20", "--seed", "5"))
    assert not np.array_equal(result("--random", "30x20", "--seed", "5"),
                              result("--random", "30x20", "--seed", "6"))
    # A from a file, B generated from the same seed: the B of a generated run.
    a = zrun.random_a("spmv", 30, 20, 0.1, 127, 5).sparse
    path = mtx(tmp_path, "a.mtx", a)
    assert np.array_equal(result("--a", path, "--seed", "5"),
                          result("--random", "30x20", "--seed", "5"))


# Model backend: operands from files -------------------------------------------------------

def test_integer_and_pattern_matrix_market_run_as_they_are(capsys, tmp_path):
    r = model_run(capsys, "spmv", "--a", str(DATA / "Trec4.mtx"))
    assert r["a"] == {"source": "Trec4.mtx", "shape": [2, 3], "stored": 3, "scale": 1.0,
                      "quantized": False}
    assert r["quantization_rel_error"] is None
    out = tmp_path / "y.npy"
    r = model_run(capsys, "spmspv", "--a", str(DATA / "karate.mtx"), "--out", str(out))
    assert r["a"]["stored"] == 156  # symmetric file, both triangles
    A = model.load_mtx(DATA / "karate.mtx", values="pattern")
    x = zrun.kernel_operands("spmspv", zrun.Raw("a", sparse=A.to_scipy().tocoo(),
                                                real=A.to_scipy().tocoo()),
                             zrun.random_b("spmspv", 34, 0.1, 8, 127, 0))[1]
    assert np.array_equal(np.load(out), model.spmspv(A, x, SEM))


def test_npy_and_mtx_operands_for_every_kernel(capsys, tmp_path):
    rng = np.random.default_rng(1)
    A = np.where(rng.random((12, 10)) < 0.3, rng.integers(-50, 51, (12, 10)), 0)
    x = rng.integers(-9, 10, 10)
    B = rng.integers(-9, 10, (10, 4))
    a_npy, a_mtx = npy(tmp_path, "a.npy", A), mtx(tmp_path, "a.mtx", scipy.sparse.coo_matrix(A))
    cases = {
        "spmv": [npy(tmp_path, "x.npy", x), npy(tmp_path, "xcol.npy", x[:, None]),
                 mtx(tmp_path, "xrow.mtx", scipy.sparse.coo_matrix(x[None, :]))],
        "gemv": [npy(tmp_path, "x.npy", x)],
        "spmspv": [npy(tmp_path, "x.npy", x),
                   mtx(tmp_path, "xs.mtx", scipy.sparse.coo_matrix(x[:, None]))],
        "spmm": [npy(tmp_path, "b.npy", B), mtx(tmp_path, "b.mtx", scipy.sparse.coo_matrix(B))],
        "gemm": [npy(tmp_path, "b.npy", B)],
    }
    out = tmp_path / "c.npy"
    for kernel, b_files in cases.items():
        want = A @ (x if kernel in zrun.VECTOR_B else B)
        for a_file in (a_npy, a_mtx):
            for b_file in b_files:
                model_run(capsys, kernel, "--a", a_file, "--b", b_file, "--out", str(out))
                assert np.array_equal(np.load(out), want), (kernel, a_file, b_file)


def test_float_arrays_of_whole_numbers_run_exactly(capsys, tmp_path):
    A = np.array([[1.0, 0.0, -3.0], [0.0, 2.0, 0.0]])
    r = model_run(capsys, "gemv", "--a", npy(tmp_path, "a.npy", A),
                  "--b", npy(tmp_path, "x.npy", [True, False, True]))
    assert not r["a"]["quantized"] and not r["b"]["quantized"]


def test_out_writes_mtx(capsys, tmp_path):
    for kernel, shape in (("spmv", (25, 1)), ("spmm", (25, 8))):
        out, ref = tmp_path / f"{kernel}.mtx", tmp_path / f"{kernel}.npy"
        args = [kernel, "--random", "25x25", "--seed", "2"]
        model_run(capsys, *args, "--out", str(out))
        model_run(capsys, *args, "--out", str(ref))
        assert scipy.io.mminfo(str(out))[4] == "integer"
        back = scipy.io.mmread(str(out)).toarray()
        assert back.shape == shape
        assert np.array_equal(back, np.load(ref).reshape(shape))


# Quantization ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["west0479", "cage5", "494_bus", "GD97_b"])
def test_quantize_matches_load_mtx(name):
    raw = zrun.read_operand(str(DATA / f"{name}.mtx"), "A")
    q = zrun.integerize(raw, "A", CFG, allow_quantize=True)
    want = model.load_mtx(DATA / f"{name}.mtx", values="quantize", value_width=16)
    assert model.from_scipy(q.sparse, "csr") == want
    assert q.scale == pytest.approx(np.abs(raw.sparse.data).max() / CFG.value_max)


def test_real_operands_quantized_report_the_error(capsys, tmp_path):
    path = DATA / "cage5.mtx"
    rng = np.random.default_rng(4)
    x = rng.normal(size=37)
    out = tmp_path / "y.npy"
    r = model_run(capsys, "spmv", "--a", str(path), "--b", npy(tmp_path, "x.npy", x),
                  "--quantize", "--out", str(out))
    assert r["a"]["quantized"] and r["b"]["quantized"]
    Af = scipy.io.mmread(str(path)).tocsr()
    sa, sb = np.abs(Af.data).max() / 32767, np.abs(x).max() / 32767
    assert (r["a"]["scale"], r["b"]["scale"]) == (pytest.approx(sa), pytest.approx(sb))
    want = Af @ x
    err = np.abs(np.load(out) * sa * sb - want).max() / np.abs(want).max()
    assert r["quantization_rel_error"] == pytest.approx(err)
    assert 0 < err < 1e-3
    # Only the operand that needs it is quantized; the text report names the error.
    assert main(["run", "spmv", "--sim", "model", "--a", str(path), "--quantize"]) == 0
    text = capsys.readouterr().out
    assert "quantized with scale" in text and "largest relative error against float64" in text


def test_quantize_takes_out_of_range_integers(capsys, tmp_path):
    A = np.array([[70000, 0], [0, -5]])
    r = model_run(capsys, "spmv", "--a", npy(tmp_path, "a.npy", A), "--quantize")
    assert r["a"]["scale"] == pytest.approx(70000 / 32767)
    assert r["quantization_rel_error"] < 1e-3


# The independent reference of the model backend ----------------------------------------------

@pytest.mark.parametrize("sem", [model.IntSemantics(8, 16, "wrap"),
                                 model.IntSemantics(8, 16, "saturate"),
                                 model.IntSemantics(32, 64, "wrap"),
                                 model.IntSemantics(32, 64, "saturate"),
                                 model.IntSemantics(16, 40, "saturate")])
@pytest.mark.parametrize("kernel", [k for k in zrun.KERNELS if k not in zrun.SPARSE_B])
def test_numpy_reference_equals_the_golden_model_with_overflow(sem, kernel):
    rng = np.random.default_rng(hash((sem.acc_width, sem.overflow, kernel)) % 2**32)
    for trial in range(4):
        rows, cols = rng.integers(1, 30, 2)
        vals = rng.integers(sem.value_min, sem.value_max + 1, (rows, cols))
        A = np.where(rng.random((rows, cols)) < 0.6, vals, 0)
        shape = (cols,) if kernel in zrun.VECTOR_B else (cols, int(rng.integers(1, 5)))
        B = np.where(rng.random(shape) < 0.8,
                     rng.integers(sem.value_min, sem.value_max + 1, shape), 0)
        if kernel == "spmspv":
            B = model.SparseVector.from_dense(B)
        Af = model.from_dense(A, "csr") if kernel in zrun.SPARSE_A else A
        for relu in (False, True):
            want = model.KERNELS[kernel](Af, B, sem, relu=relu)
            got = zrun.numpy_reference(kernel, Af, B, sem, relu)
            assert got.dtype == np.int64 and np.array_equal(got, want), (trial, relu)


# Failures and bad input ------------------------------------------------------------------

def test_failed_check_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(zrun, "numpy_reference",
                        lambda kernel, A, B, sem, relu: np.full(A.shape[0], 12345))
    status, r, err = run(capsys, "spmv", "--sim", "model", "--random", "6x6")
    assert status == 1 and r["check"] == "fail" and r["mismatches"] == 6
    assert r["first_mismatch"]["index"] == [0] and r["first_mismatch"]["expected"] == 12345
    assert err.strip().splitlines()[-1].startswith("zerohero: error: check failed: 6 of 6")


def test_simulation_failure_exits_1(capsys, monkeypatch):
    from zerohero.runtime import Runtime

    def fail(self, A, B, relu=False):
        raise RuntimeError("spmv: no completion within 100 cycles\nmore detail")

    monkeypatch.setattr(Runtime, "spmv", fail)
    status, r, err = run(capsys, "spmv", "--sim", "model", "--random", "6x6")
    assert status == 1 and r is None
    assert err.strip() == ("zerohero: error: model run failed: spmv: no completion within "
                           "100 cycles (ZH_DEBUG=1 shows the details)")


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "garbage.mtx").write_text("this is not matrix market\n1 2 3\n")
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "a.txt").write_text("1 2\n")
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    np.save(tmp_path / "vec.npy", np.arange(5))
    np.save(tmp_path / "m54.npy", np.ones((5, 4), dtype=np.int64))
    np.save(tmp_path / "m33.npy", np.ones((3, 3), dtype=np.int64))
    np.save(tmp_path / "big.npy", np.array([[1, 40000], [0, 1]]))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    np.save(tmp_path / "subnormal.npy", np.array([[1e-310, 0.0]]))
    np.save(tmp_path / "tinier.npy", np.array([1e-320, 0.0, 2e-320]))     # scale exactly 0
    (tmp_path / "huge.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n"
                                       "100000000 100000000 1\n1 1 1\n")
    (tmp_path / "complex.mtx").write_text(
        "%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1.0 2.0\n")
    head = "%%MatrixMarket matrix coordinate integer "
    for name, text in {
        "dup.mtx": "general\n2 2 3\n1 1 1\n2 2 1\n1 1 1\n",
        "dupvec.mtx": "general\n2 1 2\n1 1 1\n1 1 1\n",
        "both.mtx": "symmetric\n2 2 3\n1 1 1\n2 1 5\n1 2 5\n",
        "sym32.mtx": "symmetric\n3 2 1\n1 1 1\n",
        "skewdiag.mtx": "skew-symmetric\n2 2 1\n1 1 1\n",
        "extra.mtx": "general\n2 2 1\n1 1 1 9\n",
    }.items():
        (tmp_path / name).write_text(head + text)
    (tmp_path / "array00.mtx").write_text("%%MatrixMarket matrix array real general\n0 0\n")
    (tmp_path / "array03.mtx").write_text("%%MatrixMarket matrix array real general\n0 3\n")
    np.save(tmp_path / "empty30.npy", np.zeros((3, 0)))
    np.savez(tmp_path / "archive.npz", a=np.eye(2))
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    np.save(tmp_path / "objects.npy", np.array([{}], dtype=object), allow_pickle=True)
    (tmp_path / "folder.mtx").mkdir()
    os.mkfifo(tmp_path / "fifo.npy")
    return tmp_path


ERRORS = [
    (["spmv", "--a", "{d}/missing.mtx"], "--a {d}/missing.mtx: no such file"),
    (["spmv", "--a", "{d}/a.txt"], "expected a .mtx (Matrix Market) or .npy (NumPy) file"),
    (["spmv", "--a", "{d}/garbage.mtx"], "--a {d}/garbage.mtx: line 1: expected the header "
                                          "'%%MatrixMarket matrix LAYOUT FIELD SYMMETRY'"),
    # One reader, one set of rules, for every operand and kernel (issue 32).
    (["spmv", "--a", "{d}/dup.mtx"], "--a {d}/dup.mtx: line 5: (1, 1) is listed twice (also "
                                     "on line 3); each entry is listed once (nothing is summed)"),
    (["gemv", "--a", "{d}/dup.mtx"], "--a {d}/dup.mtx: line 5: (1, 1) is listed twice"),
    (["spmv", "--random", "4x2", "--b", "{d}/dupvec.mtx"], "--b {d}/dupvec.mtx: line 4: (1, 1) "
                                                           "is listed twice"),
    (["spgemm", "--random", "4x2", "--b", "{d}/dup.mtx"], "--b {d}/dup.mtx: line 5"),
    (["spmv", "--a", "{d}/both.mtx"], "--a {d}/both.mtx: line 5: (1, 2) is not in the "
                                      "symmetric file's lower triangle"),
    (["spmv", "--a", "{d}/sym32.mtx"], "line 2: a symmetric matrix is square, but the size is "
                                       "3 x 2"),
    (["spmv", "--a", "{d}/skewdiag.mtx"], "line 3: (1, 1) is not in the skew-symmetric file's "
                                          "strictly lower triangle"),
    (["spmv", "--a", "{d}/extra.mtx"], "--a {d}/extra.mtx: line 3: expected ROW COL VALUE, not "
                                       "'1 1 1 9'"),
    (["spmv", "--a", "{d}/array00.mtx"], "--a {d}/array00.mtx: the operand is empty (0 x 0)"),
    (["gemv", "--a", "{d}/array03.mtx"], "--a {d}/array03.mtx: the operand is empty (0 x 3)"),
    (["spmv", "--a", "{d}/empty30.npy"], "--a {d}/empty30.npy: the operand is empty (3 x 0)"),
    (["spmv", "--a", "{d}/archive.npy"], "not a .npy array (it is a .npz archive of arrays)"),
    (["spmv", "--a", "{d}/objects.npy"], "not a readable .npy array (it holds pickled Python "
                                         "objects, which are never loaded)"),
    (["spmv", "--a", "{d}/folder.mtx"], "--a {d}/folder.mtx: is a directory"),
    (["spmv", "--a", "{d}/fifo.npy"], "--a {d}/fifo.npy: not a regular file"),
    (["spmv", "--a", "{d}/garbage.npy"], "not a readable .npy array"),
    (["spmv", "--a", "{d}/strings.npy"], "expected an array of numbers"),
    (["spmv", "--a", "{d}/complex.mtx"], "complex values are not supported"),
    (["spmv", "--random", "4x4", "--b", "{d}/missing.npy"], "--b {d}/missing.npy: no such file"),
    (["spmv", "--a", "{d}/vec.npy"], "spmv: A must be a 2-D matrix, not shape (5,)"),
    (["spmv", "--a", "{d}/m54.npy", "--b", "{d}/vec.npy"],
     "spmv: A has 4 columns but the second operand has 5 rows"),
    (["spmv", "--a", "{d}/m33.npy", "--b", "{d}/m33.npy"],
     "spmv: B must be a vector (shape (n,), (n, 1) or (1, n)), not shape (3, 3)"),
    (["gemm", "--a", "{d}/m54.npy", "--b", "{d}/vec.npy"],
     "gemm: B must be a 2-D matrix, not shape (5,)"),
    (["spmm", "--a", "{d}/m54.npy", "--b", "{d}/m33.npy"],
     "spmm: A has 4 columns but the second operand has 3 rows"),
    (["spmv", "--a", str(DATA / "west0479.mtx")],
     "A (west0479.mtx): value 48.17647 at (1, 17) is not an integer; use --quantize"),
    (["gemv", "--a", "{d}/big.npy"],
     "A (big.npy): value 40000 at (0, 1) does not fit signed 16-bit [-32768, 32767]; "
     "use --quantize"),
    (["spmv", "--a", "{d}/nan.npy", "--quantize"], "value nan at (0, 1) is not finite"),
    (["spmv", "--a", "{d}/subnormal.npy", "--quantize"],
     "A (subnormal.npy): its largest magnitude 1e-310 is too small to quantize"),
    (["gemv", "--random", "3x3", "--b", "{d}/tinier.npy", "--quantize"],
     "B (tinier.npy): its largest magnitude 1.99998e-320 is too small to quantize"),
    # refused from the size line, before a compressed A of 10^8 rows is built (gigabytes)
    (["ewmul", "--a", "{d}/huge.mtx"], "--a {d}/huge.mtx: A is 100000000 x 100000000 but the "
                                       "coordinates of config sim-small have 16 bits"),
    (["spmv", "--random", "10000000000x10000000000", "--density", "1e-30"],
     "--random ROWSxCOLS: 100000000000000000000 positions are more than"),
    (["ewadd", "--random", "20000x20000", "--density", "1e-6", "--out", "{d}/r.npy"],
     "--out {d}/r.npy: the 20000 x 20000 sparse result would be 400000000 entries as a dense "
     ".npy"),
    (["spmv", "--random", "\uff14x\uff14"], "--random must look like ROWSxCOLS"),
    (["spmv", "--random", "4x4", "--seed", "\u0663"], "--seed must be an integer"),
    (["spmv", "--random", "abc"], "--random must look like ROWSxCOLS, not 'abc'"),
    (["spmv", "--random", "0x5"], "--random: ROWS and COLS must be at least 1, not '0x5'"),
    (["spmv", "--random", "4x4", "--density", "0"], "--density must be in (0, 1], not '0'"),
    (["spmv", "--random", "4x4", "--density", "1.5"], "--density must be in (0, 1], not '1.5'"),
    (["spmv", "--random", "4x4", "--density", "nan"], "--density must be in (0, 1], not 'nan'"),
    (["spmv", "--random", "4x4", "--density", "lots"], "--density must be a number, not 'lots'"),
    (["spmv", "--random", "4x4", "--seed", "x"], "--seed must be an integer, not 'x'"),
    (["spmv", "--random", "4x4", "--seed", "-1"], "--seed must be at least 0, not '-1'"),
    (["spmv", "--random", "4x4", "--max-value", "0"], "--max-value must be at least 1, not '0'"),
    (["spmv", "--random", "4x4", "--max-value", "40000"],
     "--max-value 40000 exceeds the configured value_max 32767"),
    (["spmm", "--random", "4x4", "--b-cols", "0"], "--b-cols must be at least 1, not '0'"),
    (["spmv", "--random", "4x4", "--b-cols", "2"],
     "--b-cols applies to spmm, gemm and spgemm, not spmv"),
    (["spmm", "--random", "4x4", "--b", "{d}/m33.npy", "--b-cols", "2"],
     "--b-cols applies to a generated B"),
    (["spmv"], "give the first operand: --a FILE or --random ROWSxCOLS"),
    (["spmv", "--random", "4x4", "--a", "{d}/m33.npy"], "give either --a FILE or --random"),
    (["spmv", "--random", "4x4", "--out", "{d}/y.csv"], "--out {d}/y.csv: expected a .npy"),
    (["spmv", "--random", "4x4", "--config", "nope"], "unknown configuration 'nope'"),
]


@pytest.mark.parametrize("args, message", ERRORS)
def test_bad_input_is_one_line(capsys, bad_files, args, message):
    args = [a.replace("{d}", str(bad_files)) for a in args]
    status, record, err = run(capsys, *args, "--sim", "model")
    assert status == 2 and record is None
    assert err.count("\n") == 1 and err.startswith("zerohero: error: "), err
    assert message.replace("{d}", str(bad_files)) in err


def test_unrepresentable_fails_before_building(capsys):
    # icebreaker: 12-bit coordinates; 70000 columns cannot be addressed (larger operands that
    # are representable are tiled). Nothing is built or simulated.
    status, record, err = run(capsys, "spmv", "--config", "icebreaker", "--sim", "verilator",
                              "--random", "16x70000", "--density", "0.001")
    assert status == 2 and record is None
    assert err.count("\n") == 1
    assert "A is 16 x 70000 but coordinates have 12 bits (largest 4095)" in err


def test_errors_through_the_console_have_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "zerohero", "run", "spmv", "--sim", "model",
                           "--a", str(DATA / "cage5.mtx")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "use --quantize" in proc.stderr


def test_progress_on_stderr_unless_quiet(capsys):
    args = ["run", "spmm", "--sim", "model", "--random", "200x200", "--density", "0.9"]
    assert main(args) == 0
    assert "[zerohero] computing spmm with the golden model..." in capsys.readouterr().err
    assert main(args + ["--quiet"]) == 0
    assert capsys.readouterr().err == ""


# RTL ---------------------------------------------------------------------------------------

@pytest.mark.cocotb
@pytest.mark.skipif(os.environ.get("ZH_SIM", "verilator") != "verilator",
                    reason="ZH_SIM selects another simulator")
def test_run_on_verilator_through_the_console():
    """One RTL run end to end (shares the sim-small Verilator build with demo and bench)."""
    proc = subprocess.run([sys.executable, "-m", "zerohero", "run", "spmv", "--config",
                           "sim-small", "--random", "64x64", "--density", "0.1", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)  # stdout holds the JSON object only
    assert KEYS <= set(r)
    assert (r["kernel"], r["config"], r["backend"], r["check"]) == ("spmv", "sim-small",
                                                                    "verilator", "pass")
    assert r["check_against"] == "golden model"
    assert r["macs"] == r["useful_macs"] == 410 and r["zeros_skipped"] == 0
    assert r["ideal_cycles"] == 52 and r["cycles"] >= r["ideal_cycles"]
    assert r["utilization"] == pytest.approx(410 / (8 * r["cycles"]))
    assert len(r["lane_busy"]) == 8
    assert "[zerohero] simulating on verilator: loading" in proc.stderr


def test_one_golden_kernel_table():
    """``zerohero run``, the demo and the runtime's model backend share model.KERNELS."""
    from zerohero import demo

    assert zrun.KERNELS == tuple(model.KERNELS) == (
        "spmv", "spmspv", "spmm", "gemv", "gemm", "spgemm", "ewmul", "ewadd")
    assert all(k.name == name for name, k in model.KERNELS.items())
    assert zrun.SPARSE_B == ("spgemm", "ewmul", "ewadd")
    assert zrun.SPARSE_A == ("spmv", "spmspv", "spmm", "spgemm", "ewmul", "ewadd")
    assert zrun.VECTOR_B == ("spmv", "spmspv", "gemv")
    assert not hasattr(zrun, "GOLDEN") and not hasattr(demo, "GOLDEN")
    A = model.from_dense(np.array([[1, -2], [0, 3]]), "csr")
    # A dense kernel takes A in any format; ewmul has no fused ReLU to drop silently.
    assert np.array_equal(model.KERNELS["gemv"](A, np.array([1, 1]), SEM, relu=True), [0, 3])
    with pytest.raises(ValueError, match="^ewmul has no fused ReLU$"):
        model.KERNELS["ewmul"](A, A, SEM, relu=True)


# Issue 32: nothing silent, nothing lost ----------------------------------------------------

def test_overflowed_results_are_counted_beside_the_wrapped_check(capsys, tmp_path):
    # 4 products of 32767 * 32767 sum past 2**31: the check passes against the wrapped
    # reference (the documented semantics), and the report says the true result did not fit.
    a, x = npy(tmp_path, "a.npy", np.full((2, 4), 32767)), npy(tmp_path, "x.npy",
                                                              np.full(4, 32767))
    r = model_run(capsys, "spmv", "--a", a, "--b", x)
    assert r["check"] == "pass" and r["overflows"] == 2 and r["overflow"] == "wrap"
    assert main(["run", "spmv", "--a", str(a), "--b", str(x), "--sim", "model", "-q"]) == 0
    assert ("overflow: 2 of 2 results did not fit the 32-bit accumulator (wrap)"
            in capsys.readouterr().out)
    assert model_run(capsys, "spmv", "--random", "20x20")["overflows"] == 0


def test_the_model_backend_refuses_what_the_hardware_refuses(capsys):
    # 5000 columns need 13-bit coordinates; the icebreaker preset has 12.
    for sim in ("model", "verilator"):
        status, record, err = run(capsys, "spmv", "--config", "icebreaker", "--random",
                                  "10x5000", "--sim", sim)
        assert status == 2 and record is None
        assert "coordinates have 12 bits (largest 4095)" in err, err


@pytest.mark.parametrize("kernel", ["spmv", "spmspv", "spmm", "spgemm", "ewmul", "ewadd"])
def test_a_huge_sparse_operand_stays_sparse(tmp_path, kernel):
    # 3.6e9 positions, 36 nonzeros: no bookkeeping path may densify it (27 GiB), so the
    # run fits in a 2 GiB address space.
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run([sys.executable, "-m", "zerohero", "run", kernel, "--random",
                           "60000x60000", "--density", "1e-8",
                           *(["--b-cols", "2"] if kernel in ("spmm", "spgemm") else []),
                           "--sim", "model", "--json", "-q"], preexec_fn=limit,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["a"]["stored"] == 36


@pytest.mark.parametrize("error, status, line", [
    (KeyboardInterrupt, 130, "zerohero: interrupted\n"),
    (MemoryError, 2, "zerohero: error: out of memory (an allocation failed): the operands "
                     "are too large for this machine\n"),
])
def test_an_interrupt_or_exhausted_memory_is_one_line(capsys, monkeypatch, error, status, line):
    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr("zerohero.runtime.Runtime.spmv", fails)
    assert main(["run", "spmv", "--random", "4x4", "--sim", "model"]) == status
    assert capsys.readouterr().err == line


def test_a_large_npy_is_refused_from_its_header(tmp_path):
    # 60 million int8 entries (a sparse file: little disk): refused before the data is read, so
    # no float64 copy (480 MB) is ever made.
    import resource

    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.int8,
                                    shape=(60_000_000, 1))
    del big

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run([sys.executable, "-m", "zerohero", "run", "gemv", "--a",
                           str(tmp_path / "big.npy"), "--sim", "model", "-q"],
                          preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr == (
        f"zerohero: error: --a {tmp_path / 'big.npy'}: 60000000 entries (shape (60000000, 1)) "
        "are more than the 50000000 zerohero reads\n")
