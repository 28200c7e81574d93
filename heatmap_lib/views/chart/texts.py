"""The chart's hover texts made in Python, and the way columns of plain texts are sent to the browser.

The value, NPS and response-rate texts are built vectorised from whole-number keys and memoised (`TextMemo`), as a
filter change at 10k accounts rebuilds them all. `TextColumn` and `wire_texts` send a column of plain texts as one
JSON list; importing this module registers `TextColumn` with Bokeh's `Serializer` (a module-level side effect).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from bokeh.core.serialization import Serializer

from heatmap_lib.metrics.summary import small_sample_note, small_sample_notes
from heatmap_lib.views.chart.style import MINUS


def _thousands(values: Any) -> np.ndarray:
    """Whole numbers with thousands separators ("1,234,500"; NaN gives ""), as an object array."""
    numbers = np.asarray(values, dtype=float)
    keys = numbers.tolist()
    if np.isnan(numbers).any():
        keys = [None if k != k else k for k in keys]
    return _VALUE_TEXT(keys)


def _signed(x: float) -> str:
    return f"{x:.0f}".replace("-", MINUS) if round(x) != 0 else "0"


# The hover texts are built from lookup tables of their whole-number parts, vectorised (a filter change at 10k
# accounts rebuilds them all): `np.rint` rounds half to even on the same double that Python's `format(x, ".0f")`
# rounds half to even, so the texts are the ones `_signed` and "{:.0%}" give (tests/test_redraw_cache.py checks).
_SIGNED = np.array([_signed(float(i)) for i in range(-200, 201)], dtype=object)  # NPS and interval ends
_PERCENT = np.array([f"{i}%" for i in range(101)], dtype=object)


def _whole(values: np.ndarray, low: int, high: int) -> np.ndarray:
    """Rounded whole numbers (half to even) as indexes, clipped to [low, high]; NaN gives `low`."""
    return np.clip(np.rint(np.nan_to_num(values, nan=low)), low, high).astype(np.int64)


class TextMemo:
    """Texts formatted once per distinct key and reused on every redraw (10k texts per filter change, live).

    Keyed by what the text is made of, so a text can never be stale; cleared past `LIMIT` keys.
    """

    LIMIT = 500_000

    def __init__(self, fmt: Callable[[Any], str]) -> None:
        self.fmt = fmt
        self.texts: dict[Any, str] = {}

    def __call__(self, keys: list[Any]) -> np.ndarray:
        """The text of each key, as an object array."""
        texts = self.texts
        try:
            found = [texts[k] for k in keys]
        except KeyError:
            if len(texts) > self.LIMIT:
                texts.clear()
            for k in set(keys).difference(texts):
                texts[k] = self.fmt(k)
            found = [texts[k] for k in keys]
        out = np.empty(len(found), dtype=object)
        out[:] = found
        return out


def _money_text(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


_VALUE_TEXT = TextMemo(_money_text)


def _counts_text(values: np.ndarray) -> np.ndarray:
    """Whole counts with thousands separators, as an object array (each distinct count formatted once)."""
    if not len(values):
        return np.array([], dtype=object)
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array([f"{v:,}" for v in distinct.tolist()], dtype=object)[inverse]


_NOTE_SLOTS = 2**16  # the answers behind a small-sample note, in an `_nps_texts` key (0: no note)


def _nps_texts(frame: pd.DataFrame) -> np.ndarray:
    """The hover's NPS line per row: "−25 (−55 to 12)", the small-sample note when flagged, "no response"."""
    score, low, high = (frame[c].to_numpy(dtype=float) for c in ("nps", "nps_low", "nps_high"))
    if not len(score):
        return np.array([], dtype=object)
    defined = ~np.isnan(score)
    ends = np.stack([score, low, high])[:, defined]
    if not (np.all(np.isfinite(ends)) and np.all(np.abs(ends) <= 200)) or "responses" not in frame:
        return _nps_texts_one_by_one(frame)  # not from a summary (an interval end missing, a score off the scale)
    small = frame["small_sample"].to_numpy(dtype=bool) if "small_sample" in frame else np.zeros(len(score), bool)
    answers = np.clip(frame["responses"].fillna(0).to_numpy(dtype=np.int64), 0, _NOTE_SLOTS - 1)
    s, lo, hi = (_whole(x, -200, 200) + 200 for x in (score, low, high))  # 0..400 each: one whole-number key
    code = ((s * 401 + lo) * 401 + hi) * _NOTE_SLOTS + np.where(small, answers, 0)
    return _NPS_TEXT(np.where(defined, code, -1).tolist())


