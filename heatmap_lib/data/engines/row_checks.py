"""The contract's row rules checked in the engine: every rule's breaches counted in one query, examples fetched.

Only the rows that break a rule come back (at most `MAX_EXAMPLES` per rule); a database has no line numbers, so
a problem names the table and the row's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from heatmap_lib.core.exceptions import ValidationError
from heatmap_lib.core.schema import LOAD_ORDER, TABLES
from heatmap_lib.data.checks import _KIND_RULES, _range_rule, _value_rule
from heatmap_lib.data.dataset import Problem, _message
from heatmap_lib.data.engines.views import _Found, _Prepared

MAX_EXAMPLES = 1000  # rows fetched per broken rule; the count of all of them is always reported


@dataclass
class _Rule:
    """One contract rule over a table: rows matching `cond` break it (or duplicates / missing references)."""

    column: str | None
    rule: str
    cond: Any = None
    value: Any = None  # the value a problem quotes (stored, as text)
    detail: Any = None  # appended to the rule text in parentheses (e.g. the sent_at a response precedes)
    kind: Literal["row", "duplicate", "reference"] = "row"
    parent: Any = None  # reference: the parent's key column


def _rules(p: _Prepared, raws: dict[str, Any]) -> list[_Rule]:
    """Every row rule of the contract for one table, as Ibis conditions over its stored columns."""
    r, out = p.raw, []
    present = set(r.columns)
    for col in p.table.columns:
        if col.name not in p.typed:
            continue
        raw, typed, t = r[col.name], p.typed[col.name], r[col.name].type()
        text = raw.cast("string")
        empty = raw.isnull() | (raw.strip() == "") if t.is_string() else raw.isnull()
        if col.not_empty:
            out.append(_Rule(col.name, "must not be empty", empty))
        if col.name == "role" or col.choices:
            out.append(_Rule(col.name, _value_rule(col), ~empty & typed.isnull(), text))
        if t.is_floating() and col.kind in ("number", "integer"):
            out.append(_Rule(col.name, _KIND_RULES[col.kind], raw.isnan() | raw.isinf(), text))
        if col.kind == "integer" and (t.is_floating() or t.is_decimal()):
            out.append(_Rule(col.name, _KIND_RULES["integer"], raw.notnull() & (raw != raw.floor()), text))
        rng = _range_rule(col)
        if rng:
            lo, hi = col.minimum, col.maximum
            if lo is not None and hi is not None:
                cond = (typed < lo) | (typed > hi)
            else:
                cond = typed < lo if lo is not None else typed > hi
            out.append(_Rule(col.name, rng[1], cond, text))
        if col.unique:
            out.append(_Rule(col.name, f"duplicate {col.name}", kind="duplicate"))
        if col.references and col.references in raws:
            parent = TABLES[col.references]
            praw = raws[parent.name]
            if parent.key in praw.columns:
                rule = f"must exist in {parent.name} (no {parent.key} with this value)"
                out.append(_Rule(col.name, rule, value=text, kind="reference", parent=praw[parent.key]))
    if p.table.name == "invitations" and {"sent_at", "responded_at", "score"} <= present:
        sent, resp = p.typed.get("sent_at"), p.typed.get("responded_at")
        if sent is not None and resp is not None:
            out.append(
                _Rule(
                    "responded_at",
                    "must not be before sent_at",
                    resp < sent,
                    r.responded_at.cast("string"),
                    r.sent_at.cast("string"),
                )
            )
        out.append(
            _Rule(
                "score",
                "must not be empty when responded_at is set (a response has a score)",
                r.score.isnull() & r.responded_at.notnull(),
            )
        )
        out.append(
            _Rule(
                "responded_at",
                "must not be empty when score is set (a score comes with its response date)",
                r.score.notnull() & r.responded_at.isnull(),
            )
        )
    return out


def _key(p: _Prepared) -> Any:
    import ibis

    key = p.table.key or "account_id"
    return p.raw[key].cast("string") if key in p.raw.columns else ibis.null("string")


def _validate(
    raws: dict[str, Any], prepared: dict[str, _Prepared], found: dict[str, _Found], label: str
) -> dict[str, int]:
    """Count every rule's breaches in the engine, all tables in one query; raise with the problems if any.

    One query rather than one per table: on Spark each query costs a job's fixed overhead (about a second on
    small data), which dominated opening a small dataset.
    """
    import ibis

    rules = {name: _rules(p, raws) for name, p in prepared.items()}
    width = max(len(r) for r in rules.values())
    parts = [_rule_counts(prepared[name], rules[name], width).mutate(tbl=ibis.literal(name)) for name in rules]
    result = {r["tbl"]: r for r in ibis.union(*parts).to_pyarrow().to_pylist()}
    rows: dict[str, int] = {}
    problems: list[Problem] = []
    total = 0
    for name in LOAD_ORDER:
        if name not in prepared:
            continue
        counts = result[name]
        rows[name] = int(counts["rows"] or 0)
        for i, rule in enumerate(rules[name]):
            n = int(counts[f"c{i}"] or 0)
            if n:
                total += n
                problems += _examples(prepared[name], rule, n, found[name].label)
    if total:
        raise ValidationError(_message(label, problems, total), problems)
    return rows


def _rule_counts(p: _Prepared, rules: list[_Rule], width: int) -> Any:
    """One row: the table's row count and each rule's breaches (`c0`...; padded with 0 up to `width`)."""
    import ibis

    r = p.raw
    aggs = {"rows": r.count()}
    subs = []
    for i, rule in enumerate(rules):
        if rule.kind == "row":
            aggs[f"c{i}"] = r.count(where=rule.cond)
        elif rule.kind == "duplicate":
            g = _duplicates(r, rule.column)
            subs.append(g.aggregate(**{f"c{i}": (g.n - 1).sum()}))
        else:
            m = _missing(r, rule)
            subs.append(m.aggregate(**{f"c{i}": m.count()}))
    query = r.aggregate(**aggs)
    if subs:
        query = query.cross_join(*subs)
    cols = {"rows": query.rows.cast("int64")}
    for i in range(width):
        cols[f"c{i}"] = query[f"c{i}"].cast("int64") if i < len(rules) else ibis.literal(0, "int64")
    return query.select(**cols)


def _duplicates(r: Any, column: str | None) -> Any:
    f = r.filter(r[column].notnull())
    g = f.group_by(k=f[column]).aggregate(n=f.count())
    return g.filter(g.n > 1)


def _missing(r: Any, rule: _Rule) -> Any:
    fk = r[rule.column]
    parent = rule.parent.name("_parent_key").as_table()
    return r.filter(fk.notnull()).anti_join(parent, fk == parent._parent_key)


def _examples(p: _Prepared, rule: _Rule, n: int, where: str) -> list[Any]:
    """The problems of one broken rule (at most MAX_EXAMPLES rows), plus a line for the rest."""
    import ibis

    name = p.table.name
    if rule.kind == "duplicate":
        g = _duplicates(p.raw, rule.column)
        rows = g.select(key=g.k.cast("string"), n=g.n).order_by("key").limit(MAX_EXAMPLES).to_pyarrow().to_pylist()
        shown = sum(r["n"] - 1 for r in rows)
        out = [Problem(name, where, None, r["key"], rule.column, r["key"], f"{rule.rule}: {r['n']} rows") for r in rows]
    else:
        base = _missing(p.raw, rule) if rule.kind == "reference" else p.raw.filter(rule.cond)
        q = base.select(
            key=_key(_Prepared(p.table, base, p.typed, p.extras)),
            value=rule.value if rule.value is not None else ibis.null("string"),
            detail=rule.detail if rule.detail is not None else ibis.null("string"),
        )
        rows = q.order_by("key").limit(MAX_EXAMPLES).to_pyarrow().to_pylist()
        shown = len(rows)
        out = []
        for r in rows:
            text = f"{rule.rule} ({r['detail']})" if r["detail"] is not None else rule.rule
            out.append(Problem(name, where, None, r["key"], rule.column, r["value"], text))
    if n > shown:
        out.append(Problem(name, where, None, None, rule.column, None, f"{rule.rule}: {n - shown} more rows"))
    return out


def _count(raws: dict[str, Any]) -> dict[str, int]:
    """Row counts of every table in one query (structure-only checks)."""
    import ibis

    parts = [t.aggregate(n=t.count()).mutate(tbl=ibis.literal(name)) for name, t in raws.items()]
    result = ibis.union(*parts).to_pyarrow().to_pylist()
    return {r["tbl"]: int(r["n"]) for r in result}
