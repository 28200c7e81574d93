"""Table exports: provenance in every format, atomic writes, customer text kept as text."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.views.export import write_table


def test_formula_looking_text_stays_text_in_xlsx(tmp_path):
    df = pd.DataFrame({"account_name": ['=HYPERLINK("http://evil.example","click")', "=1+1", "http://x.io"]})
    path = write_table(df, tmp_path / "t.xlsx", {"data": "x"})
    ws = openpyxl.load_workbook(path)["accounts"]
    cells = [ws.cell(row=r, column=1) for r in (2, 3, 4)]
    assert [c.value for c in cells] == df["account_name"].tolist()
    assert all(c.data_type == "s" for c in cells)  # strings, not formulas
    assert all(c.hyperlink is None for c in cells)


def test_unknown_suffix_is_refused_and_nothing_is_left_behind(tmp_path):
    with pytest.raises(hm.HeatmapError, match=r"unknown output type \.parquet"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


def test_json_nulls_and_csv_plain_when_nothing_to_say(tmp_path):
    df = pd.DataFrame({"nps": [float("nan"), 12.5], "when": pd.to_datetime(["2026-01-01", None])})
    doc = json.loads(write_table(df, tmp_path / "t.json", {"data": "d"}).read_text())
    assert doc["accounts"][0]["nps"] is None and doc["accounts"][1]["when"] is None
    assert write_table(df, tmp_path / "t.csv", {"data": "d"}).read_text().startswith("nps,when")


def test_xlsx_splits_past_the_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("heatmap_lib.views.export.XLSX_MAX_ROWS", 10)  # a setting, so 25 rows stand for millions
    path = write_table(pd.DataFrame({"i": range(25)}), tmp_path / "t.xlsx", {})
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["accounts_1", "accounts_2", "accounts_3", "About"]
    assert [book[s].max_row - 1 for s in book.sheetnames[:3]] == [10, 10, 5]


def test_exports_and_heatmap_summary_carry_the_small_sample_note(builder, tmp_path):
    import subprocess
    import sys

    from heatmap_lib.metrics.summary import small_sample_note

    builder.scores(builder.account("P1", name="One promoter"), "decision_maker", [10])
    builder.scores(builder.account("P2", name="Many"), "influencer", [9, 7, 3] * 4)
    data = builder.write(tmp_path / "d")
    note = small_sample_note(1)
    for suffix in ("csv", "json", "xlsx"):
        out = tmp_path / f"s.{suffix}"
        run = subprocess.run(
            [sys.executable, "-m", "heatmap_lib.cli.main", "summary", str(data), "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        if suffix == "csv":
            got = pd.read_csv(out, keep_default_na=False)
        elif suffix == "json":
            got = pd.DataFrame(json.loads(out.read_text())["accounts"]).fillna("")
        else:
            got = pd.read_excel(out, sheet_name="accounts", engine="openpyxl")
        assert got["nps_note"].fillna("").tolist() == ["", note], suffix  # sorted by name: Many, One promoter
        cols = list(got.columns)
        assert cols.index("nps_note") == cols.index("small_sample") + 1
        assert got["nps_low"].round(1).tolist()[1] == -48.5


def test_xlsx_for_readers_headers_in_words_widths_fit_dates_as_dates(tmp_path):
    long_name = "Aerofield Industrial Holdings International AB"
    df = pd.DataFrame(
        {
            "account_name": [long_name, "Beta"],
            "response_rate": [0.5, 0.25],
            "nps": [-12.5, 40.0],
            "renewal_date": pd.to_datetime(["2026-01-10", "2026-03-31"]),
            "responded_at": pd.to_datetime(["2026-01-10 14:30", None]),
        }
    )
    ws = openpyxl.load_workbook(write_table(df, tmp_path / "t.xlsx", {}, headers="words"))["accounts"]
    assert [c.value for c in ws[1]] == ["Account", "Response rate", "NPS", "Renewal date", "Responded at"]
    assert ws.column_dimensions["A"].width >= len(long_name)  # as wide as the content, not the header
    assert ws.column_dimensions["B"].width >= len("Response rate")
    date, when = ws.cell(2, 4), ws.cell(2, 5)
    assert date.is_date and date.number_format == "yyyy-mm-dd"  # a date, shown without 00:00:00
    assert when.is_date and when.number_format == "yyyy-mm-dd hh:mm"
    # pipelines keep the column names unless words are asked for
    plain = openpyxl.load_workbook(write_table(df, tmp_path / "p.xlsx", {}))["accounts"]
    assert [c.value for c in plain[1]][:2] == ["account_name", "response_rate"]
