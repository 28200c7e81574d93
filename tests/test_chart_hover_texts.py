"""The live chart's hover texts formatted in headless Chromium equal Python's, for every account (issue 15).

The static per-account texts (names, managers, extra hover lines) are sent once in the chart's `accounts` source
and read through the drawn rows' `acc`: the same texts, shown as text (customer text is untrusted).

The live dashboard's chart sends no band, NPS or response-rate text per account (`chart.BROWSER_HOVER_JS` formats
them from the numeric columns). Here the formatter runs in Debian's chromium over every account of the demo
dataset, plus rows whose figures sit exactly on a rounding tie, silent accounts, one-answer accounts and counts
with thousands separators, and each text must equal the one Python formats (`bubble_source_data`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import CHROMIUM

import heatmap_lib as hm
from heatmap_lib.views.chart import BROWSER_TEXTS, HOVER_LINE, bubble_chart, bubble_source_data, update_chart

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make system-deps)"),
]

# Each row's band, NPS and rate lines as the page's hover formatter writes them, by account id.
FORMATTED = """() => {
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== "HoverTool") continue;
    const f = m.formatters, band = f instanceof Map ? f.get("@band") : f["@band"];
    const d = m.renderers[0].data_source.data, out = {};
    for (let i = 0; i < d.account_id.length; i++) {
      out[d.account_id[i]] = ["band", "nps", "rate"].map((k) => band.format(d.band[i], k, {index: i}));
    }
    return out;
  }
}"""


def with_edge_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary plus rows on rounding ties (half to even), one-answer and silent accounts, large counts."""
    base = summary.iloc[[0] * 9].copy()
    base["account_id"] = [f"EDGE{i}" for i in range(len(base))]
    base["nps"] = [2.5, -2.5, -0.5, 0.5, 12.5, -0.4, 100.0, np.nan, 33.333333]
    base["nps_low"] = [-3.5, -13.5, -40.5, -48.5, 1.5, -20.0, -48.5, np.nan, 10.5]
    base["nps_high"] = [10.5, 9.5, 39.5, 98.5, 20.5, 19.6, 98.5, np.nan, 60.5]
    base["responses"] = [5, 3, 2, 1, 40, 12, 1, 0, 1234]
    base["invitations"] = [40, 24, 16, 8, 320, 96, 8, 50, 9872]
    base["response_rate"] = base["responses"] / base["invitations"]  # 0.125 (12.5%), 0.0 ...
    base["small_sample"] = [True, True, True, True, False, False, True, False, False]
    base["band"] = ["yellow", "yellow", "yellow", "yellow", "green", "yellow", "green", "gray", "green"]
    return pd.concat([summary, base], ignore_index=True)


