"""Loading a dataset: find its tables, check every row against the contract, hold them in one query engine.

A dataset is a folder of CSV/Parquet files named after the tables, an Excel workbook with a sheet per table, or
a DuckDB database file (DESIGN.md section 3). Every value is first staged as text with its source row number,
every rule is checked in one pass inside DuckDB, and only then are typed tables built, so a problem report can
quote the value exactly as written and name the line it came from.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import duckdb

from heatmap_lib.core.exceptions import DataError, ValidationError
from heatmap_lib.core.schema import LOAD_ORDER, ROLE_SYNONYMS, ROLES, SQL_TYPES, TABLES, Column, Table

OnError = Literal["raise", "quarantine"]
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
AUTO_FILE_BYTES = 64 * 2**20  # sources larger than this load into a temporary DuckDB file, not memory
MAX_LINE_BYTES = 256 * 2**20  # the longest CSV record read (DuckDB's max_line_size); longer ones are refused
MAX_LISTED = 50  # problems shown in an error message; all of them are in `ValidationError.problems`
# never fetch or load an extension because a file looks like another database's (SQLite, Postgres dumps, ...)
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
LOAD_STATS = {"validated": 0, "reused": 0}  # in this process: full validations run, prepared copies reopened


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
class _Source:
    table: str
    path: Path
    kind: Literal["csv", "parquet", "excel", "duckdb"]
    member: str | None = None  # sheet or table name inside a workbook or database
    rejected_records: tuple[int, ...] = ()  # CSV records DuckDB could not parse (wrong number of fields)
    dropped_records: tuple[int, ...] = ()  # CSV records parsed but dropped as malformed (too many fields)
    utf8_copy: Path | None = None  # a UTF-16/UTF-32 CSV file's text re-encoded as UTF-8 (what is read)

    @property
    def text_path(self) -> Path:
        """The file whose UTF-8 text is read: the source itself, or its re-encoded copy."""
        return self.utf8_copy or self.path

    @property
    def label(self) -> str:
        return f"{self.path.name}[{self.member}]" if self.member else self.path.name

    @property
    def row_label(self) -> str:
        return "line" if self.kind == "csv" else "row"


@dataclass
class Dataset:
    """Validated tables held in one query engine, with where they came from and what was left out.

    Files load into DuckDB (`con`); a connection URL leaves the tables where they are (a database server, a Spark
    cluster: `engines.py`), `con` is None and `ibis` is that engine's backend. Either way `table(name)` is an Ibis
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
    _sidecar: Path | None = field(default=None, repr=False)  # the prepared copy's description (prepared.py)
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

    def describe(self) -> str:
        """A short human summary: path and row counts per table."""
        counts = ", ".join(f"{self.rows[t]:,} {t}" for t in LOAD_ORDER if t in self.present)
        return f"{self.path}: {counts}"


# --------------------------------------------------------------------------------------------------------------
# finding the tables


def _check_regular_file(path: Path) -> None:
    """Refuse a table path that is a folder, a link that loops or leads nowhere, or not a plain file."""
    try:
        st = path.stat()
    except OSError as exc:
        why = "a link that loops" if exc.errno == errno.ELOOP else "a link to nothing" if path.is_symlink() else ""
        raise DataError(f"{path}: cannot be read ({why or exc.strerror}); a table must be a file") from exc
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a folder, not a file; a table must be a .csv or .parquet file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{path}: is not a regular file (a device or pipe); a table must be a file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: cannot be read (permission denied)")


def _discover(path: Path) -> tuple[list[_Source], list[str], list[Path]]:
    """The source of each table found at `path`, notes on files ignored, and the files read."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    notes: list[str] = []
    if path.is_dir():
        by_table: dict[str, list[Path]] = {}
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            stem, suffix = child.stem.lower(), child.suffix.lower()
            if suffix in (".csv", ".parquet") and stem in TABLES:
                _check_regular_file(child)
                by_table.setdefault(stem, []).append(child)
            elif child.is_file():
                notes.append(f"ignored {child.name}: not a table of the contract")
        sources = []
        for table, files in by_table.items():
            if len(files) > 1:
                both = " and ".join(f.name for f in files)
                raise DataError(f"{path}: table {table} is stored twice ({both}); keep one")
            kind: Literal["csv", "parquet"] = "csv" if files[0].suffix.lower() == ".csv" else "parquet"
            sources.append(_Source(table, files[0], kind))
        return sources, notes, [s.path for s in sources]
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        from python_calamine import CalamineWorkbook

        try:
            sheets = CalamineWorkbook.from_path(str(path)).sheet_names
        except Exception as exc:  # calamine raises its own error types
            raise DataError(f"{path}: not a readable Excel workbook ({exc})") from exc
        sources = []
        for sheet in sheets:
            name = sheet.strip().lower()
            if name in TABLES:
                twin = next((s.member for s in sources if s.table == name), None)
                if twin is not None:
                    raise DataError(f"{path}: table {name} is stored twice (sheets {twin!r} and {sheet!r}); keep one")
                sources.append(_Source(name, path, "excel", sheet))
            else:
                notes.append(f"ignored sheet {sheet!r}: not a table of the contract")
        return sources, notes, [path]
    if suffix in DUCKDB_SUFFIXES:
        _check_regular_file(path)
        with path.open("rb") as fh:
            if fh.read(16) == b"SQLite format 3\x00":
                raise DataError(f"{path}: is a SQLite database, not DuckDB; export its tables to CSV or DuckDB")
        try:
            con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
        except duckdb.Error as exc:
            raise DataError(f"{path}: not a readable DuckDB database ({exc})") from exc
        try:
            found = con.execute(
                "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = current_database()"
            ).fetchall()
            names = [str(r[0]) for r in found]
            views = {str(r[0]) for r in found if r[1] == "VIEW"}
        except duckdb.Error as exc:
            raise DataError(f"{path}: not a readable DuckDB database ({str(exc).splitlines()[0]})") from exc
        finally:
            con.close()
        for name in names:
            if name.lower() in TABLES and name in views:
                raise DataError(
                    f"{path}[{name}]: is a view, not a table: its rows live outside this file; store the table "
                    "itself in the database (CREATE TABLE ... AS SELECT ...)"
                )
        tables = [n.lower() for n in names if n.lower() in TABLES]
        twice = sorted({t for t in tables if tables.count(t) > 1})
        if twice:
            raise DataError(f"{path}: table {twice[0]} is stored twice (names differing in case); keep one")
        sources = [_Source(n.lower(), path, "duckdb", n) for n in names if n.lower() in TABLES]
        notes += [f"ignored table {n!r}: not a table of the contract" for n in names if n.lower() not in TABLES]
        return sources, notes, [path]
    raise DataError(
        f"{path}: not a dataset (expected a folder of .csv/.parquet files, an .xlsx workbook or a .duckdb file)"
    )


# --------------------------------------------------------------------------------------------------------------
# staging: every value as trimmed text, with its source row number


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The single value a query returns (fetching all of it: DuckDB 2 refuses half-read results)."""
    return con.execute(sql, params or []).fetchall()[0][0]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in columns.items()) + "}"


