"""The `heatmap` command: a thin layer over the library (`heatmap --help`)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from heatmap_lib.cli.common import add_load_options, date_arg, load_data, say
from heatmap_lib.core.exceptions import FilterWarning, HeatmapError, ValidationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heatmap",
        description="Customer Heat Map: account value x footprint x response rate x NPS band.",
    )
    parser.add_argument(
        "--raw-csv",
        action="store_true",
        help="write CSV cells as they are (anywhere on the line; for pipelines): by default a text cell starting "
        "with =, +, -, @, tab or CR gets a leading ' so that a spreadsheet shows it instead of running it",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="write the seeded demo dataset", description="Write the seeded demo dataset.")
    p.add_argument("--out", type=Path, required=True, help="folder to write into")
    p.add_argument("--accounts", type=int, default=200, help="number of accounts (default 200)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--format", choices=("csv", "parquet", "duckdb", "xlsx"), default="csv", help="file format")
    p.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="also put the demo's plays (with planted effects for the learning loop) in this workspace's store",
    )

    p = sub.add_parser(
        "validate",
        help="check a dataset against the data contract",
        description="Check a dataset against the data contract and list every problem at once.",
    )
    p.add_argument(
        "data",
        help="dataset: folder of CSV/Parquet files, .xlsx workbook, .duckdb file, a mapping file (.yaml, see "
        "docs/mapping.md), or a connection URL (postgres://..., spark://...; see docs/engines.md)",
    )
    p.add_argument("--report", type=Path, help="also write every problem to this .csv, .xlsx or .json file")
    add_load_options(p)

    p = sub.add_parser(
        "summary",
        help="write the account summary (csv, xlsx or json)",
        description="Compute the account summary (one row per surveyed account) and write it by the file suffix.",
    )
    p.add_argument("data", help="dataset path or connection URL")
    p.add_argument("--filters", help="filter-set file (.yaml or .json)")
    p.add_argument("--out", type=Path, required=True, help="output file: .csv, .xlsx or .json")
    p.add_argument("--by-role", action="store_true", help="add NPS per role and the hidden-risk/loyalty flags")
    p.add_argument("--red-below", type=float, default=None, help="NPS below this is red (default -10)")
    p.add_argument("--green-above", type=float, default=None, help="NPS above this is green (default 10)")
    add_load_options(p)

    p = sub.add_parser(
        "health",
        help="write the per-account usage health table (csv, xlsx or json)",
        description="Per account over a window: active users, events, KPI users, feature breadth, seat "
        "utilisation, onboarding, last activity and the change against the previous window.",
    )
    p.add_argument("data", help="dataset path (needs a usage_events table)")
    p.add_argument("--filters", help="filter-set file (.yaml or .json); account filters apply")
    p.add_argument("--out", type=Path, required=True, help="output file: .csv, .xlsx or .json (no row cap)")
    p.add_argument("--as-of", type=date_arg, default=None, help="last day counted, YYYY-MM-DD (default: latest event)")
    p.add_argument("--window-days", type=int, default=28, help="window length in days (default 28)")
    p.add_argument("--kpi", action="append", default=[], metavar="EVENT", help="a KPI event (repeatable)")
    p.add_argument("--onboarding", action="append", default=[], metavar="EVENT", help="an onboarding step")
    p.add_argument("--inactive-days", type=int, default=30, help="no event in this many days: inactive")
    add_load_options(p)

    p = sub.add_parser(
        "movers",
        help="write the wave-over-wave movers table (csv, xlsx or json)",
        description="Compare two waves per account (NPS with a 95%% interval on the change, response rate, "
        "footprint, band) and write the accounts that moved: newly red, real drops, newly silent, real rises, "
        "newly green, most valuable first.",
    )
    p.add_argument("data", help="dataset path or connection URL")
    p.add_argument("--wave", help="the wave to look at (default: the latest)")
    p.add_argument("--compare-to", help="the wave to compare with (default: the one sent before)")
    p.add_argument("--filters", help="filter-set file (.yaml or .json)")
    p.add_argument("--all", action="store_true", help="every account of both waves, not only the movers")
    p.add_argument("--out", type=Path, required=True, help="output file: .csv, .xlsx or .json")
    add_load_options(p)

    p = sub.add_parser(
        "import",
        help="map survey-tool, CRM and analytics exports onto the contract (a mapping file)",
        description="Map the exports a mapping file names (see params/mappings/ and docs/mapping.md), validate "
        "them, and write the dataset as Parquet with import_report.json (rows per table, unmatched job titles, "
        "derived waves). Problems are named at their source file, line and column.",
    )
    p.add_argument("mapping", type=Path, help="mapping file (.yaml)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the mapped dataset into")
    add_load_options(p)

    p = sub.add_parser(
        "cache",
        help="list or clear the prepared (validated) datasets",
        description="A validated dataset is kept, prepared, in the cache folder ($HEATMAP_CACHE_DIR, else "
        "~/.cache/heatmap) and reopened in seconds while its files are unchanged. `heatmap cache` lists the "
        "prepared datasets; `heatmap cache clear` removes them all.",
    )
    p.add_argument("action", nargs="?", choices=("list", "clear"), default="list", help="list (default) or clear")
    p.add_argument("--dir", type=Path, default=None, help="the cache folder (default: $HEATMAP_CACHE_DIR)")

    from heatmap_lib.cli.calibrate import add_calibrate_command
    from heatmap_lib.cli.export import add_export_command
    from heatmap_lib.cli.plays import add_plays_command
    from heatmap_lib.cli.run import add_run_command

    add_export_command(sub, load_options=add_load_options)
    add_run_command(sub)
    add_calibrate_command(sub, load_options=add_load_options)
    add_plays_command(sub, load_options=add_load_options)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    """Write the demo dataset."""
    from heatmap_lib.data.demo import write_demo

    if args.accounts < 1:
        raise HeatmapError(f"--accounts must be at least 1, not {args.accounts}")
    start = time.perf_counter()
    path = write_demo(args.out, accounts=args.accounts, seed=args.seed, fmt=args.format, workspace=args.workspace)
    say(f"demo dataset ({args.accounts:,} accounts, seed {args.seed}) written in {time.perf_counter() - start:.1f}s")
    if args.workspace is not None:
        say(f"demo plays in {args.workspace / 'plays.sqlite'}")
    print(path)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a dataset; exit 1 with the problem list when it breaks the contract."""
    from heatmap_lib.data.loading import load

    try:
        ds = load(args.data, on_error=args.on_error, quarantine_dir=args.quarantine_dir)
    except ValidationError as exc:
        print(str(exc))
        if args.report:
            _write_problems(exc.problems, args.report)
            say(f"all {len(exc.problems)} problems written to {args.report}")
        n = len(exc.problems)
        say(f"heatmap: error: {args.data} breaks the data contract ({n} problem{'s' * (n != 1)})")
        return 1
    print(f"ok: {ds.describe()}")
    for note in ds.notes:
        print(f"note: {note}")
    if ds.exclusions:
        print(ds.exclusion_note())
    return 0


