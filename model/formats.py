"""Sparse tensor formats of the golden model: validated, read-only containers of int64 arrays.

Every format holds integers only (values are whatever the caller stores; the value *width* is
checked by the kernels, see :mod:`zerohero.model.kernels`). Coordinates are 0-based.

Formats
-------
:class:`COO`
    ``COO(shape, rows, cols, vals)``: one (row, col, value) triplet per stored entry. The
    constructor accepts the triplets in any order and keeps them in row-major order (sorted by
    row, then column); duplicates are rejected.
:class:`CSR`
    ``CSR(shape, pos, crd, vals)``: ``pos`` is the row pointer (``rows + 1`` entries, starting
    at 0, non-decreasing, ending at ``len(crd)``); row ``i`` holds the column coordinates
    ``crd[pos[i]:pos[i+1]]`` in strictly increasing order.
:class:`CSC`
    ``CSC(shape, pos, crd, vals)``: the same per column; ``crd`` holds row coordinates.
:class:`Dense`
    ``Dense(array)``: a 1-D or 2-D array. Zeros are not entries: ``nnz`` counts nonzeros.
:class:`Bitmap`
    ``Bitmap(shape, mask, vals)``: ``mask`` is a boolean array of ``shape`` marking the stored
    entries, ``vals`` their values in row-major order.
:class:`NM`
    ``NM(shape, n, m, vals, idx)``: N:M structured sparsity along rows. Each row is cut into
    groups of ``m`` consecutive columns (``cols`` must be a multiple of ``m``); each group
    stores exactly ``n`` slots, ``vals[r, g, s]`` at column ``g*m + idx[r, g, s]``, with the
    indices of a group strictly increasing. A slot whose value is 0 is padding: NM cannot tell
    padding from a stored zero, so it stores no explicit zeros (``nnz`` counts nonzero slots,
    :meth:`NM.to_coo` leaves zero slots out). :meth:`NM.from_coo` pads a group with fewer than
    ``n`` nonzeros with the lowest unused indices of the group.
:class:`SparseVector`
    ``SparseVector(length, crd, vals)``: one compressed fiber, ``crd`` strictly increasing.

Stored zeros: COO, CSR, CSC, Bitmap and SparseVector may store explicit zeros; they stay
stored through conversions among these formats (and through :meth:`to_scipy` /
:func:`from_scipy`) and count in ``nnz``. Dense and NM have no way to store a zero, so
converting into them drops explicit zeros. The kernels skip zero operands, so stored zeros
never change a result.

Every constructor validates its arguments and raises :class:`ValueError` naming the format, the
field, the offending value and what was expected. Arrays are copied and made read-only.

Conversions: every matrix format has ``to_coo()``, ``from_coo(coo)`` (``NM.from_coo(coo, n,
m)``), ``to_dense()`` (a NumPy ``int64`` array), ``to_scipy()`` and the shortcuts
``to_csr()``, ``to_csc()``, ``to_bitmap()``, ``to_nm(n, m)``. :func:`to_format` converts any
format object, NumPy array (or nested list) or SciPy sparse matrix/array into a named format.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse

__all__ = [
    "COO", "CSR", "CSC", "Dense", "Bitmap", "NM", "SparseVector",
    "FORMATS", "from_dense", "from_scipy", "to_format",
]

#: Format names understood by :func:`to_format`.
FORMATS = ("coo", "csr", "csc", "dense", "bitmap", "nm", "vector")

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


# Validation helpers -----------------------------------------------------------------------

def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _index_str(idx) -> str:
    return ", ".join(str(int(i)) for i in idx)


def _shape(shape, ndim: int, owner: str) -> tuple:
    ok = (isinstance(shape, (tuple, list)) and len(shape) == ndim
          and all(_is_int(s) and s >= 0 for s in shape))
    if not ok:
        raise ValueError(
            f"{owner}: shape must be a tuple of {ndim} non-negative integers, not {shape!r}")
    return tuple(int(s) for s in shape)


def _int_array(data, field: str, owner: str, ndim: int | None = 1) -> np.ndarray:
    """``data`` as a read-only int64 array, or ``ValueError`` naming the first bad element."""
    arr = np.asarray(data)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{owner}: {field} must be a {ndim}-D array, not shape {arr.shape}")

    def bad(flat_index, value):
        where = _index_str(np.unravel_index(flat_index, arr.shape))
        raise ValueError(f"{owner}: {field}[{where}] must be an integer, not {value!r}")

    kind = arr.dtype.kind
    if arr.size == 0:
        out = np.zeros(arr.shape, dtype=np.int64)
    elif kind == "b":
        out = arr.astype(np.int64)
    elif kind == "i":
        out = arr.astype(np.int64)
    elif kind == "u":
        big = arr.ravel() > _INT64_MAX
        if big.any():
            k = int(np.argmax(big))
            raise ValueError(f"{owner}: {field}[{_index_str(np.unravel_index(k, arr.shape))}]"
                             f" = {int(arr.ravel()[k])} does not fit in 64 signed bits")
        out = arr.astype(np.int64)
    elif kind == "f":
        flat = arr.ravel().astype(np.float64)
        with np.errstate(invalid="ignore"):
            wrong = ~np.isfinite(flat) | (flat != np.floor(flat)) | (flat < -2.0**63) \
                | (flat >= 2.0**63)
        if wrong.any():
            k = int(np.argmax(wrong))
            bad(k, float(flat[k]))
        out = arr.astype(np.int64)
    elif kind == "O":
        flat = arr.ravel()
        conv = []
        for k, v in enumerate(flat):
            if _is_int(v):
                v = int(v)
            elif isinstance(v, (float, np.floating)) and math.isfinite(v) and v == int(v):
                v = int(v)
            else:
                bad(k, v)
            if not _INT64_MIN <= v <= _INT64_MAX:
                raise ValueError(f"{owner}: {field}[{_index_str(np.unravel_index(k, arr.shape))}]"
                                 f" = {v} does not fit in 64 signed bits")
            conv.append(v)
        out = np.array(conv, dtype=np.int64).reshape(arr.shape)
    else:
        raise ValueError(f"{owner}: {field} must be an array of integers, not dtype {arr.dtype}")
    out = np.array(out, dtype=np.int64, copy=True)
    out.flags.writeable = False
    return out


def _check_range(arr: np.ndarray, limit: int, field: str, owner: str, what: str):
    """Every element of ``arr`` in ``[0, limit)``, else a ``ValueError``."""
    wrong = (arr < 0) | (arr >= limit)
    if wrong.any():
        k = int(np.argmax(wrong.ravel()))
        where = _index_str(np.unravel_index(k, arr.shape))
        raise ValueError(f"{owner}: {field}[{where}] = {int(arr.ravel()[k])} is out of range for "
                         f"{what} (expected 0 <= {field} < {limit})")


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=np.int64, copy=True)
    arr.flags.writeable = False
    return arr


# Base classes -----------------------------------------------------------------------------

class _Format:
    """Common behaviour: equality on type and every field, a short repr."""

    format: str = ""
    _fields: tuple = ()

    def __eq__(self, other):
        if type(other) is not type(self) or other.shape != self.shape:
            return NotImplemented if not isinstance(other, _Format) else False
        for name in self._fields:
            a, b = getattr(self, name), getattr(other, name)
            if isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, nnz={self.nnz})"

    def to_format(self, fmt: str, n: int | None = None, m: int | None = None):
        return to_format(self, fmt, n=n, m=m)


class _Matrix(_Format):
    """Shared conversions of the 2-D formats; each subclass defines ``to_coo``/``from_coo``."""

    def to_coo(self) -> "COO":  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def to_dense(self) -> np.ndarray:
        coo = self.to_coo()
        out = np.zeros(self.shape, dtype=np.int64)
        out[coo.rows, coo.cols] = coo.vals
        return out

    def to_scipy(self):
        return self.to_coo().to_scipy()

    def to_csr(self) -> "CSR":
        return CSR.from_coo(self.to_coo())

    def to_csc(self) -> "CSC":
        return CSC.from_coo(self.to_coo())

    def to_bitmap(self) -> "Bitmap":
        return Bitmap.from_coo(self.to_coo())

    def to_nm(self, n: int, m: int) -> "NM":
        return NM.from_coo(self.to_coo(), n, m)


# COO --------------------------------------------------------------------------------------

class COO(_Matrix):
    """Coordinate list, kept in row-major order. See the module docstring."""

    format = "coo"
    _fields = ("rows", "cols", "vals")

    def __init__(self, shape, rows, cols, vals):
        self.shape = _shape(shape, 2, "COO")
        rows = _int_array(rows, "rows", "COO")
        cols = _int_array(cols, "cols", "COO")
        vals = _int_array(vals, "vals", "COO")
        if not len(rows) == len(cols) == len(vals):
            raise ValueError(f"COO: rows, cols and vals must have the same length, not "
                             f"{len(rows)}, {len(cols)} and {len(vals)}")
        _check_range(rows, self.shape[0], "rows", "COO", f"{self.shape[0]} rows")
        _check_range(cols, self.shape[1], "cols", "COO", f"{self.shape[1]} columns")
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        same = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])
        if same.any():
            k = int(np.argmax(same))
            raise ValueError(f"COO: duplicate coordinate ({rows[k]}, {cols[k]})")
        self.rows, self.cols, self.vals = _readonly(rows), _readonly(cols), _readonly(vals)

    @property
    def nnz(self) -> int:
        return len(self.vals)

    def to_coo(self) -> "COO":
        return self

    @classmethod
    def from_coo(cls, coo: "COO") -> "COO":
        return coo

    def to_scipy(self):
        return scipy.sparse.coo_array((self.vals, (self.rows, self.cols)), shape=self.shape,
                                      dtype=np.int64)


# CSR / CSC --------------------------------------------------------------------------------

class _Compressed(_Matrix):
    """A compressed matrix: ``pos`` over the major axis, ``crd`` along the minor axis."""

    _fields = ("pos", "crd", "vals")
    _major = 0  # axis that pos runs over: 0 for CSR, 1 for CSC
    _major_name = "row"

    def __init__(self, shape, pos, crd, vals):
        name = type(self).__name__
        self.shape = _shape(shape, 2, name)
        n_major, n_minor = self.shape[self._major], self.shape[1 - self._major]
        majors, minors = ("rows", "columns") if self._major == 0 else ("columns", "rows")
        pos = _int_array(pos, "pos", name)
        crd = _int_array(crd, "crd", name)
        vals = _int_array(vals, "vals", name)
        if len(pos) != n_major + 1:
            raise ValueError(f"{name}: pos must have {majors} + 1 = {n_major + 1} entries, "
                             f"not {len(pos)}")
        if pos[0] != 0:
            raise ValueError(f"{name}: pos[0] must be 0, not {pos[0]}")
        down = pos[1:] < pos[:-1]
        if down.any():
            p = int(np.argmax(down))
            raise ValueError(f"{name}: pos must be non-decreasing, but pos[{p + 1}] = "
                             f"{pos[p + 1]} < pos[{p}] = {pos[p]}")
        if pos[-1] != len(crd):
            raise ValueError(f"{name}: pos[-1] = {pos[-1]} must equal len(crd) = {len(crd)}")
        if len(crd) != len(vals):
            raise ValueError(f"{name}: crd and vals must have the same length, not "
                             f"{len(crd)} and {len(vals)}")
        _check_range(crd, n_minor, "crd", name, f"{n_minor} {minors}")
        fiber = np.repeat(np.arange(n_major), np.diff(pos))
        wrong = (fiber[1:] == fiber[:-1]) & (crd[1:] <= crd[:-1])
        if wrong.any():
            p = int(np.argmax(wrong)) + 1
            f, c, prev = int(fiber[p]), int(crd[p]), int(crd[p - 1])
            if c == prev:
                coord = (f, c) if self._major == 0 else (c, f)
                raise ValueError(f"{name}: duplicate coordinate {coord}")
            raise ValueError(f"{name}: {self._major_name} {f} coordinates not strictly "
                             f"increasing: {c} after {prev}")
        self.pos, self.crd, self.vals = pos, crd, vals

    @property
    def nnz(self) -> int:
        return len(self.vals)

    def fiber(self, i: int):
        """``(crd, vals)`` of major fiber ``i`` (a row of CSR, a column of CSC)."""
        lo, hi = self.pos[i], self.pos[i + 1]
        return self.crd[lo:hi], self.vals[lo:hi]

    def _major_minor(self):
        major = np.repeat(np.arange(self.shape[self._major], dtype=np.int64), np.diff(self.pos))
        return major, self.crd

    @classmethod
    def _from_major_minor(cls, shape, major, minor, vals):
        order = np.lexsort((minor, major))
        counts = np.bincount(major, minlength=shape[cls._major])
        pos = np.concatenate(([0], np.cumsum(counts)))
        return cls(shape, pos, minor[order], vals[order])

    def to_coo(self) -> COO:
        major, minor = self._major_minor()
        rows, cols = (major, minor) if self._major == 0 else (minor, major)
        return COO(self.shape, rows, cols, self.vals)

    @classmethod
    def from_coo(cls, coo: COO):
        major, minor = (coo.rows, coo.cols) if cls._major == 0 else (coo.cols, coo.rows)
        return cls._from_major_minor(coo.shape, major, minor, coo.vals)

    def to_scipy(self):
        return self._scipy((self.vals, self.crd, self.pos), shape=self.shape, dtype=np.int64)


class CSR(_Compressed):
    """Compressed sparse rows. See the module docstring."""

    format = "csr"
    _major, _major_name = 0, "row"
    _scipy = scipy.sparse.csr_array

    def row(self, i: int):
        """``(crd, vals)`` of row ``i``: column coordinates in increasing order."""
        return self.fiber(i)

    def to_csr(self) -> "CSR":
        return self


class CSC(_Compressed):
    """Compressed sparse columns. See the module docstring."""

    format = "csc"
    _major, _major_name = 1, "column"
    _scipy = scipy.sparse.csc_array

    def col(self, j: int):
        """``(crd, vals)`` of column ``j``: row coordinates in increasing order."""
        return self.fiber(j)

    def to_csc(self) -> "CSC":
        return self


# Dense ------------------------------------------------------------------------------------

class Dense(_Matrix):
    """A dense 1-D or 2-D integer array. Zeros are not entries (``nnz`` counts nonzeros)."""

    format = "dense"
    _fields = ("array",)

    def __init__(self, array):
        arr = np.asarray(array)
        if arr.ndim not in (1, 2):
            raise ValueError(f"Dense: array must be 1-D or 2-D, not shape {arr.shape}")
        self.array = _int_array(arr, "array", "Dense", ndim=None)
        self.shape = tuple(int(s) for s in self.array.shape)

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.array))

    def _need_matrix(self):
        if self.array.ndim != 2:
            raise ValueError(f"Dense: a 1-D array of shape {self.shape} is a vector, not a "
                             f"matrix; convert it to 'vector' instead")

    def to_coo(self) -> COO:
        self._need_matrix()
        rows, cols = np.nonzero(self.array)
        return COO(self.shape, rows, cols, self.array[rows, cols])

    @classmethod
    def from_coo(cls, coo: COO) -> "Dense":
        return cls(coo.to_dense())

    def to_dense(self) -> np.ndarray:
        return np.array(self.array, dtype=np.int64)

    def to_vector(self) -> "SparseVector":
        return SparseVector.from_dense(self.array)

    def to_scipy(self):
        if self.array.ndim == 1:
            return self.to_vector().to_scipy()
        return self.to_coo().to_scipy()


# Bitmap -----------------------------------------------------------------------------------

class Bitmap(_Matrix):
    """A presence bitmap plus the present values in row-major order."""

    format = "bitmap"
    _fields = ("mask", "vals")

    def __init__(self, shape, mask, vals):
        self.shape = _shape(shape, 2, "Bitmap")
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise ValueError(f"Bitmap: mask must be a boolean array, not dtype {mask.dtype}")
        if mask.shape != self.shape:
            raise ValueError(f"Bitmap: mask must have shape {self.shape}, not {mask.shape}")
        vals = _int_array(vals, "vals", "Bitmap")
        count = int(np.count_nonzero(mask))
        if len(vals) != count:
            raise ValueError(f"Bitmap: vals must have one entry per set mask bit ({count}), "
                             f"not {len(vals)}")
        self.mask = np.array(mask, dtype=bool, copy=True)
        self.mask.flags.writeable = False
        self.vals = vals

    @property
    def nnz(self) -> int:
        return len(self.vals)

    def to_coo(self) -> COO:
        rows, cols = np.nonzero(self.mask)  # row-major, the order of vals
        return COO(self.shape, rows, cols, self.vals)

    @classmethod
    def from_coo(cls, coo: COO) -> "Bitmap":
        mask = np.zeros(coo.shape, dtype=bool)
        mask[coo.rows, coo.cols] = True
        return cls(coo.shape, mask, coo.vals)  # COO is row-major already

    def to_bitmap(self) -> "Bitmap":
        return self


# N:M --------------------------------------------------------------------------------------

class NM(_Matrix):
    """N:M structured sparsity along rows. See the module docstring."""

    format = "nm"
    _fields = ("n", "m", "vals", "idx")

    def __init__(self, shape, n, m, vals, idx):
        self.shape = _shape(shape, 2, "NM")
        if not (_is_int(m) and m >= 1):
            raise ValueError(f"NM: m must be a positive integer, not {m!r}")
        if not (_is_int(n) and 1 <= n <= m):
            raise ValueError(f"NM: n must be an integer between 1 and m = {m}, not {n!r}")
        self.n, self.m = int(n), int(m)
        rows, cols = self.shape
        if cols % m:
            raise ValueError(f"NM: {cols} columns is not a multiple of m = {m}")
        groups = cols // m
        expected = (rows, groups, self.n)
        vals = _int_array(vals, "vals", "NM", ndim=None)
        idx = _int_array(idx, "idx", "NM", ndim=None)
        for field, arr in (("vals", vals), ("idx", idx)):
            if arr.shape != expected:
                raise ValueError(f"NM: {field} must have shape (rows, cols // m, n) = "
                                 f"{expected}, not {arr.shape}")
        _check_range(idx, self.m, "idx", "NM", f"m = {self.m}")
        if self.n > 1 and idx.size:
            wrong = idx[:, :, 1:] <= idx[:, :, :-1]
            if wrong.any():
                r, g, s = (int(v) for v in np.unravel_index(int(np.argmax(wrong)), wrong.shape))
                c, prev = int(idx[r, g, s + 1]), int(idx[r, g, s])
                if c == prev:
                    raise ValueError(f"NM: duplicate coordinate ({r}, {g * self.m + c})")
                raise ValueError(f"NM: row {r} group {g} indices not strictly increasing: "
                                 f"{c} after {prev}")
        self.vals, self.idx = vals, idx

    @property
    def groups(self) -> int:
        """Groups per row (``cols // m``)."""
        return self.shape[1] // self.m

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.vals))

    def to_coo(self) -> COO:
        r, g, s = np.nonzero(self.vals)  # row-major over (row, group, slot): column order
        return COO(self.shape, r, g * self.m + self.idx[r, g, s], self.vals[r, g, s])

    @classmethod
    def from_coo(cls, coo: COO, n: int, m: int) -> "NM":
        # Validate n and m (and the column count) before looking at the entries.
        if not (_is_int(m) and m >= 1):
            raise ValueError(f"NM: m must be a positive integer, not {m!r}")
        if not (_is_int(n) and 1 <= n <= m):
            raise ValueError(f"NM: n must be an integer between 1 and m = {m}, not {n!r}")
        rows, cols = coo.shape
        if cols % m:
            raise ValueError(f"NM: {cols} columns is not a multiple of m = {m}")
        groups = cols // m
        members = {}
        for r, c, v in zip(coo.rows.tolist(), coo.cols.tolist(), coo.vals.tolist()):
            if v != 0:
                members.setdefault((r, c // m), []).append((c % m, v))
        vals = np.zeros((rows, groups, n), dtype=np.int64)
        idx = np.zeros((rows, groups, n), dtype=np.int64)
        for r in range(rows):
            for g in range(groups):
                present = members.get((r, g), [])
                if len(present) > n:
                    raise ValueError(f"NM: row {r} group {g} (columns {g * m}..{g * m + m - 1}) "
                                     f"has {len(present)} nonzeros, more than n = {n}")
                used = {i for i, _ in present}
                pad = [(i, 0) for i in range(m) if i not in used][:n - len(present)]
                for s, (i, v) in enumerate(sorted(present + pad)):
                    idx[r, g, s], vals[r, g, s] = i, v
        return cls(coo.shape, n, m, vals, idx)

    def to_nm(self, n: int, m: int) -> "NM":
        if (n, m) == (self.n, self.m):
            return self
        return NM.from_coo(self.to_coo(), n, m)

    def __repr__(self):
        return f"NM(shape={self.shape}, n={self.n}, m={self.m}, nnz={self.nnz})"


# SparseVector -----------------------------------------------------------------------------

class SparseVector(_Format):
    """One compressed fiber: strictly increasing coordinates and their values."""

    format = "vector"
    _fields = ("crd", "vals")

    def __init__(self, length, crd, vals):
        if not (_is_int(length) and length >= 0):
            raise ValueError(f"SparseVector: length must be a non-negative integer, "
                             f"not {length!r}")
        self.length = int(length)
        self.shape = (self.length,)
        crd = _int_array(crd, "crd", "SparseVector")
        vals = _int_array(vals, "vals", "SparseVector")
        if len(crd) != len(vals):
            raise ValueError(f"SparseVector: crd and vals must have the same length, not "
                             f"{len(crd)} and {len(vals)}")
        _check_range(crd, self.length, "crd", "SparseVector", f"length {self.length}")
        wrong = crd[1:] <= crd[:-1]
        if wrong.any():
            p = int(np.argmax(wrong)) + 1
            if crd[p] == crd[p - 1]:
                raise ValueError(f"SparseVector: duplicate coordinate {crd[p]}")
            raise ValueError(f"SparseVector: coordinates not strictly increasing: "
                             f"{crd[p]} after {crd[p - 1]}")
        self.crd, self.vals = crd, vals

    @property
    def nnz(self) -> int:
        return len(self.vals)

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.length, dtype=np.int64)
        out[self.crd] = self.vals
        return out

    @classmethod
    def from_dense(cls, array) -> "SparseVector":
        """The nonzeros of a 1-D array."""
        arr = Dense(array).array
        if arr.ndim != 1:
            raise ValueError(f"SparseVector: from_dense needs a 1-D array, not shape {arr.shape}")
        (crd,) = np.nonzero(arr)
        return cls(len(arr), crd, arr[crd])

    def to_scipy(self):
        return scipy.sparse.coo_array((self.vals, (self.crd,)), shape=self.shape, dtype=np.int64)


# Builders ---------------------------------------------------------------------------------

def _check_fmt(fmt, n, m):
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    if fmt == "nm" and (n is None or m is None):
        raise ValueError("format 'nm' needs n and m (e.g. n=2, m=4)")


def _from_coo(coo: COO, fmt: str, n, m):
    if fmt == "coo":
        return coo
    if fmt == "csr":
        return CSR.from_coo(coo)
    if fmt == "csc":
        return CSC.from_coo(coo)
    if fmt == "dense":
        return Dense.from_coo(coo)
    if fmt == "bitmap":
        return Bitmap.from_coo(coo)
    if fmt == "nm":
        return NM.from_coo(coo, n, m)
    raise ValueError(f"a {coo.shape[0]}x{coo.shape[1]} matrix cannot convert to {fmt!r}; "
                     f"'vector' is for 1-D data")


def _from_vector(vec: SparseVector, fmt: str):
    if fmt == "vector":
        return vec
    if fmt == "dense":
        return Dense(vec.to_dense())
    raise ValueError(f"a vector of length {vec.length} converts only to 'vector' or 'dense', "
                     f"not {fmt!r}")


def from_dense(array, fmt: str = "csr", n: int | None = None, m: int | None = None):
    """The format ``fmt`` holding the nonzeros of a dense array (zeros are not stored).

    A 2-D array converts to any matrix format; a 1-D array to ``"vector"`` or ``"dense"``.
    """
    _check_fmt(fmt, n, m)
    dense = array if isinstance(array, Dense) else Dense(array)
    if dense.array.ndim == 1:
        return _from_vector(dense.to_vector(), fmt)
    if fmt == "dense":
        return dense
    return _from_coo(dense.to_coo(), fmt, n, m)


def from_scipy(matrix, fmt: str = "csr", n: int | None = None, m: int | None = None):
    """The format ``fmt`` holding exactly the stored entries of a SciPy sparse matrix/array.

    Explicit zeros stay stored (except in Dense and NM). SciPy allows unsorted indices, so the
    entries are sorted into canonical order. SciPy also allows duplicate entries (which it
    would sum); those are rejected with ``ValueError`` rather than summed: call
    ``sum_duplicates()`` first if summing is what you want. Values must be integers (floats
    with integer values are accepted).
    """
    _check_fmt(fmt, n, m)
    if not scipy.sparse.issparse(matrix):
        raise ValueError(f"from_scipy needs a scipy.sparse matrix or array, "
                         f"not {type(matrix).__name__}")
    coo = scipy.sparse.coo_array(matrix)
    if coo.ndim == 1:
        (crd,) = coo.coords
        order = np.argsort(crd, kind="stable")
        crd, data = np.asarray(crd)[order], np.asarray(coo.data)[order]
        dup = crd[1:] == crd[:-1]
        if dup.any():
            raise ValueError(f"from_scipy: duplicate coordinate {crd[int(np.argmax(dup))]} "
                             f"(scipy would sum duplicates; call sum_duplicates() first to "
                             f"do that)")
        return _from_vector(SparseVector(coo.shape[0], crd, data), fmt)
    rows, cols = (np.asarray(c) for c in coo.coords)
    order = np.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], np.asarray(coo.data)[order]
    dup = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])
    if dup.any():
        k = int(np.argmax(dup))
        raise ValueError(f"from_scipy: duplicate coordinate ({rows[k]}, {cols[k]}) (scipy "
                         f"would sum duplicates; call sum_duplicates() first to do that)")
    return _from_coo(COO(coo.shape, rows, cols, data), fmt, n, m)


def to_format(x, fmt: str, n: int | None = None, m: int | None = None):
    """Convert a format object, a NumPy array (or nested list) or a SciPy sparse matrix/array
    into the format named ``fmt`` (one of :data:`FORMATS`; ``"nm"`` also needs ``n`` and
    ``m``). Returns ``x`` itself when it already is in that format."""
    _check_fmt(fmt, n, m)
    if isinstance(x, SparseVector):
        return _from_vector(x, fmt)
    if isinstance(x, Dense):
        return from_dense(x, fmt, n=n, m=m)
    if isinstance(x, _Matrix):
        if x.format == fmt and (fmt != "nm" or (x.n, x.m) == (n, m)):
            return x
        if fmt == "dense":
            return Dense(x.to_dense())
        return _from_coo(x.to_coo(), fmt, n, m)
    if scipy.sparse.issparse(x):
        return from_scipy(x, fmt, n=n, m=m)
    return from_dense(x, fmt, n=n, m=m)
