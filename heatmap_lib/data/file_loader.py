"""Loading a dataset of files: stage it, check every row against the contract, build the typed tables in DuckDB.

Every value is first staged as text with its source row number (`readers`), every rule is checked in one pass
inside DuckDB (`checks`), and only then are typed tables built, so a problem report can quote the value exactly
as written and name the line it came from. `on_error="quarantine"` writes the rejected rows with their reasons;
a validated dataset is kept as a prepared copy and reopened while its files are unchanged (`prepared_cache`).
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from heatmap_lib.core.exceptions import ValidationError
from heatmap_lib.core.schema import LOAD_ORDER, SQL_TYPES, TABLES, Table
from heatmap_lib.data import prepared_cache
from heatmap_lib.data.checks import _Checker, _structure_problems, _typed_expr
from heatmap_lib.data.dataset import Dataset, Exclusion, OnError, Problem, _lit, _message, _q, _scalar
from heatmap_lib.data.readers import DUCKDB_CONFIG, _csv_lines, _discover, _Source, _stage

AUTO_FILE_BYTES = 64 * 2**20  # sources larger than this load into a temporary DuckDB file, not memory
LOAD_STATS = {"validated": 0, "reused": 0}  # in this process: full validations run, prepared copies reopened


def load_files(
    path: str | Path,
    *,
    on_error: OnError = "raise",
    quarantine_dir: str | Path | None = None,
    database: str | Path | None = "auto",
    memory_limit: str | None = None,
    cache: bool | str | Path | None = None,
) -> Dataset:
    """Load and validate a dataset of files (folder of CSV/Parquet, Excel workbook or DuckDB file) into DuckDB.

    What `load` does with a dataset path (its docstring says what each option means); a mapping's load and a
    `duckdb://` URL come here directly.
    """
    if on_error not in ("raise", "quarantine"):
        raise ValueError(f"on_error must be 'raise' or 'quarantine', not {on_error!r}")
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
    sidecar, db, sig, sigs = prepared_cache.lookup(root, files, cache)
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
            sidecar = prepared_cache.publish(tmp, db, ds, sigs)
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
    return prepared_cache.open_prepared(sidecar, path=str(root), notes=notes, memory_limit=memory_limit)


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


# --------------------------------------------------------------------------------------------------------------
# building the typed tables, writing the quarantine


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
