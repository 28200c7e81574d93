"""The contract's rules, checked inside DuckDB over the staged text (`readers`), every problem kept with its row.

Each column's type, range and choices (`_typed_expr`, `_value_rule`, `_range_rule`, also used by `engines`
for the same rules in another engine), the missing-column report (`_structure_problems`), and `_Checker`,
which runs every rule of one load in as few scans as it can and lists the problems in file order.
"""

from __future__ import annotations

import difflib

import duckdb

from heatmap_lib.core.schema import ROLE_SYNONYMS, ROLES, TABLES, Column, Table
from heatmap_lib.data.dataset import Problem, _lit, _q, _scalar
from heatmap_lib.data.readers import _csv_lines, _Source


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
