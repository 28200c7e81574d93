"""Partial periods (heatmap_lib.core.periods): which periods the data cover whole, and what a chart says about them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import Builder
from test_health import write_usage

import heatmap_lib as hm
from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.core.periods import describe_window, period_completeness
from heatmap_lib.metrics import health
from heatmap_lib.views.series_view import series_chart

D = dt.date


def weeks(first: dt.date, n: int) -> tuple[list[dt.date], list[dt.date]]:
    starts = [first + dt.timedelta(days=7 * i) for i in range(n)]
    return starts, [s + dt.timedelta(days=6) for s in starts]


def test_a_week_cut_mid_week_is_partial_with_its_days_counted() -> None:
    starts, ends = weeks(D(2026, 3, 16), 3)  # Mondays 03-16, 03-23, 03-30; data 03-18 (Wed) to 04-01 (Wed)
    p = period_completeness(starts, ends, data_first=D(2026, 3, 18), data_last=D(2026, 4, 1))
    assert p["days"].tolist() == [7, 7, 7]
    assert p["days_covered"].tolist() == [5, 7, 3]
    assert p["complete"].tolist() == [False, True, False]
    assert p["period_start"].tolist() == starts and p["period_end"].tolist() == ends


def test_a_period_ending_on_the_last_day_is_complete_and_settle_days_wait_for_late_data() -> None:
    starts, ends = weeks(D(2026, 3, 23), 1)
    assert period_completeness(starts, ends, data_first=None, data_last=D(2026, 3, 29))["complete"].tolist() == [True]
    late = period_completeness(starts, ends, data_first=None, data_last=D(2026, 4, 10), settle_days=21)
    assert late["complete"].tolist() == [False] and late["days_covered"].tolist() == [7]  # answers still coming


def test_bad_periods_are_refused() -> None:
    with pytest.raises(HeatmapError, match="cannot end"):
        period_completeness([D(2026, 3, 2)], [D(2026, 3, 1)], data_first=None, data_last=D(2026, 3, 9))
    with pytest.raises(HeatmapError, match="2 starts but 1 ends"):
        period_completeness([D(2026, 3, 2)] * 2, [D(2026, 3, 8)], data_first=None, data_last=D(2026, 3, 9))


def test_the_window_sentence_says_which_period_is_partial_and_what_was_done() -> None:
    starts, ends = weeks(D(2026, 3, 16), 3)
    p = period_completeness(starts, ends, data_first=D(2026, 3, 1), data_last=D(2026, 4, 1))
    assert describe_window(p, unit="week", policy="mark", data_last=D(2026, 4, 1)) == (
        "Weeks from 2026-03-16 to 2026-04-05; data to 2026-04-01. The last week (2026-03-30 to 2026-04-05) is "
        "partial: 3 of 7 days in the data (drawn dashed and hollow, not comparable with whole ones)."
    )
    assert describe_window(p, unit="week", policy="drop", data_last=D(2026, 4, 1)).endswith("(left out).")
    whole = period_completeness(starts[:2], ends[:2], data_first=None, data_last=D(2026, 4, 1))
    assert describe_window(whole, unit="week", policy="mark", data_last=D(2026, 4, 1)).endswith(
        "Every week is complete."
    )


# --------------------------------------------------------------------------------------------------------------
# weekly active users: a dataset ending mid-week draws no false drop


def steady(folder: Path) -> hm.Dataset:
    """14 users, each active one fixed weekday every week, from Monday 2026-03-02 to Wednesday 2026-04-01."""
    b = Builder()
    b.account("A1", value=500, name="Alpha", tier="Gold")
    b.write(folder)
    day, events = D(2026, 3, 2), []
    while day <= D(2026, 4, 1):
        for user in range(14):
            if user % 7 == day.weekday():
                events.append(("A1", f"u{user}", "login", f"{day} 10:00:00", None))
        day += dt.timedelta(days=1)
    write_usage(folder, events)
    return hm.load(folder)


def test_a_dataset_ending_mid_week_marks_its_last_week_partial(tmp_path: Path) -> None:
    ds = steady(tmp_path / "d")
    wau = health.weekly_active_users(ds, by="tier", weeks=5)  # as_of: the last event, Wednesday 04-01
    assert wau["active_users"].tolist() == [14, 14, 14, 14, 6]  # the raw count of the 3-day week looks like a cliff
    assert wau["complete"].tolist() == [True, True, True, True, False]
    assert wau["days_covered"].tolist() == [7, 7, 7, 7, 3]
    assert "The last week (2026-03-30 to 2026-04-05) is partial: 3 of 7 days in the data" in wau.attrs["window_note"]
    assert [p["complete"] for p in wau.attrs["periods"]] == [True, True, True, True, False]

    fig = series_chart(wau, x="week", y="active_users", group="group", title="WAU", note=wau.attrs["window_note"])
    solid = fig.select_one({"name": "solid-Gold"}).data_source.data
    assert solid["y"] == [14, 14, 14, 14]  # the solid line has no drop
    dashed = fig.select_one({"name": "partial-Gold"}).data_source.data
    assert dashed["ys"] == [[14, 6]] and fig.select_one({"name": "partial-Gold"}).glyph.line_dash == "dashed"
    assert any(getattr(t, "text", "") == wau.attrs["window_note"] for t in fig.above)  # the window, on the chart

    dropped = health.weekly_active_users(ds, by="tier", weeks=5, partial="drop")
    assert dropped["active_users"].tolist() == [14, 14, 14, 14] and dropped["complete"].all()
    assert dropped.attrs["window_note"].endswith("(left out).")
    with pytest.raises(HeatmapError, match="'hide' is not one of mark, drop"):
        health.weekly_active_users(ds, partial="hide")


def test_a_week_before_the_first_event_is_partial_too(tmp_path: Path) -> None:
    ds = steady(tmp_path / "d")
    wau = health.weekly_active_users(ds, by=None, weeks=6, as_of=D(2026, 3, 29))  # a Sunday: the last week is whole
    assert wau["week"].dt.date.tolist()[0] == D(2026, 2, 16)
    assert wau["complete"].tolist() == [False, False, True, True, True, True]  # weeks of 02-16 and 02-23: no data
    assert wau["days_covered"].tolist()[:2] == [0, 0]
