"""End to end in JupyterLab: open the heat map notebook in headless Chromium, run it, change a filter.

Starts a real JupyterLab server on loopback with the repo's notebook and a small demo dataset, drives it with
Playwright on Debian's chromium, and saves a screenshot under test-artifacts/ as evidence.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS
from lab_server import run_all, start_lab, stop_lab

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The number of bubbles the page's Bokeh chart draws: the rows of its bubble renderers' data source.
COUNT_BUBBLES = """() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  for (const doc of docs) {
    for (const model of doc.all_models) {
      if (model.type === "ColumnDataSource" || model.constructor.name === "ColumnDataSource") {
        const data = model.data;
        const ids = data.get ? data.get("account_id") : data["account_id"];
        const sizes = data.get ? data.get("size") : data["size"];
        if (ids && sizes) return ids.length;
      }
    }
  }
  return -1;
}"""


# Where the first bubble is drawn, in CSS pixels from the canvas's top left: its data position mapped through the
# plot's scales (Bokeh's view of the figure), so a click lands on it whatever the layout.
BUBBLE_POINT = """() => {
  const plot = window.Bokeh.index.query_one((v) => v.frame != null && v.renderer_views != null);
  if (!plot) return null;
  for (const rv of plot.renderer_views.values()) {
    const src = rv.model.data_source;
    if (!src) continue;
    const col = (name) => (src.data.get ? src.data.get(name) : src.data[name]);
    if (!col("account_id") || !col("size") || !col("account_id").length) continue;
    return [plot.frame.x_scale.compute(col("x")[0]), plot.frame.y_scale.compute(col("contacts_invited")[0])];
  }
  return null;
}"""


# Buttons and checkbox labels of the panel whose text does not fit (cut to "..."), by their text.
CUT_LABELS = """() => [...document.querySelectorAll(
    '.jp-Notebook .widget-button, .jp-Notebook .widget-toggle-button, .jp-Notebook .widget-checkbox label')]
  .filter((el) => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
  .map((el) => el.textContent.trim())"""


@pytest.fixture
def lab(tmp_path):
    from heatmap_lib.data.demo import write_demo

    work = tmp_path / "work"
    (work / "notebooks").mkdir(parents=True)
    for name in ("customer_heatmap.ipynb", "account_xray.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, work / "notebooks")
    shutil.copytree(ROOT / "params", work / "params")
    write_demo(work / "data" / "demo", accounts=80, seed=5, fmt="csv")
    proc, base, token = start_lab(work, tmp_path, timeout=60)
    yield base, token, work
    stop_lab(proc)


def _run_all(page, base: str, token: str, notebook: str) -> None:
    run_all(page, base, token, f"notebooks/{notebook}", ARTIFACTS)


def test_notebook_runs_in_jupyterlab_and_a_filter_redraws_the_chart(lab):
    from playwright.sync_api import sync_playwright

    base, token, _ = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            _run_all(page, base, token, "customer_heatmap.ipynb")
            try:
                page.wait_for_function(f"({COUNT_BUBBLES})() > 0", timeout=120_000)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "lab-failure.png"), full_page=True)
                raise AssertionError(
                    "no bubbles drawn; see test-artifacts/lab-failure.png. Notebook outputs:\n"
                    + page.locator(".jp-OutputArea").all_inner_texts().__str__()[-3000:]
                ) from None
            before = page.evaluate(COUNT_BUBBLES)
            page.screenshot(path=str(ARTIFACTS / "lab-dashboard-all.png"), full_page=False)
            region = page.locator(".widget-select-multiple", has_text="Region").locator("select")
            region.select_option("West")
            page.wait_for_function(f"({COUNT_BUBBLES})() !== {before}", timeout=30_000)
            after = page.evaluate(COUNT_BUBBLES)
            page.locator(".bk-Figure, .bk-Canvas").first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "lab-dashboard-west.png"), full_page=False)
            # a click on a bubble opens its X-Ray beside the chart, which stays in view
            canvas = page.locator(".bk-Canvas").first
            box = canvas.bounding_box()
            point = page.evaluate(BUBBLE_POINT)
            page.mouse.click(box["x"] + point[0], box["y"] + point[1])
            xray = page.get_by_text("NPS by role").first
            xray.wait_for(timeout=30_000)
            in_notebook = xray.evaluate("(el) => el.closest('.jp-Notebook') !== null")
            chart_in_view = canvas.is_visible() and canvas.evaluate(
                "(el) => { const r = el.getBoundingClientRect(); return r.top < innerHeight && r.left < innerWidth; }"
            )
            page.screenshot(path=str(ARTIFACTS / "lab-dashboard-xray.png"), full_page=False)
            cut = page.evaluate(CUT_LABELS)  # the notebook is narrower with the X-Ray beside it
            page.get_by_role("button", name="Close").first.click()
            xray.wait_for(state="detached", timeout=30_000)
        finally:
            browser.close()
    assert 0 < after < before, (before, after)
    assert not in_notebook and chart_in_view  # the X-Ray opened in its own area, beside the chart
    assert cut == [], f"labels cut off with the X-Ray open: {cut}"
    assert not [e for e in errors if "bokeh" in e.lower() or "require" in e.lower()], errors


def test_a_play_recorded_in_the_xray_form_appears_in_the_next_batch_snapshot(lab):
    from playwright.sync_api import sync_playwright

    from heatmap_lib.data.plays import read_plays
    from heatmap_lib.reports.batch import load_spec, run

    base, token, work = lab
    ARTIFACTS.mkdir(exist_ok=True)
    note = "Lunch with the CFO <b>booked</b>"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _run_all(page, base, token, "account_xray.ipynb")
            record = page.get_by_role("button", name="Record play")
            try:
                record.wait_for(timeout=120_000)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "lab-play-failure.png"), full_page=True)
                raise
            page.get_by_placeholder("a play, or type your own").fill("executive_sponsor")
            page.get_by_placeholder("who does it").fill("Dana Analyst")
            page.get_by_placeholder("what and why").fill(note)
            page.get_by_placeholder("what and why").blur()  # text widgets sync to the kernel on change
            record.click()
            page.get_by_text("Recorded Executive sponsor").wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "lab-play-recorded.png"), full_page=False)
        finally:
            browser.close()

    plays = read_plays(work / "workspace")
    assert plays[["play", "owner", "notes", "status"]].values.tolist() == [
        ["executive_sponsor", "Dana Analyst", note, "open"]
    ]
    account = str(plays.loc[0, "account_id"])

    # the next batch snapshot shows it, read-only: on the account's X-Ray page and in the heat map's hover
    import pandas as pd

    accounts = pd.read_csv(work / "data" / "demo" / "accounts.csv", dtype=str).set_index("account_id")
    region = accounts.loc[account, "region"]
    spec_path = work / "params" / "plays_e2e.yaml"
    spec_path.write_text(
        "notebook: ../notebooks/customer_heatmap.ipynb\n"
        "data: ../data/demo\n"
        "segment_by: region\n"
        f"segments: [{region}]\n"
        "output: ../outputs\n"
        "workers: 1\n"
        "parameters: {workspace: ../workspace}\n",
        encoding="utf-8",
    )
    result = run(load_spec(spec_path), progress=False)
    assert result.exit_status == 0, [s.error for s in result.failed]
    (seg,) = result.segments
    xray_page = result.folder / str(seg.xray) / f"{account}.html"
    page_text = xray_page.read_text(encoding="utf-8")
    assert "Executive sponsor" in page_text and "Lunch with the CFO &lt;b&gt;booked&lt;/b&gt;" in page_text
    report = (result.folder / str(seg.html)).read_text(encoding="utf-8")
    assert "1 open" in report and "Dana Analyst" in report
