"""The Account X-Ray: why an account sits where it does on the heat map, and whom to call.

For one account (or, in a batch, every account of a segment at once, so X-Ray pages cost a few queries per
segment, not per account): NPS by role with the hidden-risk/hidden-loyalty reading in plain words, every invited
contact with the latest answer, the non-responders to recruit, driver counts split by promoters and detractors,
comments by score, and the wave-over-wave trend.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.core.schema import ROLE_LABELS, ROLES
from heatmap_lib.data.plays import COLUMNS as PLAY_COLUMNS
from heatmap_lib.filters import FilterSet, Scope, scope
from heatmap_lib.metrics.summary import _counts, derive, heatmap_tables, role_breakdown, role_flags
from heatmap_lib.metrics.waves import wave_periods

FilterLike = FilterSet | Mapping[str, Any] | str | Path | None
CATEGORIES = ("promoter", "passive", "detractor")


def category(score: float | None) -> str:
    """The NPS category of one answer: promoter (9-10), passive (7-8), detractor (0-6) or "no response"."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return "no response"
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


class Rows:
    """One segment-wide table (`frame`, one row per account and item) shared by the X-Rays of its accounts.

    An X-Ray page reads its account's rows as records (`records_of`: the frame's rows converted once for the whole
    segment, then looked up by position), so rendering a page touches no pandas; `frame_of` gives the account's
    rows as a frame (index 0..n-1), built only when asked for.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        by = frame.groupby("account_id", sort=False, observed=True).indices if len(frame) else {}
        self.positions: dict[str, Any] = {str(k): v for k, v in by.items()}
        self._records: list[dict[str, Any]] | None = None

    @property
    def columns(self) -> list[str]:
        """The frame's column names."""
        return list(self.frame.columns)

    def records(self) -> list[dict[str, Any]]:
        """Every row as a record (`to_dict(orient="records")`'s values, converted column by column, once)."""
        if self._records is None:
            cols = self.columns
            values = [self.frame[c].tolist() for c in cols]
            self._records = [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]
        return self._records

    def records_of(self, account_id: str) -> list[dict[str, Any]]:
        """The account's rows as records, in the frame's order."""
        pos = self.positions.get(account_id)
        if pos is None:
            return []
        recs = self.records()
        return [recs[i] for i in pos.tolist()]

    def frame_of(self, account_id: str) -> pd.DataFrame:
        """The account's rows as a frame (0..n-1 index; no rows, same columns, when it has none)."""
        pos = self.positions.get(account_id)
        if pos is None:
            return self.frame.iloc[0:0].reset_index(drop=True)
        return self.frame.take(pos).reset_index(drop=True)


