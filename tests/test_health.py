"""Account health from usage events: every metric checked by hand on small, hand-built event logs."""

from __future__ import annotations

import datetime as dt
import math
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from conftest import Builder, write_csv

import heatmap_lib as hm
from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics import health
from heatmap_lib.metrics.health import UnknownEventWarning
from heatmap_lib.views import export as export_module

USAGE_FIELDS = ["account_id", "user_id", "event", "occurred_at", "feature"]
AS_OF = dt.date(2026, 3, 31)  # a Tuesday: the 7-day window is 03-25..03-31, the previous one 03-18..03-24
STEPS = ["ob_a", "ob_b"]


def write_usage(folder: Path, events: list[tuple[str | None, str, str, str, str | None]]) -> None:
    """usage_events.csv from (account_id or None, user_id, event, occurred_at, feature or None) tuples."""
    rows = [dict(zip(USAGE_FIELDS, e, strict=True)) for e in events]
    write_csv(folder / "usage_events.csv", USAGE_FIELDS, rows)


# The hand-built log. Per account, what the 7-day window ending 2026-03-31 should show:
# A1 (10 seats): u1 and u2 active (3 events), u1 and u3 active before (2 events), u4 only after as_of, u5 old.
# A2 (no seats): one event on 03-10.  A3 (0 seats): no event at all.  A4: young, first event 03-28, onboarding.
# A5: three users in the previous window, one in this one (falling).  No account: u99, twice in the window.
EVENTS: list[tuple[str | None, str, str, str, str | None]] = [
    ("A1", "u1", "login", "2026-03-31 23:59:00", None),
    ("A1", "u1", "create_report", "2026-03-30 10:00:00", "reports"),
    ("A1", "u2", "view_dashboard", "2026-03-25 00:00:00", "dashboards"),
    ("A1", "u3", "login", "2026-03-24 23:59:00", None),
    ("A1", "u1", "login", "2026-03-20 09:00:00", None),
    ("A1", "u4", "login", "2026-04-01 00:00:00", None),
    ("A1", "u4", "invite_user", "2026-04-02 08:00:00", "admin"),
    ("A1", "u5", "export_data", "2026-03-01 12:00:00", "reports"),
    ("A2", "u6", "login", "2026-03-10 08:00:00", None),
    ("A4", "u7", "ob_a", "2026-03-28 09:00:00", None),
    ("A4", "u7", "ob_b", "2026-03-29 09:00:00", None),
    ("A4", "u8", "ob_a", "2026-03-30 09:00:00", None),
    ("A5", "u9", "login", "2026-03-26 09:00:00", None),
    ("A5", "u9", "login", "2026-03-20 09:00:00", None),
    ("A5", "u10", "login", "2026-03-19 09:00:00", None),
    ("A5", "u11", "login", "2026-03-18 00:00:00", None),
    (None, "u99", "login", "2026-03-30 09:00:00", None),
    (None, "u99", "login", "2026-03-31 09:00:00", None),
    (None, "u99", "create_report", "2026-03-01 09:00:00", "reports"),
]


def build(folder: Path, events: list = EVENTS) -> hm.Dataset:
    b = Builder()
    b.account("A1", value=500, name="Alpha", tier="Gold", seats=10)
    b.account("A2", value=2000, name="Bravo", tier="Gold", seats="")
    b.account("A3", value=100, name="Charlie", tier="Silver", seats=0)
    b.account("A4", value=300, name="Delta", tier="Silver", seats=5)
    b.account("A5", value=50, name="Echo", tier="Gold", seats=4)
    b.write(folder)
    write_usage(folder, events)
    return hm.load(folder)


@pytest.fixture
def ds(tmp_path: Path) -> hm.Dataset:
    return build(tmp_path / "data")


def row(df: pd.DataFrame, account_id: str) -> dict[str, Any]:
    found = df[df["account_id"] == account_id]
    assert len(found) == 1, f"{account_id} appears {len(found)} times"
    return found.iloc[0].to_dict()


def nan(x: Any) -> bool:
    return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x))


# --------------------------------------------------------------------------------------------------------------
# health_summary


def summary(ds: hm.Dataset, **kw: Any) -> pd.DataFrame:
    kw.setdefault("as_of", AS_OF)
    kw.setdefault("window_days", 7)
    return health.health_summary(ds, **kw)


