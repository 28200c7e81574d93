"""The renewal signals (DESIGN.md section 6): their definitions and their point-in-time values per account.

`SIGNALS` names each signal, the table it needs, its transform and how a raw value reads. `signals(dataset, as_of)`
gives, per account (or per account and date), what the account looked like strictly before a reference date, from
whichever tables the dataset has: usage velocity and breadth, seat utilisation, payment timeliness, support
sentiment and escalations, NPS, decision makers' NPS, silence, value, tenure, time to renewal. Counting runs in the
engine as Ibis expressions (range joins for per-row dates); what reaches pandas is one row per (account, date).
`data_as_of` is the date a dataset describes (the default reference date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics.health.events import to_pandas
from heatmap_lib.metrics.health.signals import SIGNAL_COLUMNS
from heatmap_lib.metrics.renewal._common import _date, _date_literal, _has_rows, _stamp

WINDOW_DAYS = 28  # usage: the recent window, compared with the one before it
FEATURE_DAYS = 90  # adoption breadth: distinct features used in this many days
INVOICE_DAYS = 365  # payment timeliness: invoices due in this many days
TICKET_DAYS = 180  # support: tickets opened in this many days
SURVEY_DAYS = 365  # surveys: invitations sent and answers given in this many days
SURVEY_GRACE_DAYS = 21  # an invitation counts towards silence once it has had this long to be answered
MIN_COVERED_DAYS = 7  # a usage window an account existed in for fewer days gives no velocity
MAX_SILENT_DAYS = 365  # days since the last event are capped here (and used when there was never an event)


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


# what `health.usage_signals` returns besides account_id and as_of (one list, kept in health/signals.py)
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
    from heatmap_lib.metrics.health.signals import usage_signals

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
