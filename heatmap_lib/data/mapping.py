"""Bring your own data: a YAML mapping file turns survey-tool, CRM and analytics exports into the data contract.

A mapping names its source files (CSV with any number of header rows, an xlsx sheet, Parquet, JSON lines) and, per
contract table, the source that feeds it and how each column is made: renamed, constant, value-mapped, parsed from a
date format or a score written as text, a wave derived from a date (calendar or fiscal quarter) or a campaign name,
an account found by an id column or by the contact's e-mail domain, a role from a job title (`titles.py`).

Everything runs inside DuckDB: the sources are read once, each table is one SELECT written to Parquet with the
source record of each row kept beside it, and the usual loader (`data.load`) validates the result. Every problem it
finds is then named at its source: the source file, its line (header rows counted as in the file) or row, and the
source column. `--on-error quarantine` works the same way, its files rewritten to point at the sources.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import duckdb

from heatmap_lib.core.exceptions import DataError, ValidationError
from heatmap_lib.core.schema import LOAD_ORDER, TABLES
from heatmap_lib.data.loading import (
    Dataset,
    OnError,
    Problem,
    _csv_lines,
    _lit,
    _message,
    _norm_header,
    _q,
    sheet_cell,
    utf8_copy,
)
from heatmap_lib.data.titles import TitleRules, load_title_rules, parse_title_rules

MAPPING_SUFFIXES = (".yaml", ".yml")
HIDDEN = ("_rec", "_title")  # columns a mapped table carries for the report and problem messages only
SourceKind = Literal["csv", "xlsx", "parquet", "jsonl"]
_KINDS: dict[str, SourceKind] = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# Named date formats; each accepts the date alone or with a time (24-hour, or 12-hour with AM/PM).
DATE_FORMATS: dict[str, list[str]] = {
    "mm/dd/yyyy": ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y"],
    "dd/mm/yyyy": ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"],
    "dd.mm.yyyy": ["%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y"],
}
SPECIAL_FORMATS = ("iso", "epoch", "epoch_ms")
SOURCE_KEYS = ("file", "sheet", "header_rows", "header_row", "format")
TABLE_KEYS = ("source", "one_row_per", "columns")
COLUMN_KEYS = (
    "from",
    "value",
    "when",
    "lower",
    "map",
    "extract",
    "template",
    "leading_number",
    "number",
    "format",
    "quarter",
    "fiscal_year_start",
    "titles",
    "email_domain",
)
TOP_KEYS = ("sources", "tables", "title_rules")


class MappingError(DataError):
    """A mapping file is malformed: the message names the file and the key path of the mistake."""


@dataclass(frozen=True)
class SourceSpec:
    """One source file of a mapping: its kind, sheet and header rows."""

    name: str
    path: Path
    kind: SourceKind
    sheet: str | None = None
    header_rows: int = 1  # rows before the data (Qualtrics: 3, SurveyMonkey: 2)
    header_row: int = 1  # the one of them that names the columns

    @property
    def label(self) -> str:
        """How problems name the file: `book.xlsx[Sheet]` or the file name."""
        return f"{self.path.name}[{self.sheet}]" if self.sheet else self.path.name

    @property
    def row_label(self) -> str:
        """How a report counts: by physical line for text files (CSV, JSON lines), by row for xlsx and Parquet."""
        return "line" if self.kind in ("csv", "jsonl") else "row"


@dataclass(frozen=True)
class ColumnSpec:
    """How one contract (or extra) column is made from its source: the options of DESIGN.md section 10."""

    name: str
    where: str  # key path in the mapping, for messages
    source: str | None = None  # `from`
    value: str | None = None  # a constant
    when: str | None = None
    lower: bool = False
    values: tuple[tuple[str, str], ...] = ()  # `map`
    extract: str | None = None
    template: str | None = None
    leading_number: bool = False
    number: bool = False
    formats: tuple[str, ...] = ()
    quarter: Literal["calendar", "fiscal"] | None = None
    fiscal_year_start: int = 1
    titles: bool = False
    email_domain: str | None = None  # a column of the mapped accounts table holding domains or web sites

    @property
    def label(self) -> str:
        """The source column a problem names, with the contract column it became."""
        if self.source is None:
            return f"(constant {self.name})"
        return self.source if _norm_header(self.source) == self.name else f"{self.source} ({self.name})"


@dataclass(frozen=True)
class TableSpec:
    """One contract table of a mapping: its source, its columns, and whether repeats of a key are merged."""

    name: str
    source: str
    columns: tuple[ColumnSpec, ...]
    one_row_per: str | None = None


@dataclass(frozen=True)
class MappingSpec:
    """A parsed mapping file: its sources, its tables and the title rules roles come from."""

    path: Path
    sources: dict[str, SourceSpec]
    tables: dict[str, TableSpec]
    title_rules: TitleRules

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file the mapped data depend on (for the dataset's fingerprint)."""
        found = [self.path, *(s.path for s in self.sources.values())]
        if self.title_rules.path is not None:
            found.append(self.title_rules.path)
        return tuple(dict.fromkeys(found))


