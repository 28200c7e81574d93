"""The demo's plays: the contract of the frame, their place between waves, and the planted effects' footprint."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from heatmap_lib.data.demo import (
    PLAY_COLUMNS,
    PLAY_EFFECTS,
    PLAY_STATUSES,
    PLAY_TYPES,
    REFERENCE_DATE,
    DemoData,
    generate,
)

N = 600


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(N, seed=7)


@pytest.fixture(scope="module")
def without_effects() -> DemoData:
    return generate(N, seed=7, plant_play_effects=False)


def _waves(data: DemoData) -> pd.DataFrame:
    """Per account and wave: first and last send date, and the wave's position."""
    inv = data.tables["invitations"].merge(data.tables["contacts"][["contact_id", "account_id"]], on="contact_id")
    w = inv.groupby(["account_id", "wave"]).sent_at.agg(["min", "max"]).reset_index()
    w["index"] = w.wave.map({x: i for i, x in enumerate(sorted(inv.wave.unique()))})
    return w


def _treated(data: DemoData) -> set[str]:
    """Accounts with a done play of a type that plants an effect."""
    p = data.plays
    return set(p.account_id[(p.status == "done") & p.play.isin(list(PLAY_EFFECTS))])


def test_plays_follow_the_contract(data):
    p, acc = data.plays, data.tables["accounts"].set_index("account_id")
    assert tuple(p.columns) == PLAY_COLUMNS
    assert p.play_id.is_unique and p.play_id.str.fullmatch(r"P\d{5}").all()
    assert p.account_id.isin(acc.index).all()
    assert set(p.status) == set(PLAY_STATUSES)
    assert set(PLAY_TYPES) - {"recruit_decision_makers", "decision_maker_meeting"} <= set(p.play)
    assert (p.owner == acc.account_manager.reindex(p.account_id).to_numpy()).all()
    closed = p.status.isin(["done", "cancelled"])
    assert p.closed_at[closed].notna().all() and p.closed_at[~closed].isna().all()
    for col in ("created_at", "closed_at", "due_date"):
        assert p[col].dropna().map(type).eq(datetime.date).all(), col
    assert (p.created_at < REFERENCE_DATE).all()
    assert (p.closed_at[closed] >= p.created_at[closed]).all() and (p.closed_at[closed] < REFERENCE_DATE).all()
    # realism the learning loop must see through: unfinished, overdue, cancelled, suggested, undated plays
    running = p[p.status.isin(["open", "in_progress"])]
    overdue = running.due_date.map(lambda d: d is not None and d < REFERENCE_DATE)
    assert 0 < overdue.sum() < len(running)
    assert (p.status == "cancelled").sum() >= 5
    assert 0.2 < (p.suggested_by != "").mean() < 0.6 and p.suggested_by.str.startswith("rule:").any()
    assert p.due_date.isna().any() and (p.notes == "").any() and (p.notes != "").mean() > 0.6


def test_plays_go_to_ordinary_surveyed_accounts_between_two_waves(data):
    p, truth = data.plays, data.truth.set_index("account_id")
    assert (truth.planted_story.reindex(p.account_id) == "ordinary").all()
    assert not truth.churned.reindex(p.account_id).any()
    ordinary = truth[(truth.planted_story == "ordinary") & ~truth.churned]
    with_play = p.account_id[p.status.isin(["done", "cancelled"])].nunique() / len(ordinary)
    assert 0.3 < with_play < 0.45
    w = _waves(data)
    last_wave = w["index"].max()
    for row in p[p.status.isin(["done", "cancelled"])].itertuples():
        mine = w[w.account_id == row.account_id]
        before = mine[mine["max"].dt.date < row.created_at]["index"].max()
        after = mine[mine["min"].dt.date > row.closed_at]["index"].min()
        if np.isnan(after):  # closed after the last wave: nothing measures it yet
            assert before == last_wave, row
        else:
            assert after == before + 1, row  # created after one wave's survey, closed before the next one's
    running = p[p.status.isin(["open", "in_progress"])]
    assert (running.created_at > pd.Timestamp(w["max"][w["index"] == last_wave].min()).date()).all()


def test_same_seed_same_plays(data):
    again = generate(N, seed=7)
    pd.testing.assert_frame_equal(data.plays, again.plays)
    pd.testing.assert_frame_equal(data.play_truth, again.play_truth)
    other = generate(N, seed=8)
    assert not data.plays.account_id.equals(other.plays.account_id)


def test_only_treated_accounts_answers_change(data, without_effects):
    """Plays come from their own stream: without effects every table is as before; with them only treated change."""
    for name, df in data.tables.items():
        if name != "invitations":
            pd.testing.assert_frame_equal(df, without_effects.tables[name], obj=name)
    on, off = data.tables["invitations"], without_effects.tables["invitations"]
    pd.testing.assert_series_equal(on.invitation_id, off.invitation_id)
    pd.testing.assert_series_equal(on.sent_at, off.sent_at)
    account = on.contact_id.map(data.tables["contacts"].set_index("contact_id").account_id)
    treated = account.isin(_treated(data))
    pd.testing.assert_frame_equal(on[~treated], off[~treated])
    differs = (on.score.fillna(-1) != off.score.fillna(-1)) | (on.responded_at.isna() != off.responded_at.isna())
    assert differs[treated].sum() > 100
    # answers only change in waves after the account's first done play
    first_done = data.plays[data.plays.status == "done"].groupby("account_id").closed_at.min()
    changed = on[differs]
    assert (changed.sent_at.dt.date.to_numpy() > account[differs].map(first_done).to_numpy()).all()
    t = data.truth.set_index("account_id")
    t0 = without_effects.truth.set_index("account_id")
    pd.testing.assert_frame_equal(t[~t.index.isin(_treated(data))], t0[~t0.index.isin(_treated(data))])
    assert (t.story == t0.story).all()


def test_play_truth_records_the_planted_and_realised_effects(data, without_effects):
    truth = data.play_truth.set_index(["play", "metric"])
    assert set(truth.index.get_level_values("play")) >= set(PLAY_EFFECTS) | {"escalation", "expansion_conversation"}
    for play, (score_shift, logit_shift) in PLAY_EFFECTS.items():
        assert truth.loc[(play, "nps"), "shift"] == score_shift
        assert truth.loc[(play, "response_rate"), "shift"] == logit_shift
    assert 12 < truth.loc[("executive_sponsor", "nps"), "effect"] < 35
    assert truth.loc[("executive_sponsor", "response_rate"), "effect"] == 0  # no response shift: exactly none
    assert 0.08 < truth.loc[("recruit_contacts", "response_rate"), "effect"] < 0.18
    assert truth.loc[("business_review", "nps"), "effect"] > 5
    assert truth.loc[("business_review", "response_rate"), "effect"] > 0.02
    for play in ("escalation", "expansion_conversation"):
        assert (truth.loc[play, "effect"] == 0).all() and not truth.loc[play, "planted"].any()
    assert (truth["planted"] == (truth["shift"] != 0)).all()
    assert (truth.loc[list(PLAY_EFFECTS), "plays"] >= 15).all()
    off = without_effects.play_truth
    assert (off["shift"] == 0).all() and not off["planted"].any() and (off["effect"].dropna() == 0).all()
