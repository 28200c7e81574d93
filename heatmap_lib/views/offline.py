"""What a snapshot page needs to filter offline (DESIGN.md section 8): compact counts, words and the page's script.

A reader of an emailed report gets every filter of the live panel without a kernel: account columns (tier,
region, industry, sales rep, account manager, name search), role, questionnaire and wave, and band. Contact-level
filters change the figures, so the page recomputes each account's footprint, invitations, responses, response
rate, NPS, its adjusted-Wald interval and band in one script function (`computeAccounts` in
`templates/js/offline.js`) from counts shipped with it:

- `cells`: per account x role x (questionnaire, wave) the invitations, promoters, passives and detractors (every
  response is one of the three: scores are 0-10);
- `contacts`: per contact its account, its role and a bitset of the (questionnaire, wave) pairs it was invited in,
  so the footprint (distinct contacts, which does not add up across waves) stays exact under any filter.

The whole payload goes into the page as gzip-compressed JSON in base64 (`payload_blob`; the page inflates it with
the browser's DecompressionStream): a 1,000-account report's counts take about 80 KB. Only the report's own scope is
shipped: its segment's accounts (surveyed and not surveyed), its roles, questionnaires and waves, so
a reader can narrow the report but never see more than it covers. No contact id, name or email: a contact is a row
number.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.core.paths import JS_DIR
from heatmap_lib.core.schema import ROLE_LABELS
from heatmap_lib.filters import FilterSet
from heatmap_lib.metrics.summary import SMALL_SAMPLE

__all__ = [
    "ACCOUNT_FACETS",
    "describe_filters",
    "filter_words",
    "offline_payload",
    "payload_blob",
    "payload_json",
    "script",
]

# The account columns a reader can filter on, in the live panel's order, with their words.
ACCOUNT_FACETS: tuple[tuple[str, str], ...] = (
    ("tier", "Tier"),
    ("region", "Region"),
    ("industry", "Industry"),
    ("sales_rep", "Sales rep"),
    ("account_manager", "Account manager"),
)
KEY_WORDS: dict[str, str] = {
    **dict(ACCOUNT_FACETS),
    "account_id": "Account id",
    "account_name": "Account",
    "contact_id": "Contact",
    "role": "Role",
    "questionnaire": "Questionnaire",
    "wave": "Wave",
    "band": "Band",
}


def _words(key: str) -> str:
    return KEY_WORDS.get(key, key.replace("_", " ").capitalize())


def filter_words(key: str, values: Sequence[str]) -> str:
    """One filter in plain words: "Role: decision makers, influencers"."""
    shown = [ROLE_LABELS.get(v, v).lower() for v in values] if key == "role" else list(values)
    return f"{_words(key)}: {', '.join(shown)}"


def describe_filters(filters: FilterSet) -> str:
    """A filter set in plain words for readers ("Region: West; Role: decision makers, influencers")."""
    parts = [filter_words(k, v) for k, v in filters.criteria.items()]
    if filters.start or filters.end:
        parts.append(f"Sent {filters.start or 'any time'} to {filters.end or 'today'}")
    return "; ".join(parts) or "all accounts, contacts and waves"


def _packed(values: Any) -> list[int]:
    """Whole numbers as a plain list (the page turns each into a typed array)."""
    return [int(v) for v in np.asarray(values, dtype=np.int64).tolist()]


def _codes(values: pd.Series) -> tuple[list[str], list[int]]:
    """Distinct texts (sorted, case-folded) and each value's code."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    distinct = sorted(set(text), key=lambda s: (s.casefold(), s))
    index = {v: i for i, v in enumerate(distinct)}
    return distinct, _packed([index[v] for v in text])


