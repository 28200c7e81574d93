"""The learning loop: each play type's effect against comparable accounts without a play."""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.data.demo import DemoData, generate, write_tables
from heatmap_lib.metrics.learning import EFFECT_COLUMNS, MIN_ACCOUNTS, account_waves, play_effects, play_outcomes

D = datetime.date
WEIGHTS = Path(__file__).parent.parent / "params" / "renewal_weights.yaml"
PLAY = {"owner": "Ann", "due_date": None, "notes": "", "suggested_by": ""}


def plays_frame(*rows: tuple[str, str, str, str, D | None, D | None]) -> pd.DataFrame:
    """Plays from (play_id, account_id, play, status, created_at, closed_at) rows, the rest filled in."""
    cols = ["play_id", "account_id", "play", "status", "created_at", "closed_at"]
    return pd.DataFrame([{**dict(zip(cols, r, strict=True)), **PLAY} for r in rows])


# --------------------------------------------------------------------------------------------------
# the demo: every planted effect is found, nothing else is


@pytest.fixture(scope="module")
def demo_data() -> DemoData:
    return generate(1500, seed=7)


@pytest.fixture(scope="module")
def demo_ds(demo_data: DemoData, tmp_path_factory: pytest.TempPathFactory) -> hm.Dataset:
    tables = {k: demo_data.tables[k] for k in ("accounts", "contacts", "invitations")}
    return hm.load(write_tables(tables, tmp_path_factory.mktemp("plays-demo"), "parquet"))


def test_demo_effects_recover_the_planted_truth(demo_data, demo_ds):
    eff = play_effects(demo_ds, demo_data.plays)
    assert tuple(eff.columns) == EFFECT_COLUMNS
    assert set(eff.metric) == {"nps", "response_rate"}  # no renewal weights: no renewal risk
    assert any("renewal_risk not measured" in n for n in eff.attrs["notes"])
    assert set(eff.play) == set(demo_data.plays.play)  # every play type has its rows, measurable or not
    truth = demo_data.play_truth.rename(columns={"effect": "truth", "plays": "truth_plays"})
    judged = eff.merge(truth, on=["play", "metric"])
    judged = judged[judged.verdict != "too few"]
    assert set(judged.play) == {
        "executive_sponsor",
        "recruit_contacts",
        "business_review",
        "escalation",
        "expansion_conversation",
    }
    for r in judged.itertuples():
        assert r.low <= r.truth <= r.high, r  # the realised effect lies within the 95% interval
        if r.planted:
            assert r.verdict == "helps" and r.low > 0, r
        else:
            assert r.verdict == "no clear effect" and r.low <= 0 <= r.high, r
        assert r.treated_accounts >= 40 and r.comparison_accounts >= 500, r
    few = eff[eff.play == "Roadmap webinar"]  # a team's own play type, run twice
    assert (few.verdict == "too few").all() and (few.treated_accounts < MIN_ACCOUNTS).all()


def test_demo_exclusions_are_counted_and_listed(demo_data, demo_ds):
    eff = play_effects(demo_ds, demo_data.plays)
    counts, excluded = eff.attrs["counts"], eff.attrs["excluded"]
    p = demo_data.plays
    assert counts["plays"] == len(p)
    for status in ("done", "cancelled", "open", "in_progress"):
        assert counts[status] == (p.status == status).sum()
    whole = excluded[excluded.metric == "all"]
    not_done = p[p.status != "done"]
    assert set(not_done.play_id) <= set(whole.play_id)
    cancelled = not_done.play_id[not_done.status == "cancelled"]
    assert (whole.set_index("play_id").reason.reindex(cancelled) == "cancelled").all()
    assert whole.reason.str.startswith("no wave after").any()  # done after the last wave: not measurable yet
    assert (excluded[excluded.metric == "nps"].reason.str.startswith("no response")).all()
    # per type and metric: measured + not measured = all plays of the type
    per_type = p.play.value_counts()
    assert ((eff.plays + eff.excluded) == eff.play.map(per_type)).all()
    assert counts["used"]["nps"] == eff[eff.metric == "nps"].plays.sum()


