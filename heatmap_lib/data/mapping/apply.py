"""Running a mapping: each source staged once in DuckDB, each contract table one SELECT written as Parquet.

A mapped table keeps each row's source record (`_rec`) and, for a role from job titles, the title (`_title`):
the `HIDDEN` columns, dropped once the dataset is loaded. `MapReport` says what the mapping did.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from heatmap_lib.core.exceptions import DataError
from heatmap_lib.core.schema import LOAD_ORDER, TABLES
from heatmap_lib.data.dataset import _lit, _q
from heatmap_lib.data.mapping.spec import DATE_FORMATS, ColumnSpec, MappingError, MappingSpec, SourceSpec, TableSpec
from heatmap_lib.data.readers import _norm_header, sheet_cell, utf8_copy

HIDDEN = ("_rec", "_title")  # columns a mapped table carries for the report and problem messages only


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
