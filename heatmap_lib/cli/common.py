"""What every `heatmap` subcommand shares: the data-loading options, date arguments, messages on stderr."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any


def add_load_options(p: argparse.ArgumentParser) -> None:
    """Add `--on-error` and `--quarantine-dir`, the options of every command that loads a dataset."""
    p.add_argument(
        "--on-error",
        choices=("raise", "quarantine"),
        default="raise",
        help="raise (default): refuse data with any problem; quarantine: load the valid rows and write the "
        "rejected ones with their reasons",
    )
    p.add_argument(
        "--quarantine-dir",
        type=Path,
        default=None,
        help="where quarantine writes rejected rows (default: outputs/quarantine/<data name>)",
    )


def date_arg(text: str) -> dt.date:
    """An argparse type: a YYYY-MM-DD date, or a usage error naming the text."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def say(message: str) -> None:
    """A message for the person at the terminal, on stderr (stdout stays for what a pipeline reads)."""
    print(message, file=sys.stderr)


def load_data(args: argparse.Namespace) -> Any:
    """Load the command's `data` with its load options, saying what was loaded and what was excluded."""
    from heatmap_lib.data.loading import load

    start = time.perf_counter()
    ds = load(args.data, on_error=args.on_error, quarantine_dir=args.quarantine_dir)
    say(f"loaded {ds.describe()} in {time.perf_counter() - start:.1f}s")
    for note in ds.notes:
        say(f"note: {note}")
    if ds.exclusions:
        say(f"warning: {ds.exclusion_note()}")
    return ds
