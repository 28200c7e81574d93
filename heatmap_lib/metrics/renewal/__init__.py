"""The renewal heat map's metrics (DESIGN.md sections 6 and 10): point-in-time signals, calibrated risk and opportunity.

Three layers, each usable on its own, and the tables the views read:

* `signal_table`: `signals(dataset, as_of)`, per account (or per account and date), what the account looked like
  strictly before a reference date, from whichever tables the dataset has (usage, payments, support, surveys,
  value, tenure, time to renewal); `SIGNALS` defines them.
* `weights`: the `Weights` file format (standardisation, per-segment models, correlations, validation).
* `calibration`: `calibrate(dataset)`, two L2 logistic regressions (churn -> risk, expansion -> opportunity) fitted
  on the renewal history, validated on the latest renewals held out (`validation`: AUC against a one-signal
  baseline with bootstrap intervals, calibration by decile).
* `scoring`: `score(dataset, weights)`, risk and opportunity 0-100 with each signal's contribution (re-weighting
  when a table the weights need is missing), and one account's contribution waterfall.
* `tables`: quadrants, the segment x renewal-month grid, at-risk and watermelon lists, the scoring summary.

The Bokeh charts and HTML tables built from these are in `heatmap_lib.views.renewal_view`. This package re-exports
the public names of its modules, so `from heatmap_lib.metrics import renewal as rn; rn.score(...)` works.
"""

from heatmap_lib.metrics.renewal.calibration import (
    C_GRID,
    CV_SPLITS,
    HOLDOUT_SHARE,
    MIN_CLASS,
    MIN_RENEWALS,
    SEGMENT_MIN_CLASS,
    SEGMENT_MIN_RENEWALS,
    calibrate,
)
from heatmap_lib.metrics.renewal.scoring import (
    account_contributions,
    format_signal,
    score,
    standardise,
    waterfall,
    waterfall_columns,
)
from heatmap_lib.metrics.renewal.signal_table import (
    FEATURE_DAYS,
    INVOICE_DAYS,
    MAX_SILENT_DAYS,
    MIN_COVERED_DAYS,
    SIGNAL_BY_NAME,
    SIGNALS,
    SURVEY_DAYS,
    SURVEY_GRACE_DAYS,
    TICKET_DAYS,
    TRANSFORMS,
    USAGE_COLUMNS,
    WINDOW_DAYS,
    Signal,
    available_signals,
    data_as_of,
    signals,
)
from heatmap_lib.metrics.renewal.tables import (
    AT_RISK_COLUMNS,
    QUADRANTS,
    STEP_COLUMNS,
    WATERMELON_COLUMNS,
    at_risk_list,
    describe_scores,
    renewal_grid_table,
    risk_quadrants,
    top_drivers,
    watermelons,
)
from heatmap_lib.metrics.renewal.validation import (
    BASELINE_SIGNAL,
    BETTER,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    SAME,
    WORSE,
    auc_comparison,
    validation_report,
)
from heatmap_lib.metrics.renewal.weights import (
    CLIP,
    FORMAT,
    Model,
    Scaling,
    SegmentModel,
    Weights,
    WeightsError,
)

__all__ = [
    "AT_RISK_COLUMNS",
    "BASELINE_SIGNAL",
    "BETTER",
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "CLIP",
    "CV_SPLITS",
    "C_GRID",
    "FEATURE_DAYS",
    "FORMAT",
    "HOLDOUT_SHARE",
    "INVOICE_DAYS",
    "MAX_SILENT_DAYS",
    "MIN_CLASS",
    "MIN_COVERED_DAYS",
    "MIN_RENEWALS",
    "QUADRANTS",
    "SAME",
    "SEGMENT_MIN_CLASS",
    "SEGMENT_MIN_RENEWALS",
    "SIGNALS",
    "SIGNAL_BY_NAME",
    "STEP_COLUMNS",
    "SURVEY_DAYS",
    "SURVEY_GRACE_DAYS",
    "TICKET_DAYS",
    "TRANSFORMS",
    "USAGE_COLUMNS",
    "WATERMELON_COLUMNS",
    "WINDOW_DAYS",
    "WORSE",
    "Model",
    "Scaling",
    "SegmentModel",
    "Signal",
    "Weights",
    "WeightsError",
    "account_contributions",
    "at_risk_list",
    "auc_comparison",
    "available_signals",
    "calibrate",
    "data_as_of",
    "describe_scores",
    "format_signal",
    "renewal_grid_table",
    "risk_quadrants",
    "score",
    "signals",
    "standardise",
    "top_drivers",
    "validation_report",
    "waterfall",
    "waterfall_columns",
    "watermelons",
]
