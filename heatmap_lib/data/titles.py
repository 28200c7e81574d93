"""Roles from job titles: an editable, ordered rules file turned into one SQL expression run inside DuckDB.

The rules file (default `params/title_roles.yaml`) lists rules in order; the first rule with a pattern matching a
title gives its role. Titles and patterns are both lower-cased and stripped of accents first, so the rules are
case- and accent-insensitive in any language. Titles no rule matches get the file's `default` role and are listed
with their counts, so the user can add a rule.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from heatmap_lib.core.exceptions import DataError
from heatmap_lib.core.paths import PARAMS
from heatmap_lib.core.schema import ROLES


class TitleRulesError(DataError):
    """A title rules file is malformed: the message names the file and the key path of the mistake."""


@dataclass(frozen=True)
class TitleRule:
    """One ordered rule: titles matching `pattern` (already folded) get `role`; `where` names it in the file."""

    role: str
    pattern: str
    where: str


@dataclass(frozen=True)
class TitleRules:
    """The ordered rules of one rules file and the role given to titles no rule matches."""

    rules: tuple[TitleRule, ...]
    default: str
    path: Path | None = None

    def role_sql(self, title: str) -> str:
        """SQL giving the role of the text expression `title` (the default when no rule matches or it is empty)."""
        return f"COALESCE({self.match_sql(title)}, {_lit(self.default)})"

    def match_sql(self, title: str) -> str:
        """SQL giving the role of the first matching rule, or NULL when none matches (or the title is empty)."""
        folded = f"lower(strip_accents({title}))"
        whens = " ".join(f"WHEN regexp_matches({folded}, {_lit(r.pattern)}) THEN {_lit(r.role)}" for r in self.rules)
        return f"(CASE {whens} END)" if whens else "CAST(NULL AS VARCHAR)"


def fold(text: str) -> str:
    """Lower-case `text` and remove its accents, as titles are compared ("Geschäftsführer" -> "geschaftsfuhrer")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def default_rules_path() -> Path:
    """The repository's `params/title_roles.yaml`."""
    return PARAMS / "title_roles.yaml"


def load_title_rules(path: str | Path | None = None) -> TitleRules:
    """Read a title rules file (safe YAML loader; default `params/title_roles.yaml`), naming every mistake's key."""
    import yaml

    path = Path(path) if path is not None else default_rules_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TitleRulesError(f"{path}: no such title rules file (see params/title_roles.yaml)") from None
    except yaml.YAMLError as exc:
        raise TitleRulesError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_title_rules(raw, path)


def parse_title_rules(raw: object, path: Path | None = None, where: str = "") -> TitleRules:
    """Check and fold rules given as data (`{default: ROLE, rules: [{role: ROLE, patterns: [...]}, ...]}`).

    `where` prefixes the key paths in messages (rules written inside a mapping file: "title_rules.").
    """
    name = (str(path) if path else "title rules") + (f": {where.rstrip('.')}" if where else "")
    if not isinstance(raw, Mapping) or not isinstance(raw.get("rules"), list):
        raise TitleRulesError(f"{name}: a title rules file is a mapping with `rules` (a list) and `default` (a role)")
    unknown = sorted(str(k) for k in raw if k not in ("rules", "default"))
    if unknown:
        raise TitleRulesError(f"{name}: {unknown[0]}: unknown key (known: default, rules)")
    default = raw.get("default", "day_to_day")
    if default not in ROLES:
        raise TitleRulesError(f"{name}: default: {default!r} is not a role (one of {', '.join(ROLES)})")
    rules: list[TitleRule] = []
    con = duckdb.connect()
    try:
        for i, item in enumerate(raw["rules"]):
            where = f"rules[{i}]"
            if not isinstance(item, Mapping) or set(item) != {"role", "patterns"}:
                raise TitleRulesError(f"{name}: {where}: a rule is a mapping with exactly `role` and `patterns`")
            if item["role"] not in ROLES:
                raise TitleRulesError(f"{name}: {where}.role: {item['role']!r} is not a role ({', '.join(ROLES)})")
            patterns = item["patterns"]
            if isinstance(patterns, str):
                patterns = [patterns]
            if not isinstance(patterns, list) or not patterns:
                raise TitleRulesError(f"{name}: {where}.patterns: a list of one or more patterns")
            for j, pattern in enumerate(patterns):
                at = f"{where}.patterns[{j}]"
                if not isinstance(pattern, str) or not pattern.strip():
                    raise TitleRulesError(f"{name}: {at}: a pattern is non-empty text")
                folded = fold(pattern.strip())
                try:
                    con.execute("SELECT regexp_matches('', ?)", [folded]).fetchall()
                except duckdb.Error as exc:
                    msg = str(exc).splitlines()[0]
                    raise TitleRulesError(f"{name}: {at}: {pattern!r} is not a valid pattern ({msg})") from None
                rules.append(TitleRule(str(item["role"]), folded, at))
    finally:
        con.close()
    return TitleRules(tuple(rules), str(default), path)


def classify_titles(titles: Iterable[str | None], rules: TitleRules | None = None) -> pd.DataFrame:
    """Each title with its role and whether a rule matched (`matched`), classified by the same SQL as a mapping."""
    rules = rules or load_title_rules()
    frame = pd.DataFrame({"title": pd.Series(list(titles), dtype="object")})
    con = duckdb.connect()
    try:
        con.register("titles_in", frame)
        title = "NULLIF(TRIM(CAST(title AS VARCHAR)), '')"
        out = con.execute(
            f"SELECT title, {rules.role_sql(title)} AS role, {rules.match_sql(title)} IS NOT NULL AS matched "
            "FROM titles_in"
        ).df()
    finally:
        con.close()
    return out


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
