"""heatmap: a Customer Heat Map for B2B account teams (`import heatmap_lib as hm`)."""

from .data import Dataset, Exclusion, Problem, load
from .exceptions import DataError, FilterError, FilterWarning, HeatmapError, SpecError, ValidationError
from .filters import FilterLibrary, FilterSet, Scope, scope
from .metrics import (
    BANDS,
    Guides,
    Thresholds,
    account_summary,
    band,
    classify_quadrants,
    heatmap_tables,
    not_surveyed,
    nps,
    nps_interval,
    quadrant_guides,
    role_breakdown,
    role_flags,
    scope_counts,
)

__all__ = [
    "BANDS",
    "DataError",
    "Dataset",
    "Exclusion",
    "FilterError",
    "FilterLibrary",
    "FilterSet",
    "FilterWarning",
    "Guides",
    "HeatmapError",
    "Problem",
    "Scope",
    "SpecError",
    "Thresholds",
    "ValidationError",
    "account_summary",
    "band",
    "classify_quadrants",
    "heatmap_tables",
    "load",
    "not_surveyed",
    "nps",
    "nps_interval",
    "quadrant_guides",
    "role_breakdown",
    "role_flags",
    "scope",
    "scope_counts",
]
