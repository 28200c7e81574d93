"""The seeded demo generator: contract shape, planted stories measured from tables, churn signals, writers."""

from __future__ import annotations

import datetime
import re

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from heatmap_lib.data.demo import (
    DATE_COLUMNS,
    REFERENCE_DATE,
    STORIES,
    TABLE_COLUMNS,
    TIMESTAMP_COLUMNS,
    XLSX_MAX_ROWS,
    DemoData,
    generate,
    write_demo,
    write_tables,
)

N = 240
REF = pd.Timestamp(REFERENCE_DATE)
ROLES = ("decision_maker", "influencer", "day_to_day")


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(N, seed=7)


@pytest.fixture(scope="module")
def t(data: DemoData) -> dict[str, pd.DataFrame]:
    return data.tables


@pytest.fixture(scope="module")
def history() -> DemoData:
    """A larger draw for the statistical churn checks."""
    return generate(1500, seed=21, usage_events_per_account=200)


# --------------------------------------------------------------------------------------------------
# helpers computing the heat-map figures and the pre-renewal signals with plain pandas


def _nps(prom: pd.Series, det: pd.Series, resp: pd.Series) -> pd.Series:
    return (100.0 * (prom - det) / resp.where(resp > 0)).astype(float)


def summary(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per surveyed account: footprint, response rate, NPS, band, and NPS per role (section 4 definitions)."""
    inv = t["invitations"].merge(t["contacts"][["contact_id", "account_id", "role"]], on="contact_id")
    inv["resp"] = inv.score.notna()
    inv["prom"] = inv.score.ge(9).fillna(False).astype(bool)
    inv["det"] = inv.score.le(6).fillna(False).astype(bool)
    g = inv.groupby("account_id")
    s = pd.DataFrame(
        {
            "contacts_invited": g.contact_id.nunique(),
            "invitations": g.size(),
            "responses": g.resp.sum(),
            "prom": g.prom.sum(),
            "det": g.det.sum(),
        }
    )
    s["response_rate"] = s.responses / s.invitations
    s["nps"] = _nps(s.prom, s.det, s.responses)
    s["band"] = np.where(
        s.responses == 0, "gray", np.where(s.nps < -10, "red", np.where(s.nps > 10, "green", "yellow"))
    )
    for role in ROLES:
        r = inv[inv.role == role].groupby("account_id")[["resp", "prom", "det"]].sum().reindex(s.index).fillna(0)
        s[f"{role}_nps"] = _nps(r.prom, r.det, r.resp)
        s[f"{role}_responses"] = r.resp
    both = inv[inv.role != "day_to_day"].groupby("account_id")[["resp", "prom", "det"]].sum().reindex(s.index)
    s["leaders_nps"] = _nps(both.prom.fillna(0), both.det.fillna(0), both.resp.fillna(0))
    s["value"] = t["accounts"].set_index("account_id").value.reindex(s.index)
    return s


def pre_renewal_signals(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Signals per historical renewal computed only from data dated before that renewal."""
    rn = t["renewals"].set_index("account_id")
    r_date = rn.renewal_date
    out = pd.DataFrame({"churned": (rn.outcome == "churned").astype(int)})

    ev = t["usage_events"][["account_id", "occurred_at"]]
    ev = ev[ev.account_id.isin(out.index)]
    days = (ev.account_id.map(r_date) - ev.occurred_at).dt.total_seconds() / 86_400
    recent = ev[(days > 0) & (days <= 30)].groupby("account_id").size()
    earlier = ev[(days > 60) & (days <= 90)].groupby("account_id").size()
    out["events_before"] = ev[days > 0].groupby("account_id").size().reindex(out.index).fillna(0)
    out["usage_trend"] = np.log((recent.reindex(out.index).fillna(0) + 1) / (earlier.reindex(out.index).fillna(0) + 1))

    iv = t["invoices"].copy()
    iv["r"] = iv.account_id.map(r_date)
    iv = iv[iv.r.notna() & (iv.due_date < iv.r)]
    paid_then = iv.paid_at.where(iv.paid_at < iv.r)  # unpaid as it stood at the renewal
    late = (paid_then.fillna(iv.r) - iv.due_date).dt.days.clip(lower=0)
    out["late_days"] = late.groupby(iv.account_id).mean().reindex(out.index).fillna(0)

    inv = t["invitations"].merge(t["contacts"][["contact_id", "account_id", "role"]], on="contact_id")
    inv["r"] = inv.account_id.map(r_date)
    inv = inv[inv.r.notna() & (inv.sent_at < inv.r)]
    answered = inv[inv.responded_at < inv.r]
    out["invited_before"] = inv.groupby("account_id").size().reindex(out.index).fillna(0)
    out["response_rate"] = answered.groupby("account_id").size().reindex(out.index).fillna(0) / out.invited_before
    dm = answered[answered.role == "decision_maker"]
    out["dm_score"] = dm.groupby("account_id").score.mean().astype(float).reindex(out.index)

    tk = t["tickets"].copy()
    tk["r"] = tk.account_id.map(r_date)
    tk = tk[tk.r.notna() & (tk.opened_at < tk.r) & (tk.opened_at >= tk.r - pd.Timedelta(days=180))]
    out["sentiment"] = tk.groupby("account_id").sentiment.mean().reindex(out.index).fillna(0)
    out["escalations"] = tk.groupby("account_id").escalated.sum().reindex(out.index).fillna(0)

    acc = t["accounts"].set_index("account_id")
    out["tenure"] = (r_date - acc.customer_since.reindex(out.index)).dt.days / 365.25
    out["seats"] = acc.seats.reindex(out.index)
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Newton-Raphson logistic regression with an intercept (coefficients for standardised x)."""
    x = (x - x.mean(0)) / x.std(0)
    x = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(x.shape[1])
    for _ in range(30):
        p = 1 / (1 + np.exp(-x @ beta))
        hess = x.T @ (x * (p * (1 - p))[:, None]) + 1e-6 * np.eye(len(beta))
        beta += np.linalg.solve(hess, x.T @ (y - p))
    return beta[1:]


# --------------------------------------------------------------------------------------------------
# shape of the tables


def test_tables_and_columns_follow_the_contract(t):
    assert list(t) == list(TABLE_COLUMNS)
    for name, cols in TABLE_COLUMNS.items():
        assert tuple(t[name].columns) == cols, name
        for col in cols:
            if col in DATE_COLUMNS | TIMESTAMP_COLUMNS:
                assert pd.api.types.is_datetime64_any_dtype(t[name][col]), (name, col)
    assert t["invitations"].score.dtype == "Int64"
    assert t["accounts"].seats.dtype == np.int64
    assert t["tickets"].escalated.dtype == bool
    assert (t["accounts"].renewal_date.dt.normalize() == t["accounts"].renewal_date).all()


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = generate(60, seed=3), generate(60, seed=3), generate(60, seed=4)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.tables["accounts"].value.equals(c.tables["accounts"].value)
    assert not a.tables["accounts"].account_name.equals(c.tables["accounts"].account_name)
    assert len(a.tables["invitations"]) != len(c.tables["invitations"])


def test_dates_follow_the_reference_date_not_the_clock():
    assert (
        generate(30, seed=5)
        .tables["accounts"]
        .equals(generate(30, seed=5, reference_date=REFERENCE_DATE).tables["accounts"])
    )
    ref = datetime.date(2027, 1, 15)
    d = generate(40, seed=5, reference_date=ref)
    ts = pd.Timestamp(ref)
    assert sorted(d.tables["invitations"].wave.unique()) == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert d.tables["invitations"].responded_at.max() < ts
    assert d.tables["usage_events"].occurred_at.max() < ts
    assert d.tables["renewals"].renewal_date.between(ts - pd.Timedelta(days=366), ts).all()


def test_ids_are_unique_and_zero_padded(t):
    patterns = {
        ("accounts", "account_id"): r"A\d{6}",
        ("contacts", "contact_id"): r"C\d{7}",
        ("invitations", "invitation_id"): r"I\d{8}",
        ("tickets", "ticket_id"): r"T\d{7}",
        ("invoices", "invoice_id"): r"INV\d{7}",
    }
    for (table, col), pattern in patterns.items():
        ids = t[table][col]
        assert ids.is_unique, (table, col)
        assert ids.str.fullmatch(pattern).all(), (table, col)
    assert t["accounts"].account_name.is_unique
    assert t["renewals"].account_id.is_unique
    assert t["usage_events"].user_id.str.fullmatch(r"U\d{7,}").all()
    big = generate(1, seed=1)
    assert big.tables["accounts"].account_id.tolist() == ["A000001"]


def test_foreign_keys_hold(t):
    accounts = set(t["accounts"].account_id)
    assert set(t["contacts"].account_id) <= accounts
    assert set(t["invitations"].contact_id) <= set(t["contacts"].contact_id)
    for name in ("usage_events", "tickets", "invoices", "renewals"):
        assert set(t[name].account_id) <= accounts, name


def test_scores_and_response_dates(t):
    inv = t["invitations"]
    assert (inv.score.isna() == inv.responded_at.isna()).all()
    answered = inv[inv.score.notna()]
    assert answered.score.between(0, 10).all()
    delay = (answered.responded_at - answered.sent_at).dt.days
    assert delay.between(0, 21).all()
    assert inv.responded_at.max() < REF
    assert 0.34 <= inv.score.notna().mean() <= 0.46
    assert set(inv.questionnaire) == {"Relationship NPS", "Onboarding", "Support Follow-up"}
    assert (inv.questionnaire == "Relationship NPS").mean() > 0.8
    waves = ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    assert sorted(inv.wave.unique()) == waves
    quarter = inv.sent_at.dt.year.astype(str) + "-Q" + inv.sent_at.dt.quarter.astype(str)
    assert (quarter == inv.wave).all()


def test_roles_titles_and_emails(t):
    con = t["contacts"]
    assert set(con.role) == set(ROLES)
    share = con.role.value_counts(normalize=True)
    assert abs(share["decision_maker"] - 0.15) < 0.04
    assert abs(share["influencer"] - 0.30) < 0.05
    assert abs(share["day_to_day"] - 0.55) < 0.05
    titles = con.groupby("role").title.agg(set)
    assert not titles["decision_maker"] & titles["day_to_day"]
    assert not titles["decision_maker"] & titles["influencer"]
    acc = t["accounts"].set_index("account_id").account_name
    first_word = con.account_id.map(acc).str.split().str[0].str.lower()
    domain = con.email.str.split("@").str[1]
    assert con.email.str.fullmatch(r"[a-z0-9.\-]+@[a-z0-9.\-]+\.[a-z.]+").all()
    assert all(d.startswith(w) for d, w in zip(domain, first_word, strict=True))
    assert not con.duplicated(["account_id", "email"]).any()


def test_volumes_per_account(t):
    n = len(t["accounts"])
    assert 25 * 0.7 <= len(t["contacts"]) / n <= 25 * 1.3
    assert 100 * 0.7 <= len(t["invitations"]) / n <= 100 * 1.3
    assert 300 * 0.7 <= len(t["usage_events"]) / n <= 300 * 1.3
    per = t["contacts"].groupby("account_id").size()
    acc = t["accounts"].set_index("account_id")
    assert per.min() >= 3 and per.max() >= 60
    assert per.reindex(acc.index[acc.value < 10_000]).median() <= 10
    assert per.reindex(acc.index[acc.value > 300_000]).median() >= 40
    # most contacts are invited once per wave; some only from a later wave on
    rel = t["invitations"][t["invitations"].questionnaire == "Relationship NPS"]
    first = rel.groupby("contact_id").wave.min()
    assert (rel.groupby("contact_id").size() == 4).mean() > 0.6
    assert (first > "2025-Q4").sum() > 0


def test_accounts_columns(t, data):
    acc = t["accounts"]
    assert (acc.value >= 0).all() and 25_000 <= acc.value.median() <= 60_000
    assert acc.value.max() > 10 * acc.value.median()  # heavy tail
    tier_order = {"SMB": 0, "Mid-Market": 1, "Enterprise": 2, "Strategic": 3}
    by_tier = acc.groupby(acc.tier.map(tier_order)).value
    assert (by_tier.max().iloc[:-1].to_numpy() < by_tier.min().iloc[1:].to_numpy()).all()
    assert set(acc.region) == {"West", "East", "Central", "EMEA", "APAC"}
    assert 6 <= acc.industry.nunique() <= 10
    assert acc[["value", "seats"]].corr(method="spearman").iloc[0, 1] > 0.6
    assert (acc.seats >= 1).all()
    assert 8 <= acc.account_manager.nunique() <= N / 10
    tenure = (REF - acc.customer_since).dt.days / 365.25
    assert tenure.between(0.29, 10.1).all() and (tenure < 1).sum() >= 5
    active = acc[acc.status == "active"]
    assert active.renewal_date.between(REF, REF + pd.DateOffset(months=15)).all()
    churned = set(acc.account_id[acc.status == "churned"])
    rn = t["renewals"]
    assert churned == set(rn.account_id[rn.outcome == "churned"])
    assert set(acc.status) == {"active", "churned"}
    assert set(data.truth.story) == set(STORIES)


# --------------------------------------------------------------------------------------------------
# the planted heat-map stories, measured from the tables


def test_every_story_has_the_right_shape(t, data):
    s = summary(t)
    truth = data.truth.set_index("account_id")
    shown = s.index
    med_value, med_fp, med_rate = s.value.median(), s.contacts_invited.median(), s.response_rate.median()
    stories = truth.story
    for story in STORIES[1:]:
        assert (stories == story).sum() >= 3, story

    def rows(story: str) -> pd.DataFrame:
        ids = stories.index[stories == story]
        return s.reindex(ids)

    risk = rows("revenue_at_risk")
    assert (risk.value > med_value).all() and (risk.contacts_invited > med_fp).all()
    assert (risk.response_rate < med_rate).all() and risk.band.isin(["red", "gray"]).all()

    grow = rows("expansion")
    assert (grow.value < med_value).all() and (grow.contacts_invited > med_fp).all()
    assert (grow.response_rate >= med_rate).all() and (grow.band == "green").all()

    silent = rows("silent")
    assert (silent.invitations > 0).all() and (silent.responses == 0).all() and (silent.band == "gray").all()

    hidden_risk = rows("hidden_risk")
    assert (hidden_risk.decision_maker_nps < 0).all() and (hidden_risk.nps >= -10).all()
    assert hidden_risk.band.isin(["green", "yellow"]).all()

    loyal = rows("hidden_loyalty")
    assert (loyal.decision_maker_nps > 0).all() and (loyal.influencer_nps > 0).all()
    assert (loyal.leaders_nps > 0).all() and (loyal.nps < -10).all() and (loyal.day_to_day_nps < -10).all()

    blind = stories.index[stories == "not_surveyed"]
    assert not set(blind) & set(shown)
    acc = t["accounts"].set_index("account_id")
    assert (acc.status.reindex(blind) == "active").all()

    # the truth frame's measured figures agree with an independent pandas computation
    both = truth.loc[shown]
    assert (both.band == s.band).all()
    np.testing.assert_allclose(both.nps.to_numpy(float), s.nps.to_numpy(float))


def test_all_bands_present_and_ordinary_accounts_spread(t, data):
    s = summary(t)
    assert set(s.band) == {"green", "yellow", "red", "gray"}
    ordinary = s.reindex(data.truth.account_id[data.truth.story == "ordinary"]).dropna(subset=["band"])
    counts = ordinary.band.value_counts()
    assert {"green", "yellow", "red"} <= set(counts.index)
    assert counts.max() / len(ordinary) < 0.75


def test_drivers_and_comments_match_the_score(t):
    inv = t["invitations"]
    vocab = {
        "support",
        "product performance",
        "pricing",
        "onboarding",
        "account management",
        "reliability",
        "ease of use",
        "integrations",
    }
    assert inv.drivers[inv.score.isna()].isna().all()
    assert inv.comment[inv.score.isna()].isna().all()
    answered = inv[inv.score.notna()]
    chosen = answered.drivers.dropna().str.split(";")
    assert all(set(x) <= vocab for x in chosen)
    assert 0.2 <= answered.comment.notna().mean() <= 0.4
    assert answered.comment.dropna().nunique() > 100
    det = answered[answered.score <= 6].drivers.dropna()
    pro = answered[answered.score >= 9].drivers.dropna()
    assert det.str.contains("pricing").mean() > 2 * pro.str.contains("pricing").mean()
    assert pro.str.contains("ease of use").mean() > det.str.contains("ease of use").mean()


# --------------------------------------------------------------------------------------------------
# usage, tickets, invoices and the renewal history


def test_usage_events(t, data):
    ue = t["usage_events"]
    assert set(ue.feature.dropna()) == {
        "reports",
        "dashboards",
        "integrations",
        "workflows",
        "admin",
        "onboarding",
    }
    assert (ue.groupby("event").feature.nunique(dropna=False) == 1).all()
    assert ue.occurred_at.min() >= REF - pd.Timedelta(days=460) and ue.occurred_at.max() < REF
    truth = data.truth.set_index("account_id")
    last = ue.groupby("account_id").occurred_at.max()
    inactive = truth.index[truth.usage_now == "inactive"]
    assert len(inactive) >= 2
    assert (last.reindex(inactive).fillna(REF - pd.Timedelta(days=999)) < REF - pd.Timedelta(days=60)).all()
    # churned accounts produce no data after their churn date
    acc = t["accounts"].set_index("account_id")
    churn_day = acc.renewal_date[acc.status == "churned"]
    for name, col in (("usage_events", "occurred_at"), ("tickets", "opened_at"), ("invoices", "due_date")):
        df = t[name]
        after = df[col] >= df.account_id.map(churn_day)
        assert not after.any(), name
    inv = t["invitations"].merge(t["contacts"][["contact_id", "account_id"]], on="contact_id")
    assert not (inv.sent_at >= inv.account_id.map(churn_day)).any()
    # onboarding funnel: connecting data implies having created the profile
    onb = ue[ue.feature == "onboarding"]
    prof = set(onb.user_id[onb.event == "onboarding_profile"])
    assert set(onb.user_id[onb.event == "onboarding_connect_data"]) <= prof
    # volume follows seats
    per = ue.groupby("account_id").size().reindex(acc.index).fillna(0)
    assert np.corrcoef(np.log1p(per), np.log(acc.seats))[0, 1] > 0.6


def test_falling_usage_shows_in_the_last_60_days(t, data):
    ue = t["usage_events"]
    truth = data.truth.set_index("account_id")
    recent = ue[ue.occurred_at >= REF - pd.Timedelta(days=60)].groupby("account_id").size() / 60
    before = ue[ue.occurred_at.between(REF - pd.Timedelta(days=240), REF - pd.Timedelta(days=60))]
    base = before.groupby("account_id").size() / 180
    ratio = (recent.reindex(truth.index).fillna(0) / base.reindex(truth.index)).dropna()
    falling = ratio.reindex(truth.index[truth.usage_now == "falling"]).dropna()
    normal = ratio.reindex(truth.index[truth.usage_now == "normal"]).dropna()
    assert len(falling) >= 3
    assert falling.median() < 0.6 < normal.median()


def test_tickets_and_invoices(t):
    tk, iv = t["tickets"], t["invoices"]
    assert tk.sentiment.between(-1, 1).all() and tk.escalated.any() and not tk.escalated.all()
    assert (iv.amount > 0).all()
    assert iv.paid_at.isna().sum() > 0
    late_days = (iv.paid_at - iv.due_date).dt.days
    by_acc = (late_days > 0).groupby(iv.account_id).mean()
    assert (by_acc > 0.5).sum() >= 5  # habitual late payers
    assert (late_days.dropna() <= 0).mean() > 0.5
    per = iv.groupby("account_id").size()
    assert per.median() in (4, 5, 6)


def test_renewal_history(t):
    rn = t["renewals"]
    assert set(rn.outcome) == {"renewed", "churned", "expanded", "contracted"}
    assert rn.renewal_date.between(REF - pd.Timedelta(days=366), REF - pd.Timedelta(days=1)).all()
    assert len(rn) > 0.8 * len(t["accounts"])
    assert 0.12 <= (rn.outcome == "churned").mean() <= 0.20
    assert (rn.value_after[rn.outcome == "churned"] == 0).all()
    assert (rn.value_after[rn.outcome == "expanded"] > rn.value_before[rn.outcome == "expanded"]).all()
    assert (rn.value_after[rn.outcome == "contracted"] < rn.value_before[rn.outcome == "contracted"]).all()
    assert (rn.value_after[rn.outcome == "renewed"] == rn.value_before[rn.outcome == "renewed"]).all()


def test_churn_follows_pre_renewal_signals(history):
    sig = pre_renewal_signals(history.tables)
    assert 0.12 <= sig.churned.mean() <= 0.20
    m = sig.groupby("churned").mean()
    assert m.late_days[1] > m.late_days[0] + 5
    assert m.usage_trend[1] < m.usage_trend[0] - 0.2
    assert m.dm_score[1] < m.dm_score[0] - 0.8
    assert m.response_rate[1] < m.response_rate[0]
    assert m.escalations[1] > m.escalations[0] and m.sentiment[1] < m.sentiment[0]
    # total event volume is a size effect, a weak churn predictor on its own
    assert np.corrcoef(np.log1p(sig.events_before), np.log(sig.seats))[0, 1] > 0.6
    assert abs(np.corrcoef(np.log1p(sig.events_before), sig.churned)[0, 1]) < 0.1
    # a logistic regression on the signals recovers the planted directions
    sig = sig.assign(dm_score=sig.dm_score.fillna(sig.dm_score.mean()))
    sig = sig.assign(response_rate=sig.response_rate.fillna(sig.response_rate.mean()))
    cols = ["usage_trend", "late_days", "dm_score", "response_rate", "escalations", "sentiment"]
    beta = dict(zip(cols, fit_logistic(sig[cols].to_numpy(float), sig.churned.to_numpy(float)), strict=True))
    assert beta["usage_trend"] < 0 and beta["late_days"] > 0 and beta["dm_score"] < 0
    assert beta["response_rate"] < 0 and beta["escalations"] > 0


def test_expanded_accounts_are_healthy_big_footprint_high_usage(history):
    t = history.tables
    rn = t["renewals"].set_index("account_id")
    acc = t["accounts"].set_index("account_id").reindex(rn.index)
    contacts = t["contacts"].groupby("account_id").size().reindex(rn.index)
    users = t["usage_events"].groupby("account_id").user_id.nunique().reindex(rn.index).fillna(0)
    health = history.truth.set_index("account_id").health.reindex(rn.index)
    frame = pd.DataFrame(
        {
            "outcome": rn.outcome,
            "footprint": contacts / np.sqrt(acc.seats),
            "utilisation": users / acc.seats,
            "health": health,
        }
    )
    med = frame.groupby("outcome").median()
    for col in ("footprint", "utilisation", "health"):
        assert med.loc["expanded", col] > med.loc["renewed", col], col
        assert med.loc["expanded", col] > med.loc["churned", col], col


# --------------------------------------------------------------------------------------------------
# writers


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return generate(30, seed=2, usage_events_per_account=40).tables


@pytest.mark.parametrize("fmt", ["csv", "parquet", "duckdb", "xlsx"])
def test_write_tables_round_trip(small, tmp_path, fmt):
    path = write_tables(small, tmp_path / "out", fmt)
    rows = {name: len(df) for name, df in small.items()}
    if fmt in ("csv", "parquet"):
        assert path == tmp_path / "out" and path.is_dir()
        assert sorted(p.name for p in path.iterdir()) == sorted(f"{name}.{fmt}" for name in small)
    if fmt == "csv":
        back = {name: pd.read_csv(path / f"{name}.csv", dtype=str, keep_default_na=False) for name in small}
        inv = back["invitations"]
        assert inv.sent_at.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        assert (inv.responded_at == "").sum() == small["invitations"].responded_at.isna().sum()
        assert ((inv.score == "") == (inv.responded_at == "")).all()
        assert back["usage_events"].occurred_at.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()
        assert list(back["accounts"].columns) == list(TABLE_COLUMNS["accounts"])
        assert set(back["tickets"].escalated) <= {"true", "false"}
    elif fmt == "parquet":
        back = {name: pd.read_parquet(path / f"{name}.parquet") for name in small}
        schema = pq.read_schema(path / "invitations.parquet")
        assert str(schema.field("sent_at").type) == "date32[day]"
        assert str(pq.read_schema(path / "usage_events.parquet").field("occurred_at").type).startswith("timestamp")
    elif fmt == "duckdb":
        assert path == tmp_path / "out" / "demo.duckdb"
        con = duckdb.connect(str(path), read_only=True)
        back = {name: con.execute(f"select * from {name}").df() for name in small}
        types = dict(con.execute("select column_name, data_type from information_schema.columns").fetchall())
        assert types["sent_at"] == "DATE" and types["occurred_at"] == "TIMESTAMP"
        assert con.execute("select count(*) from invitations where score is null").fetchone()[0] > 0
        con.close()
    else:
        assert path == tmp_path / "out" / "demo.xlsx"
        back = pd.read_excel(path, sheet_name=None, engine="openpyxl")
        assert list(back) == list(small)
        assert pd.api.types.is_datetime64_any_dtype(back["invitations"].sent_at)
        assert back["invitations"].responded_at.isna().sum() == small["invitations"].responded_at.isna().sum()
    assert {name: len(df) for name, df in back.items()} == rows


def test_xlsx_refuses_sheets_past_excels_row_limit(tmp_path):
    big = pd.DataFrame({"account_id": np.zeros(XLSX_MAX_ROWS + 1, dtype=np.int8)})
    with pytest.raises(ValueError, match="1,048,575"):
        write_tables({"usage_events": big}, tmp_path / "x", "xlsx")
    assert not (tmp_path / "x" / "demo.xlsx").exists()


def test_write_demo_and_format_switch(tmp_path):
    out = tmp_path / "nested" / "demo"
    assert write_demo(out, accounts=12, seed=1, fmt="csv", usage_events_per_account=10) == out
    assert (out / "accounts.csv").exists()
    write_demo(out, accounts=12, seed=1, fmt="parquet", usage_events_per_account=10)
    assert not list(out.glob("*.csv")), "a table left in both formats would be an invalid dataset"
    assert re.fullmatch(r"A\d{6}", pd.read_parquet(out / "accounts.parquet").account_id.iloc[0])
    with pytest.raises(ValueError, match="unknown format"):
        write_demo(out, accounts=5, fmt="json")
    with pytest.raises(ValueError):
        generate(0)
