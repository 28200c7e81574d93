"""The learning loop (DESIGN.md section 6, Plays): what each play type did, against comparable accounts without one.

For each done play, the account's **wave before** is the latest wave whose invitations to it were all sent before
the play was created, and its **wave after** the earliest wave whose invitations to it were all sent after the play
was closed. Between the two, the account's NPS, response rate and (given renewal weights) renewal risk change.
Its **comparable accounts** are the accounts in scope surveyed in both waves, with no play of any status active
at any time between their first invitation of the wave before and their last of the wave after, in the same
segment (`match_on`, e.g. tier) and with the same band in the wave before. The play's effect on its account is the
account's change minus the mean change of its comparables: a matched difference in differences, which takes out
what every similar account went through (a good quarter, regression to the mean of red accounts) and leaves what
the play added.

`play_outcomes` gives that per play (every input row, with the reason when one is left out) so an analyst can
audit each figure; `play_effects` averages it per play type and metric, with a 95% interval and a verdict. Plays
that are cancelled, still open, or cannot be measured are never dropped silently: `.attrs["excluded"]` lists each
with its reason.

Counting is one engine query grouped by account and wave (the six counts of `metrics` plus each account's first
and last send date in the wave); pandas gets one row per account and wave.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.data.plays import PLAY_TYPES
from heatmap_lib.filters import FilterSet, Scope, scope
from heatmap_lib.metrics.summary import SMALL_SAMPLE, Thresholds, _counts, _thresholds, derive

__all__ = [
    "EFFECT_COLUMNS",
    "INTERVAL_METHOD",
    "METRICS",
    "MIN_ACCOUNTS",
    "VERDICTS",
    "account_waves",
    "play_effects",
    "play_outcomes",
]

FilterLike = FilterSet | Mapping[str, Any] | str | Path | None
METRICS: tuple[str, ...] = ("nps", "response_rate", "renewal_risk")
LOWER_IS_BETTER = frozenset({"renewal_risk"})
MIN_ACCOUNTS = 3  # fewer treated accounts than this: the verdict is "too few"
VERDICTS: tuple[str, ...] = ("helps", "hurts", "no clear effect", "too few")
REQUIRED_COLUMNS: tuple[str, ...] = ("play_id", "account_id", "play", "status", "created_at", "closed_at")
EFFECT_COLUMNS: tuple[str, ...] = (
    "play",
    "metric",
    "effect",
    "low",
    "high",
    "verdict",
    "treated_accounts",
    "comparison_accounts",
    "plays",
    "excluded",
    "treated_change",
    "comparison_change",
    "se",
)
INTERVAL_METHOD = (
    "95% t interval (n - 1 degrees of freedom) around the mean of the per-play effects; its variance is the "
    "per-play effects' sample variance / n plus the comparison means' own sampling variance, sum over cells of "
    "(share of the type's plays in the cell)^2 x (comparables' variance of change / their number), because the "
    "plays of one cell share their comparables (a cell with one comparable uses the pooled within-cell variance)"
)
_WAVE_COLUMNS = ("invitations", "responses", "promoters", "passives", "detractors", "response_rate", "nps", "band")


# --------------------------------------------------------------------------------------------------------------
# the per-account, per-wave figures


def account_waves(
    dataset: Any,
    filters: FilterLike = None,
    *,
    red_below: float | None = None,
    green_above: float | None = None,
    scoped: Scope | None = None,
) -> pd.DataFrame:
    """Per account and wave in scope: counts, response rate, NPS, band, and the first and last send dates.

    One engine query grouped by account and wave; wave and date filters are left out (every wave is kept). Sorted
    by account and wave send order (`wave_index`, 0 = the first wave sent).
    """
    sc = scoped or scope(dataset, filters)
    t = _thresholds(red_below, green_above)
    facts = sc.narrow(dataset.table("invitation_facts"), dates=False)
    keys = ["account_id", "wave"]
    sent = facts.group_by(keys).aggregate(first_sent=facts.sent_at.min(), last_sent=facts.sent_at.max())
    df = _counts(facts, keys).inner_join(sent, keys).to_pandas()
    df = df.drop(columns=[c for c in df.columns if c.endswith("_right")])
    df["account_id"] = df["account_id"].astype(str)
    df["wave"] = df["wave"].astype(str)
    for col in ("first_sent", "last_sent"):
        df[col] = pd.to_datetime(df[col]).dt.normalize().astype("datetime64[ns]")
    df = derive(df, t, SMALL_SAMPLE)
    order = df.groupby("wave")["first_sent"].min().reset_index().sort_values(["first_sent", "wave"], kind="stable")
    index = {w: i for i, w in enumerate(order["wave"])}
    df["wave_index"] = df["wave"].map(index).astype("int64")
    cols = ["account_id", "wave", "wave_index", *_WAVE_COLUMNS, "first_sent", "last_sent"]
    out = df[cols].sort_values(["account_id", "wave_index"], kind="stable").reset_index(drop=True)
    out.attrs["waves"] = list(order["wave"])
    out.attrs["thresholds"] = {"red_below": t.red_below, "green_above": t.green_above}
    return out


def _renewal_risk(dataset: Any, weights: Any, waves: pd.DataFrame) -> pd.DataFrame:
    """Renewal risk per account and wave, scored as of the wave's last send date (in scope)."""
    from heatmap_lib.metrics.renewal import Weights, score

    w = weights if isinstance(weights, Weights) else Weights.load(weights)
    frames = []
    for wave, last in waves.groupby("wave")["last_sent"].max().items():
        scores = score(dataset, w, as_of=pd.Timestamp(last).date())
        part = scores[["account_id", "risk"]].rename(columns={"risk": "renewal_risk"})
        part["account_id"] = part["account_id"].astype(str)
        part["wave"] = str(wave)
        frames.append(part)
    if not frames:
        return pd.DataFrame({"account_id": [], "wave": [], "renewal_risk": []})
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------------------------
# the plays frame


