"""A URL source's tables as the contract's: columns renamed, stored types checked and cast, absent tables empty.

`_prepare` refuses a table whose required columns are missing or whose stored types cannot hold the contract's;
`_typed_views` gives each table (and `invitation_facts`, a join) as the Ibis expression the metrics read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from heatmap_lib.core.exceptions import DataError, ValidationError
from heatmap_lib.core.schema import LOAD_ORDER, ROLE_SYNONYMS, TABLES, Column, Table
from heatmap_lib.data.checks import _structure_problems
from heatmap_lib.data.dataset import Problem, _message

_KIND_NAMES = {
    "text": "text",
    "number": "a number",
    "integer": "whole numbers",
    "date": "a date",
    "timestamp": "a timestamp",
    "boolean": "a boolean",
}


@dataclass
class _Found:
    """One contract table found in the engine: what reports call it and the engine's own expression."""

    label: str
    table: Any


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip()).lower()


@dataclass
class _Prepared:
    """One table: its columns under contract names (stored types), and the typed expression of each."""

    table: Table
    raw: Any
    typed: dict[str, Any]
    extras: list[str]


def _prepare(
    found: dict[str, _Found], where: str, label: str
) -> tuple[dict[str, Any], dict[str, _Prepared], list[str], list[str]]:
    """Rename columns to the contract's names and check the stored types; raise on any structural problem."""
    fatal: list[Problem] = []
    for name, table in TABLES.items():
        if table.required and name not in found:
            fatal.append(
                Problem(name, label, None, None, None, None, f"required table is missing (expected {name} {where})")
            )
    raws: dict[str, Any] = {}
    prepared: dict[str, _Prepared] = {}
    for name in LOAD_ORDER:
        if name not in found:
            continue
        f, table = found[name], TABLES[name]
        columns: dict[str, str] = {}
        for col in f.table.columns:
            norm = _norm(col)
            if norm in columns:
                raise DataError(f"{f.label}: columns {columns[norm]!r} and {col!r} both mean {norm!r}; keep one")
            columns[norm] = col
        raw = f.table.select(**{norm: f.table[col] for norm, col in columns.items()})
        fatal += _structure_problems(table, f.label, list(columns))
        typed: dict[str, Any] = {}
        for col in table.columns:
            if col.name not in columns:
                continue
            expr, problem = _convert(col, raw[col.name])
            if problem:
                fatal.append(Problem(name, f.label, None, None, col.name, str(raw[col.name].type()), problem))
            else:
                typed[col.name] = expr
        raws[name] = raw
        contract = {c.name for c in table.columns}
        prepared[name] = _Prepared(table, raw, typed, [c for c in columns if c not in contract])
    if fatal:
        raise ValidationError(_message(label, fatal, len(fatal)), fatal)
    return raws, prepared, [], prepared["accounts"].extras


def _convert(col: Column, raw: Any) -> tuple[Any, str | None]:
    """The contract-typed expression of a stored column, or why its stored type cannot hold the column."""
    import ibis

    t = raw.type()
    wrong = f"must be stored as {_KIND_NAMES[col.kind]} (the engine holds {t}); convert it in the engine, e.g. a view"
    if col.name == "role" or col.choices:
        if not t.is_string():
            return None, wrong
        if col.name == "role":
            folded = raw.lower().re_replace(r"[\s\-]+", "_")
            return folded.cases(*ROLE_SYNONYMS.items(), else_=ibis.null("string")), None
        low = raw.lower()
        return ibis.ifelse(low.isin(col.choices or ()), low, ibis.null("string")), None
    kind = col.kind
    if kind == "text":
        if t.is_string():
            return raw, None
        return (raw.cast("string"), None) if t.is_integer() or t.is_uuid() else (None, wrong)
    if kind == "number":
        return (raw.cast("float64"), None) if t.is_numeric() and not t.is_boolean() else (None, wrong)
    if kind == "integer":
        return (raw.cast("int64"), None) if t.is_numeric() and not t.is_boolean() else (None, wrong)
    if kind == "date":
        if t.is_date():
            return raw, None
        return (raw.date(), None) if t.is_timestamp() else (None, wrong)
    if kind == "timestamp":
        if t.is_timestamp():
            return (raw.cast("timestamp"), None) if t.timezone else (raw, None)
        return (raw.cast("timestamp"), None) if t.is_date() else (None, wrong)
    return (raw, None) if t.is_boolean() else (None, wrong)


def _typed_views(prepared: dict[str, _Prepared]) -> dict[str, Any]:
    """The tables as the DuckDB load builds them, as expressions: `invitation_facts` a join, absent ones empty.

    Contract columns first, typed (absent optional columns as typed NULLs), then the extra columns as stored.
    """
    import ibis

    from heatmap_lib.core.schema import SQL_TYPES

    ibis_types = {"VARCHAR": "string", "DOUBLE": "float64", "BIGINT": "int64", "DATE": "date"}
    ibis_types |= {"TIMESTAMP": "timestamp", "BOOLEAN": "boolean"}
    views: dict[str, Any] = {}
    anchor = prepared["accounts"].raw
    for name, table in TABLES.items():
        p = prepared.get(name)
        cols: dict[str, Any] = {}
        for col in table.columns:
            typ = ibis_types[SQL_TYPES[col.kind]]
            cols[col.name] = p.typed[col.name] if p and col.name in p.typed else ibis.null(typ)
        if p is None:  # absent: empty, typed, and never registered anywhere
            views[name] = anchor.select(**cols).filter(ibis.literal(False))
        else:
            views[name] = p.raw.select(**cols, **{e: p.raw[e] for e in p.extras})
    inv, contacts = views["invitations"], views["contacts"]
    c = contacts.select("contact_id", "account_id", "role")
    j = inv.join(c, "contact_id")
    # contact_key: the contact id itself (the DuckDB load numbers contacts; an engine's string key works the same)
    views["invitation_facts"] = j.select(
        contact_key=j.contact_id,
        contact_id=j.contact_id,
        account_id=j.account_id,
        role=j.role,
        questionnaire=j.questionnaire,
        wave=j.wave,
        sent_at=j.sent_at,
        responded_at=j.responded_at,
        score=j.score,
    )
    return views