def offline_payload(
    dataset: Any,
    sc: Any,
    summary: pd.DataFrame,
    missing: pd.DataFrame,
    *,
    thresholds: Mapping[str, float],
    xray_href: str | None = None,
) -> dict[str, Any]:
    """The compact counts and account facts a snapshot page filters and recomputes from (see the module doc).

    `sc` is the report's scope (`filters.scope`), `summary` and `missing` its `heatmap_tables`; accounts are listed
    surveyed first (in the summary's order, by name), then not surveyed.
    """
    from heatmap_lib.views.chart import MAX_SIZE, MIN_SIZE, xray_link

    ids = [*summary["account_id"].astype(str), *missing["account_id"].astype(str)]
    index = {a: i for i, a in enumerate(ids)}
    facets = [c for c, _ in ACCOUNT_FACETS if c in dataset.account_columns]
    accounts = dataset.table("accounts")
    cols = ["account_id", "account_name", "value", *facets]
    frame = accounts.filter(accounts.account_id.cast("string").isin(ids)).select(*cols).to_pandas() if ids else None
    if frame is None or not len(frame):
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    frame["account_id"] = frame["account_id"].astype(str)
    frame = frame.drop_duplicates("account_id").set_index("account_id").reindex(ids)
    attrs = {}
    for column in facets:
        values, codes = _codes(frame[column])
        attrs[column] = {"label": _words(column), "values": values, "codes": codes}
    facts = sc.facts
    s = facts.score
    keys = ["contact_key", "account_id", "role", "questionnaire", "wave"]
    grouped = (
        facts.group_by(keys)
        .aggregate(
            n=facts.count(), p=s.count(where=s >= 9), pa=s.count(where=(s >= 7) & (s <= 8)), d=s.count(where=s <= 6)
        )
        .to_pandas()
    )
    grouped["account_id"] = grouped["account_id"].astype(str)
    grouped = grouped[grouped["account_id"].isin(index)]  # the report's accounts only, always
    roles = [r for r in ROLE_LABELS if r in set(grouped["role"])] + sorted(set(grouped["role"]) - set(ROLE_LABELS))
    pairs = sorted({(str(q), str(w)) for q, w in zip(grouped["questionnaire"], grouped["wave"], strict=True)})
    wave_order = _wave_order(dataset, sc, {w for _, w in pairs})
    pairs.sort(key=lambda qw: (qw[0].casefold(), wave_order.get(qw[1], 0), qw[1]))
    pair_index = {qw: i for i, qw in enumerate(pairs)}
    role_index = {r: i for i, r in enumerate(roles)}
    acc = grouped["account_id"].map(index).to_numpy(dtype=np.int64)
    role = grouped["role"].map(role_index).to_numpy(dtype=np.int64)
    pair_of = zip(grouped["questionnaire"].astype(str), grouped["wave"].astype(str), strict=True)
    qw = np.array([pair_index[qw] for qw in pair_of], dtype=np.int64)
    counts = {k: grouped[k].to_numpy(dtype=np.int64) for k in ("n", "p", "pa", "d")}
    cells = (
        pd.DataFrame({"a": acc, "r": role, "q": qw, **counts}).groupby(["a", "r", "q"], sort=True).sum().reset_index()
    )
    words = max(1, (len(pairs) + 31) // 32)
    contact_codes, contact_rows = np.unique(grouped["contact_key"].to_numpy(), return_inverse=True)
    n_contacts = len(contact_codes)
    masks = np.zeros((n_contacts, words), dtype=np.uint64)
    np.bitwise_or.at(masks, (contact_rows, qw // 32), (np.uint64(1) << (qw % 32).astype(np.uint64)))
    first = np.full(n_contacts, -1, dtype=np.int64)
    first[contact_rows[::-1]] = np.arange(len(contact_rows))[::-1]
    names: list[str] = (
        frame["account_name"].astype(object).where(frame["account_name"].notna(), "").astype(str).tolist()
    )
    amounts = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    return {
        "thresholds": {"red_below": float(thresholds["red_below"]), "green_above": float(thresholds["green_above"])},
        "small_sample": SMALL_SAMPLE,
        "sizes": {"min": MIN_SIZE, "max": MAX_SIZE},
        "accounts": {
            "id": ids,
            "name": names,
            "value": [None if v != v else float(v) for v in amounts.tolist()],
            "surveyed": len(summary),
            "xray": None if xray_href is None else [xray_link(xray_href, a) for a in ids[: len(summary)]],
        },
        "attrs": attrs,
        "roles": roles,
        "role_labels": [ROLE_LABELS.get(r, r) for r in roles],
        "pairs": [list(p) for p in pairs],
        "cells": {
            "acc": _packed(cells["a"]),
            "role": _packed(cells["r"]),
            "pair": _packed(cells["q"]),
            "inv": _packed(cells["n"]),
            "p": _packed(cells["p"]),
            "pa": _packed(cells["pa"]),
            "d": _packed(cells["d"]),
        },
        "contacts": {
            "acc": _packed(acc[first] if n_contacts else []),
            "role": _packed(role[first] if n_contacts else []),
            "words": words,
            "mask": _packed(masks.reshape(-1).astype(np.int64)),
        },
    }


def _wave_order(dataset: Any, sc: Any, waves: set[str]) -> dict[str, int]:
    """Each wave's position by first sending date (the order a reader expects), else by name."""
    try:
        from heatmap_lib.metrics.waves import wave_order

        order = list(wave_order(dataset, scoped=sc))
    except Exception:  # the order is a nicety; names sort waves well enough
        order = []
    known = [w for w in order if w in waves] + sorted(waves - set(order))
    return {w: i for i, w in enumerate(known)}


def payload_blob(payload: Mapping[str, Any]) -> str:
    """The payload as the page carries it: JSON, gzip-compressed, in base64 (no customer text in the markup)."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def payload_json(payload: Mapping[str, Any]) -> str:
    r"""JSON safe inside a `<script type="application/json">`: `<`, `>` and `&` as \\u escapes, no NaN."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def script(name: str) -> str:
    """The text of a page script in `templates/js/` (e.g. "offline.js", "table_sort.js")."""
    return (JS_DIR / name).read_text(encoding="utf-8")


def css_string(text: str) -> str:
    """A CSS string literal of `text`, every character outside [A-Za-z0-9 .,:;()-] as a hex escape."""
    return '"' + re.sub(r"[^A-Za-z0-9 .,:;()\-]", lambda m: f"\\{ord(m.group()):06x}", text) + '"'