def _write_problems(problems: list, path: Path) -> None:
    import pandas as pd

    from heatmap_lib.views.export import write_table

    write_table(pd.DataFrame([p.as_dict() for p in problems]), path, sheet="problems")


def cmd_import(args: argparse.Namespace) -> int:
    """Map exports onto the contract through a mapping file and write the dataset as Parquet with a report."""
    from heatmap_lib.data.mapping import import_dataset

    start = time.perf_counter()
    report = import_dataset(args.mapping, args.out, on_error=args.on_error, quarantine_dir=args.quarantine_dir)
    print(report)
    say(f"mapped dataset written to {args.out} in {time.perf_counter() - start:.1f}s (report: import_report.json)")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Compute and write the account summary."""
    from heatmap_lib.filters import FilterSet
    from heatmap_lib.metrics.summary import account_summary
    from heatmap_lib.views.export import about, write_table

    filters = FilterSet.load(args.filters) if args.filters else None
    ds = load_data(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FilterWarning)
        df = account_summary(ds, filters, red_below=args.red_below, green_above=args.green_above, by_role=args.by_role)
    for w in caught:
        say(f"warning: {w.message}")
    write_table(df, args.out, about(ds, df))
    say(f"{len(df):,} accounts written to {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export the chart (PNG, SVG, PDF) and the table (xlsx, CSV)."""
    from heatmap_lib.cli.export import cmd_export as run

    return run(args)


def cmd_run(args: argparse.Namespace) -> int:
    """Run a batch spec: one report per segment, an index and a manifest."""
    from heatmap_lib.cli.run import cmd_run as run

    return run(args)


