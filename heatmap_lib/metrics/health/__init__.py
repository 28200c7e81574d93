"""Account health from product usage (DESIGN.md section 6): who uses what, who finished onboarding, who went quiet.

Every figure is counted inside the engine as an Ibis expression over `usage_events` (DuckDB by default, any Ibis
backend later); what reaches pandas is one row per account (or per user of one account, or per onboarding user),
where ratios and day counts are derived. Windows are whole days and never read the wall clock:

* `as_of` is the last day a report covers, inclusive; by default the date of the latest event in the dataset
  (the whole dataset, so every segment of a batch run shares it). The window is the `window_days` days ending
  with `as_of`; the previous window is the `window_days` days before it; events after `as_of` are ignored.
* `usage_signals` (the renewal model's view) instead takes `as_of` as a cut-off: only events strictly before
  that date count, so a renewal's signals never see the renewal day itself.

Events whose `account_id` is empty belong to no account: they count in no account's figures, and the tables say
how many there were in `.attrs["unassigned_events"]` (and `unassigned_users`). Filters narrow the accounts
(any accounts column); contact and invitation filters (role, wave, questionnaire, dates) do not apply to usage and
are noted in `.attrs["filter_notes"]`. Event names that occur nowhere in the data raise `UnknownEventWarning`
(with close matches) and are listed in `.attrs["warnings"]`.

The modules: `events` (the events in scope, dates, event names, shared helpers), `account_table` (the per-account
health table), `signals` (usage for the renewal model), `lists` (inactive, falling, "accounts with N users who did
E", onboarding) and `users` (one account's users, the weekly trend). This package re-exports their public names.
`views.export.write_health_table` writes any of these tables to CSV, xlsx or JSON with no row cap.
"""

from heatmap_lib.metrics.health.account_table import HEALTH_COLUMNS, health_summary
from heatmap_lib.metrics.health.events import UnknownEventWarning, latest_event_date
from heatmap_lib.metrics.health.lists import (
    accounts_with_users_who_did,
    falling_accounts,
    inactive_accounts,
    onboarding,
)
from heatmap_lib.metrics.health.signals import FEATURE_DAYS, SIGNAL_COLUMNS, usage_signals
from heatmap_lib.metrics.health.users import account_users, weekly_active_users

__all__ = [
    "FEATURE_DAYS",
    "HEALTH_COLUMNS",
    "SIGNAL_COLUMNS",
    "UnknownEventWarning",
    "account_users",
    "accounts_with_users_who_did",
    "falling_accounts",
    "health_summary",
    "inactive_accounts",
    "latest_event_date",
    "onboarding",
    "usage_signals",
    "weekly_active_users",
]
