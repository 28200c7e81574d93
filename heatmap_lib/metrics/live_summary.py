"""The live dashboard's metrics: the account summary, blind spots and wave movement, recomputed per filter change.

`LiveSummary` keeps what no filter changes (the accounts, each contact's counts) and recomputes only what a change
needs, giving the same tables as `summary.account_summary`, `summary.not_surveyed` and `waves.compare_waves`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import FilterWarning
from heatmap_lib.filters import FilterSet, Scope, scope
from heatmap_lib.metrics.summary import (
    COUNT_COLUMNS,
    SMALL_SAMPLE,
    SUMMARY_COLUMNS,
    FilterLike,
    Thresholds,
    _counts_in_one_step,
    _derived,
    _order,
    _thresholds,
)
from heatmap_lib.metrics.waves import ABSENT, ARROW, CHANGE_COLUMNS, WAVE_COLUMNS, _change_interval


@dataclass(frozen=True)
class LiveTables:
    """What one filter change of the live dashboard computes (see `LiveSummary`)."""

    summary: pd.DataFrame  # = account_summary(...)
    blind_spots: pd.DataFrame  # = not_surveyed(...)
    movement: pd.DataFrame | None = None  # = waves.compare_waves(...) when a comparison was asked for
    move_counts: dict[str, int] | None = None  # = waves.move_counts(movement)


def _shape(key: Any) -> tuple[Any, list[str]]:
    """A query key's shape (None when it has none) and its filter values in order (see `LiveSummary._fetch`)."""
    if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], FilterSet)):
        return None, []
    fs = key[1]
    items = sorted(fs.criteria.items())
    values = [str(v) for _, vals in items for v in vals]
    return (key[0], tuple((k, len(vals)) for k, vals in items), fs.start, fs.end), values


def _template(sql: str, values: list[str]) -> str | None:
    """`sql` with each filter value's literal replaced by a positional parameter, or None when that is not safe.

    Safe means each value is distinct and its quoted literal occurs exactly once in the SQL, so the parameters
    stand for the filter values and nothing else; otherwise the shape is not shared and each filter set compiles.
    """
    if len(set(values)) != len(values):
        return None
    literals = ["'" + v.replace("'", "''") + "'" for v in values]
    if any(sql.count(lit) != 1 for lit in literals):  # a value inside another's literal occurs twice: refused
        return None
    for i, lit in enumerate(literals, start=1):
        sql = sql.replace(lit, f"${i}")
    return sql


