"""Scoring accounts with renewal weights: risk and opportunity 0-100, and each signal's contribution.

`score(dataset, weights)` gives the calibrated probabilities of churn and expansion at the next renewal (x 100) with
each signal's contribution to the linear predictor, so a score traces to its causes. A table the weights need but
the dataset lacks is not read as zero: its signals' terms are replaced by their conditional expectation given the
signals present (the calibration's correlations) and the predictor is shrunk by 1 / sqrt(1 + pi v / 8). A value
missing for one account in a table that is present is read as the calibration average (contribution 0).
`account_contributions`, `waterfall` and `waterfall_columns` give one account's contribution steps (the waterfall
the renewal notebook and the X-Ray draw); `format_signal` says a raw signal value as a reader would.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import FilterWarning, HeatmapError
from heatmap_lib.metrics.health.events import to_pandas
from heatmap_lib.metrics.renewal._common import _date, _has_rows, _isna
from heatmap_lib.metrics.renewal.signal_table import SIGNAL_BY_NAME, SIGNALS, data_as_of, signals
from heatmap_lib.metrics.renewal.weights import Model, Weights, WeightsError
from heatmap_lib.metrics.shared import shared


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
    w = weights if isinstance(weights, Weights) else _weights_file(Path(weights))
    if filters is None and as_of is None:  # every account: a batch kernel's X-Ray pages share it (metrics.shared)
        return shared(dataset, ("renewal.score", id(w)), lambda: _score(dataset, w), guard=(w,))
    return _score(dataset, w, as_of=as_of, filters=filters)


def _score(dataset: Any, w: Weights, *, as_of: Any = None, filters: Any = None) -> pd.DataFrame:
    import ibis

    from heatmap_lib.filters import scope

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
