"""Reading a dataset's files: find its tables and stage every value as trimmed text with its source row number.

A dataset is a folder of CSV/Parquet files named after the tables, an Excel workbook with a sheet per table, or
a DuckDB database file (DESIGN.md section 3). `_discover` finds each table's source, `_stage` makes it the text
view `stage_<table>` (CSV encodings and malformed lines, sheets, Parquet dates, DuckDB tables), and `_csv_lines`
maps parsed records back to the physical lines a report names. The rules themselves are `checks`.
"""

from __future__ import annotations

import codecs
import csv
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from heatmap_lib.core.exceptions import DataError
from heatmap_lib.core.schema import TABLES
from heatmap_lib.data.dataset import Problem, _lit, _q

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
MAX_LINE_BYTES = 256 * 2**20  # the longest CSV record read (DuckDB's max_line_size); longer ones are refused
# never fetch or load an extension because a file looks like another database's (SQLite, Postgres dumps, ...)
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


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


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in columns.items()) + "}"


def _norm_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lstrip("\ufeff").strip()).lower()


def _text_expr(col: str) -> str:
    return f"NULLIF(TRIM(CAST({_q(col)} AS VARCHAR)), '')"


# --------------------------------------------------------------------------------------------------------------
# staging: every value as trimmed text, with its source row number


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
