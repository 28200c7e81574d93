"""Filter sets (DESIGN.md section 5): which accounts, contacts and invitations a view or report covers.

A `FilterSet` is an immutable value: a mapping of column name to the values to keep, plus an optional date range
on `sent_at` and a name. Empty means "all". It saves to and loads from small YAML or JSON files, and is what a
batch spec and the widget panel both use. `scope()` applies one to a dataset and reports values that match
nothing as warnings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from heatmap_lib.core.exceptions import FilterError, FilterWarning
from heatmap_lib.core.schema import ROLE_SYNONYMS

CONTACT_KEYS = ("contact_id", "role")
INVITATION_KEYS = ("questionnaire", "wave")
RESERVED = ("name", "start", "end")
ORDER = (
    "account_id",
    "tier",
    "region",
    "industry",
    "sales_rep",
    "account_manager",
    *CONTACT_KEYS,
    *INVITATION_KEYS,
)


def normalise_role(value: str) -> str:
    """The canonical role for a spelling such as "Decision Maker", "day-to-day" or "dm" (unknown: unchanged)."""
    folded = re.sub(r"[\s\-]+", "_", str(value).strip()).lower()
    return ROLE_SYNONYMS.get(folded, str(value).strip())


def _as_date(value: Any, key: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise FilterError(f"{key}: {value!r} is not a date (YYYY-MM-DD)") from None


def _as_values(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int | float | dt.date):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise FilterError(f"{key}: expected a list of values, got {value!r}")
    out: list[str] = []
    for v in value:
        if v is None or isinstance(v, Mapping | list):
            raise FilterError(f"{key}: {v!r} is not a value to compare with the data")
        text = normalise_role(v) if key == "role" else str(v).strip()
        if text not in out:
            out.append(text)
    return tuple(out)


class FilterSet:
    """Which accounts, contacts and invitations are in scope; an empty filter set means all of them.

    Parameters are column names (any accounts column, `contact_id`, `role`, `questionnaire`, `wave`), each
    with the values to keep, plus `start`/`end` (dates on `sent_at`, inclusive) and an optional `name`.
    Waves and dates exclude each other.

    Examples
    --------
    >>> fs = FilterSet(name="west-leaders", region=["West"], role=["Decision Maker", "influencer"])
    >>> fs.criteria["role"]
    ('decision_maker', 'influencer')
    >>> fs.replace(region=None).describe()
    'role: decision_maker, influencer'
    """

    __slots__ = ("criteria", "end", "name", "start")
    criteria: Mapping[str, tuple[str, ...]]
    start: dt.date | None
    end: dt.date | None
    name: str | None

    def __init__(
        self,
        name: str | None = None,
        *,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        **criteria: Iterable[Any] | str | None,
    ) -> None:
        clean: dict[str, tuple[str, ...]] = {}
        for key, value in criteria.items():
            if not isinstance(key, str) or not key:
                raise FilterError(f"filter keys must be column names, not {key!r}")
            values = _as_values(key, value)
            if values:
                clean[key] = values
        ordered = {k: clean[k] for k in ORDER if k in clean} | {k: v for k, v in clean.items() if k not in ORDER}
        start_d, end_d = _as_date(start, "start"), _as_date(end, "end")
        if (start_d or end_d) and "wave" in ordered:
            raise FilterError("filter by waves or by a start/end date range, not both")
        if start_d and end_d and start_d > end_d:
            raise FilterError(f"start {start_d} is after end {end_d}")
        object.__setattr__(self, "criteria", _Frozen(ordered))
        object.__setattr__(self, "start", start_d)
        object.__setattr__(self, "end", end_d)
        object.__setattr__(self, "name", str(name) if name not in (None, "") else None)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("FilterSet is immutable; use .replace(...)")

    # -- value semantics ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The filter set as the mapping its file holds (name, criteria, start, end; empty parts left out)."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        out |= {k: list(v) for k, v in self.criteria.items()}
        if self.start:
            out["start"] = self.start.isoformat()
        if self.end:
            out["end"] = self.end.isoformat()
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FilterSet) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"FilterSet({args})"

    @property
    def is_empty(self) -> bool:
        """True when nothing is filtered (the name does not count)."""
        return not self.criteria and not self.start and not self.end

    def describe(self) -> str:
        """A one-line human description, e.g. "region: West; role: decision_maker" or "all data"."""
        parts = [f"{k}: {', '.join(v)}" for k, v in self.criteria.items()]
        if self.start or self.end:
            parts.append(f"sent {self.start or '…'} to {self.end or '…'}")
        return "; ".join(parts) or "all data"

    def replace(self, **changes: Any) -> FilterSet:
        """A copy with some keys changed; a value of None or [] removes that filter."""
        current: dict[str, Any] = self.to_dict()
        for key, value in changes.items():
            if value is None or (not isinstance(value, str) and isinstance(value, Iterable) and not list(value)):
                current.pop(key, None)
            else:
                current[key] = value
        return FilterSet.from_dict(current)

    def cleared(self) -> FilterSet:
        """An empty filter set (all data), without a name."""
        return FilterSet()

    # -- files ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "filter set") -> FilterSet:
        """Build a filter set from a mapping as stored in a file (keys: column names, start, end, name)."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise FilterError(f"{source}: expected a mapping of column names to values, got {type(data).__name__}")
        kwargs = dict(data)
        try:
            return cls(
                name=kwargs.pop("name", None),
                start=kwargs.pop("start", None),
                end=kwargs.pop("end", None),
                **kwargs,
            )
        except FilterError as exc:
            raise FilterError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> FilterSet:
        """Read a filter set from a .yaml/.yml or .json file (YAML through the safe loader)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise FilterError(f"{p}: cannot read filter set ({exc.strerror})") from None
        try:
            data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise FilterError(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'} ({exc})") from None
        fs = cls.from_dict(data, source=str(p))
        if fs.name is None:
            fs = fs.replace(name=p.stem)
        return fs

    def save(self, path: str | Path) -> Path:
        """Write the filter set to a .yaml/.yml or .json file, atomically; return the path."""
        p = Path(path)
        data = self.to_dict()
        text = (
            json.dumps(data, indent=2) + "\n"
            if p.suffix.lower() == ".json"
            else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        )
        _atomic_write(p, text)
        return p


class _Frozen(Mapping[str, tuple[str, ...]]):
    """A read-only mapping (so a FilterSet cannot be changed through its criteria)."""

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, tuple[str, ...]]) -> None:
        self._d = d

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return repr(self._d)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).chmod(0o644)  # mkstemp files are owner-only; a saved filter set is shared like any file
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SUFFIXES = (".yaml", ".yml", ".json")


def _stored_name(path: Path) -> str | None:
    """The name a saved filter set file holds (its stem when it names none); None when it does not load."""
    try:
        return FilterSet.load(path).name
    except FilterError:
        return None


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip(".-")
    if not slug:
        raise FilterError(f"{name!r} is not usable as a filter set name (use letters, digits, - or _)")
    return slug


class FilterLibrary:
    """Saved filter sets by name, one YAML file each in a folder (for example `params/filters`)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def names(self) -> list[str]:
        """The saved filter sets' file names (stems, each distinct), sorted; `load` takes these or the set's name."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.iterdir() if p.suffix in _SUFFIXES and not p.name.startswith("."))

    def path(self, name: str) -> Path:
        """The file a filter set of this name is saved to.

        Names that differ only in punctuation ("west/leaders", "west leaders") share a slug: the first saved owns
        `<slug>.yaml`, every other gets `<slug>-<hash of its name>.yaml`, and a file answers only to its own name.
        """
        slug = _slug(name)
        hashed = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        plain_taken = False
        for stem in (slug, hashed):
            for suffix in _SUFFIXES:
                candidate = self.folder / f"{stem}{suffix}"
                if candidate.exists():
                    if _stored_name(candidate) == name:
                        return candidate
                    plain_taken = plain_taken or stem == slug
        return self.folder / f"{hashed if plain_taken else slug}.yaml"

    def _find(self, name: str) -> Path:
        """The saved file of the set called `name`, else the file whose stem is `name` (as `names` lists it)."""
        path = self.path(name)
        if path.exists():
            return path
        for suffix in _SUFFIXES:
            candidate = self.folder / f"{name}{suffix}"
            if "/" not in name and candidate.exists():
                return candidate
        return path

    def save(self, filters: FilterSet, name: str | None = None) -> Path:
        """Save under `name` (default: the set's own name)."""
        name = name or filters.name
        if not name:
            raise FilterError("a saved filter set needs a name")
        return filters.replace(name=name).save(self.path(name))

    def load(self, name: str) -> FilterSet:
        """The saved filter set called `name` (or saved in the file `name` lists as)."""
        path = self._find(name)
        if not path.exists():
            known = ", ".join(self.names()) or "none saved yet"
            raise FilterError(f"no saved filter set {name!r} in {self.folder} (saved: {known})")
        return FilterSet.load(path)

    def delete(self, name: str) -> None:
        """Remove the saved filter set called `name` (no error when it does not exist)."""
        self._find(name).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------------------
# applying a filter set to a dataset


@dataclass(frozen=True)
class Scope:
    """A filter set applied to a dataset: the accounts and invitation facts in scope, and what matched nothing."""

    filters: FilterSet
    accounts: Any  # ibis.Table: accounts passing the account filters
    facts: Any  # ibis.Table: invitation_facts passing every filter
    warnings: tuple[str, ...]
    account_filtered: bool = False

    def narrow(self, invitations: Any, *, dates: bool = True) -> Any:
        """Apply the contact, questionnaire, wave/date and account filters to any invitation-level expression.

        `invitations` needs the columns filtered on (contact_id, role, questionnaire, wave, sent_at, account_id).
        `dates=False` leaves out the wave and date filters (for a trend across waves).
        """
        expr = invitations
        for key, values in self.filters.criteria.items():
            if key in (*CONTACT_KEYS, *INVITATION_KEYS) and (dates or key != "wave"):
                expr = expr.filter(expr[key].isin(values))
        if dates and self.filters.start:
            expr = expr.filter(expr.sent_at >= self.filters.start)
        if dates and self.filters.end:
            expr = expr.filter(expr.sent_at <= self.filters.end)
        if self.account_filtered:
            expr = expr.filter(expr.account_id.isin(self.accounts.account_id))
        return expr


def coerce(filters: FilterSet | Mapping[str, Any] | str | Path | None) -> FilterSet:
    """A FilterSet from a FilterSet, a mapping, the path of a filter-set file, or None (all data)."""
    if filters is None:
        return FilterSet()
    if isinstance(filters, FilterSet):
        return filters
    if isinstance(filters, Mapping):
        return FilterSet.from_dict(filters)
    return FilterSet.load(filters)


def scope(dataset: Any, filters: FilterSet | Mapping[str, Any] | str | Path | None = None) -> Scope:
    """Apply a filter set to a dataset; unknown keys raise `FilterError`, unmatched values warn."""
    fs = coerce(filters)
    known = set(dataset.account_columns) | set(CONTACT_KEYS) | set(INVITATION_KEYS)
    unknown = [k for k in fs.criteria if k not in known]
    if unknown:
        cols = ", ".join(sorted(known))
        raise FilterError(f"unknown filter key {', '.join(map(repr, unknown))} (known keys: {cols}, start, end, name)")
    accounts = dataset.table("accounts")
    problems: list[str] = []
    for key, values in fs.criteria.items():
        if key in dataset.account_columns:
            accounts = accounts.filter(accounts[key].cast("string").isin(values))
        found = _matching(dataset, key, values)  # once per key: per value made id filters quadratic
        missing = [v for v in values if v not in found]
        if missing:
            problems.append(f"{key}: {', '.join(map(repr, missing))} matched nothing in the data")
    account_filtered = any(k in dataset.account_columns for k in fs.criteria)
    sc = Scope(fs, accounts, None, tuple(problems), account_filtered)
    sc = replace(sc, facts=sc.narrow(dataset.table("invitation_facts")))
    for message in problems:
        warnings.warn(message, FilterWarning, stacklevel=3)
    return sc


def _matching(dataset: Any, key: str, values: tuple[str, ...]) -> set[str]:
    """Which of `values` occur in the column `key` (distinct values of small columns are cached per dataset)."""
    table = "accounts" if key in dataset.account_columns else "invitation_facts"
    if key in ("account_id", "contact_id"):
        t = dataset.table(table)
        col = t[key].cast("string")
        found = t.filter(col.isin(values)).select(v=col).distinct().to_pyarrow()
        return set(found.column("v").to_pylist())
    return set(dataset.distinct_values(table, key))
