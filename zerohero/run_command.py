"""``zerohero run KERNEL``: one kernel on one backend, with operands from files or generated,
checked and reported.

Operands
--------
``--a FILE`` / ``--b FILE`` read Matrix Market (``.mtx``) or NumPy (``.npy``) files. A sparse
kernel's ``A`` (spmv, spmspv, spmm) becomes a CSR (a ``.npy`` is compressed, its zeros dropped;
the stored entries of a ``.mtx`` stay stored, explicit zeros included); a dense kernel's ``A``
(gemv, gemm) is a dense array (a ``.mtx`` is expanded). ``B`` is a dense vector (spmv, gemv),
a sparse vector (spmspv) or a dense matrix (spmm, gemm); a vector may be given as a 1-D array
or as a matrix with one row or one column (the usual Matrix Market vector).

Sparse-output kernels (spgemm, ewmul, ewadd): ``A`` and ``B`` are both CSR (``B`` generated,
without ``--b``, at density ``D``: ``COLS x N`` for spgemm with ``--b-cols N``, A's shape for
ewmul and ewadd); the result is a sparse matrix with zero results dropped, compared densely
with the reference (a stored zero is a mismatch); ``--out x.mtx`` writes its entries.

Without ``--a``, ``--random ROWSxCOLS`` generates ``A``: ``round(D * ROWS * COLS)`` (at least
one) nonzeros at uniformly drawn positions (``--density D``, default 0.1; also for the dense
kernels, whose ``A`` then holds zeros for the hardware to skip). Without ``--b`` a second operand
matching ``A`` is generated: a dense vector of ``COLS`` (spmv, gemv), a sparse vector of
``COLS`` at density ``D`` (spmspv), a dense ``COLS x N`` matrix (spmm, gemm; ``--b-cols N``,
default 8). Dense generated operands have no zeros. Generated values are nonzero integers in
``[-M, M]`` with ``M = --max-value`` (default 127, 8-bit magnitudes, so results stay readable
and sums of a few thousand products cannot overflow a 32-bit accumulator; ``full`` uses the
configured ``value_max``). ``--seed S`` (default 0) fixes everything; ``A`` and ``B`` draw from
separate streams, so ``B`` is the same whether ``A`` is generated or read.

Values
------
Integer values (integer or pattern ``.mtx`` files, integer or boolean ``.npy`` arrays, real
values that are all whole numbers) within the configured signed ``value_width`` run as they
are. Anything else (fractions, integers out of range) is rejected with a hint, unless
``--quantize`` is given: then each such operand is scaled on its own, ``s = max|v| /
value_max``, ``q = round(v / s)`` (ties away from zero; a nonzero that would round to 0
becomes +-1, so the sparsity pattern is kept), exactly like ``load_mtx(values="quantize")``.
Operands that are already exact keep scale 1. The report then includes the quantization error:
``max |C_q * s_A * s_B - C| / max |C|`` over all elements, where ``C_q`` is the integer result
and ``C`` the float64 SciPy/NumPy product of the original operands (ReLU applied to both when
``--relu``); ``null`` when ``C`` is all zero.

Check
-----
``check`` is ``"pass"`` when the backend's result equals a reference exactly, element by element:

- ``verilator``/``icarus``: the bit-exact golden model (:mod:`zerohero.model` kernels with
  ``IntSemantics.from_config``);
- ``model`` (the golden model itself): an independent NumPy/SciPy computation of the same
  integer semantics: the int64 product summed modulo ``2**64`` and wrapped to ``acc_width``
  bits (``wrap``), or a vectorized saturating sum in coordinate order (``saturate``), then the
  ReLU.

Exit status 0 when the check passes, 1 when it fails or the simulation fails, 2 for bad input
(one ``zerohero: error: ...`` line). Progress of the slow stages goes to stderr (``--quiet``
silences it); ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse

from zerohero import model, outputs
from zerohero.spec.config import preset

__all__ = ["run_command", "KERNELS", "numpy_reference", "read_operand", "input_file"]

KERNELS = tuple(model.KERNELS)
#: Kernels with a sparse B and a sparse (scipy CSR) result.
SPARSE_B = tuple(k.name for k in model.KERNELS.values() if k.sparse)
SPARSE_A = tuple(k.name for k in model.KERNELS.values() if k.a == "csr")
VECTOR_B = tuple(k.name for k in model.KERNELS.values() if k.b in ("vector", "sparse vector"))
DEFAULT_DENSITY = 0.1
DEFAULT_B_COLS = 8
DEFAULT_MAX_VALUE = 127
#: Operands beyond this many entries are refused before anything is allocated.
MAX_ENTRIES = 50_000_000
#: Work (products) above which the model and check stages report progress.
LONG_WORK = 200_000

class RunError(ValueError):
    """Bad input: reported as one line, exit status 2."""


def resolve_board(name, port):
    """The board of ``--board NAME`` (which needs ``--port``), or None without ``--board``."""
    if not name:
        if port:
            raise RunError("--port needs --board (the board on that port)")
        return None
    from zerohero.fpga.boards import BOARDS

    if name not in BOARDS:
        raise RunError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}")
    if not port:
        raise RunError(f"--board {name} needs --port (the board's serial device)")
    return BOARDS[name]


def backend_options(board, port, config: str | None = None) -> dict:
    """``Runtime`` keyword arguments of the board backend (none for a simulator): the
    clock of the board's last build of preset ``config`` (default: its own; the target if
    there is no build) converts cycles into timeouts, and the serial port runs at the baud
    that build's UART was made for."""
    if not board:
        return {}
    from zerohero.fpga.boards import last_build

    from zerohero.spec.link import DEFAULT_BAUD

    config = config or board.config
    if config not in board.presets:
        raise RunError(f"--board {board.name} runs the presets it builds "
                       f"({', '.join(board.presets)}), not --config {config}")
    report = last_build(board.name, config) or {}
    return {"port": port, "clock_hz": report.get("clock_mhz", board.target(config)[0]) * 1e6,
            "baud": report.get("baud", DEFAULT_BAUD)}


