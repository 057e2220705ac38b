"""The input contract, fuzzed (issue 32): generated malformed and edge-case Matrix Market text,
``.npy`` arrays, ``.npz`` models and option strings thrown at the CLI's readers. Each run
either succeeds and writes its named output, or exits 2 with one ``zerohero: error:`` line
that names the input; never a traceback (or an internal-error line), a hang, a partial
output, or a file written anywhere but the named output."""

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zerohero.cli import main

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def check_contract(argv, folder: Path, out: Path, names):
    """Run ``zerohero argv`` in process and check the contract (module doc). ``names``: the
    words of which the error line must contain one (the file, the option, the operand)."""
    before = set(os.listdir(folder))
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as e:                 # a failed check exits through SystemExit
            status = e.code
    err = stderr.getvalue()
    created = set(os.listdir(folder)) - before
    assert "Traceback (most recent" not in err and "internal error" not in err, (argv, err)
    if status == 0:
        assert created == {out.name}, (argv, created)
        event("ran")
        return "ok"
    assert status == 2, (argv, status, err)
    assert err.startswith("zerohero: error: ") and err.count("\n") == 1, (argv, err)
    assert any(n in err for n in names), (argv, err)
    assert created == set(), (argv, created)    # nothing partial, nothing elsewhere
    event("refused")
    return "refused"


# Matrix Market text --------------------------------------------------------------------------

TOKENS = ["1", "2", "3", "0", "-1", "4", "1.5", "-2.25", "1e3", "nan", "inf", "1e400",
          "99999999999999999999", "x", "%", "1_0", "0x1", "+2"]
HEADERS = ["%%MatrixMarket matrix coordinate integer general",
           "%%MatrixMarket matrix coordinate real general",
           "%%MatrixMarket matrix coordinate pattern general",
           "%%MatrixMarket matrix coordinate real symmetric",
           "%%MatrixMarket matrix coordinate integer skew-symmetric",
           "%%MatrixMarket matrix coordinate complex general",
           "%%MatrixMarket matrix array real general",
           "%%MatrixMarket matrix array integer symmetric",
           "%%MatrixMarket matrix array pattern general",
           "%%MatrixMarket matrix coordinate real hermitian",
           "%%MatrixMarket vector coordinate real general",
           "%%MatrixMarket matrix", "", "garbage"]

line = st.lists(st.sampled_from(TOKENS), max_size=4).map(" ".join)
mtx_text = st.builds(
    lambda head, size, body, comment: "\n".join([head, *comment, " ".join(size), *body]) + "\n",
    st.sampled_from(HEADERS),
    st.lists(st.sampled_from(["0", "1", "2", "3", "4", "-1", "x", "1.5"]), min_size=0,
             max_size=4),
    st.lists(line, max_size=12),
    st.lists(st.sampled_from(["% a comment", "", "   "]), max_size=2))



@st.composite
def mtx_mutated(draw):
    """A well-formed integer coordinate file of up to 4 x 4, with at most one line deleted,
    duplicated or given an extra number: mostly valid files near the rules' edges."""
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    cells = draw(st.lists(st.tuples(st.integers(1, rows), st.integers(1, cols)), unique=True,
                          max_size=rows * cols))
    values = draw(st.lists(st.integers(-40000, 40000), min_size=len(cells),
                           max_size=len(cells)))
    lines = [f"{i} {j} {v}" for (i, j), v in zip(cells, values)]
    how = draw(st.sampled_from(["none", "none", "delete", "duplicate", "extra"]))
    if lines and how != "none":
        k = draw(st.integers(0, len(lines) - 1))
        if how == "delete":
            del lines[k]
        elif how == "duplicate":
            lines.append(lines[k])
        else:
            lines[k] += " 7"
    return "\n".join([HEADERS[0], f"{rows} {cols} {len(cells)}", *lines]) + "\n"


@FUZZ
@given(text=mtx_text | mtx_mutated() | mtx_mutated(),
       kernel=st.sampled_from(["spmv", "gemv", "spmm", "ewadd"]),
       operand=st.sampled_from(["--a", "--b"]), quantize=st.booleans())
