"""The Account X-Ray tables on hand-built accounts."""

from __future__ import annotations

import math

import pytest

import heatmap_lib as hm
from heatmap_lib.metrics.xray import category, role_reading, xray, xrays


@pytest.fixture
def ds(builder, tmp_path):
    a = builder.account("A1", name="Acme", value=5000)
    dm1 = builder.contact(a, "decision_maker")
    dm2 = builder.contact(a, "decision_maker")
    inf = builder.contact(a, "influencer")
    user = builder.contact(a, "day_to_day")
    # two waves: the DM turns from promoter to detractor; the influencer never answers
    builder.invite(dm1, 9, wave="2026-Q1", sent_at="2026-01-10", drivers="support;pricing", comment="Great support")
    builder.invite(dm1, 3, wave="2026-Q2", sent_at="2026-04-10", drivers="pricing", comment="Too <b>expensive</b>")
    builder.invite(dm2, 2, wave="2026-Q2", sent_at="2026-04-11", drivers="pricing;reliability")
    builder.invite(inf, None, wave="2026-Q1", sent_at="2026-01-10")
    builder.invite(inf, None, wave="2026-Q2", sent_at="2026-04-10")
    builder.invite(user, 10, wave="2026-Q1", sent_at="2026-01-12", drivers="ease of use")
    builder.invite(user, 10, wave="2026-Q2", sent_at="2026-04-12", comment="Love it")
    b = builder.account("B1", name="Beta")
    builder.scores(b, "day_to_day", [8])
    return builder.load(tmp_path / "d")


def test_role_table_counts_and_nps(ds):
    x = xray(ds, "A1")
    roles = x.roles.set_index("role")
    assert roles.loc["decision_maker", ["contacts_invited", "invitations", "responses"]].tolist() == [2, 3, 3]
    assert roles.loc["decision_maker", "nps"] == pytest.approx(100 * (1 - 2) / 3)
    assert roles.loc["influencer", "responses"] == 0 and roles.loc["influencer", "band"] == "gray"
    assert roles.loc["day_to_day", "nps"] == 100.0
    assert list(x.roles["role"]) == ["decision_maker", "influencer", "day_to_day"]


def test_contacts_show_the_latest_answer(ds):
    x = xray(ds, "A1")
    c = x.contacts.set_index("contact_id")
    assert c.loc["C1", "score"] == 3 and c.loc["C1", "category"] == "detractor"  # Q2 replaced the Q1 promoter
    assert c.loc["C1", "comment"] == "Too <b>expensive</b>" and c.loc["C1", "invitations"] == 2
    assert c.loc["C3", "category"] == "no response" and math.isnan(c.loc["C3", "score"])
    assert "email" not in x.contacts.columns
    assert "email" in xray(ds, "A1", include_emails=True).contacts.columns


def test_non_responders_and_missing_roles(ds):
    x = xray(ds, "A1")
    assert x.to_recruit["contact_id"].tolist() == ["C3"] and x.to_recruit["role"].tolist() == ["influencer"]
    assert x.roles_missing == ()
    beta = xray(ds, "B1")
    assert beta.roles_missing == ("decision_maker", "influencer")


def test_driver_counts_split_by_category(ds):
    d = xray(ds, "A1").drivers.set_index("driver")
    assert d.loc["pricing", ["promoters", "passives", "detractors", "total"]].tolist() == [1, 0, 2, 3]
    assert d.loc["support", "promoters"] == 1 and d.loc["reliability", "detractors"] == 1
    assert d.index[0] == "pricing"  # most chosen first


def test_comments_by_score(ds):
    com = xray(ds, "A1").comments
    assert com["comment"].tolist() == ["Too <b>expensive</b>", "Great support", "Love it"]
    assert com["category"].tolist() == ["detractor", "promoter", "promoter"]


def test_trend_across_two_waves_ignores_the_wave_filter(ds):
    x = xray(ds, "A1", hm.FilterSet(wave=["2026-Q2"]))
    assert x.trend["wave"].tolist() == ["2026-Q1", "2026-Q2"]
    q1, q2 = x.trend.to_dict(orient="records")
    assert (q1["contacts_invited"], q1["responses"], q1["nps"]) == (3, 2, 100.0)
    assert (q2["contacts_invited"], q2["responses"]) == (4, 3)
    assert q2["nps"] == pytest.approx(100 * (1 - 2) / 3)
    assert x.account["invitations"] == 4  # the headline stays in the wave scope


