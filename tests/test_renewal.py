"""Renewal signals, scores, weights files and calibration (DESIGN.md sections 6 and 10)."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import Builder, write_csv

import heatmap_lib as hm
from heatmap_lib.cli.calibrate import add_calibrate_command
from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics import renewal as rn
from heatmap_lib.views import renewal_view as rv

AS_OF = dt.date(2026, 6, 1)
USAGE_FIELDS = ["account_id", "user_id", "event", "occurred_at", "feature"]
INVOICE_FIELDS = ["invoice_id", "account_id", "due_date", "paid_at", "amount"]
TICKET_FIELDS = ["ticket_id", "account_id", "opened_at", "sentiment", "escalated"]
RENEWAL_FIELDS = ["account_id", "renewal_date", "outcome", "value_before", "value_after"]
HOSTILE = "<img src=x onerror=alert(1)>"


def _events(account: str, day: str, users: list[str], per_user: int, feature: str) -> list[dict[str, Any]]:
    return [
        {"account_id": account, "user_id": u, "event": "login", "occurred_at": f"{day} 10:00:00", "feature": feature}
        for u in users
        for _ in range(per_user)
    ]


def history(folder: Path, *, tickets: bool = True, usage: bool = True) -> hm.Dataset:
    """Five accounts with hand-counted histories around 2026-06-01 (see each test for the expected figures)."""
    b = Builder()
    b.account("A1", 1000, customer_since="2023-01-15", seats=10, renewal_date="2024-07-01", name=HOSTILE)
    b.account("A2", 400, customer_since="2026-04-21", seats=4, renewal_date="2027-04-21", region="East")
    b.account("A3", 2000, customer_since="2022-03-01", seats=20, renewal_date="2026-09-15")
    b.account("A4", 50, customer_since="2026-05-20", seats=2, renewal_date="2027-05-20")
    b.account("A5", 300, customer_since="2021-03-01", seats=5, renewal_date="2026-03-01")
    dm1, dm2 = b.contact("A1", "decision_maker"), b.contact("A1", "decision_maker")
    u1, u2, u3, u4 = (b.contact("A1") for _ in range(4))
    b.invite(dm1, 2, sent_at="2026-03-01")
    b.invite(dm2, 10, sent_at="2026-03-01")
    b.invite(u1, 9, sent_at="2026-03-01")
    b.invite(u2, None, sent_at="2026-03-01")
    b.invite(u3, 10, sent_at="2026-05-01")
    b.invitations[-1]["responded_at"] = "2026-06-05"  # answered after as_of: unanswered at the date
    b.invite(u4, None, sent_at="2026-05-25")  # too recent to count as silence
    for _ in range(2):
        b.invite(b.contact("A3"), None, sent_at="2026-02-01")
    b.write(folder)
    if usage:
        rows = _events("A1", "2026-05-10", ["u1", "u2", "u3", "u4", "u5"], 2, "reports")
        rows += _events("A1", "2026-04-20", ["u1", "u2"], 2, "dashboards")
        rows += _events("A1", "2026-01-01", ["u1"], 1, "admin")  # older than 90 days: not a feature in use
        rows += [{**r, "occurred_at": "2026-06-01 00:00:00"} for r in _events("A1", "x", ["u1"], 3, "workflows")]
        rows += _events("A1", "2026-06-05", ["u6"], 4, "workflows")  # after as_of
        rows += _events("A2", "2026-05-20", ["u9"], 6, "reports")
        rows += _events("A2", "2026-04-25", ["u9"], 2, "reports")
        rows += _events("A4", "2026-05-25", ["u7"], 1, "onboarding")
        write_csv(folder / "usage_events.csv", USAGE_FIELDS, rows)
    invoices = [
        ("I1", "A1", "2026-01-10", "2026-01-20"),  # 10 days late
        ("I2", "A1", "2026-04-10", "2026-04-08"),  # early: 0
        ("I3", "A1", "2026-05-02", "2026-06-10"),  # unpaid at as_of (paid after it)
        ("I4", "A1", "2026-06-15", None),  # due after as_of
        ("I5", "A1", "2025-03-01", "2025-04-20"),  # more than 12 months before
    ]
    write_csv(
        folder / "invoices.csv",
        INVOICE_FIELDS,
        [dict(zip(INVOICE_FIELDS, (*row, 250.0), strict=True)) for row in invoices],
    )
    if tickets:
        tix = [
            ("T1", "A1", "2026-05-01 09:00:00", -0.5, "true"),
            ("T2", "A1", "2026-03-01 09:00:00", 0.3, "false"),
            ("T3", "A1", "2026-06-02 09:00:00", -1.0, "true"),  # after as_of
            ("T4", "A1", "2025-10-01 09:00:00", -1.0, "true"),  # more than 180 days before
        ]
        write_csv(folder / "tickets.csv", TICKET_FIELDS, [dict(zip(TICKET_FIELDS, t, strict=True)) for t in tix])
    renewals = [
        ("A1", "2025-07-01", "expanded", 800, 1000),
        ("A5", "2026-03-01", "churned", 300, 0),
    ]
    write_csv(folder / "renewals.csv", RENEWAL_FIELDS, [dict(zip(RENEWAL_FIELDS, r, strict=True)) for r in renewals])
    return hm.load(folder)


@pytest.fixture
def hist(tmp_path: Path) -> hm.Dataset:
    return history(tmp_path / "data")


def _row(df: pd.DataFrame, account: str) -> pd.Series:
    return df.set_index("account_id").loc[account]


# --------------------------------------------------------------------------------------------------------------
# signals


def test_usage_signals_count_only_what_happened_before_as_of(hist: hm.Dataset) -> None:
    s = rn.signals(hist, AS_OF)
    a1 = _row(s, "A1")
    assert (a1["events"], a1["events_prev"], a1["active_users"], a1["active_users_prev"]) == (10, 4, 5, 2)
    assert a1["usage_volume"] == 10  # the 3 events at midnight on as_of and the 4 after it are not counted
    assert a1["usage_velocity"] == pytest.approx((math.log(11 / 5) + math.log(6 / 3)) / 2)
    assert a1["adoption_breadth"] == 2  # reports, dashboards (admin is older than 90 days)
    assert a1["seat_utilisation"] == pytest.approx(0.5)
    assert a1["days_since_last_event"] == pytest.approx(22, abs=1)


def test_young_accounts_have_their_previous_window_scaled(hist: hm.Dataset) -> None:
    s = rn.signals(hist, AS_OF)
    a2 = _row(s, "A2")  # customer for 41 days: the previous window covers 13 of its 28 days
    scale = 28 / 13
    expected = (math.log(7 / (2 * scale + 1)) + math.log(2 / (1 * scale + 1))) / 2
    assert a2["usage_velocity"] == pytest.approx(expected)
    assert math.isnan(_row(s, "A4")["usage_velocity"])  # 12 days old: no previous window at all


def test_an_account_with_no_usage_at_all_reads_as_inactive(hist: hm.Dataset) -> None:
    a3 = _row(rn.signals(hist, AS_OF), "A3")
    assert a3["usage_volume"] == 0 and a3["adoption_breadth"] == 0 and a3["seat_utilisation"] == 0
    assert a3["days_since_last_event"] == rn.MAX_SILENT_DAYS
    assert a3["usage_velocity"] == 0  # nothing then, nothing now


def test_payment_signals(hist: hm.Dataset) -> None:
    s = rn.signals(hist, AS_OF)
    a1 = _row(s, "A1")
    assert a1["invoices_due"] == 3
    assert a1["days_late"] == pytest.approx((10 + 0) / 2)  # the invoices paid before as_of
    assert a1["unpaid_invoices"] == 1  # paid after as_of: unpaid at the date
    a2 = _row(s, "A2")  # no invoices: delay unknown (average at scoring), nothing unpaid
    assert math.isnan(a2["days_late"]) and a2["unpaid_invoices"] == 0


def test_support_signals(hist: hm.Dataset) -> None:
    a1 = _row(rn.signals(hist, AS_OF), "A1")
    assert a1["tickets"] == 2 and a1["escalations"] == 1
    assert a1["ticket_sentiment"] == pytest.approx(-0.1)


def test_survey_signals(hist: hm.Dataset) -> None:
    s = rn.signals(hist, AS_OF)
    a1 = _row(s, "A1")
    assert a1["responses"] == 3  # the answer given after as_of is not known yet
    assert a1["nps"] == pytest.approx(100 * (2 - 1) / 3)
    assert a1["dm_nps"] == pytest.approx(0.0)
    assert a1["silence"] == pytest.approx(2 / 5)  # the invitation sent a week before is not silence yet
    a3 = _row(s, "A3")
    assert a3["silence"] == 1.0 and math.isnan(a3["nps"])
    assert math.isnan(_row(s, "A2")["silence"])  # never invited


def test_account_signals_are_point_in_time(hist: hm.Dataset) -> None:
    keys = pd.DataFrame({"account_id": ["A1", "A1"], "as_of": ["2025-06-01", "2026-06-01"]})
    s = rn.signals(hist, keys).set_index("as_of")
    before, now = s.loc[pd.Timestamp("2025-06-01")], s.loc[pd.Timestamp("2026-06-01")]
    assert before["value"] == 800 and now["value"] == 1000  # the value before the 2025-07-01 expansion
    assert before["days_to_renewal"] == 30 and now["days_to_renewal"] == 30  # 2024-07-01 rolled to 2026-07-01
    assert before["tenure_years"] == pytest.approx((dt.date(2025, 6, 1) - dt.date(2023, 1, 15)).days / 365.25)
    assert before["usage_volume"] == 0 and before["invoices_due"] == 1  # only I5 was due in the year before


def test_signals_per_row_match_the_one_date_computation(hist: hm.Dataset) -> None:
    one = rn.signals(hist, AS_OF)
    keys = pd.DataFrame({"account_id": one["account_id"], "as_of": [AS_OF] * len(one)})
    rows = rn.signals(hist, keys)
    cols = [s.name for s in rn.SIGNALS]
    pd.testing.assert_frame_equal(one[cols].reset_index(drop=True), rows[cols].reset_index(drop=True))


def test_a_segments_signals_and_scores_are_the_whole_datasets_for_its_accounts(hist: hm.Dataset) -> None:
    """A segment reads only its accounts' rows (renewal._before, usage_signals(accounts=)); nothing else changes."""
    from heatmap_lib.metrics.health import usage_signals

    everyone = rn.signals(hist, AS_OF).set_index("account_id")
    acc = hist.table("accounts")
    some = rn.signals(hist, AS_OF, accounts=acc.filter(acc.account_id.isin(["A2", "A4"]))).set_index("account_id")
    assert list(some.index) == ["A2", "A4"]
    pd.testing.assert_frame_equal(some, everyone.loc[["A2", "A4"], some.columns], check_dtype=False)
    usage = usage_signals(hist, AS_OF, accounts=["A4", "A2"])
    whole = usage_signals(hist, AS_OF)
    pd.testing.assert_frame_equal(usage, whole[whole["account_id"].isin(["A2", "A4"])].reset_index(drop=True))
    full = rn.score(hist, _weights(), as_of=AS_OF).set_index("account_id")
    east = rn.score(hist, _weights(), as_of=AS_OF, filters={"region": ["East"]}).set_index("account_id")
    pd.testing.assert_frame_equal(east, full.loc[east.index, east.columns], check_dtype=False)


