"""The renewal heat map (DESIGN.md sections 6 and 10): point-in-time signals, calibrated risk and opportunity.

Three layers, each usable on its own:

* `signals(dataset, as_of)`: per account (or per account and date), what the account looked like strictly before
  a reference date, from whichever tables the dataset has: usage velocity and breadth, seat utilisation, payment
  timeliness, support sentiment and escalations, NPS, decision makers' NPS, silence, value, tenure, time to
  renewal. Counting runs in the engine as Ibis expressions (range joins for per-row dates); what reaches pandas
  is one row per (account, date).
* `calibrate(dataset)`: one observation per historical renewal, taken from the signals as they stood before its
  date; two L2-regularised logistic regressions (churn -> risk, expansion -> opportunity) whose regularisation is
  chosen by time-ordered cross-validation and whose quality is reported on the latest renewals held out. The
  result is a `Weights` file: standardisation parameters, weights per segment, correlations, validation.
* `score(dataset, weights)`: risk and opportunity 0-100 (the calibrated probabilities of churn and expansion at the
  next renewal, x 100) with each signal's contribution to the linear predictor, so a score traces to its causes.

A table the weights need but the dataset lacks (say, no tickets) is not read as zero. Its signals' terms are
replaced by their conditional expectation given the signals that are present (the calibration's correlations),
which moves their weight onto correlated signals, and the result is shrunk towards the base rate by the
logistic-normal factor 1 / sqrt(1 + pi v / 8), where v is the variance of the part that is now unknown. No refit is
needed; with no correlations stored (a hand-written file) this reduces to dropping the missing terms. A value
missing for one account in a table that is present (no invoice due, nobody answered yet) is read as the
calibration average (contribution 0), as it was during calibration. Scores say which signals were used.

Views at the end are pure Bokeh builders (a table in, a figure out): the segment x renewal-month grid coloured by
value at risk, the risk-versus-opportunity quadrant chart, a contribution waterfall (also for the X-Ray), and HTML
tables with customer text escaped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import html
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from heatmap_lib.core.exceptions import FilterWarning, HeatmapError
from heatmap_lib.metrics.health import SIGNAL_COLUMNS, to_pandas

__all__ = [
    "AT_RISK_COLUMNS",
    "CLIP",
    "FORMAT",
    "QUADRANTS",
    "SIGNALS",
    "STEP_COLUMNS",
    "WATERMELON_COLUMNS",
    "Model",
    "Scaling",
    "SegmentModel",
    "Signal",
    "Weights",
    "WeightsError",
    "account_contributions",
    "at_risk_list",
    "available_signals",
    "calibrate",
    "data_as_of",
    "describe_scores",
    "format_signal",
    "html_table",
    "quadrant_chart",
    "renewal_grid",
    "renewal_grid_table",
    "risk_quadrants",
    "score",
    "signals",
    "standardise",
    "top_drivers",
    "waterfall_chart",
    "watermelons",
]

FORMAT = "heatmap-renewal-weights/1"
CLIP = 4.0  # standardised signals are clipped to +-4 so one extreme account cannot dominate its own score
WINDOW_DAYS = 28  # usage: the recent window, compared with the one before it
FEATURE_DAYS = 90  # adoption breadth: distinct features used in this many days
INVOICE_DAYS = 365  # payment timeliness: invoices due in this many days
TICKET_DAYS = 180  # support: tickets opened in this many days
SURVEY_DAYS = 365  # surveys: invitations sent and answers given in this many days
SURVEY_GRACE_DAYS = 21  # an invitation counts towards silence once it has had this long to be answered
MIN_COVERED_DAYS = 7  # a usage window an account existed in for fewer days gives no velocity
MAX_SILENT_DAYS = 365  # days since the last event are capped here (and used when there was never an event)
MIN_RENEWALS = 40  # calibration needs at least this many renewals ...
MIN_CLASS = 10  # ... and this many churned and not churned
SEGMENT_MIN_RENEWALS = 150  # a segment gets its own model with this many renewals ...
SEGMENT_MIN_CLASS = 25  # ... and this many of each class (churned / not, expanded / not); else the overall model
HOLDOUT_SHARE = 0.25  # the latest quarter of the renewals is held out for validation
CV_SPLITS = 5
C_GRID: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
BASELINE_SIGNAL = "usage_volume"  # the one-signal baseline: total events in the 28 days before
BOOTSTRAP_RESAMPLES = 1000  # the held-out AUC intervals: paired percentile bootstrap over the held-out renewals ...
BOOTSTRAP_SEED = 18  # ... with a fixed seed, so the same data give the same intervals
BETTER = "better than counting events"
WORSE = "worse than counting events"
SAME = "not distinguishable from counting events"


class WeightsError(HeatmapError):
    """A renewal weights file is malformed, or calibration cannot run on the data given."""


# --------------------------------------------------------------------------------------------------------------
# the signals


@dataclass(frozen=True)
class Signal:
    """One renewal signal: where it comes from, how it is transformed before standardising, how it reads."""

    name: str
    label: str
    table: str  # the table it needs ("accounts" for account columns)
    column: str | None = None  # the accounts column it needs, if any
    transform: str = "identity"  # "identity" or "log1p" (heavy-tailed counts)
    fitted: bool = True  # calibrate fits a weight for it
    unit: str = ""  # how a raw value is shown: "", "%", "days", "money", "ratio"
    about: str = ""


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "usage_velocity",
        "Usage velocity",
        "usage_events",
        transform="identity",
        unit="ratio",
        about="log ratio of the last 28 days to the 28 days before, events and active users averaged (per day "
        "the account existed in each window)",
    ),
    Signal("usage_volume", "Events (28 days)", "usage_events", transform="log1p", about="events in the last 28 days"),
    Signal(
        "adoption_breadth",
        "Features used (90 days)",
        "usage_events",
        transform="log1p",
        about="distinct product features used in the last 90 days",
    ),
    Signal(
        "seat_utilisation",
        "Seat utilisation",
        "usage_events",
        column="seats",
        unit="%",
        about="active users in the last 28 days per seat (capped at 2)",
    ),
    Signal(
        "days_since_last_event",
        "Days since last use",
        "usage_events",
        transform="log1p",
        unit="days",
        about="days since the account's last event (365 when never, capped at 365)",
    ),
    Signal(
        "days_late",
        "Payment delay",
        "invoices",
        transform="log1p",
        unit="days",
        about="mean days late of the invoices due in the last 12 months and paid before the date",
    ),
    Signal(
        "unpaid_invoices",
        "Overdue invoices",
        "invoices",
        transform="log1p",
        about="invoices due in the last 12 months and still unpaid at the date (paid later counts as unpaid)",
    ),
    Signal(
        "ticket_sentiment",
        "Support sentiment",
        "tickets",
        about="mean sentiment (-1..1) of tickets opened in the last 180 days",
    ),
    Signal(
        "escalations",
        "Escalations (180 days)",
        "tickets",
        transform="log1p",
        about="escalated tickets opened in the last 180 days",
    ),
    Signal("nps", "NPS", "invitations", about="account NPS of the answers given in the last 12 months"),
    Signal("dm_nps", "Decision makers' NPS", "invitations", about="decision makers' NPS, last 12 months"),
    Signal(
        "silence",
        "Silence",
        "invitations",
        unit="%",
        about="share of invitations (sent 3 weeks to 12 months before) never answered",
    ),
    Signal("value", "Account value", "accounts", column="value", transform="log1p", unit="money"),
    Signal(
        "tenure_years",
        "Tenure",
        "accounts",
        column="customer_since",
        transform="log1p",
        unit="years",
        about="years since customer_since",
    ),
    Signal(
        "days_to_renewal",
        "Days to renewal",
        "accounts",
        column="renewal_date",
        fitted=False,  # every calibration observation is taken at its renewal: no variation to fit
        unit="days",
        about="days to the next renewal (informational: not fitted, see calibrate)",
    ),
)
SIGNAL_BY_NAME: dict[str, Signal] = {s.name: s for s in SIGNALS}
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "log1p": lambda x: np.log1p(np.clip(x, 0, None)),
}
# what `health.usage_signals` returns besides account_id and as_of (one list, kept in health.py)
USAGE_COLUMNS: tuple[str, ...] = tuple(c for c in SIGNAL_COLUMNS if c not in ("account_id", "as_of"))


def available_signals(dataset: Any) -> tuple[list[str], dict[str, str]]:
    """Which signals the dataset can provide, and for each one it cannot, why (a missing table or column)."""
    present = {t for t in ("usage_events", "tickets", "invoices", "invitations") if _has_rows(dataset, t)}
    acc = dataset.table("accounts")
    cols = [c for c in ("seats", "customer_since", "renewal_date") if c in acc.columns]
    filled = {}
    if cols:
        row = acc.aggregate(**{c: acc[c].count() for c in cols}).to_pandas().iloc[0]
        filled = {c: int(row[c]) > 0 for c in cols}
    ok, missing = [], {}
    for s in SIGNALS:
        if s.table != "accounts" and s.table not in present:
            missing[s.name] = f"no {s.table} table" if not dataset.has(s.table) else f"the {s.table} table is empty"
        elif s.column and s.column != "value" and not filled.get(s.column, False):
            missing[s.name] = f"no accounts.{s.column} values"
        else:
            ok.append(s.name)
    return ok, missing


def _has_rows(dataset: Any, table: str) -> bool:
    return bool(dataset.has(table) and dataset.rows.get(table, 0) > 0)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise HeatmapError(f"as_of: {value!r} is not a date (YYYY-MM-DD)") from None


def _stamp(values: Any) -> pd.Series:
    """Dates as a datetime64[ns] Series at midnight (the one representation used for merging on as_of)."""
    return pd.to_datetime(pd.Series(values)).dt.normalize().astype("datetime64[ns]")


def data_as_of(dataset: Any) -> dt.date:
    """The date a dataset describes: the day after its latest dated record (usage, tickets, payments, answers).

    Used when no `as_of` is given, so a dataset exported a while ago is scored as it stood then, and the same data
    always gives the same scores (the wall clock is read only when the dataset holds no dated record at all).
    """
    import ibis

    candidates = []
    for table, column in (
        ("usage_events", "occurred_at"),
        ("tickets", "opened_at"),
        ("invoices", "paid_at"),
        ("invitation_facts", "responded_at"),
        ("invitation_facts", "sent_at"),
        ("renewals", "renewal_date"),
    ):
        if table == "invitation_facts" or _has_rows(dataset, table):
            t = dataset.table(table)
            candidates.append(t.aggregate(m=t[column].cast("timestamp").max()).m.as_scalar())
    today = dt.date.today()
    if not candidates:
        return today
    latest = ibis.greatest(*candidates) if len(candidates) > 1 else candidates[0]
    value = dataset.ibis.execute(latest)
    if value is None or pd.isna(value):
        return today
    return pd.Timestamp(value).date() + dt.timedelta(days=1)


def _keys(dataset: Any, as_of: Any, accounts: Any = None) -> tuple[pd.DataFrame, dt.date | None]:
    """The (account_id, as_of) rows to compute, and the one date when every account shares it."""
    if isinstance(as_of, pd.DataFrame):
        missing = {"account_id", "as_of"} - set(as_of.columns)
        if missing:
            raise HeatmapError(f"as_of table: needs the columns account_id and as_of (missing: {', '.join(missing)})")
        keys = as_of[["account_id", "as_of"]].copy()
        keys["account_id"] = keys["account_id"].astype(str)
        keys["as_of"] = _stamp(keys["as_of"]).to_numpy()
        if keys["as_of"].isna().any():
            raise HeatmapError("as_of table: every row needs a date")
        return keys.drop_duplicates().reset_index(drop=True), None
    at = data_as_of(dataset) if as_of is None else _date(as_of)
    acc = accounts if accounts is not None else dataset.table("accounts")
    ids = acc.select("account_id").order_by("account_id").to_pandas()
    ids["as_of"] = pd.Timestamp(at)
    ids["as_of"] = ids["as_of"].astype("datetime64[ns]")
    return ids, at


def _before(table: Any, time_col: str, keys: Any, at: dt.date | None, days: int | None) -> Any:
    """Rows of `table` strictly before each key's as_of (and at most `days` before it), with an `as_of` column.

    One shared date becomes plain literal filters the engine pushes into its scan, and `keys` (when given: the
    accounts of a segment) a semi-join, so a segment's work follows the segment; dates per row become a range
    join on account_id (any Ibis backend does this; DuckDB with a hash join and a residual filter).
    """
    import ibis

    col = table[time_col]
    is_ts = col.type().is_timestamp()
    if at is not None:
        hi = ibis.literal(dt.datetime.combine(at, dt.time())) if is_ts else ibis.literal(at)
        cond = [col < hi]
        if days is not None:
            cond.append(col >= hi - ibis.interval(days=days))
        if keys is not None:
            cond.append(table.account_id.isin(keys.account_id))
        return table.filter(*cond).mutate(as_of=ibis.literal(at, type="date"))
    k_as_of = keys.as_of.cast("timestamp") if is_ts else keys.as_of
    preds = [keys.account_id == table.account_id, col < k_as_of]
    if days is not None:
        preds.append(col >= k_as_of - ibis.interval(days=days))
    joined = keys.join(table, preds)
    return joined.drop(*[c for c in joined.columns if c.endswith("_right")])


def _fetch(expr: Any) -> pd.DataFrame:
    df = to_pandas(expr)
    df["as_of"] = _stamp(df["as_of"]).to_numpy()
    df["account_id"] = df["account_id"].astype(str)
    return df


def _usage_frame(dataset: Any, keys_df: pd.DataFrame, at: dt.date | None) -> pd.DataFrame:
    """The usage counts per (account, as_of), from the account-health module (`health.usage_signals`)."""
    from heatmap_lib.metrics.health import usage_signals

    arg = at if at is not None else keys_df.assign(as_of=keys_df["as_of"].dt.date)
    ids = keys_df["account_id"].tolist() if at is not None and len(keys_df) < dataset.rows["accounts"] else None
    df = usage_signals(dataset, arg, window_days=WINDOW_DAYS, accounts=ids).copy()
    df["as_of"] = _stamp(df["as_of"]).to_numpy()
    df["account_id"] = df["account_id"].astype(str)
    return df.drop_duplicates(["account_id", "as_of"])


def _invoice_frame(dataset: Any, keys: Any, at: dt.date | None) -> pd.DataFrame:
    import ibis

    inv = _before(dataset.table("invoices"), "due_date", keys, at, INVOICE_DAYS)
    paid = inv.paid_at.notnull() & (inv.paid_at < inv.as_of)
    # paid invoices give the delay, unpaid ones the count: kept apart, the two do not share (and split) one effect
    late = ibis.ifelse(paid, ibis.greatest(inv.paid_at.delta(inv.due_date, unit="day"), 0), ibis.null("int64"))
    agg = inv.group_by(["account_id", "as_of"]).aggregate(
        invoices_due=inv.count(), days_late=late.cast("float64").mean(), unpaid_invoices=inv.count(where=~paid)
    )
    return _fetch(agg)


def _ticket_frame(dataset: Any, keys: Any, at: dt.date | None) -> pd.DataFrame:
    tk = _before(dataset.table("tickets"), "opened_at", keys, at, TICKET_DAYS)
    agg = tk.group_by(["account_id", "as_of"]).aggregate(
        tickets=tk.count(),
        ticket_sentiment=tk.sentiment.mean(),
        escalations=tk.count(where=tk.escalated.fill_null(False)),
    )
    return _fetch(agg)


def _survey_frame(dataset: Any, keys: Any, at: dt.date | None) -> pd.DataFrame:
    import ibis

    f = _before(dataset.table("invitation_facts"), "sent_at", keys, at, SURVEY_DAYS)
    answered = f.score.notnull() & f.responded_at.notnull() & (f.responded_at < f.as_of)
    counted = f.sent_at < f.as_of - ibis.interval(days=SURVEY_GRACE_DAYS)
    dm = f.role == "decision_maker"
    agg = f.group_by(["account_id", "as_of"]).aggregate(
        invited=f.count(where=counted),
        unanswered=f.count(where=counted & ~answered),
        responses=f.count(where=answered),
        promoters=f.count(where=answered & (f.score >= 9)),
        detractors=f.count(where=answered & (f.score <= 6)),
        dm_responses=f.count(where=answered & dm),
        dm_promoters=f.count(where=answered & dm & (f.score >= 9)),
        dm_detractors=f.count(where=answered & dm & (f.score <= 6)),
    )
    return _fetch(agg)


def _next_renewal(dataset: Any, keys: Any, at: dt.date | None) -> pd.DataFrame:
    """The first historical renewal on or after each as_of: its date and the value that stood before it."""
    r = dataset.table("renewals")
    if at is not None:
        if keys is not None:
            r = r.filter(r.account_id.isin(keys.account_id))
        r = r.filter(r.renewal_date >= _date_literal(at)).mutate(as_of=_date_literal(at))
    else:
        joined = keys.join(r, [keys.account_id == r.account_id, r.renewal_date >= keys.as_of])
        r = joined.drop(*[c for c in joined.columns if c.endswith("_right")])
    agg = r.group_by(["account_id", "as_of"]).aggregate(
        history_renewal=r.renewal_date.min(), value_before=r.value_before.argmin(r.renewal_date)
    )
    return _fetch(agg)


def _date_literal(value: dt.date) -> Any:
    """An Ibis date literal."""
    import ibis

    return ibis.literal(value, type="date")


def _roll_forward(dates: pd.Series, as_of: pd.Series) -> pd.Series:
    """Each date moved forward by whole years until it is on or after its as_of (a contract's next anniversary)."""
    d = _stamp(dates)
    out = d.copy()
    behind = d.notna() & (d < as_of)
    if behind.any():
        base, at = d[behind], as_of[behind]
        day = base.dt.day.where(~((base.dt.month == 2) & (base.dt.day == 29)), 28)

        def shifted(years: pd.Series) -> pd.Series:
            return pd.to_datetime(pd.DataFrame({"year": base.dt.year + years, "month": base.dt.month, "day": day}))

        same = shifted(at.dt.year - base.dt.year)
        moved = same.where(same >= at, shifted(at.dt.year - base.dt.year + 1))
        out[behind] = moved.to_numpy()
    return out


def signals(dataset: Any, as_of: Any = None, *, accounts: Any = None) -> pd.DataFrame:
    """The renewal signals per account at a date, from data strictly before it; one row per (account, as_of).

    as_of: a date (every account; None: `data_as_of(dataset)`), or a DataFrame with `account_id` and `as_of`
        (one row per account and date, e.g. each historical renewal).
    accounts: an Ibis accounts expression narrowing which accounts to compute (a scope's accounts).

    Columns: account_id, as_of, one column per signal in `SIGNALS` (raw values, before transform and
    standardisation; NaN where unknown), and the counts they come from. `.attrs["available"]` lists the signals
    the dataset could provide and `.attrs["missing"]` why the others could not.
    """
    import ibis

    keys_df, at = _keys(dataset, as_of, accounts)
    keys = None
    if at is None:
        mem = keys_df.assign(as_of=keys_df["as_of"].dt.date)
        keys = ibis.memtable(mem, schema={"account_id": "string", "as_of": "date"})
    elif len(keys_df) < dataset.rows["accounts"]:  # a segment: each table read for its accounts only
        keys = ibis.memtable(keys_df[["account_id"]], schema={"account_id": "string"})
    ok, missing = available_signals(dataset)
    df = keys_df.copy()

    acc = dataset.table("accounts")
    cols = [c for c in ("value", "seats", "customer_since", "renewal_date") if c in acc.columns]
    info = to_pandas(acc.select("account_id", *cols))
    info["account_id"] = info["account_id"].astype(str)
    info = info.rename(columns={"value": "current_value", "renewal_date": "contract_renewal"})
    df = df.merge(info, on="account_id", how="left")

    # value and next renewal as they stood at as_of: a later historical renewal knows the value before it
    nxt = _next_renewal(dataset, keys, at) if _has_rows(dataset, "renewals") else None
    if nxt is not None:
        df = df.merge(nxt, on=["account_id", "as_of"], how="left")
    else:
        df["history_renewal"], df["value_before"] = pd.NaT, np.nan
    df["value"] = df["value_before"].where(df["value_before"].notna(), df["current_value"]).astype(float)
    contract = _roll_forward(df["contract_renewal"], df["as_of"]) if "contract_renewal" in df else None
    hist = _stamp(df["history_renewal"])
    nxt_date = hist if contract is None else hist.where(hist.notna(), contract)
    df["next_renewal"] = nxt_date.to_numpy()
    df["days_to_renewal"] = (df["next_renewal"] - df["as_of"]).dt.days.astype(float)
    since = _stamp(df["customer_since"]) if "customer_since" in df else pd.Series(pd.NaT, index=df.index)
    df["tenure_years"] = ((df["as_of"] - since).dt.days / 365.25).clip(lower=0)

    if "usage_events" not in {SIGNAL_BY_NAME[s].table for s in ok}:
        for c in USAGE_COLUMNS:
            if c not in df:
                df[c] = np.nan
    else:
        usage = _usage_frame(dataset, keys_df, at).drop(columns=["seats"], errors="ignore")
        df = df.merge(usage, on=["account_id", "as_of"], how="left")
        if "customer_since" in df:  # the contract's start is a better age than the first event seen
            contract_age = (df["as_of"] - _stamp(df["customer_since"])).dt.days.astype(float)
            df["account_age_days"] = contract_age.where(contract_age.notna(), df["account_age_days"])
        _usage_derived(df)
    if "invoices" in {SIGNAL_BY_NAME[s].table for s in ok}:
        df = df.merge(_invoice_frame(dataset, keys, at), on=["account_id", "as_of"], how="left")
        df["invoices_due"] = df["invoices_due"].fillna(0).astype("int64")
        df["unpaid_invoices"] = df["unpaid_invoices"].fillna(0).astype("int64")
    if "tickets" in {SIGNAL_BY_NAME[s].table for s in ok}:
        df = df.merge(_ticket_frame(dataset, keys, at), on=["account_id", "as_of"], how="left")
        df["tickets"] = df["tickets"].fillna(0).astype("int64")
        df["escalations"] = df["escalations"].fillna(0).astype("int64")
    if "invitations" in {SIGNAL_BY_NAME[s].table for s in ok}:
        df = df.merge(_survey_frame(dataset, keys, at), on=["account_id", "as_of"], how="left")
        counts = ["invited", "unanswered", "responses", "promoters", "detractors"]
        counts += ["dm_responses", "dm_promoters", "dm_detractors"]
        for c in counts:
            df[c] = df[c].fillna(0).astype("int64")
        with np.errstate(invalid="ignore", divide="ignore"):
            r, dr = df["responses"], df["dm_responses"]
            df["nps"] = np.where(r > 0, 100.0 * (df["promoters"] - df["detractors"]) / r.where(r > 0), np.nan)
            df["dm_nps"] = np.where(
                dr > 0, 100.0 * (df["dm_promoters"] - df["dm_detractors"]) / dr.where(dr > 0), np.nan
            )
            inv = df["invited"]
            df["silence"] = np.where(inv > 0, df["unanswered"] / inv.where(inv > 0), np.nan)
    for s in SIGNALS:
        if s.name not in df or s.name not in ok:
            df[s.name] = np.nan
        df[s.name] = pd.to_numeric(df[s.name], errors="coerce").astype(float)
    front = ["account_id", "as_of", *(s.name for s in SIGNALS)]
    drop = ["current_value", "value_before", "history_renewal", "contract_renewal", "customer_since"]
    rest = [c for c in df.columns if c not in front and c not in drop]
    out = df[front + rest].reset_index(drop=True)
    out.attrs["available"] = ok
    out.attrs["missing"] = missing
    out.attrs["as_of"] = at.isoformat() if at is not None else None
    return out


def _usage_derived(df: pd.DataFrame) -> None:
    """Velocity (scaled for young accounts), utilisation cap and recency cap, in place."""
    age = pd.to_numeric(df["account_age_days"], errors="coerce")
    w = float(WINDOW_DAYS)
    # days of each window the account existed in (unknown age: assume both windows were covered)
    cur_cov = np.clip(age.fillna(2 * w), 0, w)
    prev_cov = np.clip(age.fillna(2 * w) - w, 0, w)
    usable = (cur_cov >= MIN_COVERED_DAYS) & (prev_cov >= MIN_COVERED_DAYS)
    ratios = []
    for now, before in (("events", "events_prev"), ("active_users", "active_users_prev")):
        cur = df[now].fillna(0) * w / cur_cov.where(cur_cov > 0, 1)
        prev = df[before].fillna(0) * w / prev_cov.where(prev_cov > 0, 1)
        ratios.append(np.log((cur + 1.0) / (prev + 1.0)))
    # events and active users together: one signal, so the two do not split (and blur) the same effect
    df["usage_velocity"] = np.where(usable, (ratios[0] + ratios[1]) / 2.0, np.nan)
    df["usage_volume"] = df["events"].fillna(0).astype(float)
    df["adoption_breadth"] = df["features_used"].fillna(0).astype(float)
    df["seat_utilisation"] = pd.to_numeric(df["seat_utilisation"], errors="coerce").clip(upper=2.0)
    never = df["days_since_last_event"].isna()
    df["days_since_last_event"] = df["days_since_last_event"].clip(upper=MAX_SILENT_DAYS)
    df.loc[never, "days_since_last_event"] = float(MAX_SILENT_DAYS)


# --------------------------------------------------------------------------------------------------------------
# weights


@dataclass(frozen=True)
class Scaling:
    """How a raw signal becomes a standardised one: z = (transform(x) - mean) / scale, clipped to +-CLIP."""

    mean: float
    scale: float
    transform: str = "identity"

    def apply(self, x: Any) -> np.ndarray:
        """Standardise raw values; NaN stays NaN."""
        v = TRANSFORMS[self.transform](np.asarray(x, dtype=float))
        return np.clip((v - self.mean) / self.scale, -CLIP, CLIP)


@dataclass(frozen=True)
class Model:
    """One logistic model: an intercept and a weight per standardised signal (missing weights are 0)."""

    intercept: float
    weights: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the weights file."""
        return {"intercept": _r(self.intercept), "weights": {k: _r(v) for k, v in self.weights.items()}}


@dataclass(frozen=True)
class SegmentModel:
    """The risk and opportunity models of one segment; None means "use the overall model" (recorded in `note`)."""

    risk: Model | None
    opportunity: Model | None
    n_renewals: int | None = None
    n_churned: int | None = None
    n_expanded: int | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the weights file."""
        out: dict[str, Any] = {}
        for key in ("n_renewals", "n_churned", "n_expanded"):
            if getattr(self, key) is not None:
                out[key] = int(getattr(self, key))
        out["risk"] = self.risk.to_dict() if self.risk else "overall"
        out["opportunity"] = self.opportunity.to_dict() if self.opportunity else "overall"
        if self.note:
            out["note"] = self.note
        return out


def _r(x: float) -> float:
    return float(round(float(x), 6))


@dataclass(frozen=True)
class Weights:
    """Renewal weights: standardisation per signal, the overall and per-segment models, correlations, validation.

    Saved as YAML (`save`, `load`); the file is what `heatmap calibrate` writes and the renewal notebook reads.
    `correlation` (signal -> signal -> r, from calibration) lets scoring re-weight when a table is missing.
    """

    signals: Mapping[str, Scaling]
    overall: SegmentModel
    segments: Mapping[str, SegmentModel] = field(default_factory=dict)
    segment_by: str | None = None
    correlation: Mapping[str, Mapping[str, float]] | None = None
    validation: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def model(self, segment: Any, kind: str) -> tuple[Model, str]:
        """The model of `kind` ("risk" or "opportunity") for a segment value, and the name of its source."""
        seg = self.segments.get(str(segment)) if segment is not None and not _isna(segment) else None
        own = getattr(seg, kind) if seg is not None else None
        if own is not None:
            return own, str(segment)
        model = getattr(self.overall, kind)
        if model is None:
            raise WeightsError(f"the weights have no overall {kind} model")
        return model, "overall"

    def to_dict(self) -> dict[str, Any]:
        """The weights as the plain mapping the YAML file holds."""
        out: dict[str, Any] = {"format": FORMAT}
        out.update({k: v for k, v in self.meta.items() if k not in ("format",)})
        out["segment_by"] = self.segment_by
        out["signals"] = {
            name: {"transform": s.transform, "mean": _r(s.mean), "scale": _r(s.scale)}
            for name, s in self.signals.items()
        }
        out["models"] = {
            "overall": self.overall.to_dict(),
            "segments": {k: v.to_dict() for k, v in self.segments.items()},
        }
        if self.correlation:
            names = list(self.correlation)
            out["correlation"] = {
                "signals": names,
                "matrix": [[_r(self.correlation[a].get(b, 0.0)) for b in names] for a in names],
            }
        if self.validation is not None:
            out["validation"] = _plain(self.validation)
        return out

    def save(self, path: str | Path) -> Path:
        """Write the weights as YAML (safe_dump), atomically; return the path."""
        p = Path(path)
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        header = (
            "# Renewal weights for heatmap (DESIGN.md section 6): written by `heatmap calibrate`, read by the renewal\n"
            "# notebook. z = (transform(x) - mean) / scale per signal; risk and opportunity = 100 x logistic(\n"
            "# intercept + sum of weight x z). Edit the weights by hand if you like; `validation` describes the fit.\n"
        )
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
        text = header + body
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Weights:
        """Read a weights file (YAML, safe loader); `WeightsError` names the file and what is wrong."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise WeightsError(f"{p}: cannot read the weights file ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            reason = str(exc).replace("\n", " ")
            raise WeightsError(f"{p}: not valid YAML ({reason})") from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Any, source: str = "weights") -> Weights:
        """Build weights from the mapping a file holds, checking every part (`WeightsError` on the first problem)."""
        if not isinstance(data, Mapping):
            raise WeightsError(f"{source}: expected a mapping with signals and models, got {type(data).__name__}")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise WeightsError(f"{source}: format {fmt!r} is not supported (expected {FORMAT!r})")
        known = {"format", "created", "data", "data_fingerprint", "as_of", "segment_by", "signals", "models"}
        known |= {"correlation", "validation", "method"}
        unknown = [str(k) for k in data if k not in known]
        if unknown:
            raise WeightsError(f"{source}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
        raw_signals = _mapping(data.get("signals"), f"{source}: signals")
        scalings: dict[str, Scaling] = {}
        for name, spec in raw_signals.items():
            where = f"{source}: signals.{name}"
            if name not in SIGNAL_BY_NAME:
                raise WeightsError(f"{where}: unknown signal (known: {', '.join(SIGNAL_BY_NAME)})")
            spec = _mapping(spec, where)
            transform = spec.get("transform", SIGNAL_BY_NAME[name].transform)
            if transform not in TRANSFORMS:
                raise WeightsError(f"{where}.transform: {transform!r} is not one of {', '.join(TRANSFORMS)}")
            scale = _number(spec.get("scale", 1.0), f"{where}.scale")
            if scale <= 0:
                raise WeightsError(f"{where}.scale: must be greater than 0, not {scale}")
            scalings[str(name)] = Scaling(_number(spec.get("mean", 0.0), f"{where}.mean"), scale, transform)
        models = _mapping(data.get("models"), f"{source}: models")
        if "overall" not in models:
            raise WeightsError(f"{source}: models.overall is missing")
        overall = _segment_model(models["overall"], f"{source}: models.overall", scalings, overall=True)
        segs = _mapping(models.get("segments") or {}, f"{source}: models.segments")
        segments = {
            str(k): _segment_model(v, f"{source}: models.segments.{k}", scalings, overall=False)
            for k, v in segs.items()
        }
        segment_by = data.get("segment_by")
        if segment_by is not None and not isinstance(segment_by, str):
            raise WeightsError(f"{source}: segment_by must be an accounts column name, not {segment_by!r}")
        if segments and not segment_by:
            raise WeightsError(f"{source}: models.segments needs segment_by (the accounts column they are for)")
        correlation = _correlation(data.get("correlation"), f"{source}: correlation")
        validation = data.get("validation")
        if validation is not None and not isinstance(validation, Mapping):
            raise WeightsError(f"{source}: validation must be a mapping")
        meta = {k: data[k] for k in ("created", "data", "data_fingerprint", "as_of", "method") if k in data}
        return cls(scalings, overall, segments, segment_by, correlation, validation, meta)


def _isna(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _plain(x: Any) -> Any:
    """Numpy and pandas values as plain Python (YAML safe_dump writes only plain types)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return None if math.isnan(float(x)) else _r(float(x))
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, dt.date):
        return x.isoformat()
    return x


