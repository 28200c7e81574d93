"""The demo generator's entry points: `generate` runs the table builders in order, `write_demo` writes the result.

`_Builder` combines the plan with every table's mixin; `write_demo` also puts the demo's plays in a workspace's
actions store when asked.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, cast

from heatmap_lib.data import plays as _plays
from heatmap_lib.data.demo.accounts import _AccountsMixin
from heatmap_lib.data.demo.formats import _FORMATS, Format, write_tables
from heatmap_lib.data.demo.history import _HistoryMixin
from heatmap_lib.data.demo.plays import _PlaysMixin
from heatmap_lib.data.demo.schema import REFERENCE_DATE, DemoData
from heatmap_lib.data.demo.surveys import _SurveysMixin
from heatmap_lib.data.demo.truth import _TruthMixin
from heatmap_lib.data.demo.usage import _UsageMixin


class _Builder(_AccountsMixin, _SurveysMixin, _UsageMixin, _HistoryMixin, _PlaysMixin, _TruthMixin):
    """Holds the per-account plan and builds each table from it."""


def generate(
    accounts: int = 200,
    seed: int = 7,
    *,
    reference_date: datetime.date = REFERENCE_DATE,
    usage_events_per_account: int = 300,
    plant_play_effects: bool = True,
) -> DemoData:
    """Generate the seeded demo dataset (all seven tables), its per-account planted truth, plays and their truth.

    Plays come from their own random stream: every table is the same as without plays except the invitations of
    accounts with a done play of a type in `PLAY_EFFECTS`, whose answers in the waves after the play are redrawn
    from the same random numbers with the shifted latent score and response logit. `plant_play_effects=False`
    keeps the plays but plants no effect (every table then is exactly as without plays).

    `play_truth` has one row per play type (each type in `plays` and each in `PLAY_EFFECTS`) and metric: `shift`
    (the planted shift: latent-score units for `nps`, response logit for `response_rate`), `effect` (the realised
    average effect on the treated) and `plays` (how many done plays it averages over), `planted` (shift != 0).
    The effect of a done play is measured in the account's wave after it (the next wave), against the
    counterfactual drawn from the same random numbers without that play's shift (earlier plays' shifts kept):
    for `nps`, account NPS actual minus counterfactual, over the plays whose account answered in the wave before
    and, actually and counterfactually, in the wave after; for `response_rate`, (responses actual minus
    counterfactual) / invitations in the wave after, as a fraction. Both are averaged over those plays.
    """
    if int(accounts) < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    if int(usage_events_per_account) < 0:
        raise ValueError(f"usage_events_per_account must be >= 0, got {usage_events_per_account}")
    if isinstance(reference_date, datetime.datetime):
        reference_date = reference_date.date()
    b = _Builder(int(accounts), int(seed), reference_date, int(usage_events_per_account), plant_play_effects)
    b.plan_accounts()
    tables = {"accounts": b.accounts_table(), "contacts": b.contacts_table()}
    tables["invitations"] = b.invitations_table()
    tables["usage_events"] = b.usage_table()
    tables["tickets"] = b.tickets_table()
    tables["invoices"] = b.invoices_table()
    tables["renewals"] = b.renewals_table()
    plays, play_truth = b.plays_tables()
    return DemoData(tables=tables, truth=b.truth_table(), plays=plays, play_truth=play_truth)


def write_demo(
    out: Path, accounts: int = 200, seed: int = 7, fmt: str = "csv", *, workspace: Path | None = None, **kw: Any
) -> Path:
    """Generate the demo dataset and write it to ``out`` in ``fmt``; return the dataset path.

    With ``workspace``, the demo's plays go into that workspace's actions store (by play_id, so writing the demo
    again updates them instead of adding copies); they are never written into the dataset.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(_FORMATS)}")
    data = generate(accounts, seed, **kw)
    path = write_tables(data.tables, Path(out), cast(Format, fmt))
    if workspace is not None:
        store = _plays.PlayStore(workspace)
        store.bind(_plays.DatasetAccounts(_plays.dataset_accounts(data.tables["accounts"]).names, str(path)))
        store.import_frame(data.plays, source="demo plays")
    return path
