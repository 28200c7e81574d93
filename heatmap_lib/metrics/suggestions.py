"""Suggested plays: rules (`params/play_rules.yaml`) matched against each account's quadrant, band and role flags.

A rule names conditions (`quadrant`, `band`, `flag`) and the plays to suggest; `suggestions` lists, per account in
scope, the plays its matching rules suggest, marking those already open in the plays store (`data.plays`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from heatmap_lib.core.paths import PARAMS
from heatmap_lib.data.plays import OPEN, PLAY_TYPES, PlaysError, play_label
from heatmap_lib.metrics.summary import classify_quadrants

__all__ = ["CONDITIONS", "RULE_KEYS", "Rule", "default_rules_path", "load_rules", "suggestions"]


CONDITIONS: dict[str, tuple[str, ...]] = {
    "quadrant": ("revenue_at_risk", "expansion"),
    "band": ("green", "yellow", "red", "gray"),
    "flag": ("hidden_risk", "hidden_loyalty"),
}


RULE_KEYS: tuple[str, ...] = ("name", "when", "suggest", "why")


@dataclass(frozen=True)
class Rule:
    """A suggestion rule: accounts matching every condition of `when` get the plays of `suggest`."""

    name: str
    when: Mapping[str, str]
    suggest: tuple[str, ...]
    why: str = ""

    def matches(self, quadrant: str, band: str, flags: Iterable[str]) -> bool:
        """Whether an account with this quadrant, band and flags matches the rule."""
        have = {"quadrant": {quadrant}, "band": {band}, "flag": set(flags)}
        return all(value in have[key] for key, value in self.when.items())


def default_rules_path() -> Path:
    """The repository's `params/play_rules.yaml`."""
    return PARAMS / "play_rules.yaml"


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Read suggestion rules from YAML (safe loader; default `params/play_rules.yaml`); every mistake named."""
    import yaml

    path = Path(path) if path is not None else default_rules_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaysError(f"{path}: no such rules file (see params/play_rules.yaml for the format)") from None
    except yaml.YAMLError as exc:
        raise PlaysError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("rules"), list) or set(raw) - {"rules"}:
        raise PlaysError(f"{path}: a rules file is a mapping with one key, `rules`, holding a list of rules")
    rules: list[Rule] = []
    for i, item in enumerate(raw["rules"], start=1):
        where = f"{path}: rule {i}"
        if not isinstance(item, Mapping):
            raise PlaysError(f"{where}: a rule is a mapping with keys {', '.join(RULE_KEYS)}")
        unknown = [str(k) for k in item if k not in RULE_KEYS]
        if unknown:
            raise PlaysError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(RULE_KEYS)})")
        when = item.get("when")
        if not isinstance(when, Mapping) or not when:
            raise PlaysError(f"{where}: `when` must map one or more of {', '.join(CONDITIONS)} to a value")
        for key, value in when.items():
            if key not in CONDITIONS:
                raise PlaysError(f"{where}: unknown condition {key!r} (known: {', '.join(CONDITIONS)})")
            if value not in CONDITIONS[key]:
                raise PlaysError(f"{where}: {key}: {value!r} is not one of {', '.join(CONDITIONS[key])}")
        suggest = item.get("suggest")
        if isinstance(suggest, str):
            suggest = [suggest]
        if not isinstance(suggest, list) or not suggest or not all(isinstance(s, str) and s.strip() for s in suggest):
            raise PlaysError(f"{where}: `suggest` must be a play or a list of plays (e.g. {next(iter(PLAY_TYPES))})")
        name = str(item.get("name") or f"rule {i}")
        rules.append(Rule(name, dict(when), tuple(s.strip() for s in suggest), str(item.get("why") or "")))
    return rules


def suggestions(
    summary: pd.DataFrame,
    rules: Sequence[Rule],
    *,
    flags: pd.DataFrame | None = None,
    plays: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Suggested plays per flagged account: account_id, account_name, play, rule, why, and `open_already`.

    summary: `account_summary` rows (quadrants are computed on it, so pass the scope the team looks at).
    flags: `role_flags` rows for the hidden-risk and hidden-loyalty conditions. plays: the store's plays, so that
    a suggestion already adopted (an open play of that type on that account) is marked rather than repeated.
    """
    cols = ["account_id", "account_name", "value", "band", "quadrant", "play", "play_label", "rule", "why"]
    if summary.empty:
        return pd.DataFrame(columns=[*cols, "open_already"])
    quadrant = classify_quadrants(summary)
    flag_sets: dict[str, set[str]] = {}
    if flags is not None and not flags.empty:
        for name in CONDITIONS["flag"]:
            if name in flags:
                for account in flags.loc[flags[name].fillna(False).astype(bool), "account_id"].astype(str):
                    flag_sets.setdefault(account, set()).add(name)
    rows = []
    for i, r in enumerate(summary.itertuples(index=False)):
        account = str(r.account_id)
        seen: set[str] = set()
        for rule in rules:
            if rule.matches(quadrant.iloc[i], str(r.band), flag_sets.get(account, ())):
                for play in rule.suggest:
                    if play not in seen:
                        seen.add(play)
                        rows.append(
                            [
                                account,
                                r.account_name,
                                r.value,
                                r.band,
                                quadrant.iloc[i],
                                play,
                                play_label(play),
                                rule.name,
                                rule.why,
                            ]
                        )
    out = pd.DataFrame(rows, columns=cols)
    open_pairs: set[tuple[str, str]] = set()
    if plays is not None and not plays.empty:
        live = plays[plays["status"].isin(OPEN)]
        open_pairs = set(zip(live["account_id"].astype(str), live["play"].astype(str), strict=True))
    out["open_already"] = [(a, p) in open_pairs for a, p in zip(out["account_id"], out["play"], strict=True)]
    return out.sort_values(["value", "account_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