def _norm_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lstrip("\ufeff").strip()).lower()


def _text_expr(col: str) -> str:
    return f"NULLIF(TRIM(CAST({_q(col)} AS VARCHAR)), '')"


def _stage(con: duckdb.DuckDBPyConnection, src: _Source) -> tuple[list[str], list[Problem]]:
    """Create `raw_<table>` (a table or view of text columns plus `_row`); return its columns and file problems."""
    raw = _q(f"raw_{src.table}")
    problems: list[Problem] = []
    if src.kind == "csv":
        if src.path.stat().st_size == 0:
            raise DataError(f"{src.path}: the file is empty (0 bytes); a table needs at least its header line")
        _utf8_copy(src)
        rej = f"rej_{src.table}"
        columns = _csv_columns(src)
        # a record longer than DuckDB's max_line_size is dropped without a trace: allow the whole file as one line
        size = src.text_path.stat().st_size
        max_line = max(2**21, min(size + 1, MAX_LINE_BYTES))
        if size > MAX_LINE_BYTES:
            _check_line_lengths(src)
        lenient = False
        for strict in ("true", "false"):
            try:
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT row_number() OVER () AS _row, * FROM read_csv(?, "
                    "all_varchar=true, header=true, delim=',', quote='\"', escape='\"', auto_detect=false, "
                    f"strict_mode={strict}, encoding='utf-8', store_rejects=true, ignore_errors=true, "
                    f"max_line_size={max_line}, "
                    f"rejects_table={_lit(rej)}, rejects_scan={_lit(rej + '_scan')}, columns={_struct(columns)})",
                    [str(src.text_path)],
                )
                break
            except duckdb.Error as exc:
                # strict mode refuses mixed line endings (hand-edited or Excel files); the lenient reader takes
                # them but silently cuts fields past the header, so those records are found below
                if strict == "false":
                    raise DataError(f"{src.path}: cannot be read as CSV ({str(exc).splitlines()[0]})") from exc
                lenient = True
        for line, text, message in con.execute(
            f"SELECT line, arg_min(csv_line, column_idx), arg_min(error_message, column_idx) FROM {rej} "
            "GROUP BY line ORDER BY line"
        ).fetchall():
            problems.append(
                Problem(
                    src.table,
                    src.path.name,
                    int(line),
                    None,
                    None,
                    text.strip("\r\n") if text else text,
                    f"malformed CSV line: {message}",
                    "line",
                )
            )
        src.rejected_records = tuple(p.row for p in problems if p.row is not None)
        if lenient:
            problems += _too_wide(con, src, raw, len(columns))
        con.execute(f"DROP TABLE {rej}; DROP TABLE {rej}_scan")
    elif src.kind == "parquet":
        try:
            con.execute(
                # a view cannot hold a prepared parameter: the path goes in as a quoted literal
                f"CREATE TEMP VIEW {raw} AS SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) "
                f"{_local_dates(con, src)} "
                f"FROM read_parquet({_lit(str(src.path))}, file_row_number=true)"
            )
            con.execute(f"SELECT * FROM {raw} LIMIT 0")
        except duckdb.Error as exc:
            raise DataError(f"{src.path}: cannot be read as Parquet ({str(exc).splitlines()[0]})") from exc
    elif src.kind == "excel":
        _stage_excel(con, src, raw)
    else:
        try:
            con.execute(f"ATTACH IF NOT EXISTS {_lit(str(src.path))} AS src_db (READ_ONLY)")
            con.execute(
                f"CREATE TEMP VIEW {raw} AS SELECT row_number() OVER () AS _row, * FROM src_db.{_q(src.member or '')}"
            )
            con.execute(f"SELECT * FROM {raw} LIMIT 0")
        except duckdb.Error as exc:
            raise DataError(f"{src.path}[{src.member}]: cannot be read ({str(exc).splitlines()[0]})") from exc
    return _normalise_columns(con, src), problems


def _check_line_lengths(src: _Source) -> None:
    """Refuse a CSV file with a line longer than `MAX_LINE_BYTES` (DuckDB would drop that record silently)."""
    run = 0  # bytes since the last newline
    line = 1
    with src.text_path.open("rb") as fh:
        while chunk := fh.read(MAX_LINE_BYTES // 2):
            first = chunk.find(b"\n")
            if (run + (len(chunk) if first < 0 else first)) > MAX_LINE_BYTES:
                raise DataError(
                    f"{src.path} line {line}: the line is longer than {MAX_LINE_BYTES // 2**20} MB, the most "
                    "a record may hold (a cell this large is not survey data)"
                )
            if first < 0:
                run += len(chunk)
                continue
            line += chunk.count(b"\n")
            run = len(chunk) - chunk.rfind(b"\n") - 1


def _local_dates(con: duckdb.DuckDBPyConnection, src: _Source) -> str:
    """A `REPLACE (...)` clause giving a Parquet date column stored as a zoned timestamp its local calendar date.

    Parquet keeps such a timestamp as a UTC instant with the writer's zone in its metadata; its UTC date can be a
    day before the date the writer meant (midnight in Berlin is 23:00 UTC the day before).
    """
    import pyarrow.parquet as pq

    dates = {c.name for c in TABLES[src.table].columns if c.kind == "date"}
    found = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_lit(str(src.path))})").fetchall()
    zoned = [r[0] for r in found if r[1] == "TIMESTAMP WITH TIME ZONE" and _norm_header(r[0]) in dates]
    if not zoned:
        return ""
    schema = pq.read_schema(src.path)
    parts = []
    for name in zoned:
        tz = getattr(schema.field(name).type, "tz", None) or "UTC"
        parts.append(f"CAST(timezone({_lit(tz)}, {_q(name)}) AS DATE) AS {_q(name)}")
    return "REPLACE (" + ", ".join(parts) + ")"