def _mapping(x: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(x, Mapping):
        got = "nothing" if x is None else type(x).__name__
        raise WeightsError(f"{where}: expected a mapping, got {got}")
    return x


def _number(x: Any, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
        raise WeightsError(f"{where}: expected a number, got {x!r}")
    return float(x)


def _count(x: Any, where: str) -> int | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise WeightsError(f"{where}: expected a whole number >= 0, got {x!r}")
    return int(x)


def _model(x: Any, where: str, scalings: Mapping[str, Scaling]) -> Model:
    spec = _mapping(x, where)
    unknown = [str(k) for k in spec if k not in ("intercept", "weights")]
    if unknown:
        raise WeightsError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: intercept, weights)")
    intercept = _number(spec.get("intercept"), f"{where}.intercept")
    weights = {}
    for name, w in _mapping(spec.get("weights") or {}, f"{where}.weights").items():
        if name not in scalings:
            raise WeightsError(f"{where}.weights.{name}: no standardisation for this signal in signals")
        weights[str(name)] = _number(w, f"{where}.weights.{name}")
    return Model(intercept, weights)


def _segment_model(x: Any, where: str, scalings: Mapping[str, Scaling], *, overall: bool) -> SegmentModel:
    spec = _mapping(x, where)
    known = ("risk", "opportunity", "n_renewals", "n_churned", "n_expanded", "note")
    unknown = [str(k) for k in spec if k not in known]
    if unknown:
        raise WeightsError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    parts: dict[str, Model | None] = {}
    for kind in ("risk", "opportunity"):
        value = spec.get(kind, "overall")
        if value == "overall":
            if overall:
                raise WeightsError(f"{where}.{kind}: the overall model needs intercept and weights")
            parts[kind] = None
        else:
            parts[kind] = _model(value, f"{where}.{kind}", scalings)
    return SegmentModel(
        parts["risk"],
        parts["opportunity"],
        _count(spec.get("n_renewals"), f"{where}.n_renewals"),
        _count(spec.get("n_churned"), f"{where}.n_churned"),
        _count(spec.get("n_expanded"), f"{where}.n_expanded"),
        str(spec["note"]) if spec.get("note") else None,
    )


def _correlation(x: Any, where: str) -> dict[str, dict[str, float]] | None:
    if x is None:
        return None
    spec = _mapping(x, where)
    names = spec.get("signals")
    matrix = spec.get("matrix")
    if not isinstance(names, list) or not isinstance(matrix, list) or len(matrix) != len(names):
        raise WeightsError(f"{where}: expected signals (a list) and matrix (one row per signal)")
    out: dict[str, dict[str, float]] = {}
    for a, row in zip(names, matrix, strict=True):
        if not isinstance(row, list) or len(row) != len(names):
            raise WeightsError(f"{where}.matrix: the row of {a} needs {len(names)} numbers")
        out[str(a)] = {str(b): _number(v, f"{where}.matrix[{a}][{b}]") for b, v in zip(names, row, strict=True)}
    return out


# --------------------------------------------------------------------------------------------------------------
# standardising and scoring


def standardise(frame: pd.DataFrame, weights: Weights) -> pd.DataFrame:
    """The signals of `frame` standardised with the weights' saved parameters (NaN where unknown)."""
    out = pd.DataFrame(index=frame.index)
    for name, s in weights.signals.items():
        out[name] = s.apply(frame[name]) if name in frame else np.nan
    return out


def _adjusted(model: Model, available: set[str], corr: Mapping[str, Mapping[str, float]] | None) -> Model:
    """The model re-weighted for missing signals: their terms replaced by the conditional expectation.

    With correlations R (standardised signals), present signals P and missing M: weights on P become
    b_P + R_PP^-1 R_PM b_M, and the whole predictor is shrunk by 1 / sqrt(1 + pi v / 8), v = the variance of the
    missing part left unexplained. Without correlations the missing terms are simply dropped (v still shrinks).
    """
    names = [n for n, w in model.weights.items() if w != 0.0]
    miss = [n for n in names if n not in available]
    if not miss:
        return model
    have = [n for n in names if n in available]

    def r(a: str, b: str) -> float:
        if a == b:
            return 1.0
        if corr and a in corr and b in corr[a]:
            return float(corr[a][b])
        return 0.0

    b_m = np.array([model.weights[n] for n in miss])
    r_mm = np.array([[r(a, b) for b in miss] for a in miss])
    if have:
        r_pp = np.array([[r(a, b) for b in have] for a in have]) + 1e-6 * np.eye(len(have))
        r_pm = np.array([[r(a, b) for b in miss] for a in have])
        solved = np.linalg.solve(r_pp, r_pm)  # R_PP^-1 R_PM
        b_p = np.array([model.weights[n] for n in have]) + solved @ b_m
        v = float(b_m @ (r_mm - r_pm.T @ solved) @ b_m)
    else:
        b_p = np.zeros(0)
        v = float(b_m @ r_mm @ b_m)
    kappa = 1.0 / math.sqrt(1.0 + math.pi * max(v, 0.0) / 8.0)
    weights = {n: float(kappa * w) for n, w in zip(have, b_p, strict=True)}
    return Model(kappa * model.intercept, weights)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _weights_file(path: Path) -> Weights:
    """`Weights.load`, read once per file state: a batch scores every segment with the same file."""
    try:
        st = path.stat()
    except OSError:
        return Weights.load(path)  # its own clear error
    return _weights_cached(str(path.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)


@functools.lru_cache(maxsize=8)
def _weights_cached(path: str, mtime_ns: int, size: int, inode: int) -> Weights:
    """The weights of one file state (the key's stat fields change when the file does)."""
    return Weights.load(path)


def score(
    dataset: Any,
    weights: Weights | str | Path,
    *,
    as_of: Any = None,
    filters: Any = None,
) -> pd.DataFrame:
    """Risk and opportunity (0-100) per account in scope, with the segment model used and every contribution.

    weights: a `Weights` or the path of a weights file. as_of: the reference date (default `data_as_of`).
    filters: a filter set narrowing the accounts (account columns only: the signals always read every survey,
        as the calibration did). Accounts whose last renewal before as_of was a churn are left out.

    Columns: the account's columns, `segment` (the weights' segment_by value) and `model` (the segment model
    used, or "overall"), `next_renewal`, `renewal_month`, `days_to_renewal`, `risk`, `opportunity`,
    `value_at_risk` (value x risk / 100), `risk_logit` = `risk_base` + the sum of `risk__<signal>`, and the same
    for opportunity, then the raw signal values. Sorted by risk, highest first. `.attrs` holds `signals_used`,
    `signals_missing` (signal -> why), `reweighting` (how missing tables were handled), `as_of` and the weights'
    validation summary.
    """
    import ibis

    from heatmap_lib.filters import scope

    w = weights if isinstance(weights, Weights) else _weights_file(Path(weights))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FilterWarning)
        sc = scope(dataset, filters)
    at = data_as_of(dataset) if as_of is None else _date(as_of)
    accounts = sc.accounts
    churned = 0
    if _has_rows(dataset, "renewals"):
        r = dataset.table("renewals")
        past = r.filter(r.renewal_date <= ibis.literal(at, type="date"))
        last = past.group_by("account_id").aggregate(outcome=past.outcome.argmax(past.renewal_date))
        gone = last.filter(last.outcome == "churned").select("account_id")
        before = accounts
        accounts = accounts.anti_join(gone, "account_id")
        churned = int(before.count().to_pyarrow().as_py()) - int(accounts.count().to_pyarrow().as_py())
    sig = signals(dataset, at, accounts=accounts)
    acc = to_pandas(accounts)
    acc["account_id"] = acc["account_id"].astype(str)
    # the account's own columns, then the signals (value as it stood at as_of, which is today's value unless
    # the history holds a renewal after as_of)
    shared = [c for c in sig.columns if c in acc.columns and c not in ("account_id", "value")]
    out = acc.drop(columns=["value"]).merge(sig.drop(columns=shared), on="account_id", how="left")
    ok = set(sig.attrs["available"])
    used = [n for n in w.signals if n in ok]
    missing = {n: sig.attrs["missing"].get(n, "not in the data") for n in w.signals if n not in ok}

    z = standardise(out, w).fillna(0.0)
    seg_col = w.segment_by
    if seg_col and seg_col not in out:
        raise WeightsError(f"the weights are per {seg_col!r}, which is not an accounts column of this dataset")
    seg = out[seg_col].astype(object) if seg_col else pd.Series([None] * len(out), index=out.index, dtype=object)
    out["segment"] = seg.where(seg.notna(), None)
    seg_keys = seg.map(lambda v: None if _isna(v) else str(v))
    for kind in ("risk", "opportunity"):
        logit = np.zeros(len(out))
        base = np.zeros(len(out))
        contrib = {n: np.zeros(len(out)) for n in used}
        source = np.empty(len(out), dtype=object)
        for key, idx in seg_keys.groupby(seg_keys.fillna("\x00"), sort=False).groups.items():
            rows = out.index.get_indexer(idx)
            model, name = w.model(None if key == "\x00" else key, kind)
            adj = _adjusted(model, ok, w.correlation)
            base[rows] = adj.intercept
            total = np.full(len(rows), adj.intercept)
            for n, wt in adj.weights.items():
                c = wt * z[n].to_numpy()[rows]
                contrib[n][rows] = c
                total += c
            logit[rows] = total
            source[rows] = name
        out[f"{kind}_logit"] = logit
        out[f"{kind}_base"] = base
        out[kind] = 100.0 * _sigmoid(logit)
        for n in used:
            out[f"{kind}__{n}"] = contrib[n]
        if kind == "risk":
            out["model"] = source
    out["value_at_risk"] = out["value"] * out["risk"] / 100.0
    out["renewal_month"] = out["next_renewal"].dt.strftime("%Y-%m").where(out["next_renewal"].notna(), None)
    account_cols = [c for c in dataset.account_columns if c in acc.columns and c not in ("value", "renewal_date")]
    front = [*account_cols[:2], "value", *account_cols[2:], "segment", "model", "next_renewal", "renewal_month"]
    front += ["days_to_renewal", "risk", "opportunity", "value_at_risk", "risk_logit", "risk_base"]
    front += [f"risk__{n}" for n in used] + ["opportunity_logit", "opportunity_base"]
    front += [f"opportunity__{n}" for n in used]
    front += [s.name for s in SIGNALS if s.name not in front]
    front = list(dict.fromkeys(c for c in front if c in out))
    front += [c for c in out.columns if c not in front and c != "as_of"]  # the counts behind the signals
    result = out[front].sort_values(["risk", "account_id"], ascending=[False, True], kind="stable")
    result = result.reset_index(drop=True)
    method = (
        "none needed: every signal of the weights was present"
        if not missing
        else "missing signals replaced by their conditional expectation given the present ones "
        "(calibration correlations), predictor shrunk by 1/sqrt(1 + pi v/8)"
        if w.correlation
        else "missing signals dropped (no correlations in the weights), predictor shrunk by 1/sqrt(1 + pi v/8)"
    )
    result.attrs.update(
        {
            "as_of": at.isoformat(),
            "signals_used": used,
            "signals_missing": missing,
            "reweighting": method,
            "segment_by": seg_col,
            "churned_left_out": churned,
            "filters": sc.filters.to_dict(),
            "filter_warnings": [str(c.message) for c in caught] or list(sc.warnings),
            "validation": dict(w.validation or {}),
        }
    )
    return result


def account_contributions(scores: pd.DataFrame, account_id: Any = None, *, kind: str = "risk") -> pd.DataFrame:
    """One account's waterfall steps: the segment base, each signal's contribution (largest first), the total.

    account_id: default the first row of `scores` (the riskiest, as `score` sorts). Columns: `step` (base, signal,
    total), `signal`, `label`, `value_text` (the raw signal), `contribution`, `start`, `end` (on the log-odds
    scale), `contribution_text`, and in `.attrs` the account's name, score and `kind`.
    """
    if kind not in ("risk", "opportunity"):
        raise ValueError(f"kind must be 'risk' or 'opportunity', not {kind!r}")
    if not len(scores):
        raise HeatmapError("no scored accounts")
    if account_id is None:
        row = scores.iloc[0]
    else:
        hit = scores[scores["account_id"].astype(str) == str(account_id)]
        if not len(hit):
            raise HeatmapError(f"account {account_id!r} is not among the scored accounts")
        row = hit.iloc[0]
    return waterfall(row, list(scores.columns), kind=kind)


def waterfall(row: Mapping[Any, Any] | pd.Series, columns: Sequence[str], *, kind: str = "risk") -> pd.DataFrame:
    """`account_contributions` for one row of `score`'s table given as a mapping (a record; `columns`: the table's)."""
    steps, attrs = waterfall_columns(row, columns, kind=kind)
    df = pd.DataFrame(steps)
    df.attrs.update(attrs)
    return df


def waterfall_columns(
    row: Mapping[Any, Any] | pd.Series, columns: Sequence[str], *, kind: str = "risk"
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """`waterfall`'s frame as plain columns (name -> list) and its attrs: what an X-Ray page renders, no pandas."""
    prefix = f"{kind}__"
    names = [c[len(prefix) :] for c in columns if c.startswith(prefix)]
    steps = sorted(
        (("signal", n, SIGNAL_BY_NAME[n].label, format_signal(n, row.get(n)), float(row[prefix + n])) for n in names),
        key=lambda s: -abs(s[4]),
    )
    model = row.get("model", "overall")
    total = float(row[f"{kind}_logit"])
    cols: list[tuple[Any, ...]] = [
        ("base", "", f"Base ({model})", "", float(row[f"{kind}_base"])),
        *steps,
        ("total", "", f"{kind.capitalize()} {row[kind]:.0f}/100", "", total),
    ]
    contribution = [c[4] for c in cols]
    ends = np.cumsum(contribution[:-1]).tolist()
    frame = {
        "step": [c[0] for c in cols],
        "signal": [c[1] for c in cols],
        "label": [c[2] for c in cols],
        "value_text": [c[3] for c in cols],
        "contribution": contribution,
        "start": [0.0, *ends[:-1], 0.0],
        "end": [*ends, total],
        "contribution_text": [_signed(c) for c in contribution],
    }
    attrs = {
        "account_id": str(row["account_id"]),
        "account_name": str(row.get("account_name", row["account_id"])),
        "kind": kind,
        "score": float(row[kind]),
        "logit": total,
    }
    return frame, attrs


def _signed(x: float) -> str:
    return "0.00" if abs(x) < 0.005 else f"{x:+.2f}".replace("-", "\u2212")


def format_signal(name: str, value: Any) -> str:
    """A raw signal value as a reader would say it ("12 days", "35%", "1,200"); "unknown" when missing."""
    if value is None or _isna(value):
        return "unknown"
    v = float(value)
    unit = SIGNAL_BY_NAME[name].unit if name in SIGNAL_BY_NAME else ""
    if unit == "%":
        return f"{v:.0%}"
    if unit == "money":
        return f"{v:,.0f}"
    if unit == "days":
        return f"{v:,.0f} days"
    if unit == "years":
        return f"{v:.1f} years"
    if unit == "ratio":
        return f"\u00d7{math.exp(v):.2f}"
    return f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2f}"


# --------------------------------------------------------------------------------------------------------------
# calibration


def _design(frame: pd.DataFrame, names: Sequence[str], scal: Mapping[str, Scaling]) -> np.ndarray:
    cols = [np.nan_to_num(scal[n].apply(frame[n].to_numpy(dtype=float)), nan=0.0) for n in names]
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0))