def test_matrix_market_text(text, kernel, operand, quantize):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        src = folder / "in.mtx"
        out = folder / ("out.mtx" if kernel == "ewadd" else "out.npy")
        src.write_text(text)
        other = ["--random", "3x3"] if operand == "--b" else []
        argv = ["run", kernel, operand, src, *other, "--sim", "model", "-q", "--out", out,
                *(["--quantize"] if quantize else [])]
        check_contract(argv, folder, out, [str(src), "in.mtx", " A", " B", "A:", "B:"])


# .npy arrays ---------------------------------------------------------------------------------

dtypes = st.sampled_from([np.bool_, np.int8, np.int16, np.int64, np.uint64, np.float16,
                          np.float32, np.float64, np.complex64, "<U2"])


@FUZZ
@given(array=dtypes.flatmap(lambda dt: hnp.arrays(
           dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))),
       kernel=st.sampled_from(["spmv", "spmspv", "gemv", "spmm", "gemm", "spgemm", "ewmul"]),
       quantize=st.booleans())
def test_npy_arrays(array, kernel, quantize):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        src = folder / "in.npy"
        np.save(src, array)
        out = folder / ("out.mtx" if kernel in ("spgemm", "ewmul") else "out.npy")
        argv = ["run", kernel, "--a", src, "--sim", "model", "-q", "--out", out,
                *(["--quantize"] if quantize else [])]
        check_contract(argv, folder, out, [str(src), "in.npy", " A", " B", "A:", "B:"])


# .npz models ---------------------------------------------------------------------------------

small_arrays = st.sampled_from([np.float64, np.float32, np.int64, np.complex128, np.bool_]).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)
                          | st.sampled_from([(64, 10), (64, 4), (4, 10), (10,), (4,)]),
                          elements=None))


def digits_model(draw_hidden, scale):
    rng = np.random.default_rng(draw_hidden)
    hidden = 1 + draw_hidden % 12
    return {"W0": rng.normal(0, scale, (64, hidden)), "b0": rng.normal(0, scale, hidden),
            "W1": rng.normal(0, scale, (hidden, 10)), "b1": rng.normal(0, scale, 10)}


@st.composite
def models(draw):
    """A well-formed digits model (weights of any magnitude), or one with an array replaced
    or removed: near the rules' edges."""
    arrays = digits_model(draw(st.integers(0, 2**16)),
                          draw(st.sampled_from([1e-300, 1e-30, 1e-3, 1.0, 1e3, 1e30])))
    change = draw(st.sampled_from([None, None, "W0", "b0", "W1", "b1"]))
    if change:
        replacement = draw(small_arrays | st.none())
        if replacement is None:
            del arrays[change]
        else:
            arrays[change] = replacement
    return arrays


@FUZZ
@given(arrays=models() | models() | models() | st.dictionaries(
           st.sampled_from(["W0", "b0", "W1", "b1", "activation", "x"]), small_arrays,
           max_size=5),
       raw=st.sampled_from([None, b"", b"PK\x03\x04junk", b"\x93NUMPY junk"]))
def test_npz_models(arrays, raw):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        src, out = folder / "model.npz", folder / "compiled.npz"
        if raw is None:
            with open(src, "wb") as f:
                np.savez(f, **arrays)
        else:
            src.write_bytes(raw)
        argv = ["nn", "compile", "--model", src, "--finetune-epochs", "0", "-q",
                "--config", "sim-small", "--out", out]
        check_contract(argv, folder, out, [str(src)])


# Option strings ------------------------------------------------------------------------------

option_text = st.one_of(st.text(max_size=8), st.sampled_from(
    ["0", "-1", "1e-300", "nan", "inf", "1e9", "3x3", "0x3", "99999x99999", "4X4", " 2x2 ",
     "1.0", "full", "1_0", "0.5"]))


@FUZZ
@given(option=st.sampled_from(["--random", "--density", "--seed", "--max-value", "--b-cols"]),
       value=option_text, kernel=st.sampled_from(["spmv", "spmm", "spgemm"]))
def test_option_strings(option, value, kernel):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        out = folder / ("out.mtx" if kernel == "spgemm" else "out.npy")
        argv = ["run", kernel, "--sim", "model", "-q", "--out", out,
                *(["--random", "6x6"] if option != "--random" else []), f"{option}={value}"]
        check_contract(argv, folder, out, [option])
