import os
import sys
from pathlib import Path

import numpy as np
import pytest

from zerohero.firmware.resident import ChainLayer, Requant
from zerohero.spec.config import AccelConfig
from zerohero.sim.harness import SIMULATORS

# cocotb testbenches that drive host code (they sit above every layer, so not in zerohero.sim)
# are found by the simulator's Python through sys.path (cocotb's runner passes it on).
sys.path.insert(0, str(Path(__file__).parent / "tb"))

# Icarus runs the same tests on smaller cases (it is ~500x slower than Verilator).
SCALE = {"verilator": 1.0, "icarus": 0.25}


def unit_config(**changes) -> AccelConfig:
    """Narrow widths so that overflow and the top of the coordinate range are reachable; the
    fewest scratchpad banks the lanes take (two a lane) unless ``spm_banks`` is given. Only
    the result is validated, so changes may leave the base's lane count."""
    fields = dict(name="unit", lanes=2, value_width=8, coord_width=8, acc_width=16, window=4,
                  spm_depth=16)
    fields.update(changes)
    fields.setdefault("spm_banks", 2 * fields["lanes"])
    # Double buffering splits each bank in halves of at least 16 words (AccelConfig checks).
    fields.setdefault("double_buffer", fields["spm_depth"] >= 32)
    return AccelConfig(**fields)


def acc_config(**changes):
    """The integrated accelerator of the kernel tests (test_accelerator, test_sparse_out,
    test_tiling share its build): 2 lanes of 256-word banks, narrow widths."""
    return unit_config(lanes=2, spm_banks=4, spm_depth=256, fw_depth=64, **changes)


def rand(rng, shape, density, cfg, lo=None, hi=None):
    """A dense integer matrix with about ``density`` nonzeros in ``[lo, hi]`` (default: the
    whole value range of ``cfg``)."""
    lo = cfg.value_min if lo is None else lo
    hi = cfg.value_max if hi is None else hi
    vals = rng.integers(lo, hi + 1, shape)
    return np.where(rng.random(shape) < density, vals, 0)


@pytest.fixture(params=SIMULATORS)
def sim(request):
    return request.param


def pytest_collection_modifyitems(items):
    only = os.environ.get("ZH_SIM")
    if only:
        for item in items:
            callspec = getattr(item, "callspec", None)
            if callspec and callspec.params.get("sim", only) != only:
                item.add_marker(pytest.mark.skip(reason=f"ZH_SIM={only}"))


def random_chain(rng, cfg, sizes, consts=(1, 2, 0), density=0.5):
    """Layers of ``sizes`` (inputs, hidden..., outputs) with small weights, so no sum leaves
    a 16-bit accumulator: negative weights and zero points, per-row tables, both clamps."""
    layers = []
    for n, (i, o) in enumerate(zip(sizes, sizes[1:])):
        k = consts[n % len(consts)]
        A = np.where(rng.random((o, i + k)) < density, rng.integers(-6, 7, (o, i + k)), 0)
        last = n == len(sizes) - 2
        rq = None if last else Requant(rng.integers(1 << 12, 1 << 15, o), rng.integers(9, 13, o),
                                       rng.integers(-3, 4, o), -20, 90)
        layers.append(ChainLayer(A, relu=bool(n % 2 == 0), consts=rng.integers(-9, 10, k),
                                 requant=rq))
    return layers