def _scalings(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, Scaling]:
    out = {}
    for n in names:
        t = SIGNAL_BY_NAME[n].transform
        v = TRANSFORMS[t](frame[n].to_numpy(dtype=float))
        v = v[np.isfinite(v)]
        mean = float(v.mean()) if len(v) else 0.0
        sd = float(v.std()) if len(v) > 1 else 0.0
        out[n] = Scaling(mean, sd if sd > 1e-9 else 1.0, t)
    return out


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000).fit(x, y)


def _choose_c(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]]:
    """The regularisation with the best mean held-out log loss over time-ordered folds (rows sorted by date)."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import TimeSeriesSplit

    losses: dict[float, list[float]] = {c: [] for c in C_GRID}
    splits = min(CV_SPLITS, max(2, len(y) // 40))
    for train, test in TimeSeriesSplit(n_splits=splits).split(x):
        if len(set(y[train])) < 2:
            continue
        for c in C_GRID:
            p = _fit(x[train], y[train], c).predict_proba(x[test])[:, 1]
            losses[c].append(log_loss(y[test], p, labels=[0, 1]))
    means = {c: float(np.mean(v)) for c, v in losses.items() if v}
    if not means:
        return 1.0, {}
    best = min(means, key=lambda c: (round(means[c], 6), c))
    return best, {str(c): _r(v) for c, v in means.items()}


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(set(y)) == 2 else None


def _bootstrap_aucs(y: np.ndarray, scores: Sequence[np.ndarray], resamples: int, seed: int) -> np.ndarray:
    """AUCs of each score on the same resamples of the rows (paired), one row per usable resample.

    Resamples holding one class only have no AUC and are drawn again (up to twice as many draws in all).
    """
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    n = len(y)
    out: list[np.ndarray] = []
    draws = 0
    while len(out) < resamples and draws < 2 * resamples:
        take = min(resamples - len(out), 200)
        idx = rng.integers(0, n, size=(take, n))
        draws += take
        yy = y[idx]
        pos = yy.sum(axis=1)
        ok = (pos > 0) & (pos < n)
        if not ok.any():
            continue
        idx, yy, pos = idx[ok], yy[ok], pos[ok]
        aucs = []
        for p in scores:
            ranks = rankdata(p[idx], axis=1)  # ties share their mean rank, as roc_auc_score counts them half
            aucs.append(((ranks * yy).sum(axis=1) - pos * (pos + 1) / 2) / (pos * (n - pos)))
        out.extend(np.column_stack(aucs))
    return np.array(out[:resamples]).reshape(-1, len(scores))


def _percentile_interval(values: np.ndarray) -> list[float] | None:
    """The 95% percentile interval of bootstrap values, rounded to 3 decimals (None without values)."""
    if not len(values):
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 3), round(float(high), 3)]


def auc_comparison(
    y: np.ndarray,
    model: np.ndarray,
    baseline: np.ndarray | None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Held-out AUC of the model and the baseline with bootstrap 95% intervals, their difference and a verdict.

    The resamples are paired (both scores on the same rows), so the difference's interval accounts for the two
    AUCs moving together. The verdict is `BETTER` when the difference's interval lies above 0, `WORSE` when
    below, `SAME` otherwise.
    """
    y = np.asarray(y, dtype=int)
    auc, base = _auc(y, model), (_auc(y, baseline) if baseline is not None else None)
    out: dict[str, Any] = {
        "auc": None if auc is None else round(auc, 3),
        "auc_interval": None,
        "baseline_auc": None if base is None else round(base, 3),
        "baseline_auc_interval": None,
        "difference": None,
        "difference_interval": None,
        "verdict": "no verdict: the hold-out has one outcome only" if auc is None else "no baseline to compare",
        "bootstrap": {"resamples": resamples, "seed": seed, "method": "paired percentile bootstrap, 95%"},
    }
    if auc is None:
        return out
    scores = [np.asarray(model, dtype=float)]
    if base is not None and baseline is not None:
        scores.append(np.asarray(baseline, dtype=float))
    boot = _bootstrap_aucs(y, scores, resamples, seed)
    out["auc_interval"] = _percentile_interval(boot[:, 0])
    if base is None:
        return out
    diff = boot[:, 0] - boot[:, 1]
    out["baseline_auc_interval"] = _percentile_interval(boot[:, 1])
    out["difference"] = round(auc - base, 3)
    out["difference_interval"] = _percentile_interval(diff)
    low, high = out["difference_interval"] or [0.0, 0.0]
    out["verdict"] = BETTER if low > 0 else WORSE if high < 0 else SAME
    return out


