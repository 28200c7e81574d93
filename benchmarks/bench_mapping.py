"""Mapping an export against loading the same rows already in contract shape, as a ratio in one run.

Writes (once, cached under data/bench/) a Qualtrics-layout response export of ROWS rows (three header rows; e-mail,
account id, job title and campaign per response, a quarter of them unfinished) with a Salesforce-layout accounts
report, the mapping `params/mappings/qualtrics_salesforce.yaml` uses for them, and the same rows already shaped as
the contract (accounts.csv, contacts.csv, invitations.csv). Then times `hm.load` on both:

    python benchmarks/bench_mapping.py [--rows 1000000] [--repeat 2]

Target (issue 19): mapping a 1M-row export costs at most 1.5x loading the same rows in contract shape.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import duckdb
from common import best_of

TITLES = [
    "Chief Operating Officer",
    "VP Engineering",
    "Head of IT",
    "Geschäftsführer",
    "Directrice Financière",
    "IT Manager",
    "Team Lead, Support",
    "Solutions Architect",
    "Gerente de Compras",
    "Software Engineer",
    "Data Analyst",
    "Sachbearbeiterin Einkauf",
    "Analista de Sistemas",
    "Customer Happiness Hero",
]
MAPPING = """
sources:
  responses: {file: qualtrics_responses.csv, header_rows: 3}
  accounts: salesforce_accounts.csv
tables:
  accounts:
    source: accounts
    columns:
      account_id: Account ID
      account_name: Account Name
      value: {from: Annual Contract Value, number: true}
      region: {from: Billing Country, map: {United States: North America, Germany: EMEA, France: EMEA}}
      renewal_date: {from: Contract End Date, format: mm/dd/yyyy}
  contacts:
    source: responses
    one_row_per: contact_id
    columns:
      contact_id: {from: RecipientEmail, lower: true}
      account_id: AccountId
      role: {from: JobTitle, titles: true}
      title: JobTitle
  invitations:
    source: responses
    columns:
      invitation_id: ResponseId
      contact_id: {from: RecipientEmail, lower: true}
      questionnaire: {value: Relationship NPS}
      wave: {from: Campaign, extract: '(Q[1-4])\\s*(\\d{4})', template: '\\2-\\1'}
      sent_at: StartDate
      responded_at: {from: RecordedDate, when: Q1}
      score: Q1
      comment: Q3
"""


def write_exports(folder: Path, rows: int) -> None:
    """The export, its mapping and the same rows in contract shape, written by DuckDB (seeded, reproducible)."""
    exports, contract = folder / "exports", folder / "contract"
    exports.mkdir(parents=True, exist_ok=True)
    contract.mkdir(parents=True, exist_ok=True)
    accounts, contacts = max(rows // 100, 10), max(rows // 4, 10)
    con = duckdb.connect()
    con.execute("SELECT setseed(0.19)")
    con.execute(
        f"CREATE TABLE a AS SELECT i, printf('0015g%010d', i) AS id, 'Account ' || i AS name, "
        f"(1000 + (random() * 500000)::INT) AS value, ['United States', 'Germany', 'France'][1 + i % 3] AS country, "
        f"DATE '2026-01-01' + (i % 700)::INT AS renews FROM range({accounts}) t(i)"
    )
    titles = "[" + ", ".join("'" + t.replace("'", "''") + "'" for t in TITLES) + "]"
    con.execute(
        f"CREATE TABLE c AS SELECT j, 'user' || j || '@example' || (j % {accounts}) || '.com' AS email, "
        f"printf('0015g%010d', j % {accounts}) AS account, {titles}[1 + j % {len(TITLES)}] AS title "
        f"FROM range({contacts}) t(j)"
    )
    con.execute(
        f"CREATE TABLE r AS SELECT k, printf('R_%015d', k) AS rid, k % {contacts} AS j, "
        "TIMESTAMP '2026-04-01 08:00:00' + to_seconds((k * 7919) % 15000000) AS started, "
        "CASE WHEN k % 4 = 3 THEN NULL ELSE (k * 31) % 11 END AS score, "
        f"'Relationship NPS Q' || (2 + k % 2) || ' 2026' AS campaign FROM range({rows}) t(k)"
    )
    con.execute(
        'COPY (SELECT id AS "Account ID", name AS "Account Name", '
        "'USD ' || format('{:,}', value) || '.00' AS \"Annual Contract Value\", country AS \"Billing Country\", "
        "strftime(renews, '%m/%d/%Y') AS \"Contract End Date\" FROM a ORDER BY i) "
        f"TO '{exports / 'salesforce_accounts.csv'}' (HEADER)"
    )
    body = folder / "responses.body.csv"
    con.execute(
        "COPY (SELECT strftime(started, '%Y-%m-%d %H:%M:%S') AS StartDate, "
        "strftime(started + INTERVAL 5 MINUTE, '%Y-%m-%d %H:%M:%S') AS RecordedDate, rid AS ResponseId, "
        "upper(email[1:1]) || email[2:] AS RecipientEmail, score AS Q1, "
        "CASE WHEN score < 7 THEN 'Too slow, too expensive' END AS Q3, account AS AccountId, title AS JobTitle, "
        f"campaign AS Campaign FROM r JOIN c USING (j) ORDER BY k) TO '{body}' (HEADER false)"
    )
    header = "StartDate,RecordedDate,ResponseId,RecipientEmail,Q1,Q3,AccountId,JobTitle,Campaign\n"
    texts = (
        "Start Date,Recorded Date,Response ID,Recipient Email,How likely ...?,Anything else?,AccountId,JobTitle,"
        "Campaign\n"
    )
    ids = ",".join(f'"{{""ImportId"":""{c}""}}"' for c in header.strip().split(",")) + "\n"
    with (exports / "qualtrics_responses.csv").open("wb") as out:
        out.write((header + texts + ids).encode())
        with body.open("rb") as fh:
            shutil.copyfileobj(fh, out, 2**22)
    body.unlink()
    (exports / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    # the same rows, already in contract shape (roles from the same rules, so both datasets are equal)
    import heatmap_lib as hm

    ds = hm.load(exports / "mapping.yaml")
    for table in ("accounts", "contacts", "invitations"):
        assert ds.con is not None
        ds.con.execute(f"COPY {table} TO '{contract / (table + '.csv')}' (HEADER)")
    ds.close()
    (folder / "done").write_text("ok")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    folder = Path("data") / "bench" / f"mapping-{args.rows}"
    if not (folder / "done").exists():
        print(f"writing a {args.rows:,}-row export into {folder} ...", file=sys.stderr)
        start = time.perf_counter()
        write_exports(folder, args.rows)
        print(f"  written in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    import heatmap_lib as hm

    def load(path: Path) -> dict[str, int]:
        ds = hm.load(path)
        rows = dict(ds.rows)
        ds.close()
        return rows

    contract_s, contract_rows = best_of(lambda: load(folder / "contract"), args.repeat)
    mapped_s, mapped_rows = best_of(lambda: load(folder / "exports" / "mapping.yaml"), args.repeat)
    assert contract_rows == mapped_rows, (contract_rows, mapped_rows)
    print(
        f"export rows: {args.rows:,} (-> {mapped_rows['accounts']:,} accounts, {mapped_rows['contacts']:,} contacts, "
        f"{mapped_rows['invitations']:,} invitations)"
    )
    print(f"load in contract shape (CSV): {contract_s:.2f} s (best of {args.repeat})")
    print(f"load through the mapping:     {mapped_s:.2f} s (best of {args.repeat})")
    print(f"ratio mapped / contract:      {mapped_s / contract_s:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