def _too_wide(con: duckdb.DuckDBPyConnection, src: _Source, raw: str, width: int) -> list[Problem]:
    """Records with more fields than the header (the lenient reader keeps them cut short): report and drop them."""
    lines = _csv_lines(src.text_path, src.rejected_records)
    row_of = {record: i + 1 for i, record in enumerate(lines.parsed)}
    found: list[Problem] = []
    with src.text_path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for record, fields in enumerate(reader, start=2):
            if len(fields) > width and record in row_of:
                text = ",".join(fields)
                rule = f"malformed CSV line: Expected Number of Columns: {width} Found: {len(fields)}"
                found.append(Problem(src.table, src.path.name, record, None, None, text, rule, "line"))
    if found:
        rows = [row_of[p.row] for p in found if p.row is not None]
        con.execute(f"DELETE FROM {raw} WHERE _row IN (SELECT unnest(?::BIGINT[]))", [rows])
        src.dropped_records = tuple(p.row for p in found if p.row is not None)
    return found


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _csv_encoding(path: Path) -> tuple[str, int]:
    """The file's encoding (Python codec name) and the length of its byte-order mark.

    A byte-order mark decides; without one, the NUL bytes of an ASCII header tell UTF-16 and UTF-32 and their
    byte order apart (a header is column names, so this is reliable). Anything else is read as UTF-8.
    """
    with path.open("rb") as fh:
        head = fh.read(256)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
    sample = head[: len(head) - len(head) % 4]
    if b"\x00" not in sample:
        return "utf-8", 0

    def zero(offset: int, step: int) -> bool:
        part = sample[offset::step]
        return bool(part) and part.count(0) >= 0.9 * len(part)

    if zero(1, 4) and zero(2, 4) and zero(3, 4):
        return "utf-32-le", 0
    if zero(0, 4) and zero(1, 4) and zero(2, 4):
        return "utf-32-be", 0
    if zero(1, 2):
        return "utf-16-le", 0
    if zero(0, 2):
        return "utf-16-be", 0
    return "utf-8", 0


def _utf8_copy(src: _Source) -> None:
    """Re-encode a UTF-16/UTF-32 CSV file as a temporary UTF-8 copy (DuckDB reads UTF-8 reliably, these not)."""
    src.utf8_copy = utf8_copy(src.path, prefix=f"heatmap-{src.table}-")


def utf8_copy(path: Path, prefix: str = "heatmap-") -> Path | None:
    """A temporary UTF-8 copy of a UTF-16/UTF-32 text file (the caller removes it), or None when it is UTF-8."""
    encoding, bom = _csv_encoding(path)
    if encoding == "utf-8":
        return None
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".csv")
    label = encoding.upper().replace("-LE", " little-endian").replace("-BE", " big-endian")
    with path.open("rb") as raw, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        raw.seek(bom)
        decoder = codecs.getincrementaldecoder(encoding)()
        done = 0
        while chunk := raw.read(2**20):
            try:
                out.write(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                Path(name).unlink(missing_ok=True)
                at = bom + done + exc.start
                raise DataError(f"{path}: not valid {label} text (byte {at}); save the file as UTF-8") from exc
            done += len(chunk)
        try:
            out.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            Path(name).unlink(missing_ok=True)
            raise DataError(f"{path}: not valid {label} text (it ends mid-character)") from exc
    return Path(name)


def _csv_columns(src: _Source) -> dict[str, str]:
    """The header of a CSV file as DuckDB `columns` (all text), read with Python so odd names survive as written."""
    try:
        with src.text_path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{src.path}: not UTF-8 text (byte {exc.start} of the header): save the file as UTF-8 and load again"
        ) from exc
    path = src.path
    if not header:
        raise DataError(f"{path}: no header line; the first line must name the columns")
    columns: dict[str, str] = {}
    for i, name in enumerate(header):
        label = name if name not in columns and name.strip() else f"{name or 'column'}_{i + 1}"
        columns[label] = "VARCHAR"
    return columns


def sheet_cell(v: object) -> str | None:
    """A workbook cell's value as the text the contract reads (whole floats as integers, dates without 00:00:00)."""
    if v is None or v == "":
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        text = v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
        return text.removesuffix(" 00:00:00")
    return str(v)


def _stage_excel(con: duckdb.DuckDBPyConnection, src: _Source, raw: str) -> None:
    import pyarrow as pa
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(src.path)).get_sheet_by_name(src.member or "").to_python()
    if not rows:
        raise DataError(f"{src.path}: sheet {src.member!r} is empty; a table needs at least its header row")
    header = [str(h) for h in rows[0]]
    body = rows[1:]
    while body and all(v in ("", None) for v in body[-1]):
        body.pop()  # trailing blank rows are formatting, not data

    names = []
    for i, h in enumerate(header):
        names.append(h if h not in names and h.strip() else f"{h or 'column'}_{i + 1}")
    arrays = {"_row": pa.array(range(1, len(body) + 1), pa.int64())}
    for i, name in enumerate(names):
        arrays[name] = pa.array([sheet_cell(r[i]) if i < len(r) else None for r in body], pa.string())
    staged = pa.table(arrays)  # noqa: F841  (read by DuckDB's replacement scan below)
    con.execute(f"CREATE TEMP TABLE {raw} AS SELECT * FROM staged")


def _normalise_columns(con: duckdb.DuckDBPyConnection, src: _Source) -> list[str]:
    """Rename `raw_<table>` columns to normalised names as trimmed text; return the normalised names."""
    raw = f"raw_{src.table}"
    cols = [r[0] for r in con.execute(f"DESCRIBE {_q(raw)}").fetchall() if r[0] != "_row"]
    seen: dict[str, str] = {}
    select = ["_row"]
    for col in cols:
        name = _norm_header(col) or "column"
        if name in seen:
            raise DataError(f"{src.path}: columns {seen[name]!r} and {col!r} both mean {name!r}; keep one")
        seen[name] = col
        select.append(f"{_text_expr(col)} AS {_q(name)}")
    staged = _q(f"stage_{src.table}")
    con.execute(f"CREATE TEMP VIEW {staged} AS SELECT {', '.join(select)} FROM {_q(raw)}")
    return list(seen)