@dataclass(frozen=True)
class XRay:
    """Everything the X-Ray of one account shows.

    Its tables (`roles`, `contacts`, `to_recruit`, `drivers`, `comments`, `trend`, `renewal`, `plays`,
    `suggested`) are per-account frames, built when read; `rows(name)` gives the same rows as records, which is
    what pages render (a segment's X-Rays share one set of segment-wide tables).
    """

    account: dict[str, Any]  # the account's columns and its summary figures (NaN-free keys)
    tables: Mapping[str, Rows] = field(repr=False)  # segment-wide: roles, contacts, comments, drivers, trend, ...
    roles_missing: tuple[str, ...]  # roles in the report's scope with no contact invited at all
    reading: str  # the role reading in plain words
    segment: dict[str, float] = field(default_factory=dict)  # the scope's medians, for comparison
    roles_excluded: tuple[str, ...] = ()  # roles the report's filters leave out (not silent: not asked)
    # wave over wave: {"wave", "compare_to"} and either the account's row of `waves.compare_counts` ("row") or
    # why there is no comparison ("note"); None when not asked for
    comparison: dict[str, Any] | None = None
    # usage health: the account's row of `health.health_summary` (None when the dataset has no usage events)
    health: dict[str, Any] | None = None
    # renewal drivers: the account's row of `renewal.score` and that table's columns (None without weights)
    renewal_row: tuple[Mapping[Any, Any], list[str]] | None = field(default=None, repr=False)
    # plays from the actions store / suggested by the rules: whether they were asked for (tables "plays",
    # "suggested" hold them)
    with_plays: bool = False
    with_suggested: bool = False

    @property
    def account_id(self) -> str:
        """The account's id."""
        return str(self.account["account_id"])

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The account's rows of one table as records (what `name`'s frame holds, without building it)."""
        if name == "to_recruit":
            silent = [r for r in self.rows("contacts") if _missing(r["score"])]
            return [{k: v for k, v in r.items() if k not in RESPONSE_COLUMNS} for r in silent]
        return self.tables[name].records_of(self.account_id)

    def columns(self, name: str) -> list[str]:
        """The columns of one of the X-Ray's tables."""
        return self.tables[name].columns

    @property
    def roles(self) -> pd.DataFrame:
        """One row per role: counts (contacts_responded: contacts with an answer), NPS, band."""
        return self.tables["roles"].frame_of(self.account_id)

    @property
    def contacts(self) -> pd.DataFrame:
        """Every invited contact: role, latest score and category, drivers, comment."""
        return self.tables["contacts"].frame_of(self.account_id)

    @property
    def to_recruit(self) -> pd.DataFrame:
        """Invited contacts who never answered, by role."""
        contacts = self.contacts
        keep = [c for c in contacts.columns if c not in RESPONSE_COLUMNS]
        return contacts.loc[contacts["score"].isna(), keep].reset_index(drop=True)

    @property
    def drivers(self) -> pd.DataFrame:
        """Driver, promoters, passives, detractors, total."""
        return self.tables["drivers"].frame_of(self.account_id)

    @property
    def comments(self) -> pd.DataFrame:
        """Comments with score and role, lowest score first."""
        return self.tables["comments"].frame_of(self.account_id)

    @property
    def trend(self) -> pd.DataFrame:
        """Per wave: contacts invited, response rate, NPS with interval, band."""
        return self.tables["trend"].frame_of(self.account_id)

    @property
    def renewal(self) -> pd.DataFrame | None:
        """The account's `renewal.account_contributions` steps (None without renewal weights)."""
        from heatmap_lib.metrics.renewal import waterfall

        return None if self.renewal_row is None else waterfall(*self.renewal_row)

    def renewal_steps(self) -> tuple[dict[str, list[Any]], dict[str, Any]] | None:
        """`renewal`'s steps as plain columns and attrs (`renewal.waterfall_columns`), None without weights."""
        from heatmap_lib.metrics.renewal import waterfall_columns

        return None if self.renewal_row is None else waterfall_columns(*self.renewal_row)

    @property
    def plays(self) -> pd.DataFrame | None:
        """The account's plays from the actions store (None when no store was given)."""
        return self.tables["plays"].frame_of(self.account_id) if self.with_plays else None

    @property
    def suggested(self) -> pd.DataFrame | None:
        """The plays the suggestion rules propose for it: play_label, rule, why, open_already (None: not asked)."""
        return self.tables["suggested"].frame_of(self.account_id) if self.with_suggested else None


