"""The actions store (a real SQLite file), its CSV import and export, suggestions and the read-only views."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
from pathlib import Path

import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.data.plays import (
    COLUMNS,
    PlaysError,
    PlayStore,
    open_plays,
    play_counts,
    play_hover_text,
)
from heatmap_lib.metrics.suggestions import Rule, load_rules, suggestions
from heatmap_lib.views.xray_view import plays_section

D = dt.date


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = PlayStore(tmp_path / "ws")
    pid = store.add(
        "A1", "executive_sponsor", "Dana", due=D(2026, 12, 1), notes="line one\nline two", created=D(2026, 11, 1)
    )
    got = store.get(pid)
    assert got == {
        "play_id": pid,
        "account_id": "A1",
        "play": "executive_sponsor",
        "owner": "Dana",
        "due_date": "2026-12-01",
        "status": "open",
        "notes": "line one\nline two",
        "created_at": "2026-11-01",
        "closed_at": None,
        "suggested_by": "",
    }
    # a second store object on the same folder sees it: the file is the store
    frame = PlayStore(tmp_path / "ws").frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame.loc[0, "due_date"] == D(2026, 12, 1) and frame.loc[0, "closed_at"] is None
    assert (tmp_path / "ws" / "plays.sqlite").is_file()


def test_update_closes_and_reopens(tmp_path: Path) -> None:
    store = PlayStore(tmp_path)
    pid = store.add("A1", "business_review", "Dana", created=D(2026, 1, 5))
    done = store.update(pid, status="done", closed=D(2026, 2, 1), notes="went well")
    assert (done["status"], done["closed_at"], done["notes"]) == ("done", "2026-02-01", "went well")
    reopened = store.update(pid, status="in_progress")
    assert reopened["closed_at"] is None
    with pytest.raises(PlaysError, match="closed_at: 2025-01-01 is before created_at 2026-01-05"):
        store.update(pid, status="done", closed=D(2025, 1, 1))
    assert store.get(pid)["status"] == "in_progress"  # the failed update changed nothing
    with pytest.raises(PlaysError, match="'finished' is not a status"):
        store.update(pid, status="finished")
    with pytest.raises(PlaysError, match="no play 'P-nope'"):
        store.update("P-nope", status="done")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"account_id": ""}, "column account_id: empty"),
        ({"owner": "  "}, "column owner: empty"),
        ({"play": "x" * 81}, "column play: 81 characters"),
        ({"play": "two\nlines"}, "column play: 'two\\\\nlines' has a line break"),
        ({"due": "next week"}, "column due_date: 'next week' is not a date"),
        ({"status": "done", "created": D(2026, 3, 1), "closed": D(2026, 2, 1)}, "before created_at"),
    ],
)
def test_add_refuses_a_bad_play(tmp_path: Path, kwargs: dict, message: str) -> None:
    store = PlayStore(tmp_path)
    args = {"account_id": "A1", "play": "escalation", "owner": "Dana"}
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(PlaysError, match=message):
        store.add(args["account_id"], args["play"], args["owner"], **kwargs)
    assert len(store) == 0


def test_csv_export_import_round_trip(tmp_path: Path) -> None:
    a = PlayStore(tmp_path / "a")
    a.add("A1", "recruit_contacts", "Dana", due=D(2026, 12, 1), notes='quote " comma , newline\nend')
    a.add("A2", "Our own play", "Lee", status="done", created=D(2026, 1, 1), closed=D(2026, 2, 1))
    a.add("A3", "escalation", "Kim", suggested_by="hidden risk")
    path = a.export_csv(tmp_path / "plays.csv")
    b = PlayStore(tmp_path / "b")
    result = b.import_csv(path)
    assert (result.added, result.updated) == (3, 0)
    pd.testing.assert_frame_equal(a.frame(), b.frame())
    # importing the same file again updates by play_id instead of duplicating
    again = b.import_csv(path)
    assert (again.added, again.updated) == (0, 3) and len(b) == 3


def test_import_without_play_ids_adds_and_accepts_bom(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_bytes(
        "\ufeffaccount_id,play,owner,status,created_at,closed_at\n"
        "A1,business_review,Dana,done,2026-01-01,2026-01-20\n"
        "A2,escalation,Lee,open,2026-02-01,\n".encode()
    )
    store = PlayStore(tmp_path / "ws")
    assert store.import_csv(path).added == 2
    f = store.frame().set_index("account_id")
    assert f.loc["A1", "closed_at"] == D(2026, 1, 20) and f.loc["A2", "status"] == "open"
    assert f["play_id"].str.startswith("P-").all()


def test_malformed_import_is_rejected_whole_with_every_problem_named(tmp_path: Path) -> None:
    store = PlayStore(tmp_path / "ws")
    keep = store.add("A0", "escalation", "Dana")
    path = tmp_path / "bad.csv"
    path.write_text(
        "play_id,account_id,play,owner,status,created_at,closed_at\n"
        "P-1,A1,business_review,Dana,done,2026-01-01,2026-01-20\n"  # fine
        'P-2,A2,"multi\nline note?",Lee,open,2026-02-01,\n'  # line 3: a play name may not span lines
        "P-3,A3,escalation,Kim,finished,2026-02-01,\n"  # line 5
        "P-4,A4,escalation,Kim,done,2026-02-30,\n"  # line 6: not a date, and a done play needs closed_at
        "P-1,A5,escalation,,open,2026-02-01,\n",  # line 7: repeated id, empty owner
        encoding="utf-8",
    )
    with pytest.raises(PlaysError) as info:
        store.import_csv(path, known_accounts=["A0", "A1", "A2", "A3", "A4"])
    msg = str(info.value)
    assert "nothing was imported" in msg
    for part in [
        "line 3: column play: 'multi\\nline note?' has a line break",
        "line 5: column status: 'finished' is not a status",
        "line 6: column created_at: '2026-02-30' is not a date",
        "line 6: column closed_at: empty, and a done play needs the date it was closed",
        "line 7: column owner: empty",
        "line 7: column account_id: 'A5' is not an account of the data",
        "line 7: column play_id: 'P-1' repeats line 2",
    ]:
        assert part in msg, part
    assert len(info.value.problems) == 7
    assert store.frame()["play_id"].tolist() == [keep]  # nothing half-written


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"account_id,play,owner\nA1,x,y\n", "missing column(s) status, created_at"),
        (b"account_id,play,owner,status,created_at,colour\n", "unknown column(s) 'colour'"),
        (b"account_id,play,owner,status,created_at\nA1,x,y,open\n", "line 2: 4 fields where the header has 5"),
        ("account_id,play,owner,status,created_at\nA1,é,y,open,2026-01-01\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unreadable_csv_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    with pytest.raises(PlaysError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PlayStore(tmp_path / "ws").import_csv(path)


def _writer(workspace: str, who: str, n: int) -> None:
    store = PlayStore(workspace)
    for i in range(n):
        pid = store.add(f"A{i % 7}", "business_review", who, notes=f"{who} {i}")
        if i % 5 == 0:
            store.update(pid, status="done")


def test_two_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    PlayStore(ws)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(ws, who, 150)) for who in ("one", "two")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    frame = PlayStore(ws).frame()
    assert len(frame) == 300 and frame["play_id"].is_unique
    for who in ("one", "two"):
        mine = frame[frame["owner"] == who]
        assert sorted(mine["notes"]) == sorted(f"{who} {i}" for i in range(150))
        assert (mine["status"] == "done").sum() == 30


def test_workspace_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "ws").write_text("x")
    with pytest.raises(PlaysError, match="is a file, not a folder"):
        PlayStore(tmp_path / "ws")


def _plays(rows: list[dict]) -> pd.DataFrame:
    base = {"play_id": "", "owner": "Dana", "notes": "", "suggested_by": "", "closed_at": None, "due_date": None}
    return pd.DataFrame([{**base, "created_at": D(2026, 1, 1), **r} for r in rows], columns=list(COLUMNS))


def test_open_plays_overdue_and_counts() -> None:
    plays = _plays(
        [
            {"play_id": "p1", "account_id": "A1", "play": "escalation", "status": "open", "due_date": D(2026, 3, 1)},
            {"play_id": "p2", "account_id": "A1", "play": "x", "status": "in_progress", "due_date": D(2026, 4, 1)},
            {"play_id": "p3", "account_id": "A2", "play": "x", "status": "done", "closed_at": D(2026, 2, 1)},
            {"play_id": "p4", "account_id": "A3", "play": "x", "status": "open"},
        ]
    )
    accounts = pd.DataFrame(
        {"account_id": ["A1", "A3"], "account_name": ["One", "Three"], "account_manager": ["M", "N"]}
    )
    o = open_plays(plays, accounts, as_of=D(2026, 3, 15))
    assert o["play_id"].tolist() == ["p1", "p2", "p4"]
    assert o["overdue"].tolist() == [True, False, False]
    assert o["days_overdue"].tolist()[0] == 14 and o["group"].tolist() == ["M", "M", "N"]
    counts = play_counts(plays, as_of=D(2026, 3, 15)).set_index("account_id")
    assert counts.loc["A1"].tolist() == [2, 1] and counts.loc["A3"].tolist() == [1, 0] and "A2" not in counts.index
    hover = play_hover_text(plays, as_of=D(2026, 3, 15))
    assert hover.to_dict() == {"A1": "2 open (1 overdue)", "A3": "1 open"}


def test_plays_html_escapes_customer_text() -> None:
    payload = "<img src=x onerror=alert(1)>"
    plays = _plays([{"account_id": "A1", "play": payload, "status": "open", "owner": payload, "notes": payload}])
    page = plays_section(plays, as_of=D(2026, 1, 2))
    assert "<img" not in page and page.count("&lt;img src=x onerror=alert(1)&gt;") == 3
    assert "No play recorded" in plays_section(plays.iloc[0:0])


def test_rules_file_of_the_repo_loads_and_bad_rules_are_named(tmp_path: Path) -> None:
    rules = load_rules()
    assert [r.name for r in rules] == ["revenue at risk", "silent", "expansion", "hidden risk"]
    bad = tmp_path / "r.yaml"
    for text, message in [
        ("rules: [{when: {quadrant: upper_left}, suggest: [x]}]", "quadrant: 'upper_left' is not one of"),
        ("rules: [{when: {mood: sad}, suggest: [x]}]", "unknown condition 'mood'"),
        ("rules: [{when: {band: red}}]", "`suggest` must be a play"),
        ("rules: [{when: {band: red}, suggest: [x], colour: 1}]", "unknown key"),
        ("!!python/object:os.system ls", "not valid YAML"),
        ("other: 1", "one key, `rules`"),
    ]:
        bad.write_text(text)
        with pytest.raises(PlaysError, match=message):
            load_rules(bad)


def test_suggestions_on_the_demo_follow_the_rules(demo: hm.Dataset) -> None:
    summary = hm.account_summary(demo)
    flags = hm.role_flags(demo, summary=summary)
    rules = load_rules()
    got = suggestions(summary, rules, flags=flags)
    quadrant = hm.classify_quadrants(summary).set_axis(summary["account_id"])
    risky = set(quadrant[quadrant == "revenue_at_risk"].index)
    assert risky, "the demo plants revenue-at-risk accounts"
    by_play = got.groupby("play")["account_id"].apply(set)
    assert by_play["recruit_decision_makers"] == risky and by_play["executive_sponsor"] == risky
    assert by_play["expansion_conversation"] == set(quadrant[quadrant == "expansion"].index)
    assert by_play["recruit_contacts"] == set(summary.loc[summary["band"] == "gray", "account_id"])
    assert by_play["decision_maker_meeting"] == set(flags.loc[flags["hidden_risk"], "account_id"])
    assert not got.duplicated(["account_id", "play"]).any()
    # an adopted suggestion is marked, not repeated
    one = next(iter(risky))
    plays = _plays([{"account_id": one, "play": "executive_sponsor", "status": "open"}])
    marked = suggestions(summary, rules, flags=flags, plays=plays)
    hit = marked[(marked["account_id"] == one) & (marked["play"] == "executive_sponsor")]
    assert hit["open_already"].tolist() == [True] and marked["open_already"].sum() == 1


def test_rule_matches_every_condition() -> None:
    rule = Rule("r", {"band": "red", "flag": "hidden_risk"}, ("escalation",))
    assert rule.matches("", "red", {"hidden_risk"})
    assert not rule.matches("", "red", set()) and not rule.matches("", "green", {"hidden_risk"})
