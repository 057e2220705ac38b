"""zerohero.model: the bit-exact golden model (NumPy/SciPy only, no Amaranth).

:mod:`.formats` holds the sparse formats and their builders, :mod:`.kernels` the integer
semantics and the reference kernels, :mod:`.golden` the table of kernels by name
(:data:`KERNELS`). Everything public is re-exported here.
"""

from .formats import (
    COO, CSC, CSR, FORMATS, NM, Bitmap, Dense, SparseVector, from_dense, from_scipy, load_mtx,
    to_format,
)
from .golden import KERNELS, GoldenKernel
from .kernels import (
    OVERFLOW_MODES, IntSemantics, ewadd, ewmul, gemm, gemv, relu, spgemm, spmm, spmspv, spmv,
)

__all__ = [
    # formats
    "COO", "CSR", "CSC", "Dense", "Bitmap", "NM", "SparseVector", "FORMATS",
    "from_dense", "from_scipy", "to_format", "load_mtx",
    # kernels
    "IntSemantics", "OVERFLOW_MODES", "relu",
    "spmv", "spmspv", "spmm", "gemv", "gemm", "spgemm", "ewmul", "ewadd",
    # the kernels by name
    "KERNELS", "GoldenKernel",
]