def test_missing_tables_make_their_signals_unavailable(tmp_path: Path) -> None:
    ds = history(tmp_path / "d", tickets=False, usage=False)
    s = rn.signals(ds, AS_OF)
    assert s.attrs["missing"]["ticket_sentiment"] == "no tickets table"
    assert s.attrs["missing"]["usage_velocity"] == "no usage_events table"
    assert "days_late" in s.attrs["available"]
    assert s["ticket_sentiment"].isna().all() and s["usage_velocity"].isna().all()


def test_as_of_defaults_to_the_day_after_the_latest_record(hist: hm.Dataset) -> None:
    assert rn.data_as_of(hist) == dt.date(2026, 6, 11)  # I3 paid on 2026-06-10


# --------------------------------------------------------------------------------------------------------------
# scores


def _weights(correlation: bool = True) -> rn.Weights:
    scal = {n: rn.Scaling(0.0, 1.0, "identity") for n in ("days_late", "ticket_sentiment", "silence")}
    risk = rn.Model(-1.0, {"days_late": 1.0, "ticket_sentiment": -0.8, "silence": 0.5})
    opp = rn.Model(-2.0, {"days_late": -0.2, "silence": -0.3})
    corr = {
        "days_late": {"days_late": 1.0, "ticket_sentiment": 0.5, "silence": 0.0},
        "ticket_sentiment": {"days_late": 0.5, "ticket_sentiment": 1.0, "silence": 0.0},
        "silence": {"days_late": 0.0, "ticket_sentiment": 0.0, "silence": 1.0},
    }
    return rn.Weights(scal, rn.SegmentModel(risk, opp), correlation=corr if correlation else None)


