"""Wave over wave (DESIGN.md section 6): where each account moved between two waves, and whether the move is real.

`compare_waves` puts two waves side by side per account (NPS with its interval, response rate, footprint, band,
and the changes); a change in NPS counts as real only when its 95% interval excludes zero. The interval of the
difference is the adjusted-Wald one (MeasuringU's two-sample form of the single-wave interval of DESIGN.md
section 4): each wave gets 3/4 of a promoter and 3/4 of a detractor added and its n raised by 3, and the
variances of the two adjusted NPS add up. `docs/waves.md` gives the formula and a worked example.

Counting runs in the engine (one Ibis expression for both waves, grouped by account and wave); pandas gets two
rows per account at most. `movers` turns a comparison into the list an account manager starts the week from.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.filters import FilterSet, Scope, scope
from heatmap_lib.metrics.summary import (
    COUNT_COLUMNS,
    SMALL_SAMPLE,
    Z95,
    Thresholds,
    _counts,
    _name_key,
    _thresholds,
    derive,
)

__all__ = [
    "DIRECTIONS",
    "MOVES",
    "STATUSES",
    "WAVE_COLUMNS",
    "NpsChange",
    "compare_counts",
    "compare_waves",
    "describe_moves",
    "move_counts",
    "movers",
    "nps_change",
    "nps_change_interval",
    "resolve_waves",
    "wave_order",
]

FilterLike = FilterSet | Mapping[str, Any] | str | Path | None
Method = Literal["adjusted", "wald"]
STATUSES: tuple[str, ...] = ("both", "new", "dropped", "newly_silent")
DIRECTIONS: tuple[str, ...] = ("up", "down", "noise", "undefined")
# What the movers table lists, most urgent first: one row per account, under the first of these that applies.
MOVES: tuple[str, ...] = ("newly red", "real drop", "newly silent", "real rise", "newly green")
# The per-wave figures; the compared wave's carry the suffix "_prev".
WAVE_COLUMNS: tuple[str, ...] = (
    *COUNT_COLUMNS[:3],
    "response_rate",
    *COUNT_COLUMNS[3:],
    "nps",
    "nps_low",
    "nps_high",
    "band",
    "small_sample",
)
CHANGE_COLUMNS: tuple[str, ...] = (
    "nps_change",
    "nps_change_low",
    "nps_change_high",
    "nps_change_real",
    "direction",
    "response_rate_change",
    "footprint_change",
    "band_transition",
    "band_changed",
    "moved",
)
ABSENT = "\u2014"  # an em dash: the side of a band transition where the account was not surveyed
ARROW = "\u2192"


# --------------------------------------------------------------------------------------------------------------
# the two-sample interval


def nps_change_interval(
    counts: tuple[int, int, int],
    counts_prev: tuple[int, int, int],
    *,
    method: Method = "adjusted",
    z: float = Z95,
) -> tuple[float, float] | None:
    """The 95% interval of an NPS change (points, -200..200) between two waves; None when one wave has no answer.

    `counts` and `counts_prev` are (promoters, passives, detractors) of the wave and of the wave compared with.
    `method="adjusted"` (default): n' = n + 3, p' = (P + 3/4) / n', d' = (D + 3/4) / n' in each wave, centre
    c' = p' - d', variance (p' + d' - c'^2) / n'; the interval is (c'_now - c'_prev) +/- z sqrt(var_now +
    var_prev). `method="wald"` uses the raw proportions and n.

    >>> low, high = nps_change_interval((5, 5, 10), (12, 5, 3))
    >>> round(low, 2), round(high, 2)
    (-106.28, -15.46)
    """
    arrays = [np.array([v]) for v in (*counts, *counts_prev)]
    low, high = _change_interval(*arrays, method=method, z=z)
    return None if math.isnan(low[0]) else (float(low[0]), float(high[0]))


def _adjusted(p: np.ndarray, pas: np.ndarray, d: np.ndarray, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Per wave: the (adjusted) NPS on the -1..1 scale and its variance; NaN where nobody answered."""
    if method not in ("adjusted", "wald"):
        raise HeatmapError(f"unknown interval method {method!r}; use 'adjusted' or 'wald'")
    add, extra = (0.75, 3.0) if method == "adjusted" else (0.0, 0.0)
    n = (p + pas + d).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(n > 0, n + extra, np.nan)
        pp = (p + add) / size
        dd = (d + add) / size
        centre = pp - dd
        variance = np.clip(pp + dd - centre**2, 0, None) / size
    return centre, variance


