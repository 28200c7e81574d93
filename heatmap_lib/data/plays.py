"""Plays: what the account team does about each account, kept in an actions store in a workspace folder.

The store is one SQLite file, `<workspace>/plays.sqlite`, never the user's source data. SQLite rather than DuckDB
because several kernels write at once: DuckDB lets one process at a time open a file for writing, SQLite
serialises short write transactions across processes (each write here is one `BEGIN IMMEDIATE` transaction, and
a writer waits for the other instead of failing). Plays are small (thousands of rows); the learning loop reads
them into a DataFrame.

A play: `play_id`, `account_id`, `play` (a built-in type of `PLAY_TYPES` or a team's own), `owner`, `due_date`,
`status` (`STATUSES`), `notes`, `created_at`, `closed_at` (set exactly when the status is done or cancelled),
`suggested_by` (the suggestion rule it was adopted from, "" when recorded by hand), `updated_at`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import os
import re
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError

__all__ = [
    "CLOSED",
    "COLUMNS",
    "OPEN",
    "PLAY_TYPES",
    "STATUSES",
    "DatasetAccounts",
    "PlayStore",
    "PlaysError",
    "dataset_accounts",
    "default_workspace",
    "empty_plays",
    "open_plays",
    "play_counts",
    "play_hover_text",
    "play_label",
    "read_plays",
    "store_dataset",
]

PLAY_TYPES: dict[str, str] = {
    "recruit_contacts": "Recruit contacts",
    "recruit_decision_makers": "Recruit decision makers",
    "executive_sponsor": "Executive sponsor",
    "business_review": "Business review",
    "expansion_conversation": "Expansion conversation",
    "escalation": "Escalation",
    "decision_maker_meeting": "Decision-maker meeting",
}
STATUSES: tuple[str, ...] = ("open", "in_progress", "done", "cancelled")
OPEN: tuple[str, ...] = ("open", "in_progress")
CLOSED: tuple[str, ...] = ("done", "cancelled")
COLUMNS: tuple[str, ...] = (
    "play_id",
    "account_id",
    "play",
    "owner",
    "due_date",
    "status",
    "notes",
    "created_at",
    "closed_at",
    "suggested_by",
)
REQUIRED: tuple[str, ...] = ("account_id", "play", "owner", "status", "created_at")
DATE_COLUMNS: tuple[str, ...] = ("due_date", "created_at", "closed_at")
MAX_TEXT = {"play": 80, "owner": 200, "notes": 4000, "account_id": 200, "suggested_by": 200, "play_id": 64}
STORE_FILE = "plays.sqlite"
WORKSPACE_ENV = "HEATMAP_WORKSPACE"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS plays (
    play_id      TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    play         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    due_date     TEXT,
    status       TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
    notes        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    closed_at    TEXT,
    suggested_by TEXT NOT NULL DEFAULT '',
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS plays_account ON plays (account_id);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dataset_accounts (account_id TEXT PRIMARY KEY, account_name TEXT NOT NULL);
"""


class PlaysError(HeatmapError):
    """A play, a plays CSV or a suggestion rules file breaks the rules; the message says where and which."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def default_workspace() -> Path:
    """The workspace folder: $HEATMAP_WORKSPACE when set, else `workspace` under the current folder."""
    return Path(os.environ.get(WORKSPACE_ENV) or "workspace")


def play_label(play: str) -> str:
    """A play's display name: the built-in label, or a team's own play as written."""
    return PLAY_TYPES.get(play, play)


# --------------------------------------------------------------------------------------------------------------
# checking one play


def _date(value: Any, column: str, problems: list[str], where: str) -> str | None:
    """`value` as an ISO date string (None when empty); a problem when it is not a date."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}[ T]", text) else text).isoformat()
    except ValueError:
        problems.append(f"{where}column {column}: {text!r} is not a date (YYYY-MM-DD)")
        return None


