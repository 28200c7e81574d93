"""Writing files safely, below every layer: atomic writes, and CSV cells a spreadsheet cannot run as formulas.

CSV injection (OWASP): a spreadsheet runs a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return
as a formula. Every CSV the package writes prefixes such text cells with `'` (`csv_cell`) unless raw values are
asked for (`with raw_csv():`, `heatmap ... --raw-csv`), for pipelines that read the file back as data.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # a text cell starting so is a formula to a spreadsheet


_RAW_CSV: contextvars.ContextVar[bool] = contextvars.ContextVar("heatmap_raw_csv", default=False)


def csv_cell(value: Any) -> Any:
    """A CSV cell made safe to open in a spreadsheet: text starting with a formula trigger gets a leading `'`."""
    if isinstance(value, str) and value.startswith(CSV_TRIGGERS):
        return "'" + value
    return value


def uncsv_cell(value: str) -> str:
    """The text `csv_cell` neutralised, as it was (for reading our own CSV files back)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(CSV_TRIGGERS) else value


def raw_csv_wanted() -> bool:
    """Whether CSV files are being written with raw values (inside `raw_csv()`, e.g. `heatmap ... --raw-csv`)."""
    return _RAW_CSV.get()


@contextlib.contextmanager
def raw_csv(enabled: bool = True) -> Iterator[None]:
    """Within this block, CSV files are written with raw values (no formula neutralisation) when `enabled`."""
    token = _RAW_CSV.set(enabled)
    try:
        yield
    finally:
        _RAW_CSV.reset(token)


@functools.cache
def _file_mode() -> int:
    """Read-write for whom the umask allows (mkstemp's 0600 would hide a shared report from its readers)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write a file atomically: a temporary file in the same folder, flushed, then `os.replace`.

    On any failure the temporary file is removed and the target left as it was; an `OSError` (a full disk, a file
    too large, a read-only folder) carries `path` as its `filename`, so the error can say which file it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        name_file(exc, path)
        raise
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            name_file(exc, path)
        raise
    return path


def name_file(exc: OSError, path: Path) -> None:
    """Let a system error say which file it was about (only a real one: errno set, no file named yet)."""
    if exc.errno is not None and not exc.filename:
        exc.filename = str(path)