def test_hidden_risk_reading_in_plain_words(ds):
    x = xray(ds, "A1", hm.FilterSet(wave=["2026-Q2"]))
    # Q2: DMs 0 promoters / 2 detractors; users 1 promoter: account (1 - 2) / 3 = -33 -> red, so no hidden risk
    assert x.account["band"] == "red"
    assert x.reading.startswith("Decision makers (NPS -100)")
    assert role_reading({"hidden_risk": True, "nps_decision_maker": -50.0}, "green").startswith("Hidden risk")
    assert role_reading({"hidden_loyalty": True, "nps_day_to_day": -60.0}, "red").startswith("Hidden loyalty")
    assert role_reading({}, "gray").startswith("Silent account")


def test_segment_comparison_and_batch_agree(ds):
    all_x = xrays(ds)
    assert set(all_x) == {"A1", "B1"}
    assert all_x["A1"].segment["accounts"] == 2.0
    assert all_x["A1"].contacts.equals(xray(ds, "A1").contacts)


def test_unknown_and_unsurveyed_accounts_are_clear_errors(ds):
    with pytest.raises(hm.HeatmapError, match="no account with account_id 'ZZ'"):
        xray(ds, "ZZ")
    with pytest.raises(hm.HeatmapError, match="has no invitation in scope"):
        xray(ds, "B1", hm.FilterSet(wave=["2026-Q2"]))


@pytest.mark.parametrize(
    ("score", "cat"),
    [
        (10, "promoter"),
        (9, "promoter"),
        (8, "passive"),
        (7, "passive"),
        (6, "detractor"),
        (0, "detractor"),
        (None, "no response"),
    ],
)
def test_category(score, cat):
    assert category(score) == cat


def test_usage_health_and_renewal_drivers_when_the_data_has_them(demo):
    from pathlib import Path

    weights = Path(__file__).resolve().parent.parent / "params" / "renewal_weights.yaml"
    account = hm.account_summary(demo).iloc[0].account_id
    x = xray(demo, account, renewal_weights=weights)
    health = hm.health_summary(demo).set_index("account_id").loc[account]
    assert x.health["active_users"] == health.active_users and x.health["seats"] == health.seats
    steps = x.renewal
    assert steps is not None and steps.attrs["account_id"] == account
    signals = steps[steps["step"] == "signal"]
    total = steps[steps["step"] == "total"].iloc[0]
    assert signals["contribution"].sum() + steps.iloc[0]["contribution"] == pytest.approx(total["end"])
    from heatmap_lib.views.xray_view import xray_page

    page = xray_page(x)
    assert "<h2>Usage health" in page and "<h2>Renewal risk drivers" in page


def test_no_usage_no_health_section_and_a_missing_weights_file_is_said(ds, tmp_path):
    with pytest.warns(UserWarning, match="no renewal weights at"):
        x = xray(ds, "A1", renewal_weights=tmp_path / "missing.yaml")
    assert x.health is None and x.renewal is None


def test_a_wave_still_collecting_answers_is_marked_open_in_the_trend(ds):
    from heatmap_lib.metrics.waves import WAVE_SETTLE_DAYS, wave_periods
    from heatmap_lib.views.xray_view import xray_page

    periods, data_last = wave_periods(ds)
    assert data_last.isoformat() == "2026-04-12" and WAVE_SETTLE_DAYS == 21
    assert periods["wave"].tolist() == ["2026-Q1", "2026-Q2"] and periods["complete"].tolist() == [True, False]
    x = xray(ds, "A1")
    assert x.trend["complete"].tolist() == [True, False]  # Q2 was sent 04-10 to 04-12, the data end 04-12
    page = xray_page(x)
    assert "2026-Q2 <small>(open)</small>" in page
    assert (
        "Waves 2026-Q1 to 2026-Q2, first sent 2026-01-10 to 2026-04-10. 2026-Q2 (last sent 2026-04-12) is still "
        "open: answers may arrive until 2026-05-03, so its point is drawn dashed and hollow" in page
    )
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count('class="hx-partial"') == 1 and 'fill="#fff"' in svg  # dashed to a hollow point
    assert "<polyline" not in svg  # one whole wave: no solid line to draw


