"""Seeded, vectorised demo dataset for the Customer Heat Map: accounts, surveys, usage, money and renewals.

The generator plants stories that the rest of the project is tested against (``DemoData.truth``):

* ``revenue_at_risk``: valuable accounts with a big footprint, a low response rate and detractors (red/gray);
* ``expansion``: small accounts with a big footprint, a high response rate and promoters (green);
* ``silent``: invited, nobody ever answered (gray);
* ``hidden_risk``: decision makers' NPS < 0 while the account NPS is >= -10;
* ``hidden_loyalty``: decision makers and influencers net positive, day-to-day users pull the account
  below -10;
* ``not_surveyed``: active, mostly valuable accounts that received no invitation (blind spots);
* ``ordinary``: everyone else, with a spread of NPS bands.

Every account carries a latent health. Five risk components (usage decline, payment delays, unhappy
decision makers, silence, support trouble) are drawn around it with noise and the tables are generated from
them. Churn at the account's renewal in the last 12 months is drawn from a logistic of those components plus
short tenure, so a logistic regression on signals measured from the tables *before* each renewal recovers
the planted signs. Event volume depends on seats, not on churn. Story accounts renewed early in the history
window (before the surveys that show their story) and are always active.

Plays (``DemoData.plays``, the actions store's frame) come from a random stream of their own: about a third of
the ordinary accounts get one between two waves, chosen by their band, and the done ones of the types in
``PLAY_EFFECTS`` raise the account's later scores or response rates by a planted amount, whose realised size is
``DemoData.play_truth``. Accounts without such a play have exactly the tables they would have without plays.

Everything is vectorised with numpy (loops only over tables, waves and chunks) and strings are built with
pyarrow, so ``generate(100_000)`` (about 2.5M contacts, 10M invitations, 30M usage events) stays fast.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import itertools
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from heatmap_lib.data import plays as _plays

__all__ = [
    "DATE_COLUMNS",
    "PLAY_COLUMNS",
    "PLAY_EFFECTS",
    "PLAY_STATUSES",
    "PLAY_TYPES",
    "REFERENCE_DATE",
    "STORIES",
    "TABLE_COLUMNS",
    "TIMESTAMP_COLUMNS",
    "XLSX_MAX_ROWS",
    "DemoData",
    "generate",
    "write_demo",
    "write_tables",
]

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

_DAY = 86_400
_NAT = np.iinfo(np.int64).min
_EPOCH = datetime.date(1970, 1, 1)
_USAGE_DAYS = 456  # ~15 months of usage, tickets and invoices before the reference date
_HISTORY_DAYS = 365  # renewal history: the 12 months before the reference date
_WAVES = 4
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
_STORY_CODE = {name: i for i, name in enumerate(STORIES)}

_REGIONS = ("West", "East", "Central", "EMEA", "APAC")
_REGION_P = (0.24, 0.21, 0.16, 0.26, 0.13)
_INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Logistics",
    "Education",
    "Energy",
)
_INDUSTRY_P = (0.22, 0.15, 0.13, 0.14, 0.11, 0.09, 0.07, 0.09)
_TIERS = ("SMB", "Mid-Market", "Enterprise", "Strategic")
_TIER_EDGES = (25_000.0, 100_000.0, 500_000.0)
_ROLES = ("decision_maker", "influencer", "day_to_day")
_ROLE_P = (0.12, 0.31, 0.57)  # plus one forced decision maker per account: ~15/30/55 overall
_TITLES = (
    (
        "CEO",
        "CFO",
        "COO",
        "CTO",
        "CIO",
        "VP Operations",
        "VP Engineering",
        "VP Finance",
        "Head of Procurement",
        "Managing Director",
        "Chief Revenue Officer",
        "Director of IT",
    ),
    (
        "IT Manager",
        "Operations Manager",
        "Product Owner",
        "Team Lead",
        "Finance Manager",
        "Head of Analytics",
        "Engineering Manager",
        "Program Manager",
        "Senior Architect",
        "Procurement Manager",
    ),
    (
        "Analyst",
        "Data Analyst",
        "Specialist",
        "Coordinator",
        "Engineer",
        "Associate",
        "Administrator",
        "Consultant",
        "Accountant",
        "Support Agent",
        "Developer",
        "Planner",
    ),
)
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


def _words(text: str) -> list[str]:
    """Whitespace-separated words of a literal."""
    return text.split()


_EVENT_KEEP = 0.804  # expected share of candidate events that survive thinning (calibrated)

_FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark "
    "Sandra Steven Ashley Paul Emily Andrew Michelle Joshua Amanda Kevin Melissa Brian Deborah Priya "
    "Rahul Ananya Arjun Wei Mei Jun Hiroshi Yuki Sakura Kenji Min-jun Seo-yeon Carlos María José "
    "Lucía Sofía Diego Valentina Mateo Camila Lukas Anna Jonas Lea Felix Clara Emma Louis Chloé Hugo "
    "Noah Olivia Liam Aisha Omar Fatima Youssef Amara Kwame Chidi Zanele Sipho Ingrid Lars Astrid "
    "Søren Freya Beatriz João Giulia Marco Francesca Luca Zoë Niamh Siobhán Aleksandr Olga Dmitri "
    "Katarzyna Piotr"
)
_LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Müller Schmidt "
    "Schneider Fischer Weber Meyer Wagner Becker Dubois Lefèvre Moreau Laurent Rossi Russo Ferrari "
    "Esposito Bianchi Silva Santos Oliveira Pereira Costa Patel Sharma Singh Gupta Kumar Wang Zhang "
    "Liu Chen Yang Tanaka Suzuki Takahashi Watanabe Kim Park Choi Jensen Nielsen Hansen Johansson "
    "Andersson Kowalski Nowak Ivanov O'Brien Murphy Okafor Mensah Ndlovu Haddad Khan Cohen"
)
_NAME_HEADS = _words(
    "Nor Bright Blue Clear Silver Iron Summit North Apex Vertex Nova Terra Quant Stellar Prime Cobalt "
    "Amber Cedar Harbor River Pine Oak Maple Crest Falcon Eagle Orbit Pixel Data Cloud Swift True "
    "Bold Green Red Sun Star Key Core Peak Arc Zen Omni Poly Neo Syn Inno Velo Aero Hydro Geo Bio "
    "Medi Fin Agri Logi Tech Info Opti Magna"
)
_NAME_TAILS = _words(
    "vex wave line point stone field bridge gate works ware logic scape sphere path forge mark stack "
    "bit flow grid hub tron sys nex ara ora ium ify io ex ica on is us ent ova ix iq ton dale"
)
_NAME_WORDS = _words(
    "Systems Analytics Logistics Health Energy Foods Capital Partners Solutions Manufacturing "
    "Networks Software Retail Media Pharma Insurance Industries Robotics Materials Motors Telecom "
    "Labs Consulting Ventures Aerospace Biotech Security Learning Dynamics"
)
# distinct company name cores ("Nor" + "vex"); a name is unique when its (core, word, suffix) code is
_NAME_CORES = sorted({head + tail for head in _NAME_HEADS for tail in _NAME_TAILS})
# (suffix, top-level domain) per region
_SUFFIXES = {
    "West": (("Inc", ".com"), ("LLC", ".com"), ("Corp", ".com"), ("Co", ".com"), ("Group", ".com")),
    "East": (("Inc", ".com"), ("LLC", ".com"), ("Corp", ".com"), ("Holdings", ".com"), ("Group", ".com")),
    "Central": (("Inc", ".com"), ("LLC", ".com"), ("Corp", ".com"), ("Co", ".com"), ("Group", ".com")),
    "EMEA": (
        ("GmbH", ".de"),
        ("AG", ".de"),
        ("Ltd", ".co.uk"),
        ("plc", ".co.uk"),
        ("SA", ".fr"),
        ("SAS", ".fr"),
        ("BV", ".nl"),
        ("AB", ".se"),
        ("Group", ".eu"),
    ),
    "APAC": (
        ("Pty Ltd", ".com.au"),
        ("Pte Ltd", ".sg"),
        ("KK", ".jp"),
        ("Ltd", ".co.nz"),
        ("Group", ".asia"),
    ),
}

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


# ----------------------------------------------------------------------------------------------------
# small vectorised helpers


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _digits(n: int, minimum: int) -> int:
    """Number of decimal digits needed for ids up to n, at least minimum."""
    return max(minimum, len(str(max(int(n), 1))))


_PAIRS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8)


def _fixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded ids such as A000001 built as one arrow string buffer (no per-row formatting)."""
    n = len(numbers)
    head = prefix.encode("ascii")
    size = len(head) + width
    buf = np.empty((n, size), dtype=np.uint8)
    if head:
        buf[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    x = np.asarray(numbers, dtype=np.int64).copy()
    pos = size
    while pos - 2 >= len(head):
        x, r = np.divmod(x, 100)
        buf[:, pos - 2 : pos] = _PAIRS[r]
        pos -= 2
    if pos > len(head):
        buf[:, pos - 1] = (x % 10 + 48).astype(np.uint8)
    offsets = np.arange(n + 1, dtype=np.int64) * size
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


def _strings(values: Sequence[str | None]) -> pa.Array:
    """A small arrow string dictionary."""
    return pa.array(list(values), type=pa.large_string())


def _take(values: Sequence[str | None] | pa.Array, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """values[idx] as an arrow string array; null where valid is False."""
    arr = values if isinstance(values, pa.Array) else _strings(values)
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64), mask=mask))


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrow string arrays (and literal strings)."""
    args = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar("", pa.large_string()))


def _str_col(arr: pa.Array) -> pd.Series:
    """Arrow strings as a pandas ``str`` column (missing = NaN)."""
    return arr.to_pandas()


def _chunked_str(chunks: list[pa.Array]) -> pd.Series:
    """Arrow string chunks as one pandas ``str`` column without concatenating them."""
    return pa.chunked_array(chunks, type=pa.large_string()).to_pandas()


def _date_col(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (``_NAT`` for missing) as datetime64[s] at midnight."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[s]")


def _ts_col(seconds: np.ndarray) -> np.ndarray:
    """Seconds since 1970-01-01 as datetime64[s]."""
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")


def _cumcount(keys: np.ndarray) -> np.ndarray:
    """Rank of each element among equal keys, in order of appearance (0 for the first)."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    start = np.ones(len(keys), dtype=bool)
    start[1:] = sk[1:] != sk[:-1]
    pos = np.arange(len(keys))
    first = np.maximum.accumulate(np.where(start, pos, 0))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = pos - first
    return out


