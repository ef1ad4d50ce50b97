"""Levels as data: the shipped file, run configs that override or add levels, and a sixth level defined in data only
going through `relsim run`, `relsim levels`, a sweep, a figure and the app's model."""

from __future__ import annotations

import copy
import json
import re
import tomllib

import pytest

from sim.cli import main
from sim.core.config import Config, ConfigError, from_mapping, level_text
from sim.core.inputs import field_spec, is_field, load, parse_override
from sim.core.levels import (
    DEFAULT_LEVELS,
    FALLBACK_COLOURS,
    LEVEL_NAMES,
    LEVELS,
    LEVELS_FILE,
    PARAMETERS,
    SPECS,
    read_levels,
)
from sim.core.model import RelationshipModel
from sim.outputs.results import run

SHIPPED = tomllib.loads(LEVELS_FILE.read_text())
SMALL = {"n_customers": 400, "years": 2, "seed": 5}
NEW = "premium"  # the sixth level of these tests: not a shipped level
assert NEW not in LEVEL_NAMES


def _sixth_level_file(tmp_path, level: str = NEW, **overrides: object) -> str:
    lines = [f'level = "{level}"', *(f"{k} = {v}" for k, v in SMALL.items())]
    lines += [f"[levels.{NEW}]", 'based_on = "reactive"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in overrides.items()]
    path = tmp_path / "sixth.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# ----------------------------------------------------------------------------------------------------------------
# The shipped file
# ----------------------------------------------------------------------------------------------------------------
DELETE = object()
RESOLUTION = ("levels", "reactive", "resolution_probability")


def _broken(path: tuple[str, ...], value: object) -> dict:
    """The shipped document with the key at ``path`` set to ``value`` (or deleted)."""
    data = copy.deepcopy(SHIPPED)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (RESOLUTION, DELETE, "levels.reactive.resolution_probability"),
        ((*RESOLUTION, "value"), 1.5, "levels.reactive.resolution_probability"),
        (("levels", "proactive", "outreach_per_year", "value"), 2.5, "levels.proactive.outreach_per_year"),
        (("levels", "basic", "inbound_channel", "value"), 0, "levels.basic.inbound_channel"),
        ((*RESOLUTION, "range"), [0.7, 0.9], "levels.reactive.resolution_probability.range"),
        ((*RESOLUTION, "range"), DELETE, "levels.reactive.resolution_probability.range"),
        ((*RESOLUTION, "provenance"), "guess", "levels.reactive.resolution_probability.provenance"),
        ((*RESOLUTION, "source"), " ", "levels.reactive.resolution_probability.source"),
        (("levels", "reactive", "speed"), 1, "levels.reactive.speed"),
        (("levels", "reactive", "colour"), "blue", "levels.reactive.colour"),
        (("parameters", "structural_bond", "unit"), DELETE, "parameters.structural_bond.unit"),
        (("parameters", "loyalty_card"), {"unit": "", "meaning": "x"}, "parameters.loyalty_card"),
    ],
)
def test_a_broken_levels_file_is_one_line_naming_the_key(path, value, key):
    with pytest.raises(ConfigError) as error:
        read_levels(_broken(path, value))
    assert error.value.field == key
    assert "\n" not in str(error.value)


def test_the_shipped_file_is_what_the_code_uses():
    levels, notes = read_levels(SHIPPED)
    assert tuple(levels) == LEVEL_NAMES == Config().level_names
    assert tuple(levels.values()) == DEFAULT_LEVELS
    assert set(SHIPPED["parameters"]) == set(PARAMETERS)  # every parameter the model reads is documented
    for (name, parameter), note in notes.items():
        assert note.provenance in ("sourced", "calibrated", "assumption") and note.source.strip()
        if note.low is not None:
            assert note.low <= getattr(levels[name], parameter) <= note.high


def test_every_level_text_renders_with_its_own_numbers():
    for name in LEVEL_NAMES:
        text = level_text(Config(level=name))
        assert LEVELS[name].label in text and "{" not in text
    reactive = level_text(Config(level="reactive").replace(**{"levels.reactive.resolution_probability": 0.85}))
    assert "85% of complaints are resolved" in reactive


def test_the_package_ships_the_levels_file():
    pyproject = tomllib.loads((LEVELS_FILE.parents[2] / "pyproject.toml").read_text())
    assert LEVELS_FILE.name in pyproject["tool"]["setuptools"]["package-data"]["sim.core"]


# ----------------------------------------------------------------------------------------------------------------
# Run configs: overrides, new levels, flat names
# ----------------------------------------------------------------------------------------------------------------
def test_as_dict_reads_back_to_an_equal_config_and_every_key_is_sweepable():
    config = from_mapping(
        {"level": NEW, "levels": {NEW: {"based_on": "proactive", "outreach_per_year": 6}}, "margin": 0.4}
    ).replace(**{"levels.partnership.structural_bond": 1.5})
    values = config.as_dict()
    assert from_mapping(values) == config and hash(from_mapping(values)) == hash(config)
    assert all(is_field(key) for key in values), [key for key in values if not is_field(key)]
    assert values[f"levels.{NEW}.outreach_per_year"] == 6 and values["levels.partnership.structural_bond"] == 1.5
    assert config.level_names == (*LEVEL_NAMES, NEW)
    assert Config() != config and from_mapping({}) == Config()


