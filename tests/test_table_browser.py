"""The account table's "NPS 95% range" cells as Chromium renders them (formatted in the browser, issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bokeh.embed import file_html
from bokeh.resources import INLINE

import heatmap_lib as hm
from heatmap_lib.views.chart import bubble_source_data
from heatmap_lib.views.table import account_table

pytestmark = pytest.mark.browser


def test_range_cells_show_the_interval_and_the_small_sample_note(browser: Any, builder: Any, tmp_path: Path) -> None:
    builder.scores(builder.account("P1", name="A one promoter"), "influencer", [10])
    builder.scores(builder.account("P2", name="B four answers"), "influencer", [10, 0, 8, 7])
    builder.scores(builder.account("P3", name="C many"), "influencer", [9, 7, 3] * 4)
    builder.scores(builder.account("P4", name="D silent"), "influencer", [None])
    summary = hm.account_summary(builder.load(tmp_path / "d"))
    page_file = tmp_path / "table.html"
    page_file.write_text(file_html(account_table(summary).table, INLINE, "table"), encoding="utf-8")
    page = browser.new_page()
    page.goto(page_file.as_uri())
    rows = page.locator(".slick-row")
    rows.nth(3).wait_for(timeout=30_000)
    cells = {}
    for i in range(4):
        texts = rows.nth(i).locator(".slick-cell").all_inner_texts()
        cells[texts[0]] = texts[6]  # Account, ..., NPS, NPS 95% range, Band
    page.close()
    hover = dict(zip(summary["account_name"], bubble_source_data(summary)["nps_text"], strict=True))
    assert cells == {
        "A one promoter": "\u221248 to 98 (small sample: 1 answer)",
        "B four answers": "\u221252 to 52 (small sample: 4 answers)",
        "C many": hover["C many"].split("(")[1].rstrip(")"),  # the same ends as the hover, no note
        "D silent": "",
    }
    assert hover["A one promoter"].startswith("100 (\u221248 to 98), small sample: 1 answer, so the range is wide")
