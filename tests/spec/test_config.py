import pytest

from zerohero.spec.config import PRESETS, AccelConfig, preset


def test_presets_are_valid_and_named():
    assert set(PRESETS) == {"sim-small", "icebreaker", "ulx3s-85f", "ulx3s-85f-resident"}
    assert preset("sim-small").lanes == 8
    # The ULX3S's resident preset is its preset with the result stage, on fewer lanes.
    resident = preset("ulx3s-85f-resident")
    assert resident.result_stage and resident.spm_banks == 2 * resident.lanes
    assert resident.replace(name="ulx3s-85f", lanes=32, spm_banks=64,
                            result_stage=False) == preset("ulx3s-85f")
    for name, cfg in PRESETS.items():
        assert cfg.name == name
        assert AccelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("field, value, message", [
    ("lanes", 0, "AccelConfig.lanes must be between 1 and 254, not 0"),
    # Lane 255 is the firmware's every-lane address.
    ("lanes", 255, "AccelConfig.lanes must be between 1 and 254, not 255"),
    ("lanes", 2.5, "AccelConfig.lanes must be an integer, not 2.5"),
    ("value_width", 1, "AccelConfig.value_width must be between 2 and 32, not 1"),
    ("acc_width", 24, r"AccelConfig.acc_width must be between 2 \* value_width = 32 and 64, "
                      "not 24"),
    ("overflow", "clamp", r"AccelConfig.overflow must be one of \('wrap', 'saturate'\), "
                          "not 'clamp'"),
    ("window", 3, r"AccelConfig.window must be one of \(1, 2, 4, 8\), not 3"),
    ("spm_banks", 8, r"AccelConfig.spm_banks must be at least 2 \* lanes = 16, not 8"),
    ("spm_depth", 1000, "AccelConfig.spm_depth must be a power of two between 16 and 65536, "
                        "not 1000"),
    ("spm_depth", 1 << 17, "AccelConfig.spm_depth must be a power of two between 16 and 65536, "
                           "not 131072"),
    ("spm_depth", 16, "AccelConfig.spm_depth must be at least 32 with double_buffer, not 16"),
    ("spm_banks", 1 << 16, "AccelConfig.spm_banks must be at most 65535, not 65536"),
    ("max_level", 4, "AccelConfig.max_level must be between 0 and 3, not 4"),
    ("clock_gating", 1, "AccelConfig.clock_gating must be True or False, not 1"),
    ("command_latency", 3, "AccelConfig.command_latency must be 0, 1 or 2, not 3"),
    ("host_stage", True, "AccelConfig.host_latency must be at least 2 with host_stage, not 1"),
])
def test_invalid_parameters_name_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        preset("sim-small").replace(**{field: value})


def test_scratchpad_fits_the_bus_address_space():
    # 2-word entries of sim-small: 8192 banks of 65536 words are 2**30 bus words, whose
    # broadcast and firmware regions (at 2 and 3 times the scratchpad's base) still fit.
    cfg = preset("sim-small").replace(spm_depth=65536, spm_banks=8192)
    assert cfg.spm_word_stride == 2
    with pytest.raises(ValueError, match=r"^AccelConfig.spm_banks must be at most 8192 with "
                                         r"spm_depth = 65536 and 2 bus words a scratchpad word "
                                         r"\(the bus address space\), not 8193$"):
        cfg.replace(spm_banks=8193)


def test_dataclass_defaults_build_the_accelerator():
    from zerohero.hw.accelerator import Accelerator

    cfg = AccelConfig()
    assert cfg.spm_banks == 2 * cfg.lanes
    Accelerator(cfg)                    # raises if the top cannot be built from the config
    for c in PRESETS.values():
        Accelerator(c)


def test_host_stage_excludes_double_buffering():
    with pytest.raises(ValueError, match="^AccelConfig.double_buffer must be False with "
                                         "host_stage, not True$"):
        preset("sim-small").replace(host_stage=True, host_latency=2)


def test_unknown_preset_and_fields():
    with pytest.raises(ValueError, match="unknown configuration 'nope'; known presets: "
                                         "sim-small, icebreaker, ulx3s-85f"):
        preset("nope")
    with pytest.raises(ValueError, match=r"unknown AccelConfig field\(s\) \['lane'\]"):
        AccelConfig.from_dict({"lane": 4})


def test_comments_carry_no_history():
    """Comments say why, in the present tense: no dates, measured clock figures or plans."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in ("spec/config.py", "firmware/scheduler.py"):
        text = (root / path).read_text()
        for pattern in (r"\b20\d\d-\d\d-\d\d\b", r"\bMHz\b", r"later issue", r"\btried\b",
                        r"not kept"):
            assert not re.search(pattern, text), (path, pattern)
