"""Pictures of the satisfaction/loyalty quadrant and of customer survival, for the app, notebooks and README.

- the quadrant itself (:func:`quadrant_snapshot`, :func:`draw_quadrant`, :func:`sample_mask`) is drawn by
  :mod:`sim.viz.quadrant` and importable from here too;
- :func:`timeline` turns a model's monthly record into the series the app charts, :func:`draw_timeline` draws one;
- :func:`quadrant_animation` and :func:`survival_figure` write the GIF and PNG of ``relsim figures``
  (:func:`write_figures`).

matplotlib is used through ``Figure`` objects (no pyplot state), so drawing is safe in the app's server threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.core.levels import DEFAULT_LEVELS, LEVEL_NAMES, Level, level_colours
from sim.core.model import RelationshipModel
from sim.core.schema import QUADRANTS
from sim.files import atomic_write, staged_folder
from sim.viz.quadrant import (
    MAX_POINTS,
    QUADRANT_COLOURS,
    QUADRANT_NAMES,
    SAMPLE_SEED,
    SATISFACTION_RANGE,
    QuadrantSnapshot,
    draw_quadrant,
    quadrant_snapshot,
    sample_mask,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.engine.evaluators import Evaluator

__all__ = [  # (the quadrant's names too: notebooks and tests import them from here)
    "ANIMATION",
    "DEFAULT_OUT",
    "LEVEL_COLOURS",
    "MAX_POINTS",
    "QUADRANT_COLOURS",
    "QUADRANT_NAMES",
    "SAMPLE_SEED",
    "SATISFACTION_RANGE",
    "SURVIVAL",
    "QuadrantSnapshot",
    "cohort_survival",
    "colours_for",
    "draw_quadrant",
    "draw_survival",
    "draw_timeline",
    "new_figure",
    "quadrant_animation",
    "quadrant_snapshot",
    "sample_mask",
    "survival_curves",
    "survival_figure",
    "timeline",
    "write_figures",
]

DEFAULT_OUT = Path("results") / "figures"
LEVEL_COLOURS = level_colours()  # the shipped levels' colours (levels.toml); any levels: colours_for()


def timeline(model: RelationshipModel) -> pd.DataFrame:
    """Monthly series for charts: retention, churn, cost to serve, profit and quadrant shares.

    ``retention`` is this month's churn turned into a yearly rate, (1 − left/active)^12, so that a change (a
    competitor entering) shows at once instead of a year later.
    """
    frame = pd.DataFrame(model.history)
    if frame.empty:
        return pd.DataFrame(
            columns=["month", "retention", "churn", "cost_to_serve", "profit", *(f"share_{q}" for q in QUADRANTS)]
        )
    active = frame["active"].where(frame["active"] > 0)
    churn = frame["left"] / active
    out = pd.DataFrame(
        {
            "month": frame["month"].astype(int),
            "retention": (1.0 - churn) ** 12,
            "churn": churn,
            "cost_to_serve": 12.0 * frame["relationship_cost"] / active,
            "profit": frame["profit"],
            "attraction": frame["attraction"],
        }
    )
    for name in QUADRANTS:
        out[f"share_{name}"] = frame[name] / active
    return out


def draw_timeline(ax: Axes, series: pd.DataFrame, what: str) -> None:
    """One of the app's charts: ``retention``, ``cost_to_serve``, ``profit`` or ``quadrants`` over months."""
    months = series["month"].to_numpy()
    if what == "quadrants":
        shares = [series[f"share_{name}"].to_numpy() for name in QUADRANTS]
        from matplotlib.patches import Patch

        colours = [QUADRANT_COLOURS[name] for name in QUADRANTS]
        if len(months):
            ax.stackplot(months, *shares, colors=colours, alpha=0.85)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of customers")
        handles = [
            Patch(color=colour, alpha=0.85, label=QUADRANT_NAMES[name])
            for name, colour in zip(QUADRANTS, colours, strict=True)
        ]
        ax.legend(handles=handles, loc="lower left", fontsize=7, ncols=2, framealpha=0.8)  # also before month 1
    else:
        column, label, colour = {
            "retention": ("retention", "retention (yearly rate)", "#1f77b4"),
            "cost_to_serve": ("cost_to_serve", "cost to serve ($ / customer-year)", "#9467bd"),
            "profit": ("profit", "profit ($ / month)", "#2ca02c"),
        }[what]
        values = series[column].to_numpy(dtype=float)
        ax.plot(months, values, color=colour, lw=1.6)
        if what == "retention":
            ax.set_ylim(0, 1.02)
        if what == "cost_to_serve":  # from zero: month-to-month noise should not look like a trend
            ax.set_ylim(0, max(1.0, 1.15 * float(np.nanmax(values))) if len(values) else 1.0)
        if what == "profit":
            ax.axhline(0, color="0.5", lw=0.8)
            ax.yaxis.set_major_formatter(_money)
        ax.set_ylabel(label)
    entered = series.loc[series["attraction"].diff() > 0, "month"] if "attraction" in series else []
    for month in entered:  # mark the month a competitor entered or got stronger
        ax.axvline(month, color="#d62728", lw=1, ls=":")
    ax.set_xlabel("month")
    ax.set_xlim(0, max(12, int(months.max()) if len(months) else 12))
    ax.grid(alpha=0.3)


