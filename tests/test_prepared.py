"""Validate once: a validated dataset is prepared once and reopened while its files are unchanged (prepared.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import Builder

import heatmap_lib as hm
from heatmap_lib.cli import main as cli
from heatmap_lib.core.exceptions import ValidationError
from heatmap_lib.data import prepared, prepared_cache
from heatmap_lib.data.loading import LOAD_STATS


def _data(tmp_path: Path) -> Path:
    b = Builder()
    for i in range(1, 4):
        a = b.account(f"A{i}", value=1000 * i)
        for k in range(3):
            b.invite(b.contact(a, "decision_maker" if k == 0 else "day_to_day"), (i + k * 3) % 11)
    return b.write(tmp_path / "data")


def _counts() -> tuple[int, int]:
    return LOAD_STATS["validated"], LOAD_STATS["reused"]


def test_an_unchanged_dataset_is_not_validated_again(tmp_path: Path) -> None:
    data = _data(tmp_path)
    validated, reused = _counts()
    first = hm.load(data, cache=tmp_path / "cache")
    assert _counts() == (validated + 1, reused)
    again = hm.load(data, cache=tmp_path / "cache")
    assert _counts() == (validated + 1, reused + 1)  # the validation step was skipped
    assert again.rows == first.rows and again.account_columns == first.account_columns
    assert again.fingerprint() == hm.load(data, cache=False).fingerprint()
    assert hm.account_summary(again).equals(hm.account_summary(hm.load(data, cache=False)))
    assert len(prepared.entries(tmp_path / "cache")) == 1


def test_a_changed_source_is_validated_again_and_its_planted_error_found(tmp_path: Path) -> None:
    data = _data(tmp_path)
    hm.load(data, cache=tmp_path / "cache")
    invitations = data / "invitations.csv"
    text = invitations.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[2].rstrip("\n").split(",")
    fields[header.index("score")] = "99"  # same length as a two-digit score? keep the size honest below
    lines[2] = ",".join(fields) + "\n"
    invitations.write_text("".join(lines), encoding="utf-8")
    validated, reused = _counts()
    with pytest.raises(ValidationError) as err:
        hm.load(data, cache=tmp_path / "cache")
    assert _counts() == (validated + 1, reused)
    assert "invitations.csv line 3" in str(err.value) and "score = '99'" in str(err.value)


def test_a_change_that_keeps_size_and_modification_time_is_still_seen(tmp_path: Path) -> None:
    data = _data(tmp_path)
    accounts = data / "accounts.csv"
    hm.load(data, cache=tmp_path / "cache")
    before = accounts.stat()
    accounts.write_bytes(accounts.read_bytes().replace(b"West", b"East", 1))  # same size
    os.utime(accounts, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old modification time
    assert accounts.stat().st_size == before.st_size and accounts.stat().st_mtime_ns == before.st_mtime_ns
    validated, _ = _counts()
    ds = hm.load(data, cache=tmp_path / "cache")
    assert _counts()[0] == validated + 1
    assert "East" in set(hm.account_summary(ds)["region"])


def test_a_new_table_file_invalidates_the_prepared_copy(tmp_path: Path) -> None:
    data = _data(tmp_path)
    hm.load(data, cache=tmp_path / "cache")
    (data / "renewals.csv").write_text("account_id,renewal_date,outcome\nA9,2026-01-01,renewed\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="A9"):
        hm.load(data, cache=tmp_path / "cache")


def test_the_cache_folder_comes_from_the_environment_and_the_cli_lists_and_clears_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    monkeypatch.setenv(prepared.CACHE_ENV, str(tmp_path / "env-cache"))
    assert prepared.cache_dir() == tmp_path / "env-cache"
    hm.load(data)
    assert cli.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "1 prepared dataset in" in out and str(data.resolve()) in out and "3 accounts" in out
    assert cli.main(["cache", "clear"]) == 0
    assert "removed 1 prepared dataset" in capsys.readouterr().err
    assert prepared.entries() == []
    validated, _ = _counts()
    hm.load(data)
    assert _counts()[0] == validated + 1  # cleared: validated again


def test_quarantine_loads_and_explicit_databases_bypass_the_cache(tmp_path: Path) -> None:
    data = _data(tmp_path)
    hm.load(data, on_error="quarantine", quarantine_dir=tmp_path / "q", cache=tmp_path / "cache")
    hm.load(data, database=None, cache=tmp_path / "cache")
    assert prepared.entries(tmp_path / "cache") == []


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import heatmap_lib as hm
    from heatmap_lib.data.loading import LOAD_STATS

    data, cache, me, other = sys.argv[1:]
    ds = hm.load(data, cache=cache)
    Path(me).touch()
    deadline = time.monotonic() + 120
    while not Path(other).exists():  # both processes hold the prepared copy open before either reads
        if time.monotonic() > deadline:
            sys.exit("the other process never opened the data")
        time.sleep(0.01)
    summary = hm.account_summary(ds)
    print(json.dumps({"stats": LOAD_STATS, "nps": summary["nps"].round(6).tolist()}))
    """
)


