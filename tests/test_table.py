"""The account table and the not-surveyed list: columns, formats, default sort, safe links, in-place updates."""

from __future__ import annotations

import html
import json

import pandas as pd
import pytest
from bokeh.models import HTMLTemplateFormatter, NumberFormatter, StringFormatter
from conftest import Builder

import heatmap_lib as hm
from heatmap_lib.metrics.summary import BAND_LABELS
from heatmap_lib.views.chart import BAND_COLORS
from heatmap_lib.views.table import (
    NAME_TEMPLATE,
    account_table,
    not_surveyed_table,
    update_not_surveyed,
    update_table,
)

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> hm.Dataset:
    b = Builder()
    b.account("A1", 5000, name="zulu corp", account_manager="Zoe")
    b.scores("A1", "decision_maker", [10, 10, 9, 8])
    b.scores("A1", "day_to_day", [3])
    b.account("A2", 100, name="Alpha red", account_manager="Al")
    b.scores("A2", "influencer", [0, 1, 2, 10])
    b.account("A3", 2000, name="beta yellow", account_manager=HOSTILE)
    b.scores("A3", "day_to_day", [10, 0, 8, 7])
    b.account('A/4 "q" <b>', 0, name="Silent & Co", account_manager="Si")
    b.scores('A/4 "q" <b>', "day_to_day", [None, None])
    b.account("A5", 9000, name=HOSTILE, account_manager="Mx")
    b.scores("A5", "day_to_day", [9, 9, None])
    b.account("A6", 700, name="Never asked", account_manager="Nia")
    b.account("A7", 7000, name="Big blind spot", account_manager="Bo")
    return b.load(tmp_path_factory.mktemp("table") / "data")


@pytest.fixture(scope="module")
def summary(dataset) -> pd.DataFrame:
    return hm.account_summary(dataset, by_role=True)


def test_columns_formats_and_sorting(summary):
    t = account_table(summary)
    titles = [c.title for c in t.table.columns]
    assert titles == [
        "Account",
        "Account manager",
        "Value",
        "Contacts invited",
        "Response rate",
        "NPS",
        "NPS 95% range",
        "Band",
    ]
    fmt = {c.title: c.formatter for c in t.table.columns}
    assert isinstance(fmt["Account manager"], StringFormatter)  # sets text, never HTML
    assert isinstance(fmt["Value"], NumberFormatter) and fmt["Value"].format == "0,0"
    assert fmt["Response rate"].format == "0.0%"
    assert fmt["NPS"].format == "0.0" and fmt["NPS"].nan_format == "\u2014"
    # Bokeh's own sort is off: seed 000's cycle runs in the page (live_table_sort.js) and reports to `t.sort`
    assert t.table.sortable is False and not any(c.sortable for c in t.table.columns)
    assert t.sort is not None and t.sort.state == [] and t.sort_state == []
    assert t.table.index_position is None
    names = t.source.data["account_name"]
    assert names == sorted(names, key=str.casefold)
    assert names[:3] == [HOSTILE, "Alpha red", "beta yellow"]
    assert len(names) == len(summary)


def test_the_range_column_carries_the_small_sample_note(dataset, summary, tmp_path):
    from heatmap_lib.metrics.summary import small_sample_note
    from heatmap_lib.views.table import SILENT, range_template

    data = account_table(summary).source.data
    ranges = {
        a: (lo, hi, n)
        for a, lo, hi, n in zip(
            data["account_id"], data["nps_range_low"], data["nps_range_high"], data["nps_small"], strict=True
        )
    }
    assert ranges["A3"] == (-52, 52, 4)  # 4 answers: flagged, the note's count
    assert ranges['A/4 "q" <b>'] == (SILENT, SILENT, 0)  # silent: no interval, an empty cell
    assert ranges["A1"][2] == 5  # 5 answers: under 10, small too
    relaxed = account_table(hm.account_summary(dataset, small_sample=5)).source.data  # the table's own threshold
    assert dict(zip(relaxed["account_id"], relaxed["nps_small"], strict=True))["A1"] == 0
    one = Builder()
    one.scores(one.account("P1"), "influencer", [10])
    single = account_table(hm.account_summary(one.load(tmp_path / "d"))).source.data
    assert (single["nps_range_low"][0], single["nps_range_high"][0], single["nps_small"][0]) == (-48, 98, 1)
    template = range_template()  # the words come from metrics (the browser test renders them)
    assert small_sample_note(1, short=True) in template and 'small sample: " + n + " answers' in template
    col = next(c for c in account_table(summary).table.columns if c.title == "NPS 95% range")
    assert isinstance(col.formatter, HTMLTemplateFormatter) and col.formatter.template == template
    assert "<%=" not in template  # every value the cell shows is escaped


def test_band_column_sorts_in_the_fixed_order_and_shows_only_fixed_values(summary):
    t = account_table(summary)
    col = next(c for c in t.table.columns if c.title == "Band")
    assert col.field == "band_rank"
    data = t.source.data
    rows = zip(data["band"], data["band_rank"], data["band_color"], data["band_label"], strict=True)
    for band, rank, color, label in rows:
        assert rank == hm.BANDS.index(band)
        assert color.startswith("#") and label in BAND_LABELS.values()
    template = col.formatter.template
    assert "<%=" not in template  # the band cell escapes what it interpolates
    assert "<%- k[0] %>" in template and "<%- k[1] %>" in template  # the colour and the label, escaped
    for band in hm.BANDS:  # the page makes them from band_rank (live: the only band column sent)
        assert json.dumps([BAND_COLORS[band], BAND_LABELS[band]]) in template


