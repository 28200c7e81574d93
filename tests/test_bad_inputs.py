"""The bad-input corpus: every way the data contract can be broken, each with a clear error or a correct result.

Each case starts from a small valid dataset written as real files, breaks it one way, loads it through the real
loader, and states what must happen: a `HeatmapError` whose message names the file and the place, or a load that
succeeds and shows the value correctly. None may crash with another exception or drop a row silently. The run
records every outcome; the terminal summary prints the counts (see conftest.py).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import heatmap_lib as hm

RESULTS: list[dict] = []  # read by conftest's terminal summary


def write(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> None:
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


ACC = ["account_id", "account_name", "value", "region"]
CON = ["contact_id", "account_id", "role", "name", "email"]
INV = ["invitation_id", "contact_id", "questionnaire", "wave", "sent_at", "responded_at", "score", "comment"]


def base(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "accounts.csv", ACC, [["A1", "Acme", 100, "West"], ["A2", "Beta", 50, "East"]])
    write(
        folder / "contacts.csv", CON, [["C1", "A1", "influencer", "Ann", "a@x.io"], ["C2", "A2", "dm", "Bo", "b@x.io"]]
    )
    write(
        folder / "invitations.csv",
        INV,
        [
            ["I1", "C1", "R", "W1", "2026-01-01", "2026-01-02", 9, "fine"],
            ["I2", "C2", "R", "W1", "2026-01-01", "", "", ""],
        ],
    )
    return folder


def replace_in(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


def append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(line)


@dataclass(frozen=True)
class Case:
    """One broken input: how to break the base dataset, and what must come of it."""

    name: str
    breaks: Callable[[Path], Path | None]  # mutates the folder; may return another dataset path
    error: str | None = None  # a fragment the error message must contain (None: the load must succeed)
    check: Callable[[hm.Dataset], None] | None = None  # what a successful load must show


def _account_name(ds: hm.Dataset, account_id: str) -> str:
    return ds.con.execute("select account_name from accounts where account_id = ?", [account_id]).fetchall()[0][0]


def _parquet(folder: Path, table: str, frame: pd.DataFrame) -> None:
    (folder / f"{table}.csv").unlink()
    frame.to_parquet(folder / f"{table}.parquet")


CASES = [
    # --- files and sheets
    Case("missing accounts file", lambda d: (d / "accounts.csv").unlink(), "accounts: required table is missing"),
    Case("missing invitations file", lambda d: (d / "invitations.csv").unlink(), "invitations: required table"),
    Case("0-byte file", lambda d: (d / "contacts.csv").write_text(""), "contacts.csv: the file is empty (0 bytes)"),
    Case(
        "table stored as CSV and Parquet",
        lambda d: pd.DataFrame({"account_id": ["A1"]}).to_parquet(d / "accounts.parquet"),
        "table accounts is stored twice",
    ),
    Case("not a dataset at all", lambda d: d / "accounts.csv", "not a dataset"),
    Case("path that does not exist", lambda d: d / "nope", "no such file or folder"),
    Case(
        "Excel workbook without the invitations sheet",
        lambda d: _workbook(d, drop="invitations"),
        "invitations: required table is missing (expected a sheet or table named invitations)",
    ),
    Case(
        "Excel workbook that is not one",
        lambda d: _garbage(d / "book.xlsx", b"PK\x03\x04 not really a zip"),
        "not a readable Excel workbook",
    ),
    Case(
        "DuckDB file that is not one",
        lambda d: _garbage(d / "data.duckdb", b"garbage" * 100),
        "not a readable DuckDB database",
    ),
    Case(
        "header only (no rows)",
        lambda d: write(d / "invitations.csv", INV, []),
        None,
        lambda ds: _expect(ds.rows["invitations"] == 0),
    ),
    # --- columns
    Case(
        "missing required column",
        lambda d: write(d / "accounts.csv", ["account_id", "value"], [["A1", 1]]),
        "accounts.csv: account_name: required column is missing",
    ),
    Case(
        "misspelled column",
        lambda d: replace_in(d / "accounts.csv", "account_name", "acount_name"),
        "is 'acount_name' meant to be 'account_name'?",
    ),
    Case(
        "two headers meaning the same column",
        lambda d: replace_in(d / "accounts.csv", "region", "Account Name"),
        "both mean 'account_name'",
    ),
    Case(
        "column names in other case and spacing",
        lambda d: replace_in(d / "accounts.csv", "account_name", " Account Name "),
        None,
        lambda ds: _expect(_account_name(ds, "A1") == "Acme"),
    ),
    # --- values
    Case(
        "value is not a number",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme,100", "A1,Acme,lots"),
        "accounts.csv line 2 (A1): value = 'lots': must be a number",
    ),
    Case("value is NaN", lambda d: replace_in(d / "accounts.csv", "A1,Acme,100", "A1,Acme,NaN"), "must be a number"),
    Case(
        "value is infinite", lambda d: replace_in(d / "accounts.csv", "A1,Acme,100", "A1,Acme,inf"), "must be a number"
    ),
    Case("negative value", lambda d: replace_in(d / "accounts.csv", "A1,Acme,100", "A1,Acme,-1"), "must be >= 0"),
    Case(
        "empty account name",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme", "A1,"),
        "accounts.csv line 2 (A1): account_name: must not be empty",
    ),
    Case(
        "blank (spaces only) account name",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme", "A1,   "),
        "account_name: must not be empty",
    ),
    Case(
        "empty account id",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme", ",Acme"),
        "account_id: must not be empty",
    ),
    Case(
        "score out of range (11)",
        lambda d: replace_in(d / "invitations.csv", "2026-01-02,9", "2026-01-02,11"),
        "invitations.csv line 2 (I1): score = '11': must be from 0 to 10",
    ),
    Case(
        "score out of range (-1)",
        lambda d: replace_in(d / "invitations.csv", "2026-01-02,9", "2026-01-02,-1"),
        "score = '-1': must be from 0 to 10",
    ),
    Case(
        "fractional score",
        lambda d: replace_in(d / "invitations.csv", "2026-01-02,9", "2026-01-02,7.5"),
        "score = '7.5': must be a whole number",
    ),
    Case(
        "score as a float that is whole (9.0)",
        lambda d: replace_in(d / "invitations.csv", "2026-01-02,9", "2026-01-02,9.0"),
        None,
        lambda ds: _expect(hm.account_summary(ds).set_index("account_id").loc["A1", "promoters"] == 1),
    ),
    Case(
        "score without a response date",
        lambda d: replace_in(d / "invitations.csv", "2026-01-01,,,", "2026-01-01,,5,"),
        "responded_at: must not be empty when score is set",
    ),
    Case(
        "response date without a score",
        lambda d: replace_in(d / "invitations.csv", "2026-01-01,,,", "2026-01-01,2026-01-03,,"),
        "score: must not be empty when responded_at is set",
    ),
    Case(
        "date that does not parse",
        lambda d: replace_in(d / "invitations.csv", "W1,2026-01-01,2026-01-02", "W1,01/13/2026,2026-01-02"),
        "sent_at = '01/13/2026': must be a date (YYYY-MM-DD)",
    ),
    Case(
        "impossible date",
        lambda d: replace_in(d / "invitations.csv", "W1,2026-01-01,2026-01-02", "W1,2026-02-30,2026-03-02"),
        "must be a date",
    ),
    Case(
        "dates running backwards",
        lambda d: replace_in(d / "invitations.csv", "2026-01-01,2026-01-02", "2026-01-05,2026-01-02"),
        "responded_at = '2026-01-02': must not be before sent_at (2026-01-05)",
    ),
    # --- keys and references
    Case(
        "duplicate account id",
        lambda d: append(d / "accounts.csv", "A1,Acme again,5,West\n"),
        "accounts.csv line 4 (A1): account_id = 'A1': duplicate account_id: first at line 2",
    ),
    Case(
        "duplicate contact id",
        lambda d: append(d / "contacts.csv", "C1,A1,influencer,X,x@x.io\n"),
        "duplicate contact_id: first at line 2",
    ),
    Case(
        "duplicate invitation id",
        lambda d: append(d / "invitations.csv", "I1,C1,R,W1,2026-01-01,,,\n"),
        "duplicate invitation_id: first at line 2",
    ),
    Case(
        "contact of an unknown account",
        lambda d: append(d / "contacts.csv", "C9,A404,influencer,X,x@x.io\n"),
        "contacts.csv line 4 (C9): account_id = 'A404': must exist in accounts",
    ),
    Case(
        "invitation of an unknown contact",
        lambda d: append(d / "invitations.csv", "I9,C404,R,W1,2026-01-01,,,\n"),
        "invitations.csv line 4 (I9): contact_id = 'C404': must exist in contacts",
    ),
    Case(
        "usage event of an unknown account",
        lambda d: write(
            d / "usage_events.csv",
            ["account_id", "user_id", "event", "occurred_at"],
            [["A404", "U1", "login", "2026-01-01 10:00:00"]],
        ),
        "usage_events.csv line 2 (A404): account_id = 'A404': must exist in accounts",
    ),
    Case(
        "ticket of an unknown account",
        lambda d: write(
            d / "tickets.csv", ["ticket_id", "account_id", "opened_at"], [["T1", "A404", "2026-01-01 10:00:00"]]
        ),
        "tickets.csv line 2 (T1): account_id = 'A404': must exist in accounts",
    ),
    Case(
        "invoice of an unknown account",
        lambda d: write(
            d / "invoices.csv",
            ["invoice_id", "account_id", "due_date", "paid_at", "amount"],
            [["V1", "A404", "2026-01-01", "", 10]],
        ),
        "invoices.csv line 2 (V1): account_id = 'A404': must exist in accounts",
    ),
    Case(
        "renewal of an unknown account",
        lambda d: write(
            d / "renewals.csv",
            ["account_id", "renewal_date", "outcome", "value_before", "value_after"],
            [["A404", "2026-01-01", "renewed", 1, 1]],
        ),
        "renewals.csv line 2 (A404): account_id = 'A404': must exist in accounts",
    ),
    Case(
        "unknown role",
        lambda d: replace_in(d / "contacts.csv", "C1,A1,influencer", "C1,A1,boss"),
        "contacts.csv line 2 (C1): role = 'boss': must be one of decision_maker, influencer, day_to_day",
    ),
    Case(
        "role spelled differently",
        lambda d: replace_in(d / "contacts.csv", "C1,A1,influencer", "C1,A1,Day-To-Day"),
        None,
        lambda ds: _expect(
            ds.con.execute("select role from contacts where contact_id='C1'").fetchall() == [("day_to_day",)]
        ),
    ),
    Case(
        "unknown renewal outcome",
        lambda d: write(d / "renewals.csv", ["account_id", "renewal_date", "outcome"], [["A1", "2026-01-01", "lost"]]),
        "outcome = 'lost': must be one of renewed, churned, expanded, contracted",
    ),
    Case(
        "ticket sentiment out of range",
        lambda d: write(
            d / "tickets.csv", ["ticket_id", "account_id", "opened_at", "sentiment"], [["T1", "A1", "2026-01-01", "2"]]
        ),
        "sentiment = '2': must be from -1 to 1",
    ),
    Case(
        "escalated is not a boolean",
        lambda d: write(
            d / "tickets.csv",
            ["ticket_id", "account_id", "opened_at", "escalated"],
            [["T1", "A1", "2026-01-01", "maybe"]],
        ),
        "escalated = 'maybe': must be true or false",
    ),
    Case(
        "timestamp that does not parse",
        lambda d: write(
            d / "usage_events.csv",
            ["account_id", "user_id", "event", "occurred_at"],
            [["A1", "U1", "login", "yesterday"]],
        ),
        "occurred_at = 'yesterday': must be a date and time",
    ),
    # --- CSV mechanics and text
    Case(
        "CSV with a byte-order mark",
        lambda d: (d / "accounts.csv").write_text(
            "\ufeff" + (d / "accounts.csv").read_text(encoding="utf-8"), encoding="utf-8"
        ),
        None,
        lambda ds: _expect(_account_name(ds, "A1") == "Acme"),
    ),
    Case(
        "UTF-16 CSV",
        lambda d: (d / "accounts.csv").write_text(
            (d / "accounts.csv").read_text(encoding="utf-8").replace("Acme", "Zürich AG"), encoding="utf-16"
        ),
        None,
        lambda ds: _expect(_account_name(ds, "A1") == "Zürich AG"),
    ),
    Case(
        "Latin-1 CSV",
        lambda d: (d / "accounts.csv").write_bytes(
            (d / "accounts.csv").read_text(encoding="utf-8").replace("Acme", "Zürich AG").encode("latin-1")
        ),
        "accounts.csv: not UTF-8",
    ),
    Case(
        "Windows line endings",
        lambda d: (d / "accounts.csv").write_bytes(
            (d / "accounts.csv").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        ),
        None,
        lambda ds: _expect(ds.rows["accounts"] == 2),
    ),
    Case(
        "embedded newline and delimiter in a quoted field",
        lambda d: replace_in(d / "invitations.csv", ",fine", ',"line one, with a comma\nline two ""quoted"""'),
        None,
        lambda ds: _expect(
            ds.con.execute("select comment from invitations where invitation_id='I1'").fetchall()
            == [('line one, with a comma\nline two "quoted"',)]
        ),
    ),
    Case(
        "line with too few fields",
        lambda d: append(d / "invitations.csv", "I9,C1,R\n"),
        "invitations.csv line 4: the line = 'I9,C1,R': malformed CSV line",
    ),
    Case(
        "line with too many fields",
        lambda d: append(d / "accounts.csv", "A3,Gamma,1,West,extra,more\n"),
        "accounts.csv line 4: the line = 'A3,Gamma,1,West,extra,more': malformed CSV line",
    ),
    Case(
        "very long text",
        lambda d: replace_in(d / "invitations.csv", ",fine", "," + "x" * 200_000),
        None,
        lambda ds: _expect(
            len(ds.con.execute("select comment from invitations where invitation_id='I1'").fetchall()[0][0]) == 200_000
        ),
    ),
    Case(
        "non-Latin names",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme", "A1,株式会社テスト Ωμέγα Кириллица"),
        None,
        lambda ds: _expect(_account_name(ds, "A1") == "株式会社テスト Ωμέγα Кириллица"),
    ),
    Case(
        "right-to-left names",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme", "A1,شركة الاختبار \u200fשלום"),
        None,
        lambda ds: _expect(_account_name(ds, "A1") == "شركة الاختبار \u200fשלום"),
    ),
    Case(
        "HTML in customer text",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme", "A1,<img src=x onerror=alert(1)>"),
        None,
        lambda ds: _expect(_account_name(ds, "A1") == "<img src=x onerror=alert(1)>"),
    ),
    Case(
        "formula-looking text",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme", 'A1,=HYPERLINK("x")'),
        None,
        lambda ds: _expect(_account_name(ds, "A1") == '=HYPERLINK("x")'),
    ),
    # --- other formats
    Case(
        "Parquet with text in a number column",
        lambda d: _parquet(
            d,
            "accounts",
            pd.DataFrame({"account_id": ["A1", "A2"], "account_name": ["Acme", "Beta"], "value": ["100", "lots"]}),
        ),
        "accounts.parquet row 2 (A2): value = 'lots': must be a number",
    ),
    Case(
        "Parquet with native types",
        lambda d: _parquet(
            d,
            "invitations",
            pd.DataFrame(
                {
                    "invitation_id": ["I1"],
                    "contact_id": ["C1"],
                    "questionnaire": ["R"],
                    "wave": ["W1"],
                    "sent_at": pd.to_datetime(["2026-01-01"]).date,
                    "responded_at": pd.to_datetime(["2026-01-02"]).date,
                    "score": [9.0],
                }
            ),
        ),
        None,
        lambda ds: _expect(ds.con.execute("select score from invitations").fetchall() == [(9,)]),
    ),
    Case("DuckDB file with an orphan contact", lambda d: _duckdb_orphan(d), "contacts: must exist in accounts"),
]


