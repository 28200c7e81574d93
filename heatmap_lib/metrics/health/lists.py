"""Account lists built on usage: inactive accounts, falling accounts, accounts with N users who did E, onboarding.

Each list is one row per account (onboarding adds one row per user), most valuable first, with the same filter
and warning attributes as the health table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics.health.account_table import health_summary
from heatmap_lib.metrics.health.events import (
    _DAY,
    DateLike,
    FilterLike,
    _account_columns,
    _attrs,
    _by_value,
    _check_events,
    _days_between,
    _group_column,
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

if TYPE_CHECKING:
    from heatmap_lib.data.loading import Dataset

MAX_LISTED_USERS = 50  # onboarding per account: users named in the `not_onboarded` text (all are in per_user)


def inactive_accounts(
    dataset: Dataset, days: int, filters: FilterLike = None, *, as_of: DateLike | None = None
) -> pd.DataFrame:
    """Accounts in scope with no usage event in the last `days` days up to `as_of` (or none ever), most valuable first.

    Columns: the account's id, name and value, `last_event_at`, `days_since_last_event` (NaN when never
    active), `never_active`, `events` (all events up to `as_of`), then the other account columns.
    """
    if days < 1:
        raise HeatmapError(f"days must be at least 1, not {days}")
    usage = _usage(dataset, filters)
    day = _resolve_as_of(dataset, as_of)
    end = _midnight(day) + _DAY
    e = _until(dataset, usage.events, end)
    life = e.group_by("account_id").aggregate(last_event_at=e.occurred_at.max(), events=e.count())
    df = to_pandas(_join_parts(usage.accounts, [life]))
    _ints(df, ["events"])
    df["last_event_at"] = pd.to_datetime(df["last_event_at"])
    df["days_since_last_event"] = _days_between(day, df["last_event_at"])
    df["never_active"] = df["last_event_at"].isna()
    df = df[~(df["days_since_last_event"] < days)]
    lead = ["account_id", "account_name", "value", "last_event_at", "days_since_last_event", "never_active", "events"]
    df = _by_value(df[lead + [c for c in _account_columns(dataset) if c not in lead]])
    return _attrs(df, usage, as_of=day.isoformat(), inactive_days=days, **_unassigned(usage.events, None, end))


def falling_accounts(
    dataset: Dataset,
    filters: FilterLike = None,
    *,
    as_of: DateLike | None = None,
    window_days: int = 28,
    top: int | None = None,
) -> pd.DataFrame:
    """Accounts whose active users fell against the previous window, the biggest fall first (then by value).

    Rows of `health_summary` with `active_users_change < 0`, sorted by the change (users lost), then by the
    relative change, then by value; `top` keeps the first so many.
    """
    health = health_summary(dataset, filters, as_of=as_of, window_days=window_days)
    df = health[health["active_users_change"] < 0]
    df = df.sort_values(
        ["active_users_change", "active_users_change_pct", "value"], ascending=[True, True, False], kind="stable"
    )
    lead = [
        "account_id",
        "account_name",
        "value",
        "active_users_prev",
        "active_users",
        "active_users_change",
        "active_users_change_pct",
        "events_prev",
        "events",
        "last_event_at",
    ]
    df = df[lead + [c for c in _account_columns(dataset) if c not in lead and c in df]]
    if top is not None:
        df = df.head(top)
    df = df.reset_index(drop=True)
    df.attrs = dict(health.attrs)
    return df


def accounts_with_users_who_did(
    dataset: Dataset,
    event: str | Iterable[str],
    min_users: int,
    filters: FilterLike = None,
    *,
    as_of: DateLike | None = None,
    window_days: int | None = None,
    group_by: str | None = None,
) -> pd.DataFrame:
    """Accounts with at least `min_users` distinct users who did `event` (or any of several events).

    Counted over the `window_days` days ending with `as_of` (default: all events up to `as_of`; with neither, all
    events). Without `group_by`: the accounts listed, most users first then most valuable, with `users`, `events`
    and `last_done_at`, then the account columns. With `group_by` (any accounts column): one row per group value
    with `accounts` meeting the rule, `accounts_in_scope`, their `share`, and the `value` of those accounts
    against `value_in_scope`.
    """
    names = _names(event)
    if not names:
        raise HeatmapError("accounts_with_users_who_did: name the event to count")
    if min_users < 0:
        raise HeatmapError(f"min_users must be 0 or more, not {min_users}")
    if window_days is not None and window_days < 1:
        raise HeatmapError(f"window_days must be at least 1, not {window_days}")
    if group_by is not None:
        _group_column(dataset, group_by)
    usage = _usage(dataset, filters)
    messages = _check_events(dataset, names, "event")
    ev = usage.events
    e = ev.filter(ev.event.isin(names))
    start = end = None
    day: dt.date | None = None
    if as_of is not None or window_days is not None:
        day = _resolve_as_of(dataset, as_of)
        end = _midnight(day) + _DAY
        e = e.filter(e.occurred_at < _ts(end))
        if window_days is not None:
            start = end - window_days * _DAY
            e = e.filter(e.occurred_at >= _ts(start))
    done = e.filter(e.account_id.notnull())
    per_account = done.group_by("account_id").aggregate(
        users=done.user_id.nunique(), events=done.count(), last_done_at=done.occurred_at.max()
    )
    joined = _join_parts(usage.accounts, [per_account])
    joined = joined.mutate(users=joined.users.fill_null(0), events=joined.events.fill_null(0))
    meets = joined.users >= min_users
    extra = {
        "event": list(names),
        "min_users": min_users,
        "as_of": day.isoformat() if day else None,
        "window": [start.date().isoformat(), day.isoformat()] if start and day else None,
        "warnings": messages,
        **_unassigned(e, None, None),
    }
    if group_by is None:
        df = joined.filter(meets).to_pandas()
        _ints(df, ["users", "events"])
        df["last_done_at"] = pd.to_datetime(df["last_done_at"])
        lead = ["account_id", "account_name", "value", "users", "events", "last_done_at"]
        df = df[lead + [c for c in _account_columns(dataset) if c not in lead]]
        df = df.assign(_name=df["account_name"].astype(str).str.casefold())
        df = df.sort_values(
            ["users", "value", "_name", "account_id"], ascending=[False, False, True, True], kind="stable"
        )
        return _attrs(df.drop(columns="_name").reset_index(drop=True), usage, **extra)
    key = joined[group_by].cast("string").fill_null("(none)").name(group_by)
    grouped = joined.group_by(key).aggregate(
        accounts=joined.count(where=meets),
        accounts_in_scope=joined.count(),
        value=joined.value.sum(where=meets),
        value_in_scope=joined.value.sum(),
    )
    df = grouped.to_pandas()
    _ints(df, ["accounts", "accounts_in_scope"])
    df["value"] = pd.to_numeric(df["value"], errors="coerce").fillna(0.0)
    df["share"] = _ratio(df["accounts"], df["accounts_in_scope"])
    df = df[[group_by, "accounts", "accounts_in_scope", "share", "value", "value_in_scope"]]
    df = df.sort_values(["accounts", group_by], ascending=[False, True], kind="stable").reset_index(drop=True)
    return _attrs(df, usage, group_by=group_by, **extra)


def onboarding(
    dataset: Dataset, steps: str | Iterable[str], filters: FilterLike = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Who has done every onboarding step: one table per user, one per account.

    `per_user`: every user seen in the accounts in scope, with `first_seen`, `last_seen`, `started` (did any
    step), `steps_done`, `onboarded` (did every step), `missing_steps` (`; `-separated, in step order) and, per
    step, when the user first did it (`<step>_at`); sorted by account, not onboarded first, then most recently
    seen. `per_account`: every account in scope with `users`, `onboarding_started`, `onboarded_users`,
    `never_started` (users who did no step, e.g. users older than the onboarding flow), `onboarding_completion`
    (onboarded / started), `missing_<step>` (started users missing that step) and `not_onboarded`: the started
    users who have not finished, with their missing steps (the first `MAX_LISTED_USERS` named); most valuable
    account first.
    """
    names = _names(steps)
    if not names:
        raise HeatmapError("onboarding: name at least one onboarding step (an event)")
    usage = _usage(dataset, filters)
    messages = _check_events(dataset, names, "onboarding step")
    ev = usage.events
    e = ev.filter(ev.account_id.notnull())
    step_at = {f"{s}_at": e.occurred_at.min(where=e.event == s) for s in names}
    users = e.group_by(["account_id", "user_id"]).aggregate(
        first_seen=e.occurred_at.min(), last_seen=e.occurred_at.max(), **step_at
    )
    acc = usage.accounts
    account_cols = [c for c in ("account_name", "account_manager", "value") if c in dataset.account_columns]
    per_user = users.join(acc.select("account_id", *account_cols), "account_id").to_pandas()
    done = pd.DataFrame({s: per_user[f"{s}_at"].notna() for s in names}, index=per_user.index)
    per_user["steps_done"] = done.sum(axis=1).astype("int64")
    per_user["started"] = per_user["steps_done"] > 0
    per_user["onboarded"] = per_user["steps_done"] == len(names)
    missing = pd.Series("", index=per_user.index, dtype=object)
    for s in names:
        gap = ~done[s]
        missing[gap] = missing[gap] + np.where(missing[gap] == "", "", "; ") + s
    per_user["missing_steps"] = missing.astype(str)
    for c in ("first_seen", "last_seen", *step_at):
        per_user[c] = pd.to_datetime(per_user[c])
    lead = ["account_id", *account_cols, "user_id", "first_seen", "last_seen", "started", "steps_done", "onboarded"]
    per_user = per_user[[*lead, "missing_steps", *step_at]]
    order = per_user.assign(_name=per_user.get("account_name", per_user["account_id"]).astype(str).str.casefold())
    order = order.sort_values(
        ["_name", "account_id", "onboarded", "last_seen", "user_id"],
        ascending=[True, True, True, False, True],
        kind="stable",
    )
    per_user = per_user.loc[order.index].reset_index(drop=True)

    accounts = acc.to_pandas()
    started = per_user[per_user["started"]]
    pending = started[~started["onboarded"]]
    g = per_user.groupby("account_id")
    summary = pd.DataFrame(
        {
            "users": g.size(),
            "onboarding_started": g["started"].sum(),
            "onboarded_users": g["onboarded"].sum(),
        }
    )
    for s in names:
        summary[f"missing_{s}"] = started.groupby("account_id")[f"{s}_at"].apply(lambda x: int(x.isna().sum()))
    text = pending.groupby("account_id", sort=False).apply(_pending_text, include_groups=False)
    summary["not_onboarded"] = text if len(text) else pd.Series(dtype=object)
    per_account = accounts.merge(summary, left_on="account_id", right_index=True, how="left")
    _ints(per_account, ["users", "onboarding_started", "onboarded_users", *(f"missing_{s}" for s in names)])
    per_account["never_started"] = per_account["users"] - per_account["onboarding_started"]
    per_account["not_onboarded_users"] = per_account["onboarding_started"] - per_account["onboarded_users"]
    per_account["onboarding_completion"] = _ratio(per_account["onboarded_users"], per_account["onboarding_started"])
    per_account["not_onboarded"] = per_account["not_onboarded"].fillna("").astype(str)
    lead = [
        "account_id",
        "account_name",
        "value",
        "users",
        "onboarding_started",
        "onboarded_users",
        "not_onboarded_users",
        "never_started",
        "onboarding_completion",
        *(f"missing_{s}" for s in names),
        "not_onboarded",
    ]
    per_account = _by_value(per_account[lead + [c for c in _account_columns(dataset) if c not in lead]])
    unassigned = _unassigned(ev, None, None)
    extra = {"onboarding_events": list(names), "warnings": messages, **unassigned}
    return _attrs(per_user, usage, **extra), _attrs(per_account, usage, **extra)


def _pending_text(users: pd.DataFrame) -> str:
    users = users.sort_values(["last_seen", "user_id"], ascending=[False, True])
    parts = [f"{u} (missing {m})" for u, m in zip(users["user_id"], users["missing_steps"], strict=True)]
    if len(parts) > MAX_LISTED_USERS:
        parts = [*parts[:MAX_LISTED_USERS], f"... and {len(parts) - MAX_LISTED_USERS} more (see the per-user table)"]
    return "; ".join(parts)
