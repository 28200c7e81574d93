"""`heatmap export`: the heat map chart (PNG, SVG, PDF) and its table (xlsx, CSV) written from the command line."""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heatmap_lib.cli.common import say
from heatmap_lib.core.exceptions import FilterWarning, HeatmapError
from heatmap_lib.views.static_export import (
    CHART_FORMATS,
    TABLE_FORMATS,
    _format,
    browser_paths,
    export_caption,
    export_chart,
    export_table,
)


def add_export_command(
    subparsers: Any, *, load_options: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.ArgumentParser:
    """Add `heatmap export DATA [--filters FILE] [--chart FILE ...] [--table FILE ...] [--log-x]` to a CLI.

    `load_options` (the CLI's own `--on-error`/`--quarantine-dir` adder) is applied to the new parser when given.
    """
    p = subparsers.add_parser(
        "export",
        help="write the bubble chart (png, svg, pdf) and the account table (xlsx, csv)",
        description="Build the Customer Heat Map for a dataset and filter set and write the chart as PNG, SVG or "
        "PDF and the account table as xlsx or CSV, each by its file suffix. Chart exports need Debian's chromium "
        "and chromium-driver.",
    )
    p.add_argument("data", help="dataset: folder of CSV/Parquet files, .xlsx workbook or .duckdb file")
    p.add_argument("--filters", help="filter-set file (.yaml or .json)")
    p.add_argument(
        "--chart", type=Path, action="append", default=[], metavar="FILE", help="chart file: .png, .svg or .pdf"
    )
    p.add_argument("--table", type=Path, action="append", default=[], metavar="FILE", help="table file: .xlsx or .csv")
    p.add_argument("--log-x", action="store_true", help="account value on a log axis")
    p.add_argument("--by-role", action="store_true", help="add NPS per role to the table")
    p.add_argument("--title", default="Customer Heat Map", help="chart title (default: Customer Heat Map)")
    p.add_argument("--width", type=int, default=900, help="chart width in pixels (default 900)")
    p.add_argument("--height", type=int, default=560, help="chart height in pixels (default 560)")
    p.add_argument("--red-below", type=float, default=None, help="NPS below this is red (default -10)")
    p.add_argument("--green-above", type=float, default=None, help="NPS above this is green (default 10)")
    if load_options is not None:
        load_options(p)
    p.set_defaults(func=cmd_export)
    return p


def cmd_export(args: argparse.Namespace) -> int:
    """Write the chart and table files named on the command line; returns the exit status."""
    from heatmap_lib.data.loading import load
    from heatmap_lib.filters import FilterSet
    from heatmap_lib.metrics.summary import account_summary
    from heatmap_lib.views.chart import bubble_chart
    from heatmap_lib.views.export import about

    if not args.chart and not args.table:
        raise HeatmapError("nothing to export: name at least one --chart FILE or --table FILE")
    for f in args.chart:
        _format(f, None, CHART_FORMATS)
    for f in args.table:
        _format(f, None, TABLE_FORMATS)
    if args.width < 100 or args.height < 100:
        raise HeatmapError(f"--width and --height must be at least 100 pixels, not {args.width}x{args.height}")
    if args.chart:
        browser_paths()  # fail before loading the data when the browser is missing

    filters = FilterSet.load(args.filters) if args.filters else None
    start = time.perf_counter()
    ds = load(
        args.data, on_error=getattr(args, "on_error", "raise"), quarantine_dir=getattr(args, "quarantine_dir", None)
    )
    say(f"loaded {ds.describe()} in {time.perf_counter() - start:.1f}s")
    if ds.exclusions:
        say(f"warning: {ds.exclusion_note()}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FilterWarning)
        summary = account_summary(
            ds, filters, red_below=args.red_below, green_above=args.green_above, by_role=args.by_role
        )
    for w in caught:
        say(f"warning: {w.message}")
    info = about(ds, summary)
    for out in args.table:
        export_table(summary, out, info)
        say(f"table ({len(summary):,} accounts) written to {out}")
    if args.chart:
        chart = bubble_chart(summary, log_x=args.log_x, title=args.title, width=args.width, height=args.height)
        caption = export_caption(summary, info)
        for out in args.chart:
            t = time.perf_counter()
            export_chart(chart, out, caption=caption)
            say(f"chart written to {out} in {time.perf_counter() - t:.1f}s")
    return 0