def _change_interval(
    p: np.ndarray,
    pas: np.ndarray,
    d: np.ndarray,
    p0: np.ndarray,
    pas0: np.ndarray,
    d0: np.ndarray,
    *,
    method: Method = "adjusted",
    z: float = Z95,
) -> tuple[np.ndarray, np.ndarray]:
    c1, v1 = _adjusted(p, pas, d, method)
    c0, v0 = _adjusted(p0, pas0, d0, method)
    diff = c1 - c0
    half = z * np.sqrt(v1 + v0)
    low = np.clip(100 * (diff - half), -200, 200)
    high = np.clip(100 * (diff + half), -200, 200)
    return low, high  # NaN where either wave had no answer (the centres are NaN there)


@dataclass(frozen=True)
class NpsChange:
    """An NPS change between two waves: the observed change, its 95% interval and whether it is real.

    `direction` is "up" or "down" for a real change, "noise" when the interval contains zero, "undefined" when
    one wave has no answer (then `change`, `low` and `high` are None and `real` is False).
    """

    change: float | None
    low: float | None
    high: float | None
    real: bool
    direction: str


def nps_change(
    counts: tuple[int, int, int],
    counts_prev: tuple[int, int, int],
    *,
    method: Method = "adjusted",
    z: float = Z95,
) -> NpsChange:
    """The NPS change from `counts_prev` to `counts` (each (promoters, passives, detractors)), judged real or not.

    >>> c = nps_change((5, 5, 10), (12, 5, 3))
    >>> c.change, c.real, c.direction
    (-70.0, True, 'down')
    """
    n, n0 = sum(counts), sum(counts_prev)
    interval = nps_change_interval(counts, counts_prev, method=method, z=z)
    if interval is None or n == 0 or n0 == 0:
        return NpsChange(None, None, None, False, "undefined")
    change = 100.0 * (counts[0] - counts[2]) / n - 100.0 * (counts_prev[0] - counts_prev[2]) / n0
    low, high = interval
    real = low > 0 or high < 0
    return NpsChange(change, low, high, real, ("up" if low > 0 else "down") if real else "noise")


# --------------------------------------------------------------------------------------------------------------
# which waves


def wave_order(dataset: Any, filters: FilterLike = None, *, scoped: Scope | None = None) -> list[str]:
    """The waves with an invitation in scope (wave and date filters left out), in send order (first invitation)."""
    sc = scoped or scope(dataset, filters)
    facts = sc.narrow(dataset.table("invitation_facts"), dates=False)
    df = facts.group_by("wave").aggregate(first=facts.sent_at.min()).to_pandas()
    df["wave"] = df["wave"].astype(str)
    return df.sort_values(["first", "wave"], kind="stable")["wave"].tolist()


def resolve_waves(
    dataset: Any,
    wave: str | None = None,
    compare_to: str | None = None,
    filters: FilterLike = None,
    *,
    scoped: Scope | None = None,
    order: list[str] | None = None,
) -> tuple[str, str]:
    """The two waves a comparison is about: (wave, compare_to).

    `wave` defaults to the filter set's wave when it names exactly one, else the latest wave in scope;
    `compare_to` to the wave sent just before `wave` (waves in scope, in send order). Raises `HeatmapError` when
    a wave has no invitation in scope, when there is no earlier wave, or when both are the same wave.
    """
    sc = scoped or scope(dataset, filters)
    waves = order if order is not None else wave_order(dataset, scoped=sc)
    named = sc.filters.criteria.get("wave", ())
    if wave is None:
        if len(named) == 1:
            wave = named[0]
        elif not waves:
            raise HeatmapError(f"no wave has an invitation in scope ({sc.filters.describe()}): nothing to compare")
        else:
            wave = waves[-1]
    wave = str(wave).strip()
    for label, w in (("wave", wave), ("compare_to", compare_to)):
        if w is not None and str(w).strip() not in waves:
            known = ", ".join(waves) or "none"
            raise HeatmapError(f"{label} {str(w).strip()!r} has no invitation in scope (waves in scope: {known})")
    if compare_to is None:
        i = waves.index(wave)
        if i == 0:
            raise HeatmapError(f"no wave was sent before {wave!r} in scope: nothing to compare it with")
        compare_to = waves[i - 1]
    compare_to = str(compare_to).strip()
    if compare_to == wave:
        raise HeatmapError(f"cannot compare wave {wave!r} with itself")
    return wave, compare_to


# --------------------------------------------------------------------------------------------------------------
# the comparison