def test_summary_has_every_account_sorted_by_name(ds: hm.Dataset) -> None:
    df = summary(ds)
    assert list(df["account_id"]) == ["A1", "A2", "A3", "A4", "A5"]
    assert list(df.columns[: len(health.HEALTH_COLUMNS)]) == list(health.HEALTH_COLUMNS)
    assert {"tier", "region", "account_manager"} <= set(df.columns)


def test_summary_window_counts(ds: hm.Dataset) -> None:
    a1 = row(summary(ds, kpi_events=["create_report", "export_data"]), "A1")
    # u1 at 23:59 on the as_of day and u2 at 00:00 on the first window day count; u4 (after as_of) does not
    assert a1["active_users"] == 2
    assert a1["events"] == 3
    assert a1["events_per_active_user"] == pytest.approx(1.5)
    assert a1["kpi_events"] == 1 and a1["kpi_users"] == 1
    assert a1["features_used"] == 2  # reports, dashboards
    assert a1["features_total"] == 3  # reports, dashboards, admin: every feature in the data
    assert a1["feature_breadth"] == pytest.approx(2 / 3)
    assert a1["seats"] == 10 and a1["seat_utilisation"] == pytest.approx(0.2)
    assert a1["last_event_at"] == pd.Timestamp("2026-03-31 23:59:00")
    assert a1["first_event_at"] == pd.Timestamp("2026-03-01 12:00:00")
    assert a1["days_since_last_event"] == 0 and a1["account_age_days"] == 30
    assert not a1["inactive"]
    # previous window 03-18..03-24: u3 (23:59 on its last day) and u1
    assert a1["active_users_prev"] == 2 and a1["events_prev"] == 2
    assert a1["active_users_change"] == 0 and a1["active_users_change_pct"] == 0


def test_summary_without_kpis_or_onboarding_leaves_them_unmeasured(ds: hm.Dataset) -> None:
    a1 = row(summary(ds), "A1")
    for col in ("kpi_events", "kpi_users", "onboarding_started", "onboarded_users", "onboarding_completion"):
        assert nan(a1[col]), col


def test_summary_account_with_no_events_has_zeros_and_nat(ds: hm.Dataset) -> None:
    a3 = row(summary(ds, kpi_events=["create_report"], onboarding_events=STEPS), "A3")
    for col in ("active_users", "events", "kpi_events", "kpi_users", "features_used", "active_users_prev"):
        assert a3[col] == 0, col
    assert a3["onboarding_started"] == 0 and a3["onboarded_users"] == 0
    assert a3["last_event_at"] is pd.NaT and a3["first_event_at"] is pd.NaT
    assert nan(a3["days_since_last_event"]) and nan(a3["account_age_days"])
    assert nan(a3["events_per_active_user"]) and nan(a3["onboarding_completion"])
    assert a3["inactive"]
    assert nan(a3["seat_utilisation"])  # 0 seats: no utilisation rather than infinity


def test_summary_seats_missing_gives_nan_utilisation(ds: hm.Dataset) -> None:
    a2 = row(summary(ds), "A2")
    assert nan(a2["seats"]) and nan(a2["seat_utilisation"])
    assert a2["active_users"] == 0 and a2["days_since_last_event"] == 21


def test_summary_inactive_threshold(ds: hm.Dataset) -> None:
    assert not row(summary(ds, inactive_days=30), "A2")["inactive"]
    assert not row(summary(ds, inactive_days=22), "A2")["inactive"]
    assert row(summary(ds, inactive_days=21), "A2")["inactive"]  # no event in the last 21 days (03-11..03-31)


def test_summary_young_and_falling_accounts(ds: hm.Dataset) -> None:
    df = summary(ds, onboarding_events=STEPS)
    a4 = row(df, "A4")
    assert a4["active_users"] == 2 and a4["active_users_prev"] == 0
    assert a4["active_users_change"] == 2 and nan(a4["active_users_change_pct"])
    assert a4["account_age_days"] == 3
    assert a4["onboarding_started"] == 2 and a4["onboarded_users"] == 1
    assert a4["onboarding_completion"] == pytest.approx(0.5)
    a5 = row(df, "A5")
    assert a5["active_users"] == 1 and a5["active_users_prev"] == 3  # 03-18 00:00 opens the previous window
    assert a5["active_users_change"] == -2 and a5["active_users_change_pct"] == pytest.approx(-2 / 3)