class LiveSummary:
    """`heatmap_tables` (and `waves.compare_waves` for one wave), fast enough to run on every filter change.

    One per dataset (the live dashboard holds one; the dataset must not change while it is used, and a loaded
    `Dataset` never does). Kept, because no filter changes them: the accounts table in display order (name
    case-folded, then account_id), each filter set's scope and compiled SQL (`SQL_CACHE` of each) and the waves' send
    order per set of non-wave filters. Per change, only per-account counts come from the engine, in one query: the
    Ibis expression compiled to SQL and run on the DuckDB connection directly (Ibis' own execution and result
    conversion cost about 30 ms more at 10k accounts; other engines go through Ibis), then joined to the kept
    accounts by position, in numpy. Asked to compare two waves, a second query counts the compared wave, and the
    comparison is derived with numpy, aligned by position, instead of merging two frames.

    No result is kept: counts, bands, NPS, intervals and moves are computed on every call, so changing
    `red_below`/`green_above` or the filters always gives fresh figures. The results equal `heatmap_tables(...)` and
    `compare_waves(...)` for the same arguments (tests/test_redraw_cache.py holds them to it; the comparison's extra
    account columns hold the same values, their dtypes may differ). `forget()` drops the compiled queries.
    """

    SQL_CACHE = 256  # compiled queries (a few KB each) and scopes kept

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self.accounts = _order(dataset.table("accounts").to_pandas())
        self._columns = {c: self.accounts[c].array for c in self.accounts.columns}  # taken from by position
        self._positions = pd.Index(self.accounts["account_id"].astype(str).to_numpy(dtype=object))
        self._sql: dict[Any, str] = {}
        self._templates: dict[Any, str | None] = {}  # filter-set shape -> SQL with the values as $1, $2, ...
        self._scopes: dict[FilterSet, Scope] = {}
        self._wave_orders: dict[FilterSet, list[str]] = {}

    def forget(self, *, shapes: bool = True, wave_orders: bool = True) -> None:
        """Drop the compiled queries, scopes and wave orders kept so far (the accounts stay).

        `shapes=False` keeps the parameterised SQL per filter-set shape and `wave_orders=False` the wave order per
        non-wave filters: what a filter set new to the session then costs (benchmarks/bench_redraw.py).
        """
        self._sql.clear()
        self._scopes.clear()
        if shapes:
            self._templates.clear()
        if wave_orders:
            self._wave_orders.clear()

    def scope(self, filters: FilterLike) -> Scope:
        """`filters.scope(dataset, filters)`, kept per filter set (a Scope is immutable, the dataset unchanging).

        The values that matched nothing are in the scope's `warnings` (warned only the first time).
        """
        from heatmap_lib.filters import coerce

        fs = coerce(filters)
        if fs not in self._scopes:
            if len(self._scopes) >= self.SQL_CACHE:
                self._scopes.clear()
            self._scopes[fs] = scope(self.dataset, fs)
        return self._scopes[fs]

    # -- engine ---------------------------------------------------------------------------------------------------
    def _fetch(self, key: Any, build: Any) -> pd.DataFrame:
        """Run the expression `build()` makes (the SQL compiled once per `key`), as pandas.

        A key `(kind, FilterSet)` also shares its SQL with every filter set of the same shape (the same criteria,
        each with as many values, and the same dates): the filter values become bound parameters, so a filter
        set's first use compiles nothing when one of its shape ran before (`_template`).
        """
        con = getattr(self.dataset, "con", None)
        if con is None:  # another engine: through Ibis
            return build().to_pandas()
        sql = self._sql.get(key)
        if sql is not None:
            return con.execute(sql).df()
        shape, values = _shape(key)
        template = self._templates.get(shape) if shape is not None else None
        if template is not None:
            return con.execute(template, values).df()
        import ibis

        sql = str(ibis.to_sql(build(), dialect="duckdb"))
        if len(self._sql) >= self.SQL_CACHE:
            self._sql.clear()
            self._templates.clear()
        self._sql[key] = sql
        if shape is not None:
            self._templates[shape] = _template(sql, values)
        return con.execute(sql).df()

    def _rows(self, ids: Any) -> np.ndarray:
        """Positions in `self.accounts` of these account ids (each must be there)."""
        ids = pd.Series(ids)
        pos = self._positions.get_indexer(ids if isinstance(ids.dtype, pd.StringDtype) else ids.astype(str))
        if len(pos) and pos.min() < 0:
            raise RuntimeError("the dataset's accounts changed after the live summary cached them")
        return pos

    @staticmethod
    def _key(sc: Scope) -> FilterSet:
        return sc.filters.replace(name=None)

    def _aligned(self, df: pd.DataFrame, pos: np.ndarray, suffix: str = "") -> dict[str, np.ndarray]:
        """The six counts of a per-account result (their columns named with `suffix`), keyed by `COUNT_COLUMNS`.

        Whole numbers aligned with `self.accounts`: 0 for the accounts not in the result.
        """
        out = {}
        for c in COUNT_COLUMNS:
            full = np.zeros(len(self.accounts), dtype=np.int64)
            full[pos] = np.nan_to_num(df[c + suffix].to_numpy(dtype=float, na_value=np.nan)).astype(np.int64)
            out[c] = full
        return out

    # -- tables ---------------------------------------------------------------------------------------------------
    def wave_order(self, sc: Scope) -> list[str]:
        """`waves.wave_order` for this scope (it depends on the non-wave filters only, so it is kept by them)."""
        key = sc.filters.replace(wave=None, start=None, end=None, name=None)
        if key not in self._wave_orders:

            def build() -> Any:  # as waves.wave_order counts it
                facts = sc.narrow(self.dataset.table("invitation_facts"), dates=False)
                return facts.group_by("wave").aggregate(first=facts.sent_at.min())

            df = self._fetch(("waves", key), build)
            df["wave"] = df["wave"].astype(str)
            self._wave_orders[key] = df.sort_values(["first", "wave"], kind="stable")["wave"].tolist()
        return list(self._wave_orders[key])

    def _counted(self, sc: Scope) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The positions of the scope's accounts and their six counts (aligned with `self.accounts`): one query."""

        def build() -> Any:
            a = sc.accounts.select("account_id")
            c = _counts_in_one_step(sc.facts)
            return a.left_join(c, a.account_id == c.account_id).select(a.account_id, *[c[k] for k in COUNT_COLUMNS])

        df = self._fetch(("tables", self._key(sc)), build)
        pos = self._rows(df["account_id"])
        return pos, self._aligned(df, pos)

    def tables(
        self,
        sc: Scope,
        *,
        red_below: float | None = None,
        green_above: float | None = None,
        small_sample: int = SMALL_SAMPLE,
    ) -> LiveTables:
        """The account summary and the not-surveyed list of a scope (= `heatmap_tables(dataset, scoped=sc)`)."""
        pos, counts = self._counted(sc)
        summary, blind = self._split(sc, pos, counts, _thresholds(red_below, green_above), small_sample)
        return LiveTables(summary, blind)

    def compare(
        self,
        sc: Scope,
        wave: str,
        compare_to: str,
        *,
        red_below: float | None = None,
        green_above: float | None = None,
        small_sample: int = SMALL_SAMPLE,
        full: bool = True,
    ) -> LiveTables:
        """Summary, not-surveyed list and comparison of a scope covering the one wave `wave`.

        `wave` and `compare_to` as `waves.resolve_waves` returns them for this scope; the summary equals
        `heatmap_tables(dataset, scoped=sc)` and the movement `compare_waves(dataset, wave, compare_to, scoped=sc)`.
        Two queries, each `tables`' own: this scope's, and the same filters' with the wave `compare_to` (two waves
        in one query, grouped by wave or counted side by side, took longer on DuckDB than the two apart).
        `full=False` keeps only the movement's `MOVEMENT_VIEW_COLUMNS` (what the chart's trails, the movers-only
        toggle and the move counts read; text columns as objects), the same rows in the same order: cheaper.
        """
        if tuple(sc.filters.criteria.get("wave", ())) != (wave,):
            raise ValueError(f"the scope must cover exactly the wave {wave!r}")
        with warnings.catch_warnings():  # any value matching nothing was reported with `sc` already
            warnings.simplefilter("ignore", FilterWarning)
            before = self.scope(sc.filters.replace(wave=[compare_to]))
        pos, now = self._counted(sc)
        _, prev = self._counted(before)  # the accounts in scope are the same: so are the account filters
        t = _thresholds(red_below, green_above)
        summary, blind = self._split(sc, pos, now, t, small_sample)
        movement = self._movement(sc, pos, now, prev, t, small_sample, wave, compare_to, full)
        return LiveTables(summary, blind, movement, _move_counts(movement))

    def _split(
        self, sc: Scope, pos: np.ndarray, counts: dict[str, np.ndarray], t: Thresholds, small_sample: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        in_scope = np.zeros(len(self.accounts), dtype=bool)
        in_scope[pos] = True
        surveyed = in_scope & (counts["invitations"] > 0)
        rows = np.flatnonzero(surveyed)  # ascending positions: the display order, no sort needed
        figures = {c: counts[c][rows] for c in COUNT_COLUMNS}
        figures |= _derived(figures, t, small_sample)
        account_cols = [c for c in self.dataset.account_columns if c not in ("account_id", "account_name", "value")]
        columns = {c: figures[c] if c in figures else self._columns[c].take(rows) for c in SUMMARY_COLUMNS}
        summary = pd.DataFrame(columns | {c: self._columns[c].take(rows) for c in account_cols})
        summary.attrs["filter_warnings"] = list(sc.warnings)
        summary.attrs["filters"] = sc.filters.to_dict()
        summary.attrs["thresholds"] = {"red_below": t.red_below, "green_above": t.green_above}
        blind = self.accounts.take(np.flatnonzero(in_scope & ~surveyed))[list(self.dataset.account_columns)]
        blind = blind.sort_values(["value", "account_name"], ascending=[False, True], kind="stable")
        return summary, blind.reset_index(drop=True)

    def _movement(
        self,
        sc: Scope,
        pos: np.ndarray,
        now: dict[str, np.ndarray],
        prev: dict[str, np.ndarray],
        t: Thresholds,
        small_sample: int,
        wave: str,
        compare_to: str,
        full: bool = True,
    ) -> pd.DataFrame:
        """`waves.compare_counts` for counts aligned by position (no merge), with compare_waves' columns and order.

        `full=False`: only `MOVEMENT_VIEW_COLUMNS`.
        """
        in_scope = np.zeros(len(self.accounts), dtype=bool)
        in_scope[pos] = True
        rows = np.flatnonzero(in_scope & ((now["invitations"] > 0) | (prev["invitations"] > 0)))
        in_now = now["invitations"][rows] > 0
        in_prev = prev["invitations"][rows] > 0
        sides = []
        for counts, present in ((now, in_now), (prev, in_prev)):
            side = {c: counts[c][rows] for c in COUNT_COLUMNS}
            side |= _derived(side, t, small_sample)  # absent: counts 0, so no rate, NPS or band ...
            side["response_rate"] = np.where(present, side["response_rate"], np.nan)  # ... as compare_counts says
            side["band"] = np.where(present, side["band"], np.nan).astype(object)
            sides.append(side)
        a, b = sides
        both, silent = in_now & in_prev, (b["responses"] > 0) & (a["responses"] == 0)
        status = _STATUSES[np.where(both, np.where(silent, 3, 0), np.where(in_now, 1, 2))]
        low, high = _change_interval(*(a[c] for c in COUNT_COLUMNS[3:]), *(b[c] for c in COUNT_COLUMNS[3:]))
        change = a["nps"] - b["nps"]
        defined = ~np.isnan(change) & ~np.isnan(low)
        real = defined & ((low > 0) | (high < 0))
        changed = both & (a["band"] != b["band"])
        moves = {
            "nps_change": np.where(defined, change, np.nan),
            "nps_change_low": np.where(defined, low, np.nan),
            "nps_change_high": np.where(defined, high, np.nan),
            "nps_change_real": real,
            "direction": _DIRECTIONS[np.where(real, np.where(low > 0, 0, 1), np.where(defined, 2, 3))],
            "response_rate_change": a["response_rate"] - b["response_rate"],
            "footprint_change": a["contacts_invited"] - b["contacts_invited"],
            "band_changed": changed,
            "moved": changed | real,
        }
        if not full:  # text as objects: the views compare and look them up, a text dtype would only cost time
            ids = self._columns["account_id"].take(rows).to_numpy(dtype=object)
            view = {"account_id": ids, "wave_status": status, "band": a["band"], "band_prev": b["band"]}
            view |= {"contacts_invited_prev": b["contacts_invited"], **moves}
            text = ("account_id", "wave_status", "band", "band_prev", "direction")
            movement = pd.DataFrame(
                {c: pd.Series(view[c], dtype=object) if c in text else view[c] for c in MOVEMENT_VIEW_COLUMNS}
            )
            movement.attrs["waves"] = {"wave": wave, "compare_to": compare_to}
            return movement
        base = self.accounts.take(rows).reset_index(drop=True)
        out: dict[str, Any] = {"account_id": base["account_id"], "account_name": base["account_name"]}
        out |= {"value": base["value"], "wave_status": status}
        out |= {c: a[c] for c in WAVE_COLUMNS} | {c + "_prev": b[c] for c in WAVE_COLUMNS}
        band, band0 = (np.where(x["band"] == x["band"], x["band"], ABSENT) for x in (a, b))  # NaN -> absent
        moves["band_transition"] = (band0.astype(object) + ARROW + band.astype(object)).astype(object)
        out |= {c: moves[c] for c in CHANGE_COLUMNS}
        made = {"wave_status", *(c + "_prev" for c in WAVE_COLUMNS), *CHANGE_COLUMNS}
        for c in self.accounts.columns:  # the account's other columns, named as compare_waves names them
            name = f"account_{c}" if c in made else c
            if c not in ("account_id", "account_name", "value") and name not in WAVE_COLUMNS:
                out[name] = base[c]
        movement = pd.DataFrame(out)
        for c in ("band", "band_prev", "band_transition"):  # object columns (NaN where absent), as compare_counts
            movement[c] = pd.Series(out[c], dtype=object)
        movement.attrs["waves"] = {"wave": wave, "compare_to": compare_to}
        movement.attrs["filters"] = sc.filters.to_dict()
        movement.attrs["filter_warnings"] = list(sc.warnings)
        movement.attrs["thresholds"] = {"red_below": t.red_below, "green_above": t.green_above}
        movement.attrs["method"] = "adjusted"
        return movement


_STATUSES = np.array(["both", "new", "dropped", "newly_silent"], dtype=object)


_DIRECTIONS = np.array(["up", "down", "noise", "undefined"], dtype=object)


# The comparison's columns the live dashboard reads (`LiveSummary.compare(..., full=False)`).
MOVEMENT_VIEW_COLUMNS: tuple[str, ...] = (
    "account_id",
    "wave_status",
    "band",
    "band_prev",
    "contacts_invited_prev",
    "direction",
    "moved",
    "nps_change",
    "nps_change_low",
    "nps_change_high",
)


def _move_counts(c: pd.DataFrame) -> dict[str, int]:
    """`waves.move_counts` with numpy (the flags of `waves._move_flags`)."""
    status, direction = c["wave_status"].to_numpy(), c["direction"].to_numpy()
    band, band0 = c["band"].to_numpy(), c["band_prev"].to_numpy()
    both = (status == "both") | (status == "newly_silent")
    flags = {
        "newly red": both & (band == "red") & (band0 != "red"),
        "real drop": both & (direction == "down"),
        "newly silent": status == "newly_silent",
        "real rise": both & (direction == "up"),
        "newly green": both & (band == "green") & (band0 != "green"),
        "new": status == "new",
        "dropped": status == "dropped",
    }
    return {m: int(np.count_nonzero(f)) for m, f in flags.items()}
