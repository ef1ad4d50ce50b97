"""relsim figures and the drawing helpers the app and notebooks share."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from sim import RelationshipModel
from sim.cli.viz import figures as run_figures_command
from sim.core.config import ConfigError
from sim.viz.figures import (
    draw_quadrant,
    draw_timeline,
    new_figure,
    quadrant_animation,
    quadrant_snapshot,
    sample_mask,
    survival_curves,
    survival_figure,
    timeline,
    write_figures,
)

TINY_ANIMATION = {"n_customers": 300, "years": 1, "competitor_entry_year": 0, "competition": 0.5}
TINY_SURVIVAL = {"n_customers": 200, "years": 2}


def test_sample_is_capped_stable_and_nested():
    ids = np.arange(10_000, dtype=np.int32)
    mask = sample_mask(ids, 1_500)
    assert 1_400 <= np.count_nonzero(mask) <= 1_500
    assert np.array_equal(mask, sample_mask(ids, 1_500))  # fixed seed: the same customers every time
    assert np.all(sample_mask(ids, 3_000)[mask])  # a larger sample contains the smaller one
    survivors = ids[::2]  # half the customers leave: those drawn before are still drawn
    assert np.all(sample_mask(survivors, 1_500)[mask[::2]])
    assert np.all(sample_mask(ids[:100], 1_500))


def test_snapshot_counts_every_customer_and_agrees_with_the_model():
    model = RelationshipModel(n_customers=2_500, years=1, seed=3)
    for _ in range(5):
        model.step()
    snapshot = quadrant_snapshot(model, max_points=500)
    labels, counts = np.unique(model.quadrant_labels(), return_counts=True)
    found = {str(label): int(count) for label, count in zip(labels, counts, strict=True)}
    expected = dict.fromkeys(snapshot.counts, 0) | found
    assert snapshot.counts == expected
    assert snapshot.total == model.population.n
    assert len(snapshot.satisfaction) == len(snapshot.loyalty) == len(snapshot.quadrant) <= 500
    assert np.all((snapshot.loyalty >= 0) & (snapshot.loyalty <= 1))
    assert "Month 5" in snapshot.counts_text() and "hostages" in snapshot.counts_text()


def test_drawing_helpers_draw_before_and_after_the_first_step():
    model = RelationshipModel(n_customers=300, years=1, seed=1)
    for steps in (0, 3):
        for _ in range(steps):
            model.step()
        figure = new_figure(4, 3)
        draw_quadrant(figure.add_subplot(), quadrant_snapshot(model))
        for what in ("retention", "quadrants", "cost_to_serve", "profit"):
            draw_timeline(figure.add_subplot(), timeline(model), what)
        figure.canvas.draw()
    assert len(timeline(model)) == 3


def test_animation_is_a_small_deterministic_gif(tmp_path):
    first = quadrant_animation(tmp_path / "a.gif", seed=2, points=100, params=TINY_ANIMATION)
    second = quadrant_animation(tmp_path / "b.gif", seed=2, points=100, params=TINY_ANIMATION)
    with Image.open(first) as image:
        assert image.format == "GIF" and image.n_frames == 12
    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_survival_curves_start_at_one_and_fall(tmp_path):
    curves = survival_curves(levels=("basic", "partnership"), seeds=(0,), params=TINY_SURVIVAL)
    assert set(curves["level"]) == {"basic", "partnership"}
    for _, group in curves.groupby("level"):
        survival = group.sort_values("year")["survival"].to_numpy()
        assert survival[0] == 1.0 and np.all(np.diff(survival) <= 0)
    path = survival_figure(tmp_path / "survival.png", curves)
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_write_figures_writes_both(tmp_path):
    paths = write_figures(
        tmp_path / "figures",
        seed=1,
        animation_params=TINY_ANIMATION,
        survival_params=TINY_SURVIVAL,
        survival_seeds=1,
        points=50,
    )
    assert [path.name for path in paths] == ["quadrant_animation.gif", "cohort_survival.png"]
    assert all(path.stat().st_size > 1_000 for path in paths)


def test_command_rejects_bad_options_naming_them(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ConfigError, match=r"^--out"):
        run_figures_command(argparse.Namespace(out=str(not_a_folder), seed=0))
    with pytest.raises(ConfigError, match=r"^--seed"):
        run_figures_command(argparse.Namespace(out=str(tmp_path / "out"), seed=-1))