def _nps_text(code: int) -> str:
    """The NPS hover text of a `_nps_texts` key: score, interval ends (each + 200) and the small-sample answers."""
    if code < 0:
        return "no response"
    answers, code = code % _NOTE_SLOTS, code // _NOTE_SLOTS
    high, code = code % 401, code // 401
    low, score = code % 401, code // 401
    note = small_sample_note(answers, flagged=True)
    return f"{_SIGNED[score]} ({_SIGNED[low]} to {_SIGNED[high]})" + (f", {note}" if note else "")


_NPS_TEXT = TextMemo(_nps_text)


def _nps_texts_one_by_one(frame: pd.DataFrame) -> np.ndarray:
    cols = [frame[c].to_numpy(dtype=float).tolist() for c in ("nps", "nps_low", "nps_high")]
    small = frame["small_sample"].to_numpy(dtype=bool).tolist() if "small_sample" in frame else [False] * len(frame)
    notes = small_sample_notes(frame).tolist() if "responses" in frame else ["small sample"] * len(frame)
    texts = [
        "no response"
        if score != score
        else f"{_signed(score)} ({_signed(low)} to {_signed(high)})" + (f", {note}" if flag and note else "")
        for score, low, high, flag, note in zip(*cols, small, notes, strict=True)
    ]
    return np.array(texts, dtype=object)


def _rate_texts(frame: pd.DataFrame) -> np.ndarray:
    """The hover's response-rate line per row: "45% (9 of 20)" ("45%" without the counts)."""
    rate = frame["response_rate"].to_numpy(dtype=float)
    if not len(rate):
        return np.array([], dtype=object)
    out = None
    pct = _whole(rate * 100, 0, 100)  # "{:.0%}" formats rate * 100 with ".0f"
    if not np.all((rate >= 0) & (rate <= 1)):  # outside 0..100% (not from a summary): Python's own format
        out = np.array([f"{r:.0%}" for r in rate.tolist()], dtype=object)
    if "responses" in frame and "invitations" in frame:
        n = frame["responses"].to_numpy(dtype=np.int64)
        i = frame["invitations"].to_numpy(dtype=np.int64)
        if out is None and len(n) and min(n.min(), i.min()) >= 0 and max(n.max(), i.max()) < 2**21:
            return _RATE_TEXT(((pct * 2**21 + n) * 2**21 + i).tolist())  # one whole-number key per text
        out = (_PERCENT[pct] if out is None else out) + " (" + _counts_text(n) + " of " + _counts_text(i) + ")"
        return out
    return _PERCENT[pct] if out is None else out


def _rate_text(code: int) -> str:
    """The response-rate hover text of a `_rate_texts` key: the rounded percentage, responses and invitations."""
    return f"{code >> 42}% ({(code >> 21) % 2**21:,} of {code % 2**21:,})"


_RATE_TEXT = TextMemo(_rate_text)


class TextColumn(list):
    """A data source column of plain texts (str only) that Bokeh sends as the JSON list it is (see `wire_texts`)."""


Serializer.register(TextColumn, lambda column, _serializer: list(column))


def wire_texts(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each column of plain texts as a `TextColumn`: the same texts reach the browser, sent in one step.

    Bokeh encodes a list or an object array text by text (a reference lookup and type checks each): at 10k accounts
    that was most of a live redraw's kernel time (docs/live.md). Columns holding anything but str stay as they are.
    """
    out: dict[str, Any] = {}
    for key, column in data.items():
        plain = isinstance(column, list) or (isinstance(column, np.ndarray) and column.dtype == object)
        texts = column.tolist() if isinstance(column, np.ndarray) else column
        out[key] = TextColumn(texts) if plain and len(texts) and all(type(t) is str for t in texts) else column
    return out


def _text_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as text, an object array ("" where missing or absent)."""
    if column not in frame:
        return np.full(len(frame), "", dtype=object)
    col = frame[column]
    if isinstance(col.dtype, pd.StringDtype):  # already text: only the missing values need filling
        return col.to_numpy(dtype=object, na_value="")
    return col.astype(object).fillna("").astype(str).to_numpy(dtype=object)
