"""Customer segments as data: the shipped file, how a run's segment and its own fields combine, the generic segment
reproducing the model before segments bit for bit, and every segment running through `relsim run`."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import pytest

from sim.cli import main
from sim.core.config import FIELDS, SEGMENTS, Config, ConfigError, from_mapping
from sim.core.inputs import load
from sim.core.segments import DEFAULT_SEGMENT, SEGMENT_NAMES, SEGMENTS_FILE, SHIPPED, read_segments
from sim.outputs.results import run

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "generic_reference.json").read_text())
NAMED = tuple(name for name in SEGMENT_NAMES if name != DEFAULT_SEGMENT)
SMALL = {"n_customers": 300, "years": 2, "seed": 3}


# ----------------------------------------------------------------------------------------------------------------
# The generic segment is the model before segments
# ----------------------------------------------------------------------------------------------------------------
def _same(expected: object, actual: object, path: str) -> list[str]:
    """Every difference between the reference summary and this one, on the reference's keys (exact equality)."""
    if isinstance(expected, dict):
        return [d for key, value in expected.items() for d in _same(value, actual[key], f"{path}.{key}")]
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} entries, now {len(actual)}"]
        return [d for i, pair in enumerate(zip(expected, actual, strict=True)) for d in _same(*pair, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: {expected!r} before, {actual!r} now"]


@pytest.mark.parametrize("scenario", REFERENCE["scenarios"])
def test_the_generic_segment_reproduces_the_model_before_segments_bit_for_bit(scenario):
    """Summaries of `relsim run --json` computed on main before segments existed (tests/fixtures)."""
    entry = REFERENCE["scenarios"][scenario]
    config = load(None, [*REFERENCE["size"], *entry["set"]])
    assert config.segment == DEFAULT_SEGMENT
    summary = json.loads(json.dumps(run(config).summary))  # as the command prints it
    assert _same(entry["summary"], summary, scenario) == []


def test_the_generic_segment_is_the_config_defaults():
    generic = SEGMENTS[DEFAULT_SEGMENT]
    assert generic.values == {name: FIELDS[name].default for name in generic.values}
    assert from_mapping({}) == Config() == from_mapping({"segment": DEFAULT_SEGMENT})


# ----------------------------------------------------------------------------------------------------------------
# The shipped file
# ----------------------------------------------------------------------------------------------------------------
def test_the_shipped_file_is_what_the_code_uses():
    segments = read_segments(SHIPPED, FIELDS)
    assert tuple(segments) == SEGMENT_NAMES == FIELDS["segment"].metadata["choices"]
    assert len(NAMED) >= 3 and {"mass_consumer", "small_business", "key_account"} <= set(NAMED)
    fields = list(segments[DEFAULT_SEGMENT].values)
    for segment in segments.values():
        assert list(segment.values) == fields  # every segment documents the same fields
        for name, note in segment.notes.items():
            assert note.source.strip() and note.provenance in ("sourced", "calibrated", "assumption", "off")
            if note.low is not None:
                assert note.low <= segment.values[name] <= note.high
            if note.provenance == "off":
                assert segment.name == DEFAULT_SEGMENT  # only today's model switches mechanisms off wholesale


def test_every_named_segment_switches_on_mechanisms_of_the_number_of_customers():
    mechanisms = ("fixed_cost_scale", "staffing_safety_factor", "distinct_problem_types", "bond_build_months")
    for name in NAMED:
        values = SEGMENTS[name].values
        assert all(values[field] != FIELDS[field].default for field in mechanisms), name


def test_the_package_ships_the_segments_file():
    pyproject = tomllib.loads((SEGMENTS_FILE.parents[2] / "pyproject.toml").read_text())
    assert SEGMENTS_FILE.name in pyproject["tool"]["setuptools"]["package-data"]["sim.core"]


DELETE = object()


def _broken(path: tuple[str, ...], value: object) -> dict:
    data = copy.deepcopy(SHIPPED)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


KEY = ("segments", "key_account")
PRIOR = "segments.key_account.natural_churn.prior"


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ((*KEY, "natural_churn", "value"), 1.5, "segments.key_account.natural_churn"),
        ((*KEY, "natural_churn"), DELETE, "segments.key_account.natural_churn"),
        ((*KEY, "natural_churn", "range"), [0.03, 0.05], "segments.key_account.natural_churn.range"),
        ((*KEY, "natural_churn", "provenance"), "guess", "segments.key_account.natural_churn.provenance"),
        ((*KEY, "natural_churn", "prior"), {"distribution": "normal"}, f"{PRIOR}.distribution"),
        ((*KEY, "welcome_call_channel", "value"), "letter", "segments.key_account.welcome_call_channel"),
        ((*KEY, "loyalty_card"), {"value": 1}, "segments.key_account.loyalty_card"),
        ((*KEY, "level"), {"value": "basic"}, "segments.key_account.level"),
        (("segments", "generic", "natural_churn", "value"), 0.04, "segments.generic.natural_churn"),
        (("segments", "generic"), DELETE, "segments.generic"),
        (("segment_table",), {}, "segment_table"),
    ],
)
def test_a_broken_segments_file_is_one_line_naming_the_key(path, value, key):
    with pytest.raises(ConfigError) as error:
        read_segments(_broken(path, value), FIELDS)
    assert error.value.field == key
    assert "\n" not in str(error.value)