def compare_counts(
    now: pd.DataFrame,
    prev: pd.DataFrame,
    *,
    on: str | list[str] = "account_id",
    thresholds: Thresholds | None = None,
    small_sample: int = SMALL_SAMPLE,
    method: Method = "adjusted",
) -> pd.DataFrame:
    """Compare two frames of the six counts (one row per key each) into one row per key with status and changes.

    `wave_status`: keys only in `now` are "new", only in `prev` "dropped"; in both, "newly_silent" when `prev`
    had answers and `now` has none, else "both". Other columns of the frames (account columns) are kept, `now`'s
    first; one named like a column made here gets the prefix "account_" (an accounts column `status` stays).
    """
    keys = [on] if isinstance(on, str) else list(on)
    t = thresholds or Thresholds()
    made = {"wave_status", *(c + "_prev" for c in WAVE_COLUMNS), *CHANGE_COLUMNS}
    a = derive(now.rename(columns={c: f"account_{c}" for c in now.columns if c in made}), t, small_sample)
    b = derive(prev.rename(columns={c: f"account_{c}" for c in prev.columns if c in made}), t, small_sample)
    extra = [c for c in a.columns if c not in WAVE_COLUMNS and c not in keys]
    extra += [c for c in b.columns if c not in WAVE_COLUMNS and c not in keys and c not in extra]
    a = a.assign(_now=True)
    b = b.assign(_prev=True)
    b_cols = [*keys, *WAVE_COLUMNS, "_prev"]
    out = a.merge(b[b_cols], on=keys, how="outer", suffixes=("", "_prev"))
    if extra:  # a dropped account's columns come from the compared wave's frame
        fill = b.set_index(keys)[[c for c in extra if c in b.columns]]
        idx = pd.MultiIndex.from_frame(out[keys]) if len(keys) > 1 else pd.Index(out[keys[0]])
        for c in fill.columns:
            missing = out[c].isna() if c in out else pd.Series(True, index=out.index)
            if missing.any():
                values = fill[c].reindex(idx).to_numpy()
                out[c] = out[c].where(~missing, values) if c in out else values
    in_now = out["_now"].eq(True).to_numpy()
    in_prev = out["_prev"].eq(True).to_numpy()
    for suffix, present in (("", in_now), ("_prev", in_prev)):
        for c in COUNT_COLUMNS:
            out[c + suffix] = out[c + suffix].fillna(0).astype("int64")
        out["response_rate" + suffix] = out["response_rate" + suffix].where(present, np.nan).astype(float)
        out["band" + suffix] = out["band" + suffix].where(present, None).astype(object)
        out["small_sample" + suffix] = out["small_sample" + suffix].eq(True)
    resp, resp0 = out["responses"].to_numpy(), out["responses_prev"].to_numpy()
    status = np.where(
        in_now & in_prev,
        np.where((resp0 > 0) & (resp == 0), "newly_silent", "both"),
        np.where(in_now, "new", "dropped"),
    )
    out.insert(len(keys), "wave_status", status.astype(object))
    counts = [out[c].to_numpy() for c in ("promoters", "passives", "detractors")]
    counts0 = [out[c + "_prev"].to_numpy() for c in ("promoters", "passives", "detractors")]
    low, high = _change_interval(*counts, *counts0, method=method)
    change = out["nps"].to_numpy(dtype=float) - out["nps_prev"].to_numpy(dtype=float)
    defined = ~np.isnan(change) & ~np.isnan(low)
    out["nps_change"] = np.where(defined, change, np.nan)
    out["nps_change_low"] = np.where(defined, low, np.nan)
    out["nps_change_high"] = np.where(defined, high, np.nan)
    real = defined & ((low > 0) | (high < 0))
    out["nps_change_real"] = real
    out["direction"] = np.where(real, np.where(low > 0, "up", "down"), np.where(defined, "noise", "undefined")).astype(
        object
    )
    out["response_rate_change"] = out["response_rate"] - out["response_rate_prev"]
    out["footprint_change"] = out["contacts_invited"] - out["contacts_invited_prev"]
    band, band0 = out["band"].fillna(ABSENT), out["band_prev"].fillna(ABSENT)
    out["band_transition"] = (band0 + ARROW + band).astype(object)
    both = in_now & in_prev
    out["band_changed"] = both & (out["band"].to_numpy() != out["band_prev"].to_numpy())
    out["moved"] = out["band_changed"] | out["nps_change_real"]
    ordered = [*keys, "wave_status", *WAVE_COLUMNS, *(c + "_prev" for c in WAVE_COLUMNS), *CHANGE_COLUMNS]
    return out[ordered + [c for c in extra if c in out.columns]]