def test_hostile_names_are_escaped_and_ids_quoted_in_links(summary):
    t = account_table(summary, xray_href="xray/{account_id}.html")
    data = t.source.data
    account_col = t.table.columns[0]
    assert isinstance(account_col.formatter, HTMLTemplateFormatter)
    assert account_col.formatter.template == NAME_TEMPLATE == "<%= name_html %>"
    for cell in data["name_html"]:
        assert "<img" not in cell and "<b>" not in cell
    hostile = data["name_html"][data["account_name"].index(HOSTILE)]
    assert hostile == f'<a href="xray/A5.html">{html.escape(HOSTILE)}</a>'
    silent = data["name_html"][data["account_name"].index("Silent & Co")]
    # the href quotes the page's file name (A%2F4...html), which a browser decodes before opening it
    assert silent == '<a href="xray/A%252F4%2520%2522q%2522%2520%253Cb%253E.html">Silent &amp; Co</a>'
    # without a link pattern the name is still escaped, not linked
    plain = account_table(summary).source.data["name_html"]
    assert html.escape(HOSTILE) in plain and not any("<a " in c for c in plain)
    # the manager column stays raw text: StringFormatter renders it as text
    assert HOSTILE in data["account_manager"]


def test_no_personal_data_in_the_source(summary):
    frame = summary.assign(email="x@y.io", comment="secret words")
    data = account_table(frame).source.data
    assert "email" not in data and "comment" not in data
    assert "x@y.io" not in repr(data) and "secret words" not in repr(data)


def test_role_columns_on_demand(summary):
    t = account_table(summary, role_columns=True)
    titles = [c.title for c in t.table.columns]
    assert titles[-3:] == ["NPS decision makers", "NPS influencers", "NPS day-to-day"]
    row = t.source.data["account_id"].index("A1")
    assert t.source.data["nps_decision_maker"][row] == pytest.approx(75.0)
    assert t.source.data["nps_day_to_day"][row] == pytest.approx(-100.0)
    plain = summary.drop(columns=["nps_decision_maker"])
    filled = account_table(plain, role_columns=True).source.data["nps_decision_maker"]
    assert pd.isna(filled).all()


def test_update_table_in_place(summary):
    t = account_table(summary, xray_href="xray/{account_id}.html", role_columns=True)
    table, source = t
    source.selected.indices = [0]
    update_table(t, summary[summary["account_id"].isin(["A1", "A2"])])
    assert t.table is table and t.source is source and table.source is source
    assert source.data["account_name"] == ["Alpha red", "zulu corp"]
    assert source.data["name_html"][0] == '<a href="xray/A2.html">Alpha red</a>'
    assert "nps_influencer" in source.data
    assert source.selected.indices == []
    update_table(t, summary.iloc[0:0])
    assert source.data["account_id"] == []


def test_not_surveyed_list(dataset):
    blind = hm.not_surveyed(dataset)
    t = not_surveyed_table(blind)
    assert [c.title for c in t.table.columns] == ["Account", "Account manager", "Value"]
    assert t.source.data["account_name"] == ["Big blind spot", "Never asked"]  # most valuable first, as given
    assert list(t.source.data["value"]) == [7000, 700]
    table = t.table
    update_not_surveyed(t, blind.iloc[1:])
    assert t.table is table and t.source.data["account_name"] == ["Never asked"]
    empty = not_surveyed_table(blind.iloc[0:0])
    assert empty.source.data["account_name"] == []


def test_builds_on_the_demo_data(demo):
    summary = hm.account_summary(demo, by_role=True)
    t = account_table(summary, role_columns=True, xray_href="xray/{account_id}.html")
    assert len(t.source.data["account_id"]) == len(summary)


_SCAN = """
const texts = [];
let imgs = 0;
function walk(root) {
  imgs += root.querySelectorAll("img").length;
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) { texts.push(el.shadowRoot.textContent); walk(el.shadowRoot); }
  }
}
walk(document);
return [texts.join("\\n"), imgs, window.__alerts];
"""


@pytest.mark.browser
def test_hostile_names_render_as_text_in_a_browser(summary, tmp_path):
    from bokeh.embed import file_html
    from bokeh.io.export import wait_until_render_complete
    from bokeh.layouts import column
    from bokeh.resources import INLINE

    from heatmap_lib.views.chart import bubble_chart
    from heatmap_lib.views.static_export import webdriver

    t = account_table(summary, xray_href="xray/{account_id}.html")
    page = file_html(column(bubble_chart(summary).figure, t.table), INLINE, title="xss")
    page = page.replace(
        "<head>", "<head><script>window.__alerts = 0; window.alert = () => window.__alerts++;</script>", 1
    )
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    driver = webdriver()
    driver.get(path.as_uri())
    wait_until_render_complete(driver, 10)
    text, imgs, alerts = driver.execute_script(_SCAN)
    assert imgs == 0 and alerts == 0  # nothing from the data became an element or ran
    assert text.count(HOSTILE) >= 2  # shown as text: as an account name (linked) and as a manager name
