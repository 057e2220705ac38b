"""The Matrix Market reader (model/mtx.py): the format's rules, each broken one refused with
the file and the line; load_mtx's value modes; the SuiteSparse sample read against SciPy."""

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from zerohero.model import COO, CSR, load_mtx, read_mtx

DATA = Path(__file__).resolve().parents[2] / "data" / "suitesparse"


def raises(message):
    """``pytest.raises(ValueError)`` whose message must contain ``message`` verbatim."""
    return pytest.raises(ValueError, match=re.escape(message))


# Matrix Market ----------------------------------------------------------------------------

# The table of the SuiteSparse sample's README (CC-BY 4.0):
# name -> (rows, cols, nnz after symmetric expansion, field).
SUITESPARSE = {
    "bcsstm02": (66, 66, 66, "real"),
    "bcsstk13": (2003, 2003, 83883, "real"),
    "dwt_992": (992, 992, 16744, "pattern"),
    "494_bus": (494, 494, 1666, "real"),
    "bcspwr04": (274, 274, 1612, "pattern"),
    "west0479": (479, 479, 1910, "real"),
    "cage5": (37, 37, 233, "real"),
    "lp_scsd1": (77, 760, 2388, "real"),
    "ash219": (219, 85, 438, "pattern"),
    "Trec4": (2, 3, 3, "integer"),
    "GD97_b": (47, 47, 264, "real"),
    "karate": (34, 34, 156, "pattern"),
}


@pytest.fixture(scope="module")
def patterns():
    return {name: load_mtx(DATA / f"{name}.mtx", values="pattern") for name in SUITESPARSE}


@pytest.mark.parametrize("name", sorted(SUITESPARSE))
def test_load_mtx_shape_and_nnz(name, patterns):
    rows, cols, nnz, _ = SUITESPARSE[name]
    csr = patterns[name]
    assert isinstance(csr, CSR)
    assert csr.shape == (rows, cols) and csr.nnz == nnz
    assert np.all(csr.vals == 1)


@pytest.mark.parametrize("name", [n for n, v in SUITESPARSE.items() if v[3] == "pattern"])
def test_load_mtx_pattern_files(name, patterns):
    # A pattern file reads as all ones in "exact" mode as well; symmetric files come expanded.
    exact = load_mtx(DATA / f"{name}.mtx")
    assert exact == patterns[name]
    if SUITESPARSE[name][0] == SUITESPARSE[name][1]:
        dense = exact.to_dense()
        np.testing.assert_array_equal(dense, dense.T)


def test_load_mtx_integer_file():
    trec4 = load_mtx(DATA / "Trec4.mtx", fmt="coo")
    assert trec4 == COO((2, 3), [0, 1, 1], [1, 1, 2], [3, 2, 1])


@pytest.mark.parametrize("name", ["494_bus", "cage5", "west0479", "lp_scsd1"])
def test_load_mtx_exact_rejects_real_values(name):
    with pytest.raises(ValueError, match=rf"load_mtx: {name}\.mtx: non-integer value .* at "
                                         r"\(\d+, \d+\); use values='quantize'"):
        load_mtx(DATA / f"{name}.mtx")


@pytest.mark.parametrize("name", [n for n, v in SUITESPARSE.items() if v[3] == "real"])
@pytest.mark.parametrize("width", [4, 8, 16])
def test_load_mtx_quantize_keeps_pattern(name, width, patterns):
    q = load_mtx(DATA / f"{name}.mtx", values="quantize", value_width=width)
    vmax = (1 << (width - 1)) - 1
    pattern = patterns[name]
    assert (q.shape, q.nnz) == (pattern.shape, pattern.nnz)
    np.testing.assert_array_equal(q.pos, pattern.pos)
    np.testing.assert_array_equal(q.crd, pattern.crd)
    assert np.abs(q.vals).max() == vmax and q.vals.min() >= -vmax
    raw = scipy.sparse.csr_array(scipy.io.mmread(DATA / f"{name}.mtx"))
    raw.sort_indices()
    np.testing.assert_array_equal(np.sign(q.vals), np.sign(raw.data))
    # The only stored zeros are the file's own (west0479 stores 22).
    assert np.count_nonzero(q.vals == 0) == (22 if name == "west0479" else 0)


def test_load_mtx_quantize_rounding(tmp_path):
    path = tmp_path / "q.mtx"
    path.write_text("%%MatrixMarket matrix coordinate real general\n"
                    "1 9 9\n"
                    "1 1 14.0\n1 2 5.0\n1 3 -5.0\n1 4 7.0\n1 5 3.0\n1 6 0.2\n1 7 -0.2\n"
                    "1 8 -14.0\n1 9 0.0\n")
    # value_width 4: value_max 7, scale 7/14 = 1/2. Ties round away from zero (2.5 -> 3,
    # -2.5 -> -3, 3.5 -> 4, 1.5 -> 2); nonzeros that round to 0 keep their sign (0.1 -> 1,
    # -0.1 -> -1); the stored zero stays a stored 0.
    q = load_mtx(path, values="quantize", value_width=4)
    assert q.crd.tolist() == list(range(9))
    assert q.vals.tolist() == [7, 3, -3, 4, 2, 1, -1, -7, 0]