def validation_report(validation: Mapping[str, Any] | None) -> list[str]:
    """The validation of a weights file as a few plain lines: counts, AUCs with intervals, verdict, calibration."""
    v = validation or {}
    if not v:
        return ["No validation recorded with these weights."]
    ho = v.get("holdout") or {}
    fit = v.get("fit") or {}

    def rng(x: Any, sign: str = "") -> str:
        return f" (95% interval {x[0]:{sign}.2f} to {x[1]:{sign}.2f})" if x else ""

    n_fit = fit.get("n_renewals", (v.get("n_renewals") or 0) - (ho.get("n_renewals") or 0))
    c_fit = fit.get("n_churned", (v.get("n_churned") or 0) - (ho.get("n_churned") or 0))
    lines = [
        f"Renewals: {v.get('n_renewals', 0):,} ({v.get('n_churned', 0):,} churned); fitted on the earliest "
        f"{n_fit:,} ({c_fit:,} churned), held out the latest {ho.get('n_renewals', 0):,} "
        f"({ho.get('n_churned', 0):,} churned)" + (f" from {ho['from']}" if ho.get("from") else "") + "."
    ]
    auc = v.get("auc")
    if auc is None:
        lines.append("Held-out AUC: undefined (the hold-out has one outcome only).")
    else:
        lines.append(f"Held-out AUC {auc:.2f}{rng(v.get('auc_interval'))}.")
    base = v.get("baseline_auc")
    if base is not None:
        lines.append(
            f"Counting events alone (events in the 28 days before): AUC {base:.2f}"
            f"{rng(v.get('baseline_auc_interval'))}."
        )
    if v.get("difference") is not None:
        lines.append(f"Difference {v['difference']:+.2f}{rng(v.get('difference_interval'), '+')}.")
    if auc is not None and "verdict" not in v:
        lines.append("No intervals or verdict recorded: calibrate again with this version for them.")
    if v.get("verdict"):
        lines.append(
            f"Verdict: the model is {v['verdict']}."
            if v["verdict"] in (BETTER, WORSE, SAME)
            else f"Verdict: {v['verdict']}."
        )
    table = v.get("calibration") or []
    if table:
        lines.append("Calibration on the hold-out (decile of predicted churn: renewals, predicted, observed):")
        lines += [
            f"  {row['decile']:>2}: {row['n']:>5,}  {row['predicted']:6.1%}  {row['observed']:6.1%}" for row in table
        ]
    return lines


