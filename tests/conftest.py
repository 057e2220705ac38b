import os

import pytest

from zerohero.hw.config import AccelConfig
from zerohero.sim.harness import SIMULATORS

# Icarus runs the same tests on smaller cases (it is ~500x slower than Verilator).
SCALE = {"verilator": 1.0, "icarus": 0.25}


def unit_config(**changes) -> AccelConfig:
    """Narrow widths so that overflow and the top of the coordinate range are reachable."""
    base = AccelConfig(name="unit", lanes=2, value_width=8, coord_width=8, acc_width=16,
                       window=4, spm_banks=2, spm_depth=16)
    return base.replace(**changes)


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
