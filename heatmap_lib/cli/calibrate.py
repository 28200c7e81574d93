"""`heatmap calibrate`: fit the renewal weights on the renewal history and write them (`metrics.renewal`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heatmap_lib.metrics.renewal import WeightsError, calibrate, validation_report


def add_calibrate_command(
    subparsers: Any, *, load_options: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.ArgumentParser:
    """Add `heatmap calibrate DATA [--segment-by COL] [--as-of DATE] --out FILE.yaml` to a CLI's subparsers."""
    p = subparsers.add_parser(
        "calibrate",
        help="fit the renewal risk and opportunity weights on the renewal history",
        description="Fit the renewal weights on the renewal history, using only the tables present: one "
        "observation per historical renewal from the signals before it, logistic regressions for churn and "
        "expansion with time-ordered cross-validation, validated on the latest 25%% of renewals. Writes the "
        "weights per segment and a validation mapping (held-out AUC, calibration by decile, baseline AUC).",
    )
    p.add_argument("data", help="dataset: folder of CSV/Parquet files, .xlsx workbook or .duckdb file")
    p.add_argument("--segment-by", default=None, help="accounts column with a model per value (e.g. tier)")
    p.add_argument("--as-of", default=None, help="use only renewals before this date (YYYY-MM-DD)")
    p.add_argument("--out", type=Path, required=True, help="weights file to write (.yaml)")
    if load_options is not None:
        load_options(p)
    p.set_defaults(handler=cmd_calibrate)
    return p


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Calibrate and write the weights file; print its path and the held-out figures."""
    import sys

    from heatmap_lib.data.loading import load

    if Path(args.out).suffix.lower() not in (".yaml", ".yml"):
        raise WeightsError(f"{args.out}: the weights file must be .yaml or .yml")
    start = time.perf_counter()
    kwargs = {}
    if getattr(args, "on_error", None):
        kwargs = {"on_error": args.on_error, "quarantine_dir": getattr(args, "quarantine_dir", None)}
    ds = load(args.data, **kwargs)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr)

    say(f"loaded {ds.describe()} in {time.perf_counter() - start:.1f}s")
    weights = calibrate(ds, segment_by=args.segment_by, as_of=args.as_of, progress=say)
    path = weights.save(args.out)
    for line in validation_report(weights.validation):
        say(line)
    print(path)
    return 0