def test_demo_outcomes_are_what_the_effects_average(demo_data, demo_ds):
    out = play_outcomes(demo_ds, demo_data.plays)
    eff = play_effects(demo_ds, demo_data.plays).set_index(["play", "metric"])
    assert len(out) == len(demo_data.plays) and out.play_id.tolist() == demo_data.plays.play_id.tolist()
    sponsor = out[(out.play == "executive_sponsor") & out.nps_effect.notna()]
    assert sponsor.nps_effect.mean() == pytest.approx(eff.loc[("executive_sponsor", "nps"), "effect"])
    assert (sponsor.nps_effect == sponsor.nps_change - sponsor.nps_comparable_change).all()
    assert (out.used == out.reason.eq("") | out.nps_effect.notna() | out.response_rate_effect.notna()).all()
    assert not out.loc[demo_data.plays.status != "done", "used"].any()


# --------------------------------------------------------------------------------------------------
# a hand-built dataset: the waves chosen, the comparable accounts, the exclusions


W1, W2, W3 = "2026-Q1", "2026-Q2", "2026-Q3"
S1, S2, S3 = "2026-01-10", "2026-04-10", "2026-07-10"


@pytest.fixture
def small(builder, tmp_path):
    b = builder

    def scores(account: str, wave: str, sent: str, values: list[int | None]) -> None:
        b.scores(account, "day_to_day", values, wave=wave, sent_at=sent)

    for acc in ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "C1", "C2", "C3", "C4", "C5", "C6", "C7"):
        b.account(acc)
    b.account("X1", tier="Silver")
    # T1: executive sponsor between W1 and W2 (yellow, NPS 0 -> 75; answers 4/5 -> 4/4)
    scores("T1", W1, S1, [6, 7, 8, 9, None])
    scores("T1", W2, S2, [9, 9, 9, 7])
    # comparables: Gold, yellow in W1, no play around their waves
    scores("C1", W1, S1, [6, 9])
    scores("C1", W2, S2, [6, 9, 8, 7])
    scores("C1", W3, S3, [9, 9])
    scores("C2", W1, S1, [7, 8])
    scores("C2", W2, S2, [9, 8, None])
    scores("C2", W3, S3, [9])
    scores("C3", W1, S1, [6, 9, 7])
    scores("C3", W2, S2, [6, 6, 9])
    scores("C3", W3, S3, [6])
    scores("C5", W1, S1, [7, 8])  # an open play begins after its W2 survey: a comparable for W1 -> W2 only
    scores("C5", W2, S2, [7, 8])
    scores("C5", W3, S3, [7, 8])
    # not comparable: another tier, a cancelled play in the gap, another band
    scores("X1", W1, S1, [7, 8])
    scores("X1", W2, S2, [9, 9])
    scores("C4", W1, S1, [7])
    scores("C4", W2, S2, [7])
    scores("C4", W3, S3, [7])
    scores("C6", W1, S1, [9, 9])
    scores("C6", W2, S2, [6, 6])
    # T2: play before any wave; T3: play after the last wave it could be measured in (red in W1)
    scores("T2", W1, S1, [9, 9, 6])
    scores("T2", W2, S2, [9])
    scores("T3", W1, S1, [6, 6])
    scores("T3", W2, S2, [6])
    scores("T3", W3, S3, [6])
    # T4: play created while W2 was still being sent: waves W1 -> W3
    scores("T4", W1, S1, [7, 8])
    scores("T4", W2, S2, [9])
    scores("T4", W2, "2026-04-15", [9])
    scores("T4", W3, S3, [9, 9])
    # T5: nobody answered before the play (gray); C7 is gray too
    scores("T5", W1, S1, [None, None])
    scores("T5", W2, S2, [9, None])
    scores("C7", W1, S1, [None])
    scores("C7", W2, S2, [None, 9])
    # T6: two plays in one gap; T7: done without a closing date
    scores("T6", W1, S1, [7, 8])
    scores("T6", W2, S2, [7, 8])
    scores("T7", W1, S1, [7, 8])
    scores("T7", W2, S2, [7, 8])
    ds = b.load(tmp_path / "small")
    plays = plays_frame(
        ("P1", "T1", "executive_sponsor", "done", D(2026, 2, 1), D(2026, 3, 1)),
        ("P2", "T2", "executive_sponsor", "done", D(2026, 1, 5), D(2026, 1, 8)),
        ("P3", "T3", "escalation", "done", D(2026, 5, 1), D(2026, 8, 1)),
        ("P4", "C4", "escalation", "cancelled", D(2026, 2, 10), D(2026, 2, 20)),
        ("P5", "C5", "business_review", "open", D(2026, 4, 12), None),
        ("P6", "T4", "executive_sponsor", "done", D(2026, 4, 12), D(2026, 5, 1)),
        ("P7", "NOPE", "escalation", "done", D(2026, 2, 1), D(2026, 3, 1)),
        ("P8", "T5", "recruit_contacts", "done", D(2026, 2, 1), D(2026, 3, 1)),
        ("P9", "T6", "business_review", "done", D(2026, 2, 1), D(2026, 2, 10)),
        ("P10", "T6", "Lunch & learn", "done", D(2026, 2, 15), D(2026, 3, 1)),
        ("P11", "T7", "business_review", "done", D(2026, 2, 1), None),
        ("P12", "T7", "business_review", "in_progress", D(2026, 9, 1), None),
    )
    return ds, plays


