"""Account health from product usage (DESIGN.md section 6): who uses what, who finished onboarding, who went quiet.

Every figure is counted inside the engine as an Ibis expression over `usage_events` (DuckDB by default, any Ibis
backend later); what reaches pandas is one row per account (or per user of one account, or per onboarding user),
where ratios and day counts are derived. Windows are whole days and never read the wall clock:

* `as_of` is the last day a report covers, inclusive; by default the date of the latest event in the dataset
  (the whole dataset, so every segment of a batch run shares it). The window is the `window_days` days ending
  with `as_of`; the previous window is the `window_days` days before it; events after `as_of` are ignored.
* `usage_signals` (the renewal model's view) instead takes `as_of` as a cut-off: only events strictly before
  that date count, so a renewal's signals never see the renewal day itself.

Events whose `account_id` is empty belong to no account: they count in no account's figures, and the tables say
how many there were in `.attrs["unassigned_events"]` (and `unassigned_users`). Filters narrow the accounts
(any accounts column); contact and invitation filters (role, wave, questionnaire, dates) do not apply to usage and
are noted in `.attrs["filter_notes"]`. Event names that occur nowhere in the data raise `UnknownEventWarning`
(with close matches) and are listed in `.attrs["warnings"]`.

`export()` writes any of these tables to CSV, xlsx or JSON with no row cap (xlsx continues on further sheets past
Excel's row limit), through `export.write_table`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.filters import FilterSet, coerce, scope

if TYPE_CHECKING:
    from heatmap_lib.data.loading import Dataset

__all__ = [
    "FEATURE_DAYS",
    "HEALTH_COLUMNS",
    "SIGNAL_COLUMNS",
    "UnknownEventWarning",
    "account_users",
    "accounts_with_users_who_did",
    "falling_accounts",
    "health_summary",
    "inactive_accounts",
    "latest_event_date",
    "onboarding",
    "usage_signals",
    "weekly_active_users",
]

FilterLike = FilterSet | Mapping[str, Any] | str | Path | None
DateLike = dt.date | dt.datetime | str | pd.Timestamp
FEATURE_DAYS = 90  # usage_signals: adoption breadth looks back this many days
MAX_LISTED_USERS = 50  # onboarding per account: users named in the `not_onboarded` text (all are in per_user)
TOP_EVENTS = 3  # account_users: events named in `top_events`
_DAY = dt.timedelta(days=1)

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
SIGNAL_COLUMNS: tuple[str, ...] = (
    "account_id",
    "as_of",
    "active_users",
    "active_users_prev",
    "events",
    "events_prev",
    "features_used",
    "seats",
    "seat_utilisation",
    "days_since_last_event",
    "first_event_at",
    "account_age_days",
)


class UnknownEventWarning(UserWarning):
    """An event name asked for (KPI, onboarding step, "users who did E") occurs in no usage event."""


# --------------------------------------------------------------------------------------------------------------
# inputs: the events table, the account scope, dates and event names


@dataclass(frozen=True)
class _Usage:
    """The usage events and accounts a health table covers, and what to say about the filters."""

    events: Any  # ibis.Table: usage_events of the accounts in scope, plus those with no account
    accounts: Any  # ibis.Table: accounts in scope
    filters: FilterSet
    filter_warnings: tuple[str, ...]
    filter_notes: tuple[str, ...]


def _events_table(dataset: Dataset) -> Any:
    if not dataset.has("usage_events"):
        raise HeatmapError(
            f"{dataset.path}: account health needs usage events, and this dataset has no usage_events table "
            "(add usage_events.csv or .parquet with columns account_id, user_id, event, occurred_at and "
            "optionally feature)"
        )
    return dataset.table("usage_events")


def _usage(dataset: Dataset, filters: FilterLike) -> _Usage:
    events = _events_table(dataset)
    fs = coerce(filters)
    if fs.is_empty:
        return _Usage(events, dataset.table("accounts"), fs, (), ())
    sc = scope(dataset, fs)  # unknown keys raise; values matching nothing warn (and are kept for the report)
    account_keys = [k for k in fs.criteria if k in dataset.account_columns]
    ignored = [k for k in fs.criteria if k not in dataset.account_columns]
    if fs.start or fs.end:
        ignored.append("start/end")
    notes: tuple[str, ...] = ()
    if ignored:
        notes = (f"{', '.join(ignored)}: not applied to usage (they select survey contacts and invitations)",)
    if account_keys:
        ids = sc.accounts.account_id
        events = events.filter(events.account_id.isin(ids) | events.account_id.isnull())
    return _Usage(events, sc.accounts, fs, tuple(sc.warnings), notes)


def _to_date(value: DateLike, what: str = "as_of") -> dt.date:
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise HeatmapError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def _latest(dataset: Dataset) -> dt.datetime | None:
    """The latest event's time (cheap: Parquet and DuckDB keep column statistics)."""
    events = _events_table(dataset)
    latest = events.occurred_at.max().to_pyarrow().as_py()
    return None if latest is None else pd.Timestamp(latest).to_pydatetime()