@dataclass
class MapReport:
    """What a mapping did: rows per table, merged repeats, unmatched titles, derived waves, notes."""

    mapping: str
    tables: list[dict[str, Any]] = field(default_factory=list)
    unmatched_titles: list[tuple[str | None, int]] = field(default_factory=list)
    waves: list[tuple[str | None, int]] = field(default_factory=list)
    wave_source: str | None = None
    notes: list[str] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    quarantine: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (for `import_report.json`)."""
        return {
            "mapping": self.mapping,
            "tables": self.tables,
            "unmatched_titles": [{"title": t, "count": n} for t, n in self.unmatched_titles],
            "waves": [{"wave": w, "count": n} for w, n in self.waves],
            "wave_source": self.wave_source,
            "excluded": self.excluded,
            "quarantine": self.quarantine,
            "notes": self.notes,
        }

    def __str__(self) -> str:
        lines = [f"mapping {self.mapping}:"]
        for t in self.tables:
            merged = f", {t['merged']} repeats of {t['one_row_per']} merged" if t.get("merged") else ""
            excluded = self.excluded.get(t["table"], 0)
            dropped = f", {excluded} excluded (quarantine)" if excluded else ""
            lines.append(
                f"  {t['table']}: {t['rows']:,} rows from {t['source_rows']:,} rows of {t['source']}{merged}{dropped}"
            )
        if self.waves:
            waves = ", ".join(f"{w} ({n:,})" for w, n in self.waves)
            lines.append(f"  waves ({self.wave_source}): {waves}")
        if self.unmatched_titles:
            n = sum(c for _, c in self.unmatched_titles)
            lines.append(
                f"  job titles that matched no title rule ({len(self.unmatched_titles)} titles, {n:,} contacts):"
            )
            lines += [f"    {n:>6,}  {t if t is not None else '(no title)'}" for t, n in self.unmatched_titles]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# reading the mapping file


def is_mapping(path: object) -> bool:
    """Whether `path` names a mapping file (a .yaml/.yml file) rather than a dataset."""
    if not isinstance(path, str | Path) or "://" in str(path):
        return False
    p = Path(path)
    return p.suffix.lower() in MAPPING_SUFFIXES and p.is_file()


def read_mapping(path: str | Path) -> MappingSpec:
    """Read and check a mapping file (safe YAML loader); every mistake is named with its key path."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"{path}: no such mapping file") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None

    def fail(where: str, message: str) -> MappingError:
        return MappingError(f"{path.name}: {where}: {message}")

    if not isinstance(raw, MappingABC):
        raise MappingError(f"{path.name}: a mapping file is a mapping with keys {', '.join(TOP_KEYS)}")
    _unknown(raw, TOP_KEYS, "", fail)
    base = path.parent
    rules_raw = raw.get("title_rules")
    if rules_raw is None:
        rules = load_title_rules()
    elif isinstance(rules_raw, str):
        rules = load_title_rules(base / rules_raw)
    elif isinstance(rules_raw, MappingABC):
        rules = parse_title_rules(rules_raw, path, where="title_rules.")
    else:
        raise fail("title_rules", "the path of a title rules file, or the rules themselves")
    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, MappingABC) or not sources_raw:
        raise fail("sources", "a mapping of source names to files (e.g. `responses: qualtrics.csv`)")
    sources = {str(k): _source(str(k), v, base, fail) for k, v in sources_raw.items()}
    tables_raw = raw.get("tables")
    if not isinstance(tables_raw, MappingABC) or not tables_raw:
        raise fail("tables", f"a mapping of contract tables ({', '.join(TABLES)}) to how each is made")
    tables: dict[str, TableSpec] = {}
    for name, spec in tables_raw.items():
        if name not in TABLES:
            raise fail(f"tables.{name}", f"not a table of the contract (one of {', '.join(TABLES)})")
        tables[name] = _table(name, spec, sources, fail)
    for name, table in TABLES.items():
        if table.required and name not in tables:
            raise fail("tables", f"the required table {name} is not mapped")
    return MappingSpec(path, sources, tables, rules)


def _unknown(raw: MappingABC, known: tuple[str, ...], where: str, fail: Any) -> None:
    for key in raw:
        if key not in known:
            at = f"{where}.{key}" if where else str(key)
            raise fail(at, f"unknown key (known: {', '.join(known)})")