def test_waves_before_and_after_and_the_matched_comparison(small):
    ds, plays = small
    out = play_outcomes(ds, plays).set_index("play_id")
    p1 = out.loc["P1"]
    assert (p1.wave_before, p1.wave_after, p1.band_before, p1.tier) == (W1, W2, "yellow", "Gold")
    assert p1.comparable_accounts == 4  # C1, C2, C3, C5
    assert (p1.nps_before, p1.nps_after, p1.nps_change) == (0.0, 75.0, 75.0)
    comparable = (0 + 50 - 100 / 3 + 0) / 4
    assert p1.nps_comparable_change == pytest.approx(comparable)
    assert p1.nps_effect == pytest.approx(75 - comparable)
    assert p1.response_rate_change == pytest.approx(1.0 - 0.8)
    assert p1.response_rate_effect == pytest.approx(0.2 - (-1 / 3) / 4)
    assert p1.used and p1.reason == ""
    # a wave still being sent when the play began is not the wave before; W2 was sent before it closed
    p6 = out.loc["P6"]
    assert (p6.wave_before, p6.wave_after) == (W1, W3)
    assert p6.comparable_accounts == 3  # C1-C3: C5's open play and C4's cancelled one fall between W1 and W3
    assert p6.nps_effect == pytest.approx(100 - (100 + 100 - 100) / 3)
    # matching on nothing but the band lets the Silver account in
    loose = play_outcomes(ds, plays, match_on=()).set_index("play_id")
    assert loose.loc["P1", "comparable_accounts"] == 5
    assert "tier" not in loose.columns


def test_every_left_out_play_has_its_reason(small):
    ds, plays = small
    out = play_outcomes(ds, plays).set_index("play_id")
    reasons = out.reason.to_dict()
    assert reasons["P2"].startswith("no wave before")
    assert reasons["P3"].startswith("no wave after")
    assert reasons["P4"] == "cancelled"
    assert reasons["P5"] == "not closed (status open)"
    assert reasons["P12"] == "not closed (status in_progress)"
    assert reasons["P7"] == "account not in the dataset"
    assert reasons["P9"] == reasons["P10"] == "another play on the account is active between its waves"
    assert reasons["P11"] == "done without a closed_at"
    # T5 was silent before: no NPS change, but its response rate is compared with the other silent account
    assert reasons["P8"] == "nps: no response in the wave before"
    assert out.loc["P8", "used"] and out.loc["P8", "comparable_accounts"] == 1
    assert out.loc["P8", "response_rate_effect"] == pytest.approx(0.5 - 0.5)
    excluded = play_effects(ds, plays).attrs["excluded"]
    assert set(excluded.play_id) == {"P2", "P3", "P4", "P5", "P7", "P8", "P9", "P10", "P11", "P12"}
    assert excluded.set_index("play_id").loc["P8", "metric"] == "nps"
    assert (excluded.set_index("play_id").drop("P8").metric == "all").all()
    counts = play_effects(ds, plays).attrs["counts"]
    assert counts["cancelled"] == 1 and counts["open"] == 1 and counts["in_progress"] == 1
    assert counts["used"] == {"nps": 2, "response_rate": 3}