def compare_waves(
    dataset: Any,
    wave: str | None = None,
    compare_to: str | None = None,
    filters: FilterLike = None,
    *,
    red_below: float | None = None,
    green_above: float | None = None,
    small_sample: int = SMALL_SAMPLE,
    method: Method = "adjusted",
    scoped: Scope | None = None,
) -> pd.DataFrame:
    """Per account surveyed in either wave: both waves' figures, the status and the changes, sorted by name.

    `wave` defaults to the filter set's single wave, else the latest wave in scope; `compare_to` to the wave sent
    just before it. The filter set's other filters (accounts, roles, questionnaires, ...) apply to both waves;
    its wave or date filters are replaced by the two waves. Columns: `account_id`, `account_name`, `value`,
    `wave_status` (both, new, dropped, newly_silent), the wave's `contacts_invited` ... `band` (as in
    `account_summary`), the same with the suffix `_prev` for `compare_to` (counts 0, rates, NPS and band empty
    where the account was not surveyed), then `nps_change` with `nps_change_low`/`nps_change_high` (the 95%
    interval, see `nps_change_interval`), `nps_change_real`, `direction` (up, down, noise, undefined),
    `response_rate_change`, `footprint_change`, `band_transition` ("green→red"; "—" where absent),
    `band_changed`, `moved` (band changed or real change), then the account's other columns.
    `.attrs` holds the two waves, the filters, thresholds and method (`open_waves_note(dataset, waves)` says whether
    either wave is still collecting answers).
    """
    sc = scoped or scope(dataset, filters)
    t = _thresholds(red_below, green_above)
    wave, compare_to = resolve_waves(dataset, wave, compare_to, scoped=sc)
    facts = sc.narrow(dataset.table("invitation_facts"), dates=False)
    facts = facts.filter(facts.wave.isin([wave, compare_to]))
    counts = _counts(facts, ["account_id", "wave"])
    df = sc.accounts.inner_join(counts, "account_id").to_pandas()
    df = df.drop(columns=[c for c in df.columns if c.endswith("_right")])
    df["wave"] = df["wave"].astype(str)
    now = df[df["wave"] == wave].drop(columns="wave")
    prev = df[df["wave"] == compare_to].drop(columns="wave")
    out = compare_counts(now, prev, thresholds=t, small_sample=small_sample, method=method)
    first = ["account_id", "account_name", "value"]
    rest = [c for c in out.columns if c not in first]
    out = out[first + rest].sort_values(["account_name", "account_id"], kind="stable", key=_name_key)
    out = out.reset_index(drop=True)
    out.attrs["waves"] = {"wave": wave, "compare_to": compare_to}
    out.attrs["filters"] = sc.filters.to_dict()
    out.attrs["filter_warnings"] = list(sc.warnings)
    out.attrs["thresholds"] = {"red_below": t.red_below, "green_above": t.green_above}
    out.attrs["method"] = method
    return out


def open_waves_note(dataset: Any, waves: list[str]) -> str:
    """A sentence naming those of `waves` still collecting answers (`waves.wave_periods`); "" when all are closed."""
    import datetime as dt

    periods, _ = wave_periods(dataset)
    open_ = periods[periods["wave"].isin([str(w) for w in waves]) & ~periods["complete"]]
    said = [
        f"{r['wave']} is still open (last sent {r['period_end']}; answers may arrive until "
        f"{r['period_end'] + dt.timedelta(days=WAVE_SETTLE_DAYS)})"
        for r in open_.to_dict(orient="records")
    ]
    return "; ".join(said) + ": its response rates and NPS may still move." if said else ""


# --------------------------------------------------------------------------------------------------------------
# movers


MOVER_COLUMNS: tuple[str, ...] = (
    "move",
    "moves",
    "account_name",
    "account_manager",
    "value",
    "band_transition",
    "nps_prev",
    "nps",
    "nps_change",
    "nps_change_low",
    "nps_change_high",
    "verdict",
    "responses_prev",
    "responses",
    "response_rate_prev",
    "response_rate",
    "contacts_invited_prev",
    "contacts_invited",
    "band_prev",
    "band",
    "account_id",
)


