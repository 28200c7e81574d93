"""A segment's scope and headline figures: the filter set narrowed to a segment (and a wave), `Headline`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from heatmap_lib.core.exceptions import FilterError, FilterWarning
from heatmap_lib.filters import FilterSet, coerce, scope
from heatmap_lib.metrics.summary import BANDS, account_summary, scope_counts
from heatmap_lib.reports.snapshot._common import _float


def segment_filters(
    filters: FilterSet | Mapping[str, Any] | str | Path | None, segment_by: str | None, segment: Any
) -> FilterSet:
    """The filter set narrowed to one segment (`{segment_by: [segment]}`); no segment: the filter set as is.

    When the filter set already restricts `segment_by`, the segment must be one of its values (the scope is the
    intersection, never wider than the filter set).
    """
    fs = coerce(filters)
    if segment_by is None or segment is None:
        return fs
    value = str(segment).strip()
    allowed = fs.criteria.get(segment_by)
    if allowed and value not in allowed:
        raise FilterError(f"segment {value!r} is outside the filter set's {segment_by}: {', '.join(allowed)}")
    return fs.replace(**{segment_by: [value]})


@dataclass(frozen=True)
class Headline:
    """A segment's headline figures: accounts in scope, surveyed, response rate, NPS and its interval, bands."""

    accounts: int
    surveyed: int
    not_surveyed: int
    invitations: int
    responses: int
    response_rate: float
    nps: float | None
    nps_low: float | None
    nps_high: float | None
    bands: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able figures (no NaN: a missing NPS is None)."""
        return {
            "accounts": self.accounts,
            "surveyed": self.surveyed,
            "not_surveyed": self.not_surveyed,
            "invitations": self.invitations,
            "responses": self.responses,
            "response_rate": self.response_rate,
            "nps": self.nps,
            "nps_low": self.nps_low,
            "nps_high": self.nps_high,
            "bands": dict(self.bands),
        }


def headline(summary: pd.DataFrame, counts: Mapping[str, int]) -> Headline:
    """Headline figures from an account summary and `metrics.scope_counts` of the same scope."""
    from heatmap_lib.metrics.summary import nps, nps_interval

    promoters = int(summary["promoters"].sum()) if len(summary) else 0
    passives = int(summary["passives"].sum()) if len(summary) else 0
    detractors = int(summary["detractors"].sum()) if len(summary) else 0
    responses = int(counts.get("responses", promoters + passives + detractors))
    invitations = int(counts.get("invitations", 0))
    interval = nps_interval(promoters, passives, detractors)
    bands = summary["band"].value_counts() if len(summary) else pd.Series(dtype="int64")
    return Headline(
        accounts=int(counts.get("accounts", len(summary))),
        surveyed=len(summary),
        not_surveyed=int(counts.get("accounts", len(summary))) - len(summary),
        invitations=invitations,
        responses=responses,
        response_rate=responses / invitations if invitations else 0.0,
        nps=_float(nps(promoters, detractors, promoters + passives + detractors)),
        nps_low=interval[0] if interval else None,
        nps_high=interval[1] if interval else None,
        bands={b: int(bands.get(b, 0)) for b in BANDS},
    )


def segment_headline(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    red_below: float | None = None,
    green_above: float | None = None,
) -> Headline:
    """A segment's headline figures alone (no view): what the batch index shows when a notebook recorded none."""
    fs = segment_filters(filters, segment_by, segment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FilterWarning)
        sc = scope(dataset, fs)
        summary = account_summary(dataset, scoped=sc, red_below=red_below, green_above=green_above)
        counts = scope_counts(dataset, scoped=sc)
    return headline(summary, counts)


def report_filters(
    filters: FilterSet | Mapping[str, Any] | str | Path | None,
    segment_by: str | None,
    segment: Any,
    wave: str | None = None,
) -> FilterSet:
    """The filter set of one segment's report, narrowed to `wave` when one is given (see `segment_filters`)."""
    fs = segment_filters(filters, segment_by, segment)
    if wave is None:
        return fs
    value = str(wave).strip()
    allowed = fs.criteria.get("wave")
    if allowed and value not in allowed:
        raise FilterError(f"wave {value!r} is outside the report's waves: {', '.join(allowed)}")
    return fs.replace(wave=[value])
