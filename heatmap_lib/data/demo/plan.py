"""The per-account plan every demo table is built from: random streams, wave calendar, stories, health, churn.

`_Plan` holds the builder's state. Its constructor sets up the nine random streams and the survey waves;
`plan_accounts` draws each account's value, seats, story, tenure and renewal dates, latent health, the five risk
components, churn at the historical renewal and the renewal outcome. The table mixins (accounts, surveys, usage,
history, plays, truth) subclass it; the attributes one table sets for later ones are declared here.
"""

from __future__ import annotations

import datetime

import numpy as np
import pyarrow as pa

from heatmap_lib.data.demo._common import (
    _HISTORY_DAYS,
    _NAT,
    _USAGE_DAYS,
    _WAVES,
    _day,
    _month_day,
    _month_index,
    _sigmoid,
)
from heatmap_lib.data.demo.schema import _STORY_CODE, PLAY_EFFECTS

_CHURN_RATE = 0.16
_RISKS = ("usage", "payment", "dm", "silence", "support")
_CHURN_WEIGHTS = np.array([1.1, 0.9, 0.9, 0.8, 0.6])
_STORY_SHARE = {  # share of accounts, minimum count from 100 accounts up
    "revenue_at_risk": (0.03, 4),
    "expansion": (0.04, 4),
    "silent": (0.03, 4),
    "hidden_risk": (0.04, 4),
    "hidden_loyalty": (0.03, 4),
    "not_surveyed": (0.02, 3),
}