def test_waves_are_complete_once_answers_had_time_to_arrive(builder, tmp_path):
    from heatmap_lib.metrics.waves import wave_periods

    builder.scores(builder.account("A1"), "influencer", [9])  # 2026-Q1, sent 01-10
    builder.invite(builder.contact("A1", "influencer"), 7, wave="2026-Q2", sent_at="2026-02-15")
    periods, data_last = wave_periods(builder.load(tmp_path / "d"))
    assert data_last.isoformat() == "2026-02-15"
    assert periods["complete"].tolist() == [True, False]  # Q1 had 36 days to be answered, Q2 none


def test_role_table_in_one_unit_and_excluded_roles_said_so(ds):
    x = xray(ds, "A1")
    roles = x.roles.set_index("role")
    # the decision makers: 2 contacts invited, both answered, 3 answers over the two waves
    assert roles.loc["decision_maker", ["contacts_invited", "contacts_responded", "responses"]].tolist() == [2, 2, 3]
    assert roles.loc["influencer", ["contacts_invited", "contacts_responded", "responses"]].tolist() == [1, 0, 0]
    assert (roles["contacts_responded"] <= roles["contacts_invited"]).all()
    assert x.roles_excluded == ()
    leaders = xray(ds, "A1", {"role": ["decision_maker", "influencer"]})
    assert leaders.roles_excluded == ("day_to_day",) and leaders.roles_missing == ()
    beta = xray(ds, "B1", {"role": ["decision_maker", "day_to_day"]})
    assert beta.roles_missing == ("decision_maker",) and beta.roles_excluded == ("influencer",)


def test_a_segments_pages_read_the_same_rows_as_its_frames(demo):
    """Pages render records looked up in segment-wide tables; each equals the account's frame, row for row."""
    from pathlib import Path

    weights = Path(__file__).resolve().parent.parent / "params" / "renewal_weights.yaml"
    found = xrays(demo, renewal_weights=weights)
    assert len(found) == len(hm.account_summary(demo))
    contacts = next(iter(found.values())).tables["contacts"].frame

    def same(records, frame):
        expected = frame.to_dict(orient="records")
        assert len(records) == len(expected)
        for got, want in zip(records, expected, strict=True):
            assert got.keys() == want.keys()
            for k, v in want.items():
                assert got[k] == v or (hm_missing(got[k]) and hm_missing(v)), (k, got[k], v)

    scored = 0
    for aid, x in list(found.items())[:40]:
        for name in ("roles", "contacts", "to_recruit", "drivers", "comments", "trend"):
            same(x.rows(name), getattr(x, name))
        assert x.contacts.equals(contacts[contacts["account_id"] == aid].reset_index(drop=True))
        assert list(x.roles["role"]) == ["decision_maker", "influencer", "day_to_day"]
        assert x.roles["contacts_invited"].sum() == len(x.contacts)
        assert x.roles["contacts_responded"].sum() == x.contacts["score"].notna().sum()
        steps, plain = x.renewal, x.renewal_steps()
        if steps is None:  # not scored (a churned account): neither form
            assert plain is None
            continue
        scored += 1
        assert plain is not None and plain[1] == steps.attrs
        assert plain[0] == {c: steps[c].tolist() for c in steps.columns}
    assert scored


def hm_missing(v):
    """Whether a value is missing (None, NaN, NA, NaT)."""
    import pandas as pd

    return v is None or bool(pd.isna(v))


def test_comments_of_one_score_and_day_come_in_invitation_order(builder, tmp_path):
    a = builder.account("A1")
    for name in ("first", "second", "third"):
        builder.invite(builder.contact(a, "day_to_day"), 5, sent_at="2026-02-01", comment=name)
    x = xray(builder.load(tmp_path / "d"), "A1")
    assert x.comments["comment"].tolist() == ["first", "second", "third"]
