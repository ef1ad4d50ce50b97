"""The teaching app as a teacher uses it: served by `python -m sim app` (what `relsim app` runs), driven in headless
Chromium (Debian's /usr/bin/chromium through Playwright).

The browser test needs the app extras and Debian's chromium; it is skipped, with the reason, only when one of them
is missing (`.ci/run` installs both, so in CI it runs). RELSIM_APP_SCREENSHOT=path also copies the screenshot there
(that is how docs/app.png is made).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.cli.viz import app as run_app_command
from sim.core.config import ConfigError
from sim.viz.app import CONTROLS, ClassroomModel, market_text
from sim.viz.server import check_address, missing_modules

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 60.0  # seconds; the first start imports solara, Mesa and altair
UI_TIMEOUT_MS = 20_000  # any single wait in the browser


# ----------------------------------------------------------------------------------------------------------------
# Without a browser: the model behind the page and the command's input checks
# ----------------------------------------------------------------------------------------------------------------
def test_classroom_model_takes_the_controls_as_keywords():
    model = ClassroomModel(level="partnership", n_customers=400, margin=0.5, problem_rate=1.0, competition=0.0)
    assert (model.config.level, model.config.n_customers, model.config.margin) == ("partnership", 400, 0.5)
    assert set(CONTROLS) <= set(inspect.signature(ClassroomModel.__init__).parameters)  # what SolaraViz checks
    assert "monopoly" in market_text(model)
    model.competitor_enters(0.5)
    assert "enters at the next step" in market_text(model)
    model.step()
    assert "competitors present" in market_text(model)


@pytest.mark.parametrize("port", [0, -1, 65_536, 10**6])
def test_a_port_out_of_range_is_a_config_error_naming_the_option(port):
    with pytest.raises(ConfigError, match=r"^--port: must be an integer from 1 to 65535"):
        run_app_command(argparse.Namespace(host="127.0.0.1", port=port))


def test_a_port_in_use_is_refused_before_anything_starts():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match=r"^--port: cannot listen"):
            check_address("127.0.0.1", busy.getsockname()[1])


def test_bad_host_names_the_option():
    with pytest.raises(ConfigError, match=r"^--host"):
        check_address("", 8765)


# ----------------------------------------------------------------------------------------------------------------
# In the browser
# ----------------------------------------------------------------------------------------------------------------
def _browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not CHROMIUM.exists():
        return "needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
    missing = missing_modules() + ([] if importlib.util.find_spec("playwright") else ["playwright"])
    if missing:
        return f"needs the app extras ({', '.join(missing)} missing): pip install -e '.[app,test]'"
    return None


BROWSER_MISSING = _browser_missing()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """Serve the app on a free loopback port for one test; the server's process group is always killed after."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "sim", "app", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the solara child goes with it
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                log.seek(0)
                pytest.fail(f"the app server exited with {server.returncode}:\n{log.read()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"no answer on {url} within {SERVER_START_TIMEOUT:.0f} s:\n{log.read()[-3000:]}")
            time.sleep(0.25)
        log.seek(0)
        assert f"relsim app: open {url}" in log.read()  # the address the command prints is the one that works
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()


FIGURES = "img.widget-image"  # solara.FigureMatplotlib renders each figure as a PNG image widget
FIGURE_HASHES = """async images => Promise.all(images.map(async image => {
    const bytes = new Uint8Array(await (await fetch(image.src)).arrayBuffer());
    let hash = 2166136261;  // FNV-1a over the PNG bytes: the rendered content, not just a new blob URL
    for (const byte of bytes) { hash = Math.imul(hash ^ byte, 16777619) >>> 0; }
    return [image.naturalWidth, bytes.length, hash];
}))"""


def _figures(page) -> list[tuple[int, int, int]]:
    """(width, bytes, content hash) of each rendered figure: the quadrant, then the four charts."""
    return [tuple(figure) for figure in page.locator(FIGURES).evaluate_all(FIGURE_HASHES)]


def _step(page, times: int) -> None:
    """Press Mesa's Step button and wait until the page shows the new step each time."""
    for _ in range(times):
        before = _step_number(page)
        page.get_by_role("button", name="Step", exact=True).click()
        page.wait_for_function(
            "n => /step (\\d+)$/.exec(document.querySelector('.relsim-settings').innerText)?.[1] > n",
            arg=before,
            timeout=UI_TIMEOUT_MS,
        )


def _step_number(page) -> int:
    return int(re.search(r"step (\d+)$", page.inner_text(".relsim-settings")).group(1))


def _counts(page) -> dict[str, int]:
    pattern = r"(loyalists / apostles|hostages|mercenaries|defectors / terrorists) ([\d,]+)"
    return {name: int(value.replace(",", "")) for name, value in re.findall(pattern, page.inner_text(".relsim-counts"))}


@pytest.mark.skipif(BROWSER_MISSING is not None, reason=BROWSER_MISSING or "")
def test_teacher_changes_the_level_steps_and_brings_in_a_competitor(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1380})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(app_url, wait_until="domcontentloaded")
            # The widgets: the quadrant's counts, the controls, the level selector and five figures.
            page.wait_for_selector(".relsim-counts", timeout=45_000)
            page.get_by_role("button", name="Reset").wait_for()
            page.wait_for_function(f"document.querySelectorAll('{FIGURES}').length >= 5")
            assert "Running: reactive" in page.inner_text(".relsim-settings")
            assert "Month 0" in page.inner_text(".relsim-counts")

            # Change the level to Proactive in the sidebar, then Reset to rebuild the market with it.
            page.locator(".v-select").filter(has_text="Relationship level").click()
            page.get_by_role("option", name="proactive").click()
            page.get_by_role("button", name="Reset").click()
            page.wait_for_function("document.querySelector('.relsim-settings').innerText.includes('proactive')")
            assert "Proactive" in page.inner_text("body")  # the teacher's text follows the level
            start_counts = _counts(page)
            start_figures = _figures(page)
            assert sum(start_counts.values()) == CONTROLS["n_customers"]["value"]

            # A monopoly (the app's default): a year on, dissatisfied customers stay as hostages.
            _step(page, 12)
            monopoly = _counts(page)
            assert "Month 12" in page.inner_text(".relsim-counts")
            assert monopoly != start_counts and monopoly["hostages"] > 0
            assert monopoly["mercenaries"] == monopoly["defectors / terrorists"] == 0
            figures = _figures(page)
            assert len(figures) == len(start_figures) >= 5
            assert all(width > 300 for width, _, _ in figures)  # drawn, at a readable size
            assert all(new[2] != old[2] for new, old in zip(figures, start_figures, strict=True))  # all redrawn

            # A competitor enters: the hostages lose their reason to stay, and loyalty falls.
            page.get_by_role("button", name="Competitor enters").click()
            page.get_by_text("enters at the next step").wait_for()
            _step(page, 3)
            entered = _counts(page)
            assert entered["hostages"] < monopoly["hostages"]
            assert entered["defectors / terrorists"] + entered["mercenaries"] > 0
            assert "competitors present" in page.inner_text("body")

            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 50_000  # a real page, not a blank one
            if os.environ.get("RELSIM_APP_SCREENSHOT"):
                shutil.copyfile(shot, os.environ["RELSIM_APP_SCREENSHOT"])
        finally:
            browser.close()
    assert time.monotonic() - started < 60


def test_the_app_runs_each_segment_and_refuses_an_unknown_one():
    """The segment control: every shipped segment builds the classroom model; a crafted name falls back."""
    from sim.core.segments import DEFAULT_SEGMENT, SEGMENT_NAMES

    for name in SEGMENT_NAMES:
        model = ClassroomModel(segment=name, n_customers=200)
        model.step()
        assert model.config.segment == name
    assert ClassroomModel(segment="walmart", n_customers=200).config.segment == DEFAULT_SEGMENT
