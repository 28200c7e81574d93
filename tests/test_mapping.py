"""Mapping files: the sample exports of each tool map onto the contract, and problems are named at their source."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.cli.main import main
from heatmap_lib.data.mapping import MappingError, import_dataset, map_dataset, read_mapping

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "fixtures" / "exports"
MAPPINGS = ROOT / "params" / "mappings"


def local_copy(tmp_path: Path, mapping: str) -> Path:
    """The ready mapping and the sample exports copied side by side, so a test can plant bad values."""
    folder = tmp_path / "exports"
    shutil.copytree(EXPORTS, folder)
    text = (MAPPINGS / mapping).read_text(encoding="utf-8").replace("../../tests/fixtures/exports/", "")
    (folder / mapping).write_text(text, encoding="utf-8")
    return folder / mapping


def replace_in(path: Path, old: str, new: str, encoding: str = "utf-8") -> None:
    text = path.read_text(encoding=encoding)
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding=encoding)


def summary_counts(ds: hm.Dataset) -> dict[str, tuple]:
    df = hm.account_summary(ds)
    cols = ["contacts_invited", "invitations", "responses", "promoters", "passives", "detractors"]
    return {r.account_name: (*(int(getattr(r, c)) for c in cols), round(r.nps, 2), r.band) for r in df.itertuples()}


# --------------------------------------------------------------------------------------------------------------
# the ready mappings on the sample exports, against hand-computed numbers


def test_qualtrics_salesforce_events_sample_maps_to_the_hand_computed_summary():
    ds, report = map_dataset(MAPPINGS / "qualtrics_salesforce.yaml")
    # Acme: Jane 9 and 10, Tom 7 and 6, Li unfinished (no Q1) -> 5 invitations, 4 responses, (2 - 1) / 4 = 25
    # Globex: Anna 3 and 2, Jonas 9 -> (1 - 2) / 3; Initech: Claire 10 and 9, Hugo 5 -> (2 - 1) / 3
    # Stark: Tony 8 and 9, Pepper 10 -> 2 promoters, 1 passive; Umbrella: Joao 8 -> 0
    assert summary_counts(ds) == {
        "Acme Corporation": (3, 5, 4, 2, 1, 1, 25.0, "green"),
        "Globex GmbH": (2, 3, 3, 1, 0, 2, -33.33, "red"),
        "Initech SAS": (2, 3, 3, 2, 0, 1, 33.33, "green"),
        "Stark Industries, Inc.": (2, 3, 3, 2, 1, 0, 66.67, "green"),
        "Umbrella Lda": (1, 1, 1, 0, 1, 0, 0.0, "yellow"),
    }
    accounts = ds.con.sql("SELECT account_id, value, region, renewal_date, customer_since, website FROM accounts").df()
    initech = accounts.set_index("account_id").loc["0015g00000AbC03"]
    assert initech.value == 80500.50  # "USD 80,500.50"
    assert initech.region == "EMEA"  # Billing Country France, through the value map
    assert str(initech.renewal_date)[:10] == "2027-06-30"  # "06/30/2027"
    assert str(initech.customer_since)[:10] == "2019-09-10"
    assert initech.website == "https://www.initech.fr/"  # an extra column, kept
    roles = dict(ds.con.sql("SELECT contact_id, role FROM contacts").fetchall())
    assert roles == {
        "jane.doe@acme.com": "decision_maker",  # Chief Operating Officer
        "tom.baker@acme.com": "influencer",  # IT Manager
        "li.wei@acme.com": "day_to_day",  # Data Analyst
        "anna.schmidt@globex.de": "decision_maker",  # Geschäftsführerin (and her e-mail lower-cased)
        "jonas.weber@globex.de": "influencer",  # Teamleiter Support
        "claire.martin@initech.fr": "decision_maker",  # Directrice Financière
        "hugo.bernard@initech.fr": "influencer",  # Chef de projet
        "joao.silva@umbrella.pt": "day_to_day",  # Analista de Sistemas
        "tony@starkindustries.com": "decision_maker",  # Founder & CEO
        "pepper@starkindustries.com": "day_to_day",  # no rule: the default
    }
    waves = dict(ds.con.sql("SELECT wave, count(*) FROM invitations GROUP BY 1").fetchall())
    assert waves == {"2026-Q2": 5, "2026-Q3": 10}  # "Relationship NPS Q3 2026" -> 2026-Q3
    unfinished = ds.con.sql("SELECT responded_at, score FROM invitations WHERE contact_id = 'li.wei@acme.com'")
    assert unfinished.fetchall() == [(None, None)]
    comment = ds.con.sql("SELECT comment FROM invitations WHERE comment LIKE 'Great%'").fetchall()[0][0]
    assert comment == "Great onboarding.\nThe new dashboards save us hours."
    events = ds.con.sql(
        "SELECT count(*), count(account_id), min(occurred_at), count(DISTINCT user_id) FROM usage_events"
    ).fetchall()[0]
    assert events[:2] == (8, 7)  # one event has no company yet
    assert str(events[2]) == "2026-09-03 02:00:00"  # epoch 1788400800, UTC
    assert events[3] == 6
    assert [(t["table"], t["source_rows"], t["rows"]) for t in report.tables] == [
        ("accounts", 5, 5),
        ("contacts", 15, 10),
        ("invitations", 15, 15),
        ("usage_events", 8, 8),
    ]
    assert report.tables[1]["merged"] == 5
    assert report.unmatched_titles == [("Wizard of Lightbulb Moments", 1)]
    assert report.waves == [("2026-Q2", 5), ("2026-Q3", 10)]
    assert any("matched no title rule" in n for n in ds.notes)
    assert ds.path.endswith("qualtrics_salesforce.yaml")


def test_surveymonkey_hubspot_sample_matches_contacts_by_email_domain_and_derives_fiscal_waves():
    ds, report = map_dataset(MAPPINGS / "surveymonkey_hubspot.yaml")
    # Contoso: Max "10 - Extremely likely" and 9, Sabine 8, Lena 6 -> (2 - 1) / 4; Fabrikam: Diego 4 and
    # "0 - Not at all likely", Lucia 8 -> (0 - 2) / 3; Northwind: 9, 10; Tailspin: Giulia 7 and 9, Marco 3
    assert summary_counts(ds) == {
        "Contoso AG": (3, 4, 4, 2, 1, 1, 25.0, "green"),
        "Fabrikam S.A.": (2, 3, 3, 0, 1, 2, -66.67, "red"),
        "Northwind B.V.": (2, 2, 2, 2, 0, 0, 100.0, "green"),
        "Tailspin Srl": (2, 3, 3, 1, 1, 1, 0.0, "yellow"),
    }
    contacts = ds.con.sql("SELECT contact_id, account_id, role FROM contacts").df().set_index("contact_id")
    assert contacts.loc["lucia.martin@fabrikam.es"].account_id == "9876543211"  # fabrikam.es is that company's
    assert contacts.role.value_counts().to_dict() == {"decision_maker": 4, "day_to_day": 3, "influencer": 2}
    # fiscal year from February, named by the year it ends: August 2026 is FY2027-Q3, November FY2027-Q4
    assert report.waves == [("FY2027-Q3", 5), ("FY2027-Q4", 7)]
    sent = ds.con.sql("SELECT min(sent_at), max(responded_at) FROM invitations").fetchall()[0]
    assert [str(d) for d in sent] == ["2026-08-11", "2026-11-13"]  # "11/13/2026 09:00:00 AM"
    accounts = ds.con.sql("SELECT account_name, region, industry, customer_since FROM accounts ORDER BY 1").fetchall()
    assert [a[1:3] for a in accounts] == [
        ("DACH", "Software"),
        ("South", "Retail"),
        ("Benelux", "Logistics"),
        ("South", "Aviation"),
    ]
    assert str(accounts[0][3]) == "2023-02-14"  # an xlsx date-time cell
    assert report.unmatched_titles == []
    assert report.tables[1]["merged"] == 3


# --------------------------------------------------------------------------------------------------------------
# every problem named at its source


def test_a_bad_value_in_a_source_export_is_named_by_source_file_line_and_column(tmp_path):
    mapping = local_copy(tmp_path, "qualtrics_salesforce.yaml")
    # Joao's response (physical line 17: three header rows, and a comment above spanning two lines) scores 11
    replace_in(
        mapping.parent / "qualtrics_responses.csv",
        "EN,8,2,Ease of use,,0015g00000AbC04",
        "EN,11,3,Ease of use,,0015g00000AbC04",
        "utf-8-sig",
    )
    replace_in(mapping.parent / "salesforce_accounts.csv", '"11/30/2026"', '"31/11/2026"')
    with pytest.raises(hm.ValidationError) as err:
        hm.load(mapping)
    message = str(err.value)
    assert message.startswith(f"{mapping}: 2 problems found")
    assert "qualtrics_responses.csv line 17 (R_7b52009b64fd0A2): Q1 (score) = '11': must be from 0 to 10" in message
    assert (
        "salesforce_accounts.csv line 3 (0015g00000AbC02): Contract End Date (renewal_date) = '31/11/2026': "
        "must be a date written as mm/dd/yyyy (the mapping's format)" in message
    )
    problem = next(p for p in err.value.problems if p.table == "invitations")
    assert (problem.file, problem.row, problem.column, problem.row_label) == (
        "qualtrics_responses.csv",
        17,
        "Q1 (score)",
        "line",
    )


def test_duplicates_unknown_email_domains_and_json_lines_are_named_at_their_source(tmp_path):
    mapping = local_copy(tmp_path, "surveymonkey_hubspot.yaml")
    folder = mapping.parent
    # a respondent from a free-mail domain matches no company: named at the SurveyMonkey line (two header rows)
    replace_in(folder / "surveymonkey_responses.csv", "lena.fischer@contoso.de", "lena.fischer@gmail.com")
    with pytest.raises(hm.ValidationError) as err:
        hm.load(mapping)
    assert (
        "surveymonkey_responses.csv line 9 (lena.fischer@gmail.com): Email Address (account_id) = "
        "'lena.fischer@gmail.com': must exist in accounts" in str(err.value)
    )
    mapping = local_copy(tmp_path / "q", "qualtrics_salesforce.yaml")
    replace_in(mapping.parent / "salesforce_accounts.csv", '"0015g00000AbC04"', '"0015g00000AbC01"')
    with pytest.raises(hm.ValidationError) as err:
        hm.load(mapping)
    assert (
        "salesforce_accounts.csv line 5 (0015g00000AbC01): Account ID = '0015g00000AbC01': "
        "duplicate account_id: first at line 2" in str(err.value)
    )
    assert "qualtrics_responses.csv line 17 (joao.silva@umbrella.pt): AccountId (account_id)" in str(err.value)
    # a JSON lines export: the line of the object (blank lines counted), the JSON path as the column
    events = mapping.parent / "product_events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace('"time": 1788580800', '"time": "yesterday"')
    events.write_text("\n".join([*lines[:2], "", *lines[2:]]) + "\n", encoding="utf-8")
    replace_in(mapping.parent / "salesforce_accounts.csv", '"0015g00000AbC01","Umbrella', '"0015g00000AbC04","Umbrella')
    with pytest.raises(hm.ValidationError) as err:
        hm.load(mapping)
    assert [str(p) for p in err.value.problems] == [
        "product_events.jsonl line 6 (0015g00000AbC02): properties.time (occurred_at) = 'yesterday': "
        "must be a date written as epoch (the mapping's format)"
    ]


def test_quarantine_works_through_the_mapping_and_its_files_name_the_sources(tmp_path):
    mapping = local_copy(tmp_path, "qualtrics_salesforce.yaml")
    replace_in(
        mapping.parent / "qualtrics_responses.csv",
        "EN,8,2,Ease of use,,0015g00000AbC04",
        "EN,11,3,Ease of use,,0015g00000AbC04",
        "utf-8-sig",
    )
    qdir = tmp_path / "quarantine"
    ds = hm.load(mapping, on_error="quarantine", quarantine_dir=qdir)
    assert ds.rows["invitations"] == 14
    assert [(e.table, e.rows) for e in ds.exclusions] == [("invitations", 1)]
    globex = hm.account_summary(ds).set_index("account_name").loc["Globex GmbH"]
    assert int(globex.responses) == 3
    assert "Umbrella Lda" not in set(hm.account_summary(ds).account_name)  # its one invitation was rejected
    with (qdir / "problems.csv").open(newline="", encoding="utf-8") as fh:
        problems = list(csv.DictReader(fh))
    assert problems == [
        {
            "table": "invitations",
            "file": "qualtrics_responses.csv",
            "row": "17",
            "key": "R_7b52009b64fd0A2",
            "column": "Q1 (score)",
            "value": "11",
            "rule": "must be from 0 to 10",
        }
    ]
    rejected = pd.read_csv(qdir / "invitations.rejected.csv", dtype=str)
    assert rejected[["source_file", "source_line", "invitation_id", "score"]].values.tolist() == [
        ["qualtrics_responses.csv", "17", "R_7b52009b64fd0A2", "11"]
    ]


# --------------------------------------------------------------------------------------------------------------
# date formats, quarters, Parquet sources, the mapping's own mistakes


def test_date_formats_calendar_quarters_and_parquet_sources(tmp_path):
    pd.DataFrame(
        {
            "Id": ["A1", "A2"],
            "Name": ["Alpha", "Beta"],
            "ARR": ["1.000", "2500"],
            "Renews": pd.array([1798675200, None], dtype="Int64"),
            "Since": ["2021-03-01T23:30:00-02:00", "2022-05-04 23:30:00"],
        }
    ).to_parquet(tmp_path / "crm.parquet")
    (tmp_path / "survey.csv").write_text(
        "Resp,Who,Account,Sent,Answered,Score\n"
        "r1,a@x.com,A1,26.11.2026,27.11.2026 14:05,9 - Very likely\n"
        "r2,b@x.com,A2,01.04.2026,,\n"
        "r3,c@x.com,A2,31.03.2026,31.03.2026,\n",
        encoding="utf-8",
    )
    (tmp_path / "m.yml").write_text(
        """
