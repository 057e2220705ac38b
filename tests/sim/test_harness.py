"""The harness's cache of generated Verilog (``sim.harness.generated``)."""

import pytest

from conftest import unit_config
from zerohero.sim import fixtures, harness


@pytest.fixture
def build_root(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "BUILD_ROOT", tmp_path)
    return tmp_path


def test_cached_text_is_what_generate_gives_and_is_reused(build_root, monkeypatch):
    cfg = unit_config()
    want = fixtures.generate(cfg, "intersector")
    assert harness.generated(cfg, "intersector") == want

    def fail(*args):
        raise AssertionError("generated() ran the generator again for an identical request")

    monkeypatch.setattr(fixtures, "generate", fail)
    assert harness.generated(cfg, "intersector") == want
    assert len(list((build_root / "verilog").glob("unit-intersector-*/top.json"))) == 1


def test_another_config_or_top_is_generated_anew(build_root):
    harness.generated(unit_config(), "intersector")
    wider = harness.generated(unit_config(value_width=6), "intersector")
    assert wider == fixtures.generate(unit_config(value_width=6), "intersector")
    harness.generated(unit_config(), "unioner")
    assert len(list((build_root / "verilog").glob("*/top.json"))) == 3


def test_an_interrupted_generation_is_redone(build_root):
    cfg = unit_config()
    harness.generated(cfg, "intersector")
    (folder,) = [p for p in (build_root / "verilog").glob("unit-intersector-*") if p.is_dir()]
    (folder / "top.json").unlink()              # as if stopped before the description
    (folder / "top.v").write_text("truncated")
    assert harness.generated(cfg, "intersector") == fixtures.generate(cfg, "intersector")