def test_scores_with_every_table_use_the_weights_as_written(hist: hm.Dataset) -> None:
    sc = rn.score(hist, _weights(), as_of=AS_OF)
    a1 = _row(sc, "A1")
    z = {"days_late": min(5.0, rn.CLIP), "ticket_sentiment": -0.1, "silence": 0.4}
    assert a1["risk__days_late"] == pytest.approx(z["days_late"])
    assert a1["risk__ticket_sentiment"] == pytest.approx(-0.8 * -0.1)
    assert a1["risk_base"] == -1.0
    expected = -1.0 + z["days_late"] + 0.08 + 0.2
    assert a1["risk_logit"] == pytest.approx(expected)
    assert a1["risk"] == pytest.approx(100 / (1 + math.exp(-expected)))
    assert sc.attrs["signals_missing"] == {}
    assert sc.attrs["signals_used"] == ["days_late", "ticket_sentiment", "silence"]


def test_a_missing_table_reweights_the_remaining_signals(tmp_path: Path) -> None:
    ds = history(tmp_path / "d", tickets=False)
    sc = rn.score(ds, _weights(), as_of=AS_OF)
    assert sc.attrs["signals_used"] == ["days_late", "silence"]
    assert sc.attrs["signals_missing"] == {"ticket_sentiment": "no tickets table"}
    assert "conditional expectation" in sc.attrs["reweighting"]
    assert "risk__ticket_sentiment" not in sc.columns
    # the missing term moves onto the correlated signal: 1.0 + 0.5 x (-0.8); the unknown part shrinks it all
    kappa = 1 / math.sqrt(1 + math.pi * 0.64 * (1 - 0.25) / 8)
    a1 = _row(sc, "A1")
    assert a1["risk_base"] == pytest.approx(-kappa)
    assert a1["risk__days_late"] == pytest.approx(kappa * 0.6 * rn.CLIP)
    assert a1["risk__silence"] == pytest.approx(kappa * 0.5 * 0.4)
    assert np.isfinite(sc["risk"]).all() and sc["risk"].between(0, 100).all()
    # the opportunity model never used tickets: unchanged
    assert a1["opportunity_base"] == -2.0