def cmd_health(args: argparse.Namespace) -> int:
    """Compute and write the per-account usage health table."""
    from heatmap_lib.filters import FilterSet
    from heatmap_lib.metrics import health
    from heatmap_lib.views.export import write_health_table

    filters = FilterSet.load(args.filters) if args.filters else None
    ds = load_data(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = health.health_summary(
            ds,
            filters,
            as_of=args.as_of,
            window_days=args.window_days,
            kpi_events=tuple(args.kpi),
            onboarding_events=tuple(args.onboarding),
            inactive_days=args.inactive_days,
        )
    for w in caught:
        if issubclass(w.category, UserWarning):
            say(f"warning: {w.message}")
    write_health_table(df, args.out, ds)
    say(f"{len(df):,} accounts written to {args.out}")
    return 0


def cmd_movers(args: argparse.Namespace) -> int:
    """Compare two waves and write the movers (or the whole comparison with --all)."""
    from heatmap_lib.filters import FilterSet
    from heatmap_lib.metrics.waves import compare_waves, movers
    from heatmap_lib.views.export import about, write_table

    filters = FilterSet.load(args.filters) if args.filters else None
    ds = load_data(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FilterWarning)
        table = compare_waves(ds, args.wave, args.compare_to, filters)
    for w in caught:
        say(f"warning: {w.message}")
    out = table if args.all else movers(table)
    write_table(out, args.out, about(ds, table), sheet="movers")
    say(f"{len(out):,} accounts written to {args.out}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """List the prepared datasets in the cache folder, or remove them all."""
    from heatmap_lib.data import prepared

    folder = prepared.cache_dir(args.dir)
    if args.action == "clear":
        n = prepared.clear(args.dir)
        say(f"removed {n} prepared dataset{'s' * (n != 1)} from {folder}")
        return 0
    found = prepared.entries(args.dir)
    size = sum(e["bytes"] for e in found)
    limit = prepared.max_bytes()
    cap = f"limit {limit / 1e9:,.1f} GB" if limit != float("inf") else "no limit"
    print(
        f"{len(found)} prepared dataset{'s' * (len(found) != 1)} in {folder}: {size / 1e6:,.1f} MB "
        f"({cap}, ${prepared.MAX_ENV}; the least recently opened go first)"
    )
    for e in found:
        when = dt.datetime.fromtimestamp(e["prepared"]).strftime("%Y-%m-%d %H:%M")
        rows = ", ".join(f"{n:,} {t}" for t, n in e["rows"].items() if n)
        print(f"{e['source']}  prepared {when}  {e['bytes'] / 1e6:,.1f} MB  ({rows})")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit the renewal weights on the renewal history and write them with their validation."""
    from heatmap_lib.cli.calibrate import cmd_calibrate as run

    return run(args)


def cmd_plays(args: argparse.Namespace) -> int:
    """Record, list, import, export and suggest plays, and report which ones work."""
    from heatmap_lib.cli.plays import cmd_plays as run

    return run(args)


COMMANDS = {
    "demo": cmd_demo,
    "validate": cmd_validate,
    "import": cmd_import,
    "summary": cmd_summary,
    "export": cmd_export,
    "run": cmd_run,
    "calibrate": cmd_calibrate,
    "health": cmd_health,
    "movers": cmd_movers,
    "plays": cmd_plays,
    "cache": cmd_cache,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 invalid data, 2 any other error, 3 internal error)."""
    from heatmap_lib.core.files import raw_csv

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--raw-csv" in argv:  # accepted after the command too: it is the top-level parser's
        argv = ["--raw-csv", *(a for a in argv if a != "--raw-csv")]
    args = _parser().parse_args(argv)
    try:
        with raw_csv(args.raw_csv):
            return COMMANDS[args.command](args)
    except ValidationError as exc:
        print(str(exc), file=sys.stderr)
        say(f"heatmap: error: {str(exc).splitlines()[0]}")
        return 1
    except HeatmapError as exc:
        say(f"heatmap: error: {str(exc).splitlines()[0]}")
        return 2
    except KeyboardInterrupt:
        say("heatmap: interrupted")
        return 130
    except OSError as exc:  # a full disk, a folder made read-only, a file removed under us
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"heatmap: error: {where}{exc.strerror or exc}")
        return 2
    except Exception as exc:
        if _is_interrupt(exc):  # DuckDB turns Ctrl-C during a query into its own exception
            say("heatmap: interrupted")
            return 130
        say(f"heatmap: internal error: {type(exc).__name__}: {_first_line(exc)} (details in {_write_details(exc)})")
        return 3


def _is_interrupt(exc: BaseException) -> bool:
    import duckdb

    return isinstance(exc, duckdb.InterruptException)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def _write_details(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a file in the temp folder; return the file's path."""
    import tempfile
    import traceback

    try:
        fd, name = tempfile.mkstemp(prefix="heatmap-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"heatmap {' '.join(sys.argv[1:])}\n\n")
            fh.write("".join(traceback.format_exception(exc)))
        return name
    except OSError:
        return "nowhere: the temp folder is not writable"


if __name__ == "__main__":
    sys.exit(main())