def _plays_frame(plays: pd.DataFrame) -> pd.DataFrame:
    """The plays with normalised text and dates, and a `_row` key (play ids need not be unique)."""
    if not isinstance(plays, pd.DataFrame):
        raise HeatmapError(f"plays: expected a pandas DataFrame, got {type(plays).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in plays.columns]
    if missing:
        raise HeatmapError(f"plays: missing column(s) {', '.join(missing)} (needs {', '.join(REQUIRED_COLUMNS)})")
    df = plays.reset_index(drop=True).copy()
    df["_row"] = np.arange(len(df))
    for col in ("play_id", "account_id", "play", "status"):
        df[col] = df[col].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())
    df["status"] = df["status"].str.lower()
    for col in ("created_at", "closed_at"):
        raw = df[col]
        parsed = pd.to_datetime(raw.astype(object).where(raw.notna(), None), errors="coerce", format="mixed")
        df[col] = parsed.dt.normalize().astype("datetime64[ns]")
        df[f"_{col}_bad"] = raw.notna().to_numpy() & parsed.isna().to_numpy()
    return df


def _active(plays: pd.DataFrame) -> pd.DataFrame:
    """Each play's active interval: created (or the beginning of time) to closed (or the end of time)."""
    start = plays["created_at"].fillna(pd.Timestamp.min)
    end = plays["closed_at"].fillna(pd.Timestamp.max)
    return pd.DataFrame({"account_id": plays["account_id"], "_row": plays["_row"], "_start": start, "_end": end})


def _overlapping(windows: pd.DataFrame, active: pd.DataFrame, *, skip_own: bool) -> pd.Series:
    """For each window (account_id, _from, _to[, _row]): whether another play of its account is active in it."""
    if windows.empty or active.empty:
        return pd.Series(False, index=windows.index)
    w = windows.reset_index(names="_w")
    j = w.merge(active, on="account_id", how="inner", suffixes=("", "_other"))
    hit = (j["_start"] <= j["_to"]) & (j["_end"] >= j["_from"])
    if skip_own:
        hit &= j["_row"] != j["_row_other"]
    found = set(j.loc[hit, "_w"])
    return pd.Series([i in found for i in w["_w"]], index=windows.index)