def test_summary_reports_events_with_no_account(ds: hm.Dataset) -> None:
    df = summary(ds)
    assert df.attrs["unassigned_events"] == 2 and df.attrs["unassigned_users"] == 1
    assert "u99" not in set(health.account_users(ds, "A1")["user_id"])
    assert df["events"].sum() == 3 + 3 + 1  # A1, A4, A5: the unassigned events count in no account


def test_summary_defaults_to_the_latest_event_date(ds: hm.Dataset) -> None:
    df = health.health_summary(ds, window_days=7)
    assert df.attrs["as_of"] == "2026-04-02"
    assert df.attrs["window"] == ["2026-03-27", "2026-04-02"]
    assert row(df, "A1")["active_users"] == 2  # u1 (03-30, 03-31) and u4 (04-01, 04-02)


def test_summary_earlier_as_of_ignores_later_events(ds: hm.Dataset) -> None:
    a1 = row(summary(ds, as_of="2026-03-24"), "A1")
    assert a1["last_event_at"] == pd.Timestamp("2026-03-24 23:59:00")
    assert a1["active_users"] == 2 and a1["events"] == 2  # u3 and u1 (03-20)


def test_summary_filters_narrow_accounts(ds: hm.Dataset) -> None:
    df = summary(ds, filters={"tier": ["Silver"]})
    assert list(df["account_id"]) == ["A3", "A4"]
    assert df.attrs["filters"] == {"tier": ["Silver"]}
    assert df.attrs["unassigned_events"] == 2


def test_summary_notes_filters_that_do_not_apply_to_usage(ds: hm.Dataset) -> None:
    with pytest.warns(hm.FilterWarning, match="decision_maker"):  # the builder made no contacts
        df = summary(ds, filters={"role": ["decision_maker"], "tier": ["Gold"]})
    assert list(df["account_id"]) == ["A1", "A2", "A5"]
    assert any("role" in n for n in df.attrs["filter_notes"])


def test_unknown_event_warns_with_close_matches(ds: hm.Dataset) -> None:
    with pytest.warns(UnknownEventWarning, match=r"'logn'.*did you mean 'login'"):
        df = summary(ds, kpi_events=["logn", "create_report"])
    assert row(df, "A1")["kpi_events"] == 1
    assert any("logn" in w for w in df.attrs["warnings"])
    with pytest.warns(UnknownEventWarning, match="zzz"):
        listed = health.accounts_with_users_who_did(ds, "zzz", 1)
    assert listed.empty


def test_missing_usage_table_is_a_clear_error(tmp_path: Path) -> None:
    b = Builder()
    b.account("A1")
    ds = b.load(tmp_path / "nousage")
    assert not ds.has("usage_events")
    calls = [
        lambda: health.health_summary(ds),
        lambda: health.usage_signals(ds, AS_OF),
        lambda: health.inactive_accounts(ds, 30),
        lambda: health.onboarding(ds, STEPS),
        lambda: health.account_users(ds, "A1"),
        lambda: health.weekly_active_users(ds),
        lambda: health.accounts_with_users_who_did(ds, "login", 1),
    ]
    for call in calls:
        with pytest.raises(HeatmapError, match="no usage_events table"):
            call()


def test_empty_usage_table_gives_zeros(tmp_path: Path) -> None:
    ds = build(tmp_path / "empty", events=[])
    df = health.health_summary(ds, as_of=AS_OF)
    assert len(df) == 5 and (df["active_users"] == 0).all() and df["inactive"].all()
    assert df.attrs["unassigned_events"] == 0


def test_bad_parameters(ds: hm.Dataset) -> None:
    with pytest.raises(HeatmapError, match="window_days"):
        health.health_summary(ds, window_days=0)
    with pytest.raises(HeatmapError, match="not a date"):
        health.health_summary(ds, as_of="yesterday")
    with pytest.raises(HeatmapError, match="not an accounts column"):
        health.accounts_with_users_who_did(ds, "login", 1, group_by="nope")
    with pytest.raises(hm.FilterError, match="unknown filter key"):
        health.health_summary(ds, filters={"nope": ["x"]})


# --------------------------------------------------------------------------------------------------------------
# usage_signals


