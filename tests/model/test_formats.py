"""Tests of zerohero.model.formats: validation messages, conversions, Matrix Market input."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

from zerohero.model import (
    COO, CSC, CSR, NM, Bitmap, Dense, SparseVector, from_dense, from_scipy, to_format,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "suitesparse"

MATRIX_FORMATS = ("coo", "csr", "csc", "dense", "bitmap", "nm")
#: Formats that can hold an explicit (stored) zero.
KEEPS_ZEROS = {"coo", "csr", "csc", "bitmap"}
NM_SHAPES = ((1, 1), (1, 2), (2, 2), (1, 4), (2, 4), (3, 4))

SETTINGS = settings(max_examples=40, deadline=None)


def raises(message):
    """``pytest.raises(ValueError)`` whose message must contain ``message`` verbatim."""
    return pytest.raises(ValueError, match=re.escape(message))


# Strategies -------------------------------------------------------------------------------

@st.composite
def nm_compatible(draw, max_dim=12):
    """``(coo, n, m)``: a random COO (maybe with explicit zeros) that fits N:M."""
    n, m = draw(st.sampled_from(NM_SHAPES))
    rows = draw(st.integers(0, max_dim))
    cols = m * draw(st.integers(0, max_dim // m))
    density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.6, 1.0]))
    zero_rate = draw(st.sampled_from([0.0, 0.2]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    stored = rng.random((rows, cols)) < density
    # Keep at most n stored entries per group (so the nonzeros fit N:M).
    for r in range(rows):
        for g in range(cols // m):
            hits = np.flatnonzero(stored[r, g * m:(g + 1) * m])
            stored[r, g * m + hits[n:]] = False
    values = rng.integers(-1000, 1000, size=(rows, cols))
    values[values == 0] = 1
    values[rng.random((rows, cols)) < zero_rate] = 0  # explicit zeros where stored
    r, c = np.nonzero(stored)
    return COO((rows, cols), r, c, values[r, c]), n, m


def nonzero_part(coo):
    keep = coo.vals != 0
    return COO(coo.shape, coo.rows[keep], coo.cols[keep], coo.vals[keep])


# Round trips ------------------------------------------------------------------------------

@pytest.mark.parametrize("src", MATRIX_FORMATS)
@pytest.mark.parametrize("dst", MATRIX_FORMATS)
@SETTINGS
@given(case=nm_compatible())
def test_round_trip_every_pair(src, dst, case):
    coo, n, m = case
    x = to_format(coo, src, n=n, m=m)
    assert x.format == src and x.shape == coo.shape
    y = to_format(x, dst, n=n, m=m)
    assert y.format == dst and y.shape == coo.shape
    np.testing.assert_array_equal(y.to_dense(), coo.to_dense())
    z = to_format(y, src, n=n, m=m)
    kept = coo if (src in KEEPS_ZEROS and dst in KEEPS_ZEROS) else nonzero_part(coo)
    assert z == to_format(kept, src, n=n, m=m)
    assert z.to_coo() == (kept if src in KEEPS_ZEROS else nonzero_part(coo))
    expected_nnz = kept.nnz if src in KEEPS_ZEROS else nonzero_part(coo).nnz
    assert z.nnz == expected_nnz


@pytest.mark.parametrize("fmt", MATRIX_FORMATS)
@SETTINGS
@given(case=nm_compatible())
def test_scipy_round_trip(fmt, case):
    coo, n, m = case
    x = to_format(coo, fmt, n=n, m=m)
    sp = x.to_scipy()
    assert scipy.sparse.issparse(sp) and sp.shape == coo.shape
    np.testing.assert_array_equal(sp.toarray(), coo.to_dense())
    assert from_scipy(sp, fmt, n=n, m=m) == x
    # Stored zeros survive the trip through scipy wherever the format can hold them.
    assert sp.nnz == (coo.nnz if fmt in KEEPS_ZEROS else nonzero_part(coo).nnz)


@SETTINGS
@given(case=nm_compatible())
def test_compressed_formats_match_scipy(case):
    coo, _, _ = case
    dense = coo.to_dense()
    for ours, theirs in ((from_dense(dense, "csr"), scipy.sparse.csr_array(dense)),
                         (from_dense(dense, "csc"), scipy.sparse.csc_array(dense))):
        np.testing.assert_array_equal(ours.pos, theirs.indptr)
        np.testing.assert_array_equal(ours.crd, theirs.indices)
        np.testing.assert_array_equal(ours.vals, theirs.data)
    bitmap = from_dense(dense, "bitmap")
    np.testing.assert_array_equal(bitmap.mask, dense != 0)
    np.testing.assert_array_equal(bitmap.vals, dense[dense != 0])
    assert from_dense(dense, "dense").nnz == np.count_nonzero(dense)


@SETTINGS
@given(length=st.integers(0, 20), seed=st.integers(0, 2**32 - 1),
       density=st.sampled_from([0.0, 0.3, 1.0]))
def test_vector_round_trip(length, seed, density):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random(length) < density, rng.integers(-50, 50, length), 0)
    vec = from_dense(dense, "vector")
    assert isinstance(vec, SparseVector) and vec.length == length
    np.testing.assert_array_equal(vec.to_dense(), dense)
    assert vec.nnz == np.count_nonzero(dense)
    assert to_format(vec, "dense") == Dense(dense)
    assert to_format(Dense(dense), "vector") == vec
    assert from_scipy(vec.to_scipy(), "vector") == vec
    assert to_format(dense, "vector") == vec


def test_csr_csc_hand_example():
    dense = np.array([[0, 5, 0, 7], [0, 0, 0, 0], [1, 0, 2, 0]])
    csr = from_dense(dense, "csr")
    assert csr.pos.tolist() == [0, 2, 2, 4]
    assert csr.crd.tolist() == [1, 3, 0, 2]
    assert csr.vals.tolist() == [5, 7, 1, 2]
    assert [a.tolist() for a in csr.row(2)] == [[0, 2], [1, 2]]
    csc = from_dense(dense, "csc")
    assert csc.pos.tolist() == [0, 1, 2, 3, 4]
    assert csc.crd.tolist() == [2, 0, 2, 0]
    assert csc.vals.tolist() == [1, 5, 2, 7]
    assert [a.tolist() for a in csc.col(3)] == [[0], [7]]


def test_coo_is_kept_in_row_major_order():
    coo = COO((3, 3), [2, 0, 0], [1, 2, 0], [7, 8, 9])
    assert coo.rows.tolist() == [0, 0, 2]
    assert coo.cols.tolist() == [0, 2, 1]
    assert coo.vals.tolist() == [9, 8, 7]


def test_nm_hand_example_and_padding():
    dense = np.array([[0, 0, 5, 0, 1, 0, 0, 2],
                      [0, 0, 0, 0, 0, 3, 4, 0]])
    nm = from_dense(dense, "nm", n=2, m=4)
    assert (nm.n, nm.m, nm.groups) == (2, 4, 2)
    # Padding takes the lowest unused indices of the group; slots sorted by index.
    assert nm.idx.tolist() == [[[0, 2], [0, 3]], [[0, 1], [1, 2]]]
    assert nm.vals.tolist() == [[[0, 5], [1, 2]], [[0, 0], [3, 4]]]
    assert nm.nnz == 5
    np.testing.assert_array_equal(nm.to_dense(), dense)
    # A stored zero in CSR is dropped on the way into N:M.
    csr = CSR((1, 4), [0, 2], [0, 1], [0, 9])
    assert csr.to_nm(1, 4).to_coo() == COO((1, 4), [0], [1], [9])


def test_explicit_zeros_stay_stored():
    csr = CSR((2, 3), [0, 2, 3], [0, 2, 1], [0, 4, 0])
    assert csr.nnz == 3
    assert csr.to_csc().nnz == 3 and csr.to_bitmap().nnz == 3 and csr.to_coo().nnz == 3
    assert csr.to_scipy().nnz == 3
    assert to_format(csr, "dense").nnz == 1
    np.testing.assert_array_equal(csr.to_dense(), [[0, 0, 4], [0, 0, 0]])


def test_formats_are_read_only_copies():
    crd = np.array([0, 2])
    csr = CSR((1, 3), [0, 2], crd, [1, 2])
    crd[0] = 1
    assert csr.crd.tolist() == [0, 2]
    with pytest.raises(ValueError, match="read-only"):
        csr.vals[0] = 5
    dense = Dense(np.ones((2, 2), dtype=np.int8))
    assert dense.array.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        dense.array[0, 0] = 3


def test_integer_valued_floats_are_accepted():
    csr = CSR((1, 2), [0, 1], [1.0], [3.0])
    assert csr.crd.dtype == np.int64 and csr.vals.tolist() == [3]
    assert Dense([[1.0, -2.0]]).array.tolist() == [[1, -2]]


def test_to_format_returns_same_object():
    csr = from_dense([[1, 0], [0, 2]])
    assert to_format(csr, "csr") is csr
    nm = to_format(csr, "nm", n=1, m=2)
    assert to_format(nm, "nm", n=1, m=2) is nm
    assert to_format(nm, "nm", n=2, m=2).n == 2


def test_from_scipy_sorts_unsorted_indices():
    sp = scipy.sparse.csr_array((np.array([3, 4, 5]), np.array([2, 0, 1]), np.array([0, 3, 3])),
                                shape=(2, 3))
    assert not sp.has_sorted_indices
    csr = from_scipy(sp)
    assert csr.crd.tolist() == [0, 1, 2] and csr.vals.tolist() == [4, 5, 3]
    for kind in (scipy.sparse.lil_matrix, scipy.sparse.dok_array, scipy.sparse.coo_matrix,
                 scipy.sparse.bsr_array, scipy.sparse.dia_matrix):
        assert from_scipy(kind(sp.toarray()), "csc") == from_dense(sp.toarray(), "csc")


# Bad input: every constructor error, with its message ------------------------------------

BAD_CONSTRUCTORS = [
    # shapes
    (lambda: CSR((-1, 3), [0], [], []),
     "CSR: shape must be a tuple of 2 non-negative integers, not (-1, 3)"),
    (lambda: CSR((2.0, 3), [0, 0, 0], [], []),
     "CSR: shape must be a tuple of 2 non-negative integers, not (2.0, 3)"),
    (lambda: COO((3,), [], [], []),
     "COO: shape must be a tuple of 2 non-negative integers, not (3,)"),
    (lambda: Bitmap((True, 2), np.zeros((1, 2), bool), []),
     "Bitmap: shape must be a tuple of 2 non-negative integers, not (True, 2)"),
    (lambda: SparseVector(-1, [], []),
     "SparseVector: length must be a non-negative integer, not -1"),
    (lambda: SparseVector(2.5, [], []),
     "SparseVector: length must be a non-negative integer, not 2.5"),
    # CSR pos
    (lambda: CSR((2, 3), [0, 1], [0], [1]),
     "CSR: pos must have rows + 1 = 3 entries, not 2"),
    (lambda: CSR((2, 3), [1, 1, 1], [0], [1]),
     "CSR: pos[0] must be 0, not 1"),
    (lambda: CSR((2, 3), [0, 2, 1], [0, 1], [1, 2]),
     "CSR: pos must be non-decreasing, but pos[2] = 1 < pos[1] = 2"),
    (lambda: CSR((2, 3), [0, 1, 3], [0, 1], [1, 2]),
     "CSR: pos[-1] = 3 must equal len(crd) = 2"),
    (lambda: CSC((3, 2), [0, 1], [0], [1]),
     "CSC: pos must have columns + 1 = 3 entries, not 2"),
    # CSR crd / vals
    (lambda: CSR((2, 3), [0, 1, 2], [0, 1], [1]),
     "CSR: crd and vals must have the same length, not 2 and 1"),
    (lambda: CSR((2, 3), [0, 1, 2], [0, 3], [1, 2]),
     "CSR: crd[1] = 3 is out of range for 3 columns (expected 0 <= crd < 3)"),
    (lambda: CSR((2, 3), [0, 1, 2], [-1, 0], [1, 2]),
     "CSR: crd[0] = -1 is out of range for 3 columns (expected 0 <= crd < 3)"),
    (lambda: CSC((3, 2), [0, 1, 2], [0, 3], [1, 2]),
     "CSC: crd[1] = 3 is out of range for 3 rows (expected 0 <= crd < 3)"),
    (lambda: CSR((5, 10), [0, 0, 0, 0, 2, 2], [9, 7], [1, 2]),
     "CSR: row 3 coordinates not strictly increasing: 7 after 9"),
    (lambda: CSR((3, 6), [0, 0, 0, 2], [5, 5], [1, 2]),
     "CSR: duplicate coordinate (2, 5)"),
    (lambda: CSC((10, 5), [0, 0, 0, 0, 2, 2], [9, 7], [1, 2]),
     "CSC: column 3 coordinates not strictly increasing: 7 after 9"),
    (lambda: CSC((6, 3), [0, 0, 0, 2], [5, 5], [1, 2]),
     "CSC: duplicate coordinate (5, 2)"),
    (lambda: CSR((1, 3), [0, 2], [0, 1], [1, np.nan]),
     "CSR: vals[1] must be an integer, not nan"),
    (lambda: CSR((1, 3), [0, 2], [0, 1], [0.5, 1]),
     "CSR: vals[0] must be an integer, not 0.5"),
    (lambda: CSR((1, 3), [0, 2], [0, 1], [1, np.inf]),
     "CSR: vals[1] must be an integer, not inf"),
    (lambda: CSR((1, 3), [0, 2], [0, 1.5], [1, 2]),
     "CSR: crd[1] must be an integer, not 1.5"),
    (lambda: CSR((1, 3), [0, 1], [[0]], [1]),
     "CSR: crd must be a 1-D array, not shape (1, 1)"),
    (lambda: CSR((1, 3), [0, 1], [0], ["a"]),
     "CSR: vals must be an array of integers, not dtype <U1"),
    (lambda: CSR((1, 3), [0, 1], [0], np.array([2**64 - 1], dtype=np.uint64)),
     "CSR: vals[0] = 18446744073709551615 does not fit in 64 signed bits"),
    (lambda: CSR((1, 3), [0, 1], [0], np.array([2**70], dtype=object)),
     "CSR: vals[0] = 1180591620717411303424 does not fit in 64 signed bits"),
    # COO
    (lambda: COO((2, 2), [0, 1], [0], [1, 2]),
     "COO: rows, cols and vals must have the same length, not 2, 1 and 2"),
    (lambda: COO((2, 2), [0, 2], [0, 0], [1, 2]),
     "COO: rows[1] = 2 is out of range for 2 rows (expected 0 <= rows < 2)"),
    (lambda: COO((2, 2), [0, 1], [0, -1], [1, 2]),
     "COO: cols[1] = -1 is out of range for 2 columns (expected 0 <= cols < 2)"),
    (lambda: COO((4, 6), [2, 0, 2], [5, 1, 5], [1, 2, 3]),
     "duplicate coordinate (2, 5)"),
    (lambda: COO((2, 2), [0], [0], [float("nan")]),
     "COO: vals[0] must be an integer, not nan"),
    # Dense
    (lambda: Dense(np.zeros((2, 2, 2))), "Dense: array must be 1-D or 2-D, not shape (2, 2, 2)"),
    (lambda: Dense(5), "Dense: array must be 1-D or 2-D, not shape ()"),
    (lambda: Dense([[1, 2], [3, 0.25]]), "Dense: array[1, 1] must be an integer, not 0.25"),
    (lambda: Dense([[1, np.nan]]), "Dense: array[0, 1] must be an integer, not nan"),
    (lambda: Dense([[1, None]]), "Dense: array[0, 1] must be an integer, not None"),
    # Bitmap
    (lambda: Bitmap((2, 2), np.ones((2, 2), dtype=int), [1, 2, 3, 4]),
     "Bitmap: mask must be a boolean array, not dtype int64"),
    (lambda: Bitmap((2, 2), np.ones((2, 3), dtype=bool), [1] * 6),
     "Bitmap: mask must have shape (2, 2), not (2, 3)"),
    (lambda: Bitmap((2, 2), np.eye(2, dtype=bool), [1, 2, 3]),
     "Bitmap: vals must have one entry per set mask bit (2), not 3"),
    (lambda: Bitmap((2, 2), np.eye(2, dtype=bool), [1, 0.5]),
     "Bitmap: vals[1] must be an integer, not 0.5"),
    # NM
    (lambda: NM((2, 10), 2, 4, np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),
     "NM: 10 columns is not a multiple of m = 4"),
    (lambda: NM((2, 8), 5, 4, np.zeros((2, 2, 5)), np.zeros((2, 2, 5))),
     "NM: n must be an integer between 1 and m = 4, not 5"),
    (lambda: NM((2, 8), 0, 4, np.zeros((2, 2, 0)), np.zeros((2, 2, 0))),
     "NM: n must be an integer between 1 and m = 4, not 0"),
    (lambda: NM((2, 8), 1, 0, np.zeros((2, 2, 1)), np.zeros((2, 2, 1))),
     "NM: m must be a positive integer, not 0"),
    (lambda: NM((2, 8), 2, 4, np.zeros((2, 2)), np.zeros((2, 2, 2))),
     "NM: vals must have shape (rows, cols // m, n) = (2, 2, 2), not (2, 2)"),
    (lambda: NM((2, 8), 2, 4, np.zeros((2, 2, 2)), np.zeros((2, 3, 2))),
     "NM: idx must have shape (rows, cols // m, n) = (2, 2, 2), not (2, 3, 2)"),
    (lambda: NM((1, 8), 2, 4, [[[1, 2], [3, 4]]], [[[0, 1], [1, 4]]]),
     "NM: idx[0, 1, 1] = 4 is out of range for m = 4 (expected 0 <= idx < 4)"),
    (lambda: NM((2, 8), 2, 4, np.ones((2, 2, 2)), [[[0, 1], [0, 1]], [[3, 1], [0, 1]]]),
     "NM: row 1 group 0 indices not strictly increasing: 1 after 3"),
    (lambda: NM((3, 8), 2, 4, np.ones((3, 2, 2)),
                [[[0, 1], [0, 1]], [[0, 1], [0, 1]], [[0, 1], [1, 1]]]),
     "NM: duplicate coordinate (2, 5)"),
    (lambda: NM((1, 4), 2, 4, [[[1, 0.5]]], [[[0, 1]]]),
     "NM: vals[0, 0, 1] must be an integer, not 0.5"),
    (lambda: from_dense([[1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 2, 3, 0]], "nm", n=2, m=4),
     "NM: row 1 group 1 (columns 4..7) has 3 nonzeros, more than n = 2"),
    (lambda: from_dense(np.ones((2, 6)), "nm", n=2, m=4),
     "NM: 6 columns is not a multiple of m = 4"),
    # SparseVector
    (lambda: SparseVector(5, [0, 1], [1]),
     "SparseVector: crd and vals must have the same length, not 2 and 1"),
    (lambda: SparseVector(5, [0, 5], [1, 2]),
     "SparseVector: crd[1] = 5 is out of range for length 5 (expected 0 <= crd < 5)"),
    (lambda: SparseVector(5, [3, 1], [1, 2]),
     "SparseVector: coordinates not strictly increasing: 1 after 3"),
    (lambda: SparseVector(5, [1, 3, 3], [1, 2, 3]),
     "SparseVector: duplicate coordinate 3"),
    (lambda: SparseVector(5, [1], [np.nan]),
     "SparseVector: vals[0] must be an integer, not nan"),
    # builders
    (lambda: to_format(np.eye(2), "ell"),
     "unknown format 'ell'; known formats: coo, csr, csc, dense, bitmap, nm, vector"),
    (lambda: to_format(np.eye(4), "nm"), "format 'nm' needs n and m (e.g. n=2, m=4)"),
    (lambda: to_format(np.eye(2), "vector"),
     "a 2x2 matrix cannot convert to 'vector'; 'vector' is for 1-D data"),
    (lambda: to_format(np.ones(3), "csr"),
     "a vector of length 3 converts only to 'vector' or 'dense', not 'csr'"),
    (lambda: Dense(np.ones(3)).to_csr(),
     "Dense: a 1-D array of shape (3,) is a vector, not a matrix; convert it to 'vector'"),
    (lambda: from_dense(np.eye(2) / 2),
     "Dense: array[0, 0] must be an integer, not 0.5"),
    (lambda: from_scipy(np.eye(2)), "from_scipy needs a scipy.sparse matrix or array, not ndarray"),
    (lambda: from_scipy(scipy.sparse.coo_array(([1, 2, 3], ([2, 0, 2], [5, 1, 5])), shape=(3, 6))),
     "from_scipy: duplicate coordinate (2, 5) (scipy would sum duplicates; call "
     "sum_duplicates() first to do that)"),
    (lambda: from_scipy(scipy.sparse.csr_matrix(
        (np.array([1, 2]), np.array([5, 5]), np.array([0, 0, 0, 2])), shape=(3, 6))),
     "from_scipy: duplicate coordinate (2, 5)"),
    (lambda: from_scipy(scipy.sparse.coo_array(([1, 2], ([3, 3],)), shape=(5,)), "vector"),
     "from_scipy: duplicate coordinate 3"),
    (lambda: from_scipy(scipy.sparse.csr_array(np.array([[0.5, 0]]))),
     "COO: vals[0] must be an integer, not 0.5"),
]


@pytest.mark.parametrize("make, message", BAD_CONSTRUCTORS,
                         ids=[m[:50] for _, m in BAD_CONSTRUCTORS])
def test_bad_input_message(make, message):
    with raises(message):
        make()
