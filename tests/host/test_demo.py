"""`make demo` itself: every kernel on the sim-small accelerator, checked against the golden
model (run_demo raises on any mismatch)."""

import io

import pytest

from zerohero.demo import run_demo


@pytest.mark.cocotb
def test_demo_runs_every_kernel_and_checks_them():
    out = io.StringIO()
    rows = run_demo(sim="verilator", out=out)
    assert {r[0] for r in rows} >= {"spmv", "spmspv", "spmm", "gemv", "gemm", "spmv+relu"}
    assert all(r[-1] == "pass" for r in rows)
    assert "all 8 results match" in out.getvalue()
    assert "digits MLP" in out.getvalue()
    assert "match the golden model bit-exactly" in out.getvalue()
