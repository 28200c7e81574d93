"""The `heatmap` command line: each command end to end in a real subprocess, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import heatmap_lib as hm


def heatmap(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "heatmap_lib.cli.main", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


@pytest.mark.parametrize("command", ["demo", "validate", "summary", "export", "run", "calibrate", "health", "movers"])
def test_every_command_has_help(command):
    run = heatmap(command, "--help")
    assert run.returncode == 0 and "usage: heatmap " + command in run.stdout


def test_demo_validate_summary_round_trip(tmp_path):
    data = tmp_path / "demo"
    run = heatmap("demo", "--out", str(data), "--accounts", "40", "--seed", "3")
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()) == data and (data / "invitations.csv").exists()
    run = heatmap("validate", str(data))
    assert run.returncode == 0 and run.stdout.startswith("ok: ") and "40 accounts" in run.stdout
    expected = hm.account_summary(hm.load(data))
    for suffix in ("csv", "json", "xlsx"):
        out = tmp_path / f"summary.{suffix}"
        run = heatmap("summary", str(data), "--out", str(out))
        assert run.returncode == 0, run.stderr
        if suffix == "csv":
            got = pd.read_csv(out)
        elif suffix == "json":
            doc = json.loads(out.read_text())
            assert doc["about"]["data"] == str(data) and doc["about"]["filters"] == "all data"
            got = pd.DataFrame(doc["accounts"])
        else:
            got = pd.read_excel(out, sheet_name="accounts", engine="openpyxl")
            about = dict(openpyxl.load_workbook(out)["About"].iter_rows(values_only=True))
            assert about["data_fingerprint"] == hm.load(data).fingerprint()
        assert got["account_id"].tolist() == expected["account_id"].tolist()
        assert got["nps"].round(6).fillna(-999).tolist() == expected["nps"].round(6).fillna(-999).tolist()


def test_summary_with_filters_and_warnings(tmp_path):
    data = tmp_path / "demo"
    assert heatmap("demo", "--out", str(data), "--accounts", "30").returncode == 0
    filters = hm.FilterSet(name="west", region=["West", "Atlantis"]).save(tmp_path / "west.yaml")
    out = tmp_path / "west.csv"
    run = heatmap("summary", str(data), "--filters", str(filters), "--out", str(out), "--by-role")
    assert run.returncode == 0, run.stderr
    assert "warning: region: 'Atlantis' matched nothing in the data" in run.stderr
    text = out.read_text()
    assert text.startswith("# ") and "Atlantis" in text.split("\n\n")[0]  # said in the output itself
    got = pd.read_csv(out, comment="#")
    assert set(got["region"]) == {"West"} and "hidden_risk" in got.columns


def test_quarantine_exclusions_are_said_in_the_output(tmp_path):
    data = tmp_path / "demo"
    assert heatmap("demo", "--out", str(data), "--accounts", "20").returncode == 0
    with (data / "invitations.csv").open("a") as fh:
        fh.write("BAD1,C9999999,Relationship NPS,2026-Q3,2026-08-01,,,,\n")
    run = heatmap("summary", str(data), "--out", str(tmp_path / "s.csv"))
    assert run.returncode == 1 and "must exist in contacts" in run.stderr
    q = tmp_path / "q"
    out = tmp_path / "s.json"
    run = heatmap("summary", str(data), "--out", str(out), "--on-error", "quarantine", "--quarantine-dir", str(q))
    assert run.returncode == 0, run.stderr
    about = json.loads(out.read_text())["about"]
    assert about["excluded"].startswith("Excluded by validation: 1 invitations row excluded")
    assert str(q / "invitations.rejected.csv") in about["excluded"]
    assert pd.read_csv(q / "invitations.rejected.csv")["invitation_id"].tolist() == ["BAD1"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("summary", "/nonexistent", "--out", "x.csv"), "heatmap: error: /nonexistent: no such file or folder"),
        (("demo", "--out", "x", "--accounts", "0"), "heatmap: error: --accounts must be at least 1, not 0"),
    ],
)
def test_errors_are_one_line_and_non_zero(tmp_path, args, reason):
    run = heatmap(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == reason


def test_unknown_output_type_and_bad_filter_file(tmp_path):
    data = tmp_path / "demo"
    assert heatmap("demo", "--out", str(data), "--accounts", "10").returncode == 0
    run = heatmap("summary", str(data), "--out", str(tmp_path / "s.parquet"))
    assert run.returncode == 2 and "unknown output type .parquet" in run.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("regoin: [West]\n")
    run = heatmap("summary", str(data), "--filters", str(bad), "--out", str(tmp_path / "s.csv"))
    assert run.returncode == 2 and "unknown filter key 'regoin'" in run.stderr
    assert not (tmp_path / "s.csv").exists()


def test_health_command_writes_every_account(tmp_path):
    data = tmp_path / "demo"
    assert heatmap("demo", "--out", str(data), "--accounts", "25").returncode == 0
    out = tmp_path / "health.xlsx"
    run = heatmap("health", str(data), "--out", str(out), "--kpi", "create_report", "--as-of", "2026-09-30")
    assert run.returncode == 0, run.stderr
    got = pd.read_excel(out, sheet_name="health", engine="openpyxl")
    assert len(got) == 25 and {"active_users", "kpi_users", "seat_utilisation"} <= set(got.columns)
    run = heatmap("health", str(data), "--out", str(out), "--as-of", "30/09/2026")
    assert run.returncode == 2 and "is not a date (YYYY-MM-DD)" in run.stderr


def test_movers_command(tmp_path):
    data = tmp_path / "demo"
    assert heatmap("demo", "--out", str(data), "--accounts", "60").returncode == 0
    out = tmp_path / "movers.csv"
    run = heatmap("movers", str(data), "--wave", "2026-Q3", "--compare-to", "2026-Q2", "--out", str(out))
    assert run.returncode == 0, run.stderr
    got = pd.read_csv(out, comment="#")
    assert {"account_name", "nps_change", "nps_change_low", "nps_change_high", "verdict"} <= set(got.columns)
    everything = tmp_path / "all.csv"
    assert heatmap("movers", str(data), "--all", "--out", str(everything)).returncode == 0
    assert len(pd.read_csv(everything, comment="#")) >= len(got)