# --------------------------------------------------------------------------------------------------------------
# rules


def _typed_expr(col: Column, ref: str) -> str:
    """SQL turning the staged text `ref` into the column's type (NULL where it does not parse)."""
    if col.name == "role":
        folded = f"regexp_replace(lower({ref}), '[\\s\\-]+', '_', 'g')"
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in ROLE_SYNONYMS.items())
        return f"(CASE {folded} {cases} ELSE NULL END)"
    if col.choices:
        folded = f"lower({ref})"
        return f"(CASE WHEN {folded} IN ({', '.join(map(_lit, col.choices))}) THEN {folded} END)"
    if col.kind == "text":
        return ref
    if col.kind == "number":
        return f"(CASE WHEN isfinite(TRY_CAST({ref} AS DOUBLE)) THEN TRY_CAST({ref} AS DOUBLE) END)"
    if col.kind == "integer":
        # clamped into BIGINT's range so a huge whole number reaches the column's range rule, not a cast error
        num = f"TRY_CAST({ref} AS DOUBLE)"
        return (
            f"(CASE WHEN isfinite({num}) AND {num} = floor({num}) "
            f"THEN CAST(least(greatest({num}, -9e18), 9e18) AS BIGINT) END)"
        )
    # a date starts with a digit: DuckDB also reads words ('epoch', 'infinity') as dates (values are trimmed, and
    # comparing the text is as cheap as it gets: a pattern or a substring per row doubled the cost of the cast)
    digit = f"{ref} >= '0' AND {ref} < ':'"
    if col.kind == "date":
        # a date-time keeps the calendar date as written, whatever its time-zone offset
        return (
            f"(CASE WHEN {digit} THEN COALESCE(TRY_CAST({ref} AS DATE), CAST(TRY_CAST({ref} AS TIMESTAMP) AS DATE), "
            f"TRY_STRPTIME({ref}, '%Y-%m-%dT%H:%M:%S')::DATE) END)"
        )
    if col.kind == "timestamp":
        # an offset (+02:00, -05) is honoured: the instant in UTC (the load's session zone); Z or none is UTC.
        # Only text longer than YYYY-MM-DD HH:MM:SS can carry one, so the slower zoned cast runs only there.
        offset = f"length({ref}) > 19 AND (strpos(substr({ref}, 11), '+') > 0 OR strpos(substr({ref}, 11), '-') > 0)"
        return (
            f"(CASE WHEN NOT ({digit}) THEN NULL WHEN {offset} THEN CAST(TRY_CAST({ref} AS TIMESTAMPTZ) AS TIMESTAMP) "
            f"ELSE COALESCE(TRY_CAST({ref} AS TIMESTAMP), TRY_STRPTIME({ref}, '%Y-%m-%dT%H:%M:%SZ')) END)"
        )
    # boolean
    return (
        f"(CASE WHEN lower({ref}) IN ('true','t','yes','y','1') THEN true "
        f"WHEN lower({ref}) IN ('false','f','no','n','0') THEN false END)"
    )


_KIND_RULES = {
    "number": "must be a number",
    "integer": "must be a whole number",
    "date": "must be a date (YYYY-MM-DD)",
    "timestamp": "must be a date and time (YYYY-MM-DD HH:MM:SS)",
    "boolean": "must be true or false",
}


DATE_RANGE = ("1900-01-01", "2199-12-31")  # every date and timestamp; docs/decisions.md says why


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _value_rule(col: Column) -> str:
    if col.name == "role":
        return f"must be one of {', '.join(ROLES)} (also accepted: dm, end_user, user; any case, spaces or hyphens)"
    if col.choices:
        return f"must be one of {', '.join(col.choices)}"
    return _KIND_RULES[col.kind]


def _range_rule(col: Column) -> tuple[str, str] | None:
    if col.minimum is not None and col.maximum is not None:
        return (
            f"NOT ({{t}} BETWEEN {col.minimum} AND {col.maximum})",
            f"must be from {_fmt(col.minimum)} to {_fmt(col.maximum)}",
        )
    if col.minimum is not None:
        return f"{{t}} < {col.minimum}", f"must be >= {_fmt(col.minimum)}"
    if col.maximum is not None:
        return f"{{t}} > {col.maximum}", f"must be <= {_fmt(col.maximum)}"
    return None