def test_load_mtx_symmetric_expansion(tmp_path):
    path = tmp_path / "s.mtx"
    path.write_text("%%MatrixMarket matrix coordinate integer symmetric\n"
                    "3 3 3\n1 1 5\n3 1 -2\n3 2 7\n")
    dense = load_mtx(path, fmt="dense").to_dense()
    np.testing.assert_array_equal(dense, [[5, 0, -2], [0, 0, 7], [-2, 7, 0]])


def test_load_mtx_errors(tmp_path):
    big = tmp_path / "big.mtx"
    big.write_text("%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 1 5\n2 2 40000\n")
    with raises("load_mtx: big.mtx: value 40000 at (1, 1) does not fit signed 16-bit "
                "[-32768, 32767]; use values='quantize'"):
        load_mtx(big)
    assert load_mtx(big, value_width=17).vals.tolist() == [5, 40000]
    half = tmp_path / "half.mtx"
    half.write_text("%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 3\n2 1 0.5\n")
    with raises("load_mtx: half.mtx: non-integer value 0.5 at (1, 0); use values='quantize' "
                "to scale the values to 16-bit integers (or values='pattern' to keep only the "
                "structure)"):
        load_mtx(half)
    cplx = tmp_path / "c.mtx"
    cplx.write_text("%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1.0 2.0\n")
    with raises("load_mtx: c.mtx: line 1: field 'complex' (complex values are not supported)"):
        load_mtx(cplx)
    with raises("load_mtx: values must be one of ('exact', 'pattern', 'quantize'), not 'round'"):
        load_mtx(half, values="round")
    with raises("load_mtx: value_width must be an integer between 2 and 32, not 1"):
        load_mtx(half, value_width=1)
    with raises("load_mtx: fmt must be one of 'coo', 'csr', 'csc', 'dense', 'bitmap', not 'nm'"):
        load_mtx(half, fmt="nm")


# The format's rules, each broken one refused with the file and the line ------------------

def write(tmp_path, text, name="m.mtx"):
    path = tmp_path / name
    path.write_text(text)
    return path


HEAD = "%%MatrixMarket matrix coordinate integer general\n"
SYM = "%%MatrixMarket matrix coordinate integer symmetric\n"
SKEW = "%%MatrixMarket matrix coordinate real skew-symmetric\n"


