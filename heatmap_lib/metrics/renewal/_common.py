"""Small helpers the renewal modules share: dates and timestamps, table presence, NaN tests, rounding, AUC."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError


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


def _date_literal(value: dt.date) -> Any:
    """An Ibis date literal."""
    import ibis

    return ibis.literal(value, type="date")


def _r(x: float) -> float:
    return float(round(float(x), 6))


def _isna(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(set(y)) == 2 else None