# Operands ---------------------------------------------------------------------------------

@dataclass
class Raw:
    """An operand as read: ``sparse`` (a scipy COO, stored entries kept) or ``dense``."""

    source: str
    sparse: object = None
    dense: np.ndarray | None = None
    scale: float = 1.0
    quantized: bool = False
    real: object = field(default=None, repr=False)  # float64 original, same container

    @property
    def shape(self):
        return self.sparse.shape if self.sparse is not None else self.dense.shape

    def values(self):
        return np.asarray(self.sparse.data if self.sparse is not None else self.dense).ravel()

    def position(self, k):
        if self.sparse is not None:
            return f"({int(self.sparse.row[k])}, {int(self.sparse.col[k])})"
        idx = np.unravel_index(k, self.dense.shape)
        return "(" + ", ".join(str(int(i)) for i in idx) + ")" if len(idx) > 1 else str(idx[0])

    def with_values(self, vals):
        if self.sparse is not None:
            s = self.sparse
            return scipy.sparse.coo_matrix((vals, (s.row, s.col)), shape=s.shape)
        return np.asarray(vals).reshape(self.dense.shape)


def read_operand(path: str, name: str) -> Raw:
    """Read ``--a``/``--b`` (``name``) from ``path``; values not yet checked. Sizes are checked
    from the file's header (Matrix Market size line, ``.npy`` header) before anything is read
    into memory."""
    p = Path(path)
    where = f"--{name.lower()} {path}"
    if p.suffix.lower() not in (".mtx", ".npy"):
        raise RunError(f"{where}: expected a .mtx (Matrix Market) or .npy (NumPy) file")
    input_file(p, where)
    if p.suffix.lower() == ".mtx":
        try:
            mm = model.read_mtx(p, max_entries=MAX_ENTRIES)
        except model.MtxError as e:
            raise RunError(f"{where}: line {e.line}: {e.reason}") from None
        raw = (Raw(p.name, dense=mm.to_dense()) if mm.layout == "array" else
               Raw(p.name, sparse=scipy.sparse.coo_matrix((mm.values, (mm.rows, mm.cols)),
                                                          shape=mm.shape)))
        return _not_empty(raw, where)
    try:
        # Memory-mapped: the header (dtype, shape) is checked before the data is read.
        arr = np.load(str(p), mmap_mode="r", allow_pickle=False)
    except Exception as e:
        # NumPy's message about pickled data advises loading it unsafely: never pass that on.
        why = ("it holds pickled Python objects, which are never loaded" if "pickle" in str(e)
               or "Python objects" in str(e) else _one_line(e))
        raise RunError(f"{where}: not a readable .npy array ({why})") from None
    if not isinstance(arr, np.ndarray):
        with contextlib.suppress(Exception):
            arr.close()
        raise RunError(f"{where}: not a .npy array (it is a .npz archive of arrays)")
    if arr.dtype.kind not in "biuf":
        raise RunError(f"{where}: expected an array of numbers, not {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise RunError(f"{where}: expected a vector or a matrix (1-D or 2-D), not shape "
                       f"{arr.shape}")
    if arr.size > MAX_ENTRIES:
        raise RunError(f"{where}: {arr.size} entries (shape {arr.shape}) are more than the "
                       f"{MAX_ENTRIES} zerohero reads")
    return _not_empty(Raw(p.name, dense=np.array(arr)), where)


