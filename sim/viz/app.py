"""The teaching app: customers live on the satisfaction/loyalty quadrant, in the browser (Mesa's SolaraViz).

``relsim app`` (or ``python -m sim.viz.app``) starts ``solara run sim.viz.app`` and prints the address to open.
The page is
Mesa's SolaraViz on :class:`ClassroomModel`: the sidebar has Mesa's Reset / ▶ / Step controls and the model
parameters (relationship level, customers, margin, problem rate, competition); the main area has

- the quadrant: a stable sample of at most 1,500 customers (satisfaction across, loyalty = 12-month stay
  probability up; the thresholds from the config), with every customer counted in the line above it;
- a "competitor enters" control (:meth:`sim.core.model.RelationshipModel.competitor_enters`) and a short text a
  teacher can read out: what the selected level does and what each quadrant means;
- live charts of retention, cost to serve, profit and quadrant shares.

solara and Mesa's visualisation are imported only when the page is built (module attribute ``Page``), so that
``import sim.viz.app`` (and the ``relsim`` command line) works without the app's optional dependencies.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection
from typing import Any

from sim.core.config import level_text  # the level's teacher text from the level data, numbers filled in
from sim.core.levels import LEVEL_NAMES
from sim.core.model import RelationshipModel
from sim.core.segments import DEFAULT_SEGMENT, SEGMENT_NAMES

# The app's controls: name -> Mesa user-input spec. SolaraViz rebuilds the model from these on Reset. The level choices
# are the levels of sim/core/levels.toml; a level a run config adds runs in ClassroomModel(levels=..., level=...).
CONTROLS: dict[str, dict[str, Any]] = {
    "level": {"type": "Select", "value": "reactive", "values": list(LEVEL_NAMES), "label": "Relationship level"},
    "segment": {
        "type": "Select", "value": DEFAULT_SEGMENT, "values": list(SEGMENT_NAMES), "label": "Customer segment",
    },
    "n_customers": {
        "type": "SliderInt", "value": 3_000, "min": 200, "max": 50_000, "step": 200, "label": "Customers at the start",
    },
    "margin": {"type": "SliderFloat", "value": 0.3, "min": 0.05, "max": 0.9, "step": 0.05, "label": "Margin"},
    "problem_rate": {
        "type": "SliderFloat", "value": 0.3, "min": 0.0, "max": 3.0, "step": 0.1,
        "label": "Problems per customer per year",
    },
    "competition": {
        "type": "SliderFloat", "value": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
        "label": "Competition (0 = monopoly)",
    },
}  # fmt: skip
FIXED = {"years": 20, "seed": 0}  # 240 steps: enough for a lesson; the seed makes every Reset replay the same market
ENTRANT_ATTRACTION = 0.6  # default strength of the competitor the button brings in
CHART_TITLES = {
    "retention": "Retention (this month's churn as a yearly rate)",
    "quadrants": "Quadrant shares",
    "cost_to_serve": "Cost to serve",
    "profit": "Profit",
}


QUADRANT_TEXT = (
    "**Loyalists / apostles** (top right): satisfied and staying; they recommend the firm. "
    "**Hostages** (top left): unhappy but staying because they cannot leave (a monopoly, high switching "
    "costs); when a rival appears they go at once. "
    "**Mercenaries** (bottom right): satisfied but loyal to nobody; they follow price. "
    "**Defectors / terrorists** (bottom left): unhappy and leaving, telling others (11 people against 3 for a "
    "happy customer). Loyalty here is behaviour: the chance a customer is still here in 12 months."
)


def control_value(name: str, value: Any, extra: Collection[str] = ()) -> Any:
    """A control's value as the server accepts it, whatever the browser sent: one of the listed choices (or of
    ``extra``, choices the server itself added), or a number clamped to the slider's range (a crafted request
    cannot ask for 10 M customers); else the control's default."""
    control = CONTROLS[name]
    if control["type"] == "Select":
        return value if isinstance(value, str) and value in (*control["values"], *extra) else control["value"]
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return control["value"]
    if not math.isfinite(number):
        return control["value"]
    number = min(max(number, control["min"]), control["max"])
    return round(number) if control["type"] == "SliderInt" else number


class ClassroomModel(RelationshipModel):
    """:class:`RelationshipModel` with the app's controls as explicit keyword parameters.

    Mesa's SolaraViz checks every control's name against the signature of ``__init__`` and rebuilds the model with
    ``cls(**values)`` on Reset; the other config fields keep their (calibrated) defaults unless passed.
    """

    def __init__(
        self,
        level: str = CONTROLS["level"]["value"],
        segment: str = CONTROLS["segment"]["value"],
        n_customers: int = CONTROLS["n_customers"]["value"],
        margin: float = CONTROLS["margin"]["value"],
        problem_rate: float = CONTROLS["problem_rate"]["value"],
        competition: float = CONTROLS["competition"]["value"],
        years: int = FIXED["years"],
        seed: int = FIXED["seed"],
        **kwargs: Any,
    ) -> None:
        super().__init__(  # every control checked here, on the server: the browser's values are not trusted
            level=control_value("level", level, extra=[getattr(x, "name", x) for x in kwargs.get("levels") or ()]),
            segment=control_value("segment", segment),
            n_customers=control_value("n_customers", n_customers),
            margin=control_value("margin", margin),
            problem_rate=control_value("problem_rate", problem_rate),
            competition=control_value("competition", competition),
            years=int(years),
            seed=int(seed),
            **kwargs,
        )


