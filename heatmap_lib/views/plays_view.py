"""Plays as HTML for notebooks and snapshots: suggestions, open plays per account manager, and play effects.

Static HTML and one Bokeh figure; every piece of customer text (names, owners, notes, custom play names) is
escaped. The functions take frames in and give HTML or a figure out, so batch snapshots and JupyterLab share them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from heatmap_lib.data.plays import open_plays, play_label
from heatmap_lib.views.xray_view import _e

CSS = """
.hm-plays{font:13px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222}
.hm-plays h3{font-size:15px;margin:16px 0 4px}.hm-plays table{border-collapse:collapse;margin:4px 0 10px}
.hm-plays th,.hm-plays td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
.hm-plays th{background:#f5f7fa}.hm-plays td.n{text-align:right}.hm-plays .late{color:#d62728;font-weight:600}
.hm-plays .muted{color:#666;font-style:italic}
"""
METRIC_LABELS: dict[str, str] = {
    "nps": "NPS (points)",
    "response_rate": "Response rate (points)",
    "renewal_risk": "Renewal risk (points)",
}


SCALE: dict[str, float] = {"response_rate": 100.0}  # fractions shown as percentage points


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _wrap(inner: str) -> str:
    return f'<style>{CSS}</style><div class="hm-plays">{inner}</div>'


def open_plays_html(
    plays: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    *,
    as_of: Any = None,
    group_by: str = "account_manager",
    title: str = "Open plays by account manager",
) -> str:
    """Open and in-progress plays grouped per account manager (or `group_by`), overdue ones flagged; read-only."""
    listed = open_plays(plays, accounts, as_of=as_of, group_by=group_by)
    if listed.empty:
        return _wrap(f'<h3>{html.escape(title)}</h3><p class="muted">No open play.</p>')
    late = int(listed["overdue"].sum())
    parts = [f"<h3>{html.escape(title)}</h3><p>{len(listed):,} open, {late:,} overdue.</p>"]
    for group, rows in listed.groupby("group", sort=True):
        body = []
        for r in rows.to_dict(orient="records"):
            due = _e(r["due_date"])
            if r["overdue"]:
                due += f' <span class="late">{int(r["days_overdue"])} d overdue</span>'
            body.append(
                [
                    _e(r.get("account_name") if isinstance(r.get("account_name"), str) else r["account_id"]),
                    _e(play_label(str(r["play"]))),
                    _e(r["owner"]),
                    _e(str(r["status"]).replace("_", " ")),
                    due,
                    _e(r["notes"]),
                ]
            )
        parts.append(f"<b>{_e(group)}</b>" + _table(["Account", "Play", "Owner", "Status", "Due", "Notes"], body))
    return _wrap("".join(parts))


def suggestions_html(suggested: pd.DataFrame, *, title: str = "Suggested plays", limit: int | None = 50) -> str:
    """The suggestions table: flagged accounts by value, the play each rule suggests and why; read-only."""
    todo = suggested[~suggested["open_already"]] if "open_already" in suggested else suggested
    if todo.empty:
        return _wrap(f'<h3>{html.escape(title)}</h3><p class="muted">No account needs a new play.</p>')
    shown = todo if limit is None else todo.head(limit)
    rows = [
        [
            _e(r["account_name"]),
            f"{float(r['value']):,.0f}",
            _e(r["band"]),
            _e(r["play_label"]),
            _e(r["why"] or r["rule"]),
        ]
        for r in shown.to_dict(orient="records")
    ]
    more = f"<p class='muted'>{len(todo) - len(shown):,} more not shown.</p>" if len(shown) < len(todo) else ""
    accounts = todo["account_id"].nunique()
    return _wrap(
        f"<h3>{html.escape(title)}</h3><p>{len(todo):,} suggested plays on {accounts:,} flagged accounts "
        f"(already adopted ones left out).</p>" + _table(["Account", "Value", "Band", "Play", "Why"], rows, {1}) + more
    )


def effects_html(effects: pd.DataFrame, *, title: str = "What the plays did") -> str:
    """Per play type and metric: the effect against comparable accounts with its 95% interval, and how many."""
    if effects.empty:
        return _wrap(f'<h3>{html.escape(title)}</h3><p class="muted">No closed play to learn from yet.</p>')

    def pts(x: Any, metric: str) -> str:
        return "" if x is None or pd.isna(x) else f"{float(x) * SCALE.get(metric, 1.0):+.1f}"

    rows = [
        [
            _e(play_label(str(r["play"]))),
            _e(METRIC_LABELS.get(str(r["metric"]), r["metric"])),
            pts(r["effect"], r["metric"]),
            f"{pts(r['low'], r['metric'])} to {pts(r['high'], r['metric'])}" if not pd.isna(r["low"]) else "",
            f"{int(r['treated_accounts']):,}",
            f"{int(r['comparison_accounts']):,}",
            _e(r["verdict"]),
        ]
        for r in effects.to_dict(orient="records")
    ]
    return _wrap(
        f"<h3>{html.escape(title)}</h3><p>Change from the wave before the play to the wave after, minus the change of "
        "comparable accounts with no play (same segment and band); an effect counts when its 95% interval excludes "
        "zero.</p>"
        + _table(
            ["Play", "Metric", "Effect", "95% interval", "Accounts with the play", "Comparable accounts", "Verdict"],
            rows,
            {2, 3, 4, 5},
        )
    )


def effects_chart(effects: pd.DataFrame, metric: str = "nps", *, title: str | None = None) -> Any:
    """A Bokeh chart of one metric's effect per play type: a dot at the estimate, a whisker for its interval."""
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool
    from bokeh.models.annotations import Span, Whisker
    from bokeh.plotting import figure

    df = effects[effects["metric"] == metric].dropna(subset=["effect", "low"])
    labels = [play_label(str(p)) for p in df["play"]]
    k = SCALE.get(metric, 1.0)
    source = ColumnDataSource(
        {
            "play": labels,
            "effect": k * df["effect"].to_numpy(dtype=float),
            "low": k * df["low"].to_numpy(dtype=float),
            "high": k * df["high"].to_numpy(dtype=float),
            "treated": df["treated_accounts"].to_numpy(dtype="int64"),
            "verdict": [str(v) for v in df["verdict"]],
        }
    )
    fig = figure(
        y_range=FactorRange(factors=list(reversed(labels)) or ["(none)"]),
        height=60 + 34 * max(len(labels), 1),
        width=640,
        title=title or f"Effect on {METRIC_LABELS.get(metric, metric)}, with its 95% interval",
        toolbar_location=None,
        x_axis_label="points, against comparable accounts with no play",
    )
    fig.add_layout(Span(location=0, dimension="height", line_color="#888", line_dash="dashed"))
    fig.add_layout(Whisker(source=source, base="play", lower="low", upper="high", dimension="width"))
    dots = fig.scatter("effect", "play", source=source, size=10, color="#1f5fa8")
    fig.add_tools(
        HoverTool(
            renderers=[dots],
            tooltips=[
                ("Play", "@play"),
                ("Effect", "@effect{+0.0}"),
                ("95% interval", "@low{+0.0} to @high{+0.0}"),
                ("Accounts", "@treated"),
                ("Verdict", "@verdict"),
            ],
        )
    )
    return fig


@dataclass
class PlaysReport:
    """What the plays notebook shows for one scope: suggestions, open plays and the learning loop's effects."""

    suggested: pd.DataFrame
    open_html: str
    effects: pd.DataFrame


def plays_report(
    dataset: Any,
    workspace: Any = None,
    filters: Any = None,
    *,
    play_rules: Any = None,
    renewal_weights: Any = None,
    match_on: Any = ("tier",),
    as_of: Any = None,
) -> PlaysReport:
    """Compute the plays notebook's tables for the accounts in scope (the store is only read, never created).

    workspace: the plays store's folder; None shows no plays (a batch spec that names no workspace).
    """
    from heatmap_lib.data.plays import empty_plays, read_plays
    from heatmap_lib.metrics.learning import play_effects
    from heatmap_lib.metrics.suggestions import load_rules, suggestions
    from heatmap_lib.metrics.summary import account_summary, not_surveyed, role_flags

    summary = account_summary(dataset, filters)
    missing = not_surveyed(dataset, filters)
    ids = [*summary["account_id"].astype(str), *missing["account_id"].astype(str)]
    plays = read_plays(workspace, ids, dataset=dataset) if workspace is not None else empty_plays()
    flags = role_flags(dataset, filters, summary=summary)
    suggested = suggestions(summary, load_rules(play_rules), flags=flags, plays=plays)
    keep = ["account_id", "account_name", "account_manager"]
    accounts = pd.concat([summary[[c for c in keep if c in summary]], missing[[c for c in keep if c in missing]]])
    effects = play_effects(dataset, plays, match_on=match_on, renewal_weights=renewal_weights, filters=filters)
    return PlaysReport(suggested, open_plays_html(plays, accounts, as_of=as_of), effects)


def excluded_html(effects: pd.DataFrame) -> str:
    """Which plays the learning loop could not measure, counted by reason (nothing is left out silently)."""
    excluded = effects.attrs.get("excluded")
    notes = [f"<li>{_e(n)}</li>" for n in effects.attrs.get("notes", [])]
    if excluded is None or not len(excluded):
        body = "<p>Every closed play was measured.</p>"
    else:
        per_play = excluded.drop_duplicates(["play_id", "reason"]) if "play_id" in excluded else excluded
        counts = per_play["reason"].value_counts()
        body = _table(["Reason", "Plays"], [[_e(r), f"{int(n):,}"] for r, n in counts.items()], {1})
    extra = f"<ul>{''.join(notes)}</ul>" if notes else ""
    return _wrap(f"<h3>Plays not measured, and why</h3>{body}{extra}")