def input_file(path: Path, where: str = ""):
    """A ``RunError`` (``where: why``, or ``why``) unless ``path`` is a regular file: a
    directory is named as one, and a FIFO or device would block a read or never end."""
    why = ("is a directory" if path.is_dir() else "no such file" if not path.exists() else
           None if path.is_file() else "not a regular file (a device, FIFO or socket); give a "
           "file")
    if why:
        raise RunError(f"{where}: {why}" if where else why)


def _not_empty(raw: Raw, where: str) -> Raw:
    if 0 in raw.shape:
        raise RunError(f"{where}: the operand is empty ({_shape_text(raw.shape)}); every "
                       "kernel needs at least one row and one column")
    return raw


def _one_line(e) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def integerize(raw: Raw, name: str, cfg, allow_quantize: bool) -> Raw:
    """``raw`` with int64 values: exact when possible, else quantized or an error."""
    vals = raw.values()
    vmin, vmax, width = cfg.value_min, cfg.value_max, cfg.value_width
    label = f"{name} ({raw.source})"
    if vals.dtype.kind == "b":
        vals = vals.astype(np.int64)
    real = vals.astype(np.float64)
    bad, why = None, None
    if vals.dtype.kind == "f":
        finite = np.isfinite(vals)
        if not finite.all():
            k = int(np.argmax(~finite))
            raise RunError(f"{label}: value {float(vals[k])!r} at {raw.position(k)} is not finite")
        fraction = vals != np.floor(vals)
        if fraction.any():
            bad = int(np.argmax(fraction))
            why = f"value {float(vals[bad])!r} at {raw.position(bad)} is not an integer"
    if bad is None:
        out = (vals < vmin) | (vals > vmax)
        if out.any():
            bad = int(np.argmax(out))
            v = vals[bad]
            v = int(v) if vals.dtype.kind in "biu" or abs(float(v)) < 2.0**63 else float(v)
            why = (f"value {v} at {raw.position(bad)} does not fit signed {width}-bit "
                   f"[{vmin}, {vmax}]")
    if bad is None:
        ints = vals.astype(np.int64)
        return Raw(raw.source, sparse=raw.with_values(ints) if raw.sparse is not None else None,
                   dense=None if raw.sparse is not None else raw.with_values(ints),
                   real=raw.with_values(real))
    if not allow_quantize:
        raise RunError(f"{label}: {why}; use --quantize to scale it to {width}-bit integers")
    q, s = model.quantize(real, vmax)
    if s < np.finfo(np.float64).tiny and (real != 0).any():
        # The product of two such scales is 0: every result would read back as 0.
        raise RunError(f"{label}: its largest magnitude {np.abs(real).max():g} is too small "
                       "to quantize "
                       f"(the scale max|v| / {vmax} = {s:g} is below the smallest normal "
                       "float64); rescale the data")
    return Raw(raw.source, sparse=raw.with_values(q) if raw.sparse is not None else None,
               dense=None if raw.sparse is not None else raw.with_values(q), scale=s,
               quantized=True, real=raw.with_values(real))


def _vector(container, name, kernel):
    """A 1-D view of a vector given as 1-D, one row or one column."""
    shape = container.shape
    if len(shape) == 1:
        return container, shape[0]
    if len(shape) == 2 and 1 in shape:
        return container, shape[0] * shape[1]
    raise RunError(f"{kernel}: {name} must be a vector (shape (n,), (n, 1) or (1, n)), "
                   f"not shape {tuple(shape)}")


def _to_dense(container):
    return container.toarray() if scipy.sparse.issparse(container) else np.asarray(container)


def _entries(shape) -> int:
    return math.prod(int(s) for s in shape)


