"""The demo's account history tables: support tickets, quarterly invoices and the last renewal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from heatmap_lib.data.demo._common import (
    _DAY,
    _NAT,
    _USAGE_DAYS,
    _date_col,
    _digits,
    _fixed_ids,
    _month_day,
    _month_index,
    _sigmoid,
    _str_col,
    _take,
    _ts_col,
)
from heatmap_lib.data.demo.plan import _Plan


class _HistoryMixin(_Plan):
    """Builds the tickets, invoices and renewals tables from the plan."""

    # -- tickets -----------------------------------------------------------------------------------------
    def tickets_table(self) -> pd.DataFrame:
        """Support tickets: more and angrier (and escalated) for accounts with support trouble."""
        rng = self.rngs[5]
        lo = np.maximum(self.cs_day, self.usage_start)
        size = (self.seats / 90.0) ** 0.35
        split = np.clip(self.split_day, lo, self.end_day)  # before the renewal: pre components
        segs = ((lo, split, self.comp_pre[:, 4]), (split, self.end_day, self.comp_post[:, 4]))
        acc_l, t_l, c_l = [], [], []
        for s0, s1, c in segs:
            length = np.maximum(s1 - s0, 0)
            lam = 5.0 * size * np.exp(0.35 * c) * length / _USAGE_DAYS
            cnt = rng.poisson(lam)
            a = np.repeat(np.arange(self.n), cnt)
            day = s0[a] + np.floor(rng.random(len(a)) * length[a]).astype(np.int64)
            secs = (np.clip(rng.normal(12.5, 3.0, len(a)), 0.0, 23.99) * 3600).astype(np.int64)
            acc_l.append(a)
            t_l.append(day * _DAY + secs)
            c_l.append(c[a])
        a, t, c = np.concatenate(acc_l), np.concatenate(t_l), np.concatenate(c_l)
        order = np.argsort(t, kind="stable")
        a, t, c = a[order], t[order], c[order]
        m = len(a)
        sentiment = np.round(np.clip(0.15 - 0.35 * c + 0.35 * rng.standard_normal(m), -1.0, 1.0), 2)
        escalated = rng.random(m) < _sigmoid(-2.8 + 1.2 * c)
        return pd.DataFrame(
            {
                "ticket_id": _str_col(_fixed_ids("T", np.arange(1, m + 1), _digits(m, 7))),
                "account_id": _str_col(self.account_ids.take(pa.array(a))),
                "opened_at": _ts_col(t),
                "sentiment": sentiment + 0.0,
                "escalated": escalated,
            },
            copy=False,
        )

    # -- invoices ----------------------------------------------------------------------------------------
    def invoices_table(self) -> pd.DataFrame:
        """Quarterly invoices on the contract anniversary; habitual late payers and a few unpaid invoices."""
        rng = self.rngs[6]
        n = self.n
        cs_month, cs_dom = _month_index(self.cs_day)
        ws_month = _month_index(np.array([self.usage_start]))[0][0]
        k0 = np.maximum(0, (ws_month - cs_month) // 3 - 1)
        ks = k0[:, None] + np.arange(8)[None, :]
        due = _month_day(cs_month[:, None] + 3 * ks, np.minimum(cs_dom, 27)[:, None])
        ok = (due >= self.usage_start) & (due < self.end_day[:, None]) & (due < self.ref) & (due > self.cs_day[:, None])
        a = np.broadcast_to(np.arange(n)[:, None], due.shape)[ok]
        due = due[ok]
        pre = due < self.split_day[a]
        c = np.where(pre, self.comp_pre[a, 1], self.comp_post[a, 1])
        contract = np.where(pre, self.value_before[a], self.value[a])
        contract = np.where(np.isnan(contract), self.value[a], contract)
        amount = np.round(contract / 4.0, 2)
        m = len(a)
        late = rng.random(m) < _sigmoid(-1.7 + 1.6 * c)
        late_days = 1 + np.floor(rng.gamma(1.5, 5.0 + 10.0 * np.maximum(c, 0.0))).astype(np.int64)
        early_days = np.floor(rng.exponential(4.0, m)).astype(np.int64)
        paid = np.where(late, due + late_days, due - np.minimum(early_days, 25))
        unpaid = rng.random(m) < _sigmoid(-4.2 + 1.6 * c)
        paid = np.where(unpaid | (paid >= self.ref), _NAT, paid)
        order = np.lexsort((a, due))
        a, due, paid, amount = a[order], due[order], paid[order], amount[order]
        return pd.DataFrame(
            {
                "invoice_id": _str_col(_fixed_ids("INV", np.arange(1, m + 1), _digits(m, 7))),
                "account_id": _str_col(self.account_ids.take(pa.array(a))),
                "due_date": _date_col(due),
                "paid_at": _date_col(paid),
                "amount": amount.astype(np.float64),
            },
            copy=False,
        )

    # -- renewals ----------------------------------------------------------------------------------------
    def renewals_table(self) -> pd.DataFrame:
        """One historical renewal per account that had an anniversary in the last 12 months."""
        idx = np.flatnonzero(self.has_history)
        idx = idx[np.argsort(self.r_day[idx], kind="stable")]
        outcomes = ("renewed", "churned", "expanded", "contracted")
        return pd.DataFrame(
            {
                "account_id": _str_col(self.account_ids.take(pa.array(idx))),
                "renewal_date": _date_col(self.r_day[idx]),
                "outcome": _str_col(_take(outcomes, self.outcome[idx])),
                "value_before": self.value_before[idx].astype(np.float64),
                "value_after": self.value_after[idx].astype(np.float64),
            },
            copy=False,
        )