def test_usage_signals_per_row_as_of_dates(ds: hm.Dataset) -> None:
    keys = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A2", "A3", "A9", "A1"],
            "as_of": ["2026-03-31", "2026-03-10", "2026-03-11", "2026-03-31", "2026-03-31", dt.date(2026, 3, 31)],
        }
    )
    sig = health.usage_signals(ds, keys, window_days=7)
    assert list(sig.columns) == list(health.SIGNAL_COLUMNS)
    assert list(sig["account_id"]) == ["A1", "A2", "A2", "A3", "A9", "A1"]  # input order, duplicates kept
    assert list(sig["as_of"])[:2] == ["2026-03-31", "2026-03-10"]  # as given
    a1 = sig.iloc[0].to_dict()
    # strictly before 2026-03-31: u1's 23:59 login on the day is excluded; window 03-24..03-30
    assert a1["active_users"] == 3 and a1["events"] == 3  # u1 (03-30), u2 (03-25), u3 (03-24 23:59)
    assert a1["active_users_prev"] == 1 and a1["events_prev"] == 1  # u1 on 03-20
    assert a1["features_used"] == 2  # reports (03-30, 03-01) and dashboards, within 90 days
    assert a1["seats"] == 10 and a1["seat_utilisation"] == pytest.approx(0.3)
    assert a1["days_since_last_event"] == 1  # last event before the cut-off: 03-30
    assert a1["first_event_at"] == pd.Timestamp("2026-03-01 12:00:00") and a1["account_age_days"] == 30
    assert sig.iloc[5].drop("as_of").equals(sig.iloc[0].drop("as_of"))
    on_day = sig.iloc[1]  # A2's only event is on its as_of day: excluded
    assert on_day["events"] == 0 and nan(on_day["days_since_last_event"]) and on_day["first_event_at"] is pd.NaT
    day_after = sig.iloc[2]
    assert day_after["events"] == 1 and day_after["active_users"] == 1 and day_after["days_since_last_event"] == 1
    assert nan(day_after["seat_utilisation"])  # seats unknown
    never = sig.iloc[3]
    assert never["events"] == 0 and nan(never["account_age_days"])
    unknown = sig.iloc[4]
    assert unknown["events"] == 0 and unknown["seats"] is pd.NA


def test_usage_signals_young_account_age(ds: hm.Dataset) -> None:
    sig = health.usage_signals(ds, pd.DataFrame({"account_id": ["A4"], "as_of": ["2026-04-01"]}), window_days=7)
    assert sig.loc[0, "account_age_days"] == 4 and sig.loc[0, "active_users"] == 2


def test_usage_signals_long_silence_reaches_back_past_the_recent_months(ds: hm.Dataset) -> None:
    keys = pd.DataFrame({"account_id": ["A2", "A1"], "as_of": ["2026-09-01", "2026-09-01"]})
    for sig in (health.usage_signals(ds, keys), health.usage_signals(ds, dt.date(2026, 9, 1)).iloc[[1, 0]]):
        a2, a1 = sig.iloc[0], sig.iloc[1]
        assert a2["events"] == 0 and a2["days_since_last_event"] == 175  # its only event: 2026-03-10
        assert a2["first_event_at"] == pd.Timestamp("2026-03-10 08:00") and a2["account_age_days"] == 175
        assert a1["days_since_last_event"] == 152  # u4 on 2026-04-02
        assert a1["account_age_days"] == 184 and a1["features_used"] == 0


def test_usage_signals_for_one_date_covers_every_account(ds: hm.Dataset) -> None:
    sig = health.usage_signals(ds, dt.date(2026, 4, 1), window_days=7)
    assert list(sig["account_id"]) == ["A1", "A2", "A3", "A4", "A5"]
    by_date = health.usage_signals(
        ds, pd.DataFrame({"account_id": sig["account_id"], "as_of": ["2026-04-01"] * 5}), window_days=7
    )
    cols = [c for c in health.SIGNAL_COLUMNS if c != "as_of"]
    pd.testing.assert_frame_equal(sig[cols], by_date[cols])


def test_usage_signals_agree_with_health_summary(ds: hm.Dataset) -> None:
    # health_summary as of a day equals usage_signals cut off at the start of the next day
    hs = summary(ds).set_index("account_id")
    sig = health.usage_signals(ds, AS_OF + dt.timedelta(days=1), window_days=7).set_index("account_id")
    for col in ("active_users", "active_users_prev", "events", "events_prev", "features_used"):
        if col == "features_used":  # health_summary: features in the window; usage_signals: in 90 days
            assert (hs[col] <= sig[col]).all()
            continue
        pd.testing.assert_series_equal(hs[col], sig[col], check_names=False)
    # days since: to the as_of day (health) and to the cut-off day after it (signals)
    pd.testing.assert_series_equal(hs["days_since_last_event"] + 1, sig["days_since_last_event"], check_names=False)