def kernel_operands(kernel: str, a: Raw, b: Raw):
    """The runtime's operands ``(A, B)`` and their float64 originals ``(A_real, B_real)``."""
    a_int = a.sparse if a.sparse is not None else a.dense
    if len(a.shape) != 2:
        raise RunError(f"{kernel}: A must be a 2-D matrix, not shape {tuple(a.shape)}")
    if kernel not in SPARSE_A and _entries(a.shape) > MAX_ENTRIES:
        raise RunError(f"{kernel}: A of {a.shape[0]} x {a.shape[1]} is too large for a dense "
                       f"kernel; use spmv, spmspv or spmm")
    if kernel in SPARSE_A:
        A = (model.from_scipy(a_int, "csr") if scipy.sparse.issparse(a_int)
             else model.from_dense(a_int, "csr"))
        A_real = scipy.sparse.csr_matrix(a.real) if scipy.sparse.issparse(a.real) \
            else np.asarray(a.real)
    else:
        A, A_real = _to_dense(a_int), _to_dense(a.real)
    b_int = b.sparse if b.sparse is not None else b.dense
    if kernel in SPARSE_B:
        if len(b.shape) != 2:
            raise RunError(f"{kernel}: B must be a 2-D matrix, not shape {tuple(b.shape)}")
        B = (model.from_scipy(b_int, "csr") if scipy.sparse.issparse(b_int)
             else model.from_dense(b_int, "csr"))
        B_real = scipy.sparse.csr_matrix(b.real) if scipy.sparse.issparse(b.real) \
            else np.asarray(b.real)
    elif kernel in VECTOR_B:
        _, length = _vector(b_int, "B", kernel)
        if kernel == "spmspv":
            if scipy.sparse.issparse(b_int):
                coo = b_int.tocoo()
                crd = coo.row if coo.shape[1] == 1 else coo.col
                order = np.argsort(crd, kind="stable")
                B = model.SparseVector(length, crd[order], coo.data[order])
            else:
                B = model.SparseVector.from_dense(np.asarray(b_int).reshape(length))
        else:
            B = _to_dense(b_int).reshape(length)
        B_real = _to_dense(b.real).reshape(length)
    else:
        if len(b.shape) != 2:
            raise RunError(f"{kernel}: B must be a 2-D matrix, not shape {tuple(b.shape)}")
        if _entries(b.shape) > MAX_ENTRIES:
            raise RunError(f"{kernel}: B of {b.shape[0]} x {b.shape[1]} is too large")
        B, B_real = _to_dense(b_int), _to_dense(b.real)
    return A, B, A_real, B_real


# Generated operands -----------------------------------------------------------------------