sources:
  crm: crm.parquet
  survey: survey.csv
tables:
  accounts:
    source: crm
    columns:
      account_id: Id
      account_name: Name
      value: ARR
      renewal_date: {from: Renews, format: epoch}
      tier: {value: Gold}
      customer_since: {from: Since, format: iso}
  contacts:
    source: survey
    columns: {contact_id: Who, account_id: Account, role: {value: Decision Maker}}
  invitations:
    source: survey
    columns:
      invitation_id: Resp
      contact_id: Who
      questionnaire: {value: NPS}
      wave: {from: Sent, format: dd.mm.yyyy, quarter: calendar}
      sent_at: {from: Sent, format: dd.mm.yyyy}
      responded_at: {from: Answered, format: dd.mm.yyyy}
      score: {from: Score, leading_number: true}
""",
        encoding="utf-8",
    )
    with pytest.raises(hm.ValidationError) as err:
        hm.load(tmp_path / "m.yml")
    # r3 answered without a score: the usual cross-column rule, at line 4 of the CSV
    assert [str(p) for p in err.value.problems] == [
        "survey.csv line 4 (r3): Score: must not be empty when responded_at is set (a response has a score)"
    ]
    (tmp_path / "survey.csv").write_text(
        (tmp_path / "survey.csv").read_text(encoding="utf-8").replace("31.03.2026,\n", "31.03.2026,6\n"),
        encoding="utf-8",
    )
    ds = hm.load(tmp_path / "m.yml")
    inv = ds.con.sql("SELECT invitation_id, wave, sent_at, responded_at, score FROM invitations ORDER BY 1").fetchall()
    assert [(i, w, str(s), str(r) if r else None, sc) for i, w, s, r, sc in inv] == [
        ("r1", "2026-Q4", "2026-11-26", "2026-11-27", 9),
        ("r2", "2026-Q2", "2026-04-01", None, None),
        ("r3", "2026-Q1", "2026-03-31", "2026-03-31", 6),
    ]
    acc = ds.con.sql("SELECT account_id, value, renewal_date, tier, customer_since FROM accounts ORDER BY 1")
    assert [(a, v, str(d) if d else None, t, str(c)) for a, v, d, t, c in acc.fetchall()] == [
        # "1.000" is one, not a thousand: no locale guessing without `number`; an ISO time with an offset is
        # taken to UTC (the next day), one without is kept as written whatever the machine's time zone
        ("A1", 1.0, "2026-12-31", "Gold", "2021-03-02"),
        ("A2", 2500.0, None, "Gold", "2022-05-04"),
    ]
    assert set(ds.con.sql("SELECT role FROM contacts").fetchall()) == {("decision_maker",)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("account_name: Account Name", "account_name: Acount Nme"), "source column 'Acount Nme' is not in "),
        (("      industry: Industry\n", "      industry: {from: Industry, upper: true}\n"), "tables.accounts.columns"),
        (("  invitations:\n", "  invites:\n"), "tables.invites: not a table of the contract"),
        (("      account_name: Account Name\n", ""), "tables.accounts.columns: the required column 'account_name'"),
        (
            ("Contract End Date, format: mm/dd/yyyy}", "Contract End Date, format: month/day}"),
            "tables.accounts.columns.renewal_date.format: 'month/day'",
        ),
        (("source: events", "source: evnts"), "tables.usage_events.source: 'evnts' is not one of the sources"),
        (("header_rows: 3}", "header_rows: 0}"), "sources.responses.header_rows: 0 is not a whole number >= 1"),
        (("score: Q1", "score: {from: Q1, fiscal_year_start: 4}"), "score.fiscal_year_start: only with `quarter"),
        (("titles: true}", "titles: yes please}"), "tables.contacts.columns.role.titles: must be true or false"),
        (("  events: ../", "  events: ../missing/"), "sources.events.file: '../missing/"),
    ],
)
def test_mistakes_in_the_mapping_file_are_named_with_their_key_path(tmp_path, change, message):
    text = (MAPPINGS / "qualtrics_salesforce.yaml").read_text(encoding="utf-8")
    assert text.count(change[0]) == 1, change[0]
    path = tmp_path / "mappings" / "bad.yaml"
    path.parent.mkdir()
    shutil.copytree(EXPORTS, tmp_path / "exports")
    path.write_text(
        text.replace(change[0], change[1]).replace("../../tests/fixtures/exports/", "../exports/"), encoding="utf-8"
    )
    with pytest.raises(MappingError) as err:
        read_mapping(path) if "not in" not in message else hm.load(path)
    assert str(err.value).startswith("bad.yaml: ")
    assert message in str(err.value)
    if "upper" in change[1]:
        assert "industry.upper: unknown key" in str(err.value)


# --------------------------------------------------------------------------------------------------------------
# heatmap import and the other commands


def test_heatmap_import_writes_parquet_and_a_report_and_every_command_takes_the_mapping(tmp_path, capsys):
    out = tmp_path / "mine"
    assert main(["import", str(MAPPINGS / "qualtrics_salesforce.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "contacts: 10 rows from 15 rows of qualtrics_responses.csv, 5 repeats of contact_id merged" in printed
    assert "Wizard of Lightbulb Moments" in printed and "2026-Q3 (10)" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "accounts.parquet",
        "contacts.parquet",
        "import_report.json",
        "invitations.parquet",
        "usage_events.parquet",
    ]
    report = json.loads((out / "import_report.json").read_text(encoding="utf-8"))
    assert report["unmatched_titles"] == [{"title": "Wizard of Lightbulb Moments", "count": 1}]
    assert report["waves"] == [{"wave": "2026-Q2", "count": 5}, {"wave": "2026-Q3", "count": 10}]
    assert {t["table"]: t["loaded"] for t in report["tables"]} == {
        "accounts": 5,
        "contacts": 10,
        "invitations": 15,
        "usage_events": 8,
    }
    imported = hm.load(out)
    assert summary_counts(imported) == summary_counts(hm.load(MAPPINGS / "qualtrics_salesforce.yaml"))
    assert main(["validate", str(MAPPINGS / "surveymonkey_hubspot.yaml")]) == 0
    assert "ok: " in capsys.readouterr().out
    summary = tmp_path / "summary.csv"
    assert main(["summary", str(MAPPINGS / "surveymonkey_hubspot.yaml"), "--out", str(summary)]) == 0
    assert len(pd.read_csv(summary, comment="#")) == 4


def test_heatmap_import_with_quarantine_writes_only_the_valid_rows(tmp_path, capsys):
    mapping = local_copy(tmp_path, "qualtrics_salesforce.yaml")
    replace_in(mapping.parent / "salesforce_accounts.csv", '"USD 45,000.00"', '"n/a"')
    args = ["import", str(mapping), "--out", str(tmp_path / "out")]
    assert main(args) == 1
    assert "salesforce_accounts.csv line 5 (0015g00000AbC04): Annual Contract Value (value) = 'n/a'" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()
    report = import_dataset(mapping, tmp_path / "out", on_error="quarantine", quarantine_dir=tmp_path / "q")
    assert report.excluded == {"accounts": 1, "contacts": 1, "invitations": 1}
    assert hm.load(tmp_path / "out").rows["accounts"] == 4


@pytest.mark.notebook
def test_a_batch_spec_takes_a_mapping_file_as_its_data(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"notebook: {ROOT / 'notebooks' / 'customer_heatmap.ipynb'}\n"
        f"data: {MAPPINGS / 'surveymonkey_hubspot.yaml'}\n"
        "segment_by: region\nsegments: [Benelux]\noutput: out\nworkers: 1\n",
        encoding="utf-8",
    )
    assert main(["run", str(spec)]) == 0
    run = next((tmp_path / "out").iterdir())
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert [s["status"] for s in manifest["segments"]] == ["ok"]
    page = (run / "benelux.html").read_text(encoding="utf-8")
    assert "Northwind B.V." in page and "Contoso AG" not in page


def test_a_mapping_names_its_own_title_rules(tmp_path):
    mapping = local_copy(tmp_path, "qualtrics_salesforce.yaml")
    (mapping.parent / "roles.yaml").write_text(
        "default: influencer\nrules:\n  - {role: decision_maker, patterns: ['\\bwizard\\b', chief, ceo]}\n",
        encoding="utf-8",
    )
    mapping.write_text("title_rules: roles.yaml\n" + mapping.read_text(encoding="utf-8"), encoding="utf-8")
    ds, report = map_dataset(mapping)
    roles = dict(ds.con.sql("SELECT contact_id, role FROM contacts").fetchall())
    assert roles["pepper@starkindustries.com"] == "decision_maker"  # "Wizard of Lightbulb Moments"
    assert roles["li.wei@acme.com"] == "influencer"  # the file's default
    assert sorted(report.unmatched_titles) == sorted(
        [(t, 1) for t in ("IT Manager", "Data Analyst", "Geschäftsführerin", "Teamleiter Support")]
        + [(t, 1) for t in ("Directrice Financière", "Chef de projet", "Analista de Sistemas")]
    )
    inline = (
        "title_rules:\n  rules: [{role: boss, patterns: [ceo]}]\n"
        + mapping.read_text(encoding="utf-8").split("\n", 1)[1]
    )
    mapping.write_text(inline, encoding="utf-8")
    with pytest.raises(hm.DataError, match=r"qualtrics_salesforce.yaml: title_rules: rules\[0\].role: 'boss'"):
        read_mapping(mapping)


def test_a_malformed_record_in_a_source_export_is_refused_naming_the_file_and_line(tmp_path):
    mapping = local_copy(tmp_path, "surveymonkey_hubspot.yaml")
    replace_in(mapping.parent / "surveymonkey_responses.csv", '"Más integraciones, por favor."', '"Más",oops')
    with pytest.raises(hm.DataError, match=r"^surveymonkey_responses.csv: cannot be read as csv .*Line: 5"):
        hm.load(mapping, on_error="quarantine", quarantine_dir=tmp_path / "q")