def _source(name: str, raw: object, base: Path, fail: Any) -> SourceSpec:
    where = f"sources.{name}"
    if isinstance(raw, str):
        raw = {"file": raw}
    if not isinstance(raw, MappingABC) or not isinstance(raw.get("file"), str):
        raise fail(where, "a file name, or a mapping with `file` and optionally sheet, header_rows, header_row, format")
    _unknown(raw, SOURCE_KEYS, where, fail)
    path = (base / raw["file"]).resolve()
    fmt = raw.get("format")
    if fmt is None:
        kind = _KINDS.get(path.suffix.lower())
        if kind is None:
            raise fail(f"{where}.file", f"{raw['file']!r}: unknown kind of file (give `format`: csv, xlsx, ...)")
    elif fmt in ("csv", "xlsx", "parquet", "jsonl"):
        kind = fmt
    else:
        raise fail(f"{where}.format", f"{fmt!r} is not one of csv, xlsx, parquet, jsonl")
    if not path.is_file():
        raise fail(f"{where}.file", f"{raw['file']!r}: no such file ({path})")
    header_rows = raw.get("header_rows", 1)
    header_row = raw.get("header_row", 1)
    for key, value in (("header_rows", header_rows), ("header_row", header_row)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail(f"{where}.{key}", f"{value!r} is not a whole number >= 1")
    if header_row > header_rows:
        raise fail(f"{where}.header_row", f"{header_row} is past the header rows ({header_rows})")
    if kind in ("parquet", "jsonl") and (header_rows != 1 or header_row != 1):
        raise fail(f"{where}.header_rows", f"a {kind} file has no header rows to skip")
    sheet = raw.get("sheet")
    if sheet is not None and kind != "xlsx":
        raise fail(f"{where}.sheet", "only an xlsx workbook has sheets")
    if kind == "xlsx":
        from python_calamine import CalamineWorkbook

        names = CalamineWorkbook.from_path(str(path)).sheet_names
        if sheet is None:
            sheet = names[0]
        elif sheet not in names:
            raise fail(f"{where}.sheet", f"{sheet!r}: no such sheet in {path.name} (sheets: {', '.join(names)})")
    return SourceSpec(name, path, kind, None if sheet is None else str(sheet), header_rows, header_row)


def _table(name: str, raw: object, sources: dict[str, SourceSpec], fail: Any) -> TableSpec:
    where = f"tables.{name}"
    if not isinstance(raw, MappingABC):
        raise fail(where, "a mapping with `source`, `columns` and optionally `one_row_per`")
    _unknown(raw, TABLE_KEYS, where, fail)
    source = raw.get("source")
    if source not in sources:
        raise fail(f"{where}.source", f"{source!r} is not one of the sources ({', '.join(sources)})")
    cols_raw = raw.get("columns")
    if not isinstance(cols_raw, MappingABC) or not cols_raw:
        raise fail(f"{where}.columns", "a mapping of contract columns to source columns or column options")
    columns = tuple(_column(str(k), v, f"{where}.columns.{k}", fail) for k, v in cols_raw.items())
    names = [c.name for c in columns]
    for col in TABLES[name].columns:
        if col.required and col.name not in names:
            raise fail(f"{where}.columns", f"the required column {col.name!r} is not mapped")
    for c in columns:
        if c.email_domain is not None and (name != "contacts" or c.name != "account_id"):
            raise fail(f"{c.where}.email_domain", "only contacts.account_id can be found by e-mail domain")
        if c.titles and (name != "contacts" or c.name != "role"):
            raise fail(f"{c.where}.titles", "only contacts.role comes from job titles")
    one = raw.get("one_row_per")
    if one is not None and one not in names:
        raise fail(f"{where}.one_row_per", f"{one!r} is not one of this table's columns ({', '.join(names)})")
    if one is not None and any(c.name == one and (c.titles or c.email_domain) for c in columns):
        raise fail(f"{where}.one_row_per", f"{one!r} is a role or an account found by e-mail domain, not a key")
    return TableSpec(name, str(source), columns, None if one is None else str(one))


def _column(name: str, raw: object, where: str, fail: Any) -> ColumnSpec:
    if isinstance(raw, str):
        return ColumnSpec(name, where, source=raw)
    if not isinstance(raw, MappingABC):
        raise fail(where, "a source column name, or a mapping of column options")
    _unknown(raw, COLUMN_KEYS, where, fail)
    if ("from" in raw) == ("value" in raw):
        raise fail(where, "give exactly one of `from` (a source column) and `value` (a constant)")
    text = {}
    for key in ("from", "when", "extract", "template", "email_domain"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise fail(f"{where}.{key}", "must be non-empty text")
            text[key] = raw[key]
    value = raw.get("value")
    if "value" in raw and (value is None or isinstance(value, list | dict)):
        raise fail(f"{where}.value", "a constant is a single value")
    flags = {}
    for key in ("lower", "leading_number", "number", "titles"):
        if key in raw and not isinstance(raw[key], bool):
            raise fail(f"{where}.{key}", "must be true or false")
        flags[key] = bool(raw.get(key, False))
    values: tuple[tuple[str, str], ...] = ()
    if "map" in raw:
        if not isinstance(raw["map"], MappingABC) or not raw["map"]:
            raise fail(f"{where}.map", "a mapping of source values to values")
        values = tuple((_text(k), _text(v)) for k, v in raw["map"].items())
    formats: tuple[str, ...] = ()
    if "format" in raw:
        fmt = raw["format"]
        items = fmt if isinstance(fmt, list) else [fmt]
        if not items or not all(isinstance(f, str) and f.strip() for f in items):
            raise fail(f"{where}.format", "a date format (e.g. '%m/%d/%Y', 'dd.mm.yyyy', 'epoch', 'iso') or a list")
        for f in items:
            if f in SPECIAL_FORMATS and len(items) > 1:
                raise fail(f"{where}.format", f"{f!r} cannot be combined with other formats")
            if f not in SPECIAL_FORMATS and f not in DATE_FORMATS and "%" not in f:
                known = ", ".join([*DATE_FORMATS, *SPECIAL_FORMATS])
                raise fail(f"{where}.format", f"{f!r} is neither a strptime format (with %) nor one of {known}")
            _check_strptime(f, f"{where}.format", fail)
        formats = tuple(items)
    quarter = raw.get("quarter")
    if quarter is not None and quarter not in ("calendar", "fiscal"):
        raise fail(f"{where}.quarter", f"{quarter!r} is not calendar or fiscal")
    start = raw.get("fiscal_year_start", 1)
    if "fiscal_year_start" in raw and quarter != "fiscal":
        raise fail(f"{where}.fiscal_year_start", "only with `quarter: fiscal`")
    if not isinstance(start, int) or isinstance(start, bool) or not 1 <= start <= 12:
        raise fail(f"{where}.fiscal_year_start", f"{start!r} is not a month number 1 to 12")
    if "template" in raw and "extract" not in raw:
        raise fail(f"{where}.template", "only with `extract`")
    if "extract" in raw:
        error = _sql_error("SELECT regexp_matches('', ?)", raw["extract"])
        if error:
            raise fail(f"{where}.extract", f"not a valid pattern ({error})")
    if "value" in raw and set(raw) - {"value"}:
        raise fail(where, "a constant (`value`) takes no other option")
    return ColumnSpec(
        name,
        where,
        source=text.get("from"),
        value=None if value is None else _text(value),
        when=text.get("when"),
        lower=flags["lower"],
        values=values,
        extract=text.get("extract"),
        template=text.get("template"),
        leading_number=flags["leading_number"],
        number=flags["number"],
        formats=formats,
        quarter=quarter,
        fiscal_year_start=start,
        titles=flags["titles"],
        email_domain=text.get("email_domain"),
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_strptime(fmt: str, where: str, fail: Any) -> None:
    if fmt in SPECIAL_FORMATS or fmt in DATE_FORMATS:
        return
    error = _sql_error("SELECT try_strptime('x', ?)", fmt)
    if error:
        raise fail(where, f"{fmt!r} is not a valid strptime format ({error})")


def _sql_error(sql: str, value: str) -> str | None:
    """DuckDB's complaint about a pattern or format given to `sql` as its parameter, or None."""
    with duckdb.connect() as con:
        try:
            con.execute(sql, [value]).fetchall()
        except duckdb.Error as exc:
            return str(exc).splitlines()[0]
    return None


# --------------------------------------------------------------------------------------------------------------
# staging the sources: `src_<name>` holds `_rec` (the record number, header rows counted) and the columns as text


def _stage_source(
    con: duckdb.DuckDBPyConnection, src: SourceSpec, wanted: dict[str, str], mapping: Path, copies: list[Path]
) -> dict[str, str]:
    """Stage the source columns a mapping uses; return each `from` name -> its staged column."""
    table = _q(f"src_{src.name}")
    if src.kind == "jsonl":
        cols = {w: f"c{i}" for i, w in enumerate(wanted)}
        select = ", ".join(
            f"NULLIF(TRIM(json_extract_string(json, {_lit(_json_path(w))})), '') AS {cols[w]}" for w in wanted
        )
        try:
            con.execute(
                f"CREATE TEMP TABLE {table} AS SELECT row_number() OVER () AS _rec{', ' + select if select else ''} "
                f"FROM read_json_objects({_lit(str(src.path))}, format='newline_delimited')"
            )
        except duckdb.Error as exc:
            raise DataError(f"{src.label}: cannot be read as JSON lines ({str(exc).splitlines()[0]})") from exc
        return cols
    if src.kind == "csv":
        copy = utf8_copy(src.path, prefix=f"heatmap-map-{src.name}-")  # UTF-16/32 read as UTF-8, as the loader does
        if copy is not None:
            copies.append(copy)
        text = copy or src.path
        header = _csv_header(src, text)
        columns = ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header)
        con.execute(
            f"CREATE TEMP VIEW {_q('file_' + src.name)} AS SELECT row_number() OVER () + 1 AS _rec, * FROM read_csv("
            f"{_lit(str(text))}, all_varchar=true, header=true, delim=',', quote='\"', escape='\"', "
            f"auto_detect=false, encoding='utf-8', columns={{{columns}}})"
        )
    elif src.kind == "parquet":
        con.execute(
            f"CREATE TEMP VIEW {_q('file_' + src.name)} AS SELECT file_row_number + 1 AS _rec, "
            f"* EXCLUDE (file_row_number) FROM read_parquet({_lit(str(src.path))}, file_row_number=true)"
        )
        header = [r[0] for r in con.execute(f"DESCRIBE {_q('file_' + src.name)}").fetchall() if r[0] != "_rec"]
    else:
        header = _stage_xlsx(con, src)
    resolved = {w: _resolve_column(w, header, src, f"{mapping.name}: {where}") for w, where in wanted.items()}
    names = list(dict.fromkeys(resolved.values()))
    cols = {w: f"c{names.index(resolved[w])}" for w in wanted}
    select = ", ".join(f"NULLIF(TRIM(CAST({_q(n)} AS VARCHAR)), '') AS c{i}" for i, n in enumerate(names))
    try:
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT _rec{', ' + select if select else ''} "
            f"FROM {_q('file_' + src.name)} WHERE _rec > {0 if src.kind == 'parquet' else src.header_rows}"
        )
    except duckdb.Error as exc:
        raise DataError(f"{src.label}: cannot be read as {src.kind} ({str(exc).splitlines()[0]})") from exc
    return cols


def _json_path(name: str) -> str:
    parts = []
    for part in name.split("."):
        m = re.fullmatch(r"(.*?)((?:\[\d+\])*)", part)
        key, index = (m.group(1), m.group(2)) if m else (part, "")
        parts.append('"' + key.replace('"', '\\"') + '"' + index)
    return "$." + ".".join(parts)


def _csv_header(src: SourceSpec, text: Path) -> list[str]:
    """The header row a source names, read from `text` (the file, or its UTF-8 copy)."""
    try:
        with text.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [next(reader, None) for _ in range(src.header_rows)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{src.label}: not UTF-8 text (byte {exc.start}): save the file as UTF-8") from exc
    header = rows[src.header_row - 1]
    if not header:
        raise DataError(f"{src.label}: no header line {src.header_row}; it must name the columns")
    return _unique_names(header)


def _unique_names(header: list[Any]) -> list[str]:
    names: list[str] = []
    for i, h in enumerate(header):
        text = "" if h is None else str(h)
        names.append(text if text not in names and text.strip() else f"{text or 'column'}_{i + 1}")
    return names


def _stage_xlsx(con: duckdb.DuckDBPyConnection, src: SourceSpec) -> list[str]:
    import pyarrow as pa
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(src.path)).get_sheet_by_name(src.sheet or "").to_python()
    if len(rows) < src.header_rows:
        raise DataError(f"{src.label}: the sheet has fewer rows than its {src.header_rows} header rows")
    header = _unique_names(list(rows[src.header_row - 1]))

    arrays = {"_rec": pa.array(range(1, len(rows) + 1), pa.int64())}
    for i, name in enumerate(header):
        arrays[name] = pa.array([sheet_cell(r[i]) if i < len(r) else None for r in rows], pa.string())
    staged = pa.table(arrays)  # noqa: F841  (read by DuckDB's replacement scan below)
    con.execute(f"CREATE TEMP TABLE {_q('file_' + src.name)} AS SELECT * FROM staged")
    return header


def _resolve_column(name: str, header: list[str], src: SourceSpec, where: str) -> str:
    if name in header:
        return name
    folded = {_norm_header(h): h for h in header}
    if _norm_header(name) in folded:
        return folded[_norm_header(name)]
    import difflib

    near = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
    hint = f"; is {near[0]!r} meant?" if near else ""
    shown = ", ".join(header[:40]) + (", ..." if len(header) > 40 else "")
    raise MappingError(f"{where}: source column {name!r} is not in {src.label} (columns: {shown}){hint}")


# --------------------------------------------------------------------------------------------------------------
# one SELECT per table


def _expr(col: ColumnSpec, cols: dict[str, str], kind: str) -> str:
    """SQL for one mapped column as text; a value a step cannot convert is kept as written, so validation quotes it.

    A role from job titles is the title here: `_select` joins it to the roles of the distinct titles.
    """
    if col.value is not None:
        return _lit(col.value)
    x = f"s.{cols[col.source or '']}"
    if col.when:
        x = f"(CASE WHEN s.{cols[col.when]} IS NOT NULL THEN {x} END)"
    if col.lower:
        x = f"lower({x})"
    if col.extract:
        pattern = _lit(col.extract)
        if col.template is not None:
            got = f"regexp_replace({x}, {_lit('(?s)^.*?(?:' + col.extract + ').*$')}, {_lit(col.template)})"
        else:
            group = 1 if re.search(r"\((?!\?)", col.extract) else 0
            got = f"regexp_extract({x}, {pattern}, {group})"
        x = f"(CASE WHEN regexp_matches({x}, {pattern}) THEN {got} ELSE {x} END)"
    if col.values:
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in col.values)
        x = f"(CASE {x} {cases} ELSE {x} END)"
    if col.leading_number:
        x = f"COALESCE(NULLIF(regexp_extract({x}, '^\\s*([+-]?[0-9]+(\\.[0-9]+)?)', 1), ''), {x})"
    if col.number:
        x = f"COALESCE(NULLIF(regexp_replace({x}, '[^0-9.eE+-]', '', 'g'), ''), {x})"
    if col.formats or col.quarter:
        ts = _parse_ts(x, col.formats or ("iso",))
        if col.quarter:
            return _quarter(ts, col.quarter, col.fiscal_year_start)
        out = "%Y-%m-%d %H:%M:%S" if kind == "timestamp" else "%Y-%m-%d"
        x = f"COALESCE(strftime({ts}, {_lit(out)}), {x})"
    return x