def movers(comparison: pd.DataFrame, *, limit: int | None = None) -> pd.DataFrame:
    """The accounts that moved, in the order to work through them: one row per account.

    Moves, most urgent first (`MOVES`): "newly red" (red now, another band before), "real drop", "newly silent"
    (answered before, nobody now), "real rise", "newly green". An account is listed under the first that applies
    (`move`), with all that apply in `moves`; within a move the most valuable account comes first, then the
    largest change. Only accounts surveyed in both waves can move. `limit` keeps the first rows of each move.
    `verdict` says "real", "within noise" or "undefined" (no answer in one of the waves).
    """
    c = comparison
    flags = _move_flags(c)
    matrix = np.zeros((len(c), len(MOVES)), dtype=bool)
    for j, m in enumerate(MOVES):
        matrix[:, j] = flags[m].to_numpy(dtype=bool)
    any_move = matrix.any(axis=1)
    out = c[pd.Series(any_move, index=c.index)].copy()
    sub = matrix[any_move]
    out["move"] = [MOVES[i] for i in sub.argmax(axis=1)]
    out["moves"] = ["; ".join(m for m, f in zip(MOVES, row, strict=True) if f) for row in sub]
    out["verdict"] = np.select(
        [out["nps_change_real"].to_numpy(dtype=bool), out["direction"].to_numpy() == "noise"],
        ["real", "within noise"],
        "undefined",
    ).astype(object)
    if "account_manager" not in out:
        out["account_manager"] = ""
    rank = {m: i for i, m in enumerate(MOVES)}
    # drops: most negative change first; everything else: largest change first
    sign = np.where(out["move"].isin(["newly red", "real drop", "newly silent"]), 1.0, -1.0)
    out = out.assign(
        _rank=out["move"].map(rank), _change=out["nps_change"].fillna(0).to_numpy(dtype=float) * sign
    ).sort_values(["_rank", "value", "_change", "account_name"], ascending=[True, False, True, True], kind="stable")
    if limit is not None:
        out = out.groupby("_rank", sort=False).head(limit)
    out = out[[col for col in MOVER_COLUMNS if col in out.columns]].reset_index(drop=True)
    out.attrs = dict(comparison.attrs)
    return out


def _move_flags(c: pd.DataFrame) -> dict[str, pd.Series]:
    both = c["wave_status"].isin(["both", "newly_silent"])
    band, band0 = c["band"].astype(object), c["band_prev"].astype(object)
    return {
        "newly red": both & (band == "red") & (band0 != "red"),
        "real drop": both & (c["direction"] == "down"),
        "newly silent": c["wave_status"] == "newly_silent",
        "real rise": both & (c["direction"] == "up"),
        "newly green": both & (band == "green") & (band0 != "green"),
    }


def move_counts(comparison: pd.DataFrame) -> dict[str, int]:
    """How many accounts each move applies to (an account can count under several), plus new and dropped ones."""
    counts = {m: int(f.sum()) for m, f in _move_flags(comparison).items()}
    counts["new"] = int((comparison["wave_status"] == "new").sum())
    counts["dropped"] = int((comparison["wave_status"] == "dropped").sum())
    return counts


def describe_moves(counts: Mapping[str, int]) -> str:
    """The move counts in words: "3 newly red, 1 real drop, 0 newly silent, 2 real rises, 4 newly green"."""
    plural = {"real drop": "real drops", "real rise": "real rises"}
    return ", ".join(f"{counts.get(m, 0):,} {m if counts.get(m, 0) == 1 else plural.get(m, m)}" for m in MOVES)


WAVE_SETTLE_DAYS = 21  # a wave is still open until this long after its last invitation: answers may still arrive


def wave_periods(dataset: Any) -> tuple[pd.DataFrame, dt.date]:
    """Each wave's span (first to last invitation sent) and completeness, and the last day the data cover.

    A wave is complete once `WAVE_SETTLE_DAYS` have passed after its last invitation by the data's last day (its
    latest dated record of any table, `renewal.data_as_of`): before that its response rate and NPS may still move
    (`periods.period_completeness`).
    Columns: `wave` and those of `period_completeness`; sorted by first send.
    """
    from heatmap_lib.core.periods import period_completeness
    from heatmap_lib.metrics.renewal import data_as_of

    f = dataset.table("invitation_facts")
    spans = f.group_by("wave").aggregate(start=f.sent_at.min(), end=f.sent_at.max()).order_by("start").to_pandas()
    data_last = data_as_of(dataset) - dt.timedelta(days=1)  # the latest dated record of any table
    periods = period_completeness(
        spans["start"].tolist(),
        spans["end"].tolist(),
        data_first=None,
        data_last=data_last,
        settle_days=WAVE_SETTLE_DAYS,
    )
    return periods.assign(wave=spans["wave"].astype(str).to_numpy())[["wave", *periods.columns]], data_last