def _missing(v: Any) -> bool:
    """Whether a record's value is missing (None, NaN, NA, NaT)."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _wave_order(dataset: Any) -> list[str]:
    """Waves in the order they were sent (by their first invitation)."""
    f = dataset.table("invitation_facts")
    df = f.group_by("wave").aggregate(first=f.sent_at.min()).order_by("first").to_pandas()
    return [str(w) for w in df["wave"]]


def role_reading(flags: Mapping[str, Any], band: str) -> str:
    """One or two sentences saying what the roles say about the account (hidden risk, hidden loyalty, ...)."""

    def nps_of(role: str) -> float | None:
        v = flags.get(f"nps_{role}")
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    dm, dtd = nps_of("decision_maker"), nps_of("day_to_day")
    if flags.get("hidden_risk"):
        return (
            f"Hidden risk: decision makers are net negative (NPS {dm:.0f}) while the account reads {band}. "
            "The people who sign the renewal are less happy than the account's NPS suggests."
        )
    if flags.get("hidden_loyalty"):
        return (
            f"Hidden loyalty: decision makers and influencers are net positive while day-to-day users "
            f"(NPS {dtd:.0f}) pull the account to red. The relationship at the top is sounder than the colour says."
        )
    if dm is None:
        if band == "gray":
            return "Silent account: nobody answered. Recruit contacts before reading anything into it."
        return "No decision maker has answered: the account's NPS rests on influencers and day-to-day users."
    return f"Decision makers (NPS {dm:.0f}) and the account as a whole ({band}) agree."


def xrays(
    dataset: Any,
    filters: FilterLike = None,
    *,
    account_ids: Iterable[str] | None = None,
    include_emails: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    scoped: Scope | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    compare: bool = True,
    renewal_weights: Any = None,
    plays: Any = None,
    play_rules: Any = None,
) -> dict[str, XRay]:
    """The X-Ray of every surveyed account in scope (or of `account_ids` among them), in a handful of queries.

    Wave over wave (`compare=True`): `wave` (default: the scope's single wave, else the latest in scope) against
    `compare_to` (default: the wave sent before it), from the trend already computed, with no further query.
    Usage health comes along when the dataset has usage events; renewal drivers when `renewal_weights` (a weights
    file or `renewal.Weights`) is given. Each is computed once for the whole scope. `plays` (a `PlayStore`, its
    workspace folder, or a plays DataFrame) adds each account's plays, and with `play_rules` (a rules file, or
    True for params/play_rules.yaml) the plays suggested for it.
    """
    sc = scoped or scope(dataset, filters)
    t: dict[str, Any] = {"red_below": red_below, "green_above": green_above}
    summary, _ = heatmap_tables(dataset, scoped=sc, **t)
    wanted = None if account_ids is None else {str(a) for a in account_ids}
    summary_sel = summary if wanted is None else summary[summary["account_id"].isin(wanted)]
    if summary_sel.empty:
        return {}
    ids = summary_sel["account_id"].tolist()
    roles = role_breakdown(dataset, scoped=sc, **t)
    flags = role_flags(dataset, scoped=sc, summary=summary_sel, roles=roles, **t).set_index("account_id")
    roles = roles[roles["account_id"].isin(ids)]
    # every account in scope asked for: the scope's own filters select them, with no list of ids to ship
    dated = bool(sc.filters.start or sc.filters.end or "wave" in sc.filters.criteria)
    answers = _answers(dataset, sc, ids if wanted is not None else None, include_emails)
    trend = _trend(dataset, sc, ids if wanted is not None or dated else None, t)
    roles = roles.assign(role=roles["role"].astype(str))
    segment = {
        "nps_median": float(summary["nps"].median()) if summary["nps"].notna().any() else math.nan,
        "response_rate_median": float(summary["response_rate"].median()),
        "footprint_median": float(summary["contacts_invited"].median()),
        "value_median": float(summary["value"].median()),
        "accounts": float(len(summary)),
    }
    comparisons = _comparisons(dataset, sc, trend, t, wave, compare_to) if compare else {}
    health = _health_rows(dataset, sc)
    if isinstance(renewal_weights, str | Path) and not Path(renewal_weights).is_file():
        warnings.warn(
            f"no renewal weights at {renewal_weights}: the X-Ray leaves out the renewal drivers", stacklevel=2
        )
        renewal_weights = None
    renewal = _renewal_rows(dataset, sc, renewal_weights, ids) if renewal_weights is not None else None
    account_plays, suggested = _plays(plays, play_rules, summary, ids, flags, dataset)
    contacts, comments = _people(answers)
    drivers = _driver_counts(answers[answers["score"].notna()], by=["account_id"])
    tables = {
        "roles": Rows(_role_tables(roles, contacts, ids)),
        "contacts": Rows(contacts),
        "comments": Rows(comments),
        "drivers": Rows(drivers),
        "trend": Rows(trend),
    }
    if account_plays is not None:
        tables["plays"] = Rows(account_plays)
    if suggested is not None:
        tables["suggested"] = Rows(suggested)
    flag_rows = {str(r["account_id"]): r for r in flags.reset_index().to_dict(orient="records")}
    renewal_cols = list(renewal.columns) if renewal is not None else []
    renewal_rows = {str(r["account_id"]): r for r in renewal.to_dict(orient="records")} if renewal is not None else {}
    kept = sc.filters.criteria.get("role")
    excluded = tuple(r for r in ROLES if kept and r not in kept)
    out: dict[str, XRay] = {}
    for rec in summary_sel.to_dict(orient="records"):
        aid = str(rec["account_id"])
        present = {r["role"] for r in tables["contacts"].records_of(aid)}
        out[aid] = XRay(
            account={str(k): v for k, v in rec.items() if not _isnan(v)},
            tables=tables,
            roles_missing=tuple(r for r in ROLES if r not in present and r not in excluded),
            roles_excluded=excluded,
            reading=role_reading({str(k): v for k, v in flag_rows.get(aid, {}).items()}, str(rec.get("band"))),
            segment=segment,
            comparison=comparisons.get(aid, comparisons.get("")) if compare else None,
            health=health.get(aid),
            renewal_row=(renewal_rows[aid], renewal_cols) if aid in renewal_rows else None,
            with_plays=account_plays is not None,
            with_suggested=suggested is not None,
        )
    return out


def _plays(
    plays: Any, rules: Any, summary: pd.DataFrame, ids: list[str], flags: pd.DataFrame, dataset: Any = None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The plays of the accounts `ids`, and their suggested plays (None for each when not asked for).

    Quadrants come from the whole scope's `summary` (its medians place the guides), not from the accounts asked for.
    """
    from heatmap_lib.data.plays import read_plays
    from heatmap_lib.metrics.suggestions import load_rules, suggestions

    if plays is None:
        return None, None
    if isinstance(plays, pd.DataFrame):
        frame = plays[plays["account_id"].astype(str).isin(ids)]
    else:
        frame = read_plays(plays, ids, dataset=dataset)
    if len(frame) == 0:
        frame = frame.reindex(columns=list(dict.fromkeys([*PLAY_COLUMNS, *frame.columns])))
    if rules is None or rules is False:
        return frame, None
    loaded = load_rules(None if rules is True else rules)
    got = suggestions(summary, loaded, flags=flags.reset_index(), plays=frame)
    got = got[got["account_id"].astype(str).isin(ids)]
    if len(got) == 0:
        got = got.reindex(columns=list(dict.fromkeys([*SUGGESTION_COLUMNS, *got.columns])))
    return frame, got