def test_usage_signals_needs_its_columns(ds: hm.Dataset) -> None:
    with pytest.raises(HeatmapError, match="as_of"):
        health.usage_signals(ds, pd.DataFrame({"account_id": ["A1"]}))


# --------------------------------------------------------------------------------------------------------------
# lists


def test_inactive_accounts_most_valuable_first(ds: hm.Dataset) -> None:
    df = health.inactive_accounts(ds, 14, as_of=AS_OF)
    assert list(df["account_id"]) == ["A2", "A3"]
    assert list(df["days_since_last_event"].fillna(-1)) == [21, -1]
    assert list(df["never_active"]) == [False, True]
    assert df.loc[0, "events"] == 1


def test_falling_accounts(ds: hm.Dataset) -> None:
    df = health.falling_accounts(ds, as_of=AS_OF, window_days=7)
    assert list(df["account_id"]) == ["A5"]
    assert df.loc[0, "active_users_change"] == -2
    assert health.falling_accounts(ds, as_of=AS_OF, window_days=7, top=0).empty


def test_accounts_with_users_who_did_all_time(ds: hm.Dataset) -> None:
    df = health.accounts_with_users_who_did(ds, "login", 2)
    assert list(df["account_id"]) == ["A1", "A5"]  # 3 users each; A1 is worth more
    assert list(df["users"]) == [3, 3]  # A1: u1, u3, u4 (no as_of: every event)
    assert {"account_name", "value", "account_manager", "tier"} <= set(df.columns)


def test_accounts_with_users_who_did_in_window(ds: hm.Dataset) -> None:
    df = health.accounts_with_users_who_did(ds, "login", 1, as_of=AS_OF, window_days=7)
    assert list(df["account_id"]) == ["A1", "A5"]
    assert list(df["users"]) == [1, 1]
    df = health.accounts_with_users_who_did(ds, ["ob_a", "ob_b"], 2)
    assert list(df["account_id"]) == ["A4"] and df.loc[0, "events"] == 3


def test_accounts_with_users_who_did_grouped(ds: hm.Dataset) -> None:
    df = health.accounts_with_users_who_did(ds, "login", 2, group_by="tier")
    got = df.set_index("tier")
    assert got.loc["Gold", "accounts"] == 2 and got.loc["Gold", "accounts_in_scope"] == 3
    assert got.loc["Gold", "value"] == 550 and got.loc["Gold", "value_in_scope"] == 2550
    assert got.loc["Silver", "accounts"] == 0 and got.loc["Silver", "share"] == 0
    zero = health.accounts_with_users_who_did(ds, "login", 0, group_by="tier").set_index("tier")
    assert zero.loc["Silver", "accounts"] == 2  # "at least 0 users": every account


def test_onboarding_per_user_and_per_account(ds: hm.Dataset) -> None:
    per_user, per_account = health.onboarding(ds, STEPS)
    a4 = per_user[per_user["account_id"] == "A4"].set_index("user_id")
    assert list(a4.index) == ["u8", "u7"]  # not onboarded first
    assert a4.loc["u7", "onboarded"] and a4.loc["u7", "missing_steps"] == ""
    assert not a4.loc["u8", "onboarded"] and a4.loc["u8", "missing_steps"] == "ob_b"
    assert a4.loc["u8", "ob_a_at"] == pd.Timestamp("2026-03-30 09:00") and a4.loc["u8", "ob_b_at"] is pd.NaT
    assert "u99" not in set(per_user["user_id"])
    a1 = per_user[per_user["account_id"] == "A1"]
    assert len(a1) == 5 and not a1["started"].any()
    assert a1.iloc[0]["missing_steps"] == "ob_a; ob_b"
    acc = per_account.set_index("account_id")
    assert list(per_account["account_id"]) == ["A2", "A1", "A4", "A3", "A5"]  # by value
    assert acc.loc["A4", "users"] == 2 and acc.loc["A4", "onboarded_users"] == 1
    assert acc.loc["A4", "onboarding_completion"] == pytest.approx(0.5)
    assert acc.loc["A4", "missing_ob_b"] == 1 and acc.loc["A4", "missing_ob_a"] == 0
    assert acc.loc["A4", "not_onboarded"] == "u8 (missing ob_b)"
    assert acc.loc["A1", "never_started"] == 5 and nan(acc.loc["A1", "onboarding_completion"])
    assert acc.loc["A3", "users"] == 0 and acc.loc["A3", "not_onboarded"] == ""
    assert per_account.attrs["unassigned_users"] == 1