# ----------------------------------------------------------------------------------------------------------------
# A run's segment and its own fields
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMED)
def test_a_segment_gives_every_field_the_run_does_not_set(name):
    profile = SEGMENTS[name].values
    config = from_mapping({"segment": name})
    assert {field: getattr(config, field) for field in profile} == profile
    explicit = from_mapping({"segment": name, "natural_churn": 0.11, "fixed_cost_scale": 0.0})
    assert (explicit.natural_churn, explicit.fixed_cost_scale) == (0.11, 0.0)  # explicit fields win
    assert explicit.problem_rate == profile["problem_rate"]


def test_a_change_of_segment_keeps_the_runs_own_fields():
    """replace(segment=...) and merges onto overrides() apply the new profile under the run's own fields; a field
    with its segment's value follows the segment. A full record (as_dict) is all the run's own: it keeps its values."""
    base = from_mapping({"margin": 0.4, "complaint_propensity": 0.5})
    switched = from_mapping({**base.overrides(), "segment": "key_account"})
    assert switched == base.replace(segment="key_account")
    assert switched == from_mapping({"segment": "key_account", "margin": 0.4, "complaint_propensity": 0.5})
    off = switched.replace(accounts_per_manager=0.0)  # key accounts with the capacity switched off
    small = off.replace(segment="small_business")
    assert (small.accounts_per_manager, small.complaint_propensity) == (0.0, 0.5)  # still the run's own
    assert small.natural_churn == SEGMENTS["small_business"].values["natural_churn"]  # follows the segment
    assert from_mapping(off.as_dict()) == off and set(FIELDS) <= set(off.as_dict())
    record = from_mapping({**base.as_dict(), "segment": "key_account"})  # every value given: explicit
    assert record.natural_churn == base.natural_churn and record.segment == "key_account"


def test_a_config_file_and_set_name_the_segment(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('segment = "key_account"\nlevel = "partnership"\nn_customers = 40\nyears = 1\n')
    assert main(["run", "--json", "--config", str(path), "--set", "complaint_propensity=0.5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["segment"] == "key_account"
    config = load(path, ["complaint_propensity=0.5"])
    assert (
        config.complaint_propensity == 0.5
        and config.agent_contact_cost == SEGMENTS["key_account"].values["agent_contact_cost"]
    )


@pytest.mark.parametrize("name", SEGMENT_NAMES)
def test_every_segment_runs_at_every_shipped_level(name):
    for level in Config().level_names:
        summary = run(from_mapping({**SMALL, "segment": name, "level": level})).summary
        assert summary["segment"] == name and summary["active_customers_end"] > 0
        assert summary["cost_to_serve_per_customer"] >= 0.0


def test_an_unknown_segment_is_one_line_with_the_choices(capsys):
    assert main(["run", "--set", "segment=retail"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "segment" in error and all(name in error for name in SEGMENT_NAMES)


def test_relsim_segments_lists_every_segment_and_field(capsys):
    assert main(["segments", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [record["name"] for record in records] == list(SEGMENT_NAMES)
    for record in records:
        assert [entry["name"] for entry in record["values"]] == list(SEGMENTS[DEFAULT_SEGMENT].values)
        assert all(entry["source"] and entry["unit"] is not None for entry in record["values"])
    assert main(["segments"]) == 0
    text = capsys.readouterr().out
    assert all(f"\n{name} (" in text for name in SEGMENT_NAMES)


def test_a_sweep_fixes_or_varies_the_segment_under_its_own_fields(tmp_path):
    from sim.engine.plan import plan
    from sim.engine.spec import read_spec

    def planned(data: dict) -> list:
        spec = read_spec({"outputs": {"metrics": ["retention_rate"], "derived": []}, **data}, base_dir=tmp_path)
        tasks = [task for chunk in plan(spec).chunks for task in chunk["tasks"]]
        design_order = sorted(tasks, key=lambda task: (task["simulation"], task["replication"]))
        return [from_mapping(task["params"]) for task in design_order]

    fixed = planned({"fixed": {"segment": "key_account", "margin": 0.5}, "vary": {"level": ["reactive", "basic"]}})
    assert all(c.natural_churn == SEGMENTS["key_account"].values["natural_churn"] and c.margin == 0.5 for c in fixed)
    varied = planned({"fixed": {"problem_rate": 0.9}, "vary": {"segment": list(NAMED)}})
    assert [c.segment for c in varied] == list(NAMED)
    for config in varied:
        assert config.natural_churn == SEGMENTS[config.segment].values["natural_churn"]
        assert config.problem_rate == 0.9  # the sweep's own value wins over every segment's


def test_a_sweep_refuses_to_scale_up_a_sample_when_the_number_of_customers_matters(tmp_path):
    from sim.engine.plan import plan
    from sim.engine.spec import read_spec

    def spec(segment: str):
        return read_spec(
            {
                "sweep": {"sample_customers": 200},
                "fixed": {"segment": segment, "customers": 50_000, "years": 1},
                "vary": {"level": ["reactive", "basic"]},
                "outputs": {"metrics": ["retention_rate"], "derived": []},
            },
            base_dir=tmp_path,
        )

    assert plan(spec(DEFAULT_SEGMENT)).runs == 2  # today's model has no economies of scale: a sample is fine
    with pytest.raises(ConfigError) as error:
        plan(spec("key_account"))
    assert error.value.field == "sweep.sample_customers" and "fixed_cost_scale" in str(error.value)