def _health_rows(dataset: Any, sc: Scope) -> dict[str, dict[Any, Any]]:
    """Each account's usage health row (empty when the dataset has no usage events)."""
    if not dataset.has("usage_events"):
        return {}
    from heatmap_lib.metrics.health import HEALTH_COLUMNS, health_summary

    table = health_summary(dataset, sc.filters.replace(**_no_survey_keys(sc.filters)))
    cols = [c for c in HEALTH_COLUMNS if c in table.columns]
    return {str(r["account_id"]): r for r in table[cols].to_dict(orient="records")}


def _no_survey_keys(fs: FilterSet) -> dict[str, None]:
    """Contact and questionnaire filters do not apply to usage: drop them (and the dates) for the health rows."""
    keys = ("contact_id", "role", "questionnaire", "wave")
    return {k: None for k in keys if k in fs.criteria} | {"start": None, "end": None}


# Up to this many accounts, a batch kernel scores renewals for every account once and its segments take their rows
# (2k accounts: 1.5 s once against 0.5-0.9 s per segment; 10k: 1.2 s against 0.8-1.4 s); above it, the query's
# fixed cost no longer dominates and each segment scores only its own accounts.
WHOLE_SCORING_MAX_ACCOUNTS = 20_000


def _renewal_rows(dataset: Any, sc: Scope, weights: Any, ids: list[str]) -> pd.DataFrame:
    """The rows of `ids` in one renewal scoring of the scope's accounts (an X-Ray's waterfall comes from its row)."""
    from heatmap_lib.metrics.renewal import score
    from heatmap_lib.metrics.shared import shares

    account_keys = {k: v for k, v in sc.filters.criteria.items() if k in dataset.account_columns}
    if shares(dataset) and dataset.rows.get("accounts", 0) <= WHOLE_SCORING_MAX_ACCOUNTS:
        account_keys = {}  # every account once per batch kernel, shared by its segments: the same rows (tested)
    scores = score(dataset, weights, filters=FilterSet.from_dict(account_keys) if account_keys else None)
    return scores[scores["account_id"].astype(str).isin(set(ids))]


def _comparisons(
    dataset: Any,
    sc: Scope,
    trend: pd.DataFrame,
    t: Mapping[str, float | None],
    wave: str | None,
    compare_to: str | None,
) -> dict[str, Any]:
    """Per account id: its comparison of two waves; under "" what every account without a row gets."""
    from heatmap_lib.metrics.summary import COUNT_COLUMNS, _thresholds
    from heatmap_lib.metrics.waves import compare_counts, resolve_waves

    try:
        now, prev = resolve_waves(dataset, wave, compare_to, scoped=sc)
    except HeatmapError as exc:
        return {"": {"wave": wave, "compare_to": compare_to, "note": str(exc)}}
    base = {"wave": now, "compare_to": prev}
    cols = ["account_id", *COUNT_COLUMNS]
    table = compare_counts(
        trend.loc[trend["wave"] == now, cols],
        trend.loc[trend["wave"] == prev, cols],
        thresholds=_thresholds(t.get("red_below"), t.get("green_above")),
    )
    out: dict[str, Any] = {"": {**base, "note": f"not surveyed in {now} or {prev}"}}
    for rec in table.to_dict(orient="records"):
        out[str(rec["account_id"])] = {**base, "row": rec}
    return out


