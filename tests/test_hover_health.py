"""Usage health in the heat map's hover (issue 7): the live dashboard and the batch snapshot show each account's
usage health from `health.health_summary`, through the chart's generic extra hover lines (`chart.hover_lines`).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from bokeh.models import HoverTool

import heatmap_lib as hm
from heatmap_lib.live.widgets import Dashboard
from heatmap_lib.reports import snapshot as report
from heatmap_lib.views.chart import (
    BROWSER_TOOLTIPS,
    HOVER_LINE,
    TOOLTIPS,
    bubble_chart,
    hover_lines,
    update_chart,
    usage_hover,
)

HOSTILE = "<img src=x onerror=alert(1)>"
USAGE = "Usage (28 days)"


def expected_usage(row: pd.Series) -> tuple[str, str]:
    """The two hover texts of one health_summary row, spelled out independently of chart.usage_hover."""
    au, prev = int(row["active_users"]), int(row["active_users_prev"])
    seats = None if pd.isna(row["seats"]) or row["seats"] == 0 else int(row["seats"])
    if seats:
        text = f"{au:,} of {seats:,} seats active ({math.floor(au * 100 / seats + 0.5)}%)"
    else:
        text = f"{au:,} active user" + ("" if au == 1 else "s")
    if prev:
        change = math.floor((au - prev) * 100 / prev + 0.5)
        text += ", " + (f"up {change}%" if change > 0 else f"down {-change}%" if change < 0 else "no change")
        text += " on the previous 28 days"
    days = row["days_since_last_event"]
    if pd.isna(days):
        last = "never"
    else:
        last = {0: "today", 1: "yesterday"}.get(int(days), f"{int(days):,} days ago")
        last += " (inactive)" if row["inactive"] else ""
    return text, last


# The live dashboard's tooltips: its band, NPS and rate lines are formatted in the browser (chart.BROWSER_HOVER_JS),
# its static texts read from the chart's per-account source (`@acc{column}`)
LIVE = {**BROWSER_TOOLTIPS, "@account_name": "@acc{account_name}", "@account_manager": "@acc{account_manager}"}
LIVE_TOOLTIPS = [(name, LIVE.get(spec, spec)) for name, spec in TOOLTIPS]


def _tooltips(chart) -> list[tuple[str, str]]:
    (hover,) = chart.figure.select({"type": HoverTool})
    return [tuple(t) for t in hover.tooltips]


def _hover_texts(chart) -> dict[str, tuple[str, str]]:
    ids, usage, last = (chart.texts(c) for c in ("account_id", f"{HOVER_LINE}0", f"{HOVER_LINE}1"))
    return {a: (u, t) for a, u, t in zip(ids, usage, last, strict=True)}


def test_dashboard_hover_shows_each_accounts_usage_health(demo: hm.Dataset) -> None:
    health = hm.health_summary(demo).set_index("account_id")
    dash = Dashboard(demo)
    tips = _tooltips(dash.chart)
    assert tips[: len(TOOLTIPS)] == LIVE_TOOLTIPS
    assert tips[-2:] == [(USAGE, f"@acc{{{HOVER_LINE}0}}"), ("Last active", f"@acc{{{HOVER_LINE}1}}")]
    assert not any("{safe}" in value for _, value in tips)
    shown = _hover_texts(dash.chart)
    assert len(shown) == len(dash.summary) > 50
    for account, texts in shown.items():
        assert texts == expected_usage(health.loc[account]), account
    # the figures themselves, for a few accounts
    for account in list(shown)[:5]:
        row = health.loc[account]
        assert shown[account][0].startswith(f"{int(row['active_users']):,} ")
    kinds = {t[1].split(" ")[0] for t in shown.values()}
    assert len(kinds) > 2  # today, yesterday, n days ago ... the demo has a spread


def test_usage_lines_follow_the_accounts_on_a_filter_change_and_are_computed_once(demo, monkeypatch) -> None:
    from heatmap_lib.metrics import health

    dash = Dashboard(demo)
    calls: list[object] = []
    monkeypatch.setattr(health, "health_summary", lambda *a, **k: calls.append(a) or pd.DataFrame())
    expected = {a: t for a, t in _hover_texts(dash.chart).items()}
    dash.panel.account_widgets["region"].value = ("West",)
    dash.panel.wave.value = ("2026-Q3",)
    shown = _hover_texts(dash.chart)
    assert 0 < len(shown) < len(expected)
    assert all(shown[a] == expected[a] for a in shown)
    assert calls == []  # once per dashboard, not per filter change
    assert _tooltips(dash.chart)[-3][0] == "NPS change"  # the comparison line stays before the extra lines


def test_no_usage_events_no_usage_line(builder, tmp_path) -> None:
    builder.account("A1", 100)
    builder.scores("A1", "day_to_day", [9, 3])
    ds = builder.load(tmp_path / "data")
    assert not ds.has("usage_events")
    dash = Dashboard(ds)
    assert dash.extra_hover is None
    assert _tooltips(dash.chart)[: len(TOOLTIPS)] == LIVE_TOOLTIPS and len(_tooltips(dash.chart)) == len(TOOLTIPS) + 1
    assert not [c for c in dash.chart.source.data if c.startswith(HOVER_LINE)]
    snap = report.snapshot(ds)
    page = snap.html()
    assert "hover_au" not in page and "Last active" not in page and HOVER_LINE not in page


def test_hover_lines_merge_parts_fill_gaps_and_keep_text_as_text(demo: hm.Dataset) -> None:
    summary = hm.account_summary(demo)
    ids = list(summary["account_id"])
    usage = usage_hover(hm.health_summary(demo))
    plays = {"Open plays": pd.Series({ids[0]: HOSTILE, ids[1]: "2 & counting"}), USAGE: pd.Series({ids[0]: "x"})}
    lines = hover_lines(usage, plays)
    assert list(lines.columns) == [USAGE, "Last active", "Open plays"]  # a label given twice keeps the first
    assert lines.loc[ids[0], "Open plays"] == HOSTILE and lines.loc[ids[2], "Open plays"] == ""
    assert lines.loc[ids[0], USAGE] == usage.loc[ids[0], USAGE]
    chart = bubble_chart(summary, extra_hover=lines)
    data = chart.source.data
    row = data["account_id"].index(ids[0])
    assert data[f"{HOVER_LINE}2"][row] == HOSTILE  # plain text in the source: Bokeh escapes it when shown
    assert _tooltips(chart)[-1] == ("Open plays", f"@{HOVER_LINE}2")
    assert hover_lines(None) is None and hover_lines({}) is None
    # update_chart keeps the lines for the new accounts, or takes new ones
    update_chart(chart, summary.iloc[:3])
    assert sorted(chart.source.data["account_id"]) == sorted(ids[:3])
    assert chart.source.data[f"{HOVER_LINE}2"][chart.source.data["account_id"].index(ids[1])] == "2 & counting"
    update_chart(chart, summary.iloc[:3], extra_hover={"Open plays": pd.Series({ids[2]: "one"})})
    assert _tooltips(chart)[-1] == ("Open plays", f"@{HOVER_LINE}0") and f"{HOVER_LINE}1" not in chart.source.data


def test_snapshot_carries_the_usage_figures_compactly(demo: hm.Dataset) -> None:
    health = hm.health_summary(demo, {"region": ["West"]}).set_index("account_id")
    # (the page keeps only the columns its views read: the X-Ray links name each bubble's account)
    snap = report.snapshot(demo, segment_by="region", segment="West", wave="2026-Q3", xray_href="x/{account_id}.h")
    (fig,) = [m for m in snap.layout.children if (m.name or "").startswith("hm-figure-")]
    (hover,) = fig.select({"type": HoverTool})
    tips = [tuple(t) for t in hover.tooltips]
    assert (USAGE, "@hover_au{custom}") in tips and ("Last active", "@hover_days{custom}") in tips
    src = hover.renderers[0].data_source
    ids = [href.removeprefix("x/").removesuffix(".h") for href in src.data["xray_href"]]
    assert set(ids) <= set(health.index) and len(ids) == snap.headline.surveyed
    assert not [c for c in src.data if c.startswith(HOVER_LINE)]  # the texts were replaced by numbers
    for name, column in (("au", "active_users"), ("au_prev", "active_users_prev"), ("days", "days_since_last_event")):
        values = np.asarray(src.data[f"hover_{name}"])
        assert values.dtype.itemsize <= 4
        want = health.loc[ids, column].fillna(-1).to_numpy(dtype=np.int64)
        np.testing.assert_array_equal(values, want, err_msg=name)
    np.testing.assert_array_equal(np.asarray(src.data["hover_seats"]), health.loc[ids, "seats"].to_numpy(dtype=int))
    page = snap.html()
    assert USAGE in page and "seats active" in page and "on the previous 28 days" in page
    assert "(inactive)" in page and re.search("days (>|&gt;)= 30 ", page)  # the health table's inactive_days


@pytest.mark.parametrize("usage", [True, False])
def test_dashboard_usage_hover_can_be_turned_off(demo: hm.Dataset, usage: bool) -> None:
    dash = Dashboard(demo, usage_hover=usage, extra_hover={"Note": pd.Series({"nobody": "x"})})
    labels = [label for label, _ in _tooltips(dash.chart)]
    assert (USAGE in labels) is usage and labels[-1] == "Note"
