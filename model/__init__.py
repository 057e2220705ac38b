"""zerohero.model: the bit-exact golden model (NumPy/SciPy only, no Amaranth).

:mod:`.formats` holds the sparse formats and their builders, :mod:`.mtx` the Matrix Market
reader every file operand goes through, :mod:`.kernels` the integer
semantics and the reference kernels, :mod:`.golden` the table of kernels by name
(:data:`KERNELS`). Everything public is re-exported here.
"""

from .formats import (
    COO, CSC, CSR, FORMATS, NM, Bitmap, Dense, SparseVector, from_dense, from_scipy, to_format,
)
from .mtx import MatrixMarket, MtxError, load_mtx, quantize, read_mtx
from .golden import KERNELS, GoldenKernel
from .kernels import (
    OVERFLOW_MODES, IntSemantics, count_overflows, ewadd, ewmul, gemm, gemv, relu, requantize,
    spgemm, spmm, spmspv, spmv,
)

__all__ = [
    # formats
    "COO", "CSR", "CSC", "Dense", "Bitmap", "NM", "SparseVector", "FORMATS",
    "from_dense", "from_scipy", "to_format",
    # Matrix Market files
    "MatrixMarket", "MtxError", "read_mtx", "load_mtx", "quantize",
    # kernels
    "IntSemantics", "OVERFLOW_MODES", "relu",
    "spmv", "spmspv", "spmm", "gemv", "gemm", "spgemm", "ewmul", "ewadd",
    "count_overflows", "requantize",
    # the kernels by name
    "KERNELS", "GoldenKernel",
]
