"""What every account-health table starts from: the usage events in scope, the reporting day, event names.

The events table and the accounts a filter set keeps (`_usage`, with the notes on filters that do not apply to
usage), `as_of` and its whole-day windows (`latest_event_date`, `_resolve_as_of`, `_until`), event names checked
against the data (`UnknownEventWarning` with close matches), and the small helpers the tables share: the fast
Arrow fetch (`to_pandas`), per-account joins, ratios, day counts and the standard ordering (most valuable first).
"""

from __future__ import annotations

import datetime as dt
import difflib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.filters import FilterSet, coerce, scope

if TYPE_CHECKING:
    from heatmap_lib.data.loading import Dataset

FilterLike = FilterSet | Mapping[str, Any] | str | Path | None
DateLike = dt.date | dt.datetime | str | pd.Timestamp
_DAY = dt.timedelta(days=1)


class UnknownEventWarning(UserWarning):
    """An event name asked for (KPI, onboarding step, "users who did E") occurs in no usage event."""


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
