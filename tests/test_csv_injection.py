"""Every CSV the command line writes neutralises formula-like customer text (OWASP CSV injection) unless raw values
are asked for: planted in account names, managers, industries and play notes, read back from each file."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import Builder, write_csv

from heatmap_lib.core import files
from heatmap_lib.views import export

PLANTED = {
    "account_name": '=HYPERLINK("http://x.test","open")',
    "account_manager": "+1+2",
    "industry": "@SUM(1,2)",
    "sales_rep": "-3+4",
}
TAB = "\tcmd"
USAGE_FIELDS = ["account_id", "user_id", "event", "occurred_at", "feature"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def heatmap(*args: str) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, "-m", "heatmap_lib.cli.main", *args], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return run


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = Builder()
    b.account("A1", 5000, name=PLANTED["account_name"], account_manager=PLANTED["account_manager"],
              industry=PLANTED["industry"], sales_rep=PLANTED["sales_rep"])  # fmt: skip
    b.account("A2", 3000, name=TAB, account_manager="Ann")
    for account in ("A1", "A2"):
        for wave, sent, scores in (("2026-Q1", "2026-01-10", [10, 3, 3]), ("2026-Q2", "2026-04-10", [10, 10, 10])):
            for role, s in zip(("decision_maker", "influencer", "day_to_day"), scores, strict=True):
                b.invite(b.contact(account, role), s, wave=wave, sent_at=sent)
    folder = b.write(tmp_path_factory.mktemp("injection") / "data")
    rows = [("A1", "u1", "login", "2026-04-01", None), ("A2", "u2", "login", "2026-04-02", None)]
    write_csv(folder / "usage_events.csv", USAGE_FIELDS, [dict(zip(USAGE_FIELDS, r, strict=True)) for r in rows])
    return folder


def cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [c for row in csv.reader(fh) if row and not row[0].startswith("#") for c in row]


def every_csv(data: Path, out: Path, *extra: str) -> dict[str, Path]:
    """Run every command that writes a CSV; return the files by command."""
    out.mkdir()
    files = {name: out / f"{name}.csv" for name in ("summary", "table", "health", "movers", "plays", "list")}
    heatmap("summary", str(data), "--out", str(files["summary"]), *extra)
    heatmap("export", str(data), "--table", str(files["table"]), *extra)
    heatmap("health", str(data), "--out", str(files["health"]), *extra)
    heatmap("movers", str(data), "--all", "--out", str(files["movers"]), *extra)
    ws = out / "workspace"
    heatmap(
        "plays", "add", "A1", "=cmd|' /C calc'!A0", "--owner", "@owner", "--notes", "+notes", "--workspace", str(ws)
    )
    heatmap("plays", "export", str(files["plays"]), "--workspace", str(ws), *extra)
    heatmap("plays", "list", "--data", str(data), "--out", str(files["list"]), "--workspace", str(ws), *extra)
    return files


def test_every_csv_the_cli_writes_neutralises_formulas(data: Path, tmp_path: Path) -> None:
    files = every_csv(data, tmp_path / "safe")
    for name, path in files.items():
        found = cells(path)
        dangerous = [c for c in found if c.startswith(TRIGGERS) and not _number(c)]
        assert not dangerous, f"{name}: {dangerous}"
    summary = pd.read_csv(files["summary"], comment="#")
    assert set(summary["account_name"]) == {"'" + PLANTED["account_name"], "'" + TAB}
    assert pd.api.types.is_numeric_dtype(summary["nps"])
    assert "'" + PLANTED["account_manager"] in cells(files["table"])
    assert "'" + PLANTED["industry"] in cells(files["health"])
    assert "'" + PLANTED["account_name"] in cells(files["movers"])
    assert {"'=cmd|' /C calc'!A0", "'@owner", "'+notes"} <= set(cells(files["plays"]))
    assert "'@owner" in cells(files["list"])


def test_raw_csv_writes_the_values_as_they_are_and_plays_read_back_either_way(data: Path, tmp_path: Path) -> None:
    files = every_csv(data, tmp_path / "raw", "--raw-csv")
    summary = pd.read_csv(files["summary"], comment="#")
    assert set(summary["account_name"]) == {PLANTED["account_name"], TAB}
    assert PLANTED["industry"] in cells(files["health"])
    assert {"=cmd|' /C calc'!A0", "@owner", "+notes"} <= set(cells(files["plays"]))
    # the neutralised export imports back as it was written
    heatmap("plays", "export", str(tmp_path / "safe.csv"), "--workspace", str(tmp_path / "raw" / "workspace"))
    assert "'@owner" in cells(tmp_path / "safe.csv")
    ws = tmp_path / "imported"
    heatmap("plays", "import", str(tmp_path / "safe.csv"), "--workspace", str(ws))
    heatmap("plays", "export", str(tmp_path / "back.csv"), "--workspace", str(ws), "--raw-csv")
    assert {"=cmd|' /C calc'!A0", "@owner", "+notes"} <= set(cells(tmp_path / "back.csv"))


def test_the_rule_itself() -> None:
    for text in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert files.csv_cell(text) == "'" + text and files.uncsv_cell("'" + text) == text
    assert files.csv_cell("plain") == "plain" and files.csv_cell(-5) == -5 and files.uncsv_cell("'quoted") == "'quoted"
    frame = pd.DataFrame({"name": ["=x", "y"], "nps": [-20.0, 5.0]})
    out = export.neutralise_csv(frame)
    assert out["name"].tolist() == ["'=x", "y"] and out["nps"].tolist() == [-20.0, 5.0]
    with files.raw_csv():
        assert files.raw_csv_wanted()
    assert not files.raw_csv_wanted()


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
