"""`Snapshot`: one segment's report as a static HTML fragment that works with no kernel.

Its pieces (header and headline cards, offline filters and downloads, the Bokeh chart as `components()`, the account
table the page script fills, movers, not-surveyed accounts, plays, the page script with its counts) each escape every
value they show. In IPython it displays as that fragment plus the headline figures (`HEADLINE_MIME`) for the batch
index.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from heatmap_lib.filters import FilterSet
from heatmap_lib.metrics.summary import BAND_LABELS, BANDS
from heatmap_lib.metrics.waves import describe_moves
from heatmap_lib.reports.snapshot._common import (
    CORE_ONLY,
    _components_lock,
    _e,
    _file_stem,
    _float,
    _money,
    _points,
    _score,
)
from heatmap_lib.reports.snapshot.figures import Headline
from heatmap_lib.views.offline import describe_filters

HEADLINE_MIME = "application/vnd.heatmap.headline+json"  # the figures a snapshot records for the batch index
MOVED = "moved"  # the wave-over-wave facet: "yes" when the band changed or the NPS change is real
MOVERS_SHOWN = 20  # per move, in the snapshot's movers list (the export has them all)
NOT_SURVEYED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_name", "Account"),
    ("value", "Value"),
    ("tier", "Tier"),
    ("account_manager", "Account manager"),
)


@dataclass(frozen=True)
class Snapshot:
    """One segment's report: header facts, headline figures, the Bokeh layout and the not-surveyed accounts.

    Displays in IPython as one static HTML fragment (which needs BokehJS on the page: the batch template puts it
    there) plus the headline figures as JSON for the batch index. `show_snapshot` is the notebook entry point.
    """

    title: str
    data_name: str
    filters: FilterSet
    segment_by: str | None
    segment: str | None
    exclusion_note: str | None
    warnings: tuple[str, ...]
    headline: Headline
    layout: Any  # a Bokeh layout: chart over table
    facets: Mapping[str, tuple[str, ...]]  # column -> values offered by the client-side filter controls
    not_surveyed: pd.DataFrame  # the display columns only
    uid: str = field(default_factory=lambda: secrets.token_hex(4))
    generated_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    waves: Mapping[str, str] | None = None  # {"wave", "compare_to"} when the report compares two waves
    move_counts: Mapping[str, int] | None = None  # accounts per move (waves.move_counts)
    movers: pd.DataFrame | None = None  # waves.movers, display columns
    compare_note: str | None = None  # why there is no comparison although the report covers one wave
    movers_total: int = 0  # accounts that moved (the list shows at most MOVERS_SHOWN per move)
    plays_html: str = ""  # open plays of the segment's accounts per account manager (read-only); "" without a store
    payload: Mapping[str, Any] | None = None  # the counts the page filters and recomputes from (offline.py)
    xlsx_base64: str = ""  # the segment's table as a formatted xlsx, for the page's Excel download
    index_href: str | None = None  # the run's index.html, linked from the header
    scope: FilterSet | None = None  # the report's whole scope (filters, segment, wave); None: `filters` + segment

    # -- HTML pieces (each escapes every value it shows) -----------------------------------------------------
    def header_html(self) -> str:
        """Title, the link back to the run, what the page is and how to read it, data, scope, time, notes."""
        parts = [f'<div class="hm-snapshot" id="hm-{self.uid}" data-hm-uid="{self.uid}">', STYLE, self._print_style()]
        if self.index_href:
            parts.append(f'<p class="hm-back"><a href="{_e(self.index_href)}">\u2190 All reports of this run</a></p>')
        parts.append(f"<h2>{_e(self.title)}</h2>")
        meta = [f"Data: <b>{_e(self.data_name)}</b>", f"Report scope: {_e(describe_filters(self._scope()))}"]
        meta.append(f"Generated {_e(self.generated_at)}")
        parts.append(f'<p class="hm-meta">{" &middot; ".join(meta)}</p>')
        parts.append(READER_GUIDE)
        if self.exclusion_note:
            parts.append(f'<p class="hm-note">{_e(self.exclusion_note)}</p>')
        if self.warnings:
            items = "".join(f"<li>{_e(w)}</li>" for w in self.warnings)
            parts.append(f'<div class="hm-warn">Filter warnings:<ul>{items}</ul></div>')
        h = self.headline
        cards = [
            ("Accounts", f"{h.accounts:,}"),
            ("Surveyed", f"{h.surveyed:,}"),
            ("Not surveyed", f"{h.not_surveyed:,}"),
            ("Response rate", f"{h.response_rate:.0%}"),
            ("NPS", _score(h.nps)),
        ]
        parts.append('<div class="hm-cards">')
        keys = ("accounts", "surveyed", "not_surveyed", "response_rate", "nps")
        parts += [
            f'<div class="hm-card"><span>{k}</span><b data-card="{key}">{v}</b></div>'
            for key, (k, v) in zip(keys, cards, strict=True)
        ]
        bands = "".join(
            f'<span class="hm-band hm-{b}" data-card="band-{b}">{_e(BAND_LABELS[b])} {h.bands.get(b, 0):,}</span>'
            for b in BANDS
        )
        parts.append(f'<div class="hm-card hm-bands"><span>Bands</span>{bands}</div></div>')
        parts.append(self._comparison_html())
        parts.append("</div>")
        return "".join(parts)

    def _comparison_html(self) -> str:
        if self.compare_note:
            return f'<p class="hm-meta">Wave over wave: {_e(self.compare_note)}</p>'
        if not self.waves or self.move_counts is None:
            return ""
        c = self.move_counts
        moves = describe_moves(c)
        return (
            f'<p class="hm-meta">Wave over wave: <b>{_e(self.waves["wave"])}</b> compared with '
            f"<b>{_e(self.waves['compare_to'])}</b>: {moves}; {c.get('new', 0):,} accounts new, "
            f"{c.get('dropped', 0):,} not surveyed again. A change is real when its 95% interval excludes zero; "
            "trails run from the footprint then to the footprint now."
            + (f" {_e(self.waves['open_note'])}" if self.waves.get("open_note") else "")
            + "</p>"
        )

    def _scope(self) -> FilterSet:
        """The report's whole scope: the spec's filters narrowed to the segment."""
        if self.scope is not None:
            return self.scope
        if self.segment_by and self.segment is not None and self.segment_by not in self.filters.criteria:
            return self.filters.replace(**{self.segment_by: [self.segment]})
        return self.filters

    def _print_style(self) -> str:
        """Page headers when printed: the report's title and the page number (CSS-escaped text)."""
        from heatmap_lib.views.offline import css_string

        head = css_string(f"{self.title} \u00b7 {self.data_name} \u00b7 generated {self.generated_at}")
        return (
            f"<style>@media print{{@page{{margin:16mm 12mm;@top-left{{content:{head};font:9pt sans-serif;"
            'color:#52606d}@top-right{content:"page " counter(page) " of " counter(pages);font:9pt sans-serif;'
            "color:#52606d}}}</style>"
        )

    def controls_html(self) -> str:
        """The offline filters (built by the page script from the counts), downloads and the words for them."""
        if not self.headline.surveyed or self.payload is None:
            return ""
        extra = ""
        if MOVED in self.facets and self.waves:
            from heatmap_lib.views.chart import TRAIL_COLORS, TRAIL_LABELS

            since = _e(self.waves["compare_to"])
            key = "".join(
                f'<span class="hm-key" style="background:{TRAIL_COLORS[d]}"></span>{_e(label.lower())}'
                for d, label in TRAIL_LABELS.items()
            )
            extra = (
                f'<label><input type="checkbox" class="hm-trails" checked> Trails since {since}:{key}</label>'
                f'<label><input type="checkbox" data-column="{MOVED}" value="1"> Only accounts that moved '
                "(band changed or real NPS change)</label>"
                '<span class="hm-trail-note hm-meta" hidden>Trails compare the report as sent: they are hidden while a '
                "role, questionnaire or wave is chosen.</span>"
            )
        n = self.headline.surveyed
        xlsx = (
            '<button type="button" class="hm-dl-xlsx">Excel table of the segment (xlsx)</button>'
            if self.xlsx_base64
            else ""
        )
        return (
            f'<div class="hm-controls hm-noprint" data-hm-uid="{self.uid}">'
            '<p class="hm-meta"><b>Filters.</b> Narrow the report: tick values in any list (several values in one '
            "list: any of them; several lists: all of them). Footprint, response rate, NPS and band are recomputed "
            "for the contacts and waves you choose. Tip: choose the roles Decision makers and Influencers to see "
            "the relationships that decide renewals.</p>"
            '<div class="hm-facets"></div>'
            '<label>Account name <input type="search" class="hm-search" placeholder="part of a name"></label>'
            f"{extra}"
            '<button type="button" class="hm-reset">Show all</button>'
            f'<span class="hm-count">{n:,} of {n:,} accounts shown</span>'
            '<p class="hm-now hm-meta">No filter set: the report as sent.</p>'
            '<div class="hm-downloads"><b>Download:</b> '
            '<button type="button" class="hm-dl-png">Chart image (PNG)</button>'
            '<button type="button" class="hm-dl-csv">Table as shown (CSV)</button>'
            f"{xlsx}"
            '<button type="button" class="hm-dl-print">Print or save as PDF</button></div>'
            "</div>"
        )

    def table_html(self) -> str:
        """The account table (filled and sorted by the page script) and how to sort it; empty when no data."""
        if not self.headline.surveyed or self.payload is None:
            return ""
        return (
            f'<div class="hm-snapshot hm-table-box" data-hm-uid="{self.uid}" {CORE_ONLY}>'
            '<h3>Accounts</h3><p class="hm-meta hm-noprint">Click a column header to sort by it: once ascending, '
            "twice descending, a third time to stop sorting by it. Click further headers to add them as second, "
            "third... sorts (their order is shown in the header). Accounts with no response come last either way. "
            "An account's name opens its X-Ray in a new tab.</p>"
            '<div class="hm-scroll hm-rows"><table class="hm-table hm-accounts"><thead><tr></tr></thead>'
            "<tbody></tbody></table></div></div>"
        )

    def script_html(self) -> str:
        """The page script with this snapshot's counts, words and Excel table (no customer text outside JSON)."""
        if not self.headline.surveyed or self.payload is None:
            return ""
        from heatmap_lib.views.offline import payload_blob, payload_json, script

        meta = {
            "title": self.title,
            "data": self.data_name,
            "segment": f"{self.segment_by} {self.segment}" if self.segment_by and self.segment is not None else "all",
            "filters": describe_filters(self._scope()),
            "generated": self.generated_at,
            "file": _file_stem(self.title),
        }
        xlsx = (
            f'<script type="text/plain" id="hm-xlsx-{self.uid}">{self.xlsx_base64}</script>' if self.xlsx_base64 else ""
        )
        return (
            f'<script type="text/plain" id="hm-data-{self.uid}">{payload_blob(self.payload)}</script>'
            f'<script type="application/json" id="hm-meta-{self.uid}">{payload_json(meta)}</script>{xlsx}'
            f"<script>{script('table_sort.js')}</script>"
            f"<script>{script('offline.js').replace('__UID__', self.uid)}</script>"
        )

    def bokeh_html(self) -> str:
        """The layout as Bokeh `components()`: a div and a script with this document's JSON (no BokehJS)."""
        return _components(self)

    def not_surveyed_html(self) -> str:
        """The accounts in scope with no invitation, most valuable first."""
        df = self.not_surveyed
        box = f'<div class="hm-snapshot hm-not-surveyed" data-hm-uid="{self.uid}">'
        if not len(df):
            return f"{box}<h3>Not surveyed</h3><p>Every account in scope was invited.</p></div>"
        cols = [(c, label) for c, label in NOT_SURVEYED_COLUMNS if c in df.columns]
        head = "".join(f"<th>{label}</th>" for _, label in cols)
        rows = []
        for rec in df.itertuples(index=False):
            cells = []
            for c, _ in cols:
                v = getattr(rec, c)
                cells.append(f'<td class="hm-num">{_money(v)}</td>' if c == "value" else f"<td>{_e(v)}</td>")
            rows.append(f"<tr>{''.join(cells)}</tr>")
        n = len(df)
        return (
            f"{box}<h3>Not surveyed: {n:,} account{'s' * (n != 1)} with no invitation in "
            f'scope</h3><div class="hm-scroll"><table class="hm-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div></div>"
        )

    def movers_html(self) -> str:
        """The movers since the compared wave; empty when the report compares no waves.

        Most urgent move first, most valuable account first within a move, at most `MOVERS_SHOWN` per move.
        """
        if self.movers is None or not self.waves:
            return ""
        df = self.movers
        since = _e(self.waves["compare_to"])
        title = f"<h3>Movers since {since}</h3>"
        if not len(df):
            return f'<div class="hm-snapshot">{title}<p>No account moved.</p></div>'
        heads = (
            "Moves",
            "Account",
            "Account manager",
            "Value",
            "Band",
            f"NPS {since} \u2192 now",
            "Change, 95% interval",
        )
        head = "".join(f"<th>{h}</th>" for h in heads)
        rows = []
        for r in df.to_dict(orient="records"):
            change = _float(r["nps_change"])
            low, high = _float(r["nps_change_low"]), _float(r["nps_change_high"])
            change_text = f"{_points(change)} ({_points(low)} to {_points(high)}) " if change is not None else ""
            nps_text = f"{_points(_float(r['nps_prev']))} \u2192 {_points(_float(r['nps']))}"
            rows.append(
                f"<tr><td>{_e(r['moves'])}<td>{_e(r['account_name'])}<td>{_e(r['account_manager'])}"
                f"<td>{_money(r['value'])}<td>{_e(r['band_transition'])}<td>{nps_text}<td>{change_text}"
                f"{_e(r['verdict'])}</tr>"
            )
        shown = (
            f'<p class="hm-meta">The {MOVERS_SHOWN} most valuable accounts of each move are listed here, '
            f"{len(df):,} of {self.movers_total:,}; the movers export has them all.</p>"
            if self.movers_total > len(df)
            else ""
        )
        return (
            f'<div class="hm-snapshot">{title}{shown}<div class="hm-scroll"><table class="hm-table hm-movers"><thead>'
            f"<tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></div>"
        )

    def html(self) -> str:
        """The whole static fragment: header, controls, chart, table, movers, not-surveyed list, plays, script."""
        return (
            self.header_html()
            + self.controls_html()
            + self.bokeh_html()
            + self.table_html()
            + self.movers_html()
            + self.not_surveyed_html()
            + self.plays_html
            + self.script_html()
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/html": self.html(),
            "text/plain": f"<Snapshot {self.title}: {self.headline.surveyed} surveyed accounts>",
            HEADLINE_MIME: self.headline.as_dict(),
        }