def test_onboarding_needs_steps(ds: hm.Dataset) -> None:
    with pytest.raises(HeatmapError, match="onboarding step"):
        health.onboarding(ds, [])


def test_account_users_sorted_by_last_seen(ds: hm.Dataset) -> None:
    df = health.account_users(ds, "A1", as_of=AS_OF)
    assert list(df["user_id"]) == ["u1", "u2", "u3", "u5"]  # u4 is only seen after as_of
    u1 = df.iloc[0]
    assert u1["events"] == 3 and u1["active_days"] == 3 and u1["distinct_events"] == 2
    assert u1["top_events"] == "login (2), create_report (1)"
    assert u1["features"] == "reports" and u1["distinct_features"] == 1
    assert u1["days_since_last_seen"] == 0
    assert df.attrs["account_name"] == "Alpha"
    everything = health.account_users(ds, "A1")
    assert everything.iloc[0]["user_id"] == "u4"


def test_account_users_unknown_account(ds: hm.Dataset) -> None:
    assert len(health.account_users(ds, " A1 ", as_of=AS_OF)) == 4  # ids are compared trimmed
    with pytest.raises(HeatmapError, match="did you mean 'A1'"):
        health.account_users(ds, "AA1")
    assert health.account_users(ds, "A3").empty


def test_weekly_active_users_by_tier(ds: hm.Dataset) -> None:
    df = health.weekly_active_users(ds, by="tier", weeks=2, as_of=AS_OF)
    assert list(df.columns) == ["week", "group", "active_users", "days_covered", "complete"]
    assert df["complete"].tolist() == [True, False, True, False]  # the week of 03-30 has 2 days up to as_of
    got = {(r.group, r.week.date().isoformat()): r.active_users for r in df.itertuples()}
    assert got == {
        ("Gold", "2026-03-23"): 3,  # u3, u2 (A1), u9 (A5)
        ("Gold", "2026-03-30"): 1,  # u1
        ("Silver", "2026-03-23"): 1,  # u7
        ("Silver", "2026-03-30"): 1,  # u8
    }
    assert df.attrs["unassigned_events"] == 2


def test_weekly_active_users_by_account_fills_quiet_weeks(ds: hm.Dataset) -> None:
    df = health.weekly_active_users(ds, weeks=3, as_of=AS_OF)
    a5 = df[df["group"] == "A5"]
    assert list(a5["active_users"]) == [3, 1, 0]  # weeks of 03-16, 03-23, 03-30
    assert set(a5["account_name"]) == {"Echo"}
    assert "A3" not in set(df["group"])  # never active in the period
    total = health.weekly_active_users(ds, by=None, weeks=1, as_of=AS_OF)
    assert total["active_users"].tolist() == [2] and total["group"].tolist() == ["all"]


# --------------------------------------------------------------------------------------------------------------
# exports


def test_export_csv_and_xlsx_past_the_row_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = Builder()
    for i in range(25):
        b.account(f"A{i:02d}", value=i, name=f"<b>Account {i}</b>", seats=3)
    folder = b.write(tmp_path / "many")
    write_usage(folder, [(f"A{i:02d}", f"u{i}", "login", "2026-03-30 09:00:00", None) for i in range(25)])
    ds = hm.load(folder)
    df = health.health_summary(ds, as_of=AS_OF)
    assert len(df) == 25
    monkeypatch.setattr(export_module, "XLSX_MAX_ROWS", 10)
    xlsx = export_module.write_health_table(df, tmp_path / "out" / "health.xlsx", ds)
    book = openpyxl.load_workbook(xlsx, read_only=True)
    assert book.sheetnames == ["health_1", "health_2", "health_3", "About"]
    data_rows = [book[s].max_row - 1 for s in book.sheetnames[:3]]
    assert data_rows == [10, 10, 5]
    about = {r[0]: r[1] for r in book["About"].iter_rows(values_only=True)}
    assert about["as_of"] == "2026-03-31"
    sheets = [pd.read_excel(xlsx, sheet_name=s, engine="openpyxl") for s in book.sheetnames[:3]]
    back = pd.concat(sheets, ignore_index=True)
    assert back["account_id"].tolist() == df["account_id"].tolist()
    csv = export_module.write_health_table(df, tmp_path / "out" / "health.csv", ds)
    assert len(pd.read_csv(csv, comment="#")) == 25
    js = export_module.write_health_table(df, tmp_path / "out" / "health.json")
    assert js.read_text(encoding="utf-8").count('"account_id"') == 25