def parse_random(spec: str):
    m = re.fullmatch(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", spec or "")
    if not m:
        raise RunError(f"--random must look like ROWSxCOLS, not {spec!r}")
    rows, cols = int(m.group(1)), int(m.group(2))
    if rows < 1 or cols < 1:
        raise RunError(f"--random: ROWS and COLS must be at least 1, not {spec!r}")
    return rows, cols


def _number(text, option, kind, lo=None):
    try:
        if isinstance(text, str) and not (text.isascii() and "_" not in text):
            raise ValueError(text)              # Python would read "٣" or "1_0" too
        value = kind(text)
    except (TypeError, ValueError):
        raise RunError(f"{option} must be {'an integer' if kind is int else 'a number'}, "
                       f"not {text!r}") from None
    if lo is not None and value < lo:
        raise RunError(f"{option} must be at least {lo}, not {text!r}")
    return value


def parse_density(text):
    d = _number(text, "--density", float)
    if not (0.0 < d <= 1.0):  # also rejects NaN
        raise RunError(f"--density must be in (0, 1], not {text!r}")
    return d


def parse_max_value(text, cfg):
    if text is None:
        return min(DEFAULT_MAX_VALUE, cfg.value_max)
    if str(text).lower() == "full":
        return cfg.value_max
    m = _number(text, "--max-value", int, 1)
    if m > cfg.value_max:
        raise RunError(f"--max-value {m} exceeds the configured value_max {cfg.value_max} "
                       f"(signed {cfg.value_width}-bit); use 'full' for the whole range")
    return m


def _nonzero_values(rng, n, m):
    return rng.integers(1, m + 1, size=n) * rng.choice(np.array([-1, 1]), size=n)


def _positions(rng, total, density, what="--random ROWSxCOLS"):
    if total >= 1 << 63:
        raise RunError(f"{what}: {total} positions are more than zerohero generates operands "
                       "for (2**63)")
    count = max(1, round(density * total))
    if count > MAX_ENTRIES:
        raise RunError(f"{count} nonzeros at --density {density:g} are too many to generate "
                       f"(at most {MAX_ENTRIES}): make --random ROWSxCOLS or --density smaller")
    return np.sort(rng.choice(total, size=count, replace=False))


def random_a(kernel, rows, cols, density, m, seed) -> Raw:
    rng = np.random.default_rng([seed, 0])
    if kernel not in SPARSE_A and rows * cols > MAX_ENTRIES:
        raise RunError(f"--random {rows}x{cols} is too large for the dense kernel {kernel}")
    flat = _positions(rng, rows * cols, density)
    vals = _nonzero_values(rng, len(flat), m)
    src = f"random {rows} x {cols}, density {density:g}, values in [-{m}, {m}], seed {seed}"
    coo = scipy.sparse.coo_matrix((vals, (flat // cols, flat % cols)), shape=(rows, cols))
    if kernel in SPARSE_A:
        return Raw(src, sparse=coo, real=coo.astype(np.float64))
    dense = coo.toarray()
    return Raw(src, dense=dense, real=dense.astype(np.float64))


def random_b(kernel, cols, density, b_cols, m, seed, rows=None) -> Raw:
    """``rows``: A's rows (ewmul and ewadd generate a B of A's shape)."""
    rng = np.random.default_rng([seed, 1])
    if kernel in SPARSE_B:
        shape = (rows, cols) if kernel != "spgemm" else (cols, b_cols)
        flat = _positions(rng, shape[0] * shape[1], density, "the generated B")
        vals = _nonzero_values(rng, len(flat), m)
        coo = scipy.sparse.coo_matrix((vals, (flat // shape[1], flat % shape[1])), shape=shape)
        return Raw(f"random {shape[0]} x {shape[1]}, density {density:g}, values in [-{m}, {m}]",
                   sparse=coo, real=coo.astype(np.float64))
    if kernel == "spmspv":
        crd = _positions(rng, cols, density, "the generated B")
        vals = _nonzero_values(rng, len(crd), m)
        coo = scipy.sparse.coo_matrix((vals, (crd, np.zeros_like(crd))), shape=(cols, 1))
        src = f"random sparse vector of {cols}, density {density:g}, values in [-{m}, {m}]"
        return Raw(src, sparse=coo, real=coo.astype(np.float64))
    shape = (cols,) if kernel in VECTOR_B else (cols, b_cols)
    if _entries(shape) > MAX_ENTRIES:
        raise RunError(f"a generated B of {shape} is too large")
    dense = _nonzero_values(rng, _entries(shape), m).reshape(shape)
    what = f"dense vector of {cols}" if len(shape) == 1 else f"dense {cols} x {b_cols}"
    return Raw(f"random {what}, values in [-{m}, {m}]", dense=dense,
               real=dense.astype(np.float64))


# References -------------------------------------------------------------------------------

def numpy_reference(kernel, A, B, sem, relu=False) -> np.ndarray:
    """The kernel's integer result computed independently of the golden model (NumPy/SciPy).

    ``A``: CSR (or anything :func:`model.to_format` takes) or a dense 2-D array; ``B``: a
    dense vector/matrix or a SparseVector. Wrap: products and sums in uint64 (exact modulo
    ``2**64``), then reduced to ``acc_width`` signed bits. Saturate: one vectorized step per
    position within a row, in increasing column order, clamping after every addition.
    """
    if isinstance(B, model.SparseVector):
        B = B.to_dense()
    B = np.asarray(B, dtype=np.int64)
    vector = B.ndim == 1
    B2 = np.ascontiguousarray(B.reshape(B.shape[0], -1))
    A = A.to_scipy() if isinstance(A, model.formats._Format) else A
    A = scipy.sparse.csr_matrix(A, dtype=np.int64)
    A.sum_duplicates()
    A.sort_indices()
    if sem.overflow == "wrap":
        Au = scipy.sparse.csr_matrix((A.data.view(np.uint64), A.indices, A.indptr),
                                     shape=A.shape)
        total = np.asarray(Au @ B2.view(np.uint64), dtype=np.uint64)
        if sem.acc_width == 64:
            out = total.view(np.int64)
        else:
            low = total & np.uint64((1 << sem.acc_width) - 1)
            half = np.uint64(1 << (sem.acc_width - 1))
            out = np.where(low >= half, low.astype(np.int64) - (1 << sem.acc_width),
                           low.astype(np.int64))
    else:
        dtype = np.int64 if sem.acc_width <= 62 else object
        acc = np.zeros((A.shape[0], B2.shape[1]), dtype=dtype)
        counts = np.diff(A.indptr)
        Bd = B2.astype(dtype)
        for t in range(int(counts.max()) if len(counts) else 0):
            rows = np.flatnonzero(counts > t)
            k = A.indptr[rows] + t
            prod = A.data[k].astype(dtype)[:, None] * Bd[A.indices[k], :]
            acc[rows] = np.clip(acc[rows] + prod, sem.acc_min, sem.acc_max)
        out = acc.astype(np.int64)
    if relu:
        out = np.maximum(out, 0)
    return out.reshape(A.shape[0]) if vector else out


def sparse_reference(kernel, A, B, sem, relu=False):
    """The integer result (a SciPy CSR array) of spgemm / ewmul / ewadd computed with SciPy,
    independently
    of the golden model: spgemm as :func:`numpy_reference` of A times dense B (zeros of B add
    nothing, so wrap and saturate give the same sums in the same order); products and sums of
    two values always fit the accumulator."""
    if kernel == "spgemm":
        return scipy.sparse.csr_array(numpy_reference("spmm", A, B.to_dense(), sem, relu))
    a, b = (scipy.sparse.csr_array(X.to_scipy(), dtype=np.int64) for X in (A, B))
    out = a.multiply(b) if kernel == "ewmul" else a + b
    out = scipy.sparse.csr_array(out.maximum(0) if relu else out)
    out.eliminate_zeros()
    return out


def _differences(got, want):
    """``(count, first)``: how many elements of ``got`` differ from ``want`` and the first of
    them (row-major) as ``{"index", "got", "expected"}``; sparse results compared sparsely."""
    if got.shape != want.shape:
        return math.prod(got.shape), {"reason": f"result shape {got.shape}, expected "
                                                f"{want.shape}"}
    if scipy.sparse.issparse(got):
        diff = scipy.sparse.csr_array(got - scipy.sparse.csr_array(want, dtype=np.int64))
        diff.eliminate_zeros()
        diff = diff.tocoo()
        differ = np.stack([diff.row, diff.col], axis=1)[np.lexsort((diff.col, diff.row))]
    else:
        differ = np.argwhere(got != want)
    if not len(differ):
        return 0, None
    idx = tuple(int(i) for i in differ[0])
    return len(differ), {"index": list(idx), "got": int(got[idx]), "expected": int(want[idx])}


def quantization_error(result, kernel, A_real, B_real, scale, relu):
    """``max |result * scale - C| / max |C|`` with ``C`` the float64 product (module doc);
    ``None`` for ewadd (a sum of operands of different scales has no common scale) and when
    ``C`` is all zero or overflows float64."""
    if kernel == "ewadd":
        return None
    with np.errstate(over="ignore", invalid="ignore"):     # a float64 product may overflow
        error = _quantization_error(result, kernel, A_real, B_real, scale, relu)
    return error if error is None or math.isfinite(error) else None


def _quantization_error(result, kernel, A_real, B_real, scale, relu):
    if kernel == "ewmul":
        want = (scipy.sparse.csr_matrix(A_real).multiply(scipy.sparse.csr_matrix(B_real)))
    else:
        want = A_real @ B_real
    if scipy.sparse.issparse(result):          # sparse results stay sparse
        want = scipy.sparse.csr_array(want, dtype=np.float64)
        if relu:
            want = want.maximum(0.0)
        error = abs(scipy.sparse.csr_array(result, dtype=np.float64) * scale - want)
        largest = [float(abs(M).max()) if M.nnz else 0.0 for M in (want, error)]
        return largest[1] / largest[0] if largest[0] else None
    want = np.asarray(want.toarray() if scipy.sparse.issparse(want) else want, dtype=np.float64)
    if relu:
        want = np.maximum(want, 0.0)
    denom = float(np.max(np.abs(want))) if want.size else 0.0
    if denom == 0.0:
        return None
    got = np.asarray(result, dtype=np.float64) * scale
    return float(np.max(np.abs(got - want.reshape(got.shape))) / denom)


# The command ------------------------------------------------------------------------------

def _fmt(x, spec=""):
    return "n/a" if x is None else format(x, spec)


def run_command(args) -> int:
    """Run ``zerohero run`` for parsed ``args``; returns the exit status (0 pass, 1 fail).

    Bad input raises :class:`RunError` (a ``ValueError``) for the CLI's one-line report."""
    from zerohero.runtime import Runtime

    started = time.perf_counter()
    quiet = getattr(args, "quiet", False)

    def progress(message):
        if not quiet:
            print(f"[zerohero] {message}", file=sys.stderr, flush=True)

    kernel = args.kernel
    if kernel not in KERNELS:
        raise RunError(f"unknown kernel {kernel!r}; known: {', '.join(KERNELS)}")
    board = resolve_board(getattr(args, "board", None), getattr(args, "port", None))
    cfg = preset(args.config or (board.config if board else "sim-small"))
    backend = "board" if board else args.sim
    # Checked before anything runs: a bad --out is not discovered after the whole run.
    out = outputs.check("--out", args.out, (".npy", ".mtx"), {"--a": args.a, "--b": args.b})
    if args.a and args.random:
        raise RunError("give either --a FILE or --random ROWSxCOLS, not both")
    if not args.a and not args.random:
        raise RunError("give the first operand: --a FILE or --random ROWSxCOLS")
    density = parse_density(args.density if args.density is not None else DEFAULT_DENSITY)
    seed = _number(args.seed if args.seed is not None else 0, "--seed", int, 0)
    m = parse_max_value(args.max_value, cfg)
    if args.b_cols is not None:
        if kernel in VECTOR_B or kernel in ("ewmul", "ewadd"):
            raise RunError(f"--b-cols applies to spmm, gemm and spgemm, not {kernel}")
        if args.b:
            raise RunError("--b-cols applies to a generated B, not with --b FILE")
    b_cols = _number(args.b_cols if args.b_cols is not None else DEFAULT_B_COLS,
                     "--b-cols", int, 1)

    if args.a:
        a = integerize(read_operand(args.a, "A"), "A", cfg, args.quantize)
    else:
        rows, cols = parse_random(args.random)
        a = random_a(kernel, rows, cols, density, m, seed)
    if len(a.shape) != 2:
        raise RunError(f"{kernel}: A must be a 2-D matrix, not shape {tuple(a.shape)}")
    # The hardware's coordinate range, from the file's size line, before any conversion
    # (a compressed A of 10^8 rows takes gigabytes to build only to be refused).
    rows_have_coords = kernel not in SPARSE_B    # the row-wise kernels address rows too
    if args.a and (a.shape[1] - 1 > cfg.coord_max
                   or (rows_have_coords and a.shape[0] - 1 > cfg.coord_max)):
        raise RunError(f"--a {args.a}: A is {a.shape[0]} x {a.shape[1]} but the coordinates of "
                       f"config {cfg.name} have {cfg.coord_width} bits (largest "
                       f"{cfg.coord_max})")
    if args.b:
        b = integerize(read_operand(args.b, "B"), "B", cfg, args.quantize)
    else:
        b = random_b(kernel, a.shape[1], density, b_cols, m, seed, rows=a.shape[0])
    if args.relu and kernel == "ewmul":
        raise RunError("ewmul has no fused ReLU (a product of two nonzeros is never cut)")
    A, B, A_real, B_real = kernel_operands(kernel, a, b)
    if out and kernel in SPARSE_B and out.path.suffix.lower() == ".npy":
        shape = (A.shape[0], B.shape[1])
        if _entries(shape) > MAX_ENTRIES:
            raise RunError(f"--out {out.path}: the {_shape_text(shape)} sparse result would be "
                           f"{_entries(shape)} entries as a dense .npy (at most {MAX_ENTRIES}); "
                           "write it as a .mtx")

    work = (a.sparse.nnz if a.sparse is not None else _entries(a.shape)) * (
        1 if kernel in VECTOR_B or kernel in SPARSE_B else int(np.shape(B)[1]))
    acc = Runtime(cfg, backend, progress=progress, double_buffer=args.double_buffer,
                      **backend_options(board, args.port, cfg.name))
    if backend == "model" and work > LONG_WORK:
        progress(f"computing {kernel} with the golden model...")
    try:
        if kernel == "ewmul":
            result, stats = acc.ewmul(A, B)
        else:
            result, stats = getattr(acc, kernel)(A, B, relu=args.relu)
    except (RuntimeError, AssertionError) as e:  # the simulation itself failed
        if os.environ.get("ZH_DEBUG"):
            raise
        print(f"zerohero: error: {backend} run failed: {_one_line(e)} "
              f"(ZH_DEBUG=1 shows the details)", file=sys.stderr)
        return 1

    if work > LONG_WORK:
        progress("checking the result...")
    # A sparse result stays sparse (a dense copy of a large one may not fit in memory); its
    # stored zeros are a mismatch.
    sparse = kernel in SPARSE_B
    if backend == "model":
        against = "numpy reference"
        want = (sparse_reference(kernel, A, B, acc.sem, args.relu) if sparse
                else numpy_reference(kernel, A, B, acc.sem, args.relu))
    else:
        against = "golden model"
        want = model.KERNELS[kernel](A, B, acc.sem, relu=args.relu)
        if sparse:
            want = want.to_scipy()
    result = (scipy.sparse.csr_array(result, dtype=np.int64) if sparse
              else np.asarray(result, dtype=np.int64))
    size = math.prod(result.shape)
    mismatches, first = _differences(result, want)
    if sparse and mismatches == 0 and (result.data == 0).any():
        mismatches, first = int((result.data == 0).sum()), {
            "reason": "the sparse result stores zeros (they must be dropped)"}
    check = "pass" if mismatches == 0 else "fail"

    quantized = a.quantized or b.quantized
    rel_error = (quantization_error(result, kernel, A_real, B_real, a.scale * b.scale,
                                    args.relu) if quantized else None)

    if out:
        if out.path.suffix.lower() == ".npy":
            outputs.write(out, lambda f: np.save(f, result.toarray() if sparse else result))
        else:
            stored = result if sparse else result.reshape(len(result), -1)
            outputs.write(out, lambda f: scipy.io.mmwrite(
                f, scipy.sparse.coo_matrix(stored), field="integer",
                comment=f" zerohero run {kernel} --config {cfg.name} --sim {backend}"))

    nnz = lambda x: int(x.nnz) if hasattr(x, "nnz") else int(np.count_nonzero(x))  # noqa: E731
    record = {
        "kernel": kernel, "config": cfg.name, "backend": backend, "check": check,
        "check_against": against, "mismatches": mismatches, "first_mismatch": first,
        "cycles": stats["cycles"], "ideal_cycles": stats["ideal_cycles"],
        "utilization": stats["utilization"], "macs": stats["macs"],
        "useful_macs": stats.get("useful_macs", stats["macs"]),
        "zeros_skipped": stats["zeros_skipped"], "lane_busy": stats["lane_busy"],
        "sim_cycles_per_s": stats.get("sim_cycles_per_s"),
        "tiles": stats.get("tiles"), "load_cycles": stats.get("load_cycles"),
        "hidden_cycles": stats.get("hidden_cycles"), "read_cycles": stats.get("read_cycles"),
        "compute_cycles": stats.get("compute_cycles"),
        "end_to_end_cycles": stats.get("end_to_end_cycles"),
        "host_words_out": stats.get("host_words_out"), "host_words_in": stats.get("host_words_in"),
        "overflows": stats["overflows"],
        "relu": bool(args.relu),
        "a": {"source": a.source, "shape": list(a.shape), "stored": nnz(A),
              "scale": a.scale, "quantized": a.quantized},
        "b": {"source": b.source, "shape": list((B.length,) if hasattr(B, "length")
                                                else np.shape(B)),
              "stored": nnz(B), "scale": b.scale, "quantized": b.quantized},
        "result": {"shape": list(result.shape), "size": size,
                   "nonzeros": int(result.count_nonzero() if sparse
                                   else np.count_nonzero(result))},
        "acc_width": cfg.acc_width, "overflow": acc.sem.overflow,
        "quantization_rel_error": rel_error,
        "out": str(args.out) if args.out else None,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    if args.json:
        print(json.dumps(record))
    else:
        print(report(record))
    if check == "fail":
        where = (f"first at {tuple(first['index'])}: got {first['got']}, expected "
                 f"{first['expected']}" if "index" in first else first["reason"])
        print(f"zerohero: error: check failed: {mismatches} of {size} elements differ "
              f"from the {against} ({where})", file=sys.stderr)
        return 1
    return 0


def _shape_text(shape) -> str:
    return f"vector of {shape[0]}" if len(shape) == 1 else " x ".join(str(s) for s in shape)


def report(r: dict) -> str:
    """The human-readable report of one run record."""
    lines = [f"zerohero run {r['kernel']}: config {r['config']}, backend {r['backend']}"
             + (", fused ReLU" if r["relu"] else "")]
    sparse = {"a": r["kernel"] in SPARSE_A, "b": r["kernel"] in ("spmspv",) + SPARSE_B}
    for name in ("a", "b"):
        o = r[name]
        q = f", quantized with scale {o['scale']:.6g}" if o["quantized"] else ""
        lines.append(f"  {name.upper()}: {_shape_text(o['shape'])}, {o['stored']} "
                     f"{'stored entries' if sparse[name] else 'nonzeros'} ({o['source']}){q}")
    res = r["result"]
    lines.append(f"  result: {_shape_text(res['shape'])}, {res['nonzeros']} nonzero"
                 + (f", written to {r['out']}" if r["out"] else ""))
    if r["check"] == "pass":
        lines.append(f"  check: pass (bit-exact against the {r['check_against']})")
    else:
        lines.append(f"  check: FAIL ({r['mismatches']} elements differ from the "
                     f"{r['check_against']})")
    if r["overflows"]:
        lines.append(f"  overflow: {r['overflows']} of {res['size']} results did not fit the "
                     f"{r['acc_width']}-bit accumulator ({r['overflow']}); they differ from "
                     "the exact integer result")
    util = None if r["utilization"] is None else f"{r['utilization']:.1%}"
    lines.append(f"  cycles {_fmt(r['cycles'])}, ideal cycles {r['ideal_cycles']}, "
                 f"utilization {_fmt(util)}, MACs issued {r['macs']} (useful "
                 f"{r['useful_macs']}), zero operands skipped {_fmt(r['zeros_skipped'])}")
    lines.append(f"  end to end: {_fmt(r['end_to_end_cycles'])} cycles with the host bus "
                 f"(compute {_fmt(r['compute_cycles'])}, load {_fmt(r['load_cycles'])}, "
                 f"read-back {_fmt(r['read_cycles'])}); host words out {r['host_words_out']}, "
                 f"in {r['host_words_in']}")
    if r["lane_busy"] is not None:
        lines.append("  lane busy cycles: " + " ".join(str(v) for v in r["lane_busy"]))
    if r["tiles"] and r["tiles"] > 1:
        lines.append(f"  tiles {r['tiles']}: host bus load {_fmt(r['load_cycles'])} cycles "
                     f"({_fmt(r['hidden_cycles'])} hidden behind runs), read-back "
                     f"{_fmt(r['read_cycles'])}")
    if r["a"]["quantized"] or r["b"]["quantized"]:
        err = r["quantization_rel_error"]
        lines.append("  quantization: largest relative error against float64 "
                     + ("n/a (the float64 result is all zero or overflows)" if err is None
                        else f"{err:.3g}"))
    return "\n".join(lines)