def latest_event_date(dataset: Dataset) -> dt.date | None:
    """The date of the latest usage event in the dataset (the default `as_of`), or None when there is none."""
    latest = _latest(dataset)
    return None if latest is None else latest.date()


def _resolve_as_of(dataset: Dataset, as_of: DateLike | None) -> dt.date:
    if as_of is not None:
        return _to_date(as_of)
    latest = latest_event_date(dataset)
    # no event at all: every window is empty whatever the date; today only labels the (empty) report
    return latest if latest is not None else dt.date.today()


def _until(dataset: Dataset, events: Any, end: dt.datetime) -> Any:
    """Events before `end`; the filter is left out when no event is that late (a full scan is cheaper without)."""
    latest = _latest(dataset)
    if latest is not None and latest < end:
        return events
    return events.filter(events.occurred_at < _ts(end))


def _ts(value: dt.datetime) -> Any:
    import ibis

    return ibis.literal(value, type="timestamp")


def _names(events: str | Iterable[str] | None) -> tuple[str, ...]:
    if events is None:
        return ()
    if isinstance(events, str):
        events = [events]
    out: list[str] = []
    for e in events:
        text = str(e).strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


def _check_events(dataset: Dataset, names: Sequence[str], what: str) -> list[str]:
    """Warn (and return the messages) for event names that occur in no usage event, with close matches."""
    if not names:
        return []
    known = dataset.distinct_values("usage_events", "event")
    messages = []
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        if close:
            hint = f"; did you mean {', '.join(map(repr, close))}?"
        else:
            shown = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
            hint = f" (events in the data: {shown or 'none'})"
        message = f"{what} {name!r} occurs in no usage event{hint}"
        warnings.warn(message, UnknownEventWarning, stacklevel=3)
        messages.append(message)
    return messages


def _account_columns(dataset: Dataset) -> list[str]:
    return list(dataset.account_columns)


def _group_column(dataset: Dataset, group_by: str) -> str:
    if group_by not in dataset.account_columns:
        cols = ", ".join(dataset.account_columns)
        raise HeatmapError(f"cannot group by {group_by!r}: not an accounts column (accounts columns: {cols})")
    return group_by


def _attrs(df: pd.DataFrame, usage: _Usage, **extra: Any) -> pd.DataFrame:
    df.attrs["filters"] = usage.filters.to_dict()
    df.attrs["filter_warnings"] = list(usage.filter_warnings)
    df.attrs["filter_notes"] = list(usage.filter_notes)
    df.attrs.setdefault("warnings", [])
    for key, value in extra.items():
        df.attrs[key] = value
    return df


def _unassigned(events: Any, start: dt.datetime | None, end: dt.datetime | None) -> dict[str, int]:
    """Events (and distinct users) with no account between start and end (either open)."""
    e = events.filter(events.account_id.isnull())
    if start is not None:
        e = e.filter(e.occurred_at >= _ts(start))
    if end is not None:
        e = e.filter(e.occurred_at < _ts(end))
    row = e.aggregate(n=e.count(), u=e.user_id.nunique()).to_pyarrow().to_pylist()[0]
    return {"unassigned_events": int(row["n"] or 0), "unassigned_users": int(row["u"] or 0)}


def to_pandas(expr: Any) -> pd.DataFrame:
    """`expr.to_pandas()`, the same frame, without Ibis turning each column that holds a null into Python objects.

    Ibis's DuckDB backend converts a column with any null through `to_pylist()`, row by row (at 100k accounts most
    of a health table's fetch); here every column goes through Arrow's own conversion, then Ibis's dtype mapping.
    """
    from ibis.backends.duckdb.converter import DuckDBPandasData

    table = expr.to_pyarrow()
    df = pd.DataFrame({name: col.to_pandas() for name, col in zip(table.column_names, table.columns, strict=True)})
    return expr.__pandas_result__(DuckDBPandasData.convert_table(df, expr.schema()))