def validation_html(validation: Mapping[str, Any] | None) -> str:
    """`validation_report` as escaped HTML: the lines as paragraphs and the calibration as a table."""
    v = validation or {}
    lines = [line for line in validation_report(v) if not line.startswith("  ")]
    table = v.get("calibration") or []
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines if not line.startswith("Calibration on"))
    if table:
        rows = "".join(
            f"<tr><td>{int(r['decile'])}</td><td>{int(r['n']):,}</td><td>{float(r['predicted']):.1%}</td>"
            f"<td>{float(r['observed']):.1%}</td></tr>"
            for r in table
        )
        body += (
            "<table><thead><tr><th>Decile of predicted churn</th><th>Renewals held out</th><th>Predicted</th>"
            f"<th>Observed</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return body


def _calibration_table(y: np.ndarray, p: np.ndarray) -> list[dict[str, Any]]:
    """Predicted versus observed churn by decile of the prediction (fewer bins when predictions tie)."""
    if not len(y):
        return []
    bins = pd.qcut(pd.Series(p).rank(method="first"), q=min(10, len(y)), labels=False)
    out = []
    for b, idx in pd.Series(range(len(y))).groupby(bins.to_numpy()).groups.items():
        rows = np.asarray(list(idx))
        out.append(
            {
                "decile": int(str(b)) + 1,
                "n": len(rows),
                "predicted": _r(p[rows].mean()),
                "observed": _r(y[rows].mean()),
            }
        )
    return out


def _to_model(fitted: Any, names: Sequence[str]) -> Model:
    coef = fitted.coef_[0]
    return Model(float(fitted.intercept_[0]), {n: float(c) for n, c in zip(names, coef, strict=True)})


def _prior_model(y: np.ndarray) -> Model:
    """An intercept-only model at the (smoothed) observed rate, for when a class is too rare to fit weights."""
    rate = (float(y.sum()) + 0.5) / (len(y) + 1.0)
    return Model(math.log(rate / (1 - rate)), {})


def calibrate(
    dataset: Any,
    *,
    segment_by: str | None = None,
    as_of: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Weights:
    """Fit the renewal weights on the renewal history (`heatmap calibrate`); see the module docstring.

    One observation per historical renewal (before `as_of`, default every one), its signals taken strictly before
    the renewal's date. Churn (risk) and expansion (opportunity) each get an L2 logistic regression on the
    standardised signals; the regularisation is chosen by time-ordered cross-validation (TimeSeriesSplit over the
    renewals sorted by date) on the earliest 75%, and `validation` reports the held-out AUC on the latest 25%,
    the calibration by decile and a one-signal baseline (events in the 28 days before). The weights kept are then
    refitted on every renewal. segment_by: an accounts column; segments with too few renewals or churns use the
    overall model.
    """
    say = progress or (lambda _msg: None)
    if not _has_rows(dataset, "renewals"):
        raise WeightsError(f"{dataset.path}: no renewal history (a renewals table with rows) to calibrate on")
    r = dataset.table("renewals")
    if as_of is not None:
        r = r.filter(r.renewal_date < _date_literal(_date(as_of)))
    obs = r.select("account_id", "renewal_date", "outcome").to_pandas()
    obs["account_id"] = obs["account_id"].astype(str)
    obs["as_of"] = _stamp(obs["renewal_date"]).to_numpy()
    obs = obs.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)
    obs = obs.drop_duplicates(["account_id", "as_of"], keep="last").reset_index(drop=True)
    y_churn = (obs["outcome"] == "churned").to_numpy(dtype=int)
    y_exp = (obs["outcome"] == "expanded").to_numpy(dtype=int)
    n, n_churned = len(obs), int(y_churn.sum())
    if n < MIN_RENEWALS or n_churned < MIN_CLASS or n - n_churned < MIN_CLASS:
        raise WeightsError(
            f"too few renewals to calibrate: {n} renewals, {n_churned} churned (need at least {MIN_RENEWALS} "
            f"renewals and {MIN_CLASS} churned and not churned)"
        )
    if segment_by is not None and segment_by not in dataset.account_columns:
        raise WeightsError(
            f"--segment-by {segment_by!r} is not an accounts column ({', '.join(dataset.account_columns)})"
        )

    start = time.perf_counter()
    sig = signals(dataset, obs[["account_id", "as_of"]])
    frame = obs.merge(sig, on=["account_id", "as_of"], how="left")
    say(f"signals for {n:,} renewals in {time.perf_counter() - start:.1f}s")
    names = []
    for s in SIGNALS:
        if s.fitted and s.name in sig.attrs["available"]:
            v = TRANSFORMS[s.transform](frame[s.name].to_numpy(dtype=float))
            v = v[np.isfinite(v)]
            if len(v) > 1 and v.std() > 1e-9:
                names.append(s.name)

    # validation: earliest 75% to choose and fit, latest 25% held out
    cut = math.floor(n * (1 - HOLDOUT_SHARE))
    train, hold = frame.iloc[:cut], frame.iloc[cut:]
    scal_t = _scalings(train, names)
    x_tr, x_ho = _design(train, names, scal_t), _design(hold, names, scal_t)
    yc_tr, yc_ho = y_churn[:cut], y_churn[cut:]
    ye_tr, ye_ho = y_exp[:cut], y_exp[cut:]
    c_risk, cv_risk = _choose_c(x_tr, yc_tr)
    p_ho = _fit(x_tr, yc_tr, c_risk).predict_proba(x_ho)[:, 1]
    pb = None
    if BASELINE_SIGNAL in names:
        j = names.index(BASELINE_SIGNAL)
        pb = _fit(x_tr[:, [j]], yc_tr, 1.0).predict_proba(x_ho[:, [j]])[:, 1]
    compared = auc_comparison(yc_ho, p_ho, pb)
    auc, baseline_auc = compared["auc"], compared["baseline_auc"]
    exp_ok = min(int(y_exp.sum()), n - int(y_exp.sum())) >= MIN_CLASS
    c_opp, opp_auc = 1.0, None
    cv_opp: dict[str, float] = {}
    if exp_ok and len(set(ye_tr)) == 2:
        c_opp, cv_opp = _choose_c(x_tr, ye_tr)
        opp_auc = _auc(ye_ho, _fit(x_tr, ye_tr, c_opp).predict_proba(x_ho)[:, 1])
        opp_auc = None if opp_auc is None else round(opp_auc, 3)
    say(f"validated on {len(yc_ho):,} held-out renewals in {time.perf_counter() - start:.1f}s")

    # the weights kept: standardised on every renewal and refitted on all of them
    scal = _scalings(frame, names)
    x = _design(frame, names, scal)
    risk = _to_model(_fit(x, y_churn, c_risk), names)
    opp = _to_model(_fit(x, y_exp, c_opp), names) if exp_ok else _prior_model(y_exp)
    overall = SegmentModel(
        risk,
        opp,
        n,
        n_churned,
        int(y_exp.sum()),
        None if exp_ok else f"too few expansions ({int(y_exp.sum())}) to fit weights: the base rate only",
    )
    segments: dict[str, SegmentModel] = {}
    if segment_by:
        acc = dataset.table("accounts").select("account_id", segment_by).to_pandas()
        acc["account_id"] = acc["account_id"].astype(str)
        seg = frame[["account_id"]].merge(acc, on="account_id", how="left")[segment_by].to_numpy(dtype=object)
        for value in sorted({str(v) for v in seg if not _isna(v)}):
            mask = np.array([not _isna(v) and str(v) == value for v in seg])
            segments[value] = _segment_fit(x[mask], y_churn[mask], y_exp[mask], names, c_risk, c_opp)
    corr = None
    if len(names) > 1:
        m = np.corrcoef(x, rowvar=False)
        m = np.nan_to_num(m, nan=0.0)
        corr = {a: {b: float(m[i, k]) for k, b in enumerate(names)} for i, a in enumerate(names)}
    validation = {
        "auc": auc,
        "auc_interval": compared["auc_interval"],
        "n_renewals": n,
        "n_churned": n_churned,
        "n_expanded": int(y_exp.sum()),
        "fit": {"n_renewals": int(cut), "n_churned": int(yc_tr.sum())},
        "holdout": {
            "from": obs["as_of"].iloc[cut].date().isoformat() if cut < n else None,
            "n_renewals": int(n - cut),
            "n_churned": int(yc_ho.sum()),
        },
        "calibration": _calibration_table(yc_ho, p_ho),
        "baseline": {"signal": BASELINE_SIGNAL, "auc": baseline_auc},
        "baseline_auc": baseline_auc,
        "baseline_auc_interval": compared["baseline_auc_interval"],
        "difference": compared["difference"],
        "difference_interval": compared["difference_interval"],
        "verdict": compared["verdict"],
        "bootstrap": compared["bootstrap"],
        "opportunity_auc": opp_auc,
        "regularisation": {
            "method": f"L2 logistic regression; C by mean log loss over TimeSeriesSplit({CV_SPLITS}) of the "
            "earliest 75% of renewals sorted by date",
            "C_risk": c_risk,
            "C_opportunity": c_opp,
            "cv_log_loss_risk": cv_risk,
            "cv_log_loss_opportunity": cv_opp,
        },
        "signals_missing": sig.attrs["missing"],
        "not_fitted": [s.name for s in SIGNALS if s.name not in names],
    }
    meta = {
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "data": str(dataset.path),
        "as_of": _date(as_of).isoformat() if as_of is not None else None,
        "method": "one observation per historical renewal, signals strictly before its date; weights refitted on "
        "all renewals after validation",
    }
    with contextlib.suppress(OSError, AttributeError):  # a dataset opened from a prepared copy has no files
        meta["data_fingerprint"] = dataset.fingerprint()
    say(f"calibrated in {time.perf_counter() - start:.1f}s")
    return Weights(scal, overall, segments, segment_by, corr, validation, meta)


def _segment_fit(
    x: np.ndarray, yc: np.ndarray, ye: np.ndarray, names: Sequence[str], c_risk: float, c_opp: float
) -> SegmentModel:
    n, nc, ne = len(yc), int(yc.sum()), int(ye.sum())
    notes = []
    risk = opp = None
    if n >= SEGMENT_MIN_RENEWALS and min(nc, n - nc) >= SEGMENT_MIN_CLASS:
        risk = _to_model(_fit(x, yc, c_risk), names)
    else:
        notes.append(f"risk: overall model ({n} renewals, {nc} churned)")
    if n >= SEGMENT_MIN_RENEWALS and min(ne, n - ne) >= SEGMENT_MIN_CLASS:
        opp = _to_model(_fit(x, ye, c_opp), names)
    else:
        notes.append(f"opportunity: overall model ({n} renewals, {ne} expanded)")
    note = (
        "; ".join(notes) + f" (a segment model needs {SEGMENT_MIN_RENEWALS} renewals and {SEGMENT_MIN_CLASS} of each)"
    )
    return SegmentModel(risk, opp, n, nc, ne, note if notes else None)


# --------------------------------------------------------------------------------------------------------------
# tables for the views


QUADRANTS: tuple[str, ...] = ("Rescue", "Protect", "Grow", "Maintain")
QUADRANT_COLORS: dict[str, str] = {"Rescue": "#d62728", "Protect": "#ff7f0e", "Grow": "#2ca02c", "Maintain": "#9e9e9e"}
QUADRANT_ABOUT: dict[str, str] = {
    "Rescue": "high risk, low opportunity",
    "Protect": "high risk, high opportunity",
    "Grow": "low risk, high opportunity",
    "Maintain": "low risk, low opportunity",
}


def risk_quadrants(scores: pd.DataFrame) -> tuple[pd.Series, float, float]:
    """Each account's quadrant (Rescue, Protect, Grow, Maintain) and the two guides it is placed by.

    The guides are the historical rates the weights were fitted on (churned and expanded share of renewals, from
    `scores.attrs["validation"]`): above a guide an account is more likely than the average renewal to churn or
    to expand. Without them (hand-written weights) the medians of the accounts shown.
    """
    v = scores.attrs.get("validation") or {}
    n = v.get("n_renewals") or 0
    if n and v.get("n_churned") is not None and v.get("n_expanded") is not None:
        r_mid, o_mid = 100.0 * v["n_churned"] / n, 100.0 * v["n_expanded"] / n
    else:
        r_mid = float(scores["risk"].median()) if len(scores) else 50.0
        o_mid = float(scores["opportunity"].median()) if len(scores) else 50.0
    high_r = scores["risk"] >= r_mid
    high_o = scores["opportunity"] >= o_mid
    q = np.where(high_r, np.where(high_o, "Protect", "Rescue"), np.where(high_o, "Grow", "Maintain"))
    return pd.Series(q, index=scores.index, name="quadrant", dtype=object), r_mid, o_mid


def renewal_grid_table(
    scores: pd.DataFrame, *, by: str | None = None, months: int = 12, as_of: Any = None
) -> pd.DataFrame:
    """Accounts, value and value at risk per segment and renewal month (the next `months`, then later, no date).

    by: the accounts column for the rows (default `segment`, the weights' segment column). Columns: `segment`,
    `month` (YYYY-MM, "later" or "no date"), `accounts`, `value`, `value_at_risk`, `mean_risk`; every segment x
    month cell is present (zero when empty). `.attrs["months"]` holds the column order.
    """
    col = by or "segment"
    if col not in scores:
        raise HeatmapError(f"cannot group the renewal grid by {col!r}: not a column of the scores")
    at = pd.Timestamp(_date(as_of or scores.attrs.get("as_of") or dt.date.today()))
    first = at.to_period("M")
    labels = [str(first + i) for i in range(months)]
    month_label = scores["renewal_month"].astype(object).to_numpy()
    nxt = pd.to_datetime(scores["next_renewal"])
    later = nxt.notna() & (nxt.dt.to_period("M") > first + (months - 1))
    month = np.where(nxt.isna(), "no date", np.where(later, "later", month_label))
    seg = scores[col].astype(object).where(scores[col].notna(), "(none)").astype(str)
    frame = pd.DataFrame(
        {
            "segment": seg.to_numpy(),
            "month": month,
            "value": scores["value"].to_numpy(dtype=float),
            "value_at_risk": scores["value_at_risk"].to_numpy(dtype=float),
            "risk": scores["risk"].to_numpy(dtype=float),
        }
    )
    agg = frame.groupby(["segment", "month"]).agg(
        accounts=("value", "size"),
        value=("value", "sum"),
        value_at_risk=("value_at_risk", "sum"),
        mean_risk=("risk", "mean"),
    )
    order = [*labels, "later", "no date"]
    segments = sorted(set(seg), key=str.casefold)
    full = pd.MultiIndex.from_product([segments, order], names=["segment", "month"])
    out = agg.reindex(full).reset_index()
    out["accounts"] = out["accounts"].fillna(0).astype("int64")
    out[["value", "value_at_risk"]] = out[["value", "value_at_risk"]].fillna(0.0)
    out.attrs["months"] = order
    out.attrs["segments"] = segments
    out.attrs["by"] = col
    # the first month counts only the renewals from as_of on: marked partial (never left out: no account is hidden)
    from heatmap_lib.core.periods import period_completeness

    starts = [(first + i).start_time.date() for i in range(months)]
    ends = [(first + i).end_time.date() for i in range(months)]
    periods = period_completeness(starts, ends, data_first=at.date(), data_last=ends[-1] if ends else at.date())
    partial = {labels[i]: r for i, r in enumerate(periods.to_dict(orient="records")) if not r["complete"]}
    out["complete"] = ~out["month"].isin(list(partial))
    out.attrs["partial_months"] = {
        m: f"from {at.date()} only ({r['days_covered']} of {r['days']} days)" for m, r in partial.items()
    }
    window = f"Renewals from {at.date()} to {ends[-1]} by month, then later" if ends else "Renewals"
    notes = [f"{m} counts the renewals {why}" for m, why in out.attrs["partial_months"].items()]
    out.attrs["window_note"] = window + (
        "; " + "; ".join(notes) + ": marked partial (dashed outline), not a quiet month."
        if notes
        else "; every month is whole."
    )
    return out


def watermelons(scores: pd.DataFrame, summary: pd.DataFrame, *, min_risk: float | None = None) -> pd.DataFrame:
    """Accounts green on NPS (the heat map's band) but high on renewal risk: "green outside, red inside".

    summary: `metrics.account_summary` of the same accounts. High risk: `min_risk` or above, by default the top
    quarter of the scored accounts' risk. Sorted by value at risk, largest first.
    """
    threshold = float(scores["risk"].quantile(0.75)) if min_risk is None and len(scores) else (min_risk or 0.0)
    band = summary[["account_id", "band", "nps", "responses"]].copy()
    band["account_id"] = band["account_id"].astype(str)
    # the heat map's NPS and answers (all in scope, as the band) replace the 12-month signal columns of that name
    df = scores.drop(columns=["nps", "responses"], errors="ignore").merge(band, on="account_id", how="inner")
    df = df[(df["band"] == "green") & (df["risk"] >= threshold)]
    df = df.assign(drivers=top_drivers(df))
    df = df.sort_values(["value_at_risk", "account_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df.attrs["min_risk"] = threshold
    return df


def top_drivers(scores: pd.DataFrame, *, kind: str = "risk", n: int = 3) -> pd.Series:
    """Per account, the labels of the signals pushing its score up the most (e.g. "Payment delay, Silence")."""
    prefix = f"{kind}__"
    cols = [c for c in scores.columns if c.startswith(prefix)]
    if not cols or not len(scores):
        return pd.Series([""] * len(scores), index=scores.index, dtype=object)
    values = scores[cols].to_numpy(dtype=float)
    labels = np.array([SIGNAL_BY_NAME[c[len(prefix) :]].label for c in cols], dtype=object)
    order = np.argsort(-values, axis=1)[:, :n]
    out = []
    for i, idx in enumerate(order):
        out.append(", ".join(labels[j] for j in idx if values[i, j] > 0.05))
    return pd.Series(out, index=scores.index, dtype=object)


AT_RISK_COLUMNS: dict[str, str] = {
    "account_name": "Account",
    "segment": "Segment",
    "account_manager": "Account manager",
    "value": "Value",
    "next_renewal": "Next renewal",
    "risk": "Risk",
    "value_at_risk": "Value at risk",
    "opportunity": "Opportunity",
    "drivers": "Raising the risk most",
}
WATERMELON_COLUMNS: dict[str, str] = {
    "account_name": "Account",
    "account_manager": "Account manager",
    "value": "Value",
    "nps": "NPS",
    "responses": "Answers",
    "risk": "Risk",
    "value_at_risk": "Value at risk",
    "drivers": "Raising the risk most",
}
STEP_COLUMNS: dict[str, str] = {"label": "Signal", "value_text": "Value", "contribution_text": "Contribution"}


def at_risk_list(scores: pd.DataFrame, *, top: int | None = 25) -> pd.DataFrame:
    """The accounts with the most value at risk, each with the signals raising its risk most (`drivers`)."""
    df = scores.sort_values(["value_at_risk", "account_id"], ascending=[False, True], kind="stable")
    df = df.head(top) if top is not None else df
    df = df.assign(drivers=top_drivers(df)).reset_index(drop=True)
    df.attrs = dict(scores.attrs)
    return df


def html_table(frame: pd.DataFrame, columns: Mapping[str, str], *, max_rows: int | None = None) -> str:
    """A plain HTML table of some columns (key -> header), numbers formatted, every cell escaped."""
    df = frame[[c for c in columns if c in frame]].copy()
    if max_rows is not None:
        df = df.head(max_rows)
    for c in df.columns:
        if c in ("value", "value_at_risk"):
            df[c] = [_money(v) for v in df[c]]
        elif c in ("risk", "opportunity", "nps", "mean_risk"):
            df[c] = ["" if _isna(v) else f"{float(v):.0f}" for v in df[c]]
        elif pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].dt.strftime("%Y-%m-%d").fillna("")
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), "")
    df = df.rename(columns=dict(columns))
    return df.to_html(index=False, escape=True, border=0, classes="hm-table")


