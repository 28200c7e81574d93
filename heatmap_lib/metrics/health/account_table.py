"""The per-account health table (`health_summary`): activity, KPIs, breadth, seats and onboarding in one window.

One row per account in scope over the `window_days` days ending with `as_of` (and the window before it for the
change in active users); the columns are `HEALTH_COLUMNS`, then the other account columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics.health.events import (
    _DAY,
    DateLike,
    FilterLike,
    _account_columns,
    _attrs,
    _check_events,
    _days_between,
    _ints,
    _join_parts,
    _midnight,
    _names,
    _ratio,
    _resolve_as_of,
    _ts,
    _unassigned,
    _until,
    _usage,
    to_pandas,
)
from heatmap_lib.metrics.shared import filters_key, shared

if TYPE_CHECKING:
    from heatmap_lib.data.loading import Dataset

HEALTH_COLUMNS: tuple[str, ...] = (
    "account_id",
    "account_name",
    "value",
    "active_users",
    "events",
    "events_per_active_user",
    "kpi_events",
    "kpi_users",
    "features_used",
    "features_total",
    "feature_breadth",
    "seats",
    "seat_utilisation",
    "onboarding_started",
    "onboarded_users",
    "onboarding_completion",
    "first_event_at",
    "last_event_at",
    "days_since_last_event",
    "account_age_days",
    "inactive",
    "active_users_prev",
    "events_prev",
    "active_users_change",
    "active_users_change_pct",
)


def health_summary(
    dataset: Dataset,
    filters: FilterLike = None,
    *,
    as_of: DateLike | None = None,
    window_days: int = 28,
    kpi_events: str | Iterable[str] = (),
    onboarding_events: str | Iterable[str] = (),
    inactive_days: int = 30,
) -> pd.DataFrame:
    """One row per account in the account scope with its product-usage health (DESIGN.md section 6).

    Accounts with no events are included, with zeros and NaT. Columns (`HEALTH_COLUMNS`, then the other account
    columns): `active_users` (distinct users with an event in the window), `events`, `events_per_active_user`,
    `kpi_events` and `kpi_users` (events of `kpi_events` in the window and the users who did them; NaN when no
    KPI is named), `features_used` in the window out of `features_total` (distinct features in all the data) as
    `feature_breadth`, `seats` and `seat_utilisation` (active users / seats; NaN when seats are unknown or 0),
    onboarding (when `onboarding_events` is given, over all time up to `as_of`: `onboarding_started` users who did
    any step, `onboarded_users` who did every step, `onboarding_completion` = onboarded / started), `first_event_at`,
    `last_event_at`, `days_since_last_event` (NaN if never), `account_age_days` (days since the first event),
    `inactive` (no event in the last `inactive_days` days, or never), and velocity: `active_users_prev` and
    `events_prev` in the previous window, `active_users_change` and `active_users_change_pct` (NaN when the
    previous window had no active user).

    `as_of` is the last day counted (default: the latest event's date); see the module docstring. Sorted by
    account name. `.attrs` holds `as_of`, the window bounds, `unassigned_events`/`unassigned_users` (events with
    no account in the window), filters and warnings.
    """
    if window_days < 1:
        raise HeatmapError(f"window_days must be at least 1, not {window_days}")
    kpi_events = kpi_events if isinstance(kpi_events, str) else tuple(kpi_events)
    onboarding_events = onboarding_events if isinstance(onboarding_events, str) else tuple(onboarding_events)
    args = (as_of, window_days, kpi_events, onboarding_events, inactive_days)
    fkey = filters_key(filters)
    if fkey is None:
        return _health_summary(dataset, filters, *args)
    # a batch segment's report and its X-Ray pages both ask for it (metrics.shared)
    key = ("health_summary", fkey, str(as_of), window_days, str(kpi_events), str(onboarding_events), inactive_days)
    return shared(dataset, key, lambda: _health_summary(dataset, filters, *args))


def _health_summary(
    dataset: Dataset,
    filters: FilterLike,
    as_of: DateLike | None,
    window_days: int,
    kpi_events: str | Iterable[str],
    onboarding_events: str | Iterable[str],
    inactive_days: int,
) -> pd.DataFrame:
    usage = _usage(dataset, filters)
    day = _resolve_as_of(dataset, as_of)
    kpis, steps = _names(kpi_events), _names(onboarding_events)
    messages = _check_events(dataset, kpis, "KPI event") + _check_events(dataset, steps, "onboarding step")
    end = _midnight(day) + _DAY
    start = end - window_days * _DAY
    prev_start = start - window_days * _DAY

    # the whole history (events with no account form a group of their own, which the join to accounts drops)
    e = _until(dataset, usage.events, end)
    life = e.group_by("account_id").aggregate(first_event_at=e.occurred_at.min(), last_event_at=e.occurred_at.max())
    # the two windows: per user first (one row per account and user), then per account, so each distinct count
    # is a plain count over a smaller table
    r = e.filter(e.account_id.notnull() & (e.occurred_at >= _ts(prev_start)))
    in_window = r.occurred_at >= _ts(start)
    per_user = r.group_by(["account_id", "user_id"]).aggregate(
        n=r.count(where=in_window),
        n_prev=r.count(where=~in_window),
        **({"k": r.count(where=in_window & r.event.isin(kpis))} if kpis else {}),
    )
    figures = {
        "active_users": per_user.count(where=per_user.n > 0),
        "events": per_user.n.sum(),
        "active_users_prev": per_user.count(where=per_user.n_prev > 0),
        "events_prev": per_user.n_prev.sum(),
    }
    if kpis:
        figures |= {"kpi_events": per_user.k.sum(), "kpi_users": per_user.count(where=per_user.k > 0)}
    recent = per_user.group_by("account_id").aggregate(**figures)
    w = r.filter(in_window & r.feature.notnull())
    features = w.group_by("account_id").aggregate(features_used=w.feature.nunique())
    parts = [life, recent, features]
    if steps:
        o = e.filter(e.event.isin(steps))
        done = o.group_by(["account_id", "user_id"]).aggregate(steps=o.event.nunique())
        parts.append(
            done.group_by("account_id").aggregate(
                onboarding_started=done.count(), onboarded_users=done.count(where=done.steps == len(steps))
            )
        )
    df = to_pandas(_join_parts(usage.accounts, parts))

    counted = ["active_users", "events", "active_users_prev", "events_prev", "features_used"]
    _ints(df, counted + (["kpi_events", "kpi_users"] if kpis else []))
    _ints(df, ["onboarding_started", "onboarded_users"] if steps else [])
    for col in ("kpi_events", "kpi_users", "onboarding_started", "onboarded_users"):
        if col not in df:
            df[col] = np.nan
    features_total = len(dataset.distinct_values("usage_events", "feature"))
    df["features_total"] = features_total
    df["feature_breadth"] = df["features_used"] / features_total if features_total else np.nan
    df["events_per_active_user"] = _ratio(df["events"], df["active_users"])
    seats = df["seats"] if "seats" in df else pd.Series(np.nan, index=df.index)
    df["seats"] = pd.to_numeric(seats, errors="coerce").astype("Int64")
    df["seat_utilisation"] = _ratio(df["active_users"], df["seats"])
    df["onboarding_completion"] = _ratio(df["onboarded_users"], df["onboarding_started"])
    for col in ("first_event_at", "last_event_at"):
        df[col] = pd.to_datetime(df[col])
    df["days_since_last_event"] = _days_between(day, df["last_event_at"])
    df["account_age_days"] = _days_between(day, df["first_event_at"])
    df["inactive"] = ~(df["days_since_last_event"] < inactive_days)
    df["active_users_change"] = df["active_users"] - df["active_users_prev"]
    df["active_users_change_pct"] = _ratio(df["active_users_change"], df["active_users_prev"])
    others = [c for c in _account_columns(dataset) if c not in HEALTH_COLUMNS and c in df]
    df = df[list(HEALTH_COLUMNS) + others]
    df = df.assign(_name=df["account_name"].astype(str).str.casefold())
    df = df.sort_values(["_name", "account_id"], kind="stable").drop(columns="_name").reset_index(drop=True)
    return _attrs(
        df,
        usage,
        as_of=day.isoformat(),
        window_days=window_days,
        window=[start.date().isoformat(), day.isoformat()],
        previous_window=[prev_start.date().isoformat(), (start - _DAY).date().isoformat()],
        inactive_days=inactive_days,
        kpi_events=list(kpis),
        onboarding_events=list(steps),
        warnings=messages,
        **_unassigned(usage.events, start, end),
    )
