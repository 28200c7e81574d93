"""The loaded dataset and what a load reports: `Dataset`, `Problem`, `Exclusion`, and the SQL quoting helpers.

Every loader builds a `Dataset` (files into DuckDB: `file_loader`; a URL source left in its engine: `engines`; a
prepared copy reopened: `prepared_cache`), and every rule a dataset breaks is a `Problem`, gathered into one
`ValidationError` message (`_message`). Nothing here reads a file or checks a rule.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb

from heatmap_lib.core.progress import PREPARED_ENV
from heatmap_lib.core.schema import LOAD_ORDER

OnError = Literal["raise", "quarantine"]
MAX_LISTED = 50  # problems shown in an error message; all of them are in `ValidationError.problems`


@dataclass(frozen=True)
class Problem:
    """One broken rule: where it is (table, file, row, key, column), the value as written and the rule."""

    table: str
    file: str
    row: int | None
    key: str | None
    column: str | None
    value: str | None
    rule: str
    row_label: str = "row"  # "line" for CSV files (the header is line 1), else the 1-based data row

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" {self.row_label} {self.row}"
        if self.key:
            where += f" ({self.key})"
        what = self.column or ("the line" if self.row is not None else self.table)
        if self.value is not None:
            what += f" = {self.value!r}"
        return f"{where}: {what}: {self.rule}"

    def as_dict(self) -> dict[str, Any]:
        """The problem as a flat record (for CSV and JSON reports)."""
        return {
            "table": self.table,
            "file": self.file,
            self.row_label: self.row,
            "key": self.key,
            "column": self.column,
            "value": self.value,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Exclusion:
    """Rows of one table left out of a quarantine load, and the file that holds them with their reasons."""

    table: str
    rows: int
    file: str

    def __str__(self) -> str:
        return f"{self.rows} {self.table} row{'s' * (self.rows != 1)} excluded (see {self.file})"


@dataclass
class Dataset:
    """Validated tables held in one query engine, with where they came from and what was left out.

    Files load into DuckDB (`con`); a connection URL leaves the tables where they are (a database server, a Spark
    cluster: `engines`), `con` is None and `ibis` is that engine's backend. Either way `table(name)` is an Ibis
    expression, so the metric code is one code.
    """

    path: str
    con: duckdb.DuckDBPyConnection | None  # None when the tables live in another engine (a URL source)
    present: frozenset[str]
    rows: dict[str, int]
    exclusions: tuple[Exclusion, ...] = ()
    notes: tuple[str, ...] = ()
    account_columns: tuple[str, ...] = ()
    _files: tuple[Path, ...] = field(default=(), repr=False)
    _ibis: Any = field(default=None, repr=False)
    _distinct: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, repr=False)
    _closer: Any = field(default=None, repr=False)
    _views: dict[str, Any] = field(default_factory=dict, repr=False)  # name -> Ibis expression (URL sources)
    _tables: dict[str, Any] = field(default_factory=dict, repr=False)  # name -> Ibis table (files), built once
    _fingerprint: str | None = field(default=None, repr=False)
    _sidecar: Path | None = field(default=None, repr=False)  # the prepared copy's description (prepared_cache)
    engine: str = "duckdb"  # the Ibis backend's name: "duckdb", "postgres", "pyspark", ...

    def close(self) -> None:
        """Close the engine connection (and remove a temporary database file); the dataset is unusable after."""
        if self._closer is not None:
            self._closer()
        elif self.con is not None:
            self.con.close()

    @property
    def ibis(self) -> Any:
        """The Ibis backend over this dataset's connection (metrics are written once, as Ibis expressions)."""
        if self._ibis is None:
            import ibis

            self._ibis = ibis.duckdb.from_connection(self.con)
        return self._ibis

    def table(self, name: str) -> Any:
        """An Ibis expression for one table (`accounts`, `contacts`, ..., or the derived `invitation_facts`).

        For a URL source each is a typed projection of the engine's own table (and `invitation_facts` a join),
        so it stays in the engine; for files it is the DuckDB table the load built. Kept per name: building one
        reads the table's schema from the engine (about 2 ms, paid on every filter change otherwise).
        """
        if name in self._views:
            return self._views[name]
        if name not in self._tables:
            self._tables[name] = self.ibis.table(name)
        return self._tables[name]

    def distinct_values(self, table: str, column: str) -> tuple[str, ...]:
        """The distinct non-empty values of a column as text, sorted (cached: filter panels ask often)."""
        if (table, column) not in self._distinct:
            t = self.table(table)
            col = t[column].cast("string")
            found = t.filter(col.notnull()).select(v=col).distinct().order_by("v").to_pyarrow()
            self._distinct[(table, column)] = tuple(found.column("v").to_pylist())
        return self._distinct[(table, column)]

    def has(self, name: str) -> bool:
        """Whether the dataset provided the table (optional tables may be absent; absent is not empty)."""
        return name in self.present

    @property
    def excluded_rows(self) -> int:
        """How many rows the quarantine load left out, all tables together."""
        return sum(e.rows for e in self.exclusions)

    def exclusion_note(self) -> str | None:
        """One sentence for a report header saying what a quarantine load left out, or None."""
        if not self.exclusions:
            return None
        return "Excluded by validation: " + "; ".join(str(e) for e in self.exclusions) + "."

    def fingerprint(self) -> str:
        """A SHA-256 over the source files' names and bytes: which data a report was built from.

        For a URL source: over the source (password left out), each table's columns and types and row count.
        """
        if self._fingerprint is not None:
            return self._fingerprint
        digest = hashlib.sha256()
        for path in sorted(self._files):
            digest.update(path.name.encode())
            with path.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
        return digest.hexdigest()

    def shared_key(self) -> str | None:
        """The key under which a process may keep results computed from this dataset; None when it may not.

        Only a read-only prepared copy opened in a `heatmap run` kernel (`PREPARED_ENV` set) has one: a copy is
        never changed once written (a newer one replaces it) and its fingerprint names its data, so the kernel's
        segments may share what they compute from it (`metrics.shared`).
        """
        if self._sidecar is None or self._fingerprint is None or not os.environ.get(PREPARED_ENV):
            return None
        return f"{self._fingerprint}:{self._sidecar}"

    def describe(self) -> str:
        """A short human summary: path and row counts per table."""
        counts = ", ".join(f"{self.rows[t]:,} {t}" for t in LOAD_ORDER if t in self.present)
        return f"{self.path}: {counts}"


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The single value a query returns (fetching all of it: DuckDB 2 refuses half-read results)."""
    return con.execute(sql, params or []).fetchall()[0][0]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _message(root: Path | str, problems: list[Problem], total: int) -> str:
    head = f"{root}: {total} problem{'s' * (total != 1)} found; nothing was loaded"
    lines = [str(p) for p in problems[:MAX_LISTED]]
    if total > MAX_LISTED:
        lines.append(f"... and {total - MAX_LISTED} more (all of them: heatmap validate DATA --report problems.csv)")
    return "\n".join([head, *("  " + line for line in lines)])
