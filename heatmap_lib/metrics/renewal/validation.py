"""How good renewal weights are: held-out AUC against a one-signal baseline, with bootstrap intervals.

`auc_comparison` compares the model's and the baseline's (events in the 28 days before) held-out AUC with a paired
percentile bootstrap and gives a verdict (`BETTER`, `WORSE`, `SAME`); `validation_report` says a weights file's
validation as plain lines (the CLI prints them; `views.renewal_view.validation_html` renders them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from heatmap_lib.metrics.renewal._common import _auc

BASELINE_SIGNAL = "usage_volume"  # the one-signal baseline: total events in the 28 days before
BOOTSTRAP_RESAMPLES = 1000  # the held-out AUC intervals: paired percentile bootstrap over the held-out renewals ...
BOOTSTRAP_SEED = 18  # ... with a fixed seed, so the same data give the same intervals
BETTER = "better than counting events"
WORSE = "worse than counting events"
SAME = "not distinguishable from counting events"


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
