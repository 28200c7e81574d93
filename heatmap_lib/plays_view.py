"""Plays as HTML for notebooks and snapshots: suggestions, open plays per account manager, and play effects.

Static HTML and one Bokeh figure; every piece of customer text (names, owners, notes, custom play names) is
escaped. The functions take frames in and give HTML or a figure out, so batch snapshots and JupyterLab share them.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from .plays import open_plays, play_label

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


def _e(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    return html.escape(str(value), quote=True)


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

    def pts(x: Any) -> str:
        return "" if x is None or pd.isna(x) else f"{float(x):+.1f}"

    rows = [
        [
            _e(play_label(str(r["play"]))),
            _e(METRIC_LABELS.get(str(r["metric"]), r["metric"])),
            pts(r["effect"]),
            f"{pts(r['low'])} to {pts(r['high'])}" if not pd.isna(r["low"]) else "",
            f"{int(r['treated']):,}",
            f"{int(r['comparison']):,}",
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

    df = effects[effects["metric"] == metric].dropna(subset=["effect"])
    labels = [play_label(str(p)) for p in df["play"]]
    source = ColumnDataSource(
        {
            "play": labels,
            "effect": df["effect"].to_numpy(dtype=float),
            "low": df["low"].to_numpy(dtype=float),
            "high": df["high"].to_numpy(dtype=float),
            "treated": df["treated"].to_numpy(dtype="int64"),
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