def test_a_new_level_copies_its_base_as_this_config_changed_it():
    config = from_mapping({"levels.reactive.resolution_probability": 0.65, f"levels.{NEW}.based_on": "reactive"})
    assert config.level_named(NEW).resolution_probability == 0.65
    later = config.replace(**{"levels.reactive.resolution_probability": 0.5})  # the copy is not linked to its base
    assert later.level_named(NEW).resolution_probability == 0.65


def test_a_new_level_may_give_every_parameter_instead_of_based_on():
    values = {f"levels.{NEW}.{name}": getattr(LEVELS["accountable"], name) for name in PARAMETERS}
    copied = from_mapping({f"levels.{NEW}.based_on": "accountable"}).level_named(NEW)
    assert from_mapping(values).level_named(NEW) == copied


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"levels.partnership.resolution_probability": 1.2}, "levels.partnership.resolution_probability"),
        ({"levels.partnership.outreach_per_year": 13}, "levels.partnership.outreach_per_year"),
        ({"levels.partnership.inbound_channel": 1}, "levels.partnership.inbound_channel"),
        ({"levels.partnership.speed": 1.0}, "levels.partnership.speed"),
        ({"levels.partnership.based_on": "basic"}, "levels.partnership.based_on"),
        ({f"levels.{NEW}.resolution_probability": 0.5}, f"levels.{NEW}.resolution_probability"),
        ({f"levels.{NEW}.based_on": "gold"}, f"levels.{NEW}.based_on"),
        ({f"levels.{NEW}.based_on": "basic", f"levels.{NEW}.text": "{nope}"}, f"levels.{NEW}.text"),
        ({"levels.Gold.based_on": "basic"}, "levels.Gold"),
        ({"levels.none.based_on": "basic"}, "levels.none"),
        ({"levels": 3}, "levels"),
        ({"level": NEW}, "level"),
        ({"tier_level": NEW, "tier_share": 0.1}, "tier_level"),
    ],
)
def test_bad_level_input_names_the_key(values, key):
    with pytest.raises(ConfigError) as error:
        from_mapping(values)
    assert error.value.field == key
    assert "\n" not in str(error.value)


def test_overrides_are_typed_by_the_level_parameter():
    for text, value in [
        ("levels.partnership.account_management=false", False),
        ("levels.proactive.outreach_per_year=6", 6),
        ("levels.reactive.resolution_probability=0.8", 0.8),
        (f"levels.{NEW}.based_on=reactive", "reactive"),
    ]:
        name, given = parse_override(text)
        assert (name, given, type(given)) == (text.split("=")[0], value, type(value))
    for bad in ("levels.partnership.account_management=maybe", "levels.proactive.outreach_per_year=2.5"):
        with pytest.raises(ConfigError, match=re.escape(bad.split("=")[0])):
            parse_override(bad)
    assert field_spec("levels.anything.structural_bond") is SPECS["structural_bond"]
    assert field_spec("levels.partnership.label") is None and not is_field("levels.partnership")


def test_only_levels_tables_are_allowed_in_a_config_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[levels.partnership]\nstructural_bond = 2.0\n[market]\ncompetition = 0.2\n")
    with pytest.raises(ConfigError, match=r"^market: tables are not allowed"):
        load(path)
    path.write_text("margin = 0.4\n[levels.partnership]\nstructural_bond = 2\n")
    config = load(path, ["levels.partnership.problem_detection=0.5"])
    assert (config.margin, config.level_named("partnership").structural_bond) == (0.4, 2.0)
    assert config.level_named("partnership").problem_detection == 0.5


# ----------------------------------------------------------------------------------------------------------------
# The levels reach the model
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("base", LEVEL_NAMES)
def test_a_copy_of_a_level_under_a_new_name_gives_the_same_run(base):
    """The model reads only the level data: the same data under another name (and code) gives the same numbers."""
    original = run(level=base, **SMALL).monthly
    copied = run(level=NEW, levels={NEW: {"based_on": base}}, **SMALL).monthly
    assert copied.equals(original)


def test_a_tier_at_a_new_level_serves_the_top_customers_with_its_data():
    model = RelationshipModel(
        level="basic", tier_level=NEW, tier_share=0.2, levels={NEW: {"based_on": "partnership"}}, **SMALL
    ).run()
    assert model.monthly()["cost_account_management"].sum() > 0  # the new level's account team is paid
    assert set(model.population.active()["level"]) <= {0, model.config.level_code(NEW)}


def test_a_parameter_set_in_a_config_changes_the_run(tmp_path, capsys):
    assert main(["run", "--json", "--set", "level=partnership", *_sets(SMALL)]) == 0
    default = json.loads(capsys.readouterr().out)
    no_team = ["--set", "levels.partnership.account_management=false"]
    assert main(["run", "--json", "--set", "level=partnership", *no_team, *_sets(SMALL)]) == 0
    changed = json.loads(capsys.readouterr().out)
    assert default["cost_to_serve_by_activity"]["account_management"] > 0
    assert changed["cost_to_serve_by_activity"]["account_management"] == 0
    assert changed["relationship_cost"] < default["relationship_cost"]