class _Checker:
    """Runs every rule of one load inside DuckDB and keeps the problems in the `_problems` table.

    `_row` is the staged row number (for CSV, the record number among parsed records); `ref_row` is the row a
    rule points at (the first of a duplicate key). Both become physical CSV lines only when reported.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, sources: dict[str, _Source], present: dict[str, list[str]]
    ) -> None:
        self.con = con
        self.sources = sources
        self.present = present
        con.execute(
            "CREATE TEMP TABLE _problems (tbl VARCHAR, _row BIGINT, ref_row BIGINT, key VARCHAR, col VARCHAR, "
            "value VARCHAR, rule VARCHAR, seq BIGINT)"
        )
        self.seq = 0
        self.pending: list[tuple[str, str | None, str, str, int]] | None = None  # rules kept for one pass (flush)

    def key_expr(self, table: Table) -> str:
        key = table.key or "account_id"
        return "s." + _q(key) if key in self.present[table.name] else "NULL"

    def add(
        self,
        table: Table,
        where: str,
        column: str | None,
        value: str,
        rule: str,
        frm: str = "",
        ref: str = "NULL",
    ) -> None:
        """Record a problem for every staged row of `table` matching `where` (SQL over alias `s`).

        Between `check_rows`' start and its `flush`, rules with no join are kept and then checked in one scan.
        """
        self.seq += 1
        if self.pending is not None and not frm and ref == "NULL":
            self.pending.append((where, column, value, rule, self.seq))
            return
        stage = _q(f"stage_{table.name}")
        self.con.execute(
            f"INSERT INTO _problems SELECT {_lit(table.name)}, s._row, {ref}, CAST({self.key_expr(table)} AS "
            f"VARCHAR), {_lit(column) if column else 'NULL'}, {value}, {rule}, {self.seq} "
            f"FROM {stage} s {frm} WHERE {where}"
        )

    def flush(self, table: Table) -> None:
        """Check the kept rules in one scan of the staged rows (each a full scan of the source otherwise)."""
        rules, self.pending = self.pending or [], None
        if not rules:
            return
        checks = ", ".join(
            f"CASE WHEN {where} THEN {{'col': CAST({_lit(column) if column else 'NULL'} AS VARCHAR), "
            f"'value': CAST({value} AS VARCHAR), 'rule': CAST({rule} AS VARCHAR), 'seq': {seq}}} END"
            for where, column, value, rule, seq in rules
        )
        anyone = " OR ".join(f"({where})" for where, *_ in rules)
        self.con.execute(
            f"INSERT INTO _problems SELECT {_lit(table.name)}, _row, NULL, key, p.col, p.value, p.rule, p.seq "
            f"FROM (SELECT s._row, CAST({self.key_expr(table)} AS VARCHAR) AS key, unnest([{checks}]) AS p "
            f"FROM {_q(f'stage_{table.name}')} s WHERE {anyone}) WHERE p IS NOT NULL"
        )

    def check_rows(self, table: Table, present: list[str]) -> None:
        """Per-row rules: empty, type, range, choices, uniqueness, cross-column rules."""
        self.pending = []
        for col in table.columns:
            if col.name not in present:
                continue
            ref = f"s.{_q(col.name)}"
            if col.not_empty:
                self.add(table, f"{ref} IS NULL", col.name, "NULL", _lit("must not be empty"))
            if col.kind != "text" or col.choices:
                typed = _typed_expr(col, ref)
                self.add(table, f"{ref} IS NOT NULL AND {typed} IS NULL", col.name, ref, _lit(_value_rule(col)))
                rng = _range_rule(col)
                if rng:
                    cond, rule = rng
                    self.add(table, cond.format(t=typed), col.name, ref, _lit(rule))
                if col.ceiling is not None:
                    self.add(
                        table,
                        f"abs({typed}) > {col.ceiling}",
                        col.name,
                        ref,
                        _lit(f"must be at most {_fmt(col.ceiling)} (the largest value reports add up exactly)"),
                    )
                if col.kind in ("date", "timestamp"):
                    low, high = DATE_RANGE
                    self.add(
                        table,
                        f"CAST({typed} AS DATE) NOT BETWEEN DATE {_lit(low)} AND DATE {_lit(high)}",
                        col.name,
                        ref,
                        _lit(f"must be from {low} to {high}"),
                    )
            if col.unique:
                label = self.sources[table.name].row_label
                self.add(
                    table,
                    f"{ref} IS NOT NULL AND d._row <> s._row",
                    col.name,
                    ref,
                    _lit(f"duplicate {col.name}: first at {label}"),
                    frm=(
                        f"JOIN (SELECT {_q(col.name)} AS k, min(_row) AS _row FROM {_q('stage_' + table.name)} "
                        f"GROUP BY 1 HAVING count(*) > 1) d ON d.k = {ref}"
                    ),
                    ref="d._row",
                )
        if table.name == "invitations" and {"sent_at", "responded_at", "score"} <= set(present):
            date = table.column("sent_at")
            sent, resp = _typed_expr(date, "s.sent_at"), _typed_expr(date, "s.responded_at")
            self.add(
                table,
                f"{resp} < {sent}",
                "responded_at",
                "s.responded_at",
                "'must not be before sent_at (' || s.sent_at || ')'",
            )
            self.add(
                table,
                "s.score IS NULL AND s.responded_at IS NOT NULL",
                "score",
                "NULL",
                _lit("must not be empty when responded_at is set (a response has a score)"),
            )
            self.add(
                table,
                "s.score IS NOT NULL AND s.responded_at IS NULL",
                "responded_at",
                "NULL",
                _lit("must not be empty when score is set (a score comes with its response date)"),
            )
        self.flush(table)

    def check_references(self, table: Table, present: dict[str, list[str]], cascade: bool) -> None:
        """Foreign keys: each reference must exist in its parent; in quarantine mode, not in a rejected row."""
        for col in table.columns:
            if not col.references or col.name not in present[table.name]:
                continue
            parent = TABLES[col.references]
            if parent.key not in present.get(parent.name, ()):
                continue  # the parent table or its key column is missing: reported already
            pkey = _q(parent.key or "")
            ref = f"s.{_q(col.name)}"
            pstage = _q(f"stage_{parent.name}")
            exists = f"EXISTS (SELECT 1 FROM {pstage} p WHERE p.{pkey} = {ref})"
            self.add(
                table,
                f"{ref} IS NOT NULL AND NOT {exists}",
                col.name,
                ref,
                _lit(f"must exist in {parent.name} (no {parent.key} with this value)"),
            )
            if cascade:
                self.add(
                    table,
                    f"{ref} IS NOT NULL AND {exists} "
                    f"AND NOT EXISTS (SELECT 1 FROM {_q('valid_' + parent.name)} v WHERE v.k = {ref})",
                    col.name,
                    ref,
                    _lit(f"its {parent.name} row was excluded by validation"),
                )

    def mark_valid(self, table: Table) -> None:
        """Remember the keys of the rows of `table` that pass, for the cascade to its children."""
        if not table.key or table.key not in self.present[table.name]:
            return
        self.con.execute(
            f"CREATE TEMP TABLE {_q('valid_' + table.name)} AS SELECT {_q(table.key)} AS k FROM "
            f"{_q('stage_' + table.name)} WHERE _row NOT IN "
            f"(SELECT _row FROM _problems WHERE tbl = {_lit(table.name)})"
        )

    def count(self) -> int:
        """How many problems were found."""
        return int(_scalar(self.con, "SELECT count(*) FROM _problems"))

    def number_lines(self) -> None:
        """Build `_lines` (tbl, _row, line): the number a report shows for each staged row with a problem."""
        self.con.execute("CREATE OR REPLACE TEMP TABLE _lines (tbl VARCHAR, _row BIGINT, line BIGINT)")
        self.con.execute(
            "INSERT INTO _lines SELECT DISTINCT tbl, r, r FROM (SELECT tbl, _row AS r FROM _problems UNION ALL "
            "SELECT tbl, ref_row FROM _problems WHERE ref_row IS NOT NULL)"
        )
        for name, src in self.sources.items():
            if src.kind != "csv":
                continue
            rows = [r[0] for r in self.con.execute("SELECT _row FROM _lines WHERE tbl = ?", [name]).fetchall()]
            if not rows:
                continue
            lines = _csv_lines(src.text_path, src.rejected_records)
            mapping = [(name, r, lines.row_line(r)) for r in rows]
            self.con.execute("DELETE FROM _lines WHERE tbl = ?", [name])
            self.con.executemany("INSERT INTO _lines VALUES (?, ?, ?)", mapping)

    def report_sql(self) -> str:
        """SQL listing every problem with its reported row number and full rule text, in file order."""
        return (
            "SELECT p.tbl, p._row, l.line, p.key, p.col, p.value, "
            "p.rule || coalesce(' ' || CAST(r.line AS VARCHAR), '') AS rule, p.seq FROM _problems p "
            "JOIN _lines l ON l.tbl = p.tbl AND l._row = p._row "
            "LEFT JOIN _lines r ON r.tbl = p.tbl AND r._row = p.ref_row"
        )

    def fetch(self) -> list[Problem]:
        """Every problem found, as `Problem` records."""
        out = []
        for tbl, _row, line, key, col, value, rule, _seq in self.con.execute(
            self.report_sql() + " ORDER BY p.tbl, l.line, p.seq"
        ).fetchall():
            src = self.sources[tbl]
            out.append(Problem(tbl, src.label, line, key, col, value, rule, src.row_label))
        return out


def _structure_problems(table: Table, label: str, present: list[str], row_label: str = "row") -> list[Problem]:
    """Missing required columns, each with a guess at the misspelling it may be (`label`: the file or table)."""
    problems = []
    for col in table.columns:
        if col.required and col.name not in present:
            extra = [c for c in present if c not in {k.name for k in table.columns}]
            near = difflib.get_close_matches(col.name, extra, n=1, cutoff=0.6)
            hint = f"; is {near[0]!r} meant to be {col.name!r}?" if near else ""
            found = ", ".join(present) or "none"
            rule = f"required column is missing (columns found: {found}){hint}"
            problems.append(Problem(table.name, label, None, None, col.name, None, rule, row_label))
    return problems


# --------------------------------------------------------------------------------------------------------------
# CSV line numbers: `_row` counts records DuckDB parsed; a report names the physical line in the file


@dataclass(frozen=True)
class _CsvLines:
    starts: list[int]  # physical start line of each data record (index: record number - 2; header is record 1)
    parsed: list[int]  # the record number of each parsed row (index: `_row` - 1)

    def record_line(self, record: int) -> int:
        """The physical line a record number starts on."""
        i = record - 2
        return self.starts[i] if 0 <= i < len(self.starts) else record

    def row_line(self, row: int) -> int:
        """The physical line a parsed row (`_row`) starts on."""
        i = row - 1
        return self.record_line(self.parsed[i]) if 0 <= i < len(self.parsed) else row + 1


def _csv_lines(path: Path, rejected_records: Iterable[int]) -> _CsvLines:
    """Map record numbers to physical lines (records may span lines through quoted newlines)."""
    rejected = set(rejected_records)
    starts: list[int] = []
    parsed: list[int] = []
    # a byte that is not UTF-8 is DuckDB's to reject (reported at its line); here it only must not stop the count
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        prev_end = reader.line_num
        for record, _ in enumerate(reader, start=2):
            starts.append(prev_end + 1)
            if record not in rejected:
                parsed.append(record)
            prev_end = reader.line_num
    return _CsvLines(starts, parsed)


# --------------------------------------------------------------------------------------------------------------
# building the typed tables


def _build_table(con: duckdb.DuckDBPyConnection, table: Table, present: list[str] | None) -> list[str]:
    """Create the typed table from its staged rows that passed; return its extra (non-contract) columns."""
    contract = {c.name for c in table.columns}
    select = []
    for col in table.columns:
        typ = SQL_TYPES[col.kind]
        if present is not None and col.name in present:
            select.append(f"CAST({_typed_expr(col, 's.' + _q(col.name))} AS {typ}) AS {_q(col.name)}")
        else:
            select.append(f"CAST(NULL AS {typ}) AS {_q(col.name)}")
    extras = [c for c in (present or []) if c not in contract]
    select += [f"s.{_q(c)}" for c in extras]
    if present is None:
        con.execute(f"CREATE TABLE {_q(table.name)} AS SELECT {', '.join(select)} FROM (SELECT 1) s WHERE false")
        return []
    # source order is kept by the scan itself (DuckDB preserves insertion order); no sort needed
    rejected = _scalar(con, "SELECT count(*) FROM _problems WHERE tbl = ?", [table.name])
    where = f"WHERE s._row NOT IN (SELECT _row FROM _problems WHERE tbl = {_lit(table.name)})" if rejected else ""
    stage = _q("stage_" + table.name)
    con.execute(f"CREATE TABLE {_q(table.name)} AS SELECT {', '.join(select)} FROM {stage} s {where}")
    return extras


def _build_facts(con: duckdb.DuckDBPyConnection) -> None:
    """The invitation fact table: each invitation with its contact's account and role, for fast metrics."""
    # contact_key: a dense integer per contact, so per-contact grouping (the footprint) avoids string keys
    con.execute(
        "CREATE TABLE invitation_facts AS SELECT c.contact_key, i.contact_id, c.account_id, c.role, "
        "i.questionnaire, i.wave, i.sent_at, i.responded_at, CAST(i.score AS TINYINT) AS score "
        "FROM invitations i JOIN (SELECT contact_id, account_id, role, "
        "CAST(row_number() OVER () AS INTEGER) AS contact_key FROM contacts) c USING (contact_id)"
    )