def _parse_ts(x: str, formats: tuple[str, ...]) -> str:
    if formats == ("iso",):  # an explicit offset (or Z) is turned to UTC; a time without one is kept as written
        offset = _lit(r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$")
        return (
            f"(CASE WHEN regexp_matches({x}, {offset}) THEN TRY_CAST({x} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' "
            f"ELSE TRY_CAST({x} AS TIMESTAMP) END)"
        )
    if formats in (("epoch",), ("epoch_ms",)):
        scale = "" if formats == ("epoch",) else " / 1000"
        return f"(to_timestamp(TRY_CAST({x} AS DOUBLE){scale}) AT TIME ZONE 'UTC')"
    fmts = [f for name in formats for f in DATE_FORMATS.get(name, [name])]
    return f"TRY_STRPTIME({x}, [{', '.join(map(_lit, fmts))}])"


def _quarter(ts: str, kind: str, start: int) -> str:
    """A wave label from a timestamp: `2026-Q3` (calendar) or `FY2027-Q1` (fiscal year named by its end year)."""
    if kind == "calendar":
        return f"(strftime({ts}, '%Y') || '-Q' || quarter({ts}))"
    shifted = f"({ts} - INTERVAL {start - 1} MONTH)"
    year = f"year({shifted})" + (" + 1" if start > 1 else "")
    return f"('FY' || CAST({year} AS VARCHAR) || '-Q' || quarter({shifted}))"


_FIRST_AT = re.compile(r"first at (?:row|line) (\d+)")
_DOMAIN_OF_SITE = r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([^/:?#\s@]+)"


def _select(spec: MappingSpec, table: TableSpec, cols: dict[str, str]) -> str:
    contract = {c.name: c.kind for c in TABLES[table.name].columns}
    select = ["s._rec AS _rec"]
    joins = []
    for i, col in enumerate(table.columns):
        x = _expr(col, cols, contract.get(col.name, "text"))
        if col.titles:  # the rules run once per distinct title (`_classify_titles`), not once per row
            joins.append(f"LEFT JOIN {_q('roles_' + table.name)} r{i} ON r{i}.title = {x}")
            select.append(f"{x} AS _title")
            x = f"COALESCE(r{i}.role, {_lit(spec.title_rules.default)})"
        if col.email_domain:
            site = f"lower(a.{_q(col.email_domain)})"
            joins.append(
                f"LEFT JOIN (SELECT d, any_value(account_id) AS account_id, count(*) AS n FROM (SELECT "
                f"regexp_extract({site}, {_lit(_DOMAIN_OF_SITE)}, 1) AS d, account_id FROM m_accounts a) "
                f"WHERE d <> '' GROUP BY d) j{i} ON j{i}.d = lower(regexp_extract({x}, '@([^@\\s>]+)\\s*>?$', 1))"
            )
            x = f"(CASE WHEN j{i}.n = 1 THEN j{i}.account_id ELSE {x} END)"
        select.append(f"{x} AS {_q(col.name)}")
    src = _q("src_" + table.source)
    sql = f"SELECT {', '.join(select)} FROM {src} s {' '.join(joins)}"
    if table.one_row_per:
        # the first source row of each key: found on the key alone, so the other columns (titles, joins) are
        # computed for the kept rows only
        key = next(c for c in table.columns if c.name == table.one_row_per)
        kx = _expr(key, cols, contract.get(key.name, "text"))
        sql += f" WHERE s._rec IN (SELECT min(s._rec) FROM {src} s GROUP BY {kx}) OR {kx} IS NULL ORDER BY s._rec"
    return sql


def map_to_folder(spec: MappingSpec, folder: Path) -> MapReport:
    """Run a mapping: write each table as `<table>.parquet`, all text, with the source record of each row in `_rec`.

    `_rec` (and `_title`, a role's job title) ride along as extra columns, so each table is written in one pass;
    `map_dataset` drops them once the dataset is loaded.
    """
    folder.mkdir(parents=True, exist_ok=True)
    report = MapReport(str(spec.path))
    con = duckdb.connect()
    copies: list[Path] = []  # UTF-8 copies of UTF-16/32 sources, removed when done
    try:
        wanted: dict[str, dict[str, str]] = {name: {} for name in spec.sources}  # column -> its key path
        for t in spec.tables.values():
            for col in t.columns:
                for ref, key in ((col.source, "from"), (col.when, "when")):
                    if ref is not None and ref not in wanted[t.source]:
                        wanted[t.source][ref] = (
                            col.where if col.source == ref and key == "from" else col.where + ".when"
                        )
        staged = {}
        for name, src in spec.sources.items():
            if any(t.source == name for t in spec.tables.values()):
                staged[name] = _stage_source(con, src, wanted[name], spec.path, copies)
        for name in LOAD_ORDER:
            table = spec.tables.get(name)
            if table is None:
                continue
            for col in table.columns:
                if col.email_domain and "accounts" in spec.tables:
                    names = [c.name for c in spec.tables["accounts"].columns]
                    if col.email_domain not in names:
                        raise MappingError(
                            f"{spec.path.name}: {col.where}.email_domain: {col.email_domain!r} is not a column "
                            f"of the mapped accounts table ({', '.join(names)})"
                        )
            src = spec.sources[table.source]
            for col in table.columns:
                if col.titles:
                    title = _expr(col, staged[table.source], "text")
                    con.execute(
                        f"CREATE TEMP TABLE {_q('roles_' + name)} AS SELECT title, "
                        f"{spec.title_rules.match_sql('title')} AS role FROM (SELECT DISTINCT {title} AS title "
                        f"FROM {_q('src_' + table.source)} s WHERE {title} IS NOT NULL)"
                    )
            target = _lit(str(folder / f"{name}.parquet"))
            select = _select(spec, table, staged[table.source])
            con.execute(f"COPY ({select}) TO {target} (FORMAT parquet, COMPRESSION uncompressed)")
            con.execute(f"CREATE TEMP VIEW {_q('m_' + name)} AS SELECT * FROM read_parquet({target})")
            rows = int(con.execute(f"SELECT count(*) FROM {_q('m_' + name)}").fetchall()[0][0])
            source_rows = int(con.execute(f"SELECT count(*) FROM {_q('src_' + table.source)}").fetchall()[0][0])
            entry: dict[str, Any] = {"table": name, "source": src.label, "source_rows": source_rows, "rows": rows}
            if table.one_row_per:
                entry |= {"one_row_per": table.one_row_per, "merged": source_rows - rows}
            report.tables.append(entry)
            _report_columns(con, table, report)
    finally:
        con.close()
        for copy in copies:
            copy.unlink(missing_ok=True)
    return report


def _report_columns(con: duckdb.DuckDBPyConnection, table: TableSpec, report: MapReport) -> None:
    """Add the unmatched titles, derived waves and e-mail domain notes of one mapped table to the report."""
    relation = _q("m_" + table.name)
    for col in table.columns:
        if col.titles:  # counted per mapped row: each contact once when repeats were merged
            found = con.execute(
                f"SELECT m._title, count(*) AS n FROM {relation} m LEFT JOIN {_q('roles_' + table.name)} r "
                "ON r.title = m._title WHERE r.role IS NULL GROUP BY 1 ORDER BY n DESC, 1 NULLS LAST"
            ).fetchall()
            report.unmatched_titles += [(t, int(n)) for t, n in found]
        if table.name == "invitations" and col.name == "wave" and col.value is None:
            how = (
                f"{col.quarter} quarters of {col.source}"
                + (f" (fiscal year from month {col.fiscal_year_start})" if col.quarter == "fiscal" else "")
                if col.quarter
                else f"from {col.source}"
            )
            report.wave_source = how
            report.waves = [
                (w, int(n))
                for w, n in con.execute(
                    f"SELECT wave, count(*) FROM {relation} GROUP BY 1 ORDER BY 1 NULLS LAST"
                ).fetchall()
            ]
        if col.email_domain:
            shared = con.execute(
                f"SELECT d, count(*) FROM (SELECT regexp_extract(lower({_q(col.email_domain)}), "
                f"{_lit(_DOMAIN_OF_SITE)}, 1) AS d FROM m_accounts) WHERE d <> '' GROUP BY d HAVING count(*) > 1"
            ).fetchall()
            for d, n in shared:
                report.notes.append(f"{n} accounts share the domain {d!r}: contacts at {d} match no account")


# --------------------------------------------------------------------------------------------------------------
# loading through a mapping, with every problem named at its source


@dataclass
class _Locator:
    """Turns a row of a mapped table back into its source file, line and column (its `_rec`)."""

    spec: MappingSpec
    folder: Path
    _lines: dict[str, Any] = field(default_factory=dict)

    def records(self, table: str, rows: set[int]) -> dict[int, int]:
        """The source record of each mapped row (1-based)."""
        if not rows:
            return {}
        mapped = self.folder / f"{table}.parquet"
        con = duckdb.connect()
        try:
            found = con.execute(
                f"SELECT file_row_number + 1, _rec FROM read_parquet({_lit(str(mapped))}, file_row_number=true) "
                "WHERE file_row_number + 1 IN (SELECT unnest(?::BIGINT[]))",
                [sorted(rows)],
            ).fetchall()
        finally:
            con.close()
        return {int(r): int(rec) for r, rec in found}

    def line(self, src: SourceSpec, record: int) -> int:
        """The number a report shows for a source record: the physical line for CSV and JSON lines."""
        if src.kind == "csv":
            if src.name not in self._lines:
                self._lines[src.name] = _csv_lines(src.path, [])
            return int(self._lines[src.name].record_line(record))
        if src.kind == "jsonl":
            if src.name not in self._lines:
                with src.path.open(encoding="utf-8") as fh:
                    self._lines[src.name] = [i for i, text in enumerate(fh, start=1) if text.strip()]
            lines = self._lines[src.name]
            return int(lines[record - 1]) if 0 < record <= len(lines) else record
        return record

    def translate(self, problems: list[Problem]) -> list[Problem]:
        """The problems of a mapped load, each pointing at its source file, line and column."""
        refs: dict[str, set[int]] = {}
        for p in problems:
            if p.table in self.spec.tables and p.row is not None:
                refs.setdefault(p.table, set()).add(p.row)
                refs[p.table].update(int(n) for n in _FIRST_AT.findall(p.rule))
        recs = {t: self.records(t, rows) for t, rows in refs.items()}
        out = []
        for p in problems:
            table = self.spec.tables.get(p.table)
            if table is None:
                out.append(p)
                continue
            src = self.spec.sources[table.source]
            if p.row is None:
                out.append(replace(p, file=f"{self.spec.path.name} (tables.{p.table})"))
                continue
            col = next((c for c in table.columns if c.name == p.column), None)
            rule = self.source_rule(p.rule, table, recs[p.table])
            if col is not None and col.formats and rule.startswith(("must be a date (", "must be a date and time (")):
                rule = f"must be a date written as {' or '.join(col.formats)} (the mapping's format)"
            record = recs[p.table].get(p.row)
            row = self.line(src, record) if record is not None else p.row
            column = col.label if col is not None else p.column
            out.append(Problem(p.table, src.label, row, p.key, column, p.value, rule, src.row_label))
        order = {t: i for i, t in enumerate(LOAD_ORDER)}
        return sorted(out, key=lambda p: (order.get(p.table, 99), p.row or 0))

    def source_rule(self, rule: str, table: TableSpec, recs: dict[int, int]) -> str:
        """A rule text whose "first at row N" (a mapped row) names the source line instead."""
        src = self.spec.sources[table.source]

        def at(m: re.Match[str]) -> str:
            rec = recs.get(int(m.group(1)))
            return m.group(0) if rec is None else f"first at {src.row_label} {self.line(src, rec)}"

        return re.sub(r"first at (?:row|line) (\d+)", at, rule)

    def rewrite_quarantine(self, folder: Path) -> None:
        """Point the quarantine files (problems.csv, <table>.rejected.csv) at the source files and lines."""
        report = folder / "problems.csv"
        if report.is_file():
            with report.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            problems = [
                Problem(
                    r["table"],
                    r["file"],
                    int(r["row"]) if r["row"] else None,
                    r["key"] or None,
                    r["column"] or None,
                    r["value"] if r["value"] != "" else None,
                    r["rule"],
                )
                for r in rows
            ]
            translated = self.translate(problems)
            with report.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(["table", "file", "row", "key", "column", "value", "rule"])
                for p in translated:
                    writer.writerow([p.table, p.file, p.row, p.key, p.column, p.value, p.rule])
        for name, table in self.spec.tables.items():
            path = folder / f"{name}.rejected.csv"
            if not path.is_file():
                continue
            src = self.spec.sources[table.source]
            with path.open(newline="", encoding="utf-8") as fh:
                lines = list(csv.reader(fh))
            wanted = {int(r[0]) for r in lines[1:] if r and r[0]}
            wanted |= {int(n) for r in lines[1:] if len(r) > 1 for n in _FIRST_AT.findall(r[1])}
            recs = self.records(name, wanted)
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                keep = [i for i, name in enumerate(lines[0]) if i > 1 and name not in HIDDEN]
                writer.writerow(["source_file", f"source_{src.row_label}", "reasons", *(lines[0][i] for i in keep)])
                for r in lines[1:]:
                    rec = recs.get(int(r[0])) if r and r[0] else None
                    reasons = self.source_rule(r[1], table, recs) if len(r) > 1 else ""
                    line = "" if rec is None else self.line(src, rec)
                    writer.writerow([src.label, line, reasons, *(r[i] for i in keep if i < len(r))])


def map_dataset(
    mapping: str | Path | MappingSpec,
    *,
    on_error: OnError = "raise",
    quarantine_dir: str | Path | None = None,
    database: str | Path | None = "auto",
    memory_limit: str | None = None,
) -> tuple[Dataset, MapReport]:
    """Map the exports a mapping file names and load the result: the validated dataset and what was mapped."""
    from heatmap_lib.data.loading import load

    spec = mapping if isinstance(mapping, MappingSpec) else read_mapping(mapping)
    work = Path(tempfile.mkdtemp(prefix="heatmap-map-"))
    try:
        report = map_to_folder(spec, work / spec.path.stem)
        locator = _Locator(spec, work / spec.path.stem)
        qdir = Path(quarantine_dir) if quarantine_dir else Path("outputs") / "quarantine" / spec.path.stem
        try:
            ds = load(
                work / spec.path.stem,
                cache=False,  # a temporary folder, read once: nothing to reopen later
                on_error=on_error,
                quarantine_dir=qdir,
                database=database,
                memory_limit=memory_limit,
            )
        except ValidationError as exc:
            problems = locator.translate(list(exc.problems))
            raise ValidationError(_message(spec.path, problems, len(problems)), problems) from None
        if ds.exclusions:
            locator.rewrite_quarantine(qdir)
            report.excluded = {e.table: e.rows for e in ds.exclusions}
            report.quarantine = str(qdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert ds.con is not None
    for name in ds.present:
        have = {r[0] for r in ds.con.execute(f"DESCRIBE {_q(name)}").fetchall()}
        for col in HIDDEN:
            if col in have:
                ds.con.execute(f"ALTER TABLE {_q(name)} DROP COLUMN {col}")
    ds.account_columns = tuple(c for c in ds.account_columns if c not in HIDDEN)
    ds.path = str(spec.path)
    ds._files = spec.files
    ds.notes = tuple(ds.notes) + tuple(report.notes)
    if report.unmatched_titles:
        n = sum(c for _, c in report.unmatched_titles)
        ds.notes += (
            f"job titles that matched no title rule ({len(report.unmatched_titles)} titles, {n} contacts) got the role "
            f"{spec.title_rules.default} (heatmap import lists them)",
        )
    return ds, report


def load_mapped(path: str | Path, **options: Any) -> Dataset:
    """`hm.load(mapping.yaml)`: the exports a mapping names, mapped, validated and loaded (see `map_dataset`)."""
    return map_dataset(path, **options)[0]


def import_dataset(
    mapping: str | Path,
    out: str | Path,
    *,
    on_error: OnError = "raise",
    quarantine_dir: str | Path | None = None,
) -> MapReport:
    """`heatmap import`: write the mapped, validated dataset as Parquet into `out`, with `import_report.json`."""
    ds, report = map_dataset(mapping, on_error=on_error, quarantine_dir=quarantine_dir)
    try:
        write_dataset(ds, report, out)
    finally:
        ds.close()
    return report


def write_dataset(ds: Dataset, report: MapReport, out: str | Path) -> None:
    """Write a mapped dataset's tables as `<table>.parquet` and the report as `import_report.json` into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    assert ds.con is not None
    for name in TABLES:
        target = out / f"{name}.parquet"
        stale = out / f"{name}.csv"
        if stale.exists():
            raise DataError(f"{out}: holds {stale.name}; import into an empty folder (a table stored twice)")
        if name not in ds.present:
            target.unlink(missing_ok=True)
            continue
        tmp = target.with_name(target.name + ".tmp")
        ds.con.execute(f"COPY {_q(name)} TO {_lit(str(tmp))} (FORMAT parquet)")
        tmp.replace(target)
    report.tables = [t | {"loaded": ds.rows.get(t["table"], 0)} for t in report.tables]
    (out / "import_report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