def settings_text(model: RelationshipModel) -> str:
    """The settings the running model was built with (Mesa's sliders do not show their values)."""
    config = model.config
    return (
        f"Running: {config.level}, {config.segment.replace('_', ' ')} customers, {config.n_customers:,} of them, "
        f"margin {config.margin:.0%}, "
        f"{config.problem_rate:g} problems per customer-year, competition {config.competition:g}, step {model.steps}"
    )


def market_text(model: RelationshipModel) -> str:
    """The market now, in words (the competitor control shows it)."""
    upcoming = model.attraction(model.steps)  # the month the next step simulates
    config = model.config
    configured = 0.0 if config.competitor_entry_year else config.competition  # before the first step
    current = model.attraction(model.steps - 1) if model.steps else configured
    if upcoming > current:
        return f"A competitor (attraction {upcoming:.2f}) **enters at the next step**: press Step or ▶."
    if upcoming == 0.0:
        return "Market: **monopoly**, customers have nowhere else to go."
    return f"Market: **competitors present**, attraction {upcoming:.2f}."


# ----------------------------------------------------------------------------------------------------------------
# The page (built on first access of ``sim.viz.app.Page``, which is what ``solara run sim.viz.app`` looks up)
# ----------------------------------------------------------------------------------------------------------------
# Its parts import solara, Mesa's visualisation and matplotlib when they are called, never at import.
def figure_png(figure: Any) -> Any:
    """A chart as solara shows it."""
    import solara

    # png: one small image per chart, cheaper for the browser than thousands of SVG points
    return solara.FigureMatplotlib(figure, format="png")


def quadrant_view(model: ClassroomModel) -> Any:
    """The quadrant, with every customer counted in the line above it."""
    import solara

    from sim.viz.figures import new_figure
    from sim.viz.quadrant import draw_quadrant, quadrant_snapshot

    snapshot = quadrant_snapshot(model)
    figure = new_figure(5.6, 3.75, dpi=90)
    draw_quadrant(figure.add_subplot(), snapshot, marker_size=10)
    with solara.Column(gap="2px", style={"padding": "4px"}) as main:
        solara.Text(snapshot.counts_text(), classes=["relsim-counts"], style={"font-size": "13px"})
        figure_png(figure)
    return main


@functools.cache
def classroom_panel_component() -> Any:
    """The solara component of the teacher's panel: the settings, the market, the "competitor enters" control and
    the texts to read out (built once: solara keeps a component's state by its identity)."""
    import solara
    from mesa.visualization.utils import force_update, update_counter

    @solara.component
    def ClassroomPanel(model: ClassroomModel) -> Any:  # noqa: N802 (solara components are CamelCase)
        update_counter.get()  # re-render after every step, like Mesa's own components
        attraction, set_attraction = solara.use_state(ENTRANT_ATTRACTION)

        def enter() -> None:
            model.competitor_enters(attraction)
            force_update()  # redraw every panel: the market line changes now, the customers at the next step

        # The grid cell has a fixed height: the text scrolls inside it rather than spilling onto the charts.
        style = {"padding": "4px 8px", "font-size": "13px", "max-height": "385px", "overflow-y": "auto"}
        with solara.Column(gap="4px", style=style) as main:
            solara.Text(settings_text(model), classes=["relsim-settings"])
            solara.Markdown(market_text(model))
            with solara.Row(gap="12px", style={"align-items": "center"}):
                solara.Button(
                    "Competitor enters", color="error", on_click=enter, classes=["relsim-competitor"], small=True
                )
                solara.SliderFloat(
                    "rival's attraction", value=attraction, on_value=set_attraction, min=0.05, max=1.0, step=0.05
                )
            solara.Markdown(
                level_text(model.config)
                + " Change the level or a slider in the sidebar, then press **Reset** to start again with it."
            )
            solara.Markdown(QUADRANT_TEXT)
        return main

    return ClassroomPanel


def classroom_panel(model: ClassroomModel) -> Any:
    return classroom_panel_component()(model)


def chart(what: str) -> Any:
    """The view of one live chart (a key of :data:`CHART_TITLES`)."""

    def view(model: ClassroomModel) -> Any:
        from sim.viz.figures import draw_timeline, new_figure, timeline

        figure = new_figure(5.6, 4.0, dpi=90)
        ax = figure.add_subplot()
        draw_timeline(ax, timeline(model), what)
        ax.set_title(CHART_TITLES[what], fontsize=10)
        return figure_png(figure)

    view.__name__ = f"{what}_chart"
    return view


@functools.cache
def build_page() -> Any:
    """Build the solara ``Page`` component: Mesa's SolaraViz with the quadrant, the teacher's panel and the charts."""
    import solara
    from mesa.visualization import SolaraViz

    components = [
        (quadrant_view, 0),
        (classroom_panel, 0),
        (chart("retention"), 0),
        (chart("quadrants"), 0),
        (chart("cost_to_serve"), 0),
        (chart("profit"), 0),
    ]

    @solara.component
    def Page() -> Any:  # noqa: N802
        # One model per browser session: two students' tabs do not step each other's market.
        model = solara.use_memo(lambda: ClassroomModel(), [])
        return SolaraViz(
            model,
            components=components,
            model_params={**CONTROLS, **FIXED},
            name="relsim · the satisfaction/loyalty quadrant",
            play_interval=150,
        )

    return Page


def __getattr__(name: str) -> Any:
    # PEP 562: `Page` is built on first use, so importing sim.viz.app needs no solara.
    if name == "Page":
        return build_page()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
