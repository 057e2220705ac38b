"""Tests of zerohero.model.kernels against NumPy/SciPy and hand-computed overflow cases."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse
from hypothesis import event, given, settings
from hypothesis import strategies as st

from zerohero.spec.config import AccelConfig, preset
from zerohero.model import (
    COO, CSR, IntSemantics, SparseVector, ewadd, ewmul, from_dense, gemm, gemv, load_mtx, relu,
    spgemm, spmm, spmspv, spmv, to_format,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "suitesparse"
SETTINGS = settings(max_examples=100, deadline=None)


def raises(message):
    return pytest.raises(ValueError, match=re.escape(message))


# Independent references -------------------------------------------------------------------

def wrap(x, acc_width):
    """Exact int64 results reduced modulo 2**acc_width into the signed range."""
    x = np.asarray(x, dtype=np.int64)
    half = 1 << (acc_width - 1)
    return (x + half) % (2 * half) - half


def no_overflow(A, B, sem):
    """Mask of the C = A @ B entries whose every partial sum (in k order) stays in range."""
    products = A[:, :, None].astype(np.int64) * B[None, :, :]
    if A.shape[1] == 0:
        return np.ones((A.shape[0], B.shape[1]), dtype=bool)
    prefix = np.cumsum(products, axis=1)
    return (prefix.max(axis=1) <= sem.acc_max) & (prefix.min(axis=1) >= sem.acc_min)


# Strategies -------------------------------------------------------------------------------

semantics = st.builds(
    lambda vw, extra, ov: IntSemantics(vw, 2 * vw + extra, ov),
    st.sampled_from([4, 8]), st.sampled_from([0, 0, 1, 4]), st.sampled_from(["wrap", "saturate"]))


STYLES = ("uniform", "extreme", "large negative")


def random_matrix(rng, shape, density, sem, style="uniform"):
    """Values in range; "extreme" and "large negative" make accumulator overflow common."""
    lo, hi = sem.value_min, sem.value_max
    if style == "uniform":
        vals = rng.integers(lo, hi + 1, size=shape)
    elif style == "extreme":
        vals = rng.choice([lo, lo + 1, hi - 1, hi], size=shape)
    else:
        vals = rng.integers(lo, lo // 2, size=shape)
    return np.where(rng.random(shape) < density, vals, 0)


def with_explicit_zeros(rng, dense, rate=0.2):
    """``dense`` as a CSR that also stores some zeros (the kernels must skip them)."""
    stored = (dense != 0) | (rng.random(dense.shape) < rate)
    r, c = np.nonzero(stored)
    return COO(dense.shape, r, c, dense[r, c]).to_csr()


@st.composite
def matmul_case(draw):
    sem = draw(semantics)
    rows, cols = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    inner = draw(st.integers(0, 12) | st.integers(6, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    da = draw(st.sampled_from([0.5, 0.9, 1.0, 0.2, 0.0]))
    db = draw(st.sampled_from([0.5, 0.9, 1.0, 0.2, 0.0]))
    A = random_matrix(rng, (rows, inner), da, sem, draw(st.sampled_from(STYLES)))
    B = random_matrix(rng, (inner, cols), db, sem, draw(st.sampled_from(STYLES)))
    return sem, A, B, rng


@st.composite
def overflow_case(draw):
    """Narrow accumulator (acc_width = 2 * value_width), dense extreme values, long fibers:
    nearly every dot product overflows at some addition."""
    vw = draw(st.sampled_from([4, 8]))
    sem = IntSemantics(vw, 2 * vw, draw(st.sampled_from(["wrap", "saturate"])))
    rows, inner, cols = draw(st.integers(1, 12)), draw(st.integers(6, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    A = random_matrix(rng, (rows, inner), draw(st.sampled_from([0.8, 1.0])), sem,
                      draw(st.sampled_from(STYLES[1:])))
    B = random_matrix(rng, (inner, cols), draw(st.sampled_from([0.8, 1.0])), sem,
                      draw(st.sampled_from(STYLES)))
    return sem, A, B, rng


def expected_product(A, B, sem):
    """Wrap mode: the exact reference. Saturate mode: (exact, mask where it applies)."""
    exact = A.astype(np.int64) @ B.astype(np.int64)
    if sem.overflow == "wrap":
        return wrap(exact, sem.acc_width), np.ones(exact.shape, dtype=bool)
    return exact, no_overflow(A, B, sem)


def check_product(got, A, B, sem, relu_=False):
    ref, valid = expected_product(A, B, sem)
    exact = A.astype(np.int64) @ B.astype(np.int64)
    event(f"{sem.overflow}: " + ("overflow" if not no_overflow(A, B, sem).all() else "no overflow"))
    if sem.overflow == "wrap" and not np.array_equal(ref, exact):
        event("wrap: final result wrapped")
    if relu_:
        ref = np.maximum(ref, 0)
    got = np.asarray(got)
    assert got.dtype == np.int64 and got.shape == ref.shape
    np.testing.assert_array_equal(got[valid], ref[valid])
    assert np.all((got >= sem.acc_min) & (got <= sem.acc_max))
    if relu_:
        assert np.all(got >= 0)


# Kernels against NumPy --------------------------------------------------------------------

@SETTINGS
@given(case=matmul_case() | overflow_case(), relu_=st.booleans())
def test_spmv_gemv_spmspv(case, relu_):
    sem, A, B, rng = case
    x = B[:, 0] if B.shape[1] else np.zeros(A.shape[1], dtype=np.int64)
    col = x[:, None]
    A_csr = with_explicit_zeros(rng, A)
    check_product(spmv(A_csr, x, sem, relu=relu_)[:, None], A, col, sem, relu_)
    check_product(gemv(A, x, sem, relu=relu_)[:, None], A, col, sem, relu_)
    check_product(spmspv(A_csr, from_dense(x, "vector"), sem, relu=relu_)[:, None], A, col, sem,
                  relu_)


@SETTINGS
@given(case=matmul_case() | overflow_case(), relu_=st.booleans())
def test_spmm_gemm(case, relu_):
    sem, A, B, rng = case
    check_product(spmm(with_explicit_zeros(rng, A), B, sem, relu=relu_), A, B, sem, relu_)
    check_product(gemm(A, B, sem, relu=relu_), A, B, sem, relu_)


@SETTINGS
@given(case=matmul_case() | overflow_case(), relu_=st.booleans())
def test_spgemm(case, relu_):
    sem, A, B, rng = case
    C = spgemm(with_explicit_zeros(rng, A), with_explicit_zeros(rng, B), sem, relu=relu_)
    assert isinstance(C, CSR) and C.shape == (A.shape[0], B.shape[1])
    assert np.all(C.vals != 0)  # zero results are dropped
    check_product(C.to_dense(), A, B, sem, relu_)
    if sem.overflow == "wrap":
        ref = wrap(A @ B, sem.acc_width)
        if relu_:
            ref = np.maximum(ref, 0)
        assert C == from_dense(ref, "csr")  # exact structure: sorted, zeros dropped


@SETTINGS
@given(case=matmul_case() | overflow_case())
def test_all_products_agree_bit_exactly(case):
    """Every kernel computes the same dot products in the same order, so they agree even
    where saturation makes the result order-dependent."""
    sem, A, B, rng = case
    A_csr = with_explicit_zeros(rng, A)
    C = gemm(A, B, sem)
    np.testing.assert_array_equal(spmm(A_csr, B, sem), C)
    np.testing.assert_array_equal(spgemm(A_csr, to_format(B, "csc"), sem).to_dense(), C)
    np.testing.assert_array_equal(spmm(to_format(A, "bitmap"), to_format(B, "coo"), sem), C)
    for j in range(B.shape[1]):
        np.testing.assert_array_equal(spmv(A_csr, B[:, j], sem), C[:, j])
        np.testing.assert_array_equal(gemv(A, B[:, j], sem), C[:, j])
        np.testing.assert_array_equal(spmspv(A_csr, B[:, j], sem), C[:, j])


@st.composite
def elementwise_case(draw):
    sem = draw(semantics)
    shape = (draw(st.integers(0, 12)), draw(st.integers(0, 12)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    A = random_matrix(rng, shape, draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])), sem,
                      draw(st.sampled_from(STYLES)))
    B = random_matrix(rng, shape, draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])), sem,
                      draw(st.sampled_from(STYLES)))
    if draw(st.booleans()):  # force cancellations
        B = np.where(rng.random(shape) < 0.5, -A, B)
        B = np.clip(B, sem.value_min, sem.value_max)
    return sem, A, B, rng


@SETTINGS
@given(case=elementwise_case(), relu_=st.booleans())
def test_ewadd(case, relu_):
    sem, A, B, rng = case
    C = ewadd(with_explicit_zeros(rng, A), with_explicit_zeros(rng, B), sem, relu=relu_)
    ref = A + B  # |a + b| <= 2**w fits any accumulator: no overflow in either mode
    if relu_:
        ref = np.maximum(ref, 0)
    assert C == from_dense(ref, "csr")


@SETTINGS
@given(case=elementwise_case())
def test_ewmul(case):
    sem, A, B, rng = case
    C = ewmul(with_explicit_zeros(rng, A), with_explicit_zeros(rng, B), sem)
    assert C == from_dense(A * B, "csr")


# Hand-computed overflow cases -------------------------------------------------------------

S4_8 = IntSemantics(4, 8, "saturate")  # values [-8, 7], accumulator [-128, 127]
W4_8 = IntSemantics(4, 8, "wrap")


def test_acc_add_by_hand():
    assert S4_8.acc_add(100, 100) == 127
    assert S4_8.acc_add(S4_8.acc_add(100, 100), -100) == 27  # not 100: the clamp lost 73
    assert W4_8.acc_add(100, 100) == -56
    assert W4_8.acc_add(-56, -100) == 100
    assert S4_8.acc_add(-100, -100) == -128
    assert W4_8.acc_add(-100, -100) == 56
    assert S4_8.acc_add(127, 0) == 127 and W4_8.acc_add(-128, 0) == -128


def test_saturation_order_matters():
    row = np.array([[-8, -8, -8]])
    # products 64, 64, -56: 64 -> 128 saturates to 127 -> 71; exact (and wrap) 72
    assert spmv(row, np.array([-8, -8, 7]), S4_8).tolist() == [71]
    assert spmv(row, np.array([-8, -8, 7]), W4_8).tolist() == [72]
    # the same products in the order -56, 64, 64: -56 -> 8 -> 72, no overflow at all
    assert spmv(row, np.array([7, -8, -8]), S4_8).tolist() == [72]
    assert gemv(row, np.array([-8, -8, 7]), S4_8).tolist() == [71]
    assert spmspv(row, SparseVector(3, [0, 1, 2], [-8, -8, 7]), S4_8).tolist() == [71]
    assert spmm(row, np.array([[-8], [-8], [7]]), S4_8).tolist() == [[71]]
    assert spgemm(row, np.array([[-8], [-8], [7]]), S4_8).vals.tolist() == [71]


def test_negative_saturation():
    # products -56, -56, -56, 64: -56 -> -112 -> -128 (saturated) -> -64; exact (and wrap) -104
    A = np.array([[7, 7, 7, -8]])
    x = np.array([-8, -8, -8, -8])
    assert spmv(A, x, S4_8).tolist() == [-64]
    assert spmv(A, x, W4_8).tolist() == [-104]
    assert spmv(A, x, S4_8, relu=True).tolist() == [0]


def test_relu_after_last_addition_only():
    # products -10, then +15: the ReLU sees 5 (a per-step ReLU would give 15)
    sem = IntSemantics(8, 16, "wrap")
    assert spmv(np.array([[-2, 3]]), np.array([5, 5]), sem, relu=True).tolist() == [5]
    assert spmv(np.array([[-2, 1]]), np.array([5, 5]), sem, relu=True).tolist() == [0]
    C = spgemm(np.array([[-2, 3], [-2, 1]]), np.array([[5], [5]]), sem, relu=True)
    assert C.to_dense().tolist() == [[5], [0]] and C.nnz == 1


def test_spgemm_drops_zero_from_saturation():
    # C[0, 0]: products 64, 64, -56, -56, -15 at k = 0..4
    # saturate: 64 -> 127 (128 clamped) -> 71 -> 15 -> 0 (dropped); exact (and wrap): 1
    A = np.array([[-8, -8, -8, -8, -3], [1, 0, 0, 0, 0]])
    B = np.array([[-8, 1], [-8, 0], [7, 0], [7, 0], [5, 0]])
    sat = spgemm(A, B, S4_8)
    assert sat.to_dense().tolist() == [[0, -8], [-8, 1]]
    assert sat.pos.tolist() == [0, 1, 3] and sat.crd.tolist() == [1, 0, 1]
    wrp = spgemm(A, B, W4_8)
    assert wrp.to_dense().tolist() == [[1, -8], [-8, 1]] and wrp.nnz == 4
    assert spmm(A, B, S4_8).tolist() == [[0, -8], [-8, 1]]


def test_spgemm_cancellation_and_empty_rows():
    sem = IntSemantics(8, 16, "wrap")
    A = np.array([[1, 1], [0, 0], [2, 0]])
    B = np.array([[3, 4], [-3, 0]])
    C = spgemm(A, B, sem)
    assert C.pos.tolist() == [0, 1, 1, 3]
    assert C.crd.tolist() == [1, 0, 1] and C.vals.tolist() == [4, 6, 8]


def test_elementwise_by_hand():
    sem = IntSemantics(8, 16, "saturate")
    A = CSR((2, 3), [0, 2, 3], [0, 2, 1], [0, 5, 3])  # stores a zero at (0, 0)
    B = np.array([[4, 0, -5], [0, -3, 2]])
    add = ewadd(A, B, sem)
    assert add.pos.tolist() == [0, 1, 2] and add.crd.tolist() == [0, 2]
    assert add.vals.tolist() == [4, 2]  # (0, 2) and (1, 1) cancel and are dropped
    assert ewadd(A, B, sem, relu=True).vals.tolist() == [4, 2]
    assert ewadd(np.array([[-4]]), np.array([[1]]), sem, relu=True).nnz == 0
    mul = ewmul(A, B, sem)  # the stored zero at (0, 0) meets 4: skipped, not stored
    assert mul.to_coo() == COO((2, 3), [0, 1], [2, 1], [-25, -9])
    v = IntSemantics(8, 16, "wrap")
    assert ewmul(np.array([[-128]]), np.array([[-128]]), v).vals.tolist() == [16384]
    assert ewadd(np.array([[-128]]), np.array([[-128]]), v).vals.tolist() == [-256]


def test_64_bit_accumulator():
    sem_w = IntSemantics(32, 64, "wrap")
    sem_s = IntSemantics(32, 64, "saturate")
    A = np.array([[-2**31, -2**31]])
    x = np.array([-2**31, -2**31])
    assert spmv(A, x, sem_w).tolist() == [-2**63]  # 2**62 + 2**62 wraps
    assert spmv(A, x, sem_s).tolist() == [2**63 - 1]
    assert gemm(A, x[:, None], sem_s).tolist() == [[2**63 - 1]]
    assert spgemm(A, x[:, None], sem_w).vals.tolist() == [-2**63]


def test_empty_shapes():
    sem = IntSemantics(8, 16, "wrap")
    assert spmv(np.zeros((0, 3), int), np.ones(3, int), sem).shape == (0,)
    assert spmv(np.zeros((2, 0), int), np.zeros(0, int), sem).tolist() == [0, 0]
    assert gemm(np.zeros((2, 0), int), np.zeros((0, 3), int), sem).tolist() == [[0] * 3] * 2
    assert spmm(np.zeros((0, 0), int), np.zeros((0, 4), int), sem).shape == (0, 4)
    C = spgemm(np.zeros((3, 0), int), np.zeros((0, 2), int), sem)
    assert C.shape == (3, 2) and C.pos.tolist() == [0, 0, 0, 0]


def test_relu_helper():
    assert relu(-3) == 0 and relu(4) == 4 and relu(np.int64(-1)) == 0
    assert relu(np.array([-2, 0, 5])).tolist() == [0, 0, 5]
    assert relu([[-1, 2]]).tolist() == [[0, 2]]


# Real matrices ----------------------------------------------------------------------------

def test_real_matrices_against_scipy():
    sem = IntSemantics(8, 32, "wrap")
    rng = np.random.default_rng(1)
    cage5 = load_mtx(DATA / "cage5.mtx", values="quantize", value_width=8)
    x = rng.integers(-128, 128, cage5.shape[1])
    np.testing.assert_array_equal(spmv(cage5, x, sem), cage5.to_scipy() @ x)
    # west0479 stores 22 explicit zeros; they change nothing
    west = load_mtx(DATA / "west0479.mtx", values="quantize", value_width=8)
    x = rng.integers(-128, 128, west.shape[1])
    np.testing.assert_array_equal(spmv(west, x, sem), west.to_scipy() @ x)
    np.testing.assert_array_equal(spmspv(west, x, sem), west.to_scipy() @ x)
    # karate (pattern): A @ A counts common neighbours
    karate = load_mtx(DATA / "karate.mtx", values="pattern")
    ref = (karate.to_scipy() @ karate.to_scipy()).toarray()
    assert spgemm(karate, karate, sem) == from_dense(ref, "csr")
    # with 8-bit accumulator arithmetic on lp_scsd1 (wide): wrap agrees with reduced numpy
    lp = load_mtx(DATA / "lp_scsd1.mtx", values="quantize", value_width=4)
    x = rng.integers(-8, 8, lp.shape[1])
    np.testing.assert_array_equal(spmv(lp, x, W4_8), wrap(lp.to_scipy() @ x, 8))


# Semantics object -------------------------------------------------------------------------

def test_int_semantics_from_config():
    cfg = preset("sim-small")
    sem = IntSemantics.from_config(cfg)
    assert sem == IntSemantics(16, 32, "wrap")
    assert (sem.value_min, sem.value_max) == (cfg.value_min, cfg.value_max)
    assert (sem.acc_min, sem.acc_max) == (cfg.acc_min, cfg.acc_max)
    duck = SimpleNamespace(value_width=4, acc_width=8, overflow="saturate")
    assert IntSemantics.from_config(duck) == S4_8
    # kernels take a config directly too
    cfg8 = AccelConfig(value_width=4, acc_width=8, overflow="saturate")
    assert spmv(np.array([[-8, -8, -8]]), np.array([-8, -8, 7]), cfg8).tolist() == [71]
    with pytest.raises(Exception):
        sem.value_width = 8  # frozen


# Bad input: every error, with its message -------------------------------------------------

SEM16 = IntSemantics(16, 32, "wrap")
SEM8 = IntSemantics(8, 16, "wrap")
BIG = np.zeros((5, 8), dtype=np.int64)
BIG[3, 7] = 40000
HALF = np.zeros((2, 3))
HALF[0, 2] = 0.5
A54 = np.ones((5, 4), dtype=int)

BAD_CALLS = [
    # semantics parameters
    (lambda: IntSemantics(8, 16, "clip"),
     "IntSemantics.overflow must be one of ('wrap', 'saturate'), not 'clip'"),
    (lambda: IntSemantics(8, 15, "wrap"),
     "IntSemantics.acc_width must be an integer between 2 * value_width = 16 and 64, not 15"),
    (lambda: IntSemantics(16, 72, "wrap"),
     "IntSemantics.acc_width must be an integer between 2 * value_width = 32 and 64, not 72"),
    (lambda: IntSemantics(1, 8, "wrap"),
     "IntSemantics.value_width must be an integer between 2 and 32, not 1"),
    (lambda: IntSemantics(8.0, 16, "wrap"),
     "IntSemantics.value_width must be an integer between 2 and 32, not 8.0"),
    # values
    (lambda: spmv(BIG, np.ones(8, int), SEM16),
     "A: value 40000 at (3, 7) does not fit signed 16-bit [-32768, 32767]"),
    (lambda: spmv(from_dense(BIG), np.ones(8, int), SEM16),
     "A: value 40000 at (3, 7) does not fit signed 16-bit [-32768, 32767]"),
    (lambda: spmv(to_format(BIG, "csc"), np.ones(8, int), SEM16),
     "A: value 40000 at (3, 7) does not fit signed 16-bit [-32768, 32767]"),
    (lambda: spmv(scipy.sparse.csr_array(BIG), np.ones(8, int), SEM16),
     "A: value 40000 at (3, 7) does not fit signed 16-bit [-32768, 32767]"),
    (lambda: gemm(np.ones((2, 2), int), np.array([[1, -129], [0, 0]]), SEM8),
     "B: value -129 at (0, 1) does not fit signed 8-bit [-128, 127]"),
    (lambda: spmv(HALF, np.ones(3, int), SEM16), "A: non-integer value 0.5 at (0, 2)"),
    (lambda: gemv(HALF, np.ones(3, int), SEM16), "A: non-integer value 0.5 at (0, 2)"),
    (lambda: spmm(scipy.sparse.csr_array(HALF), np.ones((3, 1), int), SEM16),
     "A: non-integer value 0.5 at (0, 2)"),
    (lambda: spmv(np.ones((2, 3), int), np.array([1, np.nan, 1]), SEM16),
     "x: non-integer value nan at 1"),
    (lambda: spmv(np.ones((2, 3), int), np.array([1, 1, np.inf]), SEM16),
     "x: non-integer value inf at 2"),
    (lambda: spmv(np.ones((2, 3), int), np.array([1, 1, 200]), SEM8),
     "x: value 200 at 2 does not fit signed 8-bit [-128, 127]"),
    (lambda: spmspv(np.ones((2, 9), int), SparseVector(9, [2, 8], [1, 300]), SEM8),
     "x: value 300 at 8 does not fit signed 8-bit [-128, 127]"),
    (lambda: spgemm(np.ones((2, 2), int), [[1, 2], [3, 2**20]], SEM16),
     "B: value 1048576 at (1, 1) does not fit signed 16-bit [-32768, 32767]"),
    (lambda: ewadd(np.array([[1, -32769]]), np.ones((1, 2), int), SEM16),
     "A: value -32769 at (0, 1) does not fit signed 16-bit [-32768, 32767]"),
    (lambda: ewmul(np.ones((1, 2), int), np.array([[1, 0.25]]), SEM16),
     "B: non-integer value 0.25 at (0, 1)"),
    (lambda: gemm(np.array([["a"]]), np.ones((1, 1), int), SEM16),
     "A: values must be integers, not dtype <U1"),
    (lambda: gemm(np.array([[1, None]]), np.ones((2, 1), int), SEM16),
     "A: non-integer value None at (0, 1)"),
    # shapes
    (lambda: spmv(A54, np.ones(3, int), SEM16),
     "spmv: A has 4 columns but x has length 3"),
    (lambda: spmv(np.ones((3, 5), int), np.ones(4, int), SEM16),
     "spmv: A has 5 columns but x has length 4"),
    (lambda: spmv(np.ones((3, 5), int), np.ones((5, 1), int), SEM16),
     "spmv: x must be a 1-D vector, not shape (5, 1)"),
    (lambda: spmv(np.ones(5, int), np.ones(5, int), SEM16),
     "spmv: A must be a 2-D matrix, not shape (5,)"),
    (lambda: spmspv(np.ones((3, 5), int), SparseVector(4, [], []), SEM16),
     "spmspv: A has 5 columns but x has length 4"),
    (lambda: spmspv(np.ones((3, 5), int), np.ones((5, 1), int), SEM16),
     "spmspv: x must be a 1-D vector, not shape (5, 1)"),
    (lambda: gemv(np.ones((3, 5), int), np.ones(6, int), SEM16),
     "gemv: A has 5 columns but x has length 6"),
    (lambda: spmm(np.ones((3, 5), int), np.ones((4, 2), int), SEM16),
     "spmm: A has 5 columns but B has 4 rows"),
    (lambda: gemm(np.ones((3, 5), int), np.ones((4, 2), int), SEM16),
     "gemm: A has 5 columns but B has 4 rows"),
    (lambda: gemm(np.ones((3, 5), int), np.ones(5, int), SEM16),
     "gemm: B must be a 2-D matrix, not shape (5,)"),
    (lambda: spgemm(from_dense(np.ones((3, 5), int)), np.ones((4, 2), int), SEM16),
     "spgemm: A has 5 columns but B has 4 rows"),
    (lambda: ewadd(np.ones((3, 4), int), np.ones((3, 5), int), SEM16),
     "ewadd: A has shape (3, 4) but B has shape (3, 5)"),
    (lambda: ewmul(np.ones((3, 4), int), np.ones((4, 4), int), SEM16),
     "ewmul: A has shape (3, 4) but B has shape (4, 4)"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[m[:50] for _, m in BAD_CALLS])
def test_bad_input_message(call, message):
    with raises(message):
        call()


def test_check_values_directly():
    sem = IntSemantics(4, 8, "wrap")
    sem.check_values(np.array([[-8, 7], [0, 1]]), "W")  # in range: no error
    sem.check_values(CSR((1, 2), [0, 1], [1], [7]), "W")
    with raises("W: value 8 at (1, 0) does not fit signed 4-bit [-8, 7]"):
        sem.check_values([[0, 1], [8, 9]], "W")
    with raises("W: value -9 at (0, 1) does not fit signed 4-bit [-8, 7]"):
        sem.check_values(COO((3, 3), [2, 0], [2, 1], [100, -9]), "W")
    with raises("W: value 9 at (0, 3) does not fit signed 4-bit [-8, 7]"):
        sem.check_values(to_format(np.array([[0, 0, 0, 9]]), "nm", n=1, m=2), "W")


# Overflowed results (count_overflows) ---------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["wrap", "saturate"]),
       kernel=st.sampled_from(["spmv", "spmm", "gemv", "gemm", "spgemm"]), use_relu=st.booleans())
def test_count_overflows_counts_results_that_differ_from_the_exact_sum(seed, mode, kernel,
                                                                       use_relu):
    # 4-bit values into an 8-bit accumulator: sums of a few products leave [-128, 127].
    from zerohero.model import KERNELS, count_overflows

    rng = np.random.default_rng(seed)
    sem = IntSemantics(4, 8, mode)
    A = rng.integers(-8, 8, (3, 12)) * (rng.random((3, 12)) < 0.8)
    B = rng.integers(-8, 8, (12,) if kernel in ("spmv", "gemv") else (12, 2))
    if kernel == "spgemm":
        B = B * (rng.random(B.shape) < 0.7)
    a_op = A if kernel in ("gemv", "gemm") else from_dense(A, "csr")
    b_op = from_dense(B, "csr") if kernel == "spgemm" else B
    got = KERNELS[kernel](a_op, b_op, sem, relu=use_relu)
    got = got.to_dense() if hasattr(got, "to_dense") else np.asarray(got)
    # The exact sums in Python integers, naively (no accumulator limit), then the ReLU.
    B2 = B.reshape(12, -1)
    exact = [[sum(int(A[i, k]) * int(B2[k, j]) for k in range(12)) for j in range(B2.shape[1])]
             for i in range(3)]
    exact = np.array([[max(v, 0) if use_relu else v for v in row] for row in exact])
    want = int((got.reshape(3, -1) != exact).sum())
    assert count_overflows(kernel, a_op, b_op, got, relu=use_relu) == want
    event("some overflow" if want else "none")


def test_count_overflows_of_sums_beyond_int64():
    # 32-bit values into a 64-bit accumulator: three products can leave int64, so the exact
    # sums are taken in Python integers.
    from zerohero.model import count_overflows

    big, sem = (1 << 31) - 1, IntSemantics(32, 64, "wrap")
    x = np.full(3, big)
    for row, overflows in (([big, big, big], 1),       # 3 * big**2 > 2**63 - 1: wraps
                           ([big, big, -big], 0)):     # big**2 fits
        A = from_dense(np.array([row]), "csr")
        assert count_overflows("spmv", A, x, spmv(A, x, sem)) == overflows