class _Plan:
    """The per-account plan and the builder's state; each table's mixin subclasses it (see `build._Builder`)."""

    # set by the table builders for the ones after them (accounts -> contacts -> invitations -> truth)
    account_ids: pa.Array
    manager_names: pa.Array
    contact_ids: pa.Array
    contact_acc: np.ndarray
    contact_role: np.ndarray
    inv_contact: np.ndarray
    inv_score: np.ndarray

    def __init__(
        self, n: int, seed: int, ref: datetime.date, events_per_account: int, plant_play_effects: bool = True
    ) -> None:
        self.n = n
        self.play_effects = PLAY_EFFECTS if plant_play_effects else {}
        self.ref = _day(ref)
        self.events_per_account = events_per_account
        # nine streams: spawning more children leaves the first ones unchanged, so the plays' stream (index 8)
        # was added without changing any table drawn from streams 0-7
        streams = np.random.SeedSequence([int(seed), 20_261_001]).spawn(9)
        self.rngs = [np.random.default_rng(s) for s in streams]
        self.usage_start = self.ref - _USAGE_DAYS
        self.history_start = self.ref - _HISTORY_DAYS
        ref_month = _month_index(np.array([self.ref]))[0][0]
        q_month = ref_month - ref_month % 3  # start of the current (incomplete) quarter
        self.wave_months = np.array([q_month - 3 * (_WAVES - w) for w in range(_WAVES)])
        self.wave_starts = _month_day(self.wave_months, np.zeros(_WAVES, dtype=np.int64))
        self.wave_labels = [f"{m // 12 + 1970}-Q{m % 12 // 3 + 1}" for m in self.wave_months]

    # -- the plan ----------------------------------------------------------------------------------------
    def plan_accounts(self) -> None:
        """Value, seats, stories, tenure, latent health, risk components, churn and renewal outcome."""
        n, rng = self.n, self.rngs[0]
        z = rng.standard_normal(n)
        value = np.clip(np.round(40_000.0 * np.exp(1.3 * z), -2), 1_000.0, 9_000_000.0)
        seats = np.maximum(1, np.round(value / 450.0 * np.exp(0.35 * rng.standard_normal(n)))).astype(np.int64)
        pct = (np.argsort(np.argsort(value, kind="stable"), kind="stable") + 0.5) / n

        story = np.zeros(n, dtype=np.int8)
        eligible = {
            "revenue_at_risk": pct >= 0.75,
            "expansion": pct <= 0.42,
            "hidden_risk": (pct >= 0.35) & (pct <= 0.97),
            "hidden_loyalty": (pct >= 0.35) & (pct <= 0.97),
            "silent": (pct >= 0.2) & (pct <= 0.9),
            "not_surveyed": pct >= 0.5,
        }
        for name, (share, minimum) in _STORY_SHARE.items():
            k = round(share * n) if n < 100 else max(minimum, round(share * n))
            pool = np.flatnonzero(eligible[name] & (story == 0))
            if k and len(pool):
                story[rng.choice(pool, size=min(k, len(pool)), replace=False)] = _STORY_CODE[name]
        is_story = story > 0
        planted = is_story & (story != _STORY_CODE["not_surveyed"])

        # expansion plays have a big footprint for their size
        exp_ = story == _STORY_CODE["expansion"]
        seats = np.where(exp_, seats * 2, seats)

        contacts = np.clip(np.round(1.9 * seats**0.5 * np.exp(0.3 * rng.standard_normal(n))), 3, 160)
        contacts = np.where(story == _STORY_CODE["revenue_at_risk"], np.maximum(contacts, 40), contacts)
        contacts = np.where(exp_, rng.integers(35, 61, n), contacts)
        contacts = np.where(np.isin(story, [4, 5]), np.maximum(contacts, 22), contacts)
        contacts = np.where(story == _STORY_CODE["silent"], np.maximum(contacts, 6), contacts)
        self.contacts_n = contacts.astype(np.int64)

        # tenure and renewals: anniversaries of customer_since
        young = (rng.random(n) < 0.10) & ~is_story
        r_day = self.history_start + rng.integers(0, _HISTORY_DAYS, n)
        r_day = np.where(planted, self.history_start + rng.integers(0, 21, n), r_day)
        r_month, r_dom = _month_index(r_day)
        r_dom = np.minimum(r_dom, 27)
        r_day = _month_day(r_month, r_dom)
        late = r_day < self.history_start
        r_month = np.where(late, r_month + 1, r_month)
        r_day = _month_day(r_month, r_dom)
        years = 1 + np.minimum(rng.geometric(0.27, n) - 1, 8)
        years = np.where(planted, np.maximum(years, 2), years)
        cs_day = _month_day(r_month - 12 * years, r_dom)
        young_cs = self.ref - rng.integers(110, 366, n)
        yc_month, yc_dom = _month_index(young_cs)
        yc_dom = np.minimum(yc_dom, 27)
        young_cs = _month_day(yc_month, yc_dom)
        cs_day = np.where(young, young_cs, cs_day)
        next_renewal = np.where(young, _month_day(yc_month + 12, yc_dom), _month_day(r_month + 12, r_dom))
        next_renewal = np.maximum(next_renewal, self.ref)
        has_history = ~young

        # latent health and the five risk components (positive = worse)
        h = rng.standard_normal(n)
        story_h = {1: -1.2, 2: 1.2, 3: -0.8, 4: -0.4, 5: 0.5}
        for code, centre in story_h.items():
            sel = story == code
            h[sel] = centre + 0.3 * rng.standard_normal(sel.sum())
        rho = 0.55
        noise = rng.standard_normal((n, 5))
        comp_now = rho * -h[:, None] + np.sqrt(1 - rho**2) * noise
        drift = 0.25 * rng.standard_normal((n, 5))
        comp_pre = np.where(planted[:, None], -0.6 + 0.4 * rng.standard_normal((n, 5)), comp_now)
        comp_post = np.where(planted[:, None], comp_now, comp_now + drift)

        # churn at the historical renewal: logistic in the components and short tenure, fixed overall rate
        tenure_term = np.where(years == 1, 0.8, np.where(years == 2, 0.35, 0.0))
        linear = comp_pre @ _CHURN_WEIGHTS + tenure_term
        u = rng.random(n).clip(1e-12, 1 - 1e-12)
        draw = linear + np.log(u / (1 - u))
        can_churn = has_history & ~is_story
        churned = np.zeros(n, dtype=bool)
        k = round(_CHURN_RATE * has_history.sum())
        if k and can_churn.any():
            cand = np.flatnonzero(can_churn)
            churned[cand[np.argsort(-draw[cand], kind="stable")[:k]]] = True

        # seat utilisation and footprint drive expansion among those who renewed
        util = np.clip(0.15 + 0.7 * _sigmoid(0.4 * h + 0.8 * rng.standard_normal(n)), 0.05, 1.0)
        h_pre = np.where(planted, 0.8 + 0.3 * rng.standard_normal(n), h)
        zu = (util - util.mean()) / (util.std() + 1e-9)
        lf = np.log(contacts / np.sqrt(seats))
        zf = (lf - lf.mean()) / (lf.std() + 1e-9)
        p_exp = _sigmoid(-2.0 + 0.9 * h_pre + 0.5 * zu + 0.5 * zf)
        p_con = _sigmoid(-2.2 - 0.8 * h_pre)
        u1, u2 = rng.random(n), rng.random(n)
        outcome = np.where(churned, 1, np.where(u1 < p_exp, 2, np.where(u2 < p_con, 3, 0)))  # renewed=0
        outcome = np.where(has_history, outcome, -1)
        factor = np.where(
            outcome == 2, rng.uniform(1.1, 1.6, n), np.where(outcome == 3, rng.uniform(0.55, 0.9, n), 1.0)
        )
        value_before = np.where(outcome >= 0, np.round(value / factor, -2), np.nan)
        value_before = np.where(churned, value, value_before)
        value_after = np.where(churned, 0.0, np.where(outcome >= 0, value, np.nan))

        # current usage state of active accounts
        active = ~churned
        g = 1.0 - 0.85 * _sigmoid(3.0 * (comp_post[:, 0] - 1.2))
        g = np.where(exp_, 1.0, g)
        inactive = active & ~exp_ & (rng.random(n) < _sigmoid(-3.8 + 1.2 * comp_post[:, 0]))
        inactive_from = np.where(inactive, self.ref - rng.integers(62, 151, n), self.ref + 1)

        self.value, self.seats, self.story, self.planted = value, seats, story, planted
        self.young, self.has_history, self.cs_day, self.r_day = young, has_history, cs_day, r_day
        self.years = years
        self.next_renewal, self.h, self.comp_pre, self.comp_post = next_renewal, h, comp_pre, comp_post
        self.linear, self.churned, self.outcome = linear, churned, outcome
        self.value_before, self.value_after, self.util = value_before, value_after, util
        self.g, self.inactive, self.inactive_from = g, inactive, inactive_from
        # day the account stops producing data (its churn) or the reference date
        self.end_day = np.where(churned, r_day, self.ref)
        # day the pre-renewal split happens (never for young accounts)
        self.split_day = np.where(has_history, r_day, _NAT // 2)
