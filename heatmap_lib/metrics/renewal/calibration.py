"""Fitting the renewal weights on the renewal history (`heatmap calibrate`).

One observation per historical renewal, its signals taken strictly before the renewal's date; two L2-regularised
logistic regressions (churn -> risk, expansion -> opportunity) whose regularisation is chosen by time-ordered
cross-validation and whose quality is reported on the latest renewals held out (AUC, calibration by decile). The
result is a `Weights`: standardisation parameters, weights per segment, correlations, validation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.metrics.renewal._common import _auc, _date, _date_literal, _has_rows, _isna, _r, _stamp
from heatmap_lib.metrics.renewal.signal_table import SIGNAL_BY_NAME, SIGNALS, TRANSFORMS, signals
from heatmap_lib.metrics.renewal.validation import BASELINE_SIGNAL, auc_comparison
from heatmap_lib.metrics.renewal.weights import Model, Scaling, SegmentModel, Weights, WeightsError

MIN_RENEWALS = 40  # calibration needs at least this many renewals ...
MIN_CLASS = 10  # ... and this many churned and not churned
SEGMENT_MIN_RENEWALS = 150  # a segment gets its own model with this many renewals ...
SEGMENT_MIN_CLASS = 25  # ... and this many of each class (churned / not, expanded / not); else the overall model
HOLDOUT_SHARE = 0.25  # the latest quarter of the renewals is held out for validation
CV_SPLITS = 5
C_GRID: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


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