def test_without_correlations_missing_terms_are_dropped(tmp_path: Path) -> None:
    ds = history(tmp_path / "d", tickets=False)
    sc = rn.score(ds, _weights(correlation=False), as_of=AS_OF)
    kappa = 1 / math.sqrt(1 + math.pi * 0.64 / 8)
    assert _row(sc, "A1")["risk__days_late"] == pytest.approx(kappa * 1.0 * rn.CLIP)
    assert "dropped" in sc.attrs["reweighting"]


def test_contributions_sum_to_the_linear_predictor(hist: hm.Dataset) -> None:
    sc = rn.score(hist, _weights(), as_of=AS_OF)
    for kind in ("risk", "opportunity"):
        parts = sc[[c for c in sc.columns if c.startswith(f"{kind}__")]].sum(axis=1) + sc[f"{kind}_base"]
        np.testing.assert_allclose(parts, sc[f"{kind}_logit"])
        np.testing.assert_allclose(sc[kind], 100 / (1 + np.exp(-sc[f"{kind}_logit"])))


def test_scores_leave_out_churned_accounts_and_follow_filters(hist: hm.Dataset) -> None:
    sc = rn.score(hist, _weights(), as_of=AS_OF)
    assert set(sc["account_id"]) == {"A1", "A2", "A3", "A4"} and sc.attrs["churned_left_out"] == 1
    assert list(sc["risk"]) == sorted(sc["risk"], reverse=True)
    east = rn.score(hist, _weights(), as_of=AS_OF, filters={"region": ["East"]})
    assert list(east["account_id"]) == ["A2"]
    assert (sc["value_at_risk"] == sc["value"] * sc["risk"] / 100).all()


def test_segment_models_and_fallback(hist: hm.Dataset) -> None:
    base = _weights()
    east = rn.SegmentModel(rn.Model(1.0, {"silence": 0.0}), None, n_renewals=500)
    w = rn.Weights(base.signals, base.overall, {"East": east}, "region", base.correlation)
    sc = rn.score(hist, w, as_of=AS_OF).set_index("account_id")
    assert sc.loc["A2", "model"] == "East" and sc.loc["A2", "risk_base"] == 1.0
    assert sc.loc["A2", "opportunity_base"] == -2.0  # the East segment falls back to the overall opportunity
    assert sc.loc["A1", "model"] == "overall"