def _text(value: Any, column: str, problems: list[str], where: str, *, required: bool) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()
    if required and not text:
        problems.append(f"{where}column {column}: empty, and a play needs its {column}")
    elif len(text) > MAX_TEXT[column]:
        problems.append(f"{where}column {column}: {len(text):,} characters, longer than {MAX_TEXT[column]:,}")
    elif column != "notes" and ("\n" in text or "\r" in text):
        problems.append(f"{where}column {column}: {text[:40]!r} has a line break (only notes may)")
    elif _CONTROL.search(text):
        problems.append(f"{where}column {column}: {text[:40]!r} has a control character")
    return text


def check_play(row: Mapping[str, Any], where: str = "") -> tuple[dict[str, Any], list[str]]:
    """Normalise one play (strings, ISO dates) and list what is wrong with it, each problem naming its column."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for column in ("play_id", "account_id", "play", "owner", "notes", "suggested_by"):
        out[column] = _text(row.get(column), column, problems, where, required=column in REQUIRED)
    status = _text(row.get("status"), "play", [], where, required=False) or "open"
    if status not in STATUSES:
        problems.append(f"{where}column status: {status!r} is not a status ({', '.join(STATUSES)})")
    out["status"] = status
    for column in DATE_COLUMNS:
        out[column] = _date(row.get(column), column, problems, where)
    if out["created_at"] is None and not any("created_at" in p for p in problems):
        problems.append(f"{where}column created_at: empty, and a play needs the date it was created")
    if status in CLOSED and out["closed_at"] is None and not any("closed_at" in p for p in problems):
        problems.append(f"{where}column closed_at: empty, and a {status} play needs the date it was closed")
    if status in OPEN and out["closed_at"] is not None:
        problems.append(f"{where}column closed_at: {out['closed_at']} set, but the play is still {status}")
    if out["created_at"] and out["closed_at"] and out["closed_at"] < out["created_at"]:
        problems.append(f"{where}column closed_at: {out['closed_at']} is before created_at {out['created_at']}")
    return out, problems


def _new_id() -> str:
    return "P-" + uuid.uuid4().hex[:12]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def as_of_date(as_of: Any = None) -> dt.date:
    """The date `as_of` names (a date, datetime or ISO text); today when None."""
    if as_of is None:
        return dt.date.today()
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    return dt.date.fromisoformat(str(as_of))


# --------------------------------------------------------------------------------------------------------------
# the store


@dataclass(frozen=True)
class ImportResult:
    """What an import did: plays added and plays updated (by play_id), from which file."""

    path: Path
    added: int
    updated: int

    def __str__(self) -> str:
        return f"{self.path}: {self.added:,} plays added, {self.updated:,} updated"


class PlayStore:
    """The actions store of one workspace folder: add, update, list, import and export plays.

    Every call opens its own short connection, so a notebook holds no lock between calls and any number of
    kernels and commands can share one workspace.
    """

    def __init__(self, workspace: str | Path | None = None) -> None:
        self.workspace = Path(workspace) if workspace is not None else default_workspace()
        self.path = self.workspace / STORE_FILE
        if self.workspace.exists() and not self.workspace.is_dir():
            raise PlaysError(f"workspace {self.workspace} is a file, not a folder")
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                con.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise PlaysError(f"cannot open the plays store {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"PlayStore({str(self.workspace)!r})"

    def check_dataset(self, dataset: Any, *, bind: bool = True) -> None:
        """Refuse (`PlaysError`) a dataset this store does not belong to.

        bind: record the dataset when the store records none yet, or records it before it grew (where plays are
        recorded); False only reads (snapshots): a store recording no dataset is then read as it is.
        """
        accounts = dataset if isinstance(dataset, DatasetAccounts) else dataset_accounts(dataset)
        with self._connect() as con:
            rebind = _check_binding(con, self.path, accounts)
        if rebind and bind:
            with contextlib.suppress(PlaysError):  # a read-only workspace still reads: the check has passed
                self.bind(accounts)

    def bind(self, dataset: Any) -> None:
        """Record that this store belongs to `dataset` (a loaded dataset or its `DatasetAccounts`)."""
        accounts = dataset if isinstance(dataset, DatasetAccounts) else dataset_accounts(dataset)
        try:
            with self._write() as con:
                _bind(con, accounts)
        except sqlite3.Error as exc:
            raise PlaysError(f"cannot record the dataset in the plays store {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 60000")
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it lands, or none of it (and another writer waits for it)."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------------------------
    def add(
        self,
        account_id: str,
        play: str,
        owner: str,
        *,
        due: Any = None,
        notes: str = "",
        status: str = "open",
        created: Any = None,
        closed: Any = None,
        suggested_by: str = "",
    ) -> str:
        """Record a play for an account and return its play_id (created today unless `created` is given)."""
        row = {
            "play_id": _new_id(),
            "account_id": account_id,
            "play": play,
            "owner": owner,
            "due_date": due,
            "status": status,
            "notes": notes,
            "created_at": created if created is not None else dt.date.today(),
            "closed_at": closed if closed is not None else (dt.date.today() if status in CLOSED else None),
            "suggested_by": suggested_by,
        }
        clean, problems = check_play(row)
        if problems:
            raise PlaysError("cannot record the play: " + "; ".join(problems))
        with self._write() as con:
            _insert(con, clean)
        return str(clean["play_id"])

    def update(
        self,
        play_id: str,
        *,
        status: str | None = None,
        owner: str | None = None,
        due: Any = None,
        notes: str | None = None,
        closed: Any = None,
    ) -> dict[str, Any]:
        """Change a play's status, owner, due date or notes; closing it stamps closed_at (today by default)."""
        with self._write() as con:
            current = _row(con, play_id)
            if current is None:
                raise PlaysError(f"no play {play_id!r} in {self.path}")
            row = dict(current)
            if status is not None:
                row["status"] = status
                if status in CLOSED and current["status"] not in CLOSED:
                    row["closed_at"] = closed if closed is not None else dt.date.today()
                elif status in OPEN:
                    row["closed_at"] = None
            elif closed is not None:
                row["closed_at"] = closed
            for key, value in (("owner", owner), ("due_date", due), ("notes", notes)):
                if value is not None:
                    row[key] = value
            clean, problems = check_play(row)
            if problems:
                raise PlaysError(f"cannot update play {play_id}: " + "; ".join(problems))
            _insert(con, clean, replace=True)
        return clean

    def delete(self, play_id: str) -> None:
        """Remove a play recorded by mistake (closing it as cancelled keeps the record; prefer that)."""
        with self._write() as con:
            if con.execute("DELETE FROM plays WHERE play_id = ?", (play_id,)).rowcount == 0:
                raise PlaysError(f"no play {play_id!r} in {self.path}")

    # -- reading ---------------------------------------------------------------------------------------------
    def get(self, play_id: str) -> dict[str, Any]:
        """One play as a dict."""
        with self._connect() as con:
            row = _row(con, play_id)
        if row is None:
            raise PlaysError(f"no play {play_id!r} in {self.path}")
        return row

    def frame(self, account_ids: Iterable[str] | None = None, *, status: Iterable[str] | None = None) -> pd.DataFrame:
        """Plays as a DataFrame (`COLUMNS`, dates as datetime.date), newest first; optionally some accounts only."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM plays"
        where, args = [], []
        if account_ids is not None:
            ids = [str(a) for a in account_ids]
            where.append(f"account_id IN ({', '.join('?' * len(ids))})" if ids else "0")
            args += ids
        if status is not None:
            st = list(status)
            where.append(f"status IN ({', '.join('?' * len(st))})" if st else "0")
            args += st
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, play_id"
        with self._connect() as con:
            rows = con.execute(sql, args).fetchall()
        return _frame(rows)

    def __len__(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT count(*) FROM plays").fetchone()[0])

    # -- CSV ---------------------------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path:
        """Write every play to a CSV file (UTF-8, `COLUMNS` in order), atomically; return its path.

        Text that a spreadsheet would run as a formula is neutralised (`export.csv_cell`) unless raw CSV is asked
        for (`export.raw_csv`); `import_csv` reads either form back as written.
        """
        from heatmap_lib.core.files import csv_cell, raw_csv_wanted

        path = Path(path)
        cell = (lambda v: v) if raw_csv_wanted() else csv_cell
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in self.frame().itertuples(index=False):
            writer.writerow(["" if v is None else cell(v) for v in row])
        from heatmap_lib.core.files import atomic_write

        atomic_write(path, buf.getvalue())
        return path

    def import_csv(self, path: str | Path, *, known_accounts: Iterable[str] | None = None) -> ImportResult:
        """Add the plays of a CSV file (a row with a known play_id updates that play); all rows or none.

        Every problem is reported at once, naming the file, line, column, value and rule; with `known_accounts`
        (e.g. a dataset's account ids), a play for an account not in it is a problem too.
        """
        path = Path(path)
        return self._import(_read_csv(path), str(path), known_accounts, path)

    def import_frame(
        self, plays: pd.DataFrame, *, source: str = "plays", known_accounts: Iterable[str] | None = None
    ) -> ImportResult:
        """Add the plays of a DataFrame (`COLUMNS`; e.g. the demo's plays) by the same rules as `import_csv`."""
        rows = [(i + 1, {str(k): v for k, v in row.items()}) for i, row in enumerate(plays.to_dict(orient="records"))]
        return self._import(rows, source, known_accounts, Path(source), unit="row")

    def _import(
        self,
        rows: list[tuple[int, dict[str, Any]]],
        name: str,
        known_accounts: Iterable[str] | None,
        path: Path,
        unit: str = "line",
    ) -> ImportResult:
        """Check every row, then write them all in one transaction (or raise with every problem, writing nothing)."""
        known = None if known_accounts is None else {str(a) for a in known_accounts}
        problems: list[str] = []
        clean_rows: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for line, row in rows:
            where = f"{name} {unit} {line}: "
            clean, row_problems = check_play(row, where)
            problems += row_problems
            if known is not None and clean["account_id"] and clean["account_id"] not in known:
                problems.append(f"{where}column account_id: {clean['account_id']!r} is not an account of the data")
            if clean["play_id"]:
                if clean["play_id"] in seen:
                    problems.append(
                        f"{where}column play_id: {clean['play_id']!r} repeats {unit} {seen[clean['play_id']]}"
                    )
                seen.setdefault(clean["play_id"], line)
            clean_rows.append(clean)
        if problems:
            shown = "\n  ".join(problems[:50])
            more = f"\n  ... and {len(problems) - 50:,} more" if len(problems) > 50 else ""
            raise PlaysError(f"{name}: {len(problems):,} problems; nothing was imported:\n  {shown}{more}", problems)
        added = updated = 0
        with self._write() as con:
            for clean in clean_rows:
                if clean["play_id"] and _row(con, clean["play_id"]) is not None:
                    updated += 1
                    _insert(con, clean, replace=True)
                else:
                    clean["play_id"] = clean["play_id"] or _new_id()
                    added += 1
                    _insert(con, clean)
        return ImportResult(path, added, updated)


def _insert(con: sqlite3.Connection, clean: Mapping[str, Any], *, replace: bool = False) -> None:
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    values = [clean[c] for c in COLUMNS] + [_now()]
    try:
        con.execute(f"{verb} INTO plays ({', '.join(COLUMNS)}, updated_at) VALUES ({', '.join('?' * 11)})", values)
    except sqlite3.IntegrityError as exc:
        raise PlaysError(f"play {clean['play_id']!r}: {exc}") from exc


def _row(con: sqlite3.Connection, play_id: str) -> dict[str, Any] | None:
    found = con.execute(f"SELECT {', '.join(COLUMNS)} FROM plays WHERE play_id = ?", (play_id,)).fetchone()
    return None if found is None else dict(zip(COLUMNS, found, strict=True))


def _frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    columns: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}
    for column in DATE_COLUMNS:
        columns[column] = [None if v is None else dt.date.fromisoformat(v) for v in columns[column]]
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()})


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The data rows of a plays CSV with the physical line each starts on; header problems raise at once."""
    from heatmap_lib.core.files import uncsv_cell

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise PlaysError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise PlaysError(f"{path}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8") from None
    except OSError as exc:
        raise PlaysError(f"{path}: cannot read: {exc}") from None
    if not text.strip():
        raise PlaysError(f"{path}: empty file; a plays CSV starts with a header row ({', '.join(REQUIRED)}, ...)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        unknown = [h for h in header if h not in COLUMNS]
        missing = [c for c in REQUIRED if c not in header]
        doubled = sorted({h for h in header if header.count(h) > 1})
        if unknown or missing or doubled:
            parts = []
            if missing:
                parts.append(f"missing column(s) {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
            if doubled:
                parts.append(f"column(s) named twice: {', '.join(doubled)}")
            raise PlaysError(
                f"{path} line 1 (header): {'; '.join(parts)}. Columns: {', '.join(COLUMNS)} "
                f"(required: {', '.join(REQUIRED)}); nothing was imported"
            )
        out: list[tuple[int, dict[str, Any]]] = []
        start = reader.line_num + 1
        for record in reader:
            if any(cell.strip() for cell in record):
                if len(record) != len(header):
                    raise PlaysError(
                        f"{path} line {start}: {len(record)} fields where the header has {len(header)}; "
                        "nothing was imported"
                    )
                cells = (uncsv_cell(cell) for cell in record)  # our export's neutralised formulas, as written
                out.append((start, dict(zip(header, cells, strict=True))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise PlaysError(f"{path} line {reader.line_num}: not valid CSV ({exc}); nothing was imported") from None
    return out


def empty_plays() -> pd.DataFrame:
    """A plays frame with no plays (the columns of `PlayStore.frame`)."""
    return _frame([])


def read_plays(
    workspace: str | Path | PlayStore | None = None,
    account_ids: Iterable[str] | None = None,
    *,
    dataset: Any = None,
) -> pd.DataFrame:
    """The plays of a workspace without creating anything: an empty frame when it has no store yet (snapshots).

    dataset: the data the plays are shown with (`hm.load`); a store that belongs to another dataset is refused
    (`PlaysError` saying which), so one company's plays never show under another's account of the same id.
    Nothing is written: a store that records no dataset yet is bound where plays are recorded (`check_dataset`).
    """
    if isinstance(workspace, PlayStore):
        store = workspace
    else:
        folder = Path(workspace) if workspace is not None else default_workspace()
        if not (folder / STORE_FILE).is_file():
            return _frame([])
        store = PlayStore(folder)
    if dataset is not None:
        store.check_dataset(dataset, bind=False)
    return store.frame(account_ids)


# --------------------------------------------------------------------------------------------------------------
# which dataset a store belongs to


@dataclass(frozen=True)
class DatasetAccounts:
    """The accounts (id -> name) of one dataset, with a fingerprint over them and where the data came from."""

    names: Mapping[str, str]
    source: str

    @property
    def fingerprint(self) -> str:
        """A SHA-256 over the sorted (account_id, account_name) pairs: the same accounts, the same fingerprint."""
        digest = hashlib.sha256()
        for aid in sorted(self.names):
            digest.update(f"{aid}\t{self.names[aid]}\n".encode())
        return digest.hexdigest()


def dataset_accounts(dataset: Any) -> DatasetAccounts:
    """The accounts of a loaded dataset (`hm.load`), or of a frame with account_id and account_name."""
    if isinstance(dataset, pd.DataFrame):
        frame, source = dataset, "a table of accounts"
    else:
        frame = dataset.table("accounts").select("account_id", "account_name").to_pandas()
        source = str(getattr(dataset, "path", "a dataset"))
    names = dict(zip(frame["account_id"].astype(str), frame["account_name"].astype(str), strict=True))
    return DatasetAccounts(names, source)


def _binding(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM store_meta").fetchall())


def _check_binding(con: sqlite3.Connection, path: Path, accounts: DatasetAccounts) -> bool:
    """Raise unless the store belongs to this dataset; True when it must be bound to it (again).

    The same fingerprint is the same dataset. Otherwise the data may have grown (new accounts, a new wave): the
    store still belongs to it when every account it holds plays for is there under the name it had when bound;
    it is then bound to the grown data, so plays recorded on the new accounts are protected too.
    """
    meta = _binding(con)
    if "fingerprint" not in meta:
        return True
    if meta["fingerprint"] == accounts.fingerprint:
        return False
    recorded = dict(
        con.execute(
            "SELECT d.account_id, d.account_name FROM dataset_accounts d "
            "WHERE d.account_id IN (SELECT account_id FROM plays)"
        ).fetchall()
    )
    wrong = [(aid, name) for aid, name in sorted(recorded.items()) if accounts.names.get(aid) != name]
    if not wrong:
        return True
    aid, name = wrong[0]
    now = accounts.names.get(aid)
    there = f"is {now!r} in it" if now is not None else "is not in it"
    raise PlaysError(
        f"plays store {path} belongs to another dataset ({meta.get('source', '?')}, fingerprint "
        f"{meta['fingerprint'][:12]}), not to {accounts.source} (fingerprint {accounts.fingerprint[:12]}): "
        f"account {aid} was {name!r} there and {there} ({len(wrong):,} account{'s' * (len(wrong) != 1)} with "
        "plays differ); give this data its own workspace, or run without plays"
    )


def _bind(con: sqlite3.Connection, accounts: DatasetAccounts) -> None:
    """Record in the store which dataset it belongs to (inside the caller's write transaction)."""
    con.execute("DELETE FROM store_meta")
    con.execute("DELETE FROM dataset_accounts")
    con.executemany(
        "INSERT INTO store_meta VALUES (?, ?)",
        [("fingerprint", accounts.fingerprint), ("source", accounts.source), ("bound_at", _now())],
    )
    con.executemany("INSERT INTO dataset_accounts VALUES (?, ?)", list(accounts.names.items()))


def store_dataset(workspace: str | Path | None = None) -> dict[str, str]:
    """What a workspace's store records about its dataset (fingerprint, source, bound_at); {} when nothing."""
    folder = Path(workspace) if workspace is not None else default_workspace()
    if not (folder / STORE_FILE).is_file():
        return {}
    store = PlayStore(folder)
    with store._connect() as con:
        return _binding(con)


# --------------------------------------------------------------------------------------------------------------
# views of the plays


def open_plays(
    plays: pd.DataFrame, accounts: pd.DataFrame | None = None, *, as_of: Any = None, group_by: str = "account_manager"
) -> pd.DataFrame:
    """Open and in-progress plays with `overdue` and `days_overdue`, grouped per `group_by` then by due date.

    accounts: the accounts table (account_id, account_name, account_manager, value, ...) to name each account
    and group by one of its columns; without it, or with group_by="owner", plays group by their owner.
    """
    today = as_of_date(as_of)
    df = plays[plays["status"].isin(OPEN)].copy()
    due = pd.to_datetime(df["due_date"])
    df["days_overdue"] = (pd.Timestamp(today) - due).dt.days.where(due.notna())
    df["overdue"] = df["days_overdue"].fillna(0) > 0
    df["days_overdue"] = df["days_overdue"].clip(lower=0).astype("Int64")
    df["play_label"] = df["play"].map(play_label)
    if accounts is not None:
        keep = [c for c in ("account_id", "account_name", group_by, "value") if c in accounts]
        df = df.merge(accounts[list(dict.fromkeys(keep))].astype({"account_id": str}), on="account_id", how="left")
    key = group_by if group_by in df else "owner"
    df["group"] = df[key].fillna("(no " + key.replace("_", " ") + ")")
    return df.sort_values(["group", "due_date", "account_id"], kind="stable", na_position="last").reset_index(drop=True)


def play_counts(plays: pd.DataFrame, *, as_of: Any = None) -> pd.DataFrame:
    """Per account: open plays and overdue plays (accounts with an open play only)."""
    df = open_plays(plays, as_of=as_of, group_by="owner")
    if df.empty:
        return pd.DataFrame({"account_id": pd.Series(dtype=object), "open": [], "overdue": []}).astype(
            {"open": "int64", "overdue": "int64"}
        )
    g = df.groupby("account_id", sort=True)
    return pd.DataFrame({"open": g.size(), "overdue": g["overdue"].sum().astype("int64")}).reset_index()


def play_hover_text(plays: pd.DataFrame, *, as_of: Any = None) -> pd.Series:
    """The heat map hover's plays line per account_id, e.g. "2 open (1 overdue)"; accounts without one absent."""
    counts = play_counts(plays, as_of=as_of)
    text = [
        f"{o} open" + (f" ({d} overdue)" if d else "") for o, d in zip(counts["open"], counts["overdue"], strict=True)
    ]
    return pd.Series(text, index=counts["account_id"].astype(str), name="Open plays", dtype=object)