def _slug(text: str) -> str:
    """Lower-case ASCII slug of a name (accents and punctuation dropped)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum() or ch == "-")


def _day(d: datetime.date) -> int:
    """Days since 1970-01-01."""
    return (d - _EPOCH).days


def _month_index(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar month index (months since 1970-01) and 0-based day of month."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    return m.astype(np.int64), (d - m.astype("datetime64[D]")).astype(np.int64)


def _month_day(months: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Days since epoch for a month index plus a 0-based day of month (dom <= 27, valid in every month)."""
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(
        np.int64
    ) + np.asarray(dom, dtype=np.int64)


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


# ----------------------------------------------------------------------------------------------------
# the generator


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

    def __init__(self, b: _Builder) -> None:
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


class _Builder:
    """Holds the per-account plan and builds each table from it."""

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

    # -- accounts ----------------------------------------------------------------------------------------
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

    def accounts_table(self) -> pd.DataFrame:
        """The accounts table with realistic unique names and person pools for reps and managers."""
        n, rng = self.n, self.rngs[1]
        region = rng.choice(len(_REGIONS), size=n, p=_REGION_P)
        industry = rng.choice(len(_INDUSTRIES), size=n, p=_INDUSTRY_P)
        tier = np.searchsorted(np.array(_TIER_EDGES), self.value, side="right")

        # names: head+tail core, optional word, region-specific legal suffix; unique by redrawing collisions
        suffix_list: list[str] = []
        tld_list: list[str] = []
        region_start = np.zeros(len(_REGIONS), dtype=np.int64)
        region_len = np.zeros(len(_REGIONS), dtype=np.int64)
        for i, reg in enumerate(_REGIONS):
            region_start[i] = len(suffix_list)
            region_len[i] = len(_SUFFIXES[reg])
            for legal, tld in _SUFFIXES[reg]:
                suffix_list.append(" " + legal)
                tld_list.append(tld)
        n_cores, n_words = len(_NAME_CORES), len(_NAME_WORDS) + 1
        distinct = sorted(set(suffix_list))
        suffix_key = np.array([distinct.index(x) for x in suffix_list])  # "Inc" is one suffix in 3 regions

        def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            core = rng.integers(0, n_cores, m)
            word = np.where(rng.random(m) < 0.4, 0, rng.integers(1, n_words, m))
            return core, word, rng.random(m)

        core_idx, word, su = draw(n)
        for _ in range(60):
            suffix = region_start[region] + np.floor(su * region_len[region]).astype(np.int64)
            code = (core_idx * n_words + word) * len(distinct) + suffix_key[suffix]
            dup = _cumcount(code) > 0
            if not dup.any():
                break
            core_idx[dup], word[dup], su[dup] = draw(int(dup.sum()))
        suffix = region_start[region] + np.floor(su * region_len[region]).astype(np.int64)
        code = (core_idx * n_words + word) * len(distinct) + suffix_key[suffix]
        rank = _cumcount(code)  # only non-zero if the name space is exhausted
        core = _take(_NAME_CORES, core_idx)
        words = _strings([""] + [" " + w for w in _NAME_WORDS])
        extra = _take([""] + [f" {i + 1}" for i in range(1, int(rank.max()) + 1)], rank)
        name = _join(core, _take(words, word), extra, _take(suffix_list, suffix))
        word_slugs = _strings([""] + [_slug(w) for w in _NAME_WORDS])
        rank_slug = _take([""] + [str(i + 1) for i in range(1, int(rank.max()) + 1)], rank)
        self.domain = _join(pc.utf8_lower(core), _take(word_slugs, word), rank_slug, _take(tld_list, suffix))

        # people pools: ~1 manager per 15 accounts, ~1 rep per 25, capped; spread across regions
        n_mgr = int(np.clip(np.ceil(n / 15), 2, 400))
        n_rep = int(np.clip(np.ceil(n / 25), 2, 250))
        n_people = len(_FIRST_NAMES) * len(_LAST_NAMES)
        people = rng.choice(n_people, size=n_mgr + n_rep, replace=False)
        person_names = _join(
            _take(_FIRST_NAMES, people // len(_LAST_NAMES)),
            " ",
            _take(_LAST_NAMES, people % len(_LAST_NAMES)),
        )

        def assign(pool_start: int, size: int) -> np.ndarray:
            nreg = len(_REGIONS)
            if size < nreg:
                return pool_start + rng.integers(0, size, n)
            count = (size - region - 1) // nreg + 1  # members i with i % nreg == region
            pick = np.floor(rng.random(n) ** 1.3 * count).astype(np.int64)
            return pool_start + region + nreg * pick

        manager = assign(0, n_mgr)
        rep = assign(n_mgr, n_rep)
        self.manager_names = person_names.take(pa.array(manager))  # the owners of the demo's plays
        self.account_ids = _fixed_ids("A", np.arange(1, n + 1), _digits(n, 6))

        renewal = np.where(self.churned, self.r_day, self.next_renewal)
        return pd.DataFrame(
            {
                "account_id": _str_col(self.account_ids),
                "account_name": _str_col(name),
                "value": self.value.astype(np.float64),
                "tier": _str_col(_take(_TIERS, tier)),
                "region": _str_col(_take(_REGIONS, region)),
                "industry": _str_col(_take(_INDUSTRIES, industry)),
                "sales_rep": _str_col(person_names.take(pa.array(rep))),
                "account_manager": _str_col(person_names.take(pa.array(manager))),
                "renewal_date": _date_col(renewal),
                "customer_since": _date_col(self.cs_day),
                "seats": self.seats.astype(np.int64),
                "status": _str_col(_take(("active", "churned"), self.churned.astype(np.int64))),
            },
            copy=False,
        )

    # -- contacts ----------------------------------------------------------------------------------------
    def contacts_table(self) -> pd.DataFrame:
        """Contacts with roles (story-shaped where needed), names, emails from the account domain, titles."""
        rng = self.rngs[2]
        counts = self.contacts_n
        total = int(counts.sum())
        acc = np.repeat(np.arange(self.n, dtype=np.int64), counts)
        offsets = np.zeros(self.n + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(counts)
        local = np.arange(total, dtype=np.int64) - offsets[acc]
        story = self.story[acc]

        u = rng.random(total)
        role = np.where(u < _ROLE_P[0], 0, np.where(u < _ROLE_P[0] + _ROLE_P[1], 1, 2)).astype(np.int8)
        role[local == 0] = 0  # every account has a main decision maker
        # role stories get a fixed composition so the story shows whatever the draw
        hr = story == _STORY_CODE["hidden_risk"]
        role[hr] = np.where(local[hr] < 3, 0, np.where(u[hr] < 0.3, 1, 2))
        hl = story == _STORY_CODE["hidden_loyalty"]
        role[hl] = np.where(local[hl] < 3, 0, np.where(local[hl] < 6, 1, 2))

        first = rng.integers(0, len(_FIRST_NAMES), total)
        last = rng.integers(0, len(_LAST_NAMES), total)
        key = (acc * len(_FIRST_NAMES) + first) * len(_LAST_NAMES) + last
        dup = _cumcount(key)
        dup_max = int(dup.max()) if total else 0
        name = _join(_take(_FIRST_NAMES, first), " ", _take(_LAST_NAMES, last))
        email = _join(
            _take([_slug(f) for f in _FIRST_NAMES], first),
            ".",
            _take([_slug(s) for s in _LAST_NAMES], last),
            _take([""] + [str(i + 1) for i in range(1, dup_max + 1)], dup),
            "@",
            self.domain.take(pa.array(acc)),
        )
        title_offsets = np.cumsum([0] + [len(t) for t in _TITLES])
        title_len = np.array([len(t) for t in _TITLES])
        title = title_offsets[role] + np.floor(rng.random(total) * title_len[role]).astype(np.int64)
        titles = [t for group in _TITLES for t in group]

        self.contact_acc, self.contact_role, self.contact_local = acc, role, local
        self.contact_ids = _fixed_ids("C", np.arange(1, total + 1), _digits(total, 7))
        return pd.DataFrame(
            {
                "contact_id": _str_col(self.contact_ids),
                "account_id": _str_col(self.account_ids.take(pa.array(acc))),
                "role": _str_col(_take(_ROLES, role)),
                "name": _str_col(name),
                "email": _str_col(email),
                "title": _str_col(_take(titles, title)),
            },
            copy=False,
        )

    # -- invitations -------------------------------------------------------------------------------------
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

    # -- usage -------------------------------------------------------------------------------------------
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

    # -- plays -------------------------------------------------------------------------------------------
    def plays_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The account teams' plays and the true effect of the done ones (needs `invitations_table` first)."""
        return self.play_plan.frames()

    # -- truth -------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------------
# writing


Format = Literal["csv", "parquet", "duckdb", "xlsx"]
_FORMATS = ("csv", "parquet", "duckdb", "xlsx")


def _arrow_table(df: pd.DataFrame, timestamp_unit: str) -> pa.Table:
    """DataFrame to arrow with contract date columns as date32 and timestamps at the given unit."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    fields = []
    for field in table.schema:
        typ = field.type
        if field.name in DATE_COLUMNS and (pa.types.is_timestamp(typ) or pa.types.is_date(typ)):
            typ = pa.date32()
        elif pa.types.is_timestamp(typ):
            typ = pa.timestamp(timestamp_unit, tz=typ.tz)
        elif pa.types.is_dictionary(typ):
            typ = typ.value_type
        fields.append(pa.field(field.name, typ))
    return table.cast(pa.schema(fields)).replace_schema_metadata(None)


def _replace(tmp: Path, final: Path) -> None:
    """Atomically move a finished temporary file into place."""
    tmp.replace(final)


def _write_csv(table: pa.Table, path: Path) -> None:
    """CSV with a plain header, ISO dates/timestamps, empty fields for missing values."""
    import pyarrow.csv as pacsv

    tmp = path.with_name(f".{path.name}.tmp")
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)
    with tmp.open("wb") as fh:
        fh.write(header.getvalue().encode("utf-8"))
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    _replace(tmp, path)


def _write_xlsx(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    """One sheet per table with native Excel dates; strings are never turned into formulas or links."""
    tmp = path.with_name(f".{path.name}.tmp")
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    with pd.ExcelWriter(
        tmp,
        engine="xlsxwriter",
        date_format="yyyy-mm-dd",
        datetime_format="yyyy-mm-dd hh:mm:ss",
        engine_kwargs={"options": options},
    ) as writer:
        for name, df in tables.items():
            out = df.copy()
            for col in out.columns:
                if col in DATE_COLUMNS and pd.api.types.is_datetime64_any_dtype(out[col]):
                    dates = out[col].dt.date
                    out[col] = dates.astype(object).where(out[col].notna(), None)
                elif isinstance(out[col].dtype, pd.StringDtype) or out[col].dtype == object:
                    out[col] = out[col].astype(object).where(out[col].notna(), None)
            out.to_excel(writer, sheet_name=name, index=False)
    _replace(tmp, path)


def write_tables(
    tables: Mapping[str, pd.DataFrame], out: Path, fmt: Literal["csv", "parquet", "duckdb", "xlsx"]
) -> Path:
    """Write tables as a dataset (csv/parquet folder, or out/demo.duckdb, out/demo.xlsx); return its path."""
    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(_FORMATS)}")
    out = Path(out)
    for name in tables:
        if not name or any(ch in name for ch in '/\\:*?[]"'):
            raise ValueError(f"invalid table name {name!r}")
    if fmt == "xlsx":
        for name, df in tables.items():
            if len(df) > XLSX_MAX_ROWS:
                raise ValueError(
                    f"table {name!r} has {len(df):,} rows; an Excel sheet holds at most "
                    f"{XLSX_MAX_ROWS:,} data rows (use csv, parquet or duckdb)"
                )
            if len(name) > 31:
                raise ValueError(f"table name {name!r} is longer than Excel's 31-character sheet name limit")
    out.mkdir(parents=True, exist_ok=True)

    if fmt in ("csv", "parquet"):
        import pyarrow.parquet as pq

        other = "parquet" if fmt == "csv" else "csv"
        for name, df in tables.items():
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                _write_csv(_arrow_table(df, "s"), path)
            else:
                tmp = path.with_name(f".{path.name}.tmp")
                pq.write_table(_arrow_table(df, "us"), tmp, compression="snappy")
                _replace(tmp, path)
            stale = out / f"{name}.{other}"  # a table in both formats is an invalid dataset
            if stale.exists():
                stale.unlink()
        return out

    if fmt == "duckdb":
        import duckdb

        path = out / "demo.duckdb"
        tmp = out / ".demo.duckdb.tmp"
        for p in (tmp, Path(f"{tmp}.wal")):
            if p.exists():
                p.unlink()
        con = duckdb.connect(str(tmp))
        try:
            for name, df in tables.items():
                con.register("_demo_src", _arrow_table(df, "us"))
                quoted = '"' + name.replace('"', '""') + '"'
                con.execute(f"CREATE TABLE {quoted} AS SELECT * FROM _demo_src")
                con.unregister("_demo_src")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _replace(tmp, path)
        wal = Path(f"{path}.wal")
        if wal.exists():
            wal.unlink()
        return path

    path = out / "demo.xlsx"
    _write_xlsx(tables, path)
    return path


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
