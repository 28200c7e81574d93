"""Loading and validation (DESIGN.md section 3): every rule, every format, every problem at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import ACCOUNT_FIELDS, CONTACT_FIELDS, INVITATION_FIELDS, write_csv

import heatmap_lib as hm


def _base(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "accounts.csv",
        ["account_id", "account_name", "value"],
        [
            {"account_id": "A1", "account_name": "Acme", "value": 100},
        ],
    )
    write_csv(
        folder / "contacts.csv",
        ["contact_id", "account_id", "role"],
        [
            {"contact_id": "C1", "account_id": "A1", "role": "influencer"},
        ],
    )
    write_csv(
        folder / "invitations.csv",
        INVITATION_FIELDS[:7],
        [
            {
                "invitation_id": "I1",
                "contact_id": "C1",
                "questionnaire": "R",
                "wave": "W1",
                "sent_at": "2026-01-01",
                "responded_at": "2026-01-02",
                "score": 9,
            },
        ],
    )
    return folder


# One planted problem of each kind, with the (table, line, column, rule fragment) the report must name.
PLANTED = [
    ("accounts", 3, "account_id", "duplicate account_id: first at line 2"),
    ("accounts", 4, "account_name", "must not be empty"),
    ("accounts", 4, "value", "must be a number"),
    ("accounts", 5, "value", "must be >= 0"),
    ("accounts", 5, "seats", "must be a whole number"),
    ("accounts", 6, "renewal_date", "must be a date"),
    ("accounts", 7, "account_id", "must not be empty"),
    ("contacts", 3, "role", "must be one of decision_maker, influencer, day_to_day"),
    ("contacts", 4, "account_id", "must exist in accounts"),
    ("contacts", 5, "contact_id", "duplicate contact_id: first at line 2"),
    ("invitations", 3, "score", "must be from 0 to 10"),
    ("invitations", 4, "score", "must be a whole number"),
    ("invitations", 5, "responded_at", "must not be before sent_at"),
    ("invitations", 6, "score", "must not be empty when responded_at is set"),
    ("invitations", 7, "responded_at", "must not be empty when score is set"),
    ("invitations", 8, "contact_id", "must exist in contacts"),
    ("invitations", 9, "sent_at", "must be a date"),
    ("invitations", 10, "questionnaire", "must not be empty"),
    ("invitations", 11, "wave", "must not be empty"),
    ("invitations", 12, "invitation_id", "duplicate invitation_id: first at line 2"),
    ("invitations", 15, None, "malformed CSV line"),  # too few fields; I11 above spans lines 13-14
]


def _broken(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "accounts.csv",
        ["account_id", "account_name", "value", "seats", "renewal_date"],
        [
            {
                "account_id": "A1",
                "account_name": "Acme",
                "value": 100,
                "seats": 3,
                "renewal_date": "2027-01-01",
            },
            {"account_id": "A1", "account_name": "Acme again", "value": 5, "seats": 1},
            {"account_id": "A2", "account_name": "", "value": "lots", "seats": 1},
            {"account_id": "A3", "account_name": "Neg", "value": -1, "seats": 2.5},
            {"account_id": "A4", "account_name": "Dates", "value": 1, "renewal_date": "next spring"},
            {"account_id": "", "account_name": "No id", "value": 1},
        ],
    )
    write_csv(
        folder / "contacts.csv",
        CONTACT_FIELDS[:3],
        [
            {"contact_id": "C1", "account_id": "A1", "role": "Decision Maker"},
            {"contact_id": "C2", "account_id": "A1", "role": "the boss"},
            {"contact_id": "C3", "account_id": "A404", "role": "dm"},
            {"contact_id": "C1", "account_id": "A1", "role": "user"},
        ],
    )
    inv = [
        ("I1", "C1", "R", "W1", "2026-01-01", "2026-01-02", "9.0"),  # 9.0 is the integer 9
        ("I2", "C1", "R", "W1", "2026-01-01", "2026-01-02", "11"),
        ("I3", "C1", "R", "W1", "2026-01-01", "2026-01-02", "7.5"),
        ("I4", "C1", "R", "W1", "2026-01-05", "2026-01-02", "8"),
        ("I5", "C1", "R", "W1", "2026-01-01", "2026-01-02", ""),
        ("I6", "C1", "R", "W1", "2026-01-01", "", "8"),
        ("I7", "C999", "R", "W1", "2026-01-01", "", ""),
        ("I8", "C1", "R", "W1", "yesterday", "", ""),
        ("I9", "C1", "", "W1", "2026-01-01", "", ""),
        ("I10", "C1", "R", "", "2026-01-01", "", ""),
        ("I1", "C1", "R", "W1", "2026-01-01", "", ""),
    ]
    rows = [dict(zip(INVITATION_FIELDS[:7], r, strict=True)) for r in inv]
    path = write_csv(folder / "invitations.csv", [*INVITATION_FIELDS[:7], "comment"], rows)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('I11,C1,R,W1,2026-01-01,,,"a comment\nover two lines"\n')  # fine, lines 13-14
        fh.write("I12,C1,R\n")  # malformed: too few fields
    return folder


def test_every_planted_problem_is_reported_at_once(tmp_path):
    with pytest.raises(hm.ValidationError) as info:
        hm.load(_broken(tmp_path / "d"))
    found = {(p.table, p.row, p.column) for p in info.value.problems}
    for table, line, column, fragment in PLANTED:
        matches = [p for p in info.value.problems if (p.table, p.row, p.column) == (table, line, column)]
        assert matches, f"not reported: {table} line {line} {column} ({fragment}); got {sorted(found, key=str)}"
        assert any(fragment in p.rule for p in matches), [p.rule for p in matches]
    assert len(info.value.problems) == len(PLANTED)  # nothing else, nothing twice
    head = str(info.value).splitlines()[0]
    assert head.endswith(f"{len(PLANTED)} problems found; nothing was loaded")


def test_problem_names_file_row_key_column_value_and_rule(tmp_path):
    with pytest.raises(hm.ValidationError) as info:
        hm.load(_broken(tmp_path / "d"))
    p = next(p for p in info.value.problems if p.rule == "must be from 0 to 10")
    assert (p.table, p.file, p.row, p.key, p.column, p.value) == (
        "invitations",
        "invitations.csv",
        3,
        "I2",
        "score",
        "11",
    )
    assert str(p) == "invitations.csv line 3 (I2): score = '11': must be from 0 to 10"


def test_validate_command_names_them_all_and_exits_non_zero(tmp_path):
    data = _broken(tmp_path / "d")
    report = tmp_path / "problems.csv"
    run = subprocess.run(
        [sys.executable, "-m", "heatmap_lib.cli.main", "validate", str(data), "--report", str(report)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    for table, line, _column, fragment in PLANTED:
        assert any(f"{table}.csv line {line}" in out and fragment in out for out in run.stdout.splitlines()), fragment
    assert run.stderr.strip().endswith(f"breaks the data contract ({len(PLANTED)} problems)")
    assert len(pd.read_csv(report)) == len(PLANTED)


def test_quarantine_loads_valid_rows_and_writes_the_rejects_with_reasons(tmp_path):
    q = tmp_path / "quarantine"
    ds = hm.load(_broken(tmp_path / "d"), on_error="quarantine", quarantine_dir=q)
    assert ds.rows["accounts"] == 1 and ds.rows["contacts"] == 1
    # I1 (9.0) and I11 survive; every other invitation broke a rule or was malformed
    assert sorted(ds.con.execute("select invitation_id, score from invitations").fetchall()) == [
        ("I1", 9),
        ("I11", None),
    ]
    rejected = pd.read_csv(q / "accounts.rejected.csv")
    assert rejected["source_line"].tolist() == [3, 4, 5, 6, 7]
    assert "value: must be >= 0" in rejected.set_index("source_line").loc[5, "reasons"]
    inv = pd.read_csv(q / "invitations.rejected.csv")
    assert "I2" in set(inv["invitation_id"]) and "I1" in set(inv["invitation_id"])  # the repeat of I1 only
    by_table = {e.table: e.rows for e in ds.exclusions}
    assert by_table == {"accounts": 5, "contacts": 3, "invitations": 11}
    note = ds.exclusion_note()
    assert note and "5 accounts rows excluded" in note and str(q / "accounts.rejected.csv") in note
    assert len(pd.read_csv(q / "problems.csv")) >= len(PLANTED)


def test_quarantine_cascades_to_children_of_rejected_rows(tmp_path):
    d = _base(tmp_path / "d")
    write_csv(
        d / "accounts.csv",
        ["account_id", "account_name", "value"],
        [
            {"account_id": "A1", "account_name": "Acme", "value": -100},  # rejected
        ],
    )
    ds = hm.load(d, on_error="quarantine", quarantine_dir=tmp_path / "q")
    assert ds.rows == {**ds.rows, "accounts": 0, "contacts": 0, "invitations": 0}
    contacts = pd.read_csv(tmp_path / "q" / "contacts.rejected.csv")
    assert contacts.loc[0, "reasons"] == "account_id: its accounts row was excluded by validation"


def test_structural_problems_are_listed_together_even_in_quarantine(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_csv(
        d / "accounts.csv",
        ["account_id", "acount_name", "value"],
        [{"account_id": "A1", "acount_name": "x", "value": 1}],
    )
    write_csv(d / "contacts.csv", ["contact_id", "account_id"], [])
    with pytest.raises(hm.ValidationError) as info:
        hm.load(d, on_error="quarantine", quarantine_dir=tmp_path / "q")
    text = str(info.value)
    assert "accounts.csv: account_name: required column is missing" in text
    assert "is 'acount_name' meant to be 'account_name'?" in text
    assert "contacts.csv: role: required column is missing" in text
    assert "invitations: required table is missing (expected invitations.csv or invitations.parquet)" in text
    assert not (tmp_path / "q").exists()


def test_empty_tables_load(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_csv(d / "accounts.csv", ACCOUNT_FIELDS, [])
    write_csv(d / "contacts.csv", CONTACT_FIELDS, [])
    write_csv(d / "invitations.csv", INVITATION_FIELDS, [])
    ds = hm.load(d)
    assert ds.rows["accounts"] == 0 and not ds.has("usage_events")
    assert hm.account_summary(ds).empty


def test_header_spelling_bom_and_whitespace_are_forgiven(tmp_path):
    d = _base(tmp_path / "d")
    (d / "accounts.csv").write_text(
        "\ufeffAccount ID, Account Name ,Value,Account-Manager\n A1 ,Acme,100.0,Ann\n", encoding="utf-8"
    )
    ds = hm.load(d)
    assert ds.con.execute("select account_id, account_name, value, account_manager from accounts").fetchall() == [
        ("A1", "Acme", 100.0, "Ann")
    ]


def test_utf16_csv_is_read_and_other_encodings_are_named(tmp_path):
    d = _base(tmp_path / "d")
    (d / "accounts.csv").write_text("account_id,account_name,value\nA1,Zürich AG,1\n", encoding="utf-16")
    assert hm.load(d).con.execute("select account_name from accounts").fetchall() == [("Zürich AG",)]
    (d / "accounts.csv").write_bytes("account_id,account_name,value\nA1,Z\xfcrich AG,1\n".encode("latin-1"))
    with pytest.raises(hm.DataError, match=r"accounts.csv: .*(UTF-8|unicode)"):
        hm.load(d)


def test_zero_byte_file_and_a_table_stored_twice_are_clear_errors(tmp_path):
    d = _base(tmp_path / "d")
    (d / "contacts.csv").write_text("")
    with pytest.raises(hm.DataError, match=r"contacts.csv: the file is empty \(0 bytes\)"):
        hm.load(d)
    d2 = _base(tmp_path / "d2")
    pd.DataFrame({"account_id": ["A1"], "account_name": ["x"], "value": [1.0]}).to_parquet(d2 / "accounts.parquet")
    with pytest.raises(hm.DataError, match="table accounts is stored twice"):
        hm.load(d2)
    with pytest.raises(hm.DataError, match="no such file or folder"):
        hm.load(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(hm.DataError, match="not a dataset"):
        hm.load(tmp_path / "x.txt")


def test_unknown_files_are_noted_not_loaded(tmp_path):
    d = _base(tmp_path / "d")
    (d / "notes.txt").write_text("hello")
    ds = hm.load(d)
    assert ds.notes == ("ignored notes.txt: not a table of the contract",)


def test_extra_columns_are_kept_and_optional_ones_typed(tmp_path):
    d = _base(tmp_path / "d")
    write_csv(
        d / "accounts.csv",
        ["account_id", "account_name", "value", "plan", "seats", "customer_since"],
        [
            {
                "account_id": "A1",
                "account_name": "Acme",
                "value": 1,
                "plan": "Pro",
                "seats": "4.0",
                "customer_since": "2020-05-01",
            },
        ],
    )
    ds = hm.load(d)
    assert "plan" in ds.account_columns
    types = dict(
        ds.con.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'accounts'"
        ).fetchall()
    )
    assert types["seats"] == "BIGINT" and types["customer_since"] == "DATE" and types["renewal_date"] == "DATE"
    assert ds.con.execute("select seats, plan from accounts").fetchall() == [(4, "Pro")]


def test_optional_tables_are_validated_too(tmp_path):
    d = _base(tmp_path / "d")
    write_csv(
        d / "tickets.csv",
        ["ticket_id", "account_id", "opened_at", "sentiment", "escalated"],
        [
            {
                "ticket_id": "T1",
                "account_id": "A1",
                "opened_at": "2026-01-01 10:00:00",
                "sentiment": 1.5,
                "escalated": "maybe",
            },
        ],
    )
    write_csv(
        d / "renewals.csv",
        ["account_id", "renewal_date", "outcome", "value_before", "value_after"],
        [
            {
                "account_id": "A1",
                "renewal_date": "2026-01-01",
                "outcome": "lost",
                "value_before": 1,
                "value_after": 0,
            },
        ],
    )
    write_csv(
        d / "usage_events.csv",
        ["account_id", "user_id", "event", "occurred_at"],
        [
            {"account_id": "", "user_id": "U1", "event": "login", "occurred_at": "2026-01-01T10:00:00"},
            {"account_id": "A9", "user_id": "U2", "event": "login", "occurred_at": "2026-01-01 10:00:00"},
        ],
    )
    with pytest.raises(hm.ValidationError) as info:
        hm.load(d)
    rules = {(p.table, p.column): p.rule for p in info.value.problems}
    assert rules == {
        ("tickets", "sentiment"): "must be from -1 to 1",
        ("tickets", "escalated"): "must be true or false",
        ("renewals", "outcome"): "must be one of renewed, churned, expanded, contracted",
        ("usage_events", "account_id"): "must exist in accounts (no account_id with this value)",
    }


def _tables(ds: hm.Dataset) -> dict[str, pd.DataFrame]:
    return {t: ds.con.execute(f"select * from {t}").df() for t in ds.present}


@pytest.mark.parametrize("fmt", ["parquet", "duckdb", "xlsx"])
def test_every_format_round_trips_the_demo_with_identical_summaries(demo, tmp_path, fmt):
    from heatmap_lib.data.demo import write_tables

    path = write_tables(_tables(demo), tmp_path / fmt, fmt)
    other = hm.load(path)
    assert other.present == demo.present
    assert {t: other.rows[t] for t in demo.present} == {t: demo.rows[t] for t in demo.present}
    pd.testing.assert_frame_equal(hm.account_summary(other), hm.account_summary(demo), check_dtype=False)
    roles = [hm.role_breakdown(x) for x in (demo, other)]
    pd.testing.assert_frame_equal(*roles, check_dtype=False)


def test_excel_problems_name_the_sheet_and_data_row(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"account_id": ["A1", "A2"], "account_name": ["Acme", "Beta"], "value": [1, -2]}).to_excel(
            xw, sheet_name="accounts", index=False
        )
        pd.DataFrame({"contact_id": ["C1"], "account_id": ["A1"], "role": ["Influencer"]}).to_excel(
            xw, sheet_name="contacts", index=False
        )
    with pytest.raises(hm.ValidationError) as info:
        hm.load(path)
    text = str(info.value)
    assert "book.xlsx[accounts] row 2 (A2): value = '-2': must be >= 0" in text
    assert "invitations: required table is missing (expected a sheet or table named invitations)" in text


def test_duckdb_database_input(tmp_path):
    path = tmp_path / "src.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table accounts as select 'A1' as account_id, 'Acme' as account_name, 10.0 as value")
    con.execute("create table contacts as select 'C1' as contact_id, 'A1' as account_id, 'DM' as role")
    con.execute(
        "create table invitations as select 'I1' as invitation_id, 'C1' as contact_id, 'R' as questionnaire,"
        " 'W' as wave, date '2026-01-01' as sent_at, date '2026-01-03' as responded_at, 10 as score"
    )
    con.close()
    s = hm.account_summary(hm.load(path))
    assert (s.iloc[0].promoters, s.iloc[0].band) == (1, "green")


def test_fingerprint_changes_with_the_data(tmp_path):
    d = _base(tmp_path / "d")
    first = hm.load(d).fingerprint()
    assert first == hm.load(d).fingerprint()
    with (d / "accounts.csv").open("a") as fh:
        fh.write("A2,Beta,5\n")
    assert hm.load(d).fingerprint() != first


def test_a_missing_key_column_still_lets_every_other_problem_be_found(tmp_path):
    d = _base(tmp_path / "d")
    write_csv(d / "accounts.csv", ["id", "account_name", "value"], [{"id": "A1", "account_name": "x", "value": -1}])
    with pytest.raises(hm.ValidationError) as info:
        hm.load(d, on_error="quarantine", quarantine_dir=tmp_path / "q")
    rules = [(p.column, p.rule.split(" (")[0]) for p in info.value.problems]
    assert rules == [("account_id", "required column is missing"), ("value", "must be >= 0")]
