"""One account's users (`account_users`, sorted by last seen) and the weekly active users trend by any column."""

from __future__ import annotations

import datetime as dt
import difflib
from typing import TYPE_CHECKING

import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics.health.events import (
    _DAY,
    DateLike,
    FilterLike,
    _attrs,
    _days_between,
    _events_table,
    _group_column,
    _ints,
    _midnight,
    _resolve_as_of,
    _ts,
    _unassigned,
    _usage,
    latest_event_date,
)

if TYPE_CHECKING:
    from heatmap_lib.data.loading import Dataset

TOP_EVENTS = 3  # account_users: events named in `top_events`


def account_users(dataset: Dataset, account_id: str, *, as_of: DateLike | None = None) -> pd.DataFrame:
    """What each user of one account does: one row per user, most recently seen first.

    Columns: `user_id`, `first_seen`, `last_seen`, `days_since_last_seen` (to `as_of`, default the latest event's
    date), `events`, `active_days` (distinct days with an event), `distinct_events`, `distinct_features`,
    `top_events` (the `TOP_EVENTS` most frequent, with counts) and `features` (most used first). Events after
    `as_of` are ignored. An account id not in the dataset raises `HeatmapError` naming close matches.
    """
    ev = _events_table(dataset)
    accounts = dataset.table("accounts")
    account_id = str(account_id).strip()
    found = accounts.filter(accounts.account_id == account_id).select("account_id", "account_name").to_pandas()
    if found.empty:
        known = dataset.distinct_values("accounts", "account_id")
        close = difflib.get_close_matches(account_id, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise HeatmapError(f"account {account_id!r} is not in the dataset's accounts{hint}")
    day = _resolve_as_of(dataset, as_of)
    end = _midnight(day) + _DAY
    e = ev.filter((ev.account_id == account_id) & (ev.occurred_at < _ts(end)))
    per_user = e.group_by("user_id").aggregate(
        first_seen=e.occurred_at.min(),
        last_seen=e.occurred_at.max(),
        events=e.count(),
        active_days=e.occurred_at.date().nunique(),
        distinct_events=e.event.nunique(),
        distinct_features=e.feature.nunique(),
    )
    df = per_user.to_pandas()
    by_event = e.group_by(["user_id", "event"]).aggregate(n=e.count()).to_pandas()
    f = e.filter(e.feature.notnull())
    by_feature = f.group_by(["user_id", "feature"]).aggregate(n=f.count()).to_pandas()
    df["top_events"] = df["user_id"].map(_ranked(by_event, "event", TOP_EVENTS, show_counts=True)).fillna("")
    df["features"] = df["user_id"].map(_ranked(by_feature, "feature", None, show_counts=False)).fillna("")
    for c in ("first_seen", "last_seen"):
        df[c] = pd.to_datetime(df[c])
    df["days_since_last_seen"] = _days_between(day, df["last_seen"])
    _ints(df, ["events", "active_days", "distinct_events", "distinct_features"])
    df = df[
        [
            "user_id",
            "first_seen",
            "last_seen",
            "days_since_last_seen",
            "events",
            "active_days",
            "distinct_events",
            "distinct_features",
            "top_events",
            "features",
        ]
    ]
    df = df.sort_values(["last_seen", "user_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df.attrs.update(account_id=account_id, account_name=str(found["account_name"].iloc[0]), as_of=day.isoformat())
    return df


def _ranked(counts: pd.DataFrame, column: str, top: int | None, *, show_counts: bool) -> dict[str, str]:
    """Per user, the values of `column` most frequent first (the first `top`), as one text."""
    out: dict[str, str] = {}
    if counts.empty:
        return out
    ordered = counts.sort_values(["user_id", "n", column], ascending=[True, False, True], kind="stable")
    for user, part in ordered.groupby("user_id", sort=False):
        part = part.head(top) if top else part
        items = [f"{v} ({n:,})" if show_counts else str(v) for v, n in zip(part[column], part["n"], strict=True)]
        out[str(user)] = ", ".join(items)
    return out


def weekly_active_users(
    dataset: Dataset,
    filters: FilterLike = None,
    *,
    by: str | None = "account_id",
    weeks: int = 12,
    as_of: DateLike | None = None,
    partial: str = "mark",
) -> pd.DataFrame:
    """Distinct active users per week and group, in long format: `week` (the Monday), `group`, `active_users`.

    The last `weeks` calendar weeks (Monday to Sunday) up to `as_of` (default: the latest event's date). `by` is
    `account_id` (adds `account_name`), any accounts column, or None for the whole scope (group "all"). Every
    group active at least once in the period gets a row for every week (0 when quiet); a user active in two
    groups counts in each. Sorted by group, then week.

    A week the data do not cover whole (the week of a mid-week `as_of` or last event, or a week before the first
    event) is partial (`periods.period_completeness`): `partial="mark"` keeps it with `complete` False and
    `days_covered` under 7, `partial="drop"` leaves it out. `.attrs["periods"]` lists every week of the window
    with its completeness and `.attrs["window_note"]` says in words what was drawn.
    """
    import ibis

    from heatmap_lib.core.periods import check_policy, describe_window, period_completeness

    policy = check_policy(partial)
    if weeks < 1:
        raise HeatmapError(f"weeks must be at least 1, not {weeks}")
    if by is not None:
        _group_column(dataset, by)
    usage = _usage(dataset, filters)
    day = _resolve_as_of(dataset, as_of)
    end = _midnight(day) + _DAY
    first_monday = _midnight(day - dt.timedelta(days=day.weekday())) - (weeks - 1) * 7 * _DAY
    ev = usage.events
    e = ev.filter(ev.account_id.notnull() & (ev.occurred_at >= _ts(first_monday)) & (ev.occurred_at < _ts(end)))
    if by is None:
        keyed = e.select("user_id", "occurred_at", group=ibis.literal("all"))
    elif by == "account_id":
        keyed = e.select("user_id", "occurred_at", group=e.account_id)
    else:
        acc = usage.accounts
        j = e.join(acc.select("account_id", _g=acc[by].cast("string").fill_null("(none)")), "account_id")
        keyed = j.select("user_id", "occurred_at", group=j._g)
    week = keyed.occurred_at.truncate("W").name("week")
    wau = keyed.group_by([week, "group"]).aggregate(active_users=keyed.user_id.nunique()).to_pandas()
    week_index = pd.DatetimeIndex([first_monday + i * 7 * _DAY for i in range(weeks)], name="week")
    groups = sorted(wau["group"].astype(str).unique())
    grid = pd.MultiIndex.from_product([groups, week_index], names=["group", "week"])
    wau["week"] = pd.to_datetime(wau["week"]).dt.normalize()
    df = (
        wau.assign(group=wau["group"].astype(str))
        .set_index(["group", "week"])["active_users"]
        .reindex(grid, fill_value=0)
        .astype("int64")
        .reset_index()[["week", "group", "active_users"]]
    )
    if by == "account_id":
        names = usage.accounts.select("account_id", "account_name").to_pandas()
        df = df.merge(names.rename(columns={"account_id": "group"}), on="group", how="left")
    earliest, latest = _first_event(dataset), latest_event_date(dataset)
    data_last = min(day, latest) if latest is not None else day
    periods = period_completeness(
        [w.date() for w in week_index],
        [(w + 6 * _DAY).date() for w in week_index],
        data_first=earliest if earliest is not None else data_last + _DAY,  # no event at all: no week is covered
        data_last=data_last,
    )
    coverage = periods.set_index(pd.DatetimeIndex(week_index, name="week"))[["days_covered", "complete"]]
    df = df.join(coverage, on="week")
    if policy == "drop":
        df = df.loc[df["complete"]].reset_index(drop=True)
    return _attrs(
        df,
        usage,
        by=by,
        weeks=weeks,
        as_of=day.isoformat(),
        partial=policy,
        periods=periods.assign(
            period_start=periods["period_start"].astype(str), period_end=periods["period_end"].astype(str)
        ).to_dict(orient="records"),
        window_note=describe_window(periods, unit="week", policy=policy, data_last=data_last),
        **_unassigned(usage.events, first_monday, end),
    )


def _first_event(dataset: Dataset) -> dt.date | None:
    """The date of the earliest usage event in the dataset (cheap, as `_latest`), or None when there is none."""
    events = _events_table(dataset)
    first = events.occurred_at.min().to_pyarrow().as_py()
    return None if first is None else pd.Timestamp(first).date()
