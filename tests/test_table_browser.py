"""The account table's "NPS 95% range" cells as Chromium renders them (formatted in the browser, issue 18)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from bokeh.embed import file_html
from bokeh.protocol import Protocol
from bokeh.resources import INLINE

import heatmap_lib as hm
from heatmap_lib.metrics.summary import BAND_LABELS
from heatmap_lib.views.chart import bubble_source_data
from heatmap_lib.views.table import account_table, live_sort_ready, shown_order, update_table

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


# Every row of the account table as its cells render it (each column's formatter, as SlickGrid draws a cell),
# read as text from an inert document: a hostile name is counted, never run.
CELLS = """() => {
  const view = window.Bokeh.index.query_one((v) => v.grid != null);
  const grid = view.grid, columns = grid.getColumns(), out = [];
  for (let i = 0; i < grid.getDataLength(); i++) {
    const item = grid.getDataItem(i);
    out.push(columns.map((c, j) => {
      const html = String(c.formatter(i, j, item[c.field], c, item));
      return new DOMParser().parseFromString(html, "text/html").body.textContent;
    }));
  }
  return out;
}"""

# Applies a kernel's patch as JupyterLab's view does: the document's JSON patch and its binary buffers.
APPLY = """([patch, buffers]) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  const map = new Map(Object.entries(buffers).map(([id, b64]) => [id, bytes(b64)]));
  window.Bokeh.documents[0].apply_json_patch(patch, map);
}"""


def _expected(t: Any) -> list[list[str]]:
    """The rows the kernel means the table to show, as text: account, manager, value, contacts, band."""
    d = t.data
    rows = zip(d["account_name"], d["account_manager"], d["value"], d["contacts_invited"], d["band"], strict=True)
    return [[n, m, f"{v:,.0f}", f"{c:,}", BAND_LABELS[b]] for n, m, v, c, b in rows]


def _shown(page: Any) -> list[list[str]]:
    return [[r[0], r[1], r[2], r[3], r[7]] for r in page.evaluate(CELLS)]


def test_the_live_table_shows_each_rows_texts_after_a_filter_change(browser: Any, builder: Any, tmp_path: Path) -> None:
    """Static texts sent once (`static_texts=True`), then only numbers: every row still shows its own texts."""
    hostile = "<img src=x onerror=alert(1)>"
    for i, (name, manager) in enumerate(
        [("Zeta", "Zoe"), (hostile, "Mx"), ("alpha", hostile), ("Beta & Co", "Al"), ("gamma", "Gil"), ("Delta", "Di")]
    ):
        builder.account(f"A{i}", 1000 * (i + 1) + 0.4, name=name, account_manager=manager)
        builder.scores(f"A{i}", "influencer", [10 - 2 * i, 9, i])
    summary = hm.account_summary(builder.load(tmp_path / "d"))
    pick = summary.set_index("account_id", drop=False)
    t = account_table(pick.loc[["A0", "A2", "A4"]], static_texts=True, xray_href="xray/{account_id}.html", height=600)
    assert not {"account_name", "name_html", "account_manager", "account_id"} & set(t.source.data)
    page_file = tmp_path / "live-table.html"
    page_file.write_text(file_html(live_sort_ready(t.table, t), INLINE, "live table"), encoding="utf-8")
    before = _expected(t)
    events: list[Any] = []
    t.table.document.on_change(events.append)
    contacts = {"A1": 7, "A2": 70, "A3": 700, "A5": 7000}  # 3 accounts new to the page, 1 kept
    update_table(t, pick.loc[list(contacts)].assign(contacts_invited=list(contacts.values())))
    kinds = {type(e).__name__ for e in events}
    assert "ColumnsStreamedEvent" in kinds  # only the new accounts' texts travel
    message = Protocol().create("PATCH-DOC", events)
    buffers = {b.id: base64.b64encode(bytes(b.data)).decode("ascii") for b in message.buffers}
    sent = json.loads(message.content_json)
    assert "Beta &amp; Co" in str(sent) and "Zeta" not in str(sent)  # a new account's texts; none resent
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(page_file.as_uri())
    page.locator(".slick-row").nth(2).wait_for(timeout=30_000)
    page.wait_for_function(f"() => ({CELLS})()[0][0] === {before[0][0]!r}", timeout=30_000)  # the texts filled in
    assert _shown(page) == before
    page.evaluate(APPLY, [sent, buffers])
    page.locator(".slick-row").nth(3).wait_for(timeout=30_000)
    after = _expected(t)
    assert _shown(page) == after and len(after) == 4
    assert [r[3] for r in after] == ["7", "70", "700", "7,000"]  # each row's own numbers with its own texts
    drawn = page.locator(".slick-row").evaluate_all(
        "(rows) => rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))"
        ".map((r) => [...r.querySelectorAll('.slick-cell')].map((c) => c.textContent))"
    )
    assert [[r[0], r[1], r[2], r[3], r[7]] for r in drawn] == after  # the grid draws them so
    assert page.locator(".slick-row img").count() == 0
    page.locator(".slick-header-column", has_text="Account manager").click()  # sorts by a static column
    page.locator(".hm-sort-mark").first.wait_for(timeout=30_000)
    order = shown_order(t.data, [("account_manager", "asc")])
    assert _shown(page) == [after[i] for i in order]
    assert [r[1] for r in _shown(page)] == sorted((r[1] for r in after), key=str.lower)
    page.close()
    assert dialogs == []
