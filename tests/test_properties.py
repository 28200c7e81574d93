"""Property-based tests (hypothesis) of the metrics: bounds, sums, narrowing filters, order independence."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import Builder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heatmap_lib as hm
from heatmap_lib.metrics.summary import derive

# each example writes and loads real files, so fewer examples than hypothesis' default
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROLES = ["decision_maker", "influencer", "day_to_day"]
WAVES = ["W1", "W2", "W3"]
REGIONS = ["West", "East"]

counts = st.integers(min_value=0, max_value=500)


@given(p=counts, pas=counts, d=counts)
def test_nps_and_interval_stay_on_the_scale(p, pas, d):
    n = p + pas + d
    frame = pd.DataFrame(
        {
            "invitations": [n + 3],
            "contacts_invited": [1],
            "responses": [n],
            "promoters": [p],
            "passives": [pas],
            "detractors": [d],
        }
    )
    row = derive(frame).iloc[0]
    assert row.promoters + row.passives + row.detractors == row.responses
    if n == 0:
        assert np.isnan(row.nps) and np.isnan(row.nps_low) and row.band == "gray"
        return
    assert -100 <= row.nps_low <= row.nps_high <= 100
    assert -100 <= row.nps <= 100
    assert row.nps == hm.nps(p, d, n)
    assert 0 <= row.response_rate <= 1


# a small survey: per account a region and a list of (role, [(wave, score or None), ...]) contacts
contact = st.tuples(
    st.sampled_from(ROLES),
    st.lists(st.tuples(st.sampled_from(WAVES), st.none() | st.integers(0, 10)), min_size=1, max_size=3),
)
account = st.tuples(st.sampled_from(REGIONS), st.integers(0, 10_000), st.lists(contact, min_size=0, max_size=4))
survey = st.lists(account, min_size=1, max_size=6)


def build(accounts) -> Builder:
    b = Builder()
    for i, (region, value, contacts) in enumerate(accounts):
        aid = b.account(f"A{i}", value=value, region=region)
        for role, answers in contacts:
            cid = b.contact(aid, role)
            for k, (wave, score) in enumerate(answers):
                b.invite(cid, score, wave=wave, sent_at=f"2026-0{WAVES.index(wave) + 1}-1{k}")
    return b


def load(b: Builder) -> hm.Dataset:
    return b.load(Path(tempfile.mkdtemp(prefix="hm-prop-")))


@SETTINGS
@given(accounts=survey, data=st.data())
def test_filters_only_ever_narrow(accounts, data):
    ds = load(build(accounts))
    fs = hm.FilterSet(
        region=data.draw(st.lists(st.sampled_from(REGIONS), max_size=2)),
        role=data.draw(st.lists(st.sampled_from(ROLES), max_size=3)),
        wave=data.draw(st.lists(st.sampled_from(WAVES), max_size=3)),
    )
    everything = hm.account_summary(ds).set_index("account_id")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hm.FilterWarning)
        narrowed = hm.account_summary(ds, fs).set_index("account_id")
    assert set(narrowed.index) <= set(everything.index)
    for col in ("contacts_invited", "invitations", "responses", "promoters", "passives", "detractors"):
        assert (narrowed[col] <= everything.loc[narrowed.index, col]).all(), col
    assert (narrowed.promoters + narrowed.passives + narrowed.detractors == narrowed.responses).all()


@SETTINGS
@given(accounts=survey, seed=st.integers(0, 2**16))
def test_summary_does_not_depend_on_row_order(accounts, seed):
    b = build(accounts)
    rng = np.random.default_rng(seed)
    shuffled = Builder()
    shuffled.accounts = [b.accounts[i] for i in rng.permutation(len(b.accounts))]
    shuffled.contacts = [b.contacts[i] for i in rng.permutation(len(b.contacts))]
    shuffled.invitations = [b.invitations[i] for i in rng.permutation(len(b.invitations))]
    a, z = hm.account_summary(load(b)), hm.account_summary(load(shuffled))
    pd.testing.assert_frame_equal(a, z)
    assert (a["nps"].dropna().between(-100, 100)).all()
    assert (a["nps_low"].dropna() <= a["nps_high"].dropna()).all()
