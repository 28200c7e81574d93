"""`heatmap plays ...` end to end through the command line's entry point, on a real store and the demo data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.cli.main import main
from heatmap_lib.data.plays import PlayStore


def test_add_update_list_export_import(demo: hm.Dataset, demo_dir: Path, tmp_path: Path, capsys) -> None:
    ws = str(tmp_path / "ws")
    account = str(hm.account_summary(demo)["account_id"].iloc[0])
    assert main(["plays", "add", account, "executive_sponsor", "--owner", "Dana", "--due", "2020-01-01",
                 "--workspace", ws, "--data", str(demo_dir)]) == 0  # fmt: skip
    pid = capsys.readouterr().out.strip()
    assert PlayStore(ws).get(pid)["account_id"] == account
    # an account the data does not have is refused, naming it
    assert main(["plays", "add", "NOPE", "escalation", "--owner", "Dana", "--workspace", ws,
                 "--data", str(demo_dir)]) == 2  # fmt: skip
    assert "'NOPE' is not an account of" in capsys.readouterr().err

    assert main(["plays", "list", "--status", "overdue", "--workspace", ws, "--data", str(demo_dir),
                 "--out", str(tmp_path / "late.csv")]) == 0  # fmt: skip
    late = pd.read_csv(tmp_path / "late.csv", comment="#")
    assert late["play_id"].tolist() == [pid] and late["group"].notna().all()  # grouped by account manager

    # closing before it was created is refused; closing today works
    assert main(["plays", "update", pid, "--status", "done", "--closed", "2020-02-01", "--workspace", ws]) == 2
    assert "is before created_at" in capsys.readouterr().err
    assert main(["plays", "update", pid, "--status", "done", "--workspace", ws]) == 0
    assert main(["plays", "export", str(tmp_path / "all.csv"), "--workspace", ws]) == 0
    other = str(tmp_path / "ws2")
    assert main(["plays", "import", str(tmp_path / "all.csv"), "--workspace", other]) == 0
    assert PlayStore(other).get(pid)["closed_at"] == dt.date.today().isoformat()


def test_malformed_import_exits_non_zero_and_writes_nothing(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,play,owner,status,created_at\nA1,escalation,Dana,maybe,2026-01-01\n")
    assert main(["plays", "import", str(bad), "--workspace", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err
    assert "line 2: column status: 'maybe' is not a status" in err or "1 problems" in err
    assert len(PlayStore(tmp_path / "ws")) == 0


def test_suggest_and_learn_on_demo_plays(tmp_path: Path, capsys) -> None:
    data = tmp_path / "demo"
    assert main(["demo", "--out", str(data), "--accounts", "300", "--workspace", str(tmp_path / "ws")]) == 0
    capsys.readouterr()
    assert main(["plays", "suggest", str(data), "--workspace", str(tmp_path / "ws"),
                 "--out", str(tmp_path / "s.csv")]) == 0  # fmt: skip
    suggested = pd.read_csv(tmp_path / "s.csv", comment="#")
    assert {"recruit_decision_makers", "executive_sponsor", "recruit_contacts"} <= set(suggested["play"])
    assert main(["plays", "learn", str(data), "--workspace", str(tmp_path / "ws"),
                 "--out", str(tmp_path / "e.csv")]) == 0  # fmt: skip
    effects = pd.read_csv(tmp_path / "e.csv", comment="#")
    assert set(effects["metric"]) == {"nps", "response_rate"}
    assert "plays not measured" in capsys.readouterr().err  # exclusions are said, with reasons


@pytest.mark.parametrize("action", ["add", "update", "list", "import", "export", "suggest", "learn"])
def test_every_action_has_help(action: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["plays", action, "--help"])
    assert info.value.code == 0 and "--workspace" in capsys.readouterr().out
