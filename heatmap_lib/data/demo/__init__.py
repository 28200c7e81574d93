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

The package, one module per concern (each imports its siblings by full module path, never through this file):

* ``schema``: the public contract (tables, columns, stories, plays constants, ``DemoData``);
* ``_common``: time constants and small vectorised helpers;
* ``plan``: the per-account plan (random streams, waves, stories, health, risks, churn, renewals);
* ``accounts``: the accounts and contacts tables;
* ``surveys``: the invitations table (waves, responses, scores, drivers, comments);
* ``plays``: the plays between waves, their planted effects and the play truth;
* ``usage``: the usage events table;
* ``history``: the tickets, invoices and renewals tables;
* ``truth``: the per-account planted truth;
* ``formats``: writing tables as a csv/parquet folder, a duckdb file or an xlsx workbook;
* ``build``: ``generate`` and ``write_demo``.
"""

from heatmap_lib.data.demo.build import generate, write_demo
from heatmap_lib.data.demo.formats import write_tables
from heatmap_lib.data.demo.schema import (
    DATE_COLUMNS,
    PLAY_COLUMNS,
    PLAY_EFFECTS,
    PLAY_STATUSES,
    PLAY_TYPES,
    REFERENCE_DATE,
    STORIES,
    TABLE_COLUMNS,
    TIMESTAMP_COLUMNS,
    XLSX_MAX_ROWS,
    DemoData,
)

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
