"""Shared private helpers of the demo generator: time constants and small vectorised numpy/pyarrow helpers.

The day/NaT/epoch constants, the history windows and the number of survey waves, and the helpers every table
builder uses: logistic, fixed-width ids, arrow string columns (take, join, chunked), date/timestamp columns,
per-key running counts, slugs and month arithmetic on day numbers.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_DAY = 86_400
_NAT = np.iinfo(np.int64).min
_EPOCH = datetime.date(1970, 1, 1)
_USAGE_DAYS = 456  # ~15 months of usage, tickets and invoices before the reference date
_HISTORY_DAYS = 365  # renewal history: the 12 months before the reference date
_WAVES = 4


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _digits(n: int, minimum: int) -> int:
    """Number of decimal digits needed for ids up to n, at least minimum."""
    return max(minimum, len(str(max(int(n), 1))))


_PAIRS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8)


def _fixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded ids such as A000001 built as one arrow string buffer (no per-row formatting)."""
    n = len(numbers)
    head = prefix.encode("ascii")
    size = len(head) + width
    buf = np.empty((n, size), dtype=np.uint8)
    if head:
        buf[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    x = np.asarray(numbers, dtype=np.int64).copy()
    pos = size
    while pos - 2 >= len(head):
        x, r = np.divmod(x, 100)
        buf[:, pos - 2 : pos] = _PAIRS[r]
        pos -= 2
    if pos > len(head):
        buf[:, pos - 1] = (x % 10 + 48).astype(np.uint8)
    offsets = np.arange(n + 1, dtype=np.int64) * size
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def _strings(values: Sequence[str | None]) -> pa.Array:
    """A small arrow string dictionary."""
    return pa.array(list(values), type=pa.large_string())


def _take(values: Sequence[str | None] | pa.Array, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """values[idx] as an arrow string array; null where valid is False."""
    arr = values if isinstance(values, pa.Array) else _strings(values)
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64), mask=mask))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrow string arrays (and literal strings)."""
    args = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar("", pa.large_string()))


def _str_col(arr: pa.Array) -> pd.Series:
    """Arrow strings as a pandas ``str`` column (missing = NaN)."""
    return arr.to_pandas()


def _chunked_str(chunks: list[pa.Array]) -> pd.Series:
    """Arrow string chunks as one pandas ``str`` column without concatenating them."""
    return pa.chunked_array(chunks, type=pa.large_string()).to_pandas()


def _date_col(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (``_NAT`` for missing) as datetime64[s] at midnight."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[s]")


def _ts_col(seconds: np.ndarray) -> np.ndarray:
    """Seconds since 1970-01-01 as datetime64[s]."""
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")


def _cumcount(keys: np.ndarray) -> np.ndarray:
    """Rank of each element among equal keys, in order of appearance (0 for the first)."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    start = np.ones(len(keys), dtype=bool)
    start[1:] = sk[1:] != sk[:-1]
    pos = np.arange(len(keys))
    first = np.maximum.accumulate(np.where(start, pos, 0))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = pos - first
    return out


def _slug(text: str) -> str:
    """Lower-case ASCII slug of a name (accents and punctuation dropped)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum() or ch == "-")


def _day(d: datetime.date) -> int:
    """Days since 1970-01-01."""
    return (d - _EPOCH).days


def _month_index(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar month index (months since 1970-01) and 0-based day of month."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    return m.astype(np.int64), (d - m.astype("datetime64[D]")).astype(np.int64)


def _month_day(months: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Days since epoch for a month index plus a 0-based day of month (dom <= 27, valid in every month)."""
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(
        np.int64
    ) + np.asarray(dom, dtype=np.int64)
