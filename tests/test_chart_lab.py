"""The live heat map in JupyterLab, one account under the pointer: where a small red bubble lies on a large green
one, the hover shows one tooltip, the red account's, and a click opens the red account's X-Ray (issue 15).

Runs the repo's notebook in a real JupyterLab on loopback, on the tiny overlapping dataset of
test_chart_browser.py, driven by Playwright on Debian's chromium (tests/lab_server.py, as test_lab_e2e.py does).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, Builder
from lab_server import run_all, start_lab, stop_lab
from test_chart_browser import TOOLTIP_ACCOUNTS

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Where an account's bubble is drawn, in CSS pixels from the chart canvas's top left (None until it is drawn).
BUBBLE_AT = """(name) => {
  // the live chart's names are in its static per-account source (chart.BubbleChart.accounts), by the row's `acc`
  const get = (o, k) => (o instanceof Map ? o.get(k) : o[k]);
  const names = (doc) => {
    const hover = [...doc.all_models].find((m) => m.type === "HoverTool" && get(m.formatters, "@acc"));
    return hover ? get(get(get(hover.formatters, "@acc").args, "accounts").data, "account_name") : [];
  };
  const plot = window.Bokeh && window.Bokeh.index.query_one((v) => v.model.name !== "size_key"
    && v.frame != null && v.renderer_views != null);
  if (!plot) return null;
  for (const rv of plot.renderer_views.values()) {
    if (rv.model.name !== "bubbles") continue;
    const d = rv.model.data_source.data, col = (k) => (d.get ? d.get(k) : d[k]);
    const all = names(rv.model.document), i = Array.from(col("acc") || [], (k) => all[k]).indexOf(name);
    if (i < 0) return null;
    return [plot.frame.x_scale.compute(col("x")[i]), plot.frame.y_scale.compute(col("contacts_invited")[i])];
  }
  return null;
}"""


def test_live_hover_and_click_take_the_small_bubble_on_top(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    work = tmp_path / "work"
    (work / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "customer_heatmap.ipynb", work / "notebooks")
    shutil.copytree(ROOT / "params", work / "params")
    b = Builder()
    for spot, value in (("1", 5000), ("2", 9000)):
        b.account(f"G{spot}", value, name=f"Big green {spot}")
        b.scores(f"G{spot}", "day_to_day", [10] * 10)
    b.account("R1", 5000, name="Small red")
    b.scores("R1", "day_to_day", [0] + [None] * 9)  # on Big green 1: same value, same footprint
    b.account("F", 20000, name="Far away")
    b.scores("F", "day_to_day", [10, 9, 0, None])
    b.write(work / "data" / "demo")  # where the notebook's `data` parameter points
    ARTIFACTS.mkdir(exist_ok=True)
    proc, base, token = start_lab(work, tmp_path, timeout=60)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                run_all(page, base, token, "notebooks/customer_heatmap.ipynb", ARTIFACTS)
                page.wait_for_function(f"({BUBBLE_AT})('Small red') !== null", timeout=120_000)
                canvas = page.locator(".bk-Canvas").first
                canvas.scroll_into_view_if_needed()
                box = canvas.bounding_box()
                red: Any = page.evaluate(BUBBLE_AT, "Small red")
                green: Any = page.evaluate(BUBBLE_AT, "Big green 1")
                assert red == pytest.approx(green)  # one spot: the small red lies on the large green
                x, y = box["x"] + red[0], box["y"] + red[1]
                page.mouse.move(x, y)
                page.wait_for_function(f"() => ({TOOLTIP_ACCOUNTS})().length > 0", timeout=10_000)
                assert page.evaluate(TOOLTIP_ACCOUNTS) == ["Small red"]  # one tooltip, the bubble on top
                page.mouse.click(x, y)
                header = page.locator(".widget-html b", has_text="Account X-Ray").first
                header.wait_for(timeout=60_000)
                panel = header.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
                page.wait_for_function(
                    "(el) => /Small red|R1/.test(el.innerText)", arg=panel.element_handle(), timeout=60_000
                )
                text = panel.inner_text()
                page.screenshot(path=str(ARTIFACTS / "lab-overlap-click.png"), full_page=False)
            finally:
                browser.close()
    finally:
        stop_lab(proc)
    assert "Big green" not in text  # the large account underneath did not open


# Changes the Region select as a click would (the panel's multi-select labelled "Region").
PICK_REGION = """(region) => {
  const box = [...document.querySelectorAll('.widget-select-multiple')]
    .find((x) => x.querySelector('label') && x.querySelector('label').textContent.trim() === 'Region');
  const select = box.querySelector('select');
  for (const o of select.options) o.selected = o.textContent.trim() === region;
  select.dispatchEvent(new Event('change', {bubbles: true}));
}"""


def test_a_filter_change_is_not_sent_back_and_a_click_still_reaches_the_kernel(tmp_path: Path) -> None:
    """The page sends the kernel no data source after a filter redraw (docs/live.md: the patch echo), and the
    changes the page makes itself still travel: after the redraw a click on a bubble opens its X-Ray."""
    from playwright.sync_api import sync_playwright

    work = tmp_path / "work"
    (work / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "customer_heatmap.ipynb", work / "notebooks")
    shutil.copytree(ROOT / "params", work / "params")
    b = Builder()
    b.account("W1", 5000, name="West one", region="West")
    b.scores("W1", "day_to_day", [10, 9, 0, None])
    b.account("E1", 9000, name="East one", region="East")
    b.scores("E1", "day_to_day", [0, 3, 10, None])
    b.write(work / "data" / "demo")
    ARTIFACTS.mkdir(exist_ok=True)
    proc, base, token = start_lab(work, tmp_path, timeout=60)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            sent: list[str] = []  # what the page sends the kernel (Jupyter's websocket protocol frames, as text)

            def keep(payload: str | bytes) -> None:
                sent.append(payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))

            page.on("websocket", lambda ws: ws.on("framesent", keep))
            try:
                run_all(page, base, token, "notebooks/customer_heatmap.ipynb", ARTIFACTS)
                page.wait_for_function(f"({BUBBLE_AT})('East one') !== null", timeout=120_000)
                sent.clear()
                page.evaluate(PICK_REGION, "West")
                page.wait_for_function(f"({BUBBLE_AT})('East one') === null", timeout=60_000)  # redrawn: West only
                canvas = page.locator(".bk-Canvas").first
                canvas.scroll_into_view_if_needed()
                box = canvas.bounding_box()
                west: Any = page.evaluate(BUBBLE_AT, "West one")
                page.mouse.click(box["x"] + west[0], box["y"] + west[1])
                header = page.locator(".widget-html b", has_text="Account X-Ray").first
                header.wait_for(timeout=60_000)
                panel = header.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
                page.wait_for_function(
                    "(el) => /West one|W1/.test(el.innerText)", arg=panel.element_handle(), timeout=60_000
                )
            finally:
                browser.close()
    finally:
        stop_lab(proc)
    events = [m for m in sent if '"jsevent"' in m]
    assert any(re.search(r'"attr"\s*:\s*"indices"', m) for m in events)  # the click's selection went to the kernel
    assert not [m for m in events if re.search(r'"attr"\s*:\s*"data"', m)]  # no data source came back
