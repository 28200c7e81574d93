"""The demo's planted truth per account: labels, latent signals and the measured survey shape."""

from __future__ import annotations

import numpy as np
import pandas as pd

from heatmap_lib.data.demo._common import _sigmoid, _str_col
from heatmap_lib.data.demo.plan import _RISKS, _Plan
from heatmap_lib.data.demo.schema import STORIES


class _TruthMixin(_Plan):
    """Builds the per-account truth table (never written to disk) from the plan and the invitations."""

    def truth_table(self) -> pd.DataFrame:
        """Planted labels, latent signals and the measured survey shape per account; failed plants demoted."""
        n = self.n
        resp = self.inv_score >= 0
        a = self.contact_acc[self.inv_contact]
        r = self.contact_role[self.inv_contact]
        prom = resp & (self.inv_score >= 9)
        det = resp & (self.inv_score <= 6)

        def counts(mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            sel = np.ones(len(a), dtype=bool) if mask is None else mask
            return (
                np.bincount(a[sel], minlength=n),
                np.bincount(a[sel & resp], minlength=n),
                np.bincount(a[sel & prom], minlength=n),
                np.bincount(a[sel & det], minlength=n),
            )

        def nps(p: np.ndarray, d: np.ndarray, k: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(k > 0, 100.0 * (p - d) / np.maximum(k, 1), np.nan)

        inv, res, pr, de = counts()
        invited_contacts = np.bincount(self.contact_acc[np.unique(self.inv_contact)], minlength=n)
        acc_nps = nps(pr, de, res)
        rate = np.where(inv > 0, res / np.maximum(inv, 1), 0.0)
        band = np.where(res == 0, "gray", np.where(acc_nps < -10, "red", np.where(acc_nps > 10, "green", "yellow")))
        _, dres, dpr, dde = counts(r == 0)
        dm_nps = nps(dpr, dde, dres)
        _, ires, ipr, ide = counts(r == 1)
        inf_nps = nps(ipr, ide, ires)
        _, ddres, ddpr, ddde = counts(r == 2)
        d2d_nps = nps(ddpr, ddde, ddres)

        shown = inv > 0
        med_value = np.median(self.value[shown]) if shown.any() else 0.0
        med_fp = np.median(invited_contacts[shown]) if shown.any() else 0.0
        med_rate = np.median(rate[shown]) if shown.any() else 0.0
        code = self.story
        ok = np.ones(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            checks = {
                1: (self.value > med_value)
                & (invited_contacts > med_fp)
                & (rate < np.minimum(0.25, med_rate))
                & ((res == 0) | (acc_nps < -10)),
                2: (self.value < med_value) & (invited_contacts > med_fp) & (rate >= med_rate) & (acc_nps > 10),
                3: (inv > 0) & (res == 0),
                4: (dres > 0) & (dm_nps < 0) & (acc_nps >= -10),
                5: (dres > 0) & (ires > 0) & (dm_nps > 0) & (inf_nps > 0) & (acc_nps < -10),
                6: inv == 0,
            }
        for c, passed in checks.items():
            ok &= ~((code == c) & ~passed)
        final = np.where(ok, code, 0)

        outcomes = np.array(["renewed", "churned", "expanded", "contracted", ""], dtype=object)
        usage_now = np.where(
            self.churned, "", np.where(self.inactive, "inactive", np.where(self.g < 0.5, "falling", "normal"))
        )
        truth = pd.DataFrame(
            {
                "account_id": _str_col(self.account_ids),
                "story": pd.Series(np.array(STORIES, dtype=object)[final], dtype="str"),
                "planted_story": pd.Series(np.array(STORIES, dtype=object)[code], dtype="str"),
                "health": self.h,
                "churn_score": self.linear,
                "churned": self.churned,
                "outcome": pd.Series(outcomes[self.outcome], dtype="str").replace("", np.nan),
                "tenure_years_at_renewal": np.where(self.has_history, self.years, 0).astype(np.int64),
                "usage_now": pd.Series(usage_now.astype(object), dtype="str").replace("", np.nan),
                "usage_decline_before_renewal": np.where(
                    self.has_history, 1.0 - 0.9 * _sigmoid(2.2 * (self.comp_pre[:, 0] - 0.7)), np.nan
                ),
            },
            copy=False,
        )
        for i, name in enumerate(_RISKS):
            truth[f"risk_{name}"] = self.comp_pre[:, i]
        truth["invitations"] = inv
        truth["responses"] = res
        truth["contacts_invited"] = invited_contacts
        truth["response_rate"] = rate
        truth["nps"] = acc_nps
        truth["band"] = pd.Series(band.astype(object), dtype="str")
        truth["dm_nps"] = dm_nps
        truth["influencer_nps"] = inf_nps
        truth["day_to_day_nps"] = d2d_nps
        return truth
