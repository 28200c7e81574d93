"""One account under the pointer, in headless Chromium: where bubbles overlap, the hover shows one tooltip, the
bubble drawn on top's, and a click opens that same account's X-Ray; small red and gray bubbles lie over large ones.

A tiny dataset puts a small red bubble on a large green one, and a small silent (gray) one on another large green
one. The snapshot page (offline.js redraws the chart from its counts) and a plain chart page (the tap callback the
live chart has) are both driven by Debian's /usr/bin/chromium through Playwright, as test_snapshot_browser.py does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import BUBBLES_JS, CHROMIUM
from test_hover_health_browser import page_of
from test_snapshot_browser import Page

import heatmap_lib as hm
from heatmap_lib.reports import snapshot as report
from heatmap_lib.views.chart import bubble_chart

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make system-deps)"),
]

# The account names the tooltips show now (one per tooltip entry), from the visible tooltips only.
TOOLTIP_ACCOUNTS = """() => {
  const out = [];
  const walk = (n) => {
    if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.children || []) walk(c);
    if (n.classList && n.classList.contains("bk-tooltip-row-label") && n.textContent.trim() === "Account:") {
      const tip = n.closest(".bk-Tooltip") || n.getRootNode().host;
      const shown = n.getClientRects().length > 0 && (!tip || getComputedStyle(tip).display !== "none");
      if (shown) out.push(n.nextElementSibling.textContent.trim());
    }
  };
  walk(document.body);
  return out;
}"""


def overlapping(builder: Any, folder: Path) -> hm.Dataset:
    """Two spots: a small red bubble on a large green one (same value and footprint), a small gray on another."""
    for spot, value in (("1", 5000), ("2", 9000)):
        builder.account(f"G{spot}", value, name=f"Big green {spot}")
        builder.scores(f"G{spot}", "day_to_day", [10] * 10)  # 100% response: the largest bubble
    builder.account("R1", 5000, name="Small red")
    builder.scores("R1", "day_to_day", [0] + [None] * 9)  # 10% response, NPS -100
    builder.account("S2", 9000, name="Small silent")
    builder.scores("S2", "day_to_day", [None] * 10)  # nobody answered: gray, the smallest bubble
    builder.account("F", 20000, name="Far away")
    builder.scores("F", "day_to_day", [10, 9, 0, None])
    xray = folder.parent / "x"  # the pages a click opens (the batch writes X-Rays there; here a stand-in each)
    xray.mkdir()
    for account in ("G1", "G2", "R1", "S2", "F"):
        (xray / f"{account}.html").write_text(f"<title>X-Ray {account}</title>", encoding="utf-8")
    return builder.load(folder)


def tooltip_accounts(p: Any, at: dict[str, float]) -> list[str]:
    """Move the pointer to `at` and read the account names the tooltips show once one is shown."""
    p.mouse.move(5, 5)
    p.mouse.move(at["x"], at["y"])
    p.wait_for_function(f"() => ({TOOLTIP_ACCOUNTS})().length > 0", timeout=5_000)
    return p.evaluate(TOOLTIP_ACCOUNTS)


def test_snapshot_hover_and_click_take_the_bubble_on_top(browser: Any, builder: Any, tmp_path: Path) -> None:
    data = overlapping(builder, tmp_path / "data")
    snap = report.snapshot(data, xray_href="x/{account_id}.html")
    page = Page(browser, page_of(snap, tmp_path / "report.html"))
    page.wait_for_bokeh()
    p = page.page
    p.wait_for_function("() => window.HeatmapOffline && Object.keys(HeatmapOffline.snapshots).length === 1")
    where = {b["name"]: {"x": b["x"], "y": b["y"]} for b in p.evaluate(BUBBLES_JS)}
    assert where["Small red"] == pytest.approx(where["Big green 1"])  # the same spot: they overlap
    assert where["Small silent"] == pytest.approx(where["Big green 2"])
    # the hover shows one tooltip, the account drawn on top, and a click opens that one's X-Ray in a new tab
    for small, big in (("Small red", "Big green 1"), ("Small silent", "Big green 2")):
        # each click from a freshly opened report: in headless Chromium a click right after a click that opened a
        # tab was often not taken at all (selection unchanged); see the note on issue 15
        p.reload()
        p.wait_for_function("() => window.HeatmapOffline && Object.keys(HeatmapOffline.snapshots).length === 1")
        assert tooltip_accounts(p, where[small]) == [small]
        account = {"Small red": "R1", "Small silent": "S2"}[small]
        with p.context.expect_page() as tab:
            p.mouse.click(where[small]["x"], where[small]["y"])
        assert tab.value.url == (tmp_path / "x" / f"{account}.html").as_uri()
        tab.value.close()
        # the big bubble's rim, outside the small one: the big one
        rim = {"x": where[big]["x"] + 16, "y": where[big]["y"]}
        assert tooltip_accounts(p, rim) == [big]

    # the legend still hides a band (a click on its entry hides the entry's key renderer, click_policy "hide"):
    # with the red band hidden, the green bubble under the red one is what the pointer finds
    p.evaluate(
        """() => { for (const m of Bokeh.documents[0].all_models)
          if (m.type === "GlyphRenderer" && m.name === "legend_red") m.visible = false; }"""
    )
    p.wait_for_function(
        """() => { for (const m of Bokeh.documents[0].all_models)
          if (m.type === "GlyphRenderer" && m.name === "bubbles") return m.view.indices.count === 4; }"""
    )
    assert tooltip_accounts(p, where["Small red"]) == ["Big green 1"]
    page.clean()
    p.close()


def test_chart_click_on_overlap_opens_the_small_account(browser: Any, builder: Any, tmp_path: Path) -> None:
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    data = overlapping(builder, tmp_path / "data")
    chart = bubble_chart(hm.account_summary(data), xray_href="x/{account_id}.html")
    path = tmp_path / "chart.html"
    path.write_text(file_html(chart.figure, INLINE, "chart"), encoding="utf-8")
    page = Page(browser, path)
    page.wait_for_bokeh()
    p = page.page
    where = {b["name"]: {"x": b["x"], "y": b["y"]} for b in p.evaluate(BUBBLES_JS)}
    assert tooltip_accounts(p, where["Small silent"]) == ["Small silent"]
    with p.expect_navigation():
        p.mouse.click(where["Small silent"]["x"], where["Small silent"]["y"])
    assert p.url == (tmp_path / "x" / "S2.html").as_uri()
    p.close()
