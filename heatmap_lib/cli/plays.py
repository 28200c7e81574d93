"""`heatmap plays ...`: record, update, list, import, export and suggest plays, and learn which ones work."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from heatmap_lib.cli.common import date_arg, say
from heatmap_lib.data.plays import (
    OPEN,
    STATUSES,
    PlayStore,
    default_workspace,
    open_plays,
)
from heatmap_lib.metrics.suggestions import load_rules, suggestions


def add_plays_command(
    subparsers: Any, *, load_options: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.ArgumentParser:
    """Add `heatmap plays ACTION ...` (add, update, list, import, export, suggest, learn) to a CLI."""
    p = subparsers.add_parser(
        "plays",
        help="the actions store: record and list plays, import/export CSV, suggestions, the learning loop",
        description="Plays per account, kept in <workspace>/plays.sqlite (never in the source data). The "
        "workspace is --workspace, else $HEATMAP_WORKSPACE, else ./workspace.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
        a.add_argument("--workspace", type=Path, default=None, help="workspace folder (default: ./workspace)")
        return a

    def data_arg(a: argparse.ArgumentParser, required: bool) -> None:
        help = "dataset (folder, workbook, .duckdb or URL)"
        if required:
            a.add_argument("data", help=help)
        else:
            a.add_argument("--data", help=help + ": check account ids and name accounts")
        if load_options is not None:
            load_options(a)

    a = action("add", "record a play for an account")
    a.add_argument("account_id")
    a.add_argument("play", help="a built-in play (recruit_contacts, executive_sponsor, ...) or your own")
    a.add_argument("--owner", required=True)
    a.add_argument("--due", type=date_arg, help="due date (YYYY-MM-DD)")
    a.add_argument("--notes", default="")
    a.add_argument("--suggested-by", default="", help="the suggestion rule this play adopts")
    data_arg(a, required=False)

    a = action("update", "change a play's status, owner, due date or notes")
    a.add_argument("play_id")
    a.add_argument("--status", choices=STATUSES)
    a.add_argument("--owner")
    a.add_argument("--due", type=date_arg)
    a.add_argument("--notes")
    a.add_argument("--closed", type=date_arg, help="closing date when the status closes the play (default today)")

    a = action("list", "list plays (open ones by default), grouped by account manager with --data")
    a.add_argument("--status", choices=("open", "overdue", "all", *STATUSES), default="open")
    a.add_argument("--account", action="append", help="only this account (repeatable)")
    a.add_argument("--by", default="account_manager", help="accounts column to group by (with --data), or owner")
    a.add_argument("--as-of", type=date_arg, help="the date that decides what is overdue (default today)")
    a.add_argument("--out", type=Path, help="write the list to .csv, .xlsx or .json instead of printing it")
    data_arg(a, required=False)

    a = action("import", "add plays from a CSV file (all rows or none)")
    a.add_argument("csv", type=Path)
    data_arg(a, required=False)

    a = action("export", "write every play to a CSV file")
    a.add_argument("out", type=Path)

    a = action("suggest", "suggested plays for the flagged accounts of a dataset")
    data_arg(a, required=True)
    a.add_argument("--rules", type=Path, help="suggestion rules (default params/play_rules.yaml)")
    a.add_argument("--filters", help="filter-set file (.yaml or .json)")
    a.add_argument("--out", type=Path, help="write to .csv, .xlsx or .json instead of printing")

    a = action("learn", "which plays moved NPS, response rate and renewal risk, against comparable accounts")
    data_arg(a, required=True)
    a.add_argument("--renewal-weights", type=Path, help="weights file: also measure the change in renewal risk")
    a.add_argument("--match-on", default="tier", help="accounts column(s) comparable accounts share (comma list)")
    a.add_argument("--out", type=Path, help="write to .csv, .xlsx or .json instead of printing")
    p.set_defaults(handler=cmd_plays)
    return p


def load_data(args: argparse.Namespace) -> Any:
    from heatmap_lib.data.loading import load

    ds = load(args.data, on_error=args.on_error, quarantine_dir=args.quarantine_dir)
    say(f"loaded {ds.describe()}")
    return ds


def _accounts(ds: Any) -> pd.DataFrame:
    return ds.table("accounts").to_pandas()


PRINTED = (
    "group",
    "account_id",
    "account_name",
    "play_label",
    "play",
    "owner",
    "status",
    "due_date",
    "days_overdue",
    "closed_at",
    "rule",
    "open_already",
    "play_id",
)


def _emit(df: pd.DataFrame, out: Path | None, ds: Any = None, sheet: str = "plays") -> None:
    """Print a short view of the table, or write all of it to `out` with its provenance."""
    from heatmap_lib.views.export import about, write_table

    if out is None:
        shown = df[[c for c in PRINTED if c in df]] if sheet != "play_effects" else df
        if "play_label" in shown:
            shown = shown.drop(columns="play")
        with pd.option_context("display.max_rows", 500, "display.max_columns", 20, "display.width", 200):
            print(shown.to_string(index=False) if len(df) else "(none)")
        return
    info = about(ds, df) if ds is not None else {"generated_by": "heatmap plays"}
    write_table(df, out, info, sheet=sheet)
    say(f"{len(df):,} rows written to {out}")


def cmd_plays(args: argparse.Namespace) -> int:
    """Run one `heatmap plays` action."""
    store = PlayStore(args.workspace or default_workspace())
    ds = load_data(args) if getattr(args, "data", None) else None
    if ds is not None:
        store.check_dataset(ds)  # a workspace holds one dataset's plays: never another's accounts of the same id
    if args.action == "add":
        if ds is not None:
            known = set(_accounts(ds)["account_id"].astype(str))
            if args.account_id not in known:
                from heatmap_lib.data.plays import PlaysError

                raise PlaysError(f"account {args.account_id!r} is not an account of {args.data}")
        pid = store.add(
            args.account_id, args.play, args.owner, due=args.due, notes=args.notes, suggested_by=args.suggested_by
        )
        say(f"recorded {pid} in {store.path}")
        print(pid)
    elif args.action == "update":
        row = store.update(
            args.play_id, status=args.status, owner=args.owner, due=args.due, notes=args.notes, closed=args.closed
        )
        say(f"{row['play_id']}: {row['status']}" + (f", closed {row['closed_at']}" if row["closed_at"] else ""))
    elif args.action == "list":
        frame = store.frame(args.account)
        if args.status in ("open", "overdue"):
            listed = open_plays(frame, _accounts(ds) if ds is not None else None, as_of=args.as_of, group_by=args.by)
            if args.status == "overdue":
                listed = listed[listed["overdue"]]
        else:
            listed = frame if args.status == "all" else frame[frame["status"] == args.status]
        _emit(listed.reset_index(drop=True), args.out, ds)
    elif args.action == "import":
        ids = _accounts(ds)["account_id"].astype(str).tolist() if ds is not None else None
        print(store.import_csv(args.csv, known_accounts=ids))
    elif args.action == "export":
        path = store.export_csv(args.out)
        say(f"{len(store):,} plays written to {path}")
    elif args.action == "suggest":
        from heatmap_lib.filters import FilterSet
        from heatmap_lib.metrics.summary import account_summary, role_flags

        fs = FilterSet.load(args.filters) if args.filters else None
        summary = account_summary(ds, fs)
        flags = role_flags(ds, fs, summary=summary)
        got = suggestions(summary, load_rules(args.rules), flags=flags, plays=store.frame(status=OPEN))
        _emit(got, args.out, ds, sheet="suggestions")
    elif args.action == "learn":
        from heatmap_lib.metrics.learning import play_effects

        effects = play_effects(
            ds,
            store.frame(),
            match_on=tuple(c.strip() for c in args.match_on.split(",") if c.strip()),
            renewal_weights=args.renewal_weights,
        )
        for note in effects.attrs.get("notes", []):
            say(f"note: {note}")
        excluded = effects.attrs.get("excluded")
        if excluded is not None and len(excluded):
            reasons = excluded["reason"].value_counts()
            say(f"{len(excluded):,} plays not measured: " + "; ".join(f"{n:,} {r}" for r, n in reasons.items()))
        _emit(effects, args.out, ds, sheet="play_effects")
    return 0
