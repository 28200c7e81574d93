"""The demo's survey waves: invitations, responses, scores, drivers and comments shaped by health and story."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa

from heatmap_lib.data.demo._common import (
    _NAT,
    _WAVES,
    _chunked_str,
    _date_col,
    _digits,
    _fixed_ids,
    _sigmoid,
    _strings,
    _take,
)
from heatmap_lib.data.demo.plan import _Plan
from heatmap_lib.data.demo.plays import _PlayPlan
from heatmap_lib.data.demo.schema import _STORY_CODE

_QUESTIONNAIRES = ("Relationship NPS", "Onboarding", "Support Follow-up")
_DRIVERS = (
    "support",
    "product performance",
    "pricing",
    "onboarding",
    "account management",
    "reliability",
    "ease of use",
    "integrations",
)
_DRIVER_WEIGHTS = np.log(
    np.array(
        [
            [3.0, 3.0, 3.0, 1.2, 1.5, 3.0, 1.0, 1.5],  # detractors: complaints
            [1.0, 1.2, 2.0, 1.0, 1.0, 1.0, 1.2, 1.0],  # passives
            [2.0, 2.2, 0.4, 1.5, 2.5, 1.8, 3.0, 2.0],  # promoters: praise
        ]
    )
)

_COMMENT_PARTS = {
    "detractor": (
        ("", "Honestly, ", "To be frank, ", "Sadly, ", "Once again: ", "As we told our account manager, "),
        (
            "support takes days to answer even simple tickets.",
            "the reports time out every Monday morning.",
            "pricing went up again without any new value for us.",
            "onboarding new colleagues is far too slow.",
            "we have had three outages this quarter.",
            "the Salesforce integration keeps breaking.",
            "nobody from your side has visited us in a year.",
            "the dashboards are slow & the exports are unreliable.",
            "we still can't get the data we were promised at signing.",
            "the new UI made daily work harder, not easier.",
            "every change request turns into a paid project.",
            "our R&D team has stopped using it.",
        ),
        (
            "",
            " We are reviewing alternatives.",
            " Please fix this before our renewal.",
            " Not impressed.",
            " Our leadership has noticed.",
            " :(",
        ),
    ),
    "passive": (
        ("", "Overall, ", "In general ", "Mostly fine: ", "It depends on the week; "),
        (
            "the product does the job but support could be faster.",
            "reports are useful, the price is a bit high.",
            "it works, though the integrations need work.",
            "good tool, steep learning curve for new users.",
            "we like the dashboards, exports are clunky.",
            "solid, nothing special.",
            'fine for our analysts, less so for the "business" side.',
            "reliable most of the time.",
        ),
        ("", " Keep improving.", " Would like a roadmap review.", " 7/10."),
    ),
    "promoter": (
        ("", "Great work! ", "Really happy: ", "Love it <3 ", "Thank you, "),
        (
            "our account manager is fantastic.",
            "the workflows saved my team hours every week.",
            "support solved our issue the same day.",
            "reports are <b>much</b> faster now & the team loves them.",
            "onboarding was smooth for everyone.",
            "the integrations just work.",
            "easy to use, even for our interns.",
            "it has become part of how we run the business.",
            "très bien, the new dashboards are excellent.",
        ),
        ("", " Keep it up!", " We will roll it out to more teams.", " Recommended it to two peers already."),
    ),
}


def _comment_pool() -> tuple[list[str], np.ndarray]:
    """All comment variants, grouped detractor/passive/promoter, and each group's start offset."""
    pool: list[str] = []
    starts = []
    for cat in ("detractor", "passive", "promoter"):
        starts.append(len(pool))
        heads, bodies, tails = _COMMENT_PARTS[cat]
        for head, body, tail in itertools.product(heads, bodies, tails):
            text = head + (body[0].upper() + body[1:] if not head or head.endswith(("! ", ": ", "3 ")) else body)
            pool.append((text + tail).strip())
    starts.append(len(pool))
    return pool, np.array(starts)