def _join_parts(base: Any, parts: Sequence[Any], key: str = "account_id") -> Any:
    """`base` left-joined with each per-account part on `key`, keeping base's columns and the parts' figures."""
    out = base
    for part in parts:
        out = out.left_join(part, out[key] == part[key]).select(out, *[part[c] for c in part.columns if c != key])
    return out


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """The ratio num / den as floats, NaN where den is missing or 0."""
    n = pd.to_numeric(num, errors="coerce").astype("float64")
    d = pd.to_numeric(den, errors="coerce").astype("float64")
    return (n / d.where(d > 0)).astype("float64")


def _days_between(later: pd.Series | dt.date, earlier: pd.Series) -> pd.Series:
    """Whole calendar days from `earlier` (timestamps) to `later` (dates), NaN where `earlier` is missing."""
    e = pd.to_datetime(earlier).dt.normalize()
    lt = pd.to_datetime(later).dt.normalize() if isinstance(later, pd.Series) else pd.Timestamp(later)
    return ((lt - e) / pd.Timedelta(days=1)).astype("float64")


def _ints(df: pd.DataFrame, columns: Iterable[str]) -> None:
    for c in columns:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype("int64")


def _by_value(df: pd.DataFrame) -> pd.DataFrame:
    """Most valuable first, then by account name (case-insensitive), then id."""
    if df.empty:
        return df.reset_index(drop=True)
    order = df.assign(_name=df["account_name"].astype(str).str.casefold()).sort_values(
        ["value", "_name", "account_id"], ascending=[False, True, True], kind="stable"
    )
    return df.loc[order.index].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# the per-account health table


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