def _money(x: Any) -> str:
    return "" if x is None or _isna(x) else f"{float(x):,.0f}"


# --------------------------------------------------------------------------------------------------------------
# views: pure Bokeh builders (a table in, a figure out; they never call show())


GRID_PALETTE: tuple[str, ...] = (
    "#fff5f0",
    "#fee0d2",
    "#fcbba1",
    "#fc9272",
    "#fb6a4a",
    "#ef3b2c",
    "#cb181d",
    "#a50f15",
    "#67000d",
)


def renewal_grid(grid: pd.DataFrame, *, title: str = "Value at risk by renewal month") -> Any:
    """The segment x renewal-month grid (`renewal_grid_table`): colour and second line = value at risk.

    Each cell shows how many accounts renew that month and their value at risk; the hover adds their value.
    """
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper, NumeralTickFormatter
    from bokeh.models.annotations import ColorBar, Title
    from bokeh.plotting import figure

    months = list(grid.attrs.get("months") or dict.fromkeys(grid["month"]))
    segments = list(grid.attrs.get("segments") or dict.fromkeys(grid["segment"]))
    data: dict[str, Any] = {
        "segment": grid["segment"].astype(str).tolist(),
        "month": grid["month"].astype(str).tolist(),
        "accounts": grid["accounts"].astype(int).tolist(),
        "value_at_risk": grid["value_at_risk"].astype(float).tolist(),
        "value_text": [_money(v) for v in grid["value"]],
        "var_text": [_money(v) for v in grid["value_at_risk"]],
        "risk_text": ["" if _isna(v) else f"{v:.0f}" for v in grid["mean_risk"]],
    }
    data["cell_text"] = [
        f"{n} acct{'s' * (n != 1)}\n{_short_money(v)}" if n else ""
        for n, v in zip(data["accounts"], data["value_at_risk"], strict=True)
    ]
    high = max([v for v in data["value_at_risk"] if v == v] + [1.0])
    data["text_colour"] = ["#ffffff" if v > 0.55 * high else "#1f2933" for v in data["value_at_risk"]]
    src = ColumnDataSource(data)
    mapper = LinearColorMapper(palette=list(GRID_PALETTE), low=0.0, high=high)
    fig = figure(
        title=title,
        x_range=FactorRange(factors=months),
        y_range=FactorRange(factors=list(reversed(segments))),
        width=max(560, 66 * len(months) + 230),
        height=max(220, 56 * len(segments) + 120),
        toolbar_location="right",
        tools="save",
        x_axis_location="above",
    )
    cells = fig.rect(
        x="month",
        y="segment",
        width=0.96,
        height=0.92,
        source=src,
        fill_color={"field": "value_at_risk", "transform": mapper},
        line_color="#d9e2ec",
    )
    fig.text(
        x="month",
        y="segment",
        text="cell_text",
        source=src,
        text_align="center",
        text_baseline="middle",
        text_font_size="8pt",
        text_color="text_colour",
    )
    tooltips = [
        ("Segment", "@segment"),
        ("Renewal month", "@month"),
        ("Accounts", "@accounts"),
        ("Value", "@value_text"),
        ("Value at risk", "@var_text"),
        ("Mean risk", "@risk_text"),
    ]
    partial = dict(grid.attrs.get("partial_months") or {})
    if partial:  # the partial first month: a dashed outline and its axis label saying from when it counts
        part = grid[grid["month"].astype(str).isin(list(partial))]
        fig.rect(
            x=part["month"].astype(str).tolist(),
            y=part["segment"].astype(str).tolist(),
            width=0.96,
            height=0.92,
            fill_alpha=0,
            line_color="#1f2933",
            line_dash="dashed",
            line_width=1.5,
            name="partial-months",
        )
        fig.xaxis.major_label_overrides = {m: f"{m} (partial)" for m in partial}
    if grid.attrs.get("window_note"):
        fig.add_layout(
            Title(text=str(grid.attrs["window_note"]), text_font_style="italic", text_font_size="10px"), "above"
        )
    fig.add_tools(HoverTool(renderers=[cells], tooltips=tooltips))
    bar = ColorBar(color_mapper=mapper, title="Value at risk", formatter=NumeralTickFormatter(format="0.[0]a"))
    fig.add_layout(bar, "right")
    fig.grid.grid_line_color = None
    fig.axis.axis_line_color = None
    fig.axis.major_tick_line_color = None
    fig.xaxis.major_label_orientation = 0.8
    return fig