def _driver_strings() -> list[str | None]:
    """The ``;``-joined driver text for each of the 256 subsets of drivers (None for the empty set)."""
    out: list[str | None] = []
    for mask in range(256):
        chosen = [d for i, d in enumerate(_DRIVERS) if mask >> i & 1]
        out.append(";".join(chosen) if chosen else None)
    return out


def _answer(
    u: np.ndarray,
    logit: np.ndarray,
    latent: np.ndarray,
    silent: np.ndarray,
    shift_score: np.ndarray,
    shift_logit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each invitation is answered, and its score, from its uniform draw with shifted logit and score."""
    got = (u < _sigmoid(logit + shift_logit)) & ~silent
    return got, np.clip(np.round(8.0 + 2.0 * (latent + shift_score)), 0, 10).astype(np.int8)


class _SurveysMixin(_Plan):
    """Builds the invitations table (four quarterly waves), applying the plays' planted effects."""

    play_plan: _PlayPlan

    def invitations_table(self) -> pd.DataFrame:
        """Survey invitations per wave; responses, scores, drivers and comments shaped by health and story."""
        rng = self.rngs[3]
        n, story = self.n, self.story
        ca, role = self.contact_acc, self.contact_role
        nc = len(ca)
        s_code = _STORY_CODE

        # per-account survey behaviour
        resp_base = -0.62 + 0.35 * rng.standard_normal(n)
        resp_role = np.tile(np.array([-0.25, 0.0, 0.05]), (n, 1))
        score_base = 0.35 * self.h + 0.5 * rng.standard_normal(n) + 0.05
        score_role = np.tile(np.array([0.1, 0.0, 0.05]), (n, 1))
        trend = np.where(rng.random(n) < 0.1, rng.choice([-0.4, 0.4], n), 0.1 * rng.standard_normal(n))
        comp_w = np.ones(n)  # how much the risk components shape the survey (0 for planted stories)
        for code, (rb, sb) in {1: (-2.4, -1.7), 2: (1.0, 1.4), 4: (0.0, 1.4), 5: (0.0, 0.0)}.items():
            sel = story == code
            resp_base[sel], score_base[sel] = rb, sb
        hr, hl = story == s_code["hidden_risk"], story == s_code["hidden_loyalty"]
        resp_role[hr] = [1.0, 0.0, 0.0]
        score_role[hr] = [-3.4, 0.0, 0.0]
        resp_role[hl] = [0.8, 0.3, 1.3]
        score_role[hl] = [1.6, 1.5, -2.2]
        comp_w[self.planted] = 0.0
        trend[self.planted] = 0.0
        silent = story == s_code["silent"]
        surveyed = story != s_code["not_surveyed"]
        wave_off = rng.integers(0, 46, (n, _WAVES))
        ticket_factor = np.clip((self.seats / 90.0) ** 0.2, 0.5, 3.0)

        # per-contact behaviour
        first_wave = rng.choice(_WAVES, size=nc, p=[0.9, 0.04, 0.03, 0.03])
        first_wave[self.planted[ca]] = 0
        c_resp = 0.9 * rng.standard_normal(nc)
        c_score = 0.55 * rng.standard_normal(nc)
        c_score[self.planted[ca]] *= 0.4  # story accounts speak with one voice per role
        c_resp[self.planted[ca]] *= 0.5

        drivers_text = _strings(_driver_strings())
        comment_pool, comment_starts = _comment_pool()
        comments = _strings(comment_pool)
        bits = 1 << np.arange(len(_DRIVERS))
        self.play_plan = plan = _PlayPlan(self)  # plays between waves and their planted effects (stream 8)

        parts: list[dict[str, np.ndarray]] = []
        for w in range(_WAVES):
            q_start = int(self.wave_starts[w])
            acc_ok = surveyed & (q_start + wave_off[:, w] >= self.cs_day + 14)
            base_ok = acc_ok[ca] & (first_wave <= w)
            skip = (rng.random(nc) < 0.02) & ~self.planted[ca]
            rel = np.flatnonzero(base_ok & ~skip)
            new_acc = self.young[ca] & (self.cs_day[ca] >= q_start - 120)
            onb_p = np.where(first_wave == w, np.where(new_acc, 0.6, 0.3), 0.0)
            onb = np.flatnonzero(base_ok & (rng.random(nc) < onb_p))
            sup_p = 0.09 * ticket_factor[ca] * np.where(role == 2, 1.3, 0.6)
            sup = np.flatnonzero(base_ok & (rng.random(nc) < sup_p))
            contact = np.concatenate([rel, onb, sup])
            q = np.repeat(np.array([0, 1, 2], dtype=np.int8), [len(rel), len(onb), len(sup)])
            order = np.argsort(contact, kind="stable")
            contact, q = contact[order], q[order]
            a = ca[contact]
            m = len(contact)
            sent = np.where(
                q == 0,
                q_start + wave_off[a, w] + rng.integers(0, 4, m),
                q_start + rng.integers(0, 69, m),
            )
            keep = sent < self.end_day[a]  # churned accounts are not invited after churning
            contact, q, a, sent = contact[keep], q[keep], a[keep], sent[keep]
            m = len(contact)
            # done plays closed before this wave shift the account's latent score and response logit
            old_score, old_logit, new_score, new_logit = plan.before_wave(w, a, sent)
            r = role[contact]
            pre = sent < self.split_day[a]
            comp_sil = np.where(pre, self.comp_pre[a, 3], self.comp_post[a, 3])
            logit = (
                resp_base[a]
                + resp_role[a, r]
                - 0.9 * comp_w[a] * comp_sil
                + c_resp[contact]
                + np.array([0.0, 0.3, -0.2])[q]
                + 0.5 * rng.standard_normal(m)
            )
            del comp_sil
            u_resp = rng.random(m)
            responded = (u_resp < _sigmoid(logit)) & ~silent[a]
            delay = np.where(
                rng.random(m) < 0.8,
                np.minimum(np.floor(rng.exponential(2.0, m)), 21),
                rng.integers(3, 22, m),
            ).astype(np.int64)
            comp_dm = np.where(pre, self.comp_pre[a, 2], self.comp_post[a, 2])
            comp_sup = np.where(pre, self.comp_pre[a, 4], self.comp_post[a, 4])
            latent = (
                score_base[a]
                + score_role[a, r]
                - np.where(r == 0, 0.8, 0.0) * comp_w[a] * comp_dm
                + c_score[contact]
                + trend[a] * (w - 1.5)
                + np.array([0.0, 0.25, -0.35])[q]
                - np.where(q == 2, 0.3 * comp_w[a] * comp_sup, 0.0)
                + 0.6 * rng.standard_normal(m)
            )
            del comp_dm, comp_sup
            score = np.clip(np.round(8.0 + 2.0 * latent), 0, 10).astype(np.int8)
            cat = np.where(score <= 6, 0, np.where(score <= 8, 1, 2))
            # drivers: responders only; detractors lean on complaints, promoters on praise (Gumbel top-k)
            drv_p, com_p = np.array([0.75, 0.55, 0.6]), np.array([0.4, 0.22, 0.3])
            u_drv = rng.random(m)
            has_drv = responded & (u_drv < drv_p[cat])
            k = 1 + rng.binomial(2, 0.3, m)
            drv = np.flatnonzero(has_drv)
            keys = _DRIVER_WEIGHTS[cat[drv]] + rng.gumbel(size=(len(drv), len(_DRIVERS)))
            rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
            mask = np.zeros(m, dtype=np.int64)
            mask[drv] = (rank < k[drv, None]) @ bits
            u_com = rng.random(m)
            has_com = responded & (u_com < com_p[cat])
            u_idx = rng.random(m)
            com_idx = comment_starts[cat] + np.floor(u_idx * (comment_starts[cat + 1] - comment_starts[cat])).astype(
                np.int64
            )

            # the plays' effects: every draw above is made as without them (so other accounts keep theirs);
            # a treated invitation's answer is redrawn from the same uniforms with the shifted logit and score,
            # and, where that changes the answer or its category, its drivers from the plays' stream
            cf_responded, cf_score = responded, score  # the counterfactual of the play closed just before wave w
            shifted = (old_score != 0) | (old_logit != 0) | (new_score != 0) | (new_logit != 0)
            treated = np.flatnonzero(shifted[a])
            if len(treated):
                ta = a[treated]
                u_t, logit_t, latent_t, silent_t = u_resp[treated], logit[treated], latent[treated], silent[ta]
                cf_responded, cf_score = responded.copy(), score.copy()
                cf_responded[treated], cf_score[treated] = _answer(
                    u_t, logit_t, latent_t, silent_t, old_score[ta], old_logit[ta]
                )
                got, val = _answer(
                    u_t, logit_t, latent_t, silent_t, old_score[ta] + new_score[ta], old_logit[ta] + new_logit[ta]
                )
                changed = treated[(got != responded[treated]) | (val != score[treated])]
                responded, score = responded.copy(), score.copy()
                responded[treated], score[treated] = got, val
                cat = np.where(score <= 6, 0, np.where(score <= 8, 1, 2))
                redo = changed[responded[changed] & (u_drv[changed] < drv_p[cat[changed]])]
                keys = _DRIVER_WEIGHTS[cat[redo]] + plan.rng.gumbel(size=(len(redo), len(_DRIVERS)))
                rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
                mask[changed] = 0
                mask[redo] = (rank < k[redo, None]) @ bits
                has_com = responded & (u_com < com_p[cat])
                com_idx = comment_starts[cat] + np.floor(
                    u_idx * (comment_starts[cat + 1] - comment_starts[cat])
                ).astype(np.int64)
            plan.after_wave(w, a, sent, responded, score, cf_responded, cf_score)
            parts.append(
                {
                    "contact": contact,
                    "q": q,
                    "sent": sent.astype(np.int32),
                    "resp": np.where(responded, sent + delay, -1).astype(np.int32),
                    "score": np.where(responded, score, -1).astype(np.int8),
                    "drivers": mask.astype(np.uint8),
                    "comment": np.where(has_com, com_idx, -1).astype(np.int32),
                }
            )

        # strings are built wave by wave (arrow chunks) so the peak memory stays near the final size
        total = sum(len(p["contact"]) for p in parts)
        width = _digits(total, 8)
        cols: dict[str, list[pa.Array]] = {k: [] for k in ("id", "contact", "q", "wave", "drivers", "comment")}
        start = 1
        for w, p in enumerate(parts):
            m = len(p["contact"])
            cols["id"].append(_fixed_ids("I", np.arange(start, start + m), width))
            cols["contact"].append(self.contact_ids.take(pa.array(p["contact"])))
            cols["q"].append(_take(_QUESTIONNAIRES, p["q"]))
            cols["wave"].append(_take(self.wave_labels, np.full(m, w)))
            cols["drivers"].append(drivers_text.take(pa.array(p["drivers"])))
            cols["comment"].append(_take(comments, np.maximum(p["comment"], 0), p["comment"] >= 0))
            start += m
        sent = np.concatenate([p["sent"] for p in parts]).astype(np.int64)
        resp = np.concatenate([p["resp"] for p in parts]).astype(np.int64)
        score = np.concatenate([p["score"] for p in parts])
        self.inv_contact = np.concatenate([p["contact"] for p in parts]).astype(np.int32)
        self.inv_score = score
        del parts
        responded = score >= 0
        return pd.DataFrame(
            {
                "invitation_id": _chunked_str(cols["id"]),
                "contact_id": _chunked_str(cols["contact"]),
                "questionnaire": _chunked_str(cols["q"]),
                "wave": _chunked_str(cols["wave"]),
                "sent_at": _date_col(sent),
                "responded_at": _date_col(np.where(responded, resp, _NAT)),
                "score": pd.arrays.IntegerArray(np.where(responded, score, 0).astype(np.int64), ~responded),
                "drivers": _chunked_str(cols["drivers"]),
                "comment": _chunked_str(cols["comment"]),
            },
            copy=False,
        )