# --------------------------------------------------------------------------------------------------------------
# per play


def _match_columns(dataset: Any, match_on: Sequence[str] | str | None) -> list[str]:
    cols = [match_on] if isinstance(match_on, str) else list(match_on or ())
    unknown = [c for c in cols if c not in dataset.account_columns]
    if unknown:
        known = ", ".join(dataset.account_columns)
        raise HeatmapError(f"match_on: {', '.join(map(repr, unknown))} is not an accounts column (known: {known})")
    if "account_id" in cols:
        raise HeatmapError("match_on: account_id would leave every account without a comparable one")
    return list(dict.fromkeys(cols))


def _seg_names(match: list[str]) -> dict[str, str]:
    """Output names of the match columns (prefixed when they would collide with a play column)."""
    taken = {
        *REQUIRED_COLUMNS,
        "owner",
        "due_date",
        "notes",
        "suggested_by",
        "wave_before",
        "wave_after",
        "band_before",
    }
    return {c: f"account_{c}" if c in taken else c for c in match}


def _first_reason(reason: pd.Series, mask: Any, text: str | pd.Series) -> None:
    """Give the rows in `mask` that have no reason yet this one (in place: the first reason found wins)."""
    m = pd.Series(np.asarray(mask, dtype=bool), index=reason.index) & (reason == "")
    reason.loc[m] = text if isinstance(text, str) else text[m]


def _unmeasurable(df: pd.DataFrame, known: set[str], in_scope: set[str], surveyed: set[str]) -> pd.Series:
    """Why each play cannot be measured at all, from the play itself ("" where it may be)."""
    reason = pd.Series("", index=df.index, dtype=object)
    status = df["status"]
    _first_reason(reason, status == "cancelled", "cancelled")
    _first_reason(reason, status.isin(["open", "in_progress"]), "not closed (status " + status + ")")
    _first_reason(reason, status != "done", "unknown status " + status.map(repr))
    _first_reason(reason, df["_created_at_bad"], "created_at is not a date")
    _first_reason(reason, df["_closed_at_bad"], "closed_at is not a date")
    _first_reason(reason, df["created_at"].isna(), "no created_at")
    _first_reason(reason, df["closed_at"].isna(), "done without a closed_at")
    _first_reason(reason, df["closed_at"] < df["created_at"], "closed_at before created_at")
    _first_reason(reason, ~df["account_id"].isin(known), "account not in the dataset")
    _first_reason(reason, ~df["account_id"].isin(in_scope), "account outside the filter scope")
    _first_reason(reason, ~df["account_id"].isin(surveyed), "account has no invitation in scope")
    return reason


