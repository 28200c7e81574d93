"""The section 4 metrics on hand-built accounts, every figure computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.metrics.summary import SUMMARY_COLUMNS, Thresholds, derive

# ---- formulas ------------------------------------------------------------------------------------------------


def test_nps_interval_matches_the_published_example():
    low, high = hm.nps_interval(70, 20, 10)
    assert hm.nps(70, 10, 100) == 60.0
    assert (round(low, 2), round(high, 2)) == (45.27, 71.24)


def test_nps_interval_by_hand_for_one_promoter():
    # n' = 4, p' = 1.75/4, d' = 0.75/4, c = 0.25, half = 1.96 * sqrt((0.625 - 0.0625) / 4) = 0.735
    low, high = hm.nps_interval(1, 0, 0)
    assert low == pytest.approx(100 * (0.25 - 1.959963984540054 * 0.375))
    assert high == pytest.approx(100 * (0.25 + 1.959963984540054 * 0.375))


def test_interval_is_clipped_to_the_scale():
    low, high = hm.nps_interval(100, 0, 0)
    assert high == 100.0 and low < 100.0
    low, high = hm.nps_interval(0, 0, 100)
    assert low == -100.0 and high > -100.0


def test_interval_is_none_without_responses():
    assert hm.nps_interval(0, 0, 0) is None
    assert hm.nps(0, 0, 0) is None


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (-100, "red"),
        (-10.01, "red"),
        (-10, "yellow"),
        (0, "yellow"),
        (10, "yellow"),
        (10.01, "green"),
        (100, "green"),
    ],
)
def test_band_edges(score, expected):
    assert hm.band(score, responses=5) == expected


def test_band_is_gray_when_silent_and_thresholds_are_parameters():
    assert hm.band(None, responses=0) == "gray"
    strict = Thresholds(red_below=0, green_above=30)
    assert hm.band(-5, 5, strict) == "red"
    assert hm.band(25, 5, strict) == "yellow"
    assert hm.band(31, 5, strict) == "green"
    with pytest.raises(ValueError, match="must not exceed"):
        Thresholds(red_below=20, green_above=10)


def test_derive_vectorised_agrees_with_scalar_formulas():
    counts = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "contacts_invited": [3, 2, 4],
            "invitations": [10, 4, 0],
            "responses": [10, 0, 0],
            "promoters": [7, 0, 0],
            "passives": [2, 0, 0],
            "detractors": [1, 0, 0],
        }
    )
    out = derive(counts)
    assert out.loc[0, "nps"] == 60.0
    assert out.loc[0, "response_rate"] == 1.0
    assert (out.loc[0, "nps_low"], out.loc[0, "nps_high"]) == pytest.approx(hm.nps_interval(7, 2, 1))
    assert out["band"].tolist() == ["green", "gray", "gray"]
    assert out.loc[2, "response_rate"] == 0.0  # no invitations: 0, not a division error
    assert math.isnan(out.loc[1, "nps"]) and math.isnan(out.loc[1, "nps_low"])
    assert out["small_sample"].tolist() == [False, False, False]


# ---- account summary on real files -----------------------------------------------------------------------------


def test_summary_counts_by_hand(builder, tmp_path):
    a = builder.account("A1", value=5000, name="Zeta")
    builder.scores(a, "decision_maker", [10, 9])  # 2 promoters
    builder.scores(a, "influencer", [7])  # 1 passive
    builder.scores(a, "day_to_day", [3, None, None])  # 1 detractor, 2 silent
    b = builder.account("B1", value=100, name="alpha")
    builder.scores(b, "day_to_day", [None, None])  # silent account
    ds = builder.load(tmp_path / "d")
    s = hm.account_summary(ds)
    assert list(s.columns[: len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
    assert s["account_name"].tolist() == ["alpha", "Zeta"]  # by name, case-insensitively
    z = s.set_index("account_id").loc["A1"]
    assert (z.contacts_invited, z.invitations, z.responses) == (6, 6, 4)
    assert (z.promoters, z.passives, z.detractors) == (2, 1, 1)
    assert z.response_rate == pytest.approx(4 / 6)
    assert z.nps == pytest.approx(25.0)
    assert (z.nps_low, z.nps_high) == pytest.approx(hm.nps_interval(2, 1, 1))
    assert z.band == "green" and z.small_sample
    g = s.set_index("account_id").loc["B1"]
    assert (g.contacts_invited, g.invitations, g.responses, g.response_rate) == (2, 2, 0, 0.0)
    assert g.band == "gray" and math.isnan(g.nps) and math.isnan(g.nps_low)
    assert s["tier"].tolist() == ["Gold", "Gold"]  # account columns come along


def test_one_contact_invited_in_two_waves_is_one_contact_two_invitations(builder, tmp_path):
    a = builder.account("A1")
    c = builder.contact(a, "influencer")
    builder.invite(c, 9, wave="2026-Q1", sent_at="2026-01-10")
    builder.invite(c, None, wave="2026-Q2", sent_at="2026-04-10")
    ds = builder.load(tmp_path / "d")
    row = hm.account_summary(ds).iloc[0]
    assert (row.contacts_invited, row.invitations, row.responses, row.response_rate) == (1, 2, 1, 0.5)
    q2 = hm.account_summary(ds, hm.FilterSet(wave=["2026-Q2"])).iloc[0]
    assert (q2.contacts_invited, q2.invitations, q2.responses, q2.band) == (1, 1, 0, "gray")


def test_role_filter_narrows_footprint_response_rate_and_nps(builder, tmp_path):
    a = builder.account("A1")
    builder.scores(a, "decision_maker", [0, 2])
    builder.scores(a, "influencer", [10, None])
    builder.scores(a, "day_to_day", [10, 10, 9, 9, 9, None])
    ds = builder.load(tmp_path / "d")
    everyone = hm.account_summary(ds).iloc[0]
    assert (everyone.contacts_invited, everyone.responses) == (10, 8)
    assert everyone.nps == pytest.approx(100 * (6 - 2) / 8)
    leaders = hm.account_summary(ds, hm.FilterSet(role=["Decision Maker", "influencer"])).iloc[0]
    assert (leaders.contacts_invited, leaders.invitations, leaders.responses) == (4, 4, 3)
    assert leaders.response_rate == pytest.approx(0.75)
    assert leaders.nps == pytest.approx(100 * (1 - 2) / 3)
    assert leaders.band == "red"


def test_date_filter_keeps_non_responders_and_includes_the_end_day(builder, tmp_path):
    a = builder.account("A1")
    c1, c2, c3 = (builder.contact(a) for _ in range(3))
    builder.invite(c1, 9, sent_at="2026-02-01")
    builder.invite(c2, None, sent_at="2026-02-28")  # non-responder on the last day
    builder.invite(c3, 3, sent_at="2026-03-01")  # outside
    ds = builder.load(tmp_path / "d")
    row = hm.account_summary(ds, hm.FilterSet(start="2026-02-01", end="2026-02-28")).iloc[0]
    assert (row.contacts_invited, row.invitations, row.responses, row.response_rate) == (2, 2, 1, 0.5)


def test_account_filters_and_not_surveyed(builder, tmp_path):
    a = builder.account("A1", region="West", value=10)
    builder.scores(a, "influencer", [9])
    builder.account("B1", region="West", value=900)  # never invited: a blind spot
    builder.account("C1", region="East", value=5000)
    c = builder.account("D1", region="West", value=50)
    builder.scores(c, "influencer", [5], wave="2026-Q2")
    ds = builder.load(tmp_path / "d")
    west = hm.FilterSet(region=["West"], wave=["2026-Q1"])
    s = hm.account_summary(ds, west)
    assert s["account_id"].tolist() == ["A1"]
    blind = hm.not_surveyed(ds, west)
    assert blind["account_id"].tolist() == ["B1", "D1"]  # most valuable first; D1 has no Q1 invitation
    assert blind["value"].tolist() == [900, 50]
    assert hm.scope_counts(ds, west) == {
        "accounts": 3,
        "surveyed_accounts": 1,
        "contacts": 1,
        "invitations": 1,
        "responses": 1,
    }


def test_thresholds_flow_through_the_summary(builder, tmp_path):
    a = builder.account("A1")
    builder.scores(a, "influencer", [9, 9, 9, 5, 5, 8, 8, 8, 8, 8])  # NPS 10
    ds = builder.load(tmp_path / "d")
    assert hm.account_summary(ds).iloc[0].band == "yellow"
    assert hm.account_summary(ds, green_above=5).iloc[0].band == "green"
    assert hm.account_summary(ds, red_below=20, green_above=50).iloc[0].band == "red"


def test_role_breakdown_and_hidden_flags(builder, tmp_path):
    risk = builder.account("R1", name="Risky")
    builder.scores(risk, "decision_maker", [2, 3])  # DMs unhappy
    builder.scores(risk, "day_to_day", [10, 10, 10, 9, 9, 9])  # users happy: NPS (6-2)/8 = 50, green
    loyal = builder.account("L1", name="Loyal")
    builder.scores(loyal, "decision_maker", [10])
    builder.scores(loyal, "influencer", [9, 8])
    builder.scores(loyal, "day_to_day", [1, 2, 3, 4, 5, 0])  # NPS (2-6)/9 = -44, red
    fine = builder.account("F1", name="Fine")
    builder.scores(fine, "decision_maker", [9])
    builder.scores(fine, "day_to_day", [9])
    ds = builder.load(tmp_path / "d")
    roles = hm.role_breakdown(ds)
    r = roles[(roles.account_id == "R1") & (roles.role == "decision_maker")].iloc[0]
    assert (r.responses, r.detractors, r.nps, r.band) == (2, 2, -100.0, "red")
    s = hm.account_summary(ds, by_role=True).set_index("account_id")
    assert s.loc["R1", "band"] == "green" and s.loc["R1", "hidden_risk"] and not s.loc["R1", "hidden_loyalty"]
    assert s.loc["L1", "band"] == "red" and s.loc["L1", "hidden_loyalty"] and not s.loc["L1", "hidden_risk"]
    assert not s.loc["F1", "hidden_risk"] and not s.loc["F1", "hidden_loyalty"]
    assert s.loc["L1", "nps_day_to_day"] == pytest.approx(-100.0)
    assert s.loc["L1", "responses_influencer"] == 2
    assert math.isnan(s.loc["F1", "nps_influencer"]) and s.loc["F1", "responses_influencer"] == 0


def test_quadrants_at_the_medians():
    s = pd.DataFrame(
        {
            "account_id": list("abcde"),
            "value": [100, 200, 300, 400, 500],
            "contacts_invited": [10, 50, 30, 40, 5],
            "response_rate": [0.1, 0.9, 0.5, 0.05, 0.5],
            "band": ["green", "green", "yellow", "red", "gray"],
        }
    )
    g = hm.quadrant_guides(s)
    assert (g.value, g.footprint, g.response_rate) == (300, 30, 0.5)
    q = hm.classify_quadrants(s, g)
    # b: left (200 < 300), upper (50 >= 30), green, rr 0.9 >= 0.5 -> expansion; a: lower; d: upper right red
    assert q.tolist() == ["", "expansion", "", "revenue_at_risk", ""]


def test_small_sample_flag_threshold_is_a_parameter(builder, tmp_path):
    a = builder.account("A1")
    builder.scores(a, "influencer", [9, 9, 9])
    ds = builder.load(tmp_path / "d")
    assert hm.account_summary(ds).iloc[0].small_sample
    assert not hm.account_summary(ds, small_sample=3).iloc[0].small_sample


def test_one_promoter_gets_the_off_centre_interval_and_the_note(builder, tmp_path):
    from heatmap_lib.metrics.summary import SMALL_SAMPLE, small_sample_note, small_sample_notes

    builder.scores(builder.account("A1"), "influencer", [10])
    builder.scores(builder.account("A2"), "influencer", [9] * SMALL_SAMPLE)
    s = hm.account_summary(builder.load(tmp_path / "d"))
    one = s.iloc[0]
    assert one.nps == 100 and round(one.nps_low, 1) == -48.5 and round(one.nps_high, 1) == 98.5  # centred at 25
    notes = small_sample_notes(s).tolist()
    assert notes == [small_sample_note(1), ""]
    assert (
        notes[0] == "small sample: 1 answer, so the range is wide and pulled towards 0 (it may not contain the score)"
    )
    assert small_sample_note(0) == "" and small_sample_note(SMALL_SAMPLE) == ""
    assert small_sample_note(3).startswith("small sample: 3 answers,")
    assert small_sample_notes(hm.account_summary(builder.load(tmp_path / "e"), small_sample=1)).tolist() == ["", ""]


def test_summary_is_empty_but_well_formed_when_nothing_is_in_scope(builder, tmp_path):
    a = builder.account("A1")
    builder.scores(a, "influencer", [9])
    ds = builder.load(tmp_path / "d")
    with pytest.warns(hm.FilterWarning, match="'2030-Q1' matched nothing"):
        s = hm.account_summary(ds, hm.FilterSet(wave=["2030-Q1"]))
    assert s.empty and list(s.columns[: len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
    assert s.attrs["filter_warnings"] == ["wave: '2030-Q1' matched nothing in the data"]


def test_summary_equals_a_plain_pandas_computation_on_the_demo(demo, demo_dir):
    """The engine's answer against a straightforward pandas computation over the same CSV files."""
    acc = pd.read_csv(demo_dir / "accounts.csv", dtype={"account_id": str})
    con = pd.read_csv(demo_dir / "contacts.csv", dtype=str)
    inv = pd.read_csv(demo_dir / "invitations.csv", dtype={"contact_id": str})
    f = inv.merge(con[["contact_id", "account_id"]], on="contact_id")
    g = f.groupby("account_id")
    expected = pd.DataFrame(
        {
            "contacts_invited": g["contact_id"].nunique(),
            "invitations": g.size(),
            "responses": g["score"].count(),
            "promoters": g["score"].apply(lambda s: (s >= 9).sum()),
            "detractors": g["score"].apply(lambda s: (s <= 6).sum()),
        }
    )
    s = hm.account_summary(demo).set_index("account_id")
    assert set(s.index) == set(expected.index)
    for col in expected.columns:
        assert (s[col] == expected.loc[s.index, col]).all(), col
    nps = 100 * (expected.promoters - expected.detractors) / expected.responses.replace(0, np.nan)
    assert np.allclose(s["nps"], nps.loc[s.index], equal_nan=True)
    assert set(s["account_name"]) <= set(acc["account_name"])


def test_heatmap_tables_equal_the_summary_and_not_surveyed(demo):
    fs = hm.FilterSet(region=["West", "EMEA"], wave=["2026-Q3"])
    summary, blind = hm.heatmap_tables(demo, fs)
    pd.testing.assert_frame_equal(summary, hm.account_summary(demo, fs))
    pd.testing.assert_frame_equal(blind, hm.not_surveyed(demo, fs))
    assert summary.attrs == hm.account_summary(demo, fs).attrs