def test_account_contributions_walk_from_base_to_score(hist: hm.Dataset) -> None:
    sc = rn.score(hist, _weights(), as_of=AS_OF)
    steps = rn.account_contributions(sc, "A1")
    assert list(steps["step"]) == ["base", "signal", "signal", "signal", "total"]
    assert steps["end"].iloc[-2] == pytest.approx(_row(sc, "A1")["risk_logit"])
    assert steps["end"].iloc[-1] == pytest.approx(_row(sc, "A1")["risk_logit"])
    assert steps.attrs["account_name"] == HOSTILE
    assert steps.loc[steps["signal"] == "days_late", "value_text"].item() == "5 days"
    assert rn.account_contributions(sc).attrs["account_id"] == sc["account_id"].iloc[0]  # default: the riskiest
    with pytest.raises(HeatmapError, match="not among the scored"):
        rn.account_contributions(sc, "nope")


# --------------------------------------------------------------------------------------------------------------
# weights files


def test_weights_round_trip(tmp_path: Path) -> None:
    w = _weights()
    w = rn.Weights(
        w.signals,
        w.overall,
        {"Gold": rn.SegmentModel(rn.Model(0.5, {"silence": 1.5}), None, 200, 40, 30, "opportunity: overall model")},
        "tier",
        w.correlation,
        {"auc": 0.8, "n_renewals": 200, "n_churned": 40, "calibration": [{"decile": 1, "predicted": 0.1}]},
    )
    path = w.save(tmp_path / "w.yaml")
    text = path.read_text()
    assert text.startswith("# Renewal weights")
    back = rn.Weights.load(path)
    assert back.to_dict() == w.to_dict()
    assert back.segments["Gold"].opportunity is None
    assert back.model("Gold", "risk") == (rn.Model(0.5, {"silence": 1.5}), "Gold")
    assert back.model("Gold", "opportunity")[1] == "overall"
    assert back.model("Silver", "risk")[1] == "overall"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("signals: [unclosed", "not valid YAML"),
        ("- a list", "expected a mapping"),
        ("format: other/2\nsignals: {}\nmodels: {}", "format 'other/2' is not supported"),
        ("signals: {mood: {mean: 0, scale: 1}}\nmodels: {}", "signals.mood: unknown signal"),
        ("signals: {silence: {mean: 0, scale: 0}}\nmodels: {}", "signals.silence.scale: must be greater than 0"),
        ("signals: {silence: {mean: zero, scale: 1}}\nmodels: {}", "signals.silence.mean: expected a number"),
        ("signals: {silence: {mean: 0, scale: 1}}\nmodels: {}", "models.overall is missing"),
        (
            "signals: {silence: {mean: 0, scale: 1}}\nmodels: {overall: {risk: {intercept: 0, weights: {nps: 1}}, "
            "opportunity: {intercept: 0}}}",
            "weights.nps: no standardisation",
        ),
        (
            "signals: {}\nmodels: {overall: {risk: overall, opportunity: {intercept: 0}}}",
            "the overall model needs intercept and weights",
        ),
        (
            "signals: {}\nmodels: {overall: {risk: {intercept: 0}, opportunity: {intercept: 0}}, segments: {Gold: {}}}",
            "needs segment_by",
        ),
        ("signals: {}\nmodels: {}\nsurprise: 1", "unknown key 'surprise'"),
        ("!!python/object/apply:os.system ['echo hacked']", "not valid YAML"),
    ],
)
def test_malformed_weights_files_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(rn.WeightsError, match=re.escape(message)) as info:
        rn.Weights.load(path)
    assert str(path) in str(info.value)


def test_a_missing_weights_file_is_a_heatmap_error(tmp_path: Path) -> None:
    with pytest.raises(HeatmapError, match="cannot read the weights file"):
        rn.Weights.load(tmp_path / "none.yaml")


def test_the_shipped_default_weights_load() -> None:
    path = Path(__file__).resolve().parents[1] / "params" / "renewal_weights.yaml"
    w = rn.Weights.load(path)
    assert w.segment_by == "tier" and w.validation and w.validation["auc"] > 0.7


# --------------------------------------------------------------------------------------------------------------
# calibration on the demo data