def _money(value: float, _position: int) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A matplotlib Figure with its own Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


# ----------------------------------------------------------------------------------------------------------------
# relsim figures: the animation and the survival curves
# ----------------------------------------------------------------------------------------------------------------
ANIMATION = {  # Reactive, a monopoly for 3 years; a competitor enters in month 37 (year 4): the hostages leave
    "level": "reactive",
    "n_customers": 3_000,
    "years": 5,
    "competition": 0.6,
    "competitor_entry_year": 3,
}
SURVIVAL = {"n_customers": 3_000, "years": 10}


def quadrant_animation(
    path: str | Path,
    *,
    seed: int = 0,
    points: int = 400,
    params: dict[str, Any] | None = None,
    frame_duration_ms: int = 180,
) -> Path:
    """Write a GIF of the quadrant month by month (one frame per month), written atomically."""
    from PIL import Image

    params = {**ANIMATION, **(params or {})}
    model = RelationshipModel(seed=seed, **params)
    entry = 12 * params.get("competitor_entry_year", 0)
    frames: list[Image.Image] = []
    figure = new_figure(5.4, 4.4, dpi=90)
    ax = figure.add_subplot()
    while model.running and model.steps < model.config.periods:
        model.step()
        ax.clear()
        snapshot = quadrant_snapshot(model, max_points=points)
        market = "monopoly" if snapshot.attraction == 0 else f"competitors (attraction {snapshot.attraction:.1f})"
        if entry and entry < model.steps <= entry + 6:
            market = "a competitor has entered!"
        year = (model.steps - 1) // 12 + 1
        title = f"{params['level'].capitalize()} firm · month {model.steps} (year {year}) · {market}"
        draw_quadrant(ax, snapshot, title=title, marker_size=7)
        frames.append(_to_palette_image(figure))
    if not frames:
        raise ValueError("the animation has no frames")
    durations = [frame_duration_ms] * len(frames)
    durations[-1] = 2_000  # rest on the last frame before looping
    return atomic_write(
        path,
        lambda temporary: frames[0].save(
            temporary, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True
        ),
    )


