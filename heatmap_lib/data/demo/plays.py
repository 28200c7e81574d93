"""The demo's plays between survey waves and after the last one, and the effects the done ones plant.

`_PlayPlan` draws them from their own random stream (index 8) while the survey waves are generated and turns
them into the plays frame and the play truth; `_PlaysMixin.plays_tables` returns both.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import pandas as pd
import pyarrow as pa

from heatmap_lib.data.demo._common import _NAT, _WAVES, _digits, _fixed_ids, _str_col
from heatmap_lib.data.demo.plan import _Plan
from heatmap_lib.data.demo.schema import PLAY_COLUMNS, PLAY_EFFECTS, PLAY_STATUSES, PLAY_TYPES, _empty_play_truth

# plays run between two waves, and how likely each is by the account's band in the wave before
_GAP_TYPES = ("executive_sponsor", "recruit_contacts", "business_review", "escalation", "expansion_conversation")
_GAP_RATE = np.array([0.21, 0.15, 0.11, 0.21])  # red, yellow, green, gray
_GAP_MIX = np.array(
    [
        [0.30, 0.15, 0.20, 0.30, 0.05],  # red: escalations and sponsors
        [0.24, 0.22, 0.26, 0.10, 0.18],  # yellow
        [0.18, 0.20, 0.25, 0.05, 0.32],  # green: expansion conversations
        [0.20, 0.50, 0.15, 0.15, 0.00],  # gray (nobody answered): recruit contacts
    ]
)
_GAP_CANCELLED = 0.08
_CURRENT_RATE = 0.15  # accounts with a play started after the last wave
_CURRENT_STATUS = np.cumsum([0.4, 0.4, 0.12, 0.08])  # open, in_progress, done, cancelled
_CUSTOM_PLAY = "Roadmap webinar"  # a team's own play type, run twice: too few to judge
_SUGGESTED_BY = {
    "recruit_contacts": "rule:low_response_rate",
    "recruit_decision_makers": "rule:no_decision_maker_answers",
    "executive_sponsor": "rule:red_account",
    "business_review": "rule:no_recent_review",
    "expansion_conversation": "rule:expansion_candidate",
    "escalation": "rule:red_account",
    "decision_maker_meeting": "rule:unhappy_decision_makers",
}
_PLAY_NOTES = {
    "recruit_contacts": ("Asked the champion for five more names", "Invited the new project team", "Survey intro mail"),
    "recruit_decision_makers": ("Need the CFO and CIO on the list", "Ask sponsor to forward the survey"),
    "executive_sponsor": ("Our VP Sales to sponsor the account", "Intro call with their COO booked", "Exec dinner"),
    "business_review": ("QBR with usage and roadmap", "Review agenda sent", "Annual review, bring the ROI deck"),
    "expansion_conversation": ("Seats for the new region?", "Pitch the workflows module", "Upsell analytics"),
    "escalation": ("Outage follow-up with support lead", "Escalated the integration bug", "Billing dispute"),
    "decision_maker_meeting": ("Meet the new CIO", "Lunch with the budget owner"),
    _CUSTOM_PLAY: ("Invite to the Q3 roadmap webinar",),
}


class _PlayPlan:
    """The demo's plays and the effects the done ones plant, drawn from their own stream (index 8).

    Between two waves, an ordinary, never-churned account surveyed in both gets a play with a probability and a
    type that depend on its band in the wave before (red accounts get escalations, green ones expansion talks), so
    a naive before/after comparison is fooled by regression to the mean while a comparison with accounts of the
    same band is not. A play is created after the account's last invitation of the wave before and closed (done,
    or cancelled) before its first invitation of the wave after; a done play of a type in `PLAY_EFFECTS` shifts
    the account's latent score and response logit in every later wave. After the last wave come plays that are
    still open or in progress (some overdue), and a few done or cancelled ones that no wave has measured yet.
    """

    def __init__(self, b: _Plan) -> None:
        n = b.n
        self.b, self.n, self.rng = b, n, b.rngs[8]
        gaps = _WAVES - 1
        self.u = self.rng.random((gaps, n, 6))  # per gap: select, type, cancel, created, closed, due
        self.eligible = (b.story == 0) & ~b.churned
        self.kind = np.full((gaps, n), -1, dtype=np.int64)  # index into _GAP_TYPES
        self.cancelled = np.zeros((gaps, n), dtype=bool)
        self.created = np.zeros((gaps, n), dtype=np.int64)
        self.closed = np.zeros((gaps, n), dtype=np.int64)
        self.due = np.zeros((gaps, n), dtype=np.int64)
        self.old_score, self.old_logit = np.zeros(n), np.zeros(n)  # shifts of plays done before the last gap
        self.new_score, self.new_logit = np.zeros(n), np.zeros(n)  # shifts of plays done in the last gap
        self.waves: list[dict[str, np.ndarray]] = []  # per wave and account: dates and counts, actual and cf
        self._now: tuple[np.ndarray, np.ndarray] = (np.zeros(n, np.int64), np.zeros(n, np.int64))

    def before_wave(self, w: int, a: np.ndarray, sent: np.ndarray) -> tuple[np.ndarray, ...]:
        """Plan the plays of the gap before wave w; return the (old score, old logit, new score, new logit) shifts."""
        n = self.n
        inv = np.bincount(a, minlength=n)
        first = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first, a, sent.astype(np.int64))
        self._now = (inv, first)
        self.new_score, self.new_logit = np.zeros(n), np.zeros(n)
        if w > 0:
            g, prev, u = w - 1, self.waves[w - 1], self.u[w - 1]
            band, last = prev["band"], prev["last"]
            room = first - last - 1  # days strictly between the two waves' invitations to the account
            ok = self.eligible & (prev["inv"] > 0) & (inv > 0) & (room >= 1)
            chosen = np.flatnonzero(ok & (u[:, 0] < _GAP_RATE[band]))
            cum = np.cumsum(_GAP_MIX, axis=1)[band[chosen]]
            kind = np.minimum((u[chosen, 1][:, None] >= cum).sum(axis=1), len(_GAP_TYPES) - 1)
            created = last[chosen] + 1 + np.floor(u[chosen, 3] * 0.6 * room[chosen]).astype(np.int64)
            closed = created + np.floor(u[chosen, 4] * (first[chosen] - created)).astype(np.int64)
            cancelled = u[chosen, 2] < _GAP_CANCELLED
            self.kind[g, chosen], self.cancelled[g, chosen] = kind, cancelled
            self.created[g, chosen], self.closed[g, chosen] = created, closed
            self.due[g, chosen] = created + 14 + np.floor(u[chosen, 5] * 32).astype(np.int64)
            effects = np.array([self.b.play_effects.get(t, (0.0, 0.0)) for t in _GAP_TYPES])
            done = chosen[~cancelled]
            self.new_score[done] = effects[kind[~cancelled], 0]
            self.new_logit[done] = effects[kind[~cancelled], 1]
        return self.old_score, self.old_logit, self.new_score, self.new_logit

    def after_wave(
        self,
        w: int,
        a: np.ndarray,
        sent: np.ndarray,
        responded: np.ndarray,
        score: np.ndarray,
        cf_responded: np.ndarray,
        cf_score: np.ndarray,
    ) -> None:
        """Record the wave per account (dates, band, counts with and without the last gap's plays)."""
        n = self.n
        inv, first = self._now
        last = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(last, a, sent.astype(np.int64))

        def counts(got: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return (
                np.bincount(a[got], minlength=n),
                np.bincount(a[got & (val >= 9)], minlength=n),
                np.bincount(a[got & (val <= 6)], minlength=n),
            )

        resp, prom, det = counts(responded, score)
        cf_resp, cf_prom, cf_det = counts(cf_responded, cf_score)
        nps = 100.0 * (prom - det) / np.maximum(resp, 1)
        band = np.where(resp == 0, 3, np.where(nps < -10, 0, np.where(nps > 10, 2, 1)))
        self.waves.append(
            {
                "inv": inv,
                "first": first,
                "last": last,
                "band": band,
                "resp": resp,
                "prom": prom,
                "det": det,
                "cf_resp": cf_resp,
                "cf_prom": cf_prom,
                "cf_det": cf_det,
            }
        )
        self.old_score = self.old_score + self.new_score
        self.old_logit = self.old_logit + self.new_logit
        self.new_score, self.new_logit = np.zeros(n), np.zeros(n)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The plays frame (`PLAY_COLUMNS`) and the play truth (see `generate`)."""
        b, n, rng = self.b, self.n, self.rng
        names = [*PLAY_TYPES, _CUSTOM_PLAY]
        gap_code = np.array([names.index(t) for t in _GAP_TYPES])
        # the plays between waves: done or cancelled
        g_idx, acc = np.nonzero(self.kind >= 0)
        code = gap_code[self.kind[g_idx, acc]]
        status = np.where(self.cancelled[g_idx, acc], 3, 2)
        created, closed, due = self.created[g_idx, acc], self.closed[g_idx, acc], self.due[g_idx, acc]
        # a team's own play type, run twice (no effect): too few to judge
        quiet = np.flatnonzero((status == 2) & ~np.isin(code, [names.index(t) for t in PLAY_EFFECTS]))
        code[rng.permutation(quiet)[:2]] = names.index(_CUSTOM_PLAY)

        # the plays after the last wave: mostly open or in progress (some overdue), a few done or cancelled
        u = rng.random((n, 6))
        last = self.waves[-1]["last"]
        room = b.ref - last - 1
        now = np.flatnonzero(self.eligible & (self.waves[-1]["inv"] > 0) & (room >= 1) & (u[:, 0] < _CURRENT_RATE))
        c_status = np.minimum(np.searchsorted(_CURRENT_STATUS, u[now, 1], side="right"), 3)
        c_created = last[now] + 1 + np.floor(u[now, 2] * room[now]).astype(np.int64)
        c_closed = c_created + np.floor(u[now, 3] * (b.ref - c_created)).astype(np.int64)
        c_due = np.where(u[now, 5] < 0.08, _NAT, c_created + 7 + np.floor(u[now, 4] * 50).astype(np.int64))
        c_code = np.floor(u[now, 5] * len(PLAY_TYPES)).astype(np.int64)

        acc_all = np.concatenate([acc, now])
        code_all = np.concatenate([code, c_code])
        status_all = np.concatenate([status, c_status])
        created_all = np.concatenate([created, c_created])
        closed_all = np.where(status_all >= 2, np.concatenate([closed, c_closed]), _NAT)
        due_all = np.concatenate([due, c_due])
        order = np.lexsort((acc_all, created_all))
        acc_all, code_all, status_all = acc_all[order], code_all[order], status_all[order]
        created_all, closed_all, due_all = created_all[order], closed_all[order], due_all[order]
        m = len(acc_all)
        u_s, u_n = rng.random(m), rng.random(m)
        play_names = np.array(names, dtype=object)[code_all]
        suggested = [_SUGGESTED_BY.get(t, "") if x < 0.4 else "" for t, x in zip(play_names, u_s, strict=True)]
        notes = [
            "" if x < 0.2 else _PLAY_NOTES[t][int((x - 0.2) / 0.8 * len(_PLAY_NOTES[t]))]
            for t, x in zip(play_names, u_n, strict=True)
        ]

        def dates(days: np.ndarray) -> list[datetime.date | None]:
            return list(np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype(object))

        plays = pd.DataFrame(
            {
                "play_id": _str_col(_fixed_ids("P", np.arange(1, m + 1), _digits(m, 5))),
                "account_id": _str_col(b.account_ids.take(pa.array(acc_all))),
                "play": pd.Series(play_names.tolist(), dtype="str"),
                "owner": _str_col(b.manager_names.take(pa.array(acc_all))),
                "due_date": pd.Series(dates(due_all), dtype=object),
                "status": pd.Series(np.array(PLAY_STATUSES)[status_all].tolist(), dtype="str"),
                "notes": pd.Series(notes, dtype="str"),
                "created_at": pd.Series(dates(created_all), dtype=object),
                "closed_at": pd.Series(dates(closed_all), dtype=object),
                "suggested_by": pd.Series(suggested, dtype="str"),
            },
            columns=list(PLAY_COLUMNS),
        )
        return plays, self._truth(g_idx[status == 2], acc[status == 2], code[status == 2], names, plays)

    def _truth(
        self, gap: np.ndarray, acc: np.ndarray, code: np.ndarray, names: list[str], plays: pd.DataFrame
    ) -> pd.DataFrame:
        """The realised effect of each done play type on the treated accounts in the wave after its play."""
        nps_eff, rate_eff = np.full(len(acc), np.nan), np.full(len(acc), np.nan)
        for g in range(_WAVES - 1):
            sel = np.flatnonzero(gap == g)
            a = acc[sel]
            before, after = self.waves[g], self.waves[g + 1]
            resp, cf_resp, inv = after["resp"][a], after["cf_resp"][a], after["inv"][a]
            with np.errstate(divide="ignore", invalid="ignore"):
                actual = 100.0 * (after["prom"][a] - after["det"][a]) / resp
                cf = 100.0 * (after["cf_prom"][a] - after["cf_det"][a]) / cf_resp
            ok = (before["resp"][a] > 0) & (resp > 0) & (cf_resp > 0)
            nps_eff[sel] = np.where(ok, actual - cf, np.nan)
            rate_eff[sel] = np.where((before["inv"][a] > 0) & (inv > 0), (resp - cf_resp) / np.maximum(inv, 1), np.nan)
        present = set(plays["play"])
        rows = []
        for i, name in enumerate(names):
            if name not in present and name not in PLAY_EFFECTS:
                continue
            shifts = self.b.play_effects.get(name, (0.0, 0.0))
            for metric, values, shift in (("nps", nps_eff, shifts[0]), ("response_rate", rate_eff, shifts[1])):
                v = values[code == i]
                v = v[~np.isnan(v)]
                effect = float(v.mean()) if len(v) else math.nan
                rows.append(
                    {
                        "play": name,
                        "metric": metric,
                        "shift": float(shift),
                        "effect": effect,
                        "plays": len(v),
                        "planted": shift != 0,
                    }
                )
        return pd.DataFrame(rows, columns=list(_empty_play_truth().columns)).astype({"plays": np.int64})


class _PlaysMixin(_Plan):
    """Returns the plays planned while the invitations were drawn."""

    play_plan: _PlayPlan

    def plays_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The account teams' plays and the true effect of the done ones (needs `invitations_table` first)."""
        return self.play_plan.frames()