def _short_money(x: float) -> str:
    v = float(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{suffix}"
    return f"{v:.0f}"


def quadrant_chart(scores: pd.DataFrame, *, title: str = "Renewal risk versus opportunity") -> Any:
    """Risk (x) against opportunity (y), one circle per account sized by value, coloured by quadrant."""
    from bokeh.models import ColumnDataSource, DataRange1d, HoverTool
    from bokeh.models.annotations import Label, Span
    from bokeh.plotting import figure

    quad, r_mid, o_mid = risk_quadrants(scores)
    value = scores["value"].to_numpy(dtype=float) if len(scores) else np.zeros(0)
    top = np.nanmax(value) if len(value) and np.isfinite(value).any() else 1.0
    size = 6.0 + 34.0 * np.sqrt(np.clip(np.nan_to_num(value), 0, None) / max(top, 1.0))
    fig = figure(
        title=title,
        width=820,
        height=560,
        x_axis_label="Risk (probability of churn at renewal, %)",
        y_axis_label="Opportunity (probability of expansion, %)",
        x_range=DataRange1d(start=0),
        y_range=DataRange1d(start=0),
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    renderers: list[Any] = []
    for q in QUADRANTS:
        mask = (quad == q).to_numpy()
        part = scores[mask]
        src = ColumnDataSource(
            {
                "account_id": part["account_id"].astype(str).tolist(),
                "account_name": part.get("account_name", part["account_id"]).astype(str).tolist(),
                "segment": part["segment"].astype(object).where(part["segment"].notna(), "").astype(str).tolist(),
                "risk": part["risk"].astype(float).tolist(),
                "opportunity": part["opportunity"].astype(float).tolist(),
                "size": size[mask].tolist(),
                "value_text": [_money(v) for v in part["value"]],
                "risk_text": [f"{v:.0f}" for v in part["risk"]],
                "opportunity_text": [f"{v:.0f}" for v in part["opportunity"]],
                "renewal_text": part["next_renewal"].dt.strftime("%Y-%m-%d").fillna("no date").tolist(),
            }
        )
        r = fig.scatter(
            "risk",
            "opportunity",
            size="size",
            source=src,
            fill_color=QUADRANT_COLORS[q],
            fill_alpha=0.55,
            line_color=QUADRANT_COLORS[q],
            legend_label=f"{q}: {QUADRANT_ABOUT[q]} ({int(mask.sum())})",
        )
        renderers.append(r)
    fig.add_tools(
        HoverTool(
            renderers=renderers,
            tooltips=[
                ("Account", "@account_name"),
                ("Segment", "@segment"),
                ("Value", "@value_text"),
                ("Risk", "@risk_text"),
                ("Opportunity", "@opportunity_text"),
                ("Next renewal", "@renewal_text"),
            ],
        )
    )
    fig.add_layout(Span(location=r_mid, dimension="height", line_dash="dashed", line_color="#7b8794"))
    fig.add_layout(Span(location=o_mid, dimension="width", line_dash="dashed", line_color="#7b8794"))
    fig.add_layout(
        Label(x=r_mid, y=o_mid, text=" historical churn / expansion rates", text_font_size="8pt", text_color="#7b8794")
    )
    fig.legend.location = "top_right"
    fig.legend.click_policy = "hide"
    return fig


def waterfall_chart(steps: pd.DataFrame, *, title: str | None = None) -> Any:
    """A contribution waterfall (`account_contributions`): base, each signal's push up or down, the total.

    Bars run on the log-odds scale: red raises the score, green lowers it, gray is the base and the total.
    Reusable by the X-Ray: it reads only `label`, `step`, `start`, `end`, `value_text` and `contribution_text`.
    """
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool
    from bokeh.models.annotations import Span
    from bokeh.plotting import figure

    labels = steps["label"].astype(str).tolist()
    colours = []
    for step, c in zip(steps["step"], steps["contribution"], strict=True):
        colours.append("#9aa5b1" if step != "signal" else ("#d62728" if c > 0 else "#2ca02c"))
    src = ColumnDataSource(
        {
            "label": labels,
            "left": np.minimum(steps["start"], steps["end"]).astype(float).tolist(),
            "right": np.maximum(steps["start"], steps["end"]).astype(float).tolist(),
            "colour": colours,
            "value_text": steps["value_text"].astype(str).tolist(),
            "contribution_text": steps["contribution_text"].astype(str).tolist(),
        }
    )
    kind = steps.attrs.get("kind", "risk")
    name = steps.attrs.get("account_name", "")
    fig = figure(
        title=title or f"Why {name} scores {steps.attrs.get('score', float('nan')):.0f} on {kind}",
        y_range=FactorRange(factors=list(reversed(labels))),
        width=820,
        height=max(260, 26 * len(labels) + 90),
        x_axis_label="Contribution to the log-odds (right raises the score)",
        tools="save",
    )
    r = fig.hbar(y="label", left="left", right="right", height=0.7, source=src, fill_color="colour", line_color=None)
    fig.add_tools(
        HoverTool(
            renderers=[r],
            tooltips=[("Signal", "@label"), ("Value", "@value_text"), ("Contribution", "@contribution_text")],
        )
    )
    fig.add_layout(Span(location=0, dimension="height", line_color="#52606d", line_width=1))
    fig.ygrid.grid_line_color = None
    return fig


def describe_scores(scores: pd.DataFrame) -> str:
    """One escaped HTML paragraph saying the date, the signals used and missing, and the validation figures."""
    a = scores.attrs
    used = ", ".join(SIGNAL_BY_NAME[n].label for n in a.get("signals_used", []))
    parts = [f"Scored as of <b>{html.escape(str(a.get('as_of')))}</b>: {len(scores):,} accounts."]
    parts.append(f"Signals used: {html.escape(used or 'none')}.")
    missing = a.get("signals_missing") or {}
    if missing:
        why = "; ".join(f"{SIGNAL_BY_NAME[k].label} ({v})" for k, v in missing.items())
        parts.append(f"Not available: {html.escape(why)}. Re-weighting: {html.escape(a.get('reweighting', ''))}.")
    v = a.get("validation") or {}
    if v.get("auc") is not None:
        base = v.get("baseline_auc")
        extra = f"; events alone {base:.2f}" if base is not None else ""
        parts.append(
            f"Weights validated on the latest renewals held out: AUC {v['auc']:.2f}{extra} "
            f"({v.get('n_renewals', 0):,} renewals, {v.get('n_churned', 0):,} churned)."
        )
    if a.get("churned_left_out"):
        parts.append(f"{a['churned_left_out']:,} churned accounts left out.")
    return "<p>" + " ".join(parts) + "</p>"
