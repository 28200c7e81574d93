"""The demo's usage events: volume from seats, declines before churn and recently, inactivity and onboarding."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from heatmap_lib.data.demo._common import _DAY, _chunked_str, _digits, _fixed_ids, _sigmoid, _strings, _ts_col
from heatmap_lib.data.demo.plan import _Plan

EVENTS = (  # the demo's product events, in the order of _EVENT_FEATURE
    "login",
    "view_dashboard",
    "create_report",
    "export_data",
    "invite_user",
    "configure_integration",
    "run_workflow",
    "onboarding_profile",
    "onboarding_connect_data",
    "onboarding_first_report",
)
_EVENT_FEATURE = (
    None,
    "dashboards",
    "reports",
    "reports",
    "admin",
    "integrations",
    "workflows",
    "onboarding",
    "onboarding",
    "onboarding",
)
_EVENT_P = np.array([0.30, 0.27, 0.15, 0.08, 0.04, 0.05, 0.11])

_EVENT_KEEP = 0.804  # expected share of candidate events that survive thinning (calibrated)


class _UsageMixin(_Plan):
    """Builds the usage events table, in chunks of about four million candidate events."""

    def usage_table(self) -> pd.DataFrame:
        """Usage events: volume from seats; declines before churn and recently; inactivity; onboarding."""
        rng = self.rngs[4]
        n = self.n
        lo = np.maximum(self.cs_day, self.usage_start)
        span = self.ref - lo
        users = np.maximum(1, np.round(self.seats * self.util)).astype(np.int64)
        user_off = np.zeros(n + 1, dtype=np.int64)
        user_off[1:] = np.cumsum(users)
        weight = self.seats**0.7 * np.exp(0.35 * rng.standard_normal(n))
        mean = weight * (self.events_per_account * n / weight.sum() / _EVENT_KEEP)
        cand = rng.poisson(mean)

        # historical decline ramps over ~55-65 days before the renewal, to f at the renewal date
        f_hist = 1.0 - 0.9 * _sigmoid(2.2 * (self.comp_pre[:, 0] - 0.7))
        f_hist = np.where(self.has_history, f_hist, 1.0)
        hist_start = (self.r_day - rng.integers(55, 66, n)) * _DAY
        r_sec = self.r_day * _DAY
        cur_start = (self.ref - 60) * _DAY
        end_sec = self.end_day * _DAY
        inactive_sec = self.inactive_from * _DAY
        p_connect = _sigmoid(1.0 + 0.8 * self.h)
        p_report = _sigmoid(0.5 + 0.8 * self.h)
        adopt_int = rng.random(n) < _sigmoid(0.2 + 0.8 * self.h)
        adopt_wf = rng.random(n) < _sigmoid(0.6 + 0.7 * self.h)
        young_acc = lo > self.usage_start
        window_sec = self.usage_start * _DAY

        cols: dict[str, list[Any]] = {k: [] for k in ("acc", "user", "event", "feature", "t")}
        events, features = _strings(EVENTS), _strings(_EVENT_FEATURE)
        user_width = _digits(int(user_off[-1]), 7)
        csum = np.cumsum(cand)
        cuts = np.searchsorted(csum, np.arange(1, int(csum[-1]) // 4_000_000 + 1) * 4_000_000)
        starts = np.unique(np.concatenate([[0], cuts[cuts < n]])).astype(np.int64)
        for a0, a1 in zip(starts, np.append(starts[1:], n), strict=True):
            acc_range = np.arange(a0, a1)
            # users: most existed before the window; the rest (and young accounts) join inside it
            u_acc = np.repeat(acc_range, users[a0:a1])
            nu = len(u_acc)
            existing = rng.random(nu) < np.where(young_acc[u_acc], 0.0, 0.85)
            u_local = np.arange(nu) - (user_off[u_acc] - user_off[a0])
            joined = np.where(existing | (u_local == 0), 0.0, rng.random(nu) * 0.8)
            s_u = (lo[u_acc] * _DAY + joined * span[u_acc] * _DAY).astype(np.int64)
            s_u = np.where(young_acc[u_acc] & (u_local == 0), lo[u_acc] * _DAY + 3600 * 9, s_u)

            # regular events: candidates thinned by weekends, user start, declines, inactivity and churn
            a = np.repeat(acc_range, cand[a0:a1])
            m = len(a)
            day = lo[a] + np.floor(rng.random(m) * span[a]).astype(np.int64)
            secs = np.clip(rng.normal(13.5, 2.8, m), 0.0, 23.99) * 3600
            t = day * _DAY + secs.astype(np.int64)
            j = np.floor(users[a] * rng.random(m) ** 2.2).astype(np.int64)
            user = user_off[a] + j
            keep_p = np.where((day + 3) % 7 >= 5, 0.3, 1.0)
            ramp = np.clip((t - hist_start[a]) / np.maximum(r_sec[a] - hist_start[a], 1) * 1.5, 0.0, 1.0)
            in_hist = (t >= hist_start[a]) & (t < r_sec[a])
            keep_p = keep_p * np.where(in_hist, 1.0 - (1.0 - f_hist[a]) * ramp, 1.0)
            keep_p = keep_p * np.where(t >= cur_start, self.g[a], 1.0)
            keep = (rng.random(m) < keep_p) & (t >= s_u[user - user_off[a0]]) & (t < end_sec[a]) & (t < inactive_sec[a])
            a, t, user = a[keep], t[keep], user[keep]
            ev = rng.choice(len(_EVENT_P), size=len(a), p=_EVENT_P / _EVENT_P.sum()).astype(np.int8)
            ev = np.where((ev == 5) & ~adopt_int[a], 1, ev)
            ev = np.where((ev == 6) & ~adopt_wf[a], 2, ev).astype(np.int8)

            # onboarding for users who joined inside the window
            onboard = (s_u > window_sec + _DAY) & (self.events_per_account > 0)
            ou = np.flatnonzero(onboard)
            oa = u_acc[ou]
            t0 = s_u[ou] + rng.integers(0, 3600, len(ou))
            t1 = s_u[ou] + (rng.uniform(0.1, 5.0, len(ou)) * _DAY).astype(np.int64)
            t2 = t1 + (rng.uniform(0.1, 9.0, len(ou)) * _DAY).astype(np.int64)
            d1 = rng.random(len(ou)) < 0.95
            d2 = d1 & (rng.random(len(ou)) < p_connect[oa])
            d3 = d2 & (rng.random(len(ou)) < p_report[oa])
            o_acc = np.concatenate([oa[d1], oa[d2], oa[d3]])
            o_t = np.concatenate([t0[d1], t1[d2], t2[d3]])
            o_user = user_off[o_acc] + np.concatenate([u_local[ou][d1], u_local[ou][d2], u_local[ou][d3]])
            o_ev = np.repeat(np.array([7, 8, 9], dtype=np.int8), [d1.sum(), d2.sum(), d3.sum()])
            ok = (o_t < self.ref * _DAY) & (o_t < end_sec[o_acc]) & (o_t < inactive_sec[o_acc])

            a = np.concatenate([a, o_acc[ok]])
            t = np.concatenate([t, o_t[ok]])
            user = np.concatenate([user, o_user[ok]])
            ev = np.concatenate([ev, o_ev[ok]])
            order = np.argsort((a - a0) * (1 << 32) + (t - window_sec), kind="stable")
            a, t, user, ev = a[order], t[order], user[order], ev[order]
            cols["acc"].append(self.account_ids.take(pa.array(a)))
            cols["user"].append(_fixed_ids("U", user + 1, user_width))
            cols["event"].append(events.take(pa.array(ev)))
            cols["feature"].append(features.take(pa.array(ev)))
            cols["t"].append(t)

        return pd.DataFrame(
            {
                "account_id": _chunked_str(cols["acc"]),
                "user_id": _chunked_str(cols["user"]),
                "event": _chunked_str(cols["event"]),
                "occurred_at": _ts_col(np.concatenate(cols["t"]) if cols["t"] else np.zeros(0, np.int64)),
                "feature": _chunked_str(cols["feature"]),
            },
            copy=False,
        )
