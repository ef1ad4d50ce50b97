"""Config: defaults, ranges, types, files and overrides, each rejected with a message naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from sim.core.config import FIELDS, Config, ConfigError, from_mapping
from sim.core.inputs import describe_fields, load, parse_override
from sim.core.levels import LEVEL_NAMES


def test_defaults_are_valid_and_documented():
    config = Config()
    assert config.level in LEVEL_NAMES
    for record in describe_fields():
        assert record["meaning"], record["name"]
        assert record["allowed"], record["name"]


def test_every_default_lies_inside_its_range():
    for spec in dataclasses.fields(Config):
        low, high = spec.metadata.get("low"), spec.metadata.get("high")
        if low is not None:
            assert low <= spec.default <= high, spec.name


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"level": "gold"}, "level"),
        ({"margin": 1.5}, "margin"),
        ({"margin": -0.1}, "margin"),
        ({"n_customers": 0}, "n_customers"),
        ({"n_customers": 10.5}, "n_customers"),
        ({"years": "ten"}, "years"),
        ({"problem_rate": float("nan")}, "problem_rate"),
        ({"competition": True}, "competition"),
        ({"colour": "blue"}, "colour"),
        ({"competitor_entry_year": 11, "years": 10}, "competitor_entry_year"),
        ({"tier_level": "partnership"}, "tier_share"),
    ],
)
def test_bad_values_name_the_field(values, field):
    with pytest.raises(ConfigError) as error:
        from_mapping(values)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}:")


def test_message_lists_allowed_values():
    with pytest.raises(ConfigError, match="one of " + ", ".join(LEVEL_NAMES)):
        from_mapping({"level": "gold"})
    with pytest.raises(ConfigError, match="a number from 0 to 1"):
        from_mapping({"margin": 3})


def test_integers_are_accepted_for_numbers():
    assert from_mapping({"margin": 1}).margin == 1.0
    assert isinstance(from_mapping({"margin": 1}).margin, float)


def test_overrides_are_typed_by_their_field():
    assert parse_override("years=3") == ("years", 3)
    assert parse_override("margin = 0.25") == ("margin", 0.25)
    assert parse_override("level=basic") == ("level", "basic")
    with pytest.raises(ConfigError, match="years"):
        parse_override("years=3.5")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("years")


def test_toml_file_and_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('level = "proactive"\nn_customers = 500\nmargin = 0.4\n')
    config = load(path, ["margin=0.2"])
    assert (config.level, config.n_customers, config.margin) == ("proactive", 500, 0.2)


def test_toml_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="--config: cannot read"):
        load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("level = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(broken)
    nested = tmp_path / "nested.toml"
    nested.write_text("[market]\ncompetition = 0.2\n")
    with pytest.raises(ConfigError, match="market: tables are not allowed"):
        load(nested)


def test_replace_validates():
    with pytest.raises(ConfigError, match="margin"):
        Config().replace(margin=7)
    assert Config().replace(level="basic").level == "basic"


def test_every_field_changed_at_once_is_read_back_from_as_dict():
    """as_dict and from_mapping carry every field (sweeps, the matrix and exports rely on it), not only defaults."""
    changed = {}
    for name, spec in FIELDS.items():
        if "choices" in spec.metadata:
            changed[name] = next(c for c in reversed(spec.metadata["choices"]) if c != spec.default)
        else:
            changed[name] = spec.metadata["high"] if spec.default != spec.metadata["high"] else spec.metadata["low"]
    config = from_mapping(changed)
    values = config.as_dict()
    assert {name: values[name] for name in FIELDS} == changed
    assert from_mapping(values) == config
    assert all(getattr(config, name) != spec.default for name, spec in FIELDS.items())
