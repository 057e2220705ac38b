"""The golden-kernel table: every kernel the accelerator runs, by name, with its golden-model
function and how its operands are passed.

Every caller that checks a result against the golden model (the host runtime's ``model``
backend, ``zerohero run``, the demo and the tests) looks the kernel up here, so a kernel is
added or changed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .kernels import ewadd, ewmul, gemm, gemv, spgemm, spmm, spmspv, spmv

__all__ = ["GoldenKernel", "KERNELS"]


@dataclass(frozen=True)
class GoldenKernel:
    """One kernel ``C = f(A, B)``: ``function(A, B, sem[, relu])``.

    ``a``/``b``: what ``A`` and ``B`` are (``"csr"``, ``"dense"``: a 2-D matrix, ``"vector"``:
    a dense 1-D vector, ``"sparse vector"``); any format :func:`~zerohero.model.to_format`
    converts is accepted. ``relu``: the kernel has a fused ReLU (``relu=`` keyword);
    ``sparse``: the result is a :class:`~zerohero.model.CSR` (zero results dropped), else a
    NumPy array (1-D when ``b`` is a vector)."""

    name: str
    function: Callable
    a: str
    b: str
    relu: bool = True
    sparse: bool = False

    def __call__(self, A, B, sem, relu: bool = False):
        if not self.relu:
            if relu:
                raise ValueError(f"{self.name} has no fused ReLU")
            return self.function(A, B, sem)
        return self.function(A, B, sem, relu=relu)


KERNELS = {k.name: k for k in (
    GoldenKernel("spmv", spmv, "csr", "vector"),
    GoldenKernel("spmspv", spmspv, "csr", "sparse vector"),
    GoldenKernel("spmm", spmm, "csr", "dense"),
    GoldenKernel("gemv", gemv, "dense", "vector"),
    GoldenKernel("gemm", gemm, "dense", "dense"),
    GoldenKernel("spgemm", spgemm, "csr", "csr", sparse=True),
    GoldenKernel("ewmul", ewmul, "csr", "csr", relu=False, sparse=True),
    GoldenKernel("ewadd", ewadd, "csr", "csr", sparse=True),
)}