@pytest.mark.parametrize("text, message", [
    ("", "m.mtx: line 1: expected the header '%%MatrixMarket matrix LAYOUT FIELD SYMMETRY'"),
    ("%%MatrixMarket matrix coordinate integer\n1 1 0\n", "line 1: expected the header"),
    ("%%MatrixMarket matrix sparse integer general\n", "line 1: layout 'sparse'; expected one"),
    ("%%MatrixMarket matrix coordinate complex general\n", "(complex values are not supported)"),
    ("%%MatrixMarket matrix coordinate real hermitian\n", "symmetry 'hermitian' (complex"),
    ("%%MatrixMarket matrix array pattern general\n1 1\n", "an array file is 'general' and "
                                                           "holds values, not 'pattern general'"),
    (HEAD, "line 2: the file ends before its size line (ROWS COLS ENTRIES)"),
    (HEAD + "% a comment\n\n2 2\n", "line 4: expected the size line ROWS COLS ENTRIES (3 "
                                   "non-negative integers), not '2 2'"),
    (HEAD + "2 2 1 9\n", "line 2: expected the size line"),
    (HEAD + "2 -2 1\n", "line 2: expected the size line"),
    (HEAD + "2 2 5\n", "line 2: 5 entries do not fit a 2 x 2 matrix (at most 4)"),
    (SYM + "3 2 1\n1 1 1\n", "line 2: a symmetric matrix is square, but the size is 3 x 2"),
    (SKEW + "2 2 2\n", "line 2: 2 entries do not fit a 2 x 2 skew-symmetric matrix (at most 1)"),
    (HEAD + "2 2 1\n1 1 5 7\n", "line 3: expected ROW COL VALUE, not '1 1 5 7'"),
    (HEAD + "2 2 1\n1 1\n", "line 3: expected ROW COL VALUE, not '1 1'"),
    ("%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1 1\n",
     "line 3: expected ROW COL, not '1 1 1'"),
    ("%%MatrixMarket matrix array integer general\n1 2\n1 2\n3\n",
     "line 3: expected VALUE, not '1 2'"),
    (HEAD + "2 2 1\n3 1 5\n", "line 3: (3, 1) is not a position of the 2 x 2 matrix"),
    (HEAD + "2 2 1\n0 1 5\n", "line 3: (0, 1) is not a position"),
    (HEAD + "2 2 1\n1.0 1 5\n", "line 3: (1.0, 1) is not a position"),
    (HEAD + "2 2 1\n1 1 2.5\n", "line 3: '2.5' is not an integer"),
    (HEAD + "2 2 1\n1 1 1_000\n", "line 3: '1_000' is not an integer"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 nan\n",
     "line 3: 'nan' is not a finite real number"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 1e-400\n",
     "line 3: '1e-400' is not a finite real number within float64's range"),
    (HEAD + "2 2 1\n1 1 99999999999999999999\n", "line 3: 99999999999999999999 does not fit"),
    (HEAD + "2 2 2\n1 1 5\n% gap\n1 1 6\n", "line 5: (1, 1) is listed twice (also on line 3)"),
    (SYM + "2 2 2\n2 1 5\n1 2 5\n",
     "line 4: (1, 2) is not in the symmetric file's lower triangle (ROW >= COL)"),
    (SKEW + "2 2 1\n1 1 5\n", "line 3: (1, 1) is not in the skew-symmetric file's strictly "
                              "lower triangle (ROW > COL: its diagonal is zero)"),
    (HEAD + "2 2 2\n1 1 5\n", "line 4: the file ends after 1 of the 2 entries its size line"),
    (HEAD + "2 2 1\n1 1 5\n2 2 6\n", "line 4: more entries than the 1 the size line declares"),
    ("%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n",
     "line 6: the file ends after 3 of the 4 entries"),
    (HEAD + "2 2 1\n1 1 5\n\u00e9\n", "line 4: not a Matrix Market text file"),
    # the mirror of -2**63 is not a 64-bit integer (it once wrapped to -2**63 itself)
    ("%%MatrixMarket matrix coordinate integer skew-symmetric\n2 2 1\n2 1 "
     "-9223372036854775808\n", "line 3: -9223372036854775808's mirror 9223372036854775808 "
                               "does not fit a 64-bit integer"),
    ("%%MatrixMarket matrix coordinate pattern skew-symmetric\n2 2 1\n2 1\n",
     "line 1: a pattern file cannot be skew-symmetric"),
    # a form feed is not a line end: line numbers stay the file's
    (HEAD + "2 2 2\n\f% page\n1 1 5\n1 1 6\n", "line 5: (1, 1) is listed twice (also on "
                                                  "line 4)"),
    # a long token is cut in the message
    (HEAD + "2 2 1\n1 1 " + "9" * 1000 + "5x\n", "line 3: '" + "9" * 40 + "...' is not an "
                                                   "integer"),
])
def test_a_broken_rule_is_refused_with_the_file_and_line(tmp_path, text, message):
    with raises(message):
        read_mtx(write(tmp_path, text))


@pytest.mark.parametrize("text, shape", [
    ("%%MatrixMarket matrix array real general\n0 0\n", (0, 0)),
    ("%%MatrixMarket matrix array real general\n0 3\n", (0, 3)),
    ("%%MatrixMarket matrix array integer general\n3 0\n", (3, 0)),
    (HEAD + "0 0 0\n", (0, 0)),
    (HEAD + "4 0 0\n", (4, 0)),
])
def test_an_empty_matrix_reads_without_crashing(tmp_path, text, shape):
    # SciPy 1.17's mmread kills the process with SIGFPE on an array file of size 0 x N.
    mm = read_mtx(write(tmp_path, text))
    assert mm.shape == shape and len(mm.values) == 0


def test_entries_are_as_the_file_has_them(tmp_path):
    mm = read_mtx(write(tmp_path, "%%MatrixMarket MATRIX Coordinate Real Skew-Symmetric\n"
                                  "% c\n3 3 2\n2 1 1.5\n\n3 2 -2\n"))
    assert mm.symmetry == "skew-symmetric" and mm.values.dtype == np.float64
    np.testing.assert_array_equal(mm.to_dense(), [[0, -1.5, 0], [1.5, 0, 2], [0, -2, 0]])
    assert [mm.where(k) for k in range(4)] == ["line 4 (1, 2)", "line 4 (2, 1)",
                                                "line 6 (2, 3)", "line 6 (3, 2)"]
    array = read_mtx(write(tmp_path, "%%MatrixMarket matrix array integer general\n2 2\n"
                                     "1\n2\n0\n4\n", "a.mtx"))   # column by column
    np.testing.assert_array_equal(array.to_dense(), [[1, 0], [2, 4]])


@pytest.mark.parametrize("name", sorted(SUITESPARSE))
def test_the_sample_reads_as_scipy_reads_it(name):
    """An outside reference: SciPy's reader on the well-formed SuiteSparse files."""
    mm = read_mtx(DATA / f"{name}.mtx")
    want = scipy.sparse.coo_array(scipy.io.mmread(DATA / f"{name}.mtx"))
    assert mm.shape == want.shape and len(mm.values) == want.nnz
    got = scipy.sparse.coo_array((mm.values, (mm.rows, mm.cols)), shape=mm.shape)
    assert (abs(got - want) > 0).nnz == 0