def _with_waves(df: pd.DataFrame, live: pd.Series, aw: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """Add each live play's wave before and after, and its account's `fields` in them (`_<field>_before`, ...)."""
    plays = df.loc[live, ["_row", "account_id", "created_at", "closed_at"]]
    j = plays.merge(aw[["account_id", "wave", "wave_index", "first_sent", "last_sent"]], on="account_id")
    # before: every invitation of the wave sent before the play was created; after: all sent after it closed
    before = j[j["last_sent"] < j["created_at"]].sort_values("wave_index").groupby("_row").tail(1)
    after = j[j["first_sent"] > j["closed_at"]].sort_values("wave_index").groupby("_row").head(1)
    out = df.merge(before[["_row", "wave"]].rename(columns={"wave": "wave_before"}), on="_row", how="left")
    out = out.merge(after[["_row", "wave"]].rename(columns={"wave": "wave_after"}), on="_row", how="left")
    fig = aw.set_index(["account_id", "wave"])
    for side in ("before", "after"):
        idx = pd.MultiIndex.from_arrays([out["account_id"], out[f"wave_{side}"].fillna("")])
        got = fig.reindex(idx)[fields]
        for f in fields:
            out[f"_{f}_{side}"] = got[f].to_numpy()
    return out


def _comparison_cells(aw: pd.DataFrame, pairs: pd.DataFrame, active: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per wave pair: the accounts surveyed in both waves with no play active between them, and their changes."""
    frames = []
    for wb, wa in pairs.itertuples(index=False):
        b = aw[aw["wave"] == wb].set_index("account_id")
        a = aw[aw["wave"] == wa].set_index("account_id")
        ids = b.index.intersection(a.index)
        c = pd.DataFrame({"account_id": ids, "wave_before": wb, "wave_after": wa})
        c["band_before"] = b.loc[ids, "band"].to_numpy()
        for m in metrics:
            c[f"{m}_change"] = a.loc[ids, m].to_numpy(dtype=float) - b.loc[ids, m].to_numpy(dtype=float)
        window = pd.DataFrame(
            {
                "account_id": c["account_id"],
                "_from": b.loc[ids, "first_sent"].to_numpy(),
                "_to": a.loc[ids, "last_sent"].to_numpy(),
            }
        )
        frames.append(c[~_overlapping(window, active, skip_own=False).to_numpy()])
    if frames:
        return pd.concat(frames, ignore_index=True)
    empty = {c: pd.Series(dtype=object) for c in ("account_id", "wave_before", "wave_after", "band_before")}
    return pd.DataFrame({**empty, **{f"{m}_change": pd.Series(dtype=float) for m in metrics}})


def _outcomes(
    dataset: Any,
    plays: pd.DataFrame,
    *,
    match_on: Sequence[str] | str | None,
    renewal_weights: Any,
    filters: FilterLike,
    red_below: float | None,
    green_above: float | None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Per play outcomes, the comparison accounts per wave pair, and the settings (notes, metrics, ...)."""
    t: Thresholds = _thresholds(red_below, green_above)
    match = _match_columns(dataset, match_on)
    seg = _seg_names(match)
    seg_cols = list(seg.values())
    df = _plays_frame(plays)
    sc = scope(dataset, filters)
    notes: list[str] = []
    if "wave" in sc.filters.criteria or sc.filters.start or sc.filters.end:
        notes.append("wave and date filters are ignored: each play is measured on its own waves before and after")
    aw = account_waves(dataset, scoped=sc, red_below=t.red_below, green_above=t.green_above)
    metrics = ["nps", "response_rate"]
    if renewal_weights is not None:
        aw = aw.merge(_renewal_risk(dataset, renewal_weights, aw), on=["account_id", "wave"], how="left")
        metrics.append("renewal_risk")
        notes.append("renewal_risk: renewal.score as of each wave's last send date (data strictly before it)")
    else:
        notes.append("renewal_risk not measured: no renewal_weights given (e.g. params/renewal_weights.yaml)")
    accounts = sc.accounts.select("account_id", *match).to_pandas()
    accounts["account_id"] = accounts["account_id"].astype(str)
    accounts = accounts.drop_duplicates("account_id").rename(columns=seg)
    known = set(dataset.table("accounts").select("account_id").to_pandas()["account_id"].astype(str))

    # the play's own problems, its waves, and another play of the account between them
    reason = _unmeasurable(df, known, set(accounts["account_id"]), set(aw["account_id"]))
    df = _with_waves(df, reason == "", aw, ["band", "first_sent", "last_sent", *metrics])  # keeps the row order
    reason.index = df.index
    _first_reason(reason, df["wave_before"].isna(), "no wave before (no wave was all sent before the play was created)")
    _first_reason(reason, df["wave_after"].isna(), "no wave after (no wave was all sent after the play was closed)")
    active = _active(df)
    live = reason == ""
    window = pd.DataFrame(
        {
            "account_id": df["account_id"],
            "_row": df["_row"],
            "_from": pd.to_datetime(df["_first_sent_before"]),
            "_to": pd.to_datetime(df["_last_sent_after"]),
        }
    )[live]
    clash = _overlapping(window, active, skip_own=True).reindex(df.index, fill_value=False)
    _first_reason(reason, clash, "another play on the account is active between its waves")

    # the comparable accounts: same wave pair, segment and band in the wave before, no play between the waves
    df = df.merge(accounts, on="account_id", how="left")
    df["band_before"] = df["_band_before"]
    pairs = df.loc[reason.to_numpy() == "", ["wave_before", "wave_after"]].drop_duplicates()
    cells = _comparison_cells(aw, pairs, active, metrics).merge(accounts, on="account_id", how="left")
    key = ["wave_before", "wave_after", *seg_cols, "band_before"]
    size = cells.groupby(key, dropna=False).size().rename("comparable_accounts").reset_index()
    df = df.merge(size, on=key, how="left")
    for m in metrics:
        ch = cells.dropna(subset=[f"{m}_change"]).groupby(key, dropna=False)[f"{m}_change"]
        stats = pd.DataFrame({f"{m}_comparables": ch.size(), f"{m}_comparable_change": ch.mean()})
        stats[f"{m}_comparable_sd"] = ch.std(ddof=1)
        df = df.merge(stats.reset_index(), on=key, how="left")
    reason.index = df.index
    df["comparable_accounts"] = df["comparable_accounts"].fillna(0).astype("int64")
    _first_reason(
        reason, df["comparable_accounts"] == 0, "no comparable accounts (same segment and band, no play, both waves)"
    )

    # per metric: the change, the comparables' mean change, the effect, or why not
    whole = reason == ""
    label = {"nps": "response", "response_rate": "invitation", "renewal_risk": "renewal score"}
    per_metric = pd.DataFrame(index=df.index)
    for m in metrics:
        before = pd.to_numeric(df[f"_{m}_before"], errors="coerce").astype(float)
        after = pd.to_numeric(df[f"_{m}_after"], errors="coerce").astype(float)
        comparables = df[f"{m}_comparables"].fillna(0).astype("int64")
        mr = pd.Series("", index=df.index, dtype=object)
        _first_reason(mr, whole & before.isna(), f"no {label[m]} in the wave before")
        _first_reason(mr, whole & after.isna(), f"no {label[m]} in the wave after")
        _first_reason(mr, whole & (comparables == 0), f"no comparable account with {m} in both waves")
        ok = whole & (mr == "")
        df[f"{m}_before"], df[f"{m}_after"] = before.where(whole), after.where(whole)
        df[f"{m}_change"] = (after - before).where(ok)
        df[f"{m}_comparables"] = comparables.where(ok, 0)
        df[f"{m}_comparable_change"] = df[f"{m}_comparable_change"].where(ok)
        df[f"{m}_comparable_sd"] = df[f"{m}_comparable_sd"].where(ok)
        df[f"{m}_effect"] = df[f"{m}_change"] - df[f"{m}_comparable_change"]
        per_metric[m] = mr
    df["used"] = whole & (per_metric == "").any(axis=1)
    which = ["; ".join(f"{m}: {r}" for m, r in row.items() if r) for row in per_metric.to_dict("records")]
    df["reason"] = np.where(whole, pd.Series(which, index=df.index, dtype=object), reason)
    df["band_before"] = df["band_before"].where(whole, None)
    df["comparable_accounts"] = df["comparable_accounts"].where(whole, 0)

    cols = ["play_id", "account_id", "play", "status", "created_at", "closed_at", "wave_before", "wave_after"]
    cols += [*seg_cols, "band_before", "comparable_accounts"]
    for m in metrics:
        cols += [f"{m}_{x}" for x in ("before", "after", "change", "comparables", "comparable_change")]
        cols += [f"{m}_comparable_sd", f"{m}_effect"]
    out = df[[*cols, "used", "reason"]].copy()  # the left merges above kept the input order
    for col in ("created_at", "closed_at"):
        out[col] = out[col].dt.date.astype(object).where(out[col].notna(), None)
    excluded = _excluded(df, reason, per_metric)
    settings = {
        "notes": notes,
        "excluded": excluded,
        "counts": _counts_summary(df, excluded, metrics),
        "match_on": match,
        "thresholds": {"red_below": t.red_below, "green_above": t.green_above},
        "waves": aw.attrs.get("waves", []),
        "metrics": metrics,
        "filters": sc.filters.to_dict(),
        "filter_warnings": list(sc.warnings),
    }
    out.attrs.update(settings)
    return out, cells, settings


def _excluded(df: pd.DataFrame, reason: pd.Series, metric_reasons: pd.DataFrame) -> pd.DataFrame:
    """Every play left out: the whole play (metric "all") or one metric, with the reason."""
    rows = []
    for i in df.index:
        if reason[i]:
            rows.append((df.at[i, "play_id"], df.at[i, "account_id"], df.at[i, "play"], "all", reason[i]))
            continue
        for m in metric_reasons.columns:
            r = metric_reasons.at[i, m]
            if r:
                rows.append((df.at[i, "play_id"], df.at[i, "account_id"], df.at[i, "play"], m, r))
    return pd.DataFrame(rows, columns=["play_id", "account_id", "play", "metric", "reason"])


def _counts_summary(df: pd.DataFrame, excluded: pd.DataFrame, metrics: list[str]) -> dict[str, Any]:
    """How many plays there were, by status, and how many each metric used or left out, by reason."""
    status = df["status"]
    return {
        "plays": len(df),
        "done": int((status == "done").sum()),
        "cancelled": int((status == "cancelled").sum()),
        "open": int((status == "open").sum()),
        "in_progress": int((status == "in_progress").sum()),
        "other_status": int((~status.isin(["done", "cancelled", "open", "in_progress"])).sum()),
        "used": {m: int(df[f"{m}_effect"].notna().sum()) for m in metrics},
        "excluded": {str(k): int(v) for k, v in excluded["reason"].value_counts().items()},
    }


def play_outcomes(
    dataset: Any,
    plays: pd.DataFrame,
    *,
    match_on: Sequence[str] | str | None = ("tier",),
    renewal_weights: Any = None,
    filters: FilterLike = None,
    red_below: float | None = None,
    green_above: float | None = None,
) -> pd.DataFrame:
    """One row per play (every input row, in input order): its waves, before/after figures and its comparables'.

    Per metric (`nps`, `response_rate` as a fraction, `renewal_risk` 0-100 when `renewal_weights` is given):
    `<m>_before`, `<m>_after`, `<m>_change`, `<m>_comparables` (comparable accounts with the metric in both
    waves), `<m>_comparable_change` (their mean change), `<m>_comparable_sd` and `<m>_effect` (change minus the
    comparables' mean change), empty when not measurable. `used` says whether the play counts for any metric,
    `reason` why not (or which metrics not). `.attrs`: `excluded` (play_id, account_id, play, metric, reason),
    `counts`, `notes`, `match_on`, `thresholds`, `waves`, `metrics`.
    """
    out, _, _ = _outcomes(
        dataset,
        plays,
        match_on=match_on,
        renewal_weights=renewal_weights,
        filters=filters,
        red_below=red_below,
        green_above=green_above,
    )
    return out


# --------------------------------------------------------------------------------------------------------------
# per play type


def _t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with df degrees of freedom."""
    from scipy import stats  # a dependency of scikit-learn

    return float(stats.t.ppf(0.975, df))


def _play_order(names: Sequence[str]) -> list[str]:
    """Built-in play types in their standard order, then the others alphabetically."""
    found = list(dict.fromkeys(names))
    return [p for p in PLAY_TYPES if p in found] + sorted(p for p in found if p not in PLAY_TYPES)


def play_effects(
    dataset: Any,
    plays: pd.DataFrame,
    *,
    match_on: Sequence[str] | str | None = ("tier",),
    renewal_weights: Any = None,
    filters: FilterLike = None,
    red_below: float | None = None,
    green_above: float | None = None,
) -> pd.DataFrame:
    """Each play type's effect per metric against comparable accounts without a play, with a 95% interval.

    Columns (`EFFECT_COLUMNS`): `play`, `metric`, `effect` (mean of the per-play effects of `play_outcomes`: NPS
    points, response rate as a fraction, renewal risk points), `low`/`high` (see `INTERVAL_METHOD`), `verdict`
    ("helps" or "hurts" when the interval excludes 0, lower risk being better; "no clear effect" when it includes
    0; "too few" with fewer than `MIN_ACCOUNTS` treated accounts), `treated_accounts`, `comparison_accounts`
    (distinct accounts the type's plays were compared with), `plays` (plays measured), `excluded` (plays of the
    type not measured on this metric, any reason), `treated_change`, `comparison_change`, `se`. Every play type in
    `plays` has a row per metric. `.attrs` as `play_outcomes`, plus `interval`.
    """
    out, cells, settings = _outcomes(
        dataset,
        plays,
        match_on=match_on,
        renewal_weights=renewal_weights,
        filters=filters,
        red_below=red_below,
        green_above=green_above,
    )
    seg_cols = list(_seg_names(settings["match_on"]).values())
    key = ["wave_before", "wave_after", *seg_cols, "band_before"]
    rows = []
    for play in _play_order(out["play"].tolist()):
        of_type = out[out["play"] == play]
        for m in settings["metrics"]:
            used = of_type[of_type[f"{m}_effect"].notna()]
            rows.append(_summarise(play, m, used, of_type, cells, key))
    result = pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))
    for c in ("treated_accounts", "comparison_accounts", "plays", "excluded"):
        result[c] = result[c].astype("int64")
    result.attrs.update(out.attrs)
    result.attrs["interval"] = INTERVAL_METHOD
    return result


def _summarise(
    play: str, m: str, used: pd.DataFrame, of_type: pd.DataFrame, cells: pd.DataFrame, key: list[str]
) -> dict[str, Any]:
    """One row of `play_effects`: the mean effect, its interval and verdict, and the counts behind them."""
    n = len(used)
    treated = int(used["account_id"].nunique())
    row: dict[str, Any] = {
        "play": play,
        "metric": m,
        "effect": math.nan,
        "low": math.nan,
        "high": math.nan,
        "verdict": "too few",
        "treated_accounts": treated,
        "comparison_accounts": 0,
        "plays": n,
        "excluded": len(of_type) - n,
        "treated_change": math.nan,
        "comparison_change": math.nan,
        "se": math.nan,
    }
    if n == 0:
        return row
    effects = used[f"{m}_effect"].to_numpy(dtype=float)
    row["effect"] = float(effects.mean())
    row["treated_change"] = float(used[f"{m}_change"].mean())
    row["comparison_change"] = float(used[f"{m}_comparable_change"].mean())
    change = f"{m}_change"
    comp = cells.dropna(subset=[change]).merge(used[key].drop_duplicates(), on=key, how="inner")
    row["comparison_accounts"] = int(comp["account_id"].nunique())
    if n >= 2:
        # the comparison means: shared by the plays of a cell, so their noise does not average out over plays
        per_cell = used.groupby(key, dropna=False).agg(
            k=(f"{m}_effect", "size"), sd=(f"{m}_comparable_sd", "first"), c=(f"{m}_comparables", "first")
        )
        within = cells.dropna(subset=[change]).groupby(key, dropna=False)[change]
        dof = (within.size() - 1).clip(lower=0)
        pooled = float((within.var(ddof=1).fillna(0) * dof).sum() / dof.sum()) if dof.sum() > 0 else 0.0
        var_c = np.where(per_cell["sd"].notna(), per_cell["sd"].to_numpy(dtype=float) ** 2, pooled)
        comp_var = float(((per_cell["k"].to_numpy() / n) ** 2 * var_c / per_cell["c"].to_numpy()).sum())
        se = math.sqrt(float(np.var(effects, ddof=1)) / n + comp_var)
        half = _t_quantile(n - 1) * se
        row.update({"se": se, "low": row["effect"] - half, "high": row["effect"] + half})
    if treated >= MIN_ACCOUNTS and not math.isnan(row["low"]):
        good = -1.0 if m in LOWER_IS_BETTER else 1.0
        if row["low"] > 0 or row["high"] < 0:
            row["verdict"] = "helps" if (row["effect"] * good) > 0 else "hurts"
        else:
            row["verdict"] = "no clear effect"
    return row
