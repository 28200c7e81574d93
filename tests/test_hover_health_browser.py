"""The usage health hover lines in headless Chromium, offline: the batch snapshot formats them in the browser from
compact numbers and shows exactly the live chart's text; an extra hover line holding hostile text shows it as text.

Uses Debian's /usr/bin/chromium through Playwright, as test_snapshot_browser.py does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import BUBBLES_JS, CHROMIUM
from test_snapshot_browser import Page

import heatmap_lib as hm
from heatmap_lib.reports import snapshot as report
from heatmap_lib.views.chart import bubble_chart, usage_hover

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make system-deps)"),
]

HOSTILE = "<img src=x onerror=alert(1)>"
USAGE = "Usage (28 days)"
# The two usage lines as the page's hover formats them, for every bubble, keyed by the account's X-Ray link.
USAGE_TEXTS = """() => {
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== "HoverTool") continue;
    const f = m.formatters, get = (k) => (f instanceof Map ? f.get(k) : f[k]);
    const src = m.renderers[0].data_source, d = src.data, out = {};
    for (let i = 0; i < src.get_length(); i++) {
      const at = {index: i};
      out[d.xray_href[i]] = [get("@hover_au").format(d.hover_au[i], "custom", at),
                             get("@hover_days").format(d.hover_days[i], "custom", at)];
    }
    return out;
  }
}"""


def page_of(snap: report.Snapshot, path: Path) -> Path:
    """The HTML page `heatmap run` writes for a snapshot (without papermill), as test_waves.py builds it."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    intro = Path(__file__).resolve().parent.parent / "notebooks" / "customer_heatmap.ipynb"
    nb.cells = [nbformat.read(intro, as_version=4).cells[0], nbformat.v4.new_code_cell("")]
    html = snap._repr_mimebundle_()["text/html"]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"text/html": html})]
    path.write_text(report.notebook_to_html(nb, title=snap.title), encoding="utf-8")
    return path


def test_snapshot_usage_lines_match_the_live_chart_and_show_on_hover(browser: Any, demo: hm.Dataset, tmp_path) -> None:
    snap = report.snapshot(demo, segment_by="region", segment="West", xray_href="x/{account_id}.html")
    page = Page(browser, page_of(snap, tmp_path / "west.html"))
    page.wait_for_bokeh()
    p = page.page
    got = p.evaluate(USAGE_TEXTS)
    lines = usage_hover(hm.health_summary(demo, {"region": ["West"]}))
    expected = {f"x/{a}.html": [lines.loc[a, USAGE], lines.loc[a, "Last active"]] for a in snap_ids(got)}
    assert got == expected and len(got) == snap.headline.surveyed
    assert any("seats active" in u for u, _ in got.values()) and any("days ago" in d for _, d in got.values())

    # hover one bubble: its tooltip shows both lines
    bubbles = p.evaluate(BUBBLES_JS)
    summary = hm.account_summary(demo, {"region": ["West"]}).set_index("account_name")
    # the last drawn is on top of any it overlaps (the hover shows the bubble on top only)
    bubble = next(b for b in reversed(bubbles) if summary.index.tolist().count(b["name"]) == 1)
    account = summary.loc[bubble["name"], "account_id"]
    p.mouse.move(bubble["x"], bubble["y"])
    tooltip = p.locator(".bk-Tooltip")
    tooltip.get_by_text(lines.loc[account, USAGE], exact=True).first.wait_for(state="visible", timeout=5_000)
    tooltip.get_by_text(lines.loc[account, "Last active"], exact=True).first.wait_for(state="visible", timeout=5_000)
    assert tooltip.get_by_text(f"{USAGE}:").count() >= 1
    page.clean()
    p.close()


def snap_ids(got: dict[str, Any]) -> list[str]:
    return [href.removeprefix("x/").removesuffix(".html") for href in got]


def test_an_extra_hover_line_shows_hostile_text_as_text(browser: Any, builder: Any, tmp_path: Path) -> None:
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    builder.account("A1", 1000, name="Alpha")
    builder.scores("A1", "day_to_day", [9, 9])
    builder.account("A2", 9000, name="Bravo")
    builder.scores("A2", "day_to_day", [1, 2, 3, 4])
    summary = hm.account_summary(builder.load(tmp_path / "data"))
    chart = bubble_chart(summary, extra_hover={"Open plays": pd.Series({"A1": HOSTILE, "A2": "call & <b>renew</b>"})})
    path = tmp_path / "chart.html"
    path.write_text(file_html(chart.figure, INLINE, "hover"), encoding="utf-8")
    page = Page(browser, path)
    page.wait_for_bokeh()
    p = page.page
    for name, text in (("Alpha", HOSTILE), ("Bravo", "call & <b>renew</b>")):
        bubble = next(b for b in p.evaluate(BUBBLES_JS) if b["name"] == name)
        p.mouse.move(bubble["x"], bubble["y"])
        line = p.locator(".bk-Tooltip").get_by_text(text, exact=True).first
        line.wait_for(state="visible", timeout=5_000)
        assert line.inner_text() == text
        p.mouse.move(5, 5)
        p.wait_for_timeout(200)
    assert p.evaluate("() => document.querySelectorAll('img').length") == 0
    page.clean()  # no dialog: nothing ran
    p.close()
