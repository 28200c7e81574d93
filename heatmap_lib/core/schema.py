"""The input data contract (DESIGN.md section 3): tables, columns, types and rules, as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "number", "integer", "date", "timestamp", "boolean"]

ROLES: tuple[str, ...] = ("decision_maker", "influencer", "day_to_day")
ROLE_LABELS: dict[str, str] = {
    "decision_maker": "Decision makers",
    "influencer": "Influencers",
    "day_to_day": "Day-to-day users",
}
# Spellings accepted for a role after lower-casing and folding spaces/hyphens to "_".
ROLE_SYNONYMS: dict[str, str] = {
    "decision_maker": "decision_maker",
    "dm": "decision_maker",
    "influencer": "influencer",
    "day_to_day": "day_to_day",
    "end_user": "day_to_day",
    "user": "day_to_day",
}
OUTCOMES: tuple[str, ...] = ("renewed", "churned", "expanded", "contracted")


# Upper bounds that keep sums over 100k accounts exact in a double and seats in any integer type (decisions.md).
MAX_MONEY = 1e15
MAX_SEATS = 1e9


@dataclass(frozen=True)
class Column:
    """One column of the contract and the rules its values must follow."""

    name: str
    kind: Kind = "text"
    required: bool = True  # the column must be present in the file
    not_empty: bool = False  # every row must have a value
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    ceiling: float | None = None  # the largest value the reports compute with exactly (a rule of its own)
    references: str | None = None  # the parent table whose key this column must match


@dataclass(frozen=True)
class Table:
    """One table of the contract: its key, its columns, whether a dataset must have it."""

    name: str
    key: str | None
    columns: tuple[Column, ...]
    required: bool = True

    def column(self, name: str) -> Column:
        """The contract column called `name`."""
        return next(c for c in self.columns if c.name == name)


def _text(name: str, **kw) -> Column:
    return Column(name, "text", required=kw.pop("required", False), **kw)


ACCOUNTS = Table(
    "accounts",
    "account_id",
    (
        Column("account_id", not_empty=True, unique=True),
        Column("account_name", not_empty=True),
        Column("value", "number", not_empty=True, minimum=0, ceiling=MAX_MONEY),
        _text("tier"),
        _text("region"),
        _text("industry"),
        _text("sales_rep"),
        _text("account_manager"),
        Column("renewal_date", "date", required=False),
        Column("customer_since", "date", required=False),
        Column("seats", "integer", required=False, minimum=0, ceiling=MAX_SEATS),
    ),
)
CONTACTS = Table(
    "contacts",
    "contact_id",
    (
        Column("contact_id", not_empty=True, unique=True),
        Column("account_id", not_empty=True, references="accounts"),
        Column("role", not_empty=True, choices=ROLES),
        _text("name"),
        _text("email"),
        _text("title"),
    ),
)
INVITATIONS = Table(
    "invitations",
    "invitation_id",
    (
        Column("invitation_id", not_empty=True, unique=True),
        Column("contact_id", not_empty=True, references="contacts"),
        Column("questionnaire", not_empty=True),
        Column("wave", not_empty=True),
        Column("sent_at", "date", not_empty=True),
        Column("responded_at", "date"),
        Column("score", "integer", minimum=0, maximum=10),
        _text("drivers"),
        _text("comment"),
    ),
)
USAGE_EVENTS = Table(
    "usage_events",
    None,
    (
        # An event may carry no account (a user not yet matched to one); when it names one, it must exist.
        Column("account_id", references="accounts"),
        Column("user_id", not_empty=True),
        Column("event", not_empty=True),
        Column("occurred_at", "timestamp", not_empty=True),
        _text("feature"),
    ),
    required=False,
)
TICKETS = Table(
    "tickets",
    "ticket_id",
    (
        Column("ticket_id", not_empty=True, unique=True),
        Column("account_id", not_empty=True, references="accounts"),
        Column("opened_at", "timestamp", not_empty=True),
        Column("sentiment", "number", required=False, minimum=-1, maximum=1),
        Column("escalated", "boolean", required=False),
    ),
    required=False,
)
INVOICES = Table(
    "invoices",
    "invoice_id",
    (
        Column("invoice_id", not_empty=True, unique=True),
        Column("account_id", not_empty=True, references="accounts"),
        Column("due_date", "date", not_empty=True),
        Column("paid_at", "date"),
        Column("amount", "number", not_empty=True, minimum=0, ceiling=MAX_MONEY),
    ),
    required=False,
)
RENEWALS = Table(
    "renewals",
    None,
    (
        Column("account_id", not_empty=True, references="accounts"),
        Column("renewal_date", "date", not_empty=True),
        Column("outcome", not_empty=True, choices=OUTCOMES),
        Column("value_before", "number", minimum=0, ceiling=MAX_MONEY),
        Column("value_after", "number", minimum=0, ceiling=MAX_MONEY),
    ),
    required=False,
)

TABLES: dict[str, Table] = {
    t.name: t for t in (ACCOUNTS, CONTACTS, INVITATIONS, USAGE_EVENTS, TICKETS, INVOICES, RENEWALS)
}
# Parents before children, so a rejected parent can exclude its children in quarantine mode.
LOAD_ORDER: tuple[str, ...] = tuple(TABLES)

SQL_TYPES: dict[Kind, str] = {
    "text": "VARCHAR",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