def _add_malformed(path: Path, malformed: list[Problem]) -> None:
    """Add the records that could not be parsed to a rejected-rows file, in line order, their text as written.

    The file then holds every row the exclusion count names (the count includes them), not only the parsed ones.
    """
    if not malformed:
        return
    with path.open(newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    blank = [""] * (len(header) - 3)
    rows += [[str(p.row), p.rule, *blank, p.value or ""] for p in malformed]
    rows.sort(key=lambda r: int(r[0]) if r[0].isdigit() else 0)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    sources: dict[str, _Source],
    folder: Path,
    checker: _Checker,
    problems: list[Problem],
) -> list[Exclusion]:
    """Write each table's rejected rows with their reasons, and every problem, to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    exclusions = []
    for name in LOAD_ORDER:
        src = sources.get(name)
        if src is None:
            continue
        n = int(_scalar(con, "SELECT count(DISTINCT _row) FROM _problems WHERE tbl = ?", [name]))
        n += len(src.rejected_records) + len(src.dropped_records)
        if not n:
            continue
        target = folder / f"{name}.rejected.csv"
        tmp = target.with_name(target.name + ".tmp")
        label = src.row_label
        rows_sql = (
            f"SELECT p.line AS {_q('source_' + label)}, p.reasons, s.* EXCLUDE (_row), "
            "CAST(NULL AS VARCHAR) AS raw_record "
            f"FROM {_q('stage_' + name)} s JOIN (SELECT _row, min(line) AS line, "
            "string_agg(coalesce(col || ': ', '') || rule, '; ' ORDER BY seq) AS reasons "
            f"FROM ({checker.report_sql()}) WHERE tbl = {_lit(name)} GROUP BY _row) p USING (_row) "
            "ORDER BY p.line"
        )
        con.execute(f"COPY ({rows_sql}) TO {_lit(str(tmp))} (HEADER, DELIMITER ',')")
        _add_malformed(tmp, [p for p in problems if p.table == name and p.rule.startswith("malformed CSV line")])
        tmp.replace(target)
        exclusions.append(Exclusion(name, n, str(target)))
    report = folder / "problems.csv"
    tmp = report.with_name(report.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["table", "file", "row", "key", "column", "value", "rule"])
        for p in problems:
            writer.writerow([p.table, p.file, p.row, p.key, p.column, p.value, p.rule])
    tmp.replace(report)
    return exclusions


def load(
    path: str | Path | Any,
    *,
    on_error: OnError = "raise",
    quarantine_dir: str | Path | None = None,
    database: str | Path | None = "auto",
    memory_limit: str | None = None,
    checks: Literal["rows", "structure"] | None = None,
    cache: bool | str | Path | None = None,
) -> Dataset:
    """Load and validate a dataset (folder of CSV/Parquet, Excel workbook or DuckDB file), or open one in its engine.

    path: a dataset path; or a connection URL (`postgres://...`, `spark://local`, `sc://...`, any Ibis backend
        URL; see `engines.py` and docs/engines.md), an Ibis backend or a SparkSession: the tables stay in that
        engine, are validated there, and every metric runs there.
    checks: URL sources only: "rows" (default) checks every rule in the engine, "structure" only tables, columns
        and types (files are always checked in full).

    on_error: "raise" refuses a dataset with any problem, listing every one in the `ValidationError`;
        "quarantine" loads the valid rows and writes the rejected ones, with their reasons, to `quarantine_dir`
        (default `outputs/quarantine/<dataset name>`); `Dataset.exclusions` records it for every report.
    database: where the loaded tables live: a DuckDB file path, None for memory, or "auto" (default): memory for
        small sources, a temporary file (compressed, so scans are faster and memory stays bounded) for sources
        over 64 MB, removed when the dataset is closed or garbage-collected.
    memory_limit: DuckDB's memory cap such as "1GB" (default: $HEATMAP_MEMORY_LIMIT, else DuckDB's own default).
    cache: validate once (`prepared.py`): a validated dataset is kept as a DuckDB file in the cache folder and
        reopened read-only while its source files are unchanged. None or True: the default folder
        ($HEATMAP_CACHE_DIR, else ~/.cache/heatmap); a path: that folder; False: load and validate every time.
        Used with the defaults `on_error="raise"` and `database="auto"` only.
    """
    if on_error not in ("raise", "quarantine"):
        raise ValueError(f"on_error must be 'raise' or 'quarantine', not {on_error!r}")
    from heatmap_lib.data import engines, mapping

    if mapping.is_mapping(path):  # a mapping file: survey-tool, CRM and analytics exports mapped onto the contract
        return mapping.load_mapped(
            path, on_error=on_error, quarantine_dir=quarantine_dir, database=database, memory_limit=memory_limit
        )
    if engines.is_url(path) and str(path).strip().lower().startswith("duckdb://"):
        path = engines.parse_url(str(path)).options["path"]  # a DuckDB file: the file loader, quarantine and all
    if engines.is_source(path):
        if on_error != "raise":
            # excluding rows would mean re-running every rule inside every query, or writing a cleaned copy
            # into the user's database: fix the rows in the engine instead (the error lists them)
            raise DataError(
                f"{engines.redact(str(path))}: on_error='quarantine' is for files; a URL source is "
                "used as it stands or refused"
            )
        if isinstance(path, str):
            return engines.open_url(path, checks=checks)
        return engines.open_backend(path, checks=checks or "rows")
    root = Path(path)
    sources_list, notes, files = _discover(root)
    sources = {s.table: s for s in sources_list}
    memory_limit = memory_limit or os.environ.get("HEATMAP_MEMORY_LIMIT")
    if cache is not False and on_error == "raise" and database == "auto":
        folder = None if cache is None or cache is True else cache
        cached = _load_cached(root, sources, notes, files, folder, memory_limit)
        if cached is not None:
            return cached
    scratch: Path | None = None
    if database == "auto":
        database = None
        if sum(f.stat().st_size for f in files) > AUTO_FILE_BYTES:
            scratch = Path(tempfile.mkdtemp(prefix="heatmap-"))
            database = scratch / "dataset.duckdb"
    con = duckdb.connect(str(database) if database else ":memory:", config=DUCKDB_CONFIG)
    try:
        # time-zone offsets are turned into UTC, never into the machine's own zone
        con.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            con.execute(f"SET memory_limit = {_lit(memory_limit)}")
        ds = _load_into(con, root, sources, notes, files, on_error, quarantine_dir)
    except BaseException:
        con.close()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        for src in sources_list:
            if src.utf8_copy is not None:
                src.utf8_copy.unlink(missing_ok=True)
    ds._closer = weakref.finalize(ds, _close, con, scratch)
    return ds


def _load_cached(
    root: Path,
    sources: dict[str, _Source],
    notes: list[str],
    files: list[Path],
    cache: str | Path | None,
    memory_limit: str | None,
) -> Dataset | None:
    """Open the prepared copy of unchanged sources, or validate into a new one; None when the cache is unusable."""
    from heatmap_lib.data import prepared

    sidecar, db, sig, sigs = prepared.lookup(root, files, cache)
    if sidecar is None:
        tmp = db.with_name(f".{sig}.{os.getpid()}.{threading.get_ident()}.duckdb")  # one writer per name
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(tmp))
        except (OSError, duckdb.Error):
            return None  # an unwritable cache folder: load without it
        try:
            if memory_limit:
                con.execute(f"SET memory_limit = {_lit(memory_limit)}")
            ds = _load_into(con, root, sources, notes, files, "raise", None)
            con.close()
            sidecar = prepared.publish(tmp, db, ds, sigs)
        except (OSError, duckdb.Error):
            # no room for the copy (a full disk, a file size limit): load without it (where an engine error that
            # is not about the copy happens again, and is raised)
            con.close()
            _remove(tmp)
            return None
        except BaseException:
            con.close()
            _remove(tmp)
            raise
    else:
        LOAD_STATS["reused"] += 1
    return prepared.open_prepared(sidecar, path=str(root), notes=notes, memory_limit=memory_limit)


def _remove(database: Path) -> None:
    """Remove a DuckDB file that was being written, and its write-ahead log."""
    database.unlink(missing_ok=True)
    database.with_name(database.name + ".wal").unlink(missing_ok=True)


def _close(con: duckdb.DuckDBPyConnection, scratch: Path | None) -> None:
    con.close()
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)


def _load_into(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    sources: dict[str, _Source],
    notes: list[str],
    files: list[Path],
    on_error: OnError,
    quarantine_dir: str | Path | None,
) -> Dataset:
    from heatmap_lib.core.progress import bar

    LOAD_STATS["validated"] += 1
    steps = bar(2 * len(sources) + len(TABLES) + 1, f"validating {root.name}")
    try:
        return _validate(con, root, sources, notes, files, on_error, quarantine_dir, steps)
    finally:
        steps.close()


def _validate(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    sources: dict[str, _Source],
    notes: list[str],
    files: list[Path],
    on_error: OnError,
    quarantine_dir: str | Path | None,
    steps: Any,
) -> Dataset:
    fatal: list[Problem] = []
    for name, table in TABLES.items():
        if table.required and name not in sources:
            expected = (
                f"expected {name}.csv or {name}.parquet" if root.is_dir() else f"expected a sheet or table named {name}"
            )
            fatal.append(Problem(name, root.name, None, None, None, None, f"required table is missing ({expected})"))
    present: dict[str, list[str]] = {}
    malformed: list[Problem] = []
    for name in LOAD_ORDER:
        if name in sources:
            cols, file_problems = _stage(con, sources[name])
            steps.update()
            present[name] = cols
            malformed += file_problems
            src = sources[name]
            fatal += _structure_problems(TABLES[name], src.label, cols, src.row_label)
    checker = _Checker(con, sources, present)
    cascade = on_error == "quarantine"
    for name in LOAD_ORDER:
        if name in sources:
            checker.check_rows(TABLES[name], present[name])
            checker.check_references(TABLES[name], present, cascade)
            if cascade:
                checker.mark_valid(TABLES[name])
            steps.update()
    total = checker.count() + len(malformed) + len(fatal)
    problems: list[Problem] = []
    if total:
        checker.number_lines()
        for p in malformed:  # DuckDB numbers a malformed record by its position; report its physical line
            src = sources[p.table]
            malformed[malformed.index(p)] = replace(p, row=_csv_lines(src.text_path, []).record_line(p.row or 0))
        order = {t: i for i, t in enumerate(LOAD_ORDER)}
        problems = sorted(fatal + checker.fetch() + malformed, key=lambda p: (order[p.table], p.row or 0))
        if fatal:  # a missing table or column cannot be quarantined away: refuse, listing everything
            raise ValidationError(_message(root, problems, total), problems)
        if on_error == "raise":
            raise ValidationError(_message(root, problems, total), problems)
    exclusions: list[Exclusion] = []
    if problems:
        folder = Path(quarantine_dir) if quarantine_dir else Path("outputs") / "quarantine" / root.stem
        exclusions = _write_quarantine(con, sources, folder, checker, problems)
    extras: dict[str, list[str]] = {}
    for name, table in TABLES.items():
        extras[name] = _build_table(con, table, present.get(name))
        steps.update()
    _build_facts(con)
    steps.update()
    con.execute("DROP TABLE IF EXISTS _problems; DROP TABLE IF EXISTS _lines")
    for name in present:
        con.execute(f"DROP VIEW IF EXISTS {_q('stage_' + name)}; DROP TABLE IF EXISTS {_q('valid_' + name)}")
    for name, kind in con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_name LIKE 'raw\\_%' ESCAPE '\\'"
    ).fetchall():
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {_q(name)}")
    rows = {name: int(_scalar(con, f"SELECT count(*) FROM {_q(name)}")) for name in TABLES}
    return Dataset(
        path=str(root),
        con=con,
        present=frozenset(present),
        rows=rows,
        exclusions=tuple(exclusions),
        notes=tuple(notes),
        account_columns=tuple(c.name for c in TABLES["accounts"].columns) + tuple(extras["accounts"]),
        _files=tuple(files),
    )


def _message(root: Path | str, problems: list[Problem], total: int) -> str:
    head = f"{root}: {total} problem{'s' * (total != 1)} found; nothing was loaded"
    lines = [str(p) for p in problems[:MAX_LISTED]]
    if total > MAX_LISTED:
        lines.append(f"... and {total - MAX_LISTED} more (all of them: heatmap validate DATA --report problems.csv)")
    return "\n".join([head, *("  " + line for line in lines)])