@pytest.fixture(scope="module")
def demo_big(tmp_path_factory: pytest.TempPathFactory) -> hm.Dataset:
    """2,000 demo accounts (seed 7): about 1,840 renewals, 294 churned. Seeds 1-10 all recover the signs."""
    from heatmap_lib.data.demo import write_demo

    return hm.load(write_demo(tmp_path_factory.mktemp("demo2000"), accounts=2000, seed=7, fmt="parquet"))


@pytest.fixture(scope="module")
def calibrated(demo_big: hm.Dataset) -> rn.Weights:
    return rn.calibrate(demo_big, segment_by="tier")


def test_calibration_recovers_the_planted_signs(calibrated: rn.Weights) -> None:
    w = calibrated.overall.risk.weights
    assert w["usage_velocity"] < 0  # a usage decline before the renewal raises risk
    assert w["days_late"] > 0 and w["unpaid_invoices"] > 0  # late and unpaid invoices
    assert w["dm_nps"] < 0  # unhappy decision makers
    assert w["silence"] > 0  # invited, never answering
    assert w["escalations"] > 0  # escalations


def test_calibration_beats_the_one_signal_baseline(calibrated: rn.Weights) -> None:
    v = calibrated.validation
    assert v is not None
    assert v["n_renewals"] > 1500 and v["n_churned"] > 200
    assert v["auc"] > v["baseline_auc"] + 0.05
    assert v["auc"] > 0.75
    assert v["baseline"]["signal"] == "usage_volume"
    table = v["calibration"]
    assert len(table) == 10 and sum(row["n"] for row in table) == v["holdout"]["n_renewals"]
    assert table[-1]["observed"] > table[0]["observed"]  # the riskiest decile churns more than the safest


def test_calibration_fits_segments_and_falls_back_for_small_ones(calibrated: rn.Weights) -> None:
    assert calibrated.segment_by == "tier"
    assert calibrated.segments["SMB"].risk is not None
    strategic = calibrated.segments["Strategic"]  # about 50 renewals: too few for its own model
    assert strategic.risk is None and "overall model" in (strategic.note or "")
    assert "days_to_renewal" not in calibrated.signals  # every observation is taken at its renewal


def test_calibrated_weights_score_the_current_accounts(demo_big: hm.Dataset, calibrated: rn.Weights) -> None:
    sc = rn.score(demo_big, calibrated)
    assert sc.attrs["as_of"] == "2026-10-01" and not sc.attrs["signals_missing"]
    assert sc["risk"].between(0, 100).all() and sc["opportunity"].between(0, 100).all()
    assert set(sc["model"]) <= {"SMB", "Mid-Market", "Enterprise", "overall"}
    assert (sc.loc[sc["segment"] == "Strategic", "model"] == "overall").all()


def test_calibration_without_tickets_uses_the_tables_present(tmp_path: Path, demo_big: hm.Dataset) -> None:
    import shutil

    folder = tmp_path / "notix"
    shutil.copytree(demo_big.path, folder)
    (folder / "tickets.parquet").unlink()
    w = rn.calibrate(hm.load(folder))
    assert "ticket_sentiment" not in w.signals and "escalations" not in w.signals
    assert w.validation and w.validation["signals_missing"]["escalations"] == "no tickets table"
    assert w.validation["auc"] > w.validation["baseline_auc"]


def test_calibration_needs_enough_renewals(hist: hm.Dataset) -> None:
    with pytest.raises(rn.WeightsError, match="too few renewals"):
        rn.calibrate(hist)


# --------------------------------------------------------------------------------------------------------------
# the command


def _cli(argv: list[str]) -> int:
    """`heatmap calibrate` through a parser built as cli/main.py builds its own, errors as one-line reasons."""
    parser = argparse.ArgumentParser(prog="heatmap")
    sub = parser.add_subparsers(dest="command", required=True)
    add_calibrate_command(sub)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except HeatmapError:
        return 2


