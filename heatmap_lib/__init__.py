"""heatmap: a Customer Heat Map for B2B account teams (`import heatmap_lib as hm`)."""

from heatmap_lib.core.exceptions import DataError, FilterError, FilterWarning, HeatmapError, SpecError, ValidationError
from heatmap_lib.data.loading import Dataset, Exclusion, Problem, load
from heatmap_lib.data.plays import PlaysError, PlayStore
from heatmap_lib.filters import FilterLibrary, FilterSet, Scope, scope
from heatmap_lib.metrics.health import (
    UnknownEventWarning,
    account_users,
    accounts_with_users_who_did,
    falling_accounts,
    health_summary,
    inactive_accounts,
    onboarding,
    usage_signals,
    weekly_active_users,
)
from heatmap_lib.metrics.learning import play_effects, play_outcomes
from heatmap_lib.metrics.renewal import Weights, WeightsError, calibrate
from heatmap_lib.metrics.renewal import score as renewal_scores
from heatmap_lib.metrics.renewal import signals as renewal_signals
from heatmap_lib.metrics.suggestions import load_rules, suggestions
from heatmap_lib.metrics.summary import (
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
from heatmap_lib.metrics.waves import compare_waves, move_counts, movers, nps_change_interval

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
    "PlayStore",
    "PlaysError",
    "Problem",
    "Scope",
    "SpecError",
    "Thresholds",
    "UnknownEventWarning",
    "ValidationError",
    "Weights",
    "WeightsError",
    "account_summary",
    "account_users",
    "accounts_with_users_who_did",
    "band",
    "calibrate",
    "classify_quadrants",
    "compare_waves",
    "falling_accounts",
    "health_summary",
    "heatmap_tables",
    "inactive_accounts",
    "load",
    "load_rules",
    "move_counts",
    "movers",
    "not_surveyed",
    "nps",
    "nps_change_interval",
    "nps_interval",
    "onboarding",
    "play_effects",
    "play_outcomes",
    "quadrant_guides",
    "renewal_scores",
    "renewal_signals",
    "role_breakdown",
    "role_flags",
    "scope",
    "scope_counts",
    "suggestions",
    "usage_signals",
    "weekly_active_users",
]
