"""Naming a mapped load's problems at their source: a mapped row traced back to its file, line and column.

Used for the `ValidationError` of a mapped load and to rewrite its quarantine files (`importing`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from heatmap_lib.core.schema import LOAD_ORDER
from heatmap_lib.data.dataset import Problem, _lit
from heatmap_lib.data.mapping.apply import HIDDEN
from heatmap_lib.data.mapping.spec import MappingSpec, SourceSpec, TableSpec
from heatmap_lib.data.readers import _csv_lines

_FIRST_AT = re.compile(r"first at (?:row|line) (\d+)")


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