def test_calibrate_command_writes_weights_with_validation(demo_dir: Path, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "weights.yaml"
    assert _cli(["calibrate", str(demo_dir), "--segment-by", "tier", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    data = yaml.safe_load(out.read_text())
    assert {"auc", "n_renewals", "n_churned", "calibration", "baseline_auc"} <= set(data["validation"])
    assert data["segment_by"] == "tier" and "overall" in data["models"]
    assert all({"decile", "predicted", "observed"} <= set(row) for row in data["validation"]["calibration"])
    rn.Weights.load(out)


def test_calibrate_prints_better_on_the_demo_history_with_intervals(
    demo_big: hm.Dataset, tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "weights.yaml"
    assert _cli(["calibrate", str(demo_big.path), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out)  # stdout: the file; the report goes to stderr
    report = printed.err
    assert "Renewals: 1,839 (294 churned); fitted on the earliest 1,379" in report
    assert re.search(r"Held-out AUC 0\.\d\d \(95% interval 0\.\d\d to 0\.\d\d\)\.", report)
    assert re.search(r"Counting events alone .*: AUC 0\.\d\d \(95% interval", report)
    assert re.search(r"Difference \+0\.\d\d \(95% interval \+0\.\d\d to \+0\.\d\d\)\.", report)
    assert "Verdict: the model is better than counting events." in report
    assert len(re.findall(r"^ +\d+: +\d+ +\d+\.\d% +\d+\.\d%$", report, re.M)) == 10  # the calibration by decile
    assert not re.search(r"\d\.\d{4}", report)  # rounded figures only
    v = yaml.safe_load(out.read_text())["validation"]
    assert v["verdict"] == rn.BETTER and v["difference_interval"][0] > 0
    assert v["auc_interval"][0] < v["auc"] < v["auc_interval"][1]
    assert v["fit"]["n_renewals"] + v["holdout"]["n_renewals"] == v["n_renewals"]
    assert v["bootstrap"] == {
        "resamples": 1000,
        "seed": rn.BOOTSTRAP_SEED,
        "method": "paired percentile bootstrap, 95%",
    }


def test_calibrate_on_pure_noise_says_not_distinguishable(demo_big: hm.Dataset, tmp_path: Path, capsys: Any) -> None:
    import shutil

    folder = tmp_path / "noise"
    shutil.copytree(demo_big.path, folder)
    renewals = pd.read_parquet(folder / "renewals.parquet")  # outcomes shuffled: no signal says anything about them
    renewals["outcome"] = np.random.default_rng(5).permutation(renewals["outcome"].to_numpy())
    renewals.to_parquet(folder / "renewals.parquet", index=False)
    out = tmp_path / "weights.yaml"
    assert _cli(["calibrate", str(folder), "--out", str(out)]) == 0
    report = capsys.readouterr().err
    assert "Verdict: the model is not distinguishable from counting events." in report
    assert re.search(r"Difference [+-]0\.\d\d \(95% interval -0\.\d\d to \+0\.\d\d\)", report)
    assert yaml.safe_load(out.read_text())["validation"]["verdict"] == rn.SAME


def test_auc_comparison_is_paired_reproducible_and_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    model = y + rng.normal(0, 0.8, 300)
    base = y + rng.normal(0, 3.0, 300)
    a = rn.auc_comparison(y, model, base, resamples=400)
    assert a == rn.auc_comparison(y, model, base, resamples=400)  # a fixed seed: the same intervals every time
    assert a["auc"] == round(roc_auc_score(y, model), 3) and a["baseline_auc"] == round(roc_auc_score(y, base), 3)
    assert a["verdict"] == rn.BETTER and a["difference_interval"][0] > 0
    same = rn.auc_comparison(y, model, model, resamples=400)  # paired: a score against itself differs by 0 exactly
    assert same["difference_interval"] == [0.0, 0.0] and same["verdict"] == rn.SAME
    worse = rn.auc_comparison(y, base, model, resamples=400)
    assert worse["verdict"] == rn.WORSE
    ties = np.array([0, 1, 0, 1])  # tied scores count half, as in sklearn
    assert rn.auc_comparison(ties, np.array([1.0, 1.0, 0.0, 2.0]), None)["auc"] == round(
        roc_auc_score(ties, [1.0, 1.0, 0.0, 2.0]), 3
    )


def test_calibrate_command_refuses_bad_input(demo_dir: Path, tmp_path: Path) -> None:
    assert _cli(["calibrate", str(demo_dir), "--segment-by", "colour", "--out", str(tmp_path / "w.yaml")]) == 2
    assert _cli(["calibrate", str(demo_dir), "--out", str(tmp_path / "w.json")]) == 2
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------------------------
# tables and views


def test_grid_table_counts_every_account_once(demo: hm.Dataset) -> None:
    w = rn.Weights.load(Path(__file__).resolve().parents[1] / "params" / "renewal_weights.yaml")
    sc = rn.score(demo, w)
    grid = rn.renewal_grid_table(sc, by="region", months=6)
    assert grid["accounts"].sum() == len(sc)
    assert grid["value_at_risk"].sum() == pytest.approx(sc["value_at_risk"].sum())
    assert grid.attrs["months"][:2] == ["2026-10", "2026-11"] and grid.attrs["months"][-2:] == ["later", "no date"]
    assert len(grid) == len(grid.attrs["segments"]) * 8
    fig = rv.renewal_grid(grid)
    assert list(fig.x_range.factors) == grid.attrs["months"]
    assert grid.attrs["partial_months"] == {} and grid["complete"].all()  # as of 10-01: every month whole
    assert (
        grid.attrs["window_note"]
        == "Renewals from 2026-10-01 to 2027-03-31 by month, then later; every month is whole."
    )


def test_a_grid_starting_mid_month_marks_its_first_month_partial(demo: hm.Dataset) -> None:
    w = rn.Weights.load(Path(__file__).resolve().parents[1] / "params" / "renewal_weights.yaml")
    sc = rn.score(demo, w, as_of="2026-10-07")
    grid = rn.renewal_grid_table(sc, by="region", months=6)
    assert grid["accounts"].sum() == len(sc)  # marked, never left out
    assert grid.attrs["partial_months"] == {"2026-10": "from 2026-10-07 only (25 of 31 days)"}
    assert set(grid.loc[~grid["complete"], "month"]) == {"2026-10"}
    assert grid.attrs["window_note"] == (
        "Renewals from 2026-10-07 to 2027-03-31 by month, then later; 2026-10 counts the renewals from 2026-10-07 "
        "only (25 of 31 days): marked partial (dashed outline), not a quiet month."
    )
    fig = rv.renewal_grid(grid)
    outline = fig.select_one({"name": "partial-months"})
    assert set(outline.data_source.data["x"]) == {"2026-10"} and outline.glyph.line_dash == "dashed"
    assert fig.xaxis[0].major_label_overrides == {"2026-10": "2026-10 (partial)"}
    assert any(getattr(t, "text", "") == grid.attrs["window_note"] for t in fig.above)  # the window, on the chart


def test_views_use_escaped_field_tooltips_only(hist: hm.Dataset) -> None:
    from bokeh.embed import components
    from bokeh.models import HoverTool

    sc = rn.score(hist, _weights(), as_of=AS_OF)
    figures = [
        rv.renewal_grid(rn.renewal_grid_table(sc)),
        rv.quadrant_chart(sc),
        rv.waterfall_chart(rn.account_contributions(sc, "A1")),
    ]
    for fig in figures:
        for tool in fig.select({"type": HoverTool}):
            for _, spec in tool.tooltips:
                assert re.fullmatch(r"@\w+", spec), spec
        script, _ = components(fig)
        assert HOSTILE not in script
    table = rv.html_table(rn.at_risk_list(sc), rn.AT_RISK_COLUMNS)
    assert HOSTILE not in table and "&lt;img src=x onerror=alert(1)&gt;" in table


def test_watermelons_are_green_on_nps_and_high_on_risk(hist: hm.Dataset) -> None:
    sc = rn.score(hist, _weights(), as_of=AS_OF)
    summary = hm.account_summary(hist)
    assert _row(summary, "A1")["band"] == "green"
    melons = rn.watermelons(sc, summary, min_risk=0)
    assert list(melons["account_id"]) == ["A1"]
    assert melons["nps"].iloc[0] == pytest.approx(_row(summary, "A1")["nps"]) and "drivers" in melons
    assert rn.watermelons(sc, summary, min_risk=99.9).empty


def test_a_weights_file_is_read_again_when_it_changes(hist: hm.Dataset, tmp_path: Path) -> None:
    """Scoring reads a weights file once per state of the file (a batch scores every segment with it)."""
    path = _weights().save(tmp_path / "w.yaml")
    first = rn.score(hist, path, as_of=AS_OF)
    assert _row(rn.score(hist, path, as_of=AS_OF), "A1")["risk"] == _row(first, "A1")["risk"]
    w = _weights()
    changed = rn.Weights(w.signals, rn.SegmentModel(rn.Model(2.0, w.overall.risk.weights), w.overall.opportunity))
    changed.save(path)
    again = rn.score(hist, path, as_of=AS_OF)
    assert _row(again, "A1")["risk_base"] == 2.0 and _row(first, "A1")["risk_base"] == -1.0
