"""A mapping file read and checked: its sources, tables and column options as a `MappingSpec` (safe YAML).

Every mistake is a `MappingError` naming the file and the key path; nothing is read from the sources but an
xlsx workbook's sheet names. Running a mapping is `apply`.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from heatmap_lib.core.exceptions import DataError
from heatmap_lib.core.schema import TABLES
from heatmap_lib.data.readers import _norm_header
from heatmap_lib.data.titles import TitleRules, load_title_rules, parse_title_rules

MAPPING_SUFFIXES = (".yaml", ".yml")
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
