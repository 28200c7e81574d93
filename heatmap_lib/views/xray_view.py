"""The Account X-Ray as HTML: a self-contained page (or a notebook fragment) with no script at all.

A batch writes one page per account of a segment, so a page must be cheap: plain HTML tables, CSS bars and an
inline SVG trend line, no BokehJS and no kernel. Every piece of customer text is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from heatmap_lib.core.schema import ROLE_LABELS
from heatmap_lib.metrics.summary import BAND_LABELS, small_sample_note
from heatmap_lib.metrics.waves import WAVE_SETTLE_DAYS
from heatmap_lib.metrics.xray import XRay
from heatmap_lib.views.chart import BAND_COLORS, xray_file_name

PAGE_CSS = "body{margin:24px auto;max-width:1100px}"
# Scoped to .hx-xray so that a fragment shown inside JupyterLab restyles nothing else on the page.
CSS = """
.hx-xray{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222}
.hx-xray h1{font-size:22px;margin:0 0 4px}.hx-xray h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ddd}
.hx-meta{color:#555}.hx-kpis{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.hx-kpi{border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:130px}
.hx-kpi b{display:block;font-size:18px}.hx-kpi small{color:#666}
table.hx{border-collapse:collapse;width:100%;margin:4px 0}table.hx th,table.hx td{border-bottom:1px solid #eee;
padding:3px 6px;text-align:left;vertical-align:top}table.hx th{background:#f5f7fa}td.n{text-align:right}
.hx-dot{display:inline-block;width:.75em;height:.75em;border-radius:50%;margin-right:.35em;vertical-align:-.05em}
.hx-bar{display:inline-block;height:.8em;vertical-align:middle}.hx-reading{background:#fff8e1;border-left:4px solid
#f2c12e;padding:8px 12px;margin:10px 0}.hx-empty{color:#777;font-style:italic}.hx-xray a{color:#1f5fa8}
"""
CONTACTS_SHOWN = 50  # contacts listed in full on an X-Ray; the rest fold into a compact list (every one stays)
CATEGORY_COLORS = {"promoter": BAND_COLORS["green"], "passive": BAND_COLORS["yellow"], "detractor": BAND_COLORS["red"]}


def _e(value: Any) -> str:
    if type(value) is str:  # most values: the checks below cost more than the escape
        return html.escape(value, quote=True)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return html.escape(str(value), quote=True)


def _score(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0f}"


def _money(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f}"


def _pct(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.0f}%"


def _dot(band: str) -> str:
    colour = BAND_COLORS.get(band, BAND_COLORS["gray"])
    return f'<span class="hx-dot" style="background:{colour}"></span>{_e(BAND_LABELS.get(band, band))}'


def _table(headers: list[str], rows: Iterable[list[str]], numeric: Iterable[int] = ()) -> str:
    num = set(numeric)
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in num else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    if not body:
        return '<p class="hx-empty">None.</p>'
    return f'<table class="hx"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kpi(label: str, value: str, note: str = "") -> str:
    return f'<div class="hx-kpi"><small>{label}</small><b>{value}</b><small>{note}</small></div>'


def _note(row: Mapping[Any, Any]) -> str:
    """The small-sample note of a row with `responses` and `small_sample` ("" when it has enough answers)."""
    return small_sample_note(row.get("responses") or 0, flagged=bool(row.get("small_sample")))


def _trend_svg(rows: list[dict[str, Any]], width: int = 420, height: int = 120) -> str:
    """NPS per wave (the trend's records) as an inline SVG line with its interval band (no script)."""
    pts = [(str(r["wave"]), r["nps"], r["nps_low"], r["nps_high"]) for r in rows]
    if not pts:
        return ""
    pad, n = 28, len(pts)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return height - 18 - (height - 30) * (v + 100) / 200

    shapes = [
        f'<line x1="{pad}" x2="{width - pad}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#bbb" stroke-dasharray="3"/>'
    ]
    whole = [r.get("complete", True) for r in rows]
    known = [(i, p) for i, p in enumerate(pts) if not math.isnan(p[1])]
    for i, (_, _nps, low, high) in known:
        shapes.append(f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(low):.1f}" y2="{y(high):.1f}" stroke="#9ab"/>')
    solid = [(i, p) for i, p in known if whole[i]]
    if len(solid) > 1:
        path = " ".join(f"{x(i):.1f},{y(p[1]):.1f}" for i, p in solid)
        shapes.append(f'<polyline points="{path}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    for k, (i, p) in enumerate(known):  # an open wave: a dashed segment from its neighbour, a hollow point
        near = known[k - 1] if k > 0 else known[k + 1] if k + 1 < len(known) else None
        if not whole[i] and near is not None:
            shapes.append(
                f'<line x1="{x(near[0]):.1f}" y1="{y(near[1][1]):.1f}" x2="{x(i):.1f}" y2="{y(p[1]):.1f}" '
                'stroke="#1f5fa8" stroke-width="2" stroke-dasharray="5 3" class="hx-partial"/>'
            )
    for i, (_, nps_value, _, _) in known:
        fill = "#1f5fa8" if whole[i] else "#fff"
        shapes.append(f'<circle cx="{x(i):.1f}" cy="{y(nps_value):.1f}" r="3.5" fill="{fill}" stroke="#1f5fa8"/>')
    for i, (wave, *_rest) in enumerate(pts):
        shapes.append(f'<text x="{x(i):.1f}" y="{height - 3}" font-size="10" text-anchor="middle">{_e(wave)}</text>')
    label = "NPS by wave with its 95% interval"
    return (
        f'<svg role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(shapes)}</svg>'
    )


def _trend_caption(rows: list[dict[str, Any]]) -> str:
    """The trend's window in words (escaped HTML, from its records): the waves drawn and which are still open."""
    if not rows or "wave_start" not in rows[0]:
        return ""
    text = (
        f"Waves {rows[0]['wave']} to {rows[-1]['wave']}, first sent {rows[0]['wave_start']} to "
        f"{rows[-1]['wave_start']}."
    )
    open_ = [r for r in rows if not r.get("complete", True)]
    if open_:
        text += " " + "; ".join(
            f"{r['wave']} (last sent {r['wave_end']}) is still open: answers may arrive until "
            f"{pd.Timestamp(r['wave_end']).date() + dt.timedelta(days=WAVE_SETTLE_DAYS)}"
            for r in open_
        )
        text += ", so its point is drawn dashed and hollow and its figures may still move."
    else:
        text += " Every wave is complete."
    return f'<p class="hx-window"><small>{_e(text)}</small></p>'


def _signed(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.0f}".replace("-", "\u2212") if round(value) != 0 else "0"


VERDICTS = {
    "up": "real rise: the 95% interval of the change is above zero",
    "down": "real drop: the 95% interval of the change is below zero",
    "noise": "within noise: the 95% interval of the change includes zero",
}


def comparison_html(comparison: Mapping[str, Any] | None) -> str:
    """The X-Ray's wave-over-wave section: both waves' NPS and interval, the change with its interval, the verdict."""
    if not comparison:
        return ""
    now, prev = comparison.get("wave"), comparison.get("compare_to")
    title = (
        f"<h2>Wave over wave: {_e(now)} compared with {_e(prev)}</h2>" if now and prev else "<h2>Wave over wave</h2>"
    )
    row = comparison.get("row")
    if row is None:
        return f'{title}<p class="hx-empty">{_e(comparison.get("note", "No comparison."))}</p>'
    waves = []
    for wave, sfx in ((prev, "_prev"), (now, "")):
        surveyed = row[f"contacts_invited{sfx}"] > 0
        waves.append(
            [
                _e(wave),
                str(row[f"contacts_invited{sfx}"]),
                str(row[f"responses{sfx}"]),
                _pct(row[f"response_rate{sfx}"]),
                _score(row[f"nps{sfx}"]),
                f"{_score(row[f'nps_low{sfx}'])} to {_score(row[f'nps_high{sfx}'])}" if surveyed else "",
                _dot(str(row[f"band{sfx}"])) if surveyed else "not surveyed",
            ]
        )
    table = _table(
        ["Wave", "Footprint", "Responses", "Response rate", "NPS", "Interval", "Band"], waves, numeric=range(1, 5)
    )
    direction = row.get("direction")
    if direction in VERDICTS:
        change = (
            f"<b>{_signed(row['nps_change'])}</b> ({_signed(row['nps_change_low'])} to "
            f"{_signed(row['nps_change_high'])}), {VERDICTS[direction]}."
        )
    elif row.get("wave_status") == "new":
        change = f"Not surveyed in {_e(prev)}: no change to measure."
    elif row.get("wave_status") == "dropped":
        change = f"Not surveyed in {_e(now)}: no change to measure."
    elif row.get("wave_status") == "newly_silent":
        change = f"Newly silent: contacts answered in {_e(prev)}, nobody answered in {_e(now)}."
    else:
        silent = prev if row.get("responses_prev", 0) == 0 else now
        change = f"Undefined: nobody answered in {_e(silent)}, so no change can be judged real."
    return f'{title}{table}<p class="hx-change">NPS change: {change}</p>'


def xray_fragment(x: XRay, *, back_href: str | None = None, back_label: str = "Back to the heat map") -> str:
    """The X-Ray of one account as an HTML fragment (for a notebook cell or inside a page)."""
    a = x.account
    seg = x.segment
    meta = " · ".join(
        _e(v)
        for v in (
            a.get("account_manager") and f"Account manager {a['account_manager']}",
            a.get("tier"),
            a.get("region"),
            pd.notna(a.get("renewal_date"))
            and f"Renewal {pd.Timestamp(a['renewal_date']).date().isoformat()}",  # a day
        )
        if v
    )
    nps_text = (
        f"{_score(a.get('nps'))} <small>({_score(a.get('nps_low'))} to {_score(a.get('nps_high'))})</small>"
        if "nps" in a
        else "—"
    )
    kpis = "".join(
        [
            _kpi("Value", _money(a.get("value")), f"segment median {_money(seg.get('value_median'))}"),
            _kpi("NPS", nps_text, _e(_note(a)) + (" · " if _note(a) else "") + _dot(str(a.get("band")))),
            _kpi("Footprint", f"{a.get('contacts_invited', 0):,}", f"median {_score(seg.get('footprint_median'))}"),
            _kpi("Response rate", _pct(a.get("response_rate")), f"median {_pct(seg.get('response_rate_median'))}"),
        ]
    )
    back = f'<p><a href="{_e(back_href)}">← {_e(back_label)}</a></p>' if back_href else ""
    excluded = set(x.roles_excluded)
    role_rows = []
    for r in x.rows("roles"):
        if r["role"] in excluded:  # not silent: the report's filters leave the role out
            role_rows.append([_e(r["role_label"]), "excluded by this report's filters", *[""] * 7])
            continue
        role_rows.append(
            [
                _e(r["role_label"]),
                f"{int(r['contacts_invited']):,}",
                f"{int(r.get('contacts_responded', 0)):,}",
                f"{int(r['responses']):,}",
                f"{int(r['promoters']):,}",
                f"{int(r['passives']):,}",
                f"{int(r['detractors']):,}",
                _score(r["nps"]) if r["responses"] else "no response",
                _dot(r["band"]),
            ]
        )
    roles = (
        '<p class="hx-note">Contacts are people, answers are survey responses: in this report\'s scope one '
        "contact can answer several waves or questionnaires. NPS counts answers.</p>"
        + _table(
            ["Role", "Contacts invited", "Contacts who answered", "Answers", "Promoters", "Passives", "Detractors",
             "NPS", "Band"],
            role_rows,
            numeric=range(1, 8),
        )
    )  # fmt: skip
    has_email = "email" in x.columns("contacts")
    contact_rows = []
    for r in x.rows("contacts"):
        cat = r["category"]
        dot = f'<span class="hx-dot" style="background:{CATEGORY_COLORS.get(cat, "#9e9e9e")}"></span>'
        row = [_e(ROLE_LABELS.get(r["role"], r["role"])), _e(r.get("name")), _e(r.get("title"))]
        row += [_e(r.get("email"))] if has_email else []
        drivers = (
            "; ".join(d.strip() for d in str(r["drivers"]).split(";")) if isinstance(r.get("drivers"), str) else ""
        )
        row += [_score(r["score"]), dot + _e(cat), _e(drivers), _e(r.get("comment"))]
        contact_rows.append(row)
    headers = ["Role", "Name", "Title", *(["Email"] if has_email else []), "Latest score", "Category", "Drivers"]
    contacts = _table([*headers, "Comment"], contact_rows[:CONTACTS_SHOWN])
    if len(contact_rows) > CONTACTS_SHOWN:  # a long list folds; each contact stays there, without drivers and comment
        rest = _table(headers[:-1], [r[:-2] for r in contact_rows[CONTACTS_SHOWN:]])
        contacts += (
            f'<details class="hx-more"><summary>{len(contact_rows) - CONTACTS_SHOWN:,} more contacts (their comments '
            f"are under Comments, their drivers counted under Drivers)</summary>{rest}</details>"
        )
    recruit_parts = []
    silent: dict[Any, list[Any]] = {}  # by role, in the order the roles first appear
    for r in x.rows("to_recruit"):
        silent.setdefault(r["role"], []).append(r["name"])
    for role, group in silent.items():
        names = ", ".join(_e(n) for n in group)
        recruit_parts.append(f"<li><b>{_e(ROLE_LABELS.get(str(role), role))}</b> ({len(group)}): {names}</li>")
    for role in x.roles_missing:
        recruit_parts.append(f"<li><b>{_e(ROLE_LABELS[role])}</b>: no contact invited at all</li>")
    recruit = f"<ul>{''.join(recruit_parts)}</ul>" if recruit_parts else '<p class="hx-empty">Everyone answered.</p>'
    driver_records = x.rows("drivers")
    top = max([int(r["total"]) for r in driver_records] + [1])
    driver_rows = []
    for r in driver_records:
        bars = "".join(
            f'<span class="hx-bar" style="width:{120 * int(r[k]) / top:.0f}px;background:{CATEGORY_COLORS[c]}"></span>'
            for k, c in (("promoters", "promoter"), ("passives", "passive"), ("detractors", "detractor"))
        )
        driver_rows.append(
            [_e(r["driver"]), str(r["promoters"]), str(r["passives"]), str(r["detractors"]), str(r["total"]), bars]
        )
    drivers = _table(["Driver", "Promoters", "Passives", "Detractors", "Total", ""], driver_rows, numeric=range(1, 5))
    comments = _table(
        ["Score", "Category", "Role", "Name", "Wave", "Comment"],
        (
            [
                _score(r["score"]),
                _e(r["category"]),
                _e(ROLE_LABELS.get(r["role"], r["role"])),
                _e(r["name"]),
                _e(r["wave"]),
                _e(r["comment"]),
            ]
            for r in x.rows("comments")
        ),
    )
    trend_rows = x.rows("trend")
    trend = _table(
        ["Wave", "Footprint", "Response rate", "NPS", "Interval", "Band"],
        (
            [
                _e(r["wave"]) + ("" if r.get("complete", True) else " <small>(open)</small>"),
                str(r["contacts_invited"]),
                _pct(r["response_rate"]),
                _score(r["nps"]),
                f"{_score(r['nps_low'])} to {_score(r['nps_high'])}"
                + (f"<br><small>{_e(_note(r))}</small>" if _note(r) else ""),
                _dot(r["band"]),
            ]
            for r in trend_rows
        ),
        numeric=range(1, 4),
    )
    return (
        f'<div class="hx-xray">{back}<h1>{_e(a.get("account_name"))}</h1><div class="hx-meta">{meta}</div>'
        f'<div class="hx-kpis">{kpis}</div><div class="hx-reading">{_e(x.reading)}</div>'
        f"<h2>NPS by role</h2>{roles}<h2>Contacts</h2>{contacts}<h2>Non-responders to recruit</h2>{recruit}"
        f"<h2>Drivers</h2>{drivers}<h2>Comments, lowest score first</h2>{comments}"
        f"{comparison_html(x.comparison)}"
        f"<h2>Trend, wave over wave</h2>{_trend_svg(trend_rows)}{_trend_caption(trend_rows)}{trend}"
        f"{health_html(x.health)}{_renewal_section(x.renewal_steps())}"
        f"{_suggested_section(x.rows('suggested') if x.with_suggested else None)}"
        f"{plays_section(x.plays)}</div>"
    )


def suggested_html(suggested: pd.DataFrame | None) -> str:
    """The plays the suggestion rules propose for the account, and why (empty when not asked for)."""
    return _suggested_section(None if suggested is None else suggested.to_dict(orient="records"))


def _suggested_section(records: list[dict[Any, Any]] | None) -> str:
    """`suggested_html` from the suggestions' records."""
    if records is None:
        return ""
    if not records:
        return '<h2>Suggested plays</h2><p class="hx-empty">No rule flags this account.</p>'
    rows = [
        [_e(r["play_label"]), _e(r["why"] or r["rule"]), "already open" if r["open_already"] else "suggested"]
        for r in records
    ]
    return "<h2>Suggested plays</h2>" + _table(["Play", "Why", "Status"], rows)


def plays_section(
    plays: pd.DataFrame | None, *, as_of: Any = None, title: str = "Plays", empty: str | None = None
) -> str:
    """The account's plays, read-only: open ones first, overdue flagged, every value escaped ("" without a store)."""
    from heatmap_lib.data.plays import OPEN, as_of_date, play_label

    if plays is None:
        return ""
    today_ = as_of_date(as_of)
    if plays.empty:
        note = empty or "No play recorded for this account."
        return f'<h2>{html.escape(title)}</h2><p class="hx-empty">{html.escape(note)}</p>'
    df = plays.copy()
    df["_open"] = ~df["status"].isin(OPEN)
    df = df.sort_values(["_open", "due_date", "created_at"], kind="stable", na_position="last")
    rows = []
    for r in df.to_dict("records"):
        due = r["due_date"]
        overdue = r["status"] in OPEN and isinstance(due, dt.date) and due < today_
        status = html.escape(str(r["status"]).replace("_", " "))
        if overdue:
            status += f' <b style="color:#d62728">overdue {(today_ - due).days} d</b>'
        cells = [
            html.escape(play_label(str(r["play"]))),
            html.escape(str(r["owner"])),
            status,
            *(html.escape(str(r[c] or "")) for c in ("due_date", "created_at", "closed_at", "notes")),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("Play", "Owner", "Status", "Due", "Created", "Closed", "Notes"))
    n_open = int(plays["status"].isin(OPEN).sum())
    return (
        f"<h2>{html.escape(title)}</h2><p>{n_open:,} open of {len(plays):,}</p>"
        f'<table class="hx"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "—"
    return f"{value:,.{digits}f}"


def health_html(health: Mapping[str, Any] | None) -> str:
    """The account's usage health as a small table (empty when the dataset has no usage events)."""
    if not health:
        return ""
    change = health.get("active_users_change")
    trend = "" if change is None or (isinstance(change, float) and math.isnan(change)) else f" ({change:+,.0f})"
    rows = [
        ["Active users (window)", _num(health.get("active_users")) + _e(trend)],
        ["Events per active user", _num(health.get("events_per_active_user"), 1)],
        ["Seat utilisation", _pct(health.get("seat_utilisation")) or "—"],
        ["Features used", f"{_num(health.get('features_used'))} of {_num(health.get('features_total'))}"],
        ["Last activity", _e(health.get("last_event_at")) or "never"],
        ["Inactive", "yes" if health.get("inactive") else "no"],
    ]
    return "<h2>Usage health</h2>" + _table(["", ""], rows)


def renewal_html(steps: pd.DataFrame | None) -> str:
    """The renewal-risk drivers as a script-free waterfall: each signal's push up or down, largest first."""
    if steps is None or not len(steps):
        return ""
    return _renewal_section(
        ({str(c): steps[c].tolist() for c in steps.columns}, {str(k): v for k, v in steps.attrs.items()})
    )


def _renewal_section(steps: tuple[dict[str, list[Any]], dict[str, Any]] | None) -> str:
    """`renewal_html` from the steps as plain columns and attrs (`renewal.waterfall_columns`)."""
    if steps is None:
        return ""
    columns, attrs = steps
    names = list(columns)
    records = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    if not records:
        return ""
    signals = [r for r in records if r["step"] == "signal"]
    top = max([abs(float(r["contribution"])) for r in signals] + [1e-9])
    rows = []
    for r in signals:
        c = float(r["contribution"])
        colour = BAND_COLORS["red"] if c > 0 else BAND_COLORS["green"]
        bar = f'<span class="hx-bar" style="width:{120 * abs(c) / top:.0f}px;background:{colour}"></span>'
        rows.append([_e(r["label"]), _e(r.get("value_text")), _e(r.get("contribution_text")), bar])
    risk = attrs.get("score")
    head = f" (risk {risk:.0f} of 100)" if isinstance(risk, int | float) and not math.isnan(risk) else ""
    note = "<p class='hx-meta'>Red pushes the renewal risk up, green pulls it down (log-odds, largest first).</p>"
    return f"<h2>Renewal risk drivers{head}</h2>{note}" + _table(["Signal", "Value", "Push", ""], rows)


def xray_page(x: XRay, *, back_href: str | None = None, back_label: str = "Back to the heat map") -> str:
    """A whole standalone X-Ray page: no script, no external request."""
    title = f"X-Ray: {_e(x.account.get('account_name'))}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{PAGE_CSS}{CSS}</style></head><body>"
        f"{xray_fragment(x, back_href=back_href, back_label=back_label)}</body></html>\n"
    )


def write_xray_pages(
    xrays: Mapping[str, XRay],
    folder: str | Path,
    *,
    pattern: str = "{account_id}.html",
    back_href: str | None = None,
    back_label: str = "Back to the heat map",
) -> list[Path]:
    """Write one page per account into `folder` (names from `chart.xray_file_name(pattern, id)`), each atomically."""
    from heatmap_lib.core.progress import bar

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    pages = bar(len(xrays), "X-Ray pages", unit="page")
    # each page goes to a temporary name of this process and thread, then is renamed into place: a reader (or a
    # run resumed after a crash) never sees half a page; one open per page, no random names (pages are cheap)
    tmp = out / f".xray-{os.getpid()}-{threading.get_ident()}.tmp"
    for account_id, x in xrays.items():
        path = out / xray_file_name(pattern, account_id)
        tmp.unlink(missing_ok=True)  # left by a killed run of a process with this id
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.fchmod(fd, 0o644)  # whatever the umask: pages are served as files
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(xray_page(x, back_href=back_href, back_label=back_label))
        tmp.replace(path)
        written.append(path)
        pages.update()
    pages.close()
    return written


def show_xray(x: XRay, *, back_href: str | None = None) -> Any:
    """Display the X-Ray in a notebook (an IPython HTML object, styled, with no script)."""
    from IPython.display import HTML

    return HTML(f"<style>{CSS}</style>{xray_fragment(x, back_href=back_href)}")