def _components(snap: Snapshot) -> str:
    cached = getattr(snap, "_components_html", None)
    if cached is None:
        from bokeh.embed import components

        with _components_lock:
            script, div = components(snap.layout)
        cached = f'<div class="hm-bokeh">{div}</div>{script}'
        object.__setattr__(snap, "_components_html", cached)
    return cached


STYLE = """<style>
.hm-snapshot{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;max-width:1200px}
.hm-snapshot h2{margin:.2em 0}.hm-meta{color:#52606d;margin:.2em 0 .6em}
.hm-note{background:#fff4e5;border-left:4px solid #f0a020;padding:.4em .6em}
.hm-warn{background:#fdecea;border-left:4px solid #d62728;padding:.4em .6em}
.hm-cards{display:flex;flex-wrap:wrap;gap:.6em;margin:.6em 0}
.hm-card{border:1px solid #d9e2ec;border-radius:6px;padding:.4em .8em;min-width:7em}
.hm-card span{display:block;color:#52606d;font-size:.85em}.hm-card b{font-size:1.4em}
.hm-bands .hm-band{display:inline-block;margin-right:.6em;font-weight:600}
.hm-green{color:#2ca02c}.hm-yellow{color:#b8860b}.hm-red{color:#d62728}.hm-gray{color:#757575}
.hm-controls{display:flex;flex-wrap:wrap;gap:.6em 1em;align-items:flex-start;margin:.6em 0;
font-family:system-ui,sans-serif}.hm-controls>p{flex-basis:100%;margin:0}.hm-count{color:#52606d}
.hm-facets{display:flex;flex-wrap:wrap;gap:.4em}.hm-facet{border:1px solid #d9e2ec;border-radius:4px;padding:.1em .5em}
.hm-facet summary{cursor:pointer;max-width:28em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.hm-options{display:flex;flex-direction:column;max-height:14em;overflow:auto;padding:.2em 0}
.hm-downloads{flex-basis:100%}.hm-downloads button{margin-right:.4em}
.hm-back{margin:0 0 .2em}.hm-guide{margin:.2em 0 .6em;max-width:70em}.hm-guide summary{cursor:pointer;font-weight:600}
.hm-scroll{max-height:24em;overflow:auto}.hm-rows{max-height:32em}
.hm-table{border-collapse:collapse;font-size:.9em}.hm-table th,.hm-table td{padding:.2em .8em;text-align:left;
border-bottom:1px solid #e4e7eb}.hm-table .hm-num{text-align:right}.hm-movers td:nth-child(4){text-align:right}
.hm-accounts th{cursor:pointer;user-select:none;white-space:nowrap;position:sticky;top:0;background:#fff}
.hm-mark{margin-left:.25em;font-size:.8em;color:#1f3b57}
.hm-dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.4em;vertical-align:-.05em}
.hm-accounts td{white-space:nowrap}.hm-bg-green{background:#2ca02c}.hm-bg-yellow{background:#f2c94c}
.hm-bg-red{background:#d62728}.hm-bg-gray{background:#9e9e9e}
.hm-key{display:inline-block;width:1.4em;height:3px;vertical-align:middle;margin:0 .2em 0 .5em}
@media print{.hm-noprint,.hm-back,.bk-toolbar,.bk-Toolbar{display:none!important}
.hm-scroll{max-height:none!important;overflow:visible!important}.hm-guide[open] summary{display:none}
.hm-table thead{display:table-header-group}.hm-table tr{break-inside:avoid}.hm-accounts th{position:static}
.hm-snapshot{max-width:none}.hm-bokeh{break-inside:avoid;zoom:.75}.hm-table{font-size:8pt}
.hm-accounts td{white-space:normal}.hm-table th,.hm-table td{padding:.1em .4em}}
</style>"""
# What the page is and how to read it, for a reader of the file (seed 000's help, in short). Fixed text.
READER_GUIDE = """<details class="hm-guide" open><summary>How to read this report</summary>
<p>Each bubble is an account of this report. <b>Across</b>: the account's value. <b>Up</b>: its footprint, the
contacts invited to the survey. <b>Bubble size</b>: the response rate. <b>Colour</b>: the account's NPS band: green
positive, yellow neutral, red negative, gray silent (nobody answered: a red flag, as silence is usually worse than
criticism). A small red or gray bubble at the upper right is <b>revenue at risk</b>: a valuable account with a thin,
unhappy or silent relationship. A large green or yellow bubble at the upper left is an <b>expansion</b> play. NPS is
shown with its 95% interval: with few answers it is uncertain, and the table says "small sample".</p>
<p>Use the filters below to narrow the report (every figure is recomputed in the page, no connection needed),
download the chart, the table or a PDF, and click an account to open its X-Ray in a new tab. Accounts in scope that
nobody was invited from are listed under the table as not surveyed: valuable blind spots.</p></details>"""
