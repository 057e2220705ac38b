"""The dependency rule: import-linter's contracts in pyproject.toml hold for the source tree.

The installed package maps folders to subpackages (``hw/`` is ``zerohero.hw``), which
import-linter cannot follow, so the tree is copied into the shape Python imports it as and
checked there.
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("spec", "model", "hw", "firmware", "sim", "fpga")


def lint_imports(tmp_path, extra: dict[str, str] = {}):
    pkg = tmp_path / "zerohero"
    shutil.copytree(ROOT / "zerohero", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for name in SUBPACKAGES:
        shutil.copytree(ROOT / name, pkg / name, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in extra.items():
        (pkg / rel).write_text(text)
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache", str(ROOT / "pyproject.toml")], cwd=tmp_path,
                          capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)})


def test_layers_contracts_hold(tmp_path):
    proc = lint_imports(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 3 kept, 0 broken." in proc.stdout


def test_an_import_against_the_layers_is_reported(tmp_path):
    proc = lint_imports(tmp_path, {"spec/_probe.py": "import zerohero.hw.pe\n",
                                   "model/_probe.py": "import amaranth\n"})
    assert proc.returncode == 1
    assert "zerohero.spec is not allowed to import zerohero.hw" in proc.stdout
    assert "zerohero.model._probe -> amaranth" in proc.stdout