def test_effects_per_type_with_too_few_accounts(small):
    ds, plays = small
    eff = play_effects(ds, plays).set_index(["play", "metric"])
    sponsor = eff.loc[("executive_sponsor", "nps")]
    assert sponsor.plays == 2 and sponsor.treated_accounts == 2 and sponsor.excluded == 1  # P2
    assert sponsor.effect == pytest.approx(((75 - (50 - 100 / 3) / 4) + (100 - 100 / 3)) / 2)
    assert sponsor.verdict == "too few" and sponsor.comparison_accounts == 4
    assert eff.loc[("Lunch & learn", "nps"), "verdict"] == "too few"
    assert eff.loc[("Lunch & learn", "nps"), "plays"] == 0
    order = list(dict.fromkeys(eff.index.get_level_values("play")))
    assert order == ["recruit_contacts", "executive_sponsor", "business_review", "escalation", "Lunch & learn"]


def test_renewal_risk_is_measured_with_weights(small):
    ds, plays = small
    out = play_outcomes(ds, plays, renewal_weights=WEIGHTS)
    assert {"renewal_risk_before", "renewal_risk_after", "renewal_risk_effect"} <= set(out.columns)
    p1 = out.set_index("play_id").loc["P1"]
    assert 0 <= p1.renewal_risk_before <= 100 and p1.renewal_risk_effect == pytest.approx(
        p1.renewal_risk_change - p1.renewal_risk_comparable_change
    )
    eff = play_effects(ds, plays, renewal_weights=WEIGHTS)
    assert "renewal_risk" in set(eff.metric)
    assert not any("not measured" in n for n in eff.attrs["notes"])


def test_bad_inputs_are_refused(small):
    ds, plays = small
    with pytest.raises(HeatmapError, match="missing column"):
        play_effects(ds, plays.drop(columns=["closed_at"]))
    with pytest.raises(HeatmapError, match="not an accounts column"):
        play_effects(ds, plays, match_on=("segment",))
    with pytest.raises(HeatmapError, match="DataFrame"):
        play_effects(ds, plays.to_dict("records"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# verdicts


def _verdict_data(builder, tmp_path, rise: list[list[int]]) -> tuple[hm.Dataset, pd.DataFrame]:
    """Five treated accounts (W2 answers from `rise`) and five comparables, all yellow in W1."""
    rows = []
    for i, after in enumerate(rise):
        builder.account(f"T{i}")
        builder.scores(f"T{i}", "day_to_day", [7, 8], wave=W1, sent_at=S1)
        builder.scores(f"T{i}", "day_to_day", after, wave=W2, sent_at=S2)
        rows.append((f"P{i}", f"T{i}", "business_review", "done", D(2026, 2, 1), D(2026, 3, 1)))
    for i, after in enumerate([[7, 8], [7, 9, 6], [8, 8], [9, 6], [7, 7]]):
        builder.account(f"C{i}")
        builder.scores(f"C{i}", "day_to_day", [7, 8], wave=W1, sent_at=S1)
        builder.scores(f"C{i}", "day_to_day", after, wave=W2, sent_at=S2)
    return builder.load(tmp_path / "v"), plays_frame(*rows)


@pytest.mark.parametrize(
    ("rise", "verdict"),
    [
        ([[9, 9], [9, 10], [9, 8], [10, 10], [9, 9, 7]], "helps"),
        ([[6, 5], [3, 6], [6, 8], [0, 6], [6, 6, 7]], "hurts"),
        ([[9, 9], [6, 6], [7, 8], [9, 5], [6, 9]], "no clear effect"),
    ],
)
def test_verdicts(builder, tmp_path, rise, verdict):
    ds, plays = _verdict_data(builder, tmp_path, rise)
    row = play_effects(ds, plays).set_index(["play", "metric"]).loc[("business_review", "nps")]
    assert row.verdict == verdict
    assert row.treated_accounts == 5 and row.comparison_accounts == 5
    assert row.low <= row.effect <= row.high
    assert (row.low > 0) == (verdict == "helps") and (row.high < 0) == (verdict == "hurts")


def test_account_waves_is_one_row_per_account_and_wave(small):
    ds, _ = small
    aw = account_waves(ds)
    assert not aw.duplicated(["account_id", "wave"]).any()
    assert aw.attrs["waves"] == [W1, W2, W3]
    t4 = aw[(aw.account_id == "T4") & (aw.wave == W2)].iloc[0]
    assert (t4.invitations, t4.first_sent, t4.last_sent) == (2, pd.Timestamp(S2), pd.Timestamp("2026-04-15"))
    assert aw.loc[(aw.account_id == "T5") & (aw.wave == W1), "band"].item() == "gray"