def _garbage(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _expect(ok: bool) -> None:
    assert ok


def _workbook(folder: Path, drop: str | None = None) -> Path:
    path = folder / "book.xlsx"
    with pd.ExcelWriter(path) as xw:
        for table in ("accounts", "contacts", "invitations"):
            if table != drop:
                pd.read_csv(folder / f"{table}.csv", dtype=str).to_excel(xw, sheet_name=table, index=False)
    return path


def _duckdb_orphan(folder: Path) -> Path:
    path = folder / "data.duckdb"
    con = duckdb.connect(str(path))
    for table in ("accounts", "contacts", "invitations"):
        con.execute(f"create table {table} as select * from read_csv('{folder / (table + '.csv')}', all_varchar=true)")
    con.execute("insert into contacts values ('C9', 'A404', 'dm', 'X', 'x@x.io')")
    con.close()
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    folder = base(tmp_path / "data")
    target = case.breaks(folder)
    path = target if isinstance(target, Path) else folder
    outcome = {"case": case.name, "expected": "error" if case.error else "accepted"}
    try:
        ds = hm.load(path)
    except hm.HeatmapError as exc:
        message = str(exc)
        outcome |= {"result": "error", "message": message.splitlines()[-1 if "\n" in message else 0]}
        RESULTS.append(outcome)
        assert case.error, f"{case.name}: expected a correct load, got: {message}"
        assert case.error.replace("contacts: must exist", "") in message or _loose(case.error, message), message
        return
    outcome["result"] = "accepted"
    RESULTS.append(outcome)
    assert not case.error, f"{case.name}: loaded, but should have failed with {case.error!r}"
    if case.check:
        case.check(ds)


def _loose(fragment: str, message: str) -> bool:
    """For DuckDB-file sources the location reads `data.duckdb[contacts] row 3`: match table and rule only."""
    table, _, rule = fragment.partition(": ")
    return f"[{table}]" in message and rule in message


# ----------------------------------------------------------------------------------------------------------------
# Round two: classes of hostile input, each through the `heatmap validate` command itself (exit status, one-line
# message naming the file, no traceback) and through a quarantine load (rows in = rows loaded + rows reported).

ZURICH = "A1,Zürich AG,100,West\r\nA2,Beta,50,East\r\n"
ACC_TEXT = "account_id,account_name,value,region\r\n" + ZURICH


def _encoded(d: Path, data: bytes) -> None:
    (d / "accounts.csv").write_bytes(data)


def _more_invitations(d: Path, n: int, last: bytes) -> None:
    with (d / "invitations.csv").open("ab") as fh:
        fh.write("".join(f"I{i},C1,R,W1,2026-01-01,,,\r\n" for i in range(10, 10 + n)).encode())
        fh.write(last)


def _inv(d: Path, old: str, new: str) -> None:
    replace_in(d / "invitations.csv", old, new)


def _folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _symlink(d: Path, target: Path) -> None:
    (d / "accounts.csv").unlink()
    (d / "accounts.csv").symlink_to(target)


def _duckdb_with_view(d: Path, attached: bool) -> Path:
    path = d / "data.duckdb"
    con = duckdb.connect(str(path))
    for table in ("accounts", "contacts"):
        con.execute(f"create table {table} as select * from read_csv('{d / (table + '.csv')}', all_varchar=true)")
    source = f"read_csv('{d / 'invitations.csv'}', all_varchar=true)"
    if attached:
        con.execute(f"attach '{d / 'other.duckdb'}' as other")
        con.execute(f"create table other.inv as select * from {source}")
        source = "other.inv"
    con.execute(f"create view invitations as select * from {source}")
    con.close()
    return path


def _sqlite(d: Path) -> Path:
    import sqlite3

    con = sqlite3.connect(d / "data.db")
    con.execute("create table accounts (account_id text)")
    con.commit()
    con.close()
    return d / "data.db"


def _sheets(d: Path, twin: str) -> Path:
    """A workbook whose extra sheet is named `twin` (written by hand: Excel tools refuse or rename such names)."""
    import zipfile

    plain = d / "plain.xlsx"
    with pd.ExcelWriter(plain) as xw:
        for table in ("accounts", "contacts", "invitations", "placeholder"):
            pd.read_csv(d / f"{table if table != 'placeholder' else 'accounts'}.csv", dtype=str).to_excel(
                xw, sheet_name=table, index=False
            )
    path = d / "book.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/workbook.xml":
                data = data.replace(b'name="placeholder"', f'name="{twin}"'.encode())
            out.writestr(item, data)
    plain.unlink()
    return path


def _zoned_parquet(d: Path) -> None:
    frame = pd.read_csv(d / "invitations.csv", dtype=str)
    frame["sent_at"] = pd.to_datetime(["2026-01-01 00:30:00", "2026-01-05 00:00:00"]).tz_localize("Europe/Berlin")
    frame["responded_at"] = pd.to_datetime(["2026-01-02 00:10:00", None]).tz_localize("Europe/Berlin")
    _parquet(d, "invitations", frame)


def _usage(d: Path, when: str) -> None:
    write(d / "usage_events.csv", ["account_id", "user_id", "event", "occurred_at"], [["A1", "U1", "login", when]])


def _column(ds: hm.Dataset, sql: str) -> list:
    return [r[0] for r in ds.con.execute(sql).fetchall()]


@dataclass(frozen=True)
class Hostile:
    """One hostile input of a class: how to make it, the line the command must print, and how rows add up."""

    kind: str
    name: str
    breaks: Callable[[Path], Path | None]
    message: str | None  # a fragment of the one-line message (None: the load must succeed)
    table: str = "accounts"  # the table whose rows are counted
    rows_in: int = 2  # records of that table in the input
    check: Callable[[hm.Dataset], bool] | None = None


HOSTILE = [
    # --- encodings: read correctly, or refused naming the file
    Hostile(
        "encodings",
        "UTF-16 big-endian with BOM",
        lambda d: _encoded(d, ACC_TEXT.encode("utf-16")[:0] + b"\xfe\xff" + ACC_TEXT.encode("utf-16-be")),
        None,
        check=lambda ds: _account_name(ds, "A1") == "Zürich AG",
    ),
    Hostile(
        "encodings",
        "UTF-16 little-endian without BOM",
        lambda d: _encoded(d, ACC_TEXT.encode("utf-16-le")),
        None,
        check=lambda ds: _account_name(ds, "A1") == "Zürich AG",
    ),
    Hostile(
        "encodings",
        "UTF-16 big-endian without BOM",
        lambda d: _encoded(d, ACC_TEXT.encode("utf-16-be")),
        None,
        check=lambda ds: _account_name(ds, "A1") == "Zürich AG",
    ),
    Hostile(
        "encodings",
        "UTF-32 with BOM",
        lambda d: _encoded(d, ACC_TEXT.encode("utf-32")),
        None,
        check=lambda ds: _account_name(ds, "A1") == "Zürich AG",
    ),
    Hostile(
        "encodings",
        "UTF-32 big-endian without BOM",
        lambda d: _encoded(d, ACC_TEXT.encode("utf-32-be")),
        None,
        check=lambda ds: _account_name(ds, "A1") == "Zürich AG",
    ),
    Hostile(
        "encodings",
        "UTF-16 cut mid-character",
        lambda d: _encoded(d, b"\xff\xfe" + ACC_TEXT.encode("utf-16-le") + b"A"),
        "accounts.csv: not valid UTF-16 little-endian text",
        rows_in=0,
    ),
    Hostile(
        "encodings",
        "stray Latin-1 byte far into a UTF-8 file",
        lambda d: _more_invitations(d, 3000, "I9,C1,R,W1,2026-01-01,,,Z\xfcrich\r\n".encode("latin-1")),
        "invitations.csv line 3004: the line = ",
        "invitations",
        3003,
    ),
    # --- dates: outside what reports compute, or words DuckDB would read as dates
    Hostile(
        "dates",
        "year 1",
        lambda d: _inv(d, "2026-01-01,2026-01-02", "0001-01-01,0001-01-02"),
        "invitations.csv line 2 (I1): sent_at = '0001-01-01': must be from 1900-01-01 to 2199-12-31",
        "invitations",
    ),
    Hostile(
        "dates",
        "year 9999",
        lambda d: _inv(d, "2026-01-02,9", "9999-12-31,9"),
        "responded_at = '9999-12-31': must be from 1900-01-01 to 2199-12-31",
        "invitations",
    ),
    Hostile(
        "dates",
        "the word infinity",
        lambda d: _inv(d, "2026-01-01,2026-01-02", "infinity,2026-01-02"),
        "sent_at = 'infinity': must be a date (YYYY-MM-DD)",
        "invitations",
    ),
    Hostile(
        "dates",
        "the word epoch",
        lambda d: _inv(d, "2026-01-01,2026-01-02", "epoch,2026-01-02"),
        "sent_at = 'epoch': must be a date (YYYY-MM-DD)",
        "invitations",
    ),
    Hostile(
        "dates",
        "-infinity as a renewal date",
        lambda d: write(
            d / "accounts.csv",
            [*ACC, "renewal_date"],
            [["A1", "Acme", 100, "West", "-infinity"], ["A2", "Beta", 50, "East", ""]],
        ),
        "accounts.csv line 2 (A1): renewal_date = '-infinity': must be a date",
    ),
    Hostile(
        "dates",
        "usage event in 2300",
        lambda d: _usage(d, "2300-01-01 10:00:00"),
        "usage_events.csv line 2 (A1): occurred_at = '2300-01-01 10:00:00': must be from 1900-01-01",
        "usage_events",
        1,
    ),
    Hostile(
        "dates",
        "date-time with an offset keeps its written date",
        lambda d: _inv(d, "2026-01-01,2026-01-02", "2026-01-01T23:30:00-05:00,2026-01-02T01:00:00+09:00"),
        None,
        "invitations",
        check=lambda ds: (
            _column(
                ds,
                "select sent_at::varchar || ' ' || responded_at::varchar from invitations where invitation_id = 'I1'",
            )
            == ["2026-01-01 2026-01-02"]
        ),
    ),
    Hostile(
        "dates",
        "timestamp with an offset is the same instant in UTC",
        lambda d: _usage(d, "2026-01-01T23:30:00-05:00"),
        None,
        "usage_events",
        1,
        check=lambda ds: _column(ds, "select occurred_at::varchar from usage_events") == ["2026-01-02 04:30:00"],
    ),
    Hostile(
        "dates",
        "Parquet timestamp with zone keeps the local date",
        _zoned_parquet,
        None,
        "invitations",
        check=lambda ds: (
            _column(ds, "select sent_at::varchar from invitations order by invitation_id")
            == ["2026-01-01", "2026-01-05"]
        ),
    ),
    # --- numbers beyond what a column's type or the reports can hold
    Hostile(
        "numbers",
        "seats beyond int64",
        lambda d: write(
            d / "accounts.csv",
            [*ACC, "seats"],
            [["A1", "Acme", 100, "West", "99999999999999999999999"], ["A2", "Beta", 50, "East", 3]],
        ),
        "accounts.csv line 2 (A1): seats = '99999999999999999999999': must be at most 1000000000",
    ),
    Hostile(
        "numbers",
        "value near the float limit",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme,100", "A1,Acme,1e300"),
        "accounts.csv line 2 (A1): value = '1e300': must be at most 1000000000000000",
    ),
    Hostile(
        "numbers",
        "value beyond the float range",
        lambda d: replace_in(d / "accounts.csv", "A1,Acme,100", "A1,Acme,1e400"),
        "accounts.csv line 2 (A1): value = '1e400': must be a number",
    ),
    Hostile(
        "numbers",
        "score beyond int64",
        lambda d: _inv(d, "2026-01-02,9", "2026-01-02,99999999999999999999"),
        "invitations.csv line 2 (I1): score = '99999999999999999999': must be from 0 to 10",
        "invitations",
    ),
    Hostile(
        "numbers",
        "invoice amount of 1e20",
        lambda d: write(
            d / "invoices.csv",
            ["invoice_id", "account_id", "due_date", "paid_at", "amount"],
            [["V1", "A1", "2026-01-01", "", "1e20"]],
        ),
        "invoices.csv line 2 (V1): amount = '1e20': must be at most",
        "invoices",
        1,
    ),
    # --- loader faults
    Hostile(
        "loader faults",
        "table path is a folder",
        lambda d: _folder_instead(d / "accounts.csv"),
        "accounts.csv: is a folder, not a file",
        rows_in=0,
    ),
    Hostile(
        "loader faults",
        "link that loops",
        lambda d: _symlink(d, d / "accounts.csv"),
        "accounts.csv: cannot be read (a link that loops)",
        rows_in=0,
    ),
    Hostile(
        "loader faults",
        "link to nothing",
        lambda d: _symlink(d, d / "gone.csv"),
        "accounts.csv: cannot be read (a link to nothing)",
        rows_in=0,
    ),
    Hostile(
        "loader faults",
        "giant cell (30 MB)",
        lambda d: _inv(d, ",fine", "," + "x" * 30_000_000),
        None,
        "invitations",
        check=lambda ds: (
            _column(ds, "select length(comment) from invitations where invitation_id = 'I1'") == [30_000_000]
        ),
    ),
    Hostile(
        "loader faults",
        "DuckDB table that is a view over a CSV file",
        lambda d: _duckdb_with_view(d, attached=False),
        "data.duckdb[invitations]: is a view, not a table",
        rows_in=0,
    ),
    Hostile(
        "loader faults",
        "DuckDB table that lives in an attached database",
        lambda d: _duckdb_with_view(d, attached=True),
        "data.duckdb[invitations]: is a view, not a table",
        rows_in=0,
    ),
    Hostile(
        "loader faults",
        "SQLite file named .db (no extension download)",
        _sqlite,
        "data.db: is a SQLite database, not DuckDB",
        rows_in=0,
    ),
    Hostile(
        "loader faults",
        "text named .duckdb",
        lambda d: _garbage(d / "data.duckdb", b"-- PostgreSQL database dump\n" * 50),
        "data.duckdb: not a readable DuckDB database",
        rows_in=0,
    ),
    # --- workbook sheets naming one table twice
    Hostile(
        "workbook sheets",
        "sheets differing by case",
        lambda d: _sheets(d, "Accounts"),
        "book.xlsx: table accounts is stored twice (sheets 'accounts' and 'Accounts')",
        rows_in=0,
    ),
    Hostile(
        "workbook sheets",
        "sheets differing by spaces",
        lambda d: _sheets(d, " accounts "),
        "book.xlsx: table accounts is stored twice (sheets 'accounts' and ' accounts ')",
        rows_in=0,
    ),
    # --- malformed CSV records: every record loaded or reported, never lost
    Hostile(
        "malformed CSV",
        "too few fields and a bad score",
        lambda d: append(d / "invitations.csv", "I8,C1,R\r\nI9,C1,R,W1,2026-01-01,2026-01-02,11,\r\n"),
        "invitations.csv line 4: the line = 'I8,C1,R': malformed CSV line",
        "invitations",
        4,
    ),
    Hostile(
        "malformed CSV",
        "too many fields with mixed line endings",
        lambda d: append(d / "invitations.csv", "I8,C1,R,W1,2026-01-01,,,x,extra\nI9,C1,R,W1,2026-01-01,,,\n"),
        "invitations.csv line 4: the line = 'I8,C1,R,W1,2026-01-01,,,x,extra'",
        "invitations",
        4,
    ),
    Hostile(
        "malformed CSV",
        "quote left open",
        lambda d: append(d / "invitations.csv", 'I8,C1,R,W1,2026-01-01,,,"open\r\n'),
        "invitations.csv line 4",
        "invitations",
        3,
    ),
    Hostile(
        "malformed CSV",
        "multi-line record before a short one",
        lambda d: append(d / "invitations.csv", 'I8,C1,R,W1,2026-01-01,,,"two\nlines"\r\nI9,C1\r\n'),
        "invitations.csv line 6: the line = 'I9,C1'",
        "invitations",
        4,
    ),
]


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from heatmap_lib.cli.main import main

    code = main(["validate", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", HOSTILE, ids=[f"{c.kind}: {c.name}" for c in HOSTILE])
def test_hostile_input(case: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = base(tmp_path / "data")
    target = case.breaks(folder)
    path = target if isinstance(target, Path) else folder
    code, output = _validate(path, capsys)
    outcome = {"case": case.name, "class": case.kind, "expected": "error" if case.message else "accepted"}
    outcome["result"] = "accepted" if code == 0 else "error"
    RESULTS.append(outcome | {"message": output.strip().splitlines()[-1] if output.strip() else ""})
    assert "Traceback" not in output, output
    if case.message is None:
        assert code == 0, output
        ds = hm.load(path)
        assert ds.rows[case.table] == case.rows_in, ds.rows
        assert case.check is None or case.check(ds)
        return
    assert code in (1, 2), output
    assert any(case.message in line for line in output.splitlines()), output
    # rows in = rows loaded + rows reported: a quarantine load keeps what passed and reports the rest
    try:
        ds = hm.load(path, on_error="quarantine", quarantine_dir=tmp_path / "quarantine")
    except hm.HeatmapError as exc:  # the file cannot be read at all: nothing is loaded, the whole table refused
        assert case.rows_in == 0 or code == 2, str(exc)
        return
    excluded = sum(e.rows for e in ds.exclusions if e.table == case.table)
    assert ds.rows[case.table] + excluded == case.rows_in, (ds.rows, ds.exclusions)
    for e in ds.exclusions:  # the rejected-rows file holds every row the count names, malformed records too
        assert len(pd.read_csv(e.file, dtype=str, keep_default_na=False)) == e.rows, e


def test_every_hostile_class_has_several_inputs() -> None:
    kinds = [c.kind for c in HOSTILE]
    assert {k: kinds.count(k) for k in kinds} == {k: max(2, kinds.count(k)) for k in kinds}
    assert len({(c.kind, c.name) for c in HOSTILE}) == len(HOSTILE)


# ----------------------------------------------------------------------------------------------------------------
# Names that become files, and faults: through the real commands as well, each recorded under its class.

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
SEGMENT_NOTEBOOK = Path(__file__).parent / "fixtures" / "segment_report.ipynb"


def _record(kind: str, name: str, code: int, output: str, expected: str) -> None:
    lines = output.strip().splitlines()
    result = "accepted" if code == 0 else "error"
    RESULTS.append({"case": name, "class": kind, "expected": expected, "result": result, "message": lines[-1]})


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from heatmap_lib.cli.main import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize(
    ("parameter", "value", "rule"),
    [
        ("log_x", "yes", "must be true or false"),
        ("red_below", "low", "must be a number"),
        ("workspace", 5, "must be a text"),
        ("play_rules", ["a", "b"], "must be a text"),
    ],
)
def test_a_notebook_parameter_of_the_wrong_type_is_named_before_any_segment_runs(
    parameter: str, value: object, rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "notebook": str(NOTEBOOKS / "customer_heatmap.ipynb"),
                "data": str(base(tmp_path / "data")),
                "segment_by": "region",
                "output": "out",
                "parameters": {parameter: value},
            }
        )
    )
    code, output = _run(["run", str(spec), "--no-progress"], capsys)
    _record("faults", f"notebook parameter {parameter} = {value!r}", code, output, "error")
    assert code == 2 and "Traceback" not in output
    (line,) = output.strip().splitlines()
    assert line.startswith(f"heatmap: error: {spec}: parameter {parameter!r} = {value!r}: {rule}"), line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*/manifest.json"))


def test_an_interrupt_while_loading_ends_in_one_line(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    folder = base(tmp_path / "data")
    big = folder / "usage_events.csv"
    duckdb.execute(
        "COPY (SELECT 'A1' AS account_id, 'U' || (i % 1000) AS user_id, 'login' AS event, "
        "TIMESTAMP '2026-01-01' + to_seconds(i) AS occurred_at FROM range(30000000) t(i)) "
        f"TO '{big}' (HEADER)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "heatmap_lib.cli.main", "validate", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    fds = Path(f"/proc/{proc.pid}/fd")
    while proc.poll() is None:  # wait until the loader has the big file open, then press Ctrl-C
        try:
            if any(str(fd.readlink()) == str(big) for fd in fds.iterdir()):
                break
        except OSError:
            continue
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    _record("faults", "Ctrl-C while loading", proc.returncode, out + err, "error")
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and err.strip().splitlines() == ["heatmap: interrupted"]


def test_filter_sets_differing_only_in_punctuation_stay_apart(tmp_path: Path) -> None:
    lib = hm.FilterLibrary(tmp_path / "filters")
    sets = {"west/leaders": "West", "west leaders": "East", "west-leaders": "North", "West.Leaders": "South"}
    paths = {name: lib.save(hm.FilterSet(region=[region]), name) for name, region in sets.items()}
    for name, region in sets.items():
        RESULTS.append({"case": f"filter set {name!r}", "class": "names that become files", "expected": "accepted"})
        RESULTS[-1]["result"] = "accepted" if lib.load(name).criteria == {"region": (region,)} else "wrong"
        assert lib.load(name).criteria == {"region": (region,)}, name
    assert len(set(paths.values())) == len(sets)
    assert sorted(lib.names()) == sorted(p.stem for p in paths.values())


@pytest.mark.parametrize("length", [120, 300, 3000])
def test_a_long_account_id_gets_its_own_x_ray_page(length: int, tmp_path: Path) -> None:
    from heatmap_lib.metrics.xray import xrays
    from heatmap_lib.views.chart import xray_file_name, xray_link
    from heatmap_lib.views.xray_view import write_xray_pages

    folder = base(tmp_path / "data")
    long_ids = ["é/" * (length // 2), "é/" * (length // 2) + "x"]  # quoted, each is 3x longer; they differ at the end
    for path, old in (("accounts.csv", "A{}"), ("contacts.csv", ",A{},")):
        text = (folder / path).read_text(encoding="utf-8")
        for i, new in enumerate(long_ids, start=1):
            text = text.replace(old.format(i), old.replace("A{}", '"{}"').format(new))
        (folder / path).write_text(text, encoding="utf-8")
    ds = hm.load(folder)
    written = write_xray_pages(xrays(ds), tmp_path / "pages")
    names = {xray_file_name("{account_id}.html", a) for a in long_ids}
    ok = len(written) == 2 and {p.name for p in written} == names and all(len(n.encode()) <= 255 for n in names)
    RESULTS.append({"case": f"account id of {length} characters", "class": "names that become files"})
    RESULTS[-1] |= {"expected": "accepted", "result": "accepted" if ok else "wrong"}
    assert ok, [p.name for p in written]
    from urllib.parse import unquote

    assert {unquote(xray_link("{account_id}.html", a)) for a in long_ids} == names  # a browser opens the file


def test_accounts_without_a_segment_value_are_counted_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    folder = base(tmp_path / "data")
    write(folder / "accounts.csv", ACC, [["A1", "Acme", 100, "West"], ["A2", "Beta", 50, ""], ["A3", "Gamma", 5, " "]])
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"notebook": str(SEGMENT_NOTEBOOK), "data": str(folder), "segment_by": "region", "output": "out"}
        )
    )
    code, output = _run(["run", str(spec), "--no-progress"], capsys)
    _record("names that become files", "accounts with an empty segment value", code, output, "accepted")
    assert code == 0 and "Traceback" not in output, output
    assert "heatmap: warning: 2 accounts with no region value are in no segment's report" in output
    (manifest,) = (tmp_path / "out").glob("*/manifest.json")
    data = json.loads(manifest.read_text())
    assert data["data"]["without_segment"] == 2 and [s["segment"] for s in data["segments"]] == ["West"]


def test_an_excel_cell_over_excel_s_limit_is_cut_visibly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    from python_calamine import CalamineWorkbook

    folder = base(tmp_path / "data")
    replace_in(folder / "accounts.csv", "A1,Acme", "A1," + "N" * 40_000)
    replace_in(folder / "accounts.csv", "A2,Beta", "A2," + "\U0001f600" * 20_000)  # 40,000 UTF-16 units
    out = tmp_path / "summary.xlsx"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Cell contents too long")  # a note in the file, not a warning
        code, output = _run(["summary", str(folder), "--out", str(out)], capsys)
    _record("names that become files", "account name over 32,767 characters in xlsx", code, output, "accepted")
    assert code == 0, output
    book = CalamineWorkbook.from_path(str(out))
    rows = book.get_sheet_by_name("accounts").to_python()
    for row in rows[1:]:
        name = row[rows[0].index("account_name")]
        assert len(name.encode("utf-16-le")) // 2 <= 32_767
        assert name.endswith("characters in all; the CSV or JSON export has the whole text]")
    about = dict((r[0], r[1]) for r in book.get_sheet_by_name("About").to_python())
    assert "2 text cells longer than Excel's 32,767 characters were cut" in about["cells_cut"]


def _edges(folder: Path) -> Path:
    """The base dataset with every date, time and amount at the edge of what validation accepts."""
    base(folder)
    _inv(folder, "W1,2026-01-01,2026-01-02", "W1,1900-01-01,2199-12-31")
    _inv(folder, "I2,C2,R,W1,2026-01-01", "I2,C2,R,W0,1900-01-01")
    write(
        folder / "accounts.csv",
        [*ACC, "renewal_date", "customer_since", "seats"],
        [
            ["A1", "Acme", "1e15", "West", "2199-12-31", "1900-01-01", "1000000000"],
            ["A2", "Beta", "0", "East", "1900-01-01", "2199-12-31", "0"],
        ],
    )
    write(
        folder / "usage_events.csv",
        ["account_id", "user_id", "event", "occurred_at"],
        [["A1", "U1", "login", "1900-01-01 00:00:00"], ["A1", "U2", "login", "2199-12-31T23:59:59+00:00"]],
    )
    invoice = ["invoice_id", "account_id", "due_date", "paid_at", "amount"]
    write(folder / "invoices.csv", invoice, [["V1", "A1", "1900-01-01", "2199-12-31", "1e15"]])
    return folder


@pytest.mark.parametrize(
    "command",
    [
        ["summary", "--out", "s.xlsx"],
        ["summary", "--out", "s.json", "--by-role"],
        ["health", "--out", "h.csv"],
        ["movers", "--out", "m.csv", "--all"],
        ["export", "--table", "t.xlsx"],
    ],
    ids=lambda c: " ".join(c[:1] + c[3:]),
)
def test_values_at_the_edge_of_validation_go_through_every_command(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _edges(tmp_path / "data")
    name, *options = command
    out = tmp_path / options[1]
    code, output = _run([name, str(folder), *options[:1], str(out), *options[2:]], capsys)
    _record("dates", f"dates and amounts at the edge through {name} {options[1]}", code, output, "accepted")
    assert code == 0 and "Traceback" not in output, output
    assert out.stat().st_size > 0


def test_corpus_is_large_and_every_case_recorded(tmp_path: Path) -> None:  # last in the file: it writes the record
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)
    (Path(__file__).parent.parent / "test-artifacts").mkdir(exist_ok=True)
    report = Path(__file__).parent.parent / "test-artifacts" / "bad-inputs.json"
    report.write_text(json.dumps(RESULTS, indent=1, ensure_ascii=False))
