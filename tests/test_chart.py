"""The bubble chart builder: one bubble per surveyed account, fixed colours and legend order, sizes, guides, hover."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from bokeh.models import HoverTool, TapTool

import heatmap_lib as hm
from heatmap_lib.metrics.summary import small_sample_note
from heatmap_lib.views.chart import (
    BAND_COLORS,
    EMPTY_TEXT,
    FILTER_COLUMNS,
    MAX_SIZE,
    MIN_SIZE,
    SMALLEST_DIAMETER,
    SMALLEST_SCALE,
    SOURCE_COLUMNS,
    bubble_chart,
    bubble_size,
    bubble_source_data,
    crowding,
    drawn_size,
    update_chart,
    xray_file_name,
    xray_link,
)

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def summary(builder, tmp_path) -> pd.DataFrame:
    """Five accounts whose data order (by name) puts the bands as green, red, yellow, gray, green."""
    b = builder
    b.account("A1", 5000, name="Zulu Corp", account_manager="Zoe")
    b.scores("A1", "decision_maker", [10, 10, 9, 8], comment="great", drivers="support")
    b.account("A2", 100, name="alpha red", account_manager="Al")
    b.scores("A2", "influencer", [0, 1, 2, 10])
    b.account("A3", 2000, name="Mid yellow", account_manager="Mo", region="East", tier="Silver")
    b.scores("A3", "day_to_day", [10, 0, 8, 7])
    b.account("A4", 0, name="Silent Co", account_manager="Si")
    b.scores("A4", "day_to_day", [None, None])
    b.account("A5", 9000, name=HOSTILE, account_manager=f"M {HOSTILE}")
    b.scores("A5", "day_to_day", [9, 9, None])
    b.account("A6", 700, name="Never asked")  # not surveyed: no bubble
    return hm.account_summary(b.load(tmp_path / "data"))


def legend_labels(chart) -> list[str]:
    return [item.label.value for item in chart.legend.items]


def test_one_bubble_per_surveyed_account(summary):
    chart = bubble_chart(summary)
    data = chart.source.data
    assert len(summary) == 5
    assert sorted(data["account_id"]) == sorted(summary["account_id"])
    assert all(len(v) == len(summary) for v in data.values())
    (bubbles,) = chart.renderers  # one renderer draws them all, coloured by band
    assert bubbles.glyph.fill_color.field == "band"
    assert sorted(data["band"]) == sorted(summary["band"])


def test_rows_are_in_drawing_order_silent_and_red_on_top_small_over_large(summary):
    data = bubble_chart(summary).source.data
    rank = [list(hm.BANDS).index(b) for b in data["band"]]
    assert rank == sorted(rank)  # green, yellow, red, gray: later rows are drawn on top
    for band in hm.BANDS:
        sizes = [s for s, b in zip(data["size"], data["band"], strict=True) if b == band]
        assert sizes == sorted(sizes, reverse=True)  # within a band the smaller bubble lies on top


def test_hover_shows_one_account_the_one_on_top(summary):
    hover = next(t for t in bubble_chart(summary).figure.tools if isinstance(t, HoverTool))
    assert hover.limit == 1 and list(hover.sort_by) == [("$index", "descending")]


def test_source_holds_only_view_columns_and_no_personal_data(summary):
    frame = summary.assign(email="x@y.io", comment="secret words", name="Person")
    data = bubble_source_data(frame)
    assert set(data) <= set(SOURCE_COLUMNS) | set(FILTER_COLUMNS)
    assert set(SOURCE_COLUMNS) <= set(data)
    assert {"tier", "region"} <= set(data)
    text = repr(data)
    assert "x@y.io" not in text and "secret words" not in text and "great" not in text


def test_the_live_chart_source_sends_no_snapshot_filter_columns_and_compact_counts(summary):
    live = bubble_source_data(summary, texts=False)  # the live chart: filtered in the kernel, texts made in the page
    assert not {"tier", "region"} & set(live) and {"tier", "region"} <= set(bubble_source_data(summary))
    assert live["contacts_invited"].dtype == np.int32 and live["responses"].dtype == np.int32
    assert live["contacts_invited"].tolist() == bubble_source_data(summary)["contacts_invited"].tolist()


def test_colours_and_legend_order_are_fixed(summary):
    chart = bubble_chart(summary)
    colour = chart.renderers[0].glyph.fill_color.transform
    assert dict(zip(colour.factors, colour.palette, strict=True)) == BAND_COLORS
    labels = legend_labels(chart)
    assert [lab.split(" ")[0] for lab in labels] == ["Positive", "Neutral", "Negative", "Silent"]
    assert labels[0] == "Positive (NPS > 10)"
    assert labels[2] == "Negative (NPS < \u221210)"
    # the data order differs (by name: green, red, yellow, gray, green) and does not matter
    reversed_chart = bubble_chart(summary.iloc[::-1].reset_index(drop=True))
    assert legend_labels(reversed_chart) == labels


def test_legend_lists_all_bands_even_when_one_is_absent(summary):
    no_yellow = summary[summary["band"] != "yellow"].reset_index(drop=True)
    chart = bubble_chart(no_yellow)
    assert len(chart.legend.items) == 4
    assert [lab.split(" ")[0] for lab in legend_labels(chart)] == ["Positive", "Neutral", "Negative", "Silent"]
    # each entry's swatch comes from a key renderer with one (undrawn) point, so an absent band still gets its dot
    band_filter = chart.renderers[0].view.filter
    for band, item in zip(hm.BANDS, chart.legend.items, strict=True):
        (key,) = item.renderers
        assert key.glyph.fill_color == BAND_COLORS[band]
        assert len(key.data_source.data["x"]) == 1 and np.isnan(key.data_source.data["x"][0])
        (link,) = key.js_property_callbacks["change:visible"]
        assert link.args["filter"] is band_filter  # hiding the legend entry refilters the bubbles
        assert band_filter.args["keys"][band_filter.args["bands"].index(band)] is key  # ... without that band
        assert key not in chart.figure.x_range.renderers


def test_legend_names_the_summary_thresholds(summary):
    summary.attrs["thresholds"] = {"red_below": -20.0, "green_above": 30.0}
    labels = legend_labels(bubble_chart(summary))
    assert labels[0] == "Positive (NPS > 30)"
    assert labels[1] == "Neutral (\u221220 to 30)"


def test_bubble_area_grows_with_response_rate_and_silence_stays_visible():
    rates = np.array([0.0, 0.01, 0.1, 0.25, 0.5, 0.99, 1.0])
    size = bubble_size(rates)
    assert np.all(np.diff(size) > 0)
    assert size[0] == pytest.approx(MIN_SIZE) and MIN_SIZE >= 8
    assert size[-1] == pytest.approx(MAX_SIZE)
    area = size**2
    # area is affine in the rate: equal steps in rate give equal steps in area
    assert np.diff(area[[0, 4, 6]]) == pytest.approx([area[4] - area[0]] * 2)


def test_sizes_in_the_chart_follow_response_rate(summary):
    data = bubble_chart(summary).source.data
    rate, size = np.asarray(data["response_rate"]), np.asarray(data["size"])
    order = np.argsort(rate, kind="stable")
    assert np.all(np.diff(size[order]) >= 0)
    silent = np.asarray(data["band"]) == "gray"
    assert silent.any() and np.all(size[silent] >= MIN_SIZE) and np.all(size[silent] > 0)
    assert np.all(size[~silent] > MIN_SIZE)
    # within a band, small bubbles are drawn last (on top): test_rows_are_in_drawing_order_...


def test_quadrant_guides_sit_at_the_medians(summary):
    chart = bubble_chart(summary)
    assert chart.value_guide.location == pytest.approx(summary["value"].median())
    assert chart.footprint_guide.location == pytest.approx(summary["contacts_invited"].median())
    assert chart.value_guide.dimension == "height" and chart.footprint_guide.dimension == "width"
    assert chart.risk_label.text == "Revenue at risk" and chart.risk_label.text_align == "right"
    assert chart.expansion_label.text == "Expansion" and chart.expansion_label.text_align == "left"
    assert chart.risk_label.visible and not chart.empty_label.visible
    given = hm.Guides(value=1234.0, footprint=3.0, response_rate=0.5)
    assert bubble_chart(summary, guides=given).guides == (1234.0, 3.0)


def test_a_one_answer_account_hover_carries_the_small_sample_note(builder, tmp_path):
    builder.scores(builder.account("P1", name="One promoter"), "decision_maker", [10])
    chart = bubble_chart(hm.account_summary(builder.load(tmp_path / "d")))
    text = chart.source.data["nps_text"][chart.index_of("P1")]
    assert (
        text
        == "100 (\u221248 to 98), small sample: 1 answer, so the range is wide and pulled towards 0 (it may "
        + ("not contain the score)")
    )


def test_hover_shows_the_account_and_escapes_customer_text(summary):
    chart = bubble_chart(summary)
    hover = next(t for t in chart.figure.tools if isinstance(t, HoverTool))
    names = [name for name, _ in hover.tooltips]
    assert names == ["Account", "Account manager", "Value", "Contacts invited", "Response rate", "NPS", "Band"]
    fields = [re.fullmatch(r"@(\w+)", spec).group(1) for _, spec in hover.tooltips]  # plain fields: escaped
    assert all(f in chart.source.data for f in fields)
    assert all("{safe}" not in spec for _, spec in hover.tooltips)
    assert set(hover.renderers) == set(chart.renderers)

    row = chart.index_of("A3")
    data = chart.source.data
    assert data["nps_text"][row] == "0 (\u221252 to 52), " + small_sample_note(4)
    assert small_sample_note(4).startswith("small sample: 4 answers, so the range is wide and pulled towards 0")
    assert data["rate_text"][row] == "100% (4 of 4)"
    assert data["value_text"][row] == "2,000"
    assert data["band_label"][row].startswith("Neutral")
    assert data["nps_text"][chart.index_of("A4")] == "no response"
    assert data["account_name"][chart.index_of("A5")] == HOSTILE  # raw here; Bokeh escapes @fields on display


def test_tap_selects_and_maps_back_to_accounts(summary):
    chart = bubble_chart(summary)
    tap = next(t for t in chart.figure.tools if isinstance(t, TapTool))
    assert tap.behavior == "select" and set(tap.renderers) == set(chart.renderers)
    assert chart.account_index() == {a: i for i, a in enumerate(chart.source.data["account_id"])}
    chart.select(["A2", "A5", "nope"])
    assert sorted(chart.selected_account_ids()) == ["A2", "A5"]
    assert chart.index_of("nope") is None
    fig, source = chart
    assert fig is chart.figure and source is chart.source


def test_tap_can_open_the_xray(summary):
    chart = bubble_chart(summary, xray_href="xray/{account_id}.html")
    assert chart.source.data["xray_href"][chart.index_of("A1")] == "xray/A1.html"
    tap = next(t for t in chart.figure.tools if isinstance(t, TapTool))
    assert "xray_href" in tap.callback.code
    assert xray_file_name("x/{account_id}.html", "A/1?<b>") == "x/A%2F1%3F%3Cb%3E.html"
    # the href encodes the file name, so that a browser's percent-decoding finds that file
    assert xray_link("x/{account_id}.html", "A/1?<b>") == "x/A%252F1%253F%253Cb%253E.html"
    assert xray_link("x/{account_id}.html", "A000123") == "x/A000123.html"


def test_update_chart_changes_data_in_place(summary):
    chart = bubble_chart(summary, xray_href="xray/{account_id}.html")
    fig, source, guide = chart.figure, chart.source, chart.value_guide
    n_models = len(fig.renderers), len(fig.center), len(fig.tools)
    chart.select(["A1"])
    smaller = summary[summary["account_id"].isin(["A1", "A2", "A3"])].reset_index(drop=True)
    result = update_chart(chart, smaller)
    assert result is chart and chart.figure is fig and chart.source is source and chart.value_guide is guide
    assert sorted(source.data["account_id"]) == ["A1", "A2", "A3"]
    assert source.data["xray_href"][chart.index_of("A2")] == "xray/A2.html"
    assert source.selected.indices == []
    assert guide.location == pytest.approx(smaller["value"].median())
    assert chart.footprint_guide.location == pytest.approx(smaller["contacts_invited"].median())
    assert (len(fig.renderers), len(fig.center), len(fig.tools)) == n_models  # nothing was added to the figure

    update_chart(chart, summary.iloc[0:0])
    assert chart.empty_label.visible and not chart.risk_label.visible
    assert chart.guides == (None, None)
    update_chart(chart, summary)
    assert not chart.empty_label.visible and chart.value_guide.location is not None


def test_empty_summary_gives_an_empty_chart(summary):
    chart = bubble_chart(summary.iloc[0:0])
    assert chart.empty_label.text == EMPTY_TEXT and chart.empty_label.visible
    assert chart.source.data["account_id"] == []
    assert chart.guides == (None, None)
    assert len(chart.legend.items) == 4
    # Bokeh cannot set ranges without data: an invisible unit box stands in while the chart is empty
    assert list(chart.empty_frame.data_source.data["y"]) == [0.0, 1.0] and not chart.empty_frame.visible
    update_chart(chart, summary)
    assert np.isnan(chart.empty_frame.data_source.data["x"][0])


def test_log_axis_draws_zero_values_at_a_floor_and_says_so(summary):
    chart = bubble_chart(summary, log_x=True)
    assert chart.figure.x_scale.__class__.__name__ == "LogScale"
    data = chart.source.data
    row = chart.index_of("A4")  # value 0
    assert data["value"][row] == 0
    assert data["x"][row] == pytest.approx(50.0)  # half the smallest positive value (100)
    assert "log axis" in data["value_text"][row]
    assert np.all(np.asarray(data["x"]) > 0)
    assert chart.value_guide.location > 0


def test_builds_on_the_demo_data(demo):
    summary = hm.account_summary(demo)
    chart = bubble_chart(summary)
    assert len(chart.source.data["account_id"]) == len(summary) > 50
    assert set(chart.source.data["band"]) <= set(hm.BANDS)


# --------------------------------------------------------------------------------------------------------------
# readable at every size: crowding, the size key, the currency


def test_bubbles_shrink_and_calm_bands_fade_past_a_crowd_but_risk_stays_strong():
    few, crowd, huge = crowding(300), crowding(10_000), crowding(100_000)
    assert (few.scale, few.calm_alpha, few.risk_alpha, few.line_width) == (1.0, 0.75, 0.75, 1.0)  # as before
    assert few.scale > crowd.scale >= huge.scale >= SMALLEST_SCALE
    assert few.calm_alpha > crowd.calm_alpha >= huge.calm_alpha > 0
    assert crowd.risk_alpha > crowd.calm_alpha and huge.risk_alpha > huge.calm_alpha  # red and gray stand out
    assert crowd.line_width == 0  # no white rims washing a crowd out
    assert np.all(drawn_size(bubble_size(np.array([0.0, 1.0])), huge.scale) >= SMALLEST_DIAMETER)


def test_the_chart_follows_the_number_of_accounts_drawn(summary):
    chart = bubble_chart(summary)
    assert chart.size_transform.args["scale"] == 1.0 and chart.alpha_transform.args["calm"] == 0.75
    # the size key's circles are the sizes of 10%, 50% and 100% response
    assert list(chart.size_key_source.data["label"]) == ["10%", "50%", "100%"]
    assert np.allclose(chart.size_key_source.data["size"], bubble_size([0.1, 0.5, 1.0]))
    many = pd.concat([summary.assign(account_id=summary["account_id"] + f"-{k}") for k in range(200)])
    many.attrs = dict(summary.attrs)
    update_chart(chart, many)  # 1,000 bubbles: a crowd
    c = crowding(len(many))
    assert chart.size_transform.args["scale"] == c.scale < 1
    assert (chart.alpha_transform.args["calm"], chart.alpha_transform.args["risk"]) == (c.calm_alpha, c.risk_alpha)
    assert np.allclose(chart.size_key_source.data["size"], drawn_size(bubble_size([0.1, 0.5, 1.0]), c.scale))
    update_chart(chart, summary)
    assert chart.size_transform.args["scale"] == 1.0


def test_the_value_axis_and_hover_name_the_currency(summary):
    plain = bubble_chart(summary)
    assert plain.figure.xaxis[0].axis_label == "Account value"
    assert ("Value", "@value_text") in plain.hover.tooltips
    chart = bubble_chart(summary, currency="EUR", log_x=True, extra_hover={"Note": pd.Series({"A1": "x"})})
    assert chart.figure.xaxis[0].axis_label == "Account value (EUR) (log scale)"
    assert ("Value (EUR)", "@value_text") in chart.hover.tooltips
    update_chart(chart, summary, extra_hover={"Other": pd.Series({"A1": "y"})})  # the hover is rebuilt, still EUR
    assert ("Value (EUR)", "@value_text") in chart.hover.tooltips