def test_two_processes_read_one_prepared_dataset_at_once(tmp_path: Path) -> None:
    import json

    data = _data(tmp_path)
    mine = hm.load(data, cache=tmp_path / "cache")  # prepared here, and kept open while the others read
    expected = hm.account_summary(mine)["nps"].round(6).tolist()
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(hm.__file__).parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(data), str(tmp_path / "cache"), str(tmp_path / a), str(tmp_path / b)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for a, b in (("ready-1", "ready-2"), ("ready-2", "ready-1"))
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result["stats"] == {"validated": 0, "reused": 1}
        assert result["nps"] == expected


def test_a_copy_prepared_by_another_loader_version_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(tmp_path)
    hm.load(data, cache=tmp_path / "cache")
    monkeypatch.setattr(prepared_cache, "loader_version", lambda: "other rules")
    validated, _ = _counts()
    hm.load(data, cache=tmp_path / "cache")
    assert _counts()[0] == validated + 1
    assert len(prepared.entries(tmp_path / "cache")) == 1  # the older copy was replaced


def test_no_room_for_the_prepared_copy_still_loads_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(tmp_path)

    def full_disk(*args: object, **kw: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepared_cache, "publish", full_disk)
    ds = hm.load(data, cache=tmp_path / "cache")
    assert len(hm.account_summary(ds)) == 3 and ds._sidecar is None
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # nothing half-written is left
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    assert len(hm.account_summary(hm.load(data, cache=blocked))) == 3


def test_the_cache_drops_copies_of_vanished_datasets_and_keeps_to_its_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first, second, third = (_data(tmp_path / name) for name in ("first", "second", "third"))
    hm.load(first, cache=cache)
    hm.load(second, cache=cache)
    assert sorted(Path(e["source"]).parent.name for e in prepared.entries(cache)) == ["first", "second"]
    shutil.rmtree(first)  # a scratch dataset deleted: its prepared copy goes with the next new copy
    hm.load(third, cache=cache)
    assert sorted(Path(e["source"]).parent.name for e in prepared.entries(cache)) == ["second", "third"]
    # past the size limit the least recently opened copies go, never the one just made
    os.utime(next(cache.glob("*/*.duckdb.json")), (1, 1))  # whichever is first: make it the least recently opened
    oldest = min(prepared.entries(cache), key=lambda e: e["opened"])["source"]
    one = max(e["bytes"] for e in prepared.entries(cache))
    newer = max(prepared.entries(cache), key=lambda e: e["opened"])["source"]
    monkeypatch.setenv(prepared.MAX_ENV, str(2.5 * one / 1e9))  # room for two copies, not three
    fourth = _data(tmp_path / "fourth")
    hm.load(fourth, cache=cache)
    left = sorted(e["source"] for e in prepared.entries(cache))
    assert left == sorted([newer, str(fourth.resolve())]) and oldest not in left
    validated, reused = _counts()
    hm.load(fourth, cache=cache)  # the copy kept is still reused
    assert _counts() == (validated, reused + 1)