def _to_palette_image(figure: Figure) -> Any:
    """Render a figure to a small-palette image: few colours keep the GIF small and its frames consistent."""
    from PIL import Image

    figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba())
    image = Image.fromarray(rgba[..., :3].copy())
    return image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def survival_curves(
    levels: Sequence[str] = LEVEL_NAMES,
    seeds: Sequence[int] = (0, 1, 2),
    params: dict[str, Any] | None = None,
    evaluator: Evaluator | None = None,
) -> pd.DataFrame:
    """Share of the initial customers still active at each year's end, per level, averaged over ``seeds``.

    Every level runs with the same seeds, so each starts from the same customers (common random numbers). The
    levels × seeds runs go to ``evaluator`` (default: a process per core); the curves do not depend on it.
    """
    from sim.engine.evaluators import make_evaluator

    params = {**SURVIVAL, **(params or {})}
    runs = [{**params, "level": level, "seed": int(seed)} for level in levels for seed in seeds]
    curves: list[list[float]] = [[] for _ in runs]
    evaluator = evaluator or make_evaluator()
    with evaluator:
        for index, curve in evaluator.evaluate(cohort_survival, runs):
            curves[index] = curve
    rows = []
    for number, level in enumerate(levels):
        mean = np.mean(curves[number * len(seeds) : (number + 1) * len(seeds)], axis=0)
        rows += [{"level": level, "year": year, "survival": float(share)} for year, share in enumerate(mean)]
    return pd.DataFrame(rows)


def cohort_survival(fields: dict[str, Any]) -> list[float]:
    """One run's cohort survival curve (a pure function of its config fields, for the evaluators)."""
    from sim.outputs.results import run

    return [float(share) for share in run(**fields).summary["cohort_survival"]]


def colours_for(names: Sequence[str], levels: Sequence[Level] = DEFAULT_LEVELS) -> dict[str, str]:
    """A colour per level name: the level's own (from ``levels``, e.g. ``config.levels``), else a fallback colour."""
    known = {level.name: level for level in levels}
    return level_colours([known.get(name) or Level(name) for name in names])


def draw_survival(ax: Axes, curves: pd.DataFrame, colours: Mapping[str, str] | None = None) -> None:
    """Cohort survival curves, one line per level in ``curves`` (colours: :func:`colours_for` unless given)."""
    colours = colours or colours_for(list(dict.fromkeys(curves["level"])))
    for level, group in curves.groupby("level", sort=False):
        ax.plot(group["year"], group["survival"], marker="o", ms=3.5, lw=1.8, label=level, color=colours[level])


def survival_figure(
    path: str | Path, curves: pd.DataFrame, title: str | None = None, colours: Mapping[str, str] | None = None
) -> Path:
    """Cohort survival by level as a PNG, written atomically."""
    figure = new_figure(6.4, 4.2, dpi=110)
    ax = figure.add_subplot()
    draw_survival(ax, curves, colours)
    ax.set_xlabel("years since the start")
    ax.set_ylabel("share of the initial customers still active")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, curves["year"].max())
    ax.grid(alpha=0.3)
    ax.legend(title="relationship level", fontsize=8, title_fontsize=8)
    ax.set_title(title or "Cohort survival by relationship level", fontsize=10)
    return atomic_write(path, lambda temporary: figure.savefig(temporary, format="png", metadata={"Software": None}))


def write_figures(
    out: str | Path = DEFAULT_OUT,
    *,
    seed: int = 0,
    animation_params: dict[str, Any] | None = None,
    survival_params: dict[str, Any] | None = None,
    survival_seeds: int = 3,
    points: int = 400,
) -> list[Path]:
    """``relsim figures``: the quadrant animation and the survival curves, into ``out``."""
    out = Path(out)
    names = ("quadrant_animation.gif", "cohort_survival.png")  # (sim.cli.viz.FIGURES, for an early check)
    with staged_folder(out, "figures", legacy=names) as staging:  # published together, beside any other files
        quadrant_animation(staging / names[0], seed=seed, points=points, params=animation_params)
        params = {**SURVIVAL, **(survival_params or {})}
        curves = survival_curves(seeds=range(seed, seed + survival_seeds), params=params)
        title = (
            "Share of the initial customers still active, by relationship level\n"
            f"({params['n_customers']:,} customers, calibrated defaults; mean of {survival_seeds} seeds, "
            "the same for every level)"
        )
        survival_figure(staging / names[1], curves, title=title)
    return [out / name for name in names]
