"""Complete and partial periods of a time series, so that no chart draws a short period as a fall (issue 18).

A week that the data cover for three days has fewer active users than a whole week, and a survey wave whose
answers are still coming in has a lower response rate than it will have: drawn like the others, either looks like
a cliff that is not there. `period_completeness` says, for any periods (calendar weeks, months, survey waves),
which ones the data cover whole; `describe_window` states the window and what was done with the partial periods,
in words a chart can carry. Every time series the product draws goes through them: weekly active users
(`health.weekly_active_users`), the X-Ray's wave trend (`xray`) and the renewal months (`renewal`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError

PartialPolicy = Literal["mark", "drop"]
PARTIAL_POLICIES: tuple[str, ...] = ("mark", "drop")  # mark: kept and drawn as partial; drop: left out
PERIOD_COLUMNS = ("period_start", "period_end", "days", "days_covered", "complete")


def _day(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def period_completeness(
    starts: Sequence[Any],
    ends: Sequence[Any],
    *,
    data_first: Any,
    data_last: Any,
    settle_days: int = 0,
) -> pd.DataFrame:
    """Which periods the data cover whole: one row per period, in the order given.

    starts, ends: each period's first and last day (inclusive). data_first, data_last: the first and last day the
    data cover (None for data_first: from the start of time). A period is complete when it starts on or after
    `data_first` and its last day, plus `settle_days` (time for late data such as survey answers to arrive), is on
    or before `data_last`. Columns: `period_start`, `period_end` (dates), `days`, `days_covered` (days inside
    the data's span) and `complete`.

    >>> import datetime as dt
    >>> week = period_completeness([dt.date(2026, 11, 30)], [dt.date(2026, 12, 6)],
    ...                            data_first=None, data_last=dt.date(2026, 12, 2))
    >>> week[["days", "days_covered", "complete"]].values.tolist()
    [[7, 3, False]]
    """
    if len(starts) != len(ends):
        raise HeatmapError(f"periods: {len(starts)} starts but {len(ends)} ends")
    if settle_days < 0:
        raise HeatmapError(f"settle_days must not be negative, not {settle_days}")
    first = _day(data_first) if data_first is not None else None
    last = _day(data_last)
    s = [_day(x) for x in starts]
    e = [_day(x) for x in ends]
    for a, b in zip(s, e, strict=True):
        if b < a:
            raise HeatmapError(f"a period cannot end ({b}) before it starts ({a})")
    days = [(b - a).days + 1 for a, b in zip(s, e, strict=True)]
    covered = [
        max(0, (min(b, last) - max(a, first if first is not None else a)).days + 1) for a, b in zip(s, e, strict=True)
    ]
    complete = [
        (first is None or a >= first) and b + dt.timedelta(days=settle_days) <= last for a, b in zip(s, e, strict=True)
    ]
    return pd.DataFrame(
        {
            "period_start": s,
            "period_end": e,
            "days": np.array(days, dtype=np.int64),
            "days_covered": np.array(covered, dtype=np.int64),
            "complete": np.array(complete, dtype=bool),
        },
        columns=list(PERIOD_COLUMNS),
    )


def check_policy(policy: str) -> PartialPolicy:
    """`policy` if it is one of `PARTIAL_POLICIES`, else a `HeatmapError` naming them."""
    if policy not in PARTIAL_POLICIES:
        raise HeatmapError(f"partial periods: {policy!r} is not one of {', '.join(PARTIAL_POLICIES)}")
    return policy  # type: ignore[return-value]


def describe_window(
    periods: pd.DataFrame, *, unit: str, policy: PartialPolicy, data_last: Any, late: str | None = None
) -> str:
    """One sentence for a chart: the window of periods drawn, and which were partial and what was done with them.

    periods: `period_completeness` rows (all of them, before any was dropped). unit: the period's name ("week",
    "wave", "month"). late: why a period whose days are all in the data can still be partial (for waves:
    "answers may still arrive").
    """
    if not len(periods):
        return f"No {unit}s in the window."
    first, last = periods["period_start"].iloc[0], periods["period_end"].iloc[-1]
    text = f"{unit.capitalize()}s from {first} to {last}; data to {_day(data_last)}."
    partial = periods.loc[~periods["complete"]]
    if not len(partial):
        return text + f" Every {unit} is complete."
    parts = []
    for row in partial.to_dict(orient="records"):
        start, end, days, covered = row["period_start"], row["period_end"], int(row["days"]), int(row["days_covered"])
        where = "first" if start == first else "last" if end == last else "a"
        why = f"{covered} of {days} days in the data" if covered < days else (late or "not over yet")
        parts.append(f"the {where} {unit} ({start} to {end}) is partial: {why}")
    done = "drawn dashed and hollow, not comparable with whole ones" if policy == "mark" else "left out"
    said = "; ".join(parts)
    return f"{text} {said[0].upper()}{said[1:]} ({done})."