def xray(
    dataset: Any,
    account_id: str,
    filters: FilterLike = None,
    *,
    include_emails: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    renewal_weights: Any = None,
    plays: Any = None,
    play_rules: Any = None,
) -> XRay:
    """The X-Ray of one account within the filter scope; a clear error when the account has no invitation in it.

    `wave` and `compare_to` choose the two waves compared; `renewal_weights` adds the renewal drivers, `plays` and
    `play_rules` the account's plays and suggested plays (see `xrays`).
    """
    sc = scope(dataset, filters)
    found = xrays(
        dataset,
        scoped=sc,
        account_ids=[account_id],
        include_emails=include_emails,
        red_below=red_below,
        green_above=green_above,
        wave=wave,
        compare_to=compare_to,
        renewal_weights=renewal_weights,
        plays=plays,
        play_rules=play_rules,
    )
    if str(account_id) not in found:
        acc = dataset.table("accounts")
        exists = acc.filter(acc.account_id == str(account_id)).count().to_pyarrow().as_py()
        if not exists:
            raise HeatmapError(f"no account with account_id {account_id!r} in {dataset.path}")
        raise HeatmapError(
            f"account {account_id!r} has no invitation in scope ({sc.filters.describe()}): it is not surveyed there"
        )
    return found[str(account_id)]


def _answers(dataset: Any, sc: Scope, ids: list[str] | None, include_emails: bool) -> pd.DataFrame:
    """Every invitation in scope of these accounts (None: of all), with its contact (one engine query)."""
    contacts = dataset.table("contacts")
    cols = ["contact_id", "account_id", "role", "name", "title"] + (["email"] if include_emails else [])
    inv = dataset.table("invitations")
    joined = inv.inner_join(contacts.select(*cols), "contact_id")
    joined = sc.narrow(joined)
    if ids is not None:
        joined = joined.filter(joined.account_id.isin(ids))
    keep = ["invitation_id", *cols, "questionnaire", "wave", "sent_at", "responded_at", "score", "drivers", "comment"]
    return joined.select(*keep).to_pandas()


def _trend(dataset: Any, sc: Scope, ids: list[str] | None, t: Mapping[str, float | None]) -> pd.DataFrame:
    """Per account and wave (all waves, other filters kept): footprint, response rate, NPS, band (`ids` None: all)."""
    facts = sc.narrow(dataset.table("invitation_facts"), dates=False)
    if ids is not None:
        facts = facts.filter(facts.account_id.isin(ids))
    df = _counts(facts, ["account_id", "wave"]).to_pandas()
    from heatmap_lib.metrics.summary import _thresholds

    df = derive(df, _thresholds(t.get("red_below"), t.get("green_above")))
    order = {w: i for i, w in enumerate(_wave_order(dataset))}
    df["wave_order"] = df["wave"].map(order)
    periods, data_last = wave_periods(dataset)  # open waves are marked, never drawn as whole ones
    spans = periods.set_index("wave")[["period_start", "period_end", "complete"]]
    df = df.join(spans.rename(columns={"period_start": "wave_start", "period_end": "wave_end"}), on="wave")
    df["complete"] = df["complete"].fillna(True).astype(bool)
    df.attrs["data_last"] = data_last.isoformat()
    return df.sort_values(["account_id", "wave_order"]).drop(columns="wave_order").reset_index(drop=True)


