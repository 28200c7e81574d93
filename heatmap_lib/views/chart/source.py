"""The bubbles' data source: one row per account, in drawing order (`bubble_source_data`, `draw_order`).

What the source holds and nothing else (`SOURCE_COLUMNS`, plus `FILTER_COLUMNS` and the extra hover lines): numbers
as numpy arrays, sent in binary, and the preformatted hover texts (`heatmap_lib.views.chart.texts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.metrics.summary import BANDS, Thresholds
from heatmap_lib.views.chart.extra_hover import HoverLinesLike, _hover_line_data, _normalised
from heatmap_lib.views.chart.style import band_legend_labels, bubble_size, format_money
from heatmap_lib.views.chart.texts import _nps_texts, _rate_texts, _text_column, _thousands
from heatmap_lib.views.chart.tooltips import BROWSER_TEXTS

# What the chart's data source holds, and nothing else (no emails, comments or other personal data: DESIGN 8).
SOURCE_COLUMNS: tuple[str, ...] = (
    "account_id",
    "account_name",
    "account_manager",
    "value",
    "x",
    "contacts_invited",
    "response_rate",
    "nps",
    "nps_low",
    "nps_high",
    "band",
    "band_label",
    "size",
    "value_text",
    "rate_text",
    "nps_text",
)
FILTER_COLUMNS: tuple[str, ...] = ("tier", "region")  # carried along for client-side filters in snapshots


def _log_floor(values: np.ndarray) -> float:
    positive = values[values > 0]
    return float(positive.min()) / 2 if len(positive) else 1.0


def bubble_source_data(
    summary: pd.DataFrame,
    *,
    thresholds: Thresholds | Mapping[str, float] | None = None,
    log_x: bool = False,
    extra_hover: HoverLinesLike = None,
    texts: bool = True,
) -> dict[str, Any]:
    """The chart's data source columns (`SOURCE_COLUMNS`, plus tier and region when present), one row per account.

    Rows are in drawing order (`draw_order`: green, yellow, red, gray, and within a band largest first, so the
    silent, red and small bubbles lie on top): find an account's row by its account_id, not by its position in
    the summary. Numbers stay numeric (numpy arrays, sent to the
    browser in binary); the hover texts are preformatted. `x` is the plotted value: on a log axis, values <= 0
    are drawn at half the smallest positive value, and the hover says so. `band_label` names the band with its
    thresholds (default: the summary's `attrs["thresholds"]`); the band itself is the summary's, never recomputed.
    `extra_hover` (see `hover_lines`) adds one text column per extra hover line, `hover_line_0`, `hover_line_1`, ...
    `texts=False` (the live chart, `BROWSER_HOVER_JS`): instead of `BROWSER_TEXTS`, the whole numbers they are made
    of, `responses`, `invitations` and `small_sample` (a summary without the counts keeps its texts); and no
    `FILTER_COLUMNS`, which only a snapshot's page filters read (the live chart is filtered in the kernel: at 10k
    accounts they were 170 KB of every change).
    """
    frame = summary
    labels = band_legend_labels(thresholds if thresholds is not None else summary.attrs.get("thresholds"))
    value = frame["value"].to_numpy(dtype=float)
    value_text = _thousands(value)
    x = value.copy()
    if log_x and len(value):
        floor = _log_floor(value)
        clipped = ~(value > 0)
        x = np.where(clipped, floor, value)
        value_text = np.where(clipped, value_text + f" (drawn at {format_money(floor)} on the log axis)", value_text)
    bands = frame["band"].to_numpy(dtype=object)
    rate = frame["response_rate"].to_numpy(dtype=float)
    data: dict[str, Any] = {
        "account_id": _text_column(frame, "account_id"),
        "account_name": _text_column(frame, "account_name"),
        "account_manager": _text_column(frame, "account_manager"),
        "value": value,
        "x": x,
        "contacts_invited": frame["contacts_invited"].to_numpy(dtype=np.int32),  # half the bytes of int64
        "response_rate": rate,
        "nps": frame["nps"].to_numpy(dtype=float),
        "nps_low": frame["nps_low"].to_numpy(dtype=float),
        "nps_high": frame["nps_high"].to_numpy(dtype=float),
        "band": np.array([b if isinstance(b, str) else str(b) for b in bands.tolist()], dtype=object),
        "band_label": np.array([labels.get(b, b) for b in bands.tolist()], dtype=object),
        "size": bubble_size(rate),
        "value_text": value_text,
        "rate_text": _rate_texts(frame),
        "nps_text": _nps_texts(frame),
    }
    if not texts and "responses" in frame and "invitations" in frame:
        for column in BROWSER_TEXTS:
            del data[column]
        data["responses"] = frame["responses"].fillna(0).to_numpy(dtype=np.int32)
        data["invitations"] = frame["invitations"].fillna(0).to_numpy(dtype=np.int32)
        small = frame["small_sample"].fillna(False) if "small_sample" in frame else pd.Series(False, index=frame.index)
        data["small_sample"] = small.to_numpy(dtype=np.int8)
    for column in FILTER_COLUMNS if texts else ():
        if column in frame:
            data[column] = _text_column(frame, column)
    lines = _normalised(extra_hover)
    if lines is not None:
        data.update(_hover_line_data(lines, data["account_id"]))
    # The draw order (one renderer draws its rows in order, later on top): bands green, yellow, red, gray, so the
    # silent and red accounts lie over the others, and within a band largest first, so small bubbles stay visible.
    # The hover shows the last row under the pointer and a click opens it: the bubble seen on top.
    order = draw_order(data["band"], data["size"])
    return {k: _take(v, order) for k, v in data.items()}


def draw_order(bands: Any, sizes: Any) -> np.ndarray:
    """The rows in drawing order: by band (`BANDS`: green, yellow, red, gray; others first), then largest first."""
    rank = {band: i for i, band in enumerate(BANDS)}
    ranks = np.array([rank.get(b, -1) for b in np.asarray(bands, dtype=object).tolist()], dtype=np.int64)
    return np.lexsort((-np.asarray(sizes, dtype=float), ranks))


def _take(values: Any, order: np.ndarray) -> Any:
    """Numbers stay numpy arrays (sent in binary); texts become lists."""
    values = np.asarray(values) if not isinstance(values, np.ndarray) else values
    return values[order].tolist() if values.dtype == object else values[order]
