"""The demo's public contract: its tables and columns, date/timestamp columns, stories, plays constants, `DemoData`.

Everything another module (or a test) needs to know about the shape of what the generator returns and writes:
the seven tables' columns (`TABLE_COLUMNS`), which of them are dates or timestamps, the planted `STORIES`, the
plays frame's columns, types, statuses and planted effects, and the `DemoData` container with its empty
plays/play-truth defaults.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd

from heatmap_lib.data import plays as _plays

REFERENCE_DATE = datetime.date(2026, 10, 1)

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": (
        "account_id",
        "account_name",
        "value",
        "tier",
        "region",
        "industry",
        "sales_rep",
        "account_manager",
        "renewal_date",
        "customer_since",
        "seats",
        "status",
    ),
    "contacts": ("contact_id", "account_id", "role", "name", "email", "title"),
    "invitations": (
        "invitation_id",
        "contact_id",
        "questionnaire",
        "wave",
        "sent_at",
        "responded_at",
        "score",
        "drivers",
        "comment",
    ),
    "usage_events": ("account_id", "user_id", "event", "occurred_at", "feature"),
    "tickets": ("ticket_id", "account_id", "opened_at", "sentiment", "escalated"),
    "invoices": ("invoice_id", "account_id", "due_date", "paid_at", "amount"),
    "renewals": ("account_id", "renewal_date", "outcome", "value_before", "value_after"),
}
DATE_COLUMNS = frozenset({"renewal_date", "customer_since", "sent_at", "responded_at", "due_date", "paid_at"})
TIMESTAMP_COLUMNS = frozenset({"occurred_at", "opened_at"})
STORIES = (
    "ordinary",
    "revenue_at_risk",
    "expansion",
    "silent",
    "hidden_risk",
    "hidden_loyalty",
    "not_surveyed",
)
XLSX_MAX_ROWS = 1_048_575  # Excel's 1,048,576 rows minus the header

_STORY_CODE = {name: i for i, name in enumerate(STORIES)}

# plays: the actions store's frame (one row per play), its built-in types and statuses come from heatmap_lib.data.plays
PLAY_COLUMNS = _plays.COLUMNS
PLAY_TYPES = tuple(_plays.PLAY_TYPES)
PLAY_STATUSES = _plays.STATUSES
# What a done play plants in every later wave: (shift of the latent score, shift of the response logit). A score is
# round(8 + 2 x latent), so +0.35 moves answers 0.7 points up (NPS about +20); +0.6 on the logit raises a
# response rate of about 35% by about 13 points. Types not listed (escalation, ...) change nothing.
PLAY_EFFECTS: dict[str, tuple[float, float]] = {
    "executive_sponsor": (0.35, 0.0),
    "recruit_contacts": (0.0, 0.6),
    "business_review": (0.2, 0.3),
}


def _empty_plays() -> pd.DataFrame:
    """A plays frame with the contract's columns and no row."""
    dates = ("due_date", "created_at", "closed_at")
    return pd.DataFrame({c: pd.Series(dtype=object if c in dates else "str") for c in PLAY_COLUMNS})


def _empty_play_truth() -> pd.DataFrame:
    """A play-truth frame with its columns and no row."""
    return pd.DataFrame(
        {
            "play": pd.Series(dtype=object),
            "metric": pd.Series(dtype=object),
            "shift": pd.Series(dtype=float),
            "effect": pd.Series(dtype=float),
            "plays": pd.Series(dtype=np.int64),
            "planted": pd.Series(dtype=bool),
        }
    )


@dataclass(frozen=True)
class DemoData:
    """Generated demo tables (name -> DataFrame) plus per-account planted truth (never written to disk).

    `plays` is the account teams' plays (the actions store's frame, `PLAY_COLUMNS`) and `play_truth` what the
    done ones really did (see `generate`); neither is a dataset table, so `write_demo` does not write them.
    """

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    plays: pd.DataFrame = dataclasses.field(default_factory=_empty_plays)
    play_truth: pd.DataFrame = dataclasses.field(default_factory=_empty_play_truth)