def _people(answers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per contact (all accounts at once): latest answer, category and invitation count; and every comment."""
    inv = answers.assign(when=answers["responded_at"].fillna(answers["sent_at"]))
    answered = inv[inv["score"].notna()].sort_values("when", kind="stable")
    latest = answered.drop_duplicates("contact_id", keep="last").set_index("contact_id")
    people = inv.groupby("contact_id", sort=False).agg(invitations=("sent_at", "size"), last_invited=("sent_at", "max"))
    person_cols = [c for c in ("account_id", "name", "title", "email", "role") if c in inv.columns]
    contacts = inv.drop_duplicates("contact_id").set_index("contact_id")[person_cols].join(people)
    contacts = contacts.join(latest[["score", "drivers", "comment", "responded_at", "wave"]], how="left")
    contacts["category"] = _categories(contacts["score"])
    contacts["role_order"] = contacts["role"].map({r: i for i, r in enumerate(ROLES)})
    # contact_id last: ties (one name, one score) came in whatever order the engine's threads returned them
    order = ["account_id", "role_order", "score", "name", "contact_id"]
    contacts = contacts.reset_index().sort_values(order, na_position="last")
    contacts = contacts.drop(columns="role_order").reset_index(drop=True)
    has_comment = answered["comment"].notna() & (answered["comment"].astype(str).str.strip() != "")
    comments = answered[has_comment].assign(category=lambda d: _categories(d["score"]))
    # invitation_id last: answers given the same day came in whatever order the engine's threads returned them
    comments = comments.sort_values(["account_id", "score", "when", "invitation_id"], kind="stable")
    comments = comments[["account_id", "score", "category", "role", "name", "wave", "comment"]].reset_index(drop=True)
    return contacts, comments


def _categories(scores: pd.Series) -> np.ndarray:
    s = scores.to_numpy(dtype=float)
    return np.select([s >= 9, s >= 7, s >= 0], ["promoter", "passive", "detractor"], "no response").astype(object)


def _role_tables(roles: pd.DataFrame, contacts: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """Every account's three role rows, all accounts at once: counts, NPS, band, contacts who answered.

    A role nobody was invited in counts zero and reads gray.
    """
    base = roles.assign(account_id=roles["account_id"].astype(str)).set_index(["account_id", "role"])
    full = pd.MultiIndex.from_product([ids, list(ROLES)], names=["account_id", "role"])
    table = base.reindex(full)
    answered = contacts[contacts["score"].notna()]
    responded = answered.groupby([answered["account_id"].astype(str), answered["role"].astype(str)]).size()
    table["contacts_responded"] = responded.reindex(full)
    counts = [
        "contacts_invited",
        "contacts_responded",
        "invitations",
        "responses",
        "promoters",
        "passives",
        "detractors",
    ]
    table[counts] = table[counts].fillna(0).astype("int64")
    table["band"] = table["band"].fillna("gray")
    table = table.reset_index()
    table.insert(1, "role_label", [ROLE_LABELS[r] for r in table["role"]])
    rest = [c for c in table.columns if c not in ("role", "role_label", "account_id", "contacts_responded")]
    return table[["role", "role_label", "account_id", *rest, "contacts_responded"]]


SUGGESTION_COLUMNS = ("account_id", "play", "play_label", "rule", "why", "open_already")
RESPONSE_COLUMNS = ("score", "drivers", "comment", "responded_at", "wave", "category")


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _driver_counts(answered: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Counts of each driver chosen, split by the respondent's category, most chosen first (per `by` group)."""
    cols = [*by, "driver", "promoters", "passives", "detractors", "total"]
    rows = answered[answered["drivers"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    exploded = rows.assign(driver=rows["drivers"].astype(str).str.split(";")).explode("driver")
    exploded["driver"] = exploded["driver"].str.strip()
    exploded = exploded[exploded["driver"] != ""]
    s = exploded["score"].to_numpy(dtype=float)
    exploded["category"] = np.select([s >= 9, s >= 7], ["promoters", "passives"], "detractors")
    table = exploded.groupby([*by, "driver", "category"]).size().unstack("category", fill_value=0)
    for c in ("promoters", "passives", "detractors"):
        if c not in table:
            table[c] = 0
    table["total"] = table[["promoters", "passives", "detractors"]].sum(axis=1)
    table = table.reset_index().sort_values([*by, "total", "driver"], ascending=[True] * len(by) + [False, True])
    return table[cols].reset_index(drop=True)


def default_account(dataset: Any, filters: FilterLike = None) -> str:
    """The account an X-Ray opens on when none is named: the most valuable red or gray one, else the most valuable."""
    summary, _ = heatmap_tables(dataset, filters)
    if summary.empty:
        raise HeatmapError("no surveyed account in scope: nothing to X-Ray")
    at_risk = summary[summary["band"].isin(["red", "gray"])]
    pick = at_risk if len(at_risk) else summary
    return str(pick.sort_values("value", ascending=False).iloc[0]["account_id"])
