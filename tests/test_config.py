import pytest

from zerohero.spec.config import PRESETS, AccelConfig, preset


def test_presets_are_valid_and_named():
    assert set(PRESETS) == {"sim-small", "icebreaker", "ulx3s-85f"}
    assert preset("sim-small").lanes == 8
    for name, cfg in PRESETS.items():
        assert cfg.name == name
        assert AccelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("field, value, message", [
    ("lanes", 0, "AccelConfig.lanes must be between 1 and 256, not 0"),
    ("lanes", 2.5, "AccelConfig.lanes must be an integer, not 2.5"),
    ("value_width", 1, "AccelConfig.value_width must be between 2 and 32, not 1"),
    ("acc_width", 24, r"AccelConfig.acc_width must be between 2 \* value_width = 32 and 64, "
                      "not 24"),
    ("overflow", "clamp", r"AccelConfig.overflow must be one of \('wrap', 'saturate'\), "
                          "not 'clamp'"),
    ("window", 3, r"AccelConfig.window must be one of \(1, 2, 4, 8\), not 3"),
    ("spm_banks", 4, "AccelConfig.spm_banks must be at least lanes = 8, not 4"),
    ("spm_depth", 1000, "AccelConfig.spm_depth must be a power of two of at least 16, not 1000"),
    ("max_level", 4, "AccelConfig.max_level must be between 0 and 3, not 4"),
    ("clock_gating", 1, "AccelConfig.clock_gating must be True or False, not 1"),
    ("command_latency", 3, "AccelConfig.command_latency must be 0, 1 or 2, not 3"),
    ("host_stage", True, "AccelConfig.host_latency must be at least 2 with host_stage, not 1"),
])
def test_invalid_parameters_name_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        preset("sim-small").replace(**{field: value})


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
