"""Bit-exact integer kernels of the golden model, written naively on purpose.

This is the reference the generated hardware is compared against, so every kernel is a plain
Python loop over nonzeros on Python integers (NumPy only holds inputs and results). It imports
no Amaranth.

Integer semantics
-----------------
An :class:`IntSemantics` fixes three parameters (normally taken from an ``AccelConfig`` with
:meth:`IntSemantics.from_config`):

- ``value_width`` *w*: every input value is a signed integer in
  ``[value_min, value_max] = [-2**(w-1), 2**(w-1) - 1]``. Inputs are checked; anything else
  (out of range, NaN, infinity, a float with a fraction) raises ``ValueError`` naming the
  operand, the first bad position in row-major order and the value, e.g.
  ``"A: value 40000 at (3, 7) does not fit signed 16-bit [-32768, 32767]"`` or
  ``"A: non-integer value 0.5 at (0, 2)"``.
- ``acc_width`` *a* (``2*w <= a <= 64``): the signed accumulator, range
  ``[acc_min, acc_max] = [-2**(a-1), 2**(a-1) - 1]``.
- ``overflow``: what :meth:`IntSemantics.acc_add` does when ``acc + x`` leaves the accumulator
  range. ``"wrap"``: two's complement wrap to *a* bits,
  ``((acc + x - acc_min) mod 2**a) + acc_min``. ``"saturate"``: clamp to
  ``[acc_min, acc_max]``. It is applied at *every* addition, so with ``"saturate"`` the order
  of the additions matters (with ``"wrap"`` it does not: wrapping is addition modulo ``2**a``).

Products are exact: ``|a_k * b_k| <= 2**(2w-2) <= acc_max`` because ``a >= 2*w``.

Dot product of two fibers (the one primitive behind spmv, spmspv, spmm, gemv, gemm and
spgemm)::

    acc = 0
    for k in increasing order, where both operands are present and both are nonzero:
        acc = acc_add(acc, a_k * b_k)
    result = max(acc, 0) if relu else acc

Skipping zero operands (stored zeros, padding, zeros of a dense operand) is semantically
transparent: ``acc_add(acc, 0) == acc`` in both modes because ``acc`` is always in range. It is
what zero-skipping hardware does, and it never changes a result. The fused ReLU is applied once,
after the fiber's last addition (an empty fiber gives 0).

Kernels
-------
Matrix operands may be any format object of :mod:`~zerohero.model.formats`, a NumPy array
(or nested list) or a SciPy sparse matrix; they are converted as needed. Dense results are
``int64`` NumPy arrays, sparse results :class:`~zerohero.model.formats.CSR`. The ``sem``
argument is an :class:`IntSemantics` or anything with ``value_width``, ``acc_width`` and
``overflow`` attributes (such as an ``AccelConfig``).

- ``spmv(A, x)``: ``y[i] = dot(row i of A, x)``, ``x`` dense.
- ``spmspv(A, x)``: the same with a sparse vector ``x``; ``y`` is dense.
- ``spmm(A, B)``: ``C[i, j] = dot(row i of A, column j of B)``, ``B`` and ``C`` dense.
- ``gemv(A, x)``, ``gemm(A, B)``: the same with dense ``A`` (zeros still skipped).
- ``spgemm(A, B)``: ``C[i, j] = dot(row i of A, column j of B)``, i.e. the products
  ``A[i, k] * B[k, j]`` summed with ``acc_add`` in increasing ``k``; the result is a CSR with
  sorted column coordinates, and entries whose final value (after the ReLU, if any) is 0 are
  dropped, including zeros from cancellation or saturation; rows with nothing left are empty.
- ``ewmul(A, B)``: intersection of the nonzeros of ``A`` and ``B``:
  ``C[i, j] = acc_add(0, A[i, j] * B[i, j])``. A stored zero on either side is skipped like
  everywhere else, so ``C`` never stores a zero.
- ``ewadd(A, B)``: union of the nonzeros: ``C[i, j] = acc_add(acc_add(0, a), b)`` with an
  absent side counting as 0; the ReLU (if any) is applied to that sum, and results equal to 0
  (cancellation) are dropped.

Shape mismatches raise ``ValueError`` naming both shapes, e.g.
``"spmv: A has 5 columns but x has length 4"``.

Overflowed results
------------------
The kernels reproduce the accumulator bit-exactly, so a result that did not fit comes back
wrapped or saturated, as the hardware computes it. :func:`count_overflows` tells the user:
it computes the exact integer result beside it (the sums of the exact products without an
accumulator limit, then the fused ReLU) and counts the result elements that differ from it.
Final results are counted, not additions: with ``"wrap"`` a partial sum that leaves the
range and comes back still gives the exact result (wrapping is addition modulo ``2**a``),
and a sum below ``acc_min`` that the ReLU turns into 0 either way is right too; neither is
counted. With ``"saturate"`` a clamped partial sum usually changes the result, and is then
counted, even when the exact final sum is in range. ``ewmul`` and ``ewadd`` never overflow
(one product or sum of two values always fits, as ``a >= 2*w``); their count is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from . import formats as _f
from .formats import CSR, SparseVector, to_format
from zerohero.spec.config import SignedRanges

__all__ = [
    "IntSemantics", "OVERFLOW_MODES", "relu",
    "spmv", "spmspv", "spmm", "gemv", "gemm", "spgemm", "ewmul", "ewadd", "count_overflows",
    "requantize",
]

#: The accumulator overflow behaviours.
OVERFLOW_MODES = ("wrap", "saturate")


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _where(pos) -> str:
    """A position as text: ``3`` for a vector index, ``(3, 7)`` for a matrix coordinate."""
    if len(pos) == 1:
        return str(int(pos[0]))
    return "(" + ", ".join(str(int(p)) for p in pos) + ")"


@dataclass(frozen=True)
class IntSemantics(SignedRanges):
    """Value width, accumulator width and overflow mode of the arithmetic. See the module
    docstring for the exact rules."""

    value_width: int
    acc_width: int
    overflow: str

    def __post_init__(self):
        vw, aw = self.value_width, self.acc_width
        if not (_is_int(vw) and 2 <= vw <= 32):
            raise ValueError(f"IntSemantics.value_width must be an integer between 2 and 32, "
                             f"not {vw!r}")
        if not (_is_int(aw) and 2 * vw <= aw <= 64):
            raise ValueError(f"IntSemantics.acc_width must be an integer between "
                             f"2 * value_width = {2 * vw} and 64, not {aw!r}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"IntSemantics.overflow must be one of {OVERFLOW_MODES}, "
                             f"not {self.overflow!r}")

    @classmethod
    def from_config(cls, cfg) -> "IntSemantics":
        """The semantics of any object with ``value_width``, ``acc_width`` and ``overflow``."""
        return cls(cfg.value_width, cfg.acc_width, cfg.overflow)

    def acc_add(self, acc: int, x: int) -> int:
        """``acc + x`` wrapped or saturated to the accumulator range (Python ``int``)."""
        total = int(acc) + int(x)
        if self.overflow == "wrap":
            return (total - self.acc_min) % (1 << self.acc_width) + self.acc_min
        return min(max(total, self.acc_min), self.acc_max)

    def check_values(self, array, what: str) -> None:
        """Raise ``ValueError`` unless every value of ``array`` is an integer in
        ``[value_min, value_max]``. ``array`` may be a NumPy array (or nested list), a format
        object or a SciPy sparse matrix; the first bad value in row-major order is named, with
        its coordinate."""
        if isinstance(array, SparseVector):
            crd = array.crd
            self._check_entries(what, lambda k: (crd[k],), array.vals)
            return
        if isinstance(array, _f.Dense):
            array = array.array
        elif isinstance(array, _f._Matrix):
            coo = array.to_coo()  # row-major order
            self._check_entries(what, lambda k: (coo.rows[k], coo.cols[k]), coo.vals)
            return
        elif scipy.sparse.issparse(array):
            coo = scipy.sparse.coo_array(array)
            order = np.lexsort(coo.coords[::-1])  # row-major order
            coords = [np.asarray(c)[order] for c in coo.coords]
            self._check_entries(what, lambda k: tuple(c[k] for c in coords),
                                np.asarray(coo.data)[order])
            return
        arr = np.asarray(array)
        self._check_entries(what, lambda k: np.unravel_index(k, arr.shape), arr.ravel())

    def _check_entries(self, what, position, values):
        """``values`` in row-major order; ``position(k)`` is the coordinate of ``values[k]``."""
        values = np.asarray(values)
        kind = values.dtype.kind
        if values.size == 0 or kind == "b":
            return
        if kind == "f":
            with np.errstate(invalid="ignore"):
                fraction = ~np.isfinite(values) | (values != np.floor(values))
            if fraction.any():
                k = int(np.argmax(fraction))
                raise ValueError(f"{what}: non-integer value {float(values[k])!r} at "
                                 f"{_where(position(k))}")
        elif kind == "O":
            for k, v in enumerate(values.tolist()):  # Python objects: look at each one
                integral = _is_int(v) or isinstance(v, bool) or (
                    isinstance(v, float) and v == v and abs(v) != float("inf") and v == int(v))
                if not integral:
                    raise ValueError(f"{what}: non-integer value {v!r} at {_where(position(k))}")
            values = np.array([int(v) for v in values.tolist()], dtype=object)
        elif kind not in "iu":
            raise ValueError(f"{what}: values must be integers, not dtype {values.dtype}")
        wrong = np.asarray((values < self.value_min) | (values > self.value_max), dtype=bool)
        if wrong.any():
            k = int(np.argmax(wrong))
            raise ValueError(f"{what}: value {int(values[k])} at {_where(position(k))} does not "
                             f"fit signed {self.value_width}-bit "
                             f"[{self.value_min}, {self.value_max}]")


def _semantics(sem) -> IntSemantics:
    return sem if isinstance(sem, IntSemantics) else IntSemantics.from_config(sem)


def relu(x):
    """``max(x, 0)``: of an integer (returns ``int``) or elementwise of an array (``int64``)."""
    if _is_int(x):
        return max(int(x), 0)
    return np.maximum(np.asarray(x, dtype=np.int64), 0)


# Operand preparation ----------------------------------------------------------------------

def _matrix(x, name: str, kernel: str, fmt: str, sem: IntSemantics):
    """Check the values of a matrix operand, then convert it to ``fmt``."""
    if not isinstance(x, _f._Format) and not scipy.sparse.issparse(x):
        if np.ndim(x) != 2:
            raise ValueError(f"{kernel}: {name} must be a 2-D matrix, not shape {np.shape(x)}")
    elif len(x.shape) != 2:
        raise ValueError(f"{kernel}: {name} must be a 2-D matrix, not shape {x.shape}")
    sem.check_values(x, name)
    return to_format(x, fmt)


def _dense_vector(x, name: str, kernel: str, sem: IntSemantics) -> list:
    """A dense vector operand as a list of Python ints."""
    if isinstance(x, SparseVector):
        sem.check_values(x, name)
        return x.to_dense().tolist()
    if isinstance(x, _f.Dense):
        x = x.array
    if len(np.shape(x)) != 1:
        raise ValueError(f"{kernel}: {name} must be a 1-D vector, not shape {np.shape(x)}")
    sem.check_values(x, name)
    return _f.Dense(x).array.tolist()


def _sparse_vector(x, name: str, kernel: str, sem: IntSemantics) -> SparseVector:
    if not isinstance(x, SparseVector):
        if isinstance(x, _f.Dense):
            x = x.array
        if scipy.sparse.issparse(x):
            shape = x.shape
        else:
            shape = np.shape(x)
        if len(shape) != 1:
            raise ValueError(f"{kernel}: {name} must be a 1-D vector, not shape {shape}")
    sem.check_values(x, name)
    return to_format(x, "vector")


def _dense_matrix(x, name: str, kernel: str, sem: IntSemantics):
    """A matrix operand as ``(shape, rows)``: a dense list of lists of Python ints."""
    dense = _matrix(x, name, kernel, "dense", sem)
    return dense.shape, dense.to_dense().tolist()


# The one arithmetic primitive -------------------------------------------------------------

def _dot(sem: IntSemantics, a_fiber, b_lookup: dict, relu_: bool) -> int:
    """``a_fiber``: ``(k, a)`` pairs in increasing ``k``; ``b_lookup``: ``{k: b}``."""
    acc = 0
    for k, a in a_fiber:
        if a == 0:
            continue
        b = b_lookup.get(k, 0)
        if b == 0:
            continue
        acc = sem.acc_add(acc, a * b)
    return max(acc, 0) if relu_ else acc


def _csr_rows(A: CSR) -> list:
    """The rows of a CSR as lists of ``(column, value)`` pairs, columns increasing."""
    pos, crd, vals = A.pos.tolist(), A.crd.tolist(), A.vals.tolist()
    return [list(zip(crd[pos[i]:pos[i + 1]], vals[pos[i]:pos[i + 1]]))
            for i in range(A.shape[0])]


def _dense_rows(A: list, cols: int) -> list:
    return [[(k, row[k]) for k in range(cols)] for row in A]


def _nonzero_lookup(values) -> dict:
    return {k: v for k, v in enumerate(values) if v != 0}


# Kernels ----------------------------------------------------------------------------------

def spmv(A, x, sem, relu: bool = False) -> np.ndarray:
    """Sparse matrix times dense vector: ``y[i] = dot(row i of A, x)``."""
    sem = _semantics(sem)
    A = _matrix(A, "A", "spmv", "csr", sem)
    xs = _dense_vector(x, "x", "spmv", sem)
    if A.shape[1] != len(xs):
        raise ValueError(f"spmv: A has {A.shape[1]} columns but x has length {len(xs)}")
    x_lookup = _nonzero_lookup(xs)
    y = [_dot(sem, row, x_lookup, relu) for row in _csr_rows(A)]
    return np.array(y, dtype=np.int64).reshape(A.shape[0])


def spmspv(A, x, sem, relu: bool = False) -> np.ndarray:
    """Sparse matrix times sparse vector, dense result: ``y[i] = dot(row i of A, x)``."""
    sem = _semantics(sem)
    A = _matrix(A, "A", "spmspv", "csr", sem)
    xv = _sparse_vector(x, "x", "spmspv", sem)
    if A.shape[1] != xv.length:
        raise ValueError(f"spmspv: A has {A.shape[1]} columns but x has length {xv.length}")
    x_lookup = {k: v for k, v in zip(xv.crd.tolist(), xv.vals.tolist()) if v != 0}
    y = [_dot(sem, row, x_lookup, relu) for row in _csr_rows(A)]
    return np.array(y, dtype=np.int64).reshape(A.shape[0])


def spmm(A, B, sem, relu: bool = False) -> np.ndarray:
    """Sparse matrix times dense matrix: ``C[i, j] = dot(row i of A, column j of B)``."""
    sem = _semantics(sem)
    A = _matrix(A, "A", "spmm", "csr", sem)
    (b_rows, b_cols), Bd = _dense_matrix(B, "B", "spmm", sem)
    if A.shape[1] != b_rows:
        raise ValueError(f"spmm: A has {A.shape[1]} columns but B has {b_rows} rows")
    columns = [_nonzero_lookup([Bd[k][j] for k in range(b_rows)]) for j in range(b_cols)]
    C = [[_dot(sem, row, columns[j], relu) for j in range(b_cols)] for row in _csr_rows(A)]
    return np.array(C, dtype=np.int64).reshape(A.shape[0], b_cols)


def gemv(A, x, sem, relu: bool = False) -> np.ndarray:
    """Dense matrix times dense vector, same semantics as :func:`spmv` (zeros skipped)."""
    sem = _semantics(sem)
    (a_rows, a_cols), Ad = _dense_matrix(A, "A", "gemv", sem)
    xs = _dense_vector(x, "x", "gemv", sem)
    if a_cols != len(xs):
        raise ValueError(f"gemv: A has {a_cols} columns but x has length {len(xs)}")
    x_lookup = _nonzero_lookup(xs)
    y = [_dot(sem, row, x_lookup, relu) for row in _dense_rows(Ad, a_cols)]
    return np.array(y, dtype=np.int64).reshape(a_rows)


def gemm(A, B, sem, relu: bool = False) -> np.ndarray:
    """Dense matrix times dense matrix, same semantics as :func:`spmm` (zeros skipped)."""
    sem = _semantics(sem)
    (a_rows, a_cols), Ad = _dense_matrix(A, "A", "gemm", sem)
    (b_rows, b_cols), Bd = _dense_matrix(B, "B", "gemm", sem)
    if a_cols != b_rows:
        raise ValueError(f"gemm: A has {a_cols} columns but B has {b_rows} rows")
    columns = [_nonzero_lookup([Bd[k][j] for k in range(b_rows)]) for j in range(b_cols)]
    C = [[_dot(sem, row, columns[j], relu) for j in range(b_cols)]
         for row in _dense_rows(Ad, a_cols)]
    return np.array(C, dtype=np.int64).reshape(a_rows, b_cols)


def _csr_from_rows(shape, rows: list) -> CSR:
    """A CSR from per-row ``{column: value}`` dicts, dropping zeros, columns sorted."""
    pos, crd, vals = [0], [], []
    for entries in rows:
        for j in sorted(entries):
            if entries[j] != 0:
                crd.append(j)
                vals.append(entries[j])
        pos.append(len(crd))
    return CSR(shape, pos, crd, vals)


def spgemm(A, B, sem, relu: bool = False) -> CSR:
    """Sparse matrix times sparse matrix, sparse result (Gustavson, row by row).

    For each row ``i`` of ``A`` and each ``k`` of that row in increasing order, every nonzero
    ``B[k, j]`` adds ``A[i, k] * B[k, j]`` into ``C[i, j]`` with ``acc_add``; so each
    ``C[i, j]`` receives its products in increasing ``k``, exactly as ``dot(row i of A,
    column j of B)``. Zero results (after the ReLU) are dropped."""
    sem = _semantics(sem)
    A = _matrix(A, "A", "spgemm", "csr", sem)
    B = _matrix(B, "B", "spgemm", "csr", sem)
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"spgemm: A has {A.shape[1]} columns but B has {B.shape[0]} rows")
    b_rows = _csr_rows(B)
    out_rows = []
    for a_row in _csr_rows(A):
        acc = {}
        for k, a in a_row:
            if a == 0:
                continue
            for j, b in b_rows[k]:
                if b == 0:
                    continue
                acc[j] = sem.acc_add(acc.get(j, 0), a * b)
        out_rows.append({j: (max(v, 0) if relu else v) for j, v in acc.items()})
    return _csr_from_rows((A.shape[0], B.shape[1]), out_rows)


def _same_shape_csr(kernel: str, A, B, sem):
    """Both operands of an elementwise kernel as CSR, checked to have one shape."""
    A = _matrix(A, "A", kernel, "csr", sem)
    B = _matrix(B, "B", kernel, "csr", sem)
    if A.shape != B.shape:
        raise ValueError(f"{kernel}: A has shape {A.shape} but B has shape {B.shape}")
    return A, B


def ewmul(A, B, sem) -> CSR:
    """Elementwise product over the intersection of the nonzeros of ``A`` and ``B``."""
    sem = _semantics(sem)
    A, B = _same_shape_csr("ewmul", A, B, sem)
    out_rows = []
    for a_row, b_row in zip(_csr_rows(A), _csr_rows(B)):
        b_lookup = dict(b_row)
        entries = {}
        for j, a in a_row:
            b = b_lookup.get(j, 0)
            if a != 0 and b != 0:
                entries[j] = sem.acc_add(0, a * b)
        out_rows.append(entries)
    return _csr_from_rows(A.shape, out_rows)


def ewadd(A, B, sem, relu: bool = False) -> CSR:
    """Elementwise sum over the union of the nonzeros of ``A`` and ``B``; zero sums dropped."""
    sem = _semantics(sem)
    A, B = _same_shape_csr("ewadd", A, B, sem)
    out_rows = []
    for a_row, b_row in zip(_csr_rows(A), _csr_rows(B)):
        a_lookup = {j: a for j, a in a_row if a != 0}
        b_lookup = {j: b for j, b in b_row if b != 0}
        entries = {}
        for j in sorted(set(a_lookup) | set(b_lookup)):
            c = sem.acc_add(sem.acc_add(0, a_lookup.get(j, 0)), b_lookup.get(j, 0))
            entries[j] = max(c, 0) if relu else c
        out_rows.append(entries)
    return _csr_from_rows(A.shape, out_rows)


# Overflowed results -----------------------------------------------------------------------

_INT64_MAX = (1 << 63) - 1


def _int_csr(x):
    """An operand or a result as an int64 SciPy CSR array (a 1-D vector as one column)."""
    if isinstance(x, SparseVector):
        x = x.to_dense()
    elif isinstance(x, _f.Dense):
        x = x.array
    elif isinstance(x, _f._Format):
        x = x.to_scipy()
    if not scipy.sparse.issparse(x):
        x = np.asarray(x, dtype=np.int64)
        if x.ndim == 1:
            x = x[:, None]
    return scipy.sparse.csr_array(x, dtype=np.int64)


def count_overflows(kernel: str, A, B, result, relu: bool = False) -> int:
    """How many elements of ``result`` (of ``kernel`` on ``A`` and ``B``, as this module or
    the hardware computes it) differ from the exact integer result: the results the
    accumulator's wrap or saturation changed (see "Overflowed results" in the module doc).

    Operands and ``result`` in any form the kernels take or return. The exact result is an
    int64 SciPy product when no sum can leave int64 (``max |A| * max |B| * the longest row
    of A`` fits), else it is summed in Python integers."""
    A, B, got = _int_csr(A), _int_csr(B), _int_csr(result)
    if kernel == "ewmul":
        exact = A.multiply(B)
    elif kernel == "ewadd":
        exact = A + B
    else:
        longest = int(np.diff(A.indptr).max(initial=0))
        largest = [int(abs(M.data).max(initial=0)) for M in (A, B)]
        if largest[0] * largest[1] * longest > _INT64_MAX:
            return _count_overflows_exactly(A, B, got, relu)
        exact = A @ B
    if relu:
        exact = exact.maximum(0)
    return int((got != exact).nnz)


def _count_overflows_exactly(A, B, got, relu: bool) -> int:
    """:func:`count_overflows` of a product whose sums may not fit int64: each row of
    ``A @ B`` summed in Python integers (SciPy CSR ``A``, ``B``, ``got``)."""
    def row(M, i):
        span = slice(M.indptr[i], M.indptr[i + 1])
        return zip(M.indices[span].tolist(), M.data[span].tolist())

    count = 0
    for i in range(A.shape[0]):
        exact = {}
        for k, a in row(A, i):
            for j, b in row(B, k):
                exact[j] = exact.get(j, 0) + a * b
        returned = dict(row(got, i))
        for j in exact.keys() | returned.keys():
            want = exact.get(j, 0)
            count += returned.get(j, 0) != (max(want, 0) if relu else want)
    return count


def requantize(acc, mult, shift, zero, lo: int, hi: int) -> np.ndarray:
    """The result stage: ``clamp(((acc * m + (2**s >> 1)) >> s) + z, lo, hi)`` per row, in
    Python integers (nothing can overflow). ``acc``: results, one row per output row (1-D or
    rows x columns); ``mult``, ``shift``, ``zero``: one integer per row, or one for all.

    ``(acc * m + 2**(s - 1)) >> s`` is ``acc * m / 2**s`` rounded half up (toward +inf on a tie;
    ONNX's QuantizeLinear rounds ties to even, so the two differ on exact ties only)."""
    a = np.asarray(acc, dtype=object)
    rows = a.reshape(len(a) if a.ndim else 1, -1)

    def per_row(v, what):
        v = np.asarray(v, dtype=object).reshape(-1)
        if v.size not in (1, len(rows)):
            raise ValueError(f"requantize: {what} has {v.size} values for {len(rows)} rows")
        return np.broadcast_to(v, (len(rows),))

    out = [np.clip(((r * int(m) + ((1 << int(s)) >> 1)) >> int(s)) + int(z), lo, hi)
           for r, m, s, z in zip(rows, per_row(mult, "mult"), per_row(shift, "shift"),
                                 per_row(zero, "zero"))]
    return np.array(out, dtype=np.int64).reshape(a.shape)