def usage_signals(
    dataset: Dataset,
    as_of: dt.date | pd.DataFrame,
    *,
    window_days: int = 28,
    accounts: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Usage signals per account as of a date, counting only events strictly before it (for renewal scoring).

    `as_of` is a date (every account in the dataset, sorted by account_id) or a DataFrame with columns
    `account_id, as_of`, one row per (account, date), e.g. one per historical renewal; rows come back in the
    input order (duplicates kept). Columns (`SIGNAL_COLUMNS`): `account_id`, `as_of` (as given), `active_users`
    and `events` in the `window_days` days before `as_of`, `active_users_prev` and `events_prev` in the window
    before that, `features_used` (distinct features in the last `FEATURE_DAYS` days), `seats`, `seat_utilisation`
    (NaN when seats are unknown or 0), `days_since_last_event` (NaN if never), `first_event_at` and
    `account_age_days` (days since the first event, NaN if never; for scaling young accounts). Events with no
    account count nowhere. `accounts` (with a date) narrows the rows to those account ids, and the events read to
    theirs, so a segment's signals cost what the segment's events do.

    Computed in the engine, no Python loop: each row is range-joined with its account's events in the last few
    months before its `as_of` (the windows, features and latest event), and with per-account monthly first/last
    event times for the older history (the first event, and the last one when the account was quiet longer).
    """
    import ibis

    if window_days < 1:
        raise HeatmapError(f"window_days must be at least 1, not {window_days}")
    ev = _events_table(dataset)
    only, acc = accounts, dataset.table("accounts")
    single = not isinstance(as_of, pd.DataFrame)
    if isinstance(as_of, pd.DataFrame):
        missing = [c for c in ("account_id", "as_of") if c not in as_of.columns]
        if missing:
            raise HeatmapError(
                f"usage_signals: the as_of table needs columns account_id and as_of (missing: {', '.join(missing)})"
            )
        given = as_of["as_of"].reset_index(drop=True)
        cutoffs = pd.Series(pd.to_datetime(given, errors="coerce"))
        if isinstance(cutoffs.dtype, pd.DatetimeTZDtype):
            cutoffs = cutoffs.dt.tz_localize(None)
        bad = given[given.notna() & cutoffs.isna()]
        if len(bad):
            raise HeatmapError(f"usage_signals: as_of {bad.iloc[0]!r} is not a date")
        ids = as_of["account_id"].astype(str).to_numpy(dtype=object)
    else:
        day = _to_date(as_of)
        if only is not None:
            ids = np.array(sorted({str(a) for a in only}), dtype=object)
        else:
            ids = acc.select("account_id").order_by("account_id").to_pandas()["account_id"].to_numpy(dtype=object)
        cutoffs = pd.Series(pd.Timestamp(_midnight(day)), index=range(len(ids)))
        given = pd.Series([day] * len(ids), dtype=object)
    cutoffs = cutoffs.astype("datetime64[us]")
    # the recent part: whole months back to cover both windows and the feature look-back
    lookback = pd.Timedelta(days=max(2 * window_days, FEATURE_DAYS))
    lower = pd.Series((cutoffs - lookback).dt.to_period("M").dt.to_timestamp().astype("datetime64[us]"))
    keys_df = pd.DataFrame(
        {"_row": np.arange(len(ids), dtype="int64"), "account_id": ids, "_cutoff": cutoffs, "_lower": lower}
    )
    keys = ibis.memtable(keys_df)
    # literal bounds on the scan, so a time-ordered source skips what no row needs
    recent_ev = ev.filter(ev.account_id.notnull())
    if cutoffs.notna().any():
        recent_ev = recent_ev.filter(
            (recent_ev.occurred_at >= _ts(lower.min().to_pydatetime()))
            & (recent_ev.occurred_at < _ts(cutoffs.max().to_pydatetime()))
        )
    j = keys.join(
        recent_ev,
        [
            keys.account_id == recent_ev.account_id,
            recent_ev.occurred_at >= keys._lower,
            recent_ev.occurred_at < keys._cutoff,
        ],
    )
    in_window = j.occurred_at >= j._cutoff - ibis.interval(days=window_days)
    in_prev = ~in_window & (j.occurred_at >= j._cutoff - ibis.interval(days=2 * window_days))
    per_user = j.group_by(["_row", "user_id"]).aggregate(
        n=j.count(where=in_window), n_prev=j.count(where=in_prev), _t0=j.occurred_at.min(), _t1=j.occurred_at.max()
    )
    recent = per_user.group_by("_row").aggregate(
        active_users=per_user.count(where=per_user.n > 0),
        active_users_prev=per_user.count(where=per_user.n_prev > 0),
        events=per_user.n.sum(),
        events_prev=per_user.n_prev.sum(),
        _recent_first=per_user._t0.min(),
        _recent_last=per_user._t1.max(),
    )
    f = j.filter((j.occurred_at >= j._cutoff - ibis.interval(days=FEATURE_DAYS)) & j.feature.notnull())
    per_feature = f.group_by(["_row", "feature"]).aggregate(n=f.count())
    features = per_feature.group_by("_row").aggregate(features_used=per_feature.count())
    older_ev = ev.filter(ev.account_id.notnull())
    if single:
        if only is not None:
            older_ev = older_ev.filter(older_ev.account_id.isin(keys.account_id))
        old = older_ev.filter(older_ev.occurred_at < _ts(lower.iloc[0].to_pydatetime())) if len(lower) else older_ev
        older = old.group_by("account_id").aggregate(_old_first=old.occurred_at.min(), _old_last=old.occurred_at.max())
        older_key = "account_id"
    else:
        month = older_ev.occurred_at.truncate("M").name("_month")
        monthly = older_ev.group_by(["account_id", month]).aggregate(
            _m_first=older_ev.occurred_at.min(), _m_last=older_ev.occurred_at.max()
        )
        o = keys.join(monthly, [keys.account_id == monthly.account_id, monthly._m_first < keys._cutoff])
        older = o.group_by("_row").aggregate(
            _old_first=o._m_first.min(), _old_last=o._m_last.max(where=o._month < o._lower)
        )
        older_key = "_row"
    seats_col = acc["seats"] if "seats" in dataset.account_columns else ibis.null("int64")
    seats = acc.select("account_id", seats=seats_col)
    out = _join_parts(keys, [recent, features], key="_row")
    out = _join_parts(out, [older], key=older_key)
    out = to_pandas(_join_parts(out, [seats])).sort_values("_row").reset_index(drop=True)
    out["as_of"] = given.to_numpy()
    _ints(out, ["active_users", "active_users_prev", "events", "events_prev", "features_used"])
    out["seats"] = pd.to_numeric(out["seats"], errors="coerce").astype("Int64")
    out["seat_utilisation"] = _ratio(out["active_users"], out["seats"])
    out["first_event_at"] = pd.to_datetime(out["_old_first"]).fillna(pd.to_datetime(out["_recent_first"]))
    last = pd.to_datetime(out["_recent_last"]).fillna(pd.to_datetime(out["_old_last"]))
    cut = pd.Series(keys_df["_cutoff"].to_numpy())
    out["days_since_last_event"] = _days_between(cut, last)
    out["account_age_days"] = _days_between(cut, out["first_event_at"])
    out = out[list(SIGNAL_COLUMNS)]
    out.attrs["window_days"] = window_days
    out.attrs["feature_days"] = FEATURE_DAYS
    return out


# --------------------------------------------------------------------------------------------------------------
# lists built on the health table


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


# --------------------------------------------------------------------------------------------------------------
# one account's users, and the weekly trend


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