def formatted(browser: Any, chart: Any, path: Path) -> dict[str, list[str]]:
    """The hover texts the chart's formatter writes in chromium, by account id."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path.write_text(file_html(chart.figure, INLINE, "hover"), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        out: dict[str, list[str]] = page.evaluate(FORMATTED)
        return out
    finally:
        page.close()


def python_texts(summary: pd.DataFrame) -> dict[str, list[str]]:
    data = bubble_source_data(summary)
    rows = zip(data["account_id"], data["band_label"], data["nps_text"], data["rate_text"], strict=True)
    return {a: [band, nps, rate] for a, band, nps, rate in rows}


def test_every_accounts_hover_texts_in_the_browser_equal_pythons(browser: Any, demo: hm.Dataset, tmp_path) -> None:
    summary = with_edge_rows(hm.account_summary(demo))
    assert summary["nps"].isna().sum() > 1 and (summary["responses"] == 1).sum() > 1  # silent, one answer
    chart = bubble_chart(summary, texts_in_browser=True)
    assert not set(BROWSER_TEXTS) & set(chart.source.data)  # no text sent for these lines
    assert ("NPS", "@band{nps}") in chart.hover.tooltips
    want = python_texts(summary)
    assert want["EDGE0"][1].startswith("2 (\u22124 to 10), small sample: 5 answers")  # ties: half to even
    assert want["EDGE8"][2] == "12% (1,234 of 9,872)"  # 12.5: half to even
    assert formatted(browser, chart, tmp_path / "hover.html") == want


def test_a_live_update_sends_numbers_and_follows_the_thresholds(browser: Any, demo: hm.Dataset, tmp_path) -> None:
    summary = hm.account_summary(demo)
    chart = bubble_chart(summary, texts_in_browser=True)
    other = hm.account_summary(demo, red_below=-10, green_above=30)
    update_chart(chart, other)
    data = chart.source.data
    assert not set(BROWSER_TEXTS) & set(data)
    assert data["responses"].dtype == np.int32 and data["small_sample"].dtype == np.int8
    got = formatted(browser, chart, tmp_path / "updated.html")
    assert got == python_texts(other)
    assert any(texts[0] == "Positive (NPS > 30)" for texts in got.values())


HOSTILE = "<img src=x onerror=alert(1)>"
# Each row's static texts as the page's `@acc` formatter writes them, by account id.
STATIC_FORMATTED = """() => {
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== "HoverTool") continue;
    const f = m.formatters, acc = f instanceof Map ? f.get("@acc") : f["@acc"];
    const d = m.renderers[0].data_source.data, out = {};
    for (let i = 0; i < d.account_id.length; i++) {
      const columns = ["account_name", "account_manager", "hover_line_0"];
      out[d.account_id[i]] = columns.map((k) => acc.format(d.acc[i], k, {}));
    }
    return out;
  }
}"""
BUBBLE_AT = """() => {
  for (const v of Bokeh.index.all_views()) {
    if (v.model.type !== "GlyphRenderer" || v.model.name !== "bubbles") continue;
    const box = v.plot_view.canvas_view.el.getBoundingClientRect();
    const x = box.left + (v.glyph.sx || [NaN])[0], y = box.top + (v.glyph.sy || [NaN])[0];
    return Number.isFinite(x) && Number.isFinite(y) ? {x: x, y: y} : null;
  }
  return null;
}"""


def test_static_texts_are_sent_once_and_shown_as_text(browser: Any, demo: hm.Dataset, tmp_path) -> None:
    summary = hm.account_summary(demo)
    summary.loc[0, ["account_name", "account_manager"]] = [HOSTILE, "<b>boss</b> & co"]
    lines = {"Open plays": pd.Series({summary.loc[0, "account_id"]: HOSTILE, summary.loc[1, "account_id"]: "2 & 3"})}
    chart = bubble_chart(summary.iloc[:40], extra_hover=lines, texts_in_browser=True)
    assert not {"account_name", "account_manager", f"{HOVER_LINE}0"} & set(chart.source.data)
    # a filter change streams only the accounts not sent before; the drawn rows find theirs through `acc`
    update_chart(chart, summary.iloc[20:])
    assert len(chart.accounts.data["account_name"]) == len(summary)
    python = bubble_source_data(summary.iloc[20:], extra_hover=lines)
    assert chart.texts("account_name") == list(python["account_name"])
    update_chart(chart, summary)
    python = bubble_source_data(summary, extra_hover=lines)
    want = {
        a: [n, m, line]
        for a, n, m, line in zip(
            python["account_id"],
            python["account_name"],
            python["account_manager"],
            python[f"{HOVER_LINE}0"],
            strict=True,
        )
    }
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = tmp_path / "static.html"
    path.write_text(file_html(chart.figure, INLINE, "hover"), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        assert page.evaluate(STATIC_FORMATTED) == want
    finally:
        page.close()
    # the hostile account alone: its tooltip shows the markup as text, and nothing runs
    alone = bubble_chart(summary.iloc[[0]], extra_hover=lines, texts_in_browser=True)
    path = tmp_path / "alone.html"
    path.write_text(file_html(alone.figure, INLINE, "hover"), encoding="utf-8")
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        page.locator("canvas").first.wait_for()
        page.wait_for_function(BUBBLE_AT)  # drawn
        at = page.evaluate(BUBBLE_AT)
        page.mouse.move(at["x"], at["y"])
        tip = page.locator(".bk-Tooltip").get_by_text(HOSTILE, exact=True).first
        tip.wait_for(state="visible")
        page.locator(".bk-Tooltip").get_by_text("<b>boss</b> & co", exact=True).first.wait_for(state="visible")
        assert page.evaluate("() => document.querySelectorAll('img[src=x]').length") == 0
        assert dialogs == []
    finally:
        page.close()