def _sets(values: dict) -> list[str]:
    return [part for key, value in values.items() for part in ("--set", f"{key}={value}")]


def test_a_sixth_level_in_data_only_runs_through_relsim_run(tmp_path, capsys):
    path = _sixth_level_file(tmp_path, resolution_probability=0.95, quick_resolution_share=0.9)
    assert main(["run", "--json", "--config", path]) == 0
    sixth = json.loads(capsys.readouterr().out)
    assert main(["run", "--json", "--config", path, "--set", "level=reactive"]) == 0
    reactive = json.loads(capsys.readouterr().out)
    assert sixth["level"] == NEW
    assert sixth["recovery_rate"] > reactive["recovery_rate"]  # its better complaint handling is what changed


def test_relsim_levels_lists_every_level_and_parameter(tmp_path, capsys):
    assert main(["levels", "--json"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert [record["name"] for record in shipped] == list(LEVEL_NAMES)
    for record in shipped:
        assert [p["name"] for p in record["parameters"]] == list(PARAMETERS)
        assert all(p["provenance"] in ("sourced", "calibrated", "assumption") for p in record["parameters"])
    path = _sixth_level_file(tmp_path, resolution_probability=0.95)
    assert main(["levels", "--json", "--config", path, "--set", "levels.basic.structural_bond=0.5"]) == 0
    in_effect = json.loads(capsys.readouterr().out)
    assert [record["name"] for record in in_effect] == [*LEVEL_NAMES, NEW]
    sixth = {p["name"]: p for p in in_effect[-1]["parameters"]}
    assert sixth["resolution_probability"]["provenance"] == "run config"
    assert sixth["quick_resolution_share"]["source"].startswith("as reactive")
    basic = {p["name"]: p for p in in_effect[0]["parameters"]}
    assert (basic["structural_bond"]["value"], basic["structural_bond"]["provenance"]) == (0.5, "run config")
    assert main(["levels"]) == 0
    text = capsys.readouterr().out
    assert all(f"\n{name} (" in text for name in LEVEL_NAMES)


def test_a_sweep_varies_a_level_parameter_of_a_level_its_base_config_adds(tmp_path):
    from sim.engine.plan import plan
    from sim.engine.runs import run_chunk
    from sim.engine.spec import read_spec

    (tmp_path / "base.toml").write_text(f'[levels.{NEW}]\nbased_on = "reactive"\n')
    spec = read_spec(
        {
            "sweep": {"base_config": "base.toml"},
            "fixed": {"n_customers": 300, "years": 1, "levels.partnership.structural_bond": 0.5},
            "vary": {f"levels.{NEW}.resolution_probability": [0.2, 1.0]},
            "compare": {"levels": ["reactive", NEW]},
            "outputs": {"metrics": ["recovery_rate"], "derived": []},
        },
        base_dir=tmp_path,
    )
    assert spec.base["levels.partnership.structural_bond"] == 0.5
    rows = [row for chunk in plan(spec).chunks for row in run_chunk(chunk)[1]]
    low, high = (row[f"recovery_rate.{NEW}"] for row in sorted(rows, key=lambda r: r["point"]))
    assert low < high


# ----------------------------------------------------------------------------------------------------------------
# Figures and the app follow the level list
# ----------------------------------------------------------------------------------------------------------------
def test_a_figure_draws_a_sixth_level_in_its_own_colour():
    from sim.viz.figures import colours_for, draw_survival, new_figure, survival_curves

    levels = {NEW: {"based_on": "proactive", "colour": "#123456"}, "gold": {"based_on": "basic"}}
    config = from_mapping({"levels": levels})
    curves = survival_curves(levels=config.level_names, seeds=(0,), params={"n_customers": 300, "levels": levels})
    ax = new_figure(4, 3).add_subplot()
    draw_survival(ax, curves, colours_for(config.level_names, config.levels))
    drawn = {line.get_label(): line.get_color() for line in ax.lines}
    assert list(drawn) == list(config.level_names)
    assert drawn[NEW] == "#123456" and drawn["gold"] == FALLBACK_COLOURS[0]
    assert all(drawn[name] == LEVELS[name].colour for name in LEVEL_NAMES)
    assert len(set(drawn.values())) == len(drawn)


def test_the_app_model_runs_a_sixth_level_and_explains_it():
    from sim.viz.app import CONTROLS, ClassroomModel

    assert CONTROLS["level"]["values"] == list(LEVEL_NAMES)
    model = ClassroomModel(level=NEW, levels={NEW: {"based_on": "proactive", "label": "Premium care"}}, n_customers=300)
    for _ in range(3):
        model.step()
    assert model.monthly()["cost_outreach"].sum() > 0  # the outreach it copied from Proactive runs
    assert level_text(model.config).startswith("**Premium care**: Accountable, plus 4 calls a year")
