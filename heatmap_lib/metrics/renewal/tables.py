"""The renewal tables the views read (pure pandas, no Bokeh): quadrants, the grid, at-risk lists, watermelons.

`risk_quadrants` places accounts in Rescue / Protect / Grow / Maintain, `renewal_grid_table` sums value at risk by
segment and renewal month, `at_risk_list` and `watermelons` list accounts with their top drivers (`top_drivers`),
with the column headings they are shown under (`AT_RISK_COLUMNS`, ...); `describe_scores` is the escaped one-paragraph
summary of a scoring run.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics.renewal._common import _date
from heatmap_lib.metrics.renewal.signal_table import SIGNAL_BY_NAME

QUADRANTS: tuple[str, ...] = ("Rescue", "Protect", "Grow", "Maintain")


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
