"""The usage figures the renewal model reads (`usage_signals`): per account, strictly before each cut-off date.

Unlike the health table, `as_of` here is a cut-off (events strictly before it count), and it may differ per row
(one per historical renewal); the columns are `SIGNAL_COLUMNS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics.health.events import (
    _days_between,
    _events_table,
    _ints,
    _join_parts,
    _midnight,
    _ratio,
    _to_date,
    _ts,
    to_pandas,
)

if TYPE_CHECKING:
    from heatmap_lib.data.loading import Dataset

FEATURE_DAYS = 90  # usage_signals: adoption breadth looks back this many days
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
