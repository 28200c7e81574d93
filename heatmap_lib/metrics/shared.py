"""Results a batch kernel computes once and its segments share, kept per process for a run's read-only data.

A `heatmap run` kernel runs segment after segment over one read-only copy of the run's data
(`Dataset.shared_key`); what a segment computes that does not depend on the segment, or that its report and its
X-Ray pages both ask for, is kept here (the last `KEPT` results) and handed out as copies. Any other dataset
computes every time.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import pandas as pd

KEPT = 8  # results kept per process (a run's kernel needs three or four)
_kept: OrderedDict[tuple[Hashable, ...], tuple[tuple[Any, ...], pd.DataFrame]] = OrderedDict()


def shares(dataset: Any) -> bool:
    """Whether results computed from `dataset` are kept for later calls in this process."""
    key = getattr(dataset, "shared_key", None)
    return key is not None and key() is not None


def shared(
    dataset: Any, key: tuple[Hashable, ...], compute: Callable[[], pd.DataFrame], *, guard: tuple[Any, ...] = ()
) -> pd.DataFrame:
    """`compute()`, or a copy of what it returned for the same dataset and `key` earlier in this process.

    `guard`: objects the result was computed from, compared by identity (a `Weights` keyed by its `id`).
    """
    ident = dataset.shared_key() if shares(dataset) else None
    if ident is None:
        return compute()
    full = (ident, *key)
    hit = _kept.get(full)
    if hit is None or len(hit[0]) != len(guard) or any(a is not b for a, b in zip(hit[0], guard, strict=True)):
        _kept[full] = hit = (guard, compute())
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    _kept.move_to_end(full)
    return _copy(hit[1])


def filters_key(filters: Any) -> str | None:
    """A filter set (or None) as a key; None for anything else (a file or a mapping: not kept)."""
    from heatmap_lib.filters import FilterSet

    if filters is None:
        return "{}"
    if isinstance(filters, FilterSet):
        return json.dumps(filters.to_dict(), sort_keys=True, default=str)
    return None


def _copy(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.attrs = copy.deepcopy(frame.attrs)
    return out
