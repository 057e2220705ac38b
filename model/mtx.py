"""Matrix Market files: the one reader every operand, kernel and verb goes through.

:func:`read_mtx` parses a file strictly, by the format's own rules, and returns its entries as
they are (:class:`MatrixMarket`); :func:`load_mtx` turns them into a golden-model format with
integer values. SciPy's ``mmread`` is not used: it accepts files the format forbids (extra
numbers on a line, a symmetric file that lists both triangles, whose entries it then sums)
and sums duplicates, and SciPy 1.17's reader dies with SIGFPE on an ``array`` file of size
``0 x N``.

The rules (each broken one is a ``ValueError`` naming the file and its 1-based line):

- the header ``%%MatrixMarket matrix LAYOUT FIELD SYMMETRY`` (any case), with LAYOUT
  ``coordinate`` or ``array``, FIELD ``integer``, ``real`` or ``pattern`` (``complex`` is
  refused: every value here is real), SYMMETRY ``general``, ``symmetric`` or
  ``skew-symmetric`` (``hermitian`` needs complex values); ``array`` files are ``general``
  and not ``pattern``;
- ``%`` comment lines and blank lines may follow the header and sit between entries;
- the size line: ``ROWS COLS ENTRIES`` (coordinate) or ``ROWS COLS`` (array), non-negative
  integers and nothing else; a symmetric or skew-symmetric matrix is square;
- each entry line has exactly its numbers: ``ROW COL VALUE`` (``ROW COL`` for pattern) with
  1-based ``ROW <= ROWS`` and ``COL <= COLS``; an array file has one value per line, column by
  column; an ``integer`` value is an integer, a ``real`` value a finite decimal number that
  float64 holds (a nonzero that would read as 0 is refused too);
- a coordinate is listed at most once (nothing is summed);
- a symmetric file lists the lower triangle only (``ROW >= COL``), a skew-symmetric file the
  strictly lower one (``ROW > COL``: its diagonal is zero by definition), and is not a pattern
  file; both are expanded to both triangles, the mirror of ``v`` being ``v`` or ``-v``;
- exactly ``ENTRIES`` (``ROWS * COLS`` for array) entries, then nothing but comments.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import formats as _f

__all__ = ["MatrixMarket", "MtxError", "read_mtx", "load_mtx", "quantize"]

_LAYOUTS = ("coordinate", "array")
_FIELDS = ("integer", "real", "pattern")
_SYMMETRIES = ("general", "symmetric", "skew-symmetric")
_TRIANGLE = {"symmetric": "lower triangle (ROW >= COL)",
             "skew-symmetric": "strictly lower triangle (ROW > COL: its diagonal is zero)"}
_VALUE = {"integer": "an integer", "real": "a finite real number within float64's range"}

#: The most entries a file may declare; beyond it the arrays of even a sparse matrix take
#: gigabytes (three 8-byte numbers an entry), which is refused before anything is allocated.
MAX_ENTRIES = 100_000_000


class MtxError(ValueError):
    """A broken rule: ``file`` (its name), ``line`` (1-based) and ``reason``."""

    def __init__(self, file: str, line: int, reason: str):
        super().__init__(f"{file}: line {line}: {reason}")
        self.file, self.line, self.reason = file, line, reason


@dataclass(frozen=True)
class MatrixMarket:
    """A file's matrix: ``shape``, ``layout``, ``field``, ``symmetry`` (as in the header,
    lowercase) and its entries, symmetric ones expanded, sorted by row then column:
    ``rows``, ``cols`` (0-based int64), ``values`` (int64 for integer and pattern files, all
    ones for pattern, float64 for real files) and ``lines`` (each entry's 1-based line in
    the file, for messages about it). An array file's entries are all its values, zeros
    included."""

    shape: tuple
    layout: str
    field: str
    symmetry: str
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    lines: np.ndarray

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[self.rows, self.cols] = self.values
        return out

    def where(self, k: int) -> str:
        """Entry ``k`` as the file has it: ``line L (ROW, COL)``, 1-based."""
        return f"line {self.lines[k]} ({self.rows[k] + 1}, {self.cols[k] + 1})"


def _shown(tokens, limit: int = 40) -> str:
    """``tokens`` as a message quotes them, cut to ``limit`` characters."""
    text = " ".join(tokens)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _number(token: str, field: str):
    """``token`` as the field's number, or None if it is not one (Python's own readers also
    take ``1_000``, which no Matrix Market writer emits)."""
    if "_" in token:
        return None
    try:
        if field == "integer":
            return int(token)
        value = float(token)
        mantissa = token.lower().partition("e")[0]
        if value == 0 and any(c in "123456789" for c in mantissa):
            return None                 # a nonzero below float64's range would read as 0
        return value if math.isfinite(value) else None
    except ValueError:
        return None


def read_mtx(path, max_entries: int = MAX_ENTRIES) -> MatrixMarket:
    """The matrix of the Matrix Market file ``path``, read by the rules of the module doc
    (:class:`MtxError` for a broken one). A file that declares more than ``max_entries``
    entries (``ROWS * COLS`` for array) is refused from its size line, before its entries are
    read."""
    name = os.path.basename(os.fspath(path))
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise MtxError(name, 1, f"cannot read it ({e.strerror or e})") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise MtxError(name, line, "not a Matrix Market text file (a byte that is not "
                                   "ASCII)") from None
    # Lines end at "\n" (and "\r\n"); str.splitlines would also split at form feeds and
    # other separators, and the line numbers of messages would no longer be the file's.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()

    def fail(number, why):
        raise MtxError(name, number, why)

    head = lines[0].split() if lines else []
    if len(head) != 5 or head[0] != "%%MatrixMarket" or head[1].lower() != "matrix":
        fail(1, "expected the header '%%MatrixMarket matrix LAYOUT FIELD SYMMETRY'")
    layout, field, symmetry = (h.lower() for h in head[2:])
    for value, known, what in ((layout, _LAYOUTS, "layout"), (field, _FIELDS, "field"),
                               (symmetry, _SYMMETRIES, "symmetry")):
        if value not in known:
            extra = (" (complex values are not supported)" if value in ("complex", "hermitian")
                     else "")
            fail(1, f"{what} {value!r}{extra}; expected one of {', '.join(known)}")
    if layout == "array" and (field == "pattern" or symmetry != "general"):
        fail(1, f"an array file is 'general' and holds values, not '{field} {symmetry}' "
                "(write it as a general array or in coordinate form)")
    if field == "pattern" and symmetry == "skew-symmetric":
        fail(1, "a pattern file cannot be skew-symmetric (its entries are all 1, their "
                "mirrors would be -1)")

    # The lines after the header that are not comments or blank: (line number, tokens).
    body = ((n, line.split()) for n, line in enumerate(lines[1:], start=2)
            if line.strip() and not line.lstrip().startswith("%"))
    size = next(body, None)
    want = 3 if layout == "coordinate" else 2
    if size is None:
        fail(len(lines) + 1, f"the file ends before its size line "
                             f"({'ROWS COLS ENTRIES' if want == 3 else 'ROWS COLS'})")
    n, tokens = size
    dims = [_number(t, "integer") for t in tokens]
    if len(dims) != want or any(d is None or d < 0 for d in dims):
        fail(n, f"expected the size line {'ROWS COLS ENTRIES' if want == 3 else 'ROWS COLS'} "
                f"({want} non-negative integers), not {_shown(tokens)}")
    shape = (dims[0], dims[1])
    if symmetry != "general" and shape[0] != shape[1]:
        fail(n, f"a {symmetry} matrix is square, but the size is {shape[0]} x {shape[1]}")
    count = dims[2] if layout == "coordinate" else shape[0] * shape[1]
    limit = {"general": shape[0] * shape[1], "symmetric": shape[0] * (shape[0] + 1) // 2,
             "skew-symmetric": shape[0] * (shape[0] - 1) // 2}[symmetry]
    if count > limit:
        fail(n, f"{count} entries do not fit a {shape[0]} x {shape[1]} "
                f"{'' if symmetry == 'general' else symmetry + ' '}matrix (at most {limit})")
    if count > max_entries:
        fail(n, f"{count} entries are more than the {max_entries} zerohero reads")

    per_line = (2 if field == "pattern" else 3) if layout == "coordinate" else 1
    form = {1: "VALUE", 2: "ROW COL", 3: "ROW COL VALUE"}[per_line]
    rows, cols, values, where = [], [], [], []
    for n, tokens in body:
        k = len(where)
        if k == count:
            fail(n, f"more entries than the {count} the size line declares")
        if len(tokens) != per_line:
            fail(n, f"expected {form}, not {_shown(tokens)}")
        if layout == "array":
            i, j = k % shape[0], k // shape[0]
        else:
            i, j = (_number(t, "integer") for t in tokens[:2])
            if i is None or j is None or not (1 <= i <= shape[0] and 1 <= j <= shape[1]):
                fail(n, f"({_shown(tokens[:1], 20)[1:-1]}, {_shown(tokens[1:2], 20)[1:-1]}) "
                        f"is not a position of the {shape[0]} x {shape[1]} matrix (1-based "
                        "integers)")
            if (symmetry == "symmetric" and i < j) or (symmetry == "skew-symmetric" and i <= j):
                fail(n, f"({i}, {j}) is not in the {symmetry} file's {_TRIANGLE[symmetry]}")
            i, j = i - 1, j - 1
        if field == "pattern":
            value = 1
        else:
            value = _number(tokens[-1], field)
            if value is None:
                fail(n, f"{_shown(tokens[-1:])} is not {_VALUE[field]}")
        rows.append(i)
        cols.append(j)
        values.append(value)
        where.append(n)
    if len(where) < count:
        fail(len(lines) + 1, f"the file ends after {len(where)} of the {count} entries "
                             "its size line declares")

    dtype = np.float64 if field == "real" else np.int64
    try:
        values = np.array(values, dtype=dtype)
    except OverflowError:
        k = next(k for k, v in enumerate(values) if not -(1 << 63) <= v < (1 << 63))
        fail(where[k], f"{_shown([str(values[k])])[1:-1]} does not fit a 64-bit integer")
    rows, cols = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)
    where = np.array(where, dtype=np.int64)
    if symmetry != "general":
        off = rows != cols
        sign = 1 if symmetry == "symmetric" else -1
        if sign < 0 and dtype == np.int64 and (values == np.iinfo(np.int64).min).any():
            k = int(np.argmax(values == np.iinfo(np.int64).min))
            fail(where[k], f"{values[k]}'s mirror {-int(values[k])} does not fit a 64-bit "
                           "integer")
        rows, cols = np.concatenate([rows, cols[off]]), np.concatenate([cols, rows[off]])
        values = np.concatenate([values, sign * values[off]])
        where = np.concatenate([where, where[off]])
    order = np.lexsort((cols, rows))
    rows, cols, values, where = rows[order], cols[order], values[order], where[order]
    twice = np.flatnonzero((rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1]))
    if len(twice):
        k = int(twice[0])
        first, second = sorted((int(where[k]), int(where[k + 1])))
        fail(second, f"({rows[k] + 1}, {cols[k] + 1}) is listed twice (also on line {first}); "
                     "each entry is listed once (nothing is summed)")
    return MatrixMarket(shape, layout, field, symmetry, rows, cols, values, where)


_MTX_VALUES = ("exact", "pattern", "quantize")


def load_mtx(path, values: str = "exact", value_width: int = 16, fmt: str = "csr"):
    """Read a Matrix Market file (:func:`read_mtx`) into the format ``fmt``.

    Symmetric (and skew-symmetric) files come back expanded to both triangles. Every stored
    entry of a coordinate file stays stored, including explicit zeros (unless ``fmt`` is
    ``"dense"`` or ``"nm"``); the zeros of an array file are not entries. A pattern file reads
    as all ones before ``values`` applies. Coordinates in value errors are 0-based like the
    rest of the model.

    ``values`` picks how the file's values become ``value_width``-bit signed integers:

    - ``"exact"``: every value must be an integer in ``[-2**(w-1), 2**(w-1) - 1]``, else
      ``ValueError`` (which suggests ``values="quantize"``).
    - ``"pattern"``: every stored value becomes 1.
    - ``"quantize"``: :func:`quantize`, so the largest magnitude maps to ``+-value_max``
      (``value_min`` is never produced); stored zeros stay 0.
    """
    if values not in _MTX_VALUES:
        raise ValueError(f"load_mtx: values must be one of {_MTX_VALUES}, not {values!r}")
    if not (isinstance(value_width, int) and 2 <= value_width <= 32):
        raise ValueError(f"load_mtx: value_width must be an integer between 2 and 32, "
                         f"not {value_width!r}")
    if fmt not in ("coo", "csr", "csc", "dense", "bitmap"):
        raise ValueError(f"load_mtx: fmt must be one of 'coo', 'csr', 'csc', 'dense', 'bitmap', "
                         f"not {fmt!r} (convert afterwards with to_format)")
    name = os.path.basename(os.fspath(path))
    try:
        mm = read_mtx(path)
    except ValueError as e:
        raise ValueError(f"load_mtx: {e}") from None
    rows, cols, data = mm.rows, mm.cols, mm.values
    if mm.layout == "array":  # a dense Matrix Market file: its zeros are not entries
        keep = data != 0
        rows, cols, data = rows[keep], cols[keep], data[keep]
    vmax = (1 << (value_width - 1)) - 1
    vmin = -(1 << (value_width - 1))
    hint = (f"use values='quantize' to scale the values to {value_width}-bit integers "
            f"(or values='pattern' to keep only the structure)")

    if values == "pattern":
        vals = np.ones(len(rows), dtype=np.int64)
    elif values == "exact":
        if data.dtype.kind == "f":
            wrong = data != np.floor(data)
            if wrong.any():
                k = int(np.argmax(wrong))
                raise ValueError(f"load_mtx: {name}: non-integer value {float(data[k])!r} at "
                                 f"({rows[k]}, {cols[k]}); {hint}")
        wrong = (data < vmin) | (data > vmax)
        if wrong.any():
            k = int(np.argmax(wrong))
            raise ValueError(f"load_mtx: {name}: value {int(data[k])} at ({rows[k]}, {cols[k]}) "
                             f"does not fit signed {value_width}-bit [{vmin}, {vmax}]; {hint}")
        vals = data.astype(np.int64)
    else:
        vals, _ = quantize(data, vmax)
    return _f._from_coo(_f.COO(mm.shape, rows, cols, vals), fmt, None, None)


def quantize(real, value_max: int):
    """``(q, s)``: symmetric linear quantization of ``real`` to ``[-value_max, value_max]``,
    ``s = max|v| / value_max`` and ``q = round(v / s)`` (ties away from zero); a nonzero that
    would round to 0 becomes +-1, so the sparsity pattern is kept. All zero: ``(0, 1.0)``."""
    real = np.asarray(real, dtype=np.float64)
    maxabs = float(np.max(np.abs(real))) if real.size else 0.0
    if maxabs == 0.0:
        return np.zeros(real.shape, dtype=np.int64), 1.0
    mag = np.minimum(np.floor(np.abs(real) / maxabs * value_max + 0.5), value_max)
    mag = np.where((mag == 0) & (real != 0), 1, mag)
    return (np.sign(real) * mag).astype(np.int64), maxabs / value_max