def test_export_keeps_warnings_in_the_about_sheet(ds: hm.Dataset, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownEventWarning)
        df = summary(ds, kpi_events=["logn"])
    path = export_module.write_health_table(df, tmp_path / "h.xlsx", ds)
    about = {r[0]: r[1] for r in openpyxl.load_workbook(path)["About"].iter_rows(values_only=True)}
    assert "logn" in about["warnings"]


# --------------------------------------------------------------------------------------------------------------
# the demo data


def test_demo_health_is_consistent(demo: hm.Dataset) -> None:
    df = health.health_summary(
        demo,
        kpi_events=["create_report", "export_data"],
        onboarding_events=["onboarding_profile", "onboarding_connect_data", "onboarding_first_report"],
    )
    assert len(df) == demo.rows["accounts"]
    assert df.attrs["as_of"] == "2026-09-30"  # the demo's last event is the day before its reference date
    assert (df["kpi_users"] <= df["active_users"]).all()
    assert (df["features_used"] <= df["features_total"]).all()
    assert (df["onboarded_users"] <= df["onboarding_started"]).all()
    assert (df.loc[df["active_users"] > 0, "inactive"] == False).all()  # noqa: E712
    churned = df[df["status"] == "churned"]
    assert churned["inactive"].mean() > df[df["status"] == "active"]["inactive"].mean()


def test_demo_usage_signals_for_renewals(demo: hm.Dataset) -> None:
    renewals = demo.table("renewals").select("account_id", as_of="renewal_date").to_pandas()
    sig = health.usage_signals(demo, renewals)
    assert len(sig) == len(renewals)
    assert sig["account_id"].tolist() == renewals["account_id"].tolist()
    first = sig.iloc[0]
    events = demo.table("usage_events")
    cut = pd.Timestamp(renewals.loc[0, "as_of"]).to_pydatetime()
    e = events.filter((events.account_id == first["account_id"]) & (events.occurred_at < cut))
    e = e.filter(e.occurred_at >= cut - dt.timedelta(days=28))
    assert first["events"] == e.count().to_pyarrow().as_py()
    assert first["active_users"] == e.user_id.nunique().to_pyarrow().as_py()


def test_the_fast_fetch_gives_the_tables_ibis_gives(demo: hm.Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Health, usage signals and renewal scores fetched through `health.to_pandas` equal Ibis's own `to_pandas`."""
    from heatmap_lib.metrics import renewal
    from heatmap_lib.metrics.health import account_table, lists
    from heatmap_lib.metrics.health import signals as health_signals
    from heatmap_lib.metrics.renewal import scoring, signal_table

    weights = Path(__file__).resolve().parents[1] / "params" / "renewal_weights.yaml"
    day = health.latest_event_date(demo)
    assert day is not None

    def tables() -> list[pd.DataFrame]:
        early = day - dt.timedelta(days=200)  # a date before many accounts' first event: nulls in every kind
        return [
            health.health_summary(demo, kpi_events="create_report", onboarding_events="onboarding_profile"),
            health.health_summary(demo, as_of=early),
            health.usage_signals(demo, early),
            health.inactive_accounts(demo, 30),
            renewal.score(demo, weights),
        ]

    fast = tables()
    for module in (account_table, health_signals, lists, signal_table, scoring):  # each module that fetches
        monkeypatch.setattr(module, "to_pandas", lambda expr: expr.to_pandas())
    assert all(t.isna().any().any() for t in fast[:2])  # the nulls the two fetches treat differently are there
    for got, want in zip(fast, tables(), strict=True):
        pd.testing.assert_frame_equal(got, want)
