"""Shared snapshots (DESIGN.md section 8): what one segment's report shows, built to work with no kernel.

`snapshot()` computes a segment's summary and builds its view: a header (link back to the run, what the page is,
data, scope in plain words, exclusions, warnings), headline figures, the bubble chart (`chart.py`), the offline
filters, downloads and account table, and the not-surveyed list. `show_snapshot()` is what a notebook cell calls:
in a batch run it emits one static HTML output (Bokeh `components()`: a div and the document's JSON, no BokehJS)
that `notebook_to_html` turns into an offline page carrying BokehJS core once in its head; in a live JupyterLab
kernel it loads BokehJS inline and shows the layout through Bokeh's notebook support.

What reaches a page is this segment's data only: no other segment's accounts, not even in an undrawn data source,
and no contact data at all (emails never; in the offline counts a contact is a row number, see `offline.py`).
Customer text is escaped everywhere: `html.escape` in the HTML built here, Bokeh's escaped `@field` tooltips in the
chart, and `textContent` in everything the page script builds (filters, table, not-surveyed list).

The filters, the table (seed 000's sort), the downloads and the recomputed figures are plain HTML and one page
script (`templates/js/offline.js`) over compact counts, not Bokeh widgets: Bokeh's widgets (382 KB) and tables
(300 KB) bundles would push a 1,000-account report past its 2 MB budget.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
import secrets
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from heatmap_lib.core.exceptions import FilterError, FilterWarning, HeatmapError
from heatmap_lib.core.paths import TEMPLATES
from heatmap_lib.data.prepared import open_data
from heatmap_lib.filters import FilterSet, coerce, scope
from heatmap_lib.metrics.summary import BAND_LABELS, BANDS, account_summary, heatmap_tables, scope_counts
from heatmap_lib.metrics.waves import describe_moves
from heatmap_lib.views.offline import describe_filters

if TYPE_CHECKING:
    from bokeh.resources import Component

__all__ = [
    "BOKEHJS_COMPONENTS",
    "HEADLINE_MIME",
    "TEMPLATES",
    "Headline",
    "Snapshot",
    "bokehjs_inline",
    "headline",
    "notebook_to_html",
    "render_index",
    "report_filters",
    "segment_filters",
    "segment_headline",
    "show_snapshot",
    "snapshot",
]

HEADLINE_MIME = "application/vnd.heatmap.headline+json"  # the figures a snapshot records for the batch index
BOKEHJS_COMPONENTS: tuple[Component, ...] = ("bokeh", "bokeh-tables")  # DataTable needs bokeh-tables (pages with one)
SNAPSHOT_TEMPLATE = "heatmap_snapshot"  # nbconvert template folder under TEMPLATES
# The summary columns sent to the browser: what the chart, the table and the client-side filters use.
VIEW_COLUMNS: tuple[str, ...] = (
    "account_id",
    "account_name",
    "account_manager",
    "tier",
    "value",
    "contacts_invited",
    "invitations",
    "responses",
    "response_rate",
    "nps",
    "nps_low",
    "nps_high",
    "band",
    "small_sample",
)
FACETS: tuple[tuple[str, str], ...] = (("tier", "Tier"), ("account_manager", "Account manager"), ("band", "Band"))
MOVED = "moved"  # the wave-over-wave facet: "yes" when the band changed or the NPS change is real
MOVERS_SHOWN = 20  # per move, in the snapshot's movers list (the export has them all)
NOT_SURVEYED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_name", "Account"),
    ("value", "Value"),
    ("tier", "Tier"),
    ("account_manager", "Account manager"),
)


# --------------------------------------------------------------------------------------------------------------
# figures


def segment_filters(
    filters: FilterSet | Mapping[str, Any] | str | Path | None, segment_by: str | None, segment: Any
) -> FilterSet:
    """The filter set narrowed to one segment (`{segment_by: [segment]}`); no segment: the filter set as is.

    When the filter set already restricts `segment_by`, the segment must be one of its values (the scope is the
    intersection, never wider than the filter set).
    """
    fs = coerce(filters)
    if segment_by is None or segment is None:
        return fs
    value = str(segment).strip()
    allowed = fs.criteria.get(segment_by)
    if allowed and value not in allowed:
        raise FilterError(f"segment {value!r} is outside the filter set's {segment_by}: {', '.join(allowed)}")
    return fs.replace(**{segment_by: [value]})


@dataclass(frozen=True)
class Headline:
    """A segment's headline figures: accounts in scope, surveyed, response rate, NPS and its interval, bands."""

    accounts: int
    surveyed: int
    not_surveyed: int
    invitations: int
    responses: int
    response_rate: float
    nps: float | None
    nps_low: float | None
    nps_high: float | None
    bands: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able figures (no NaN: a missing NPS is None)."""
        return {
            "accounts": self.accounts,
            "surveyed": self.surveyed,
            "not_surveyed": self.not_surveyed,
            "invitations": self.invitations,
            "responses": self.responses,
            "response_rate": self.response_rate,
            "nps": self.nps,
            "nps_low": self.nps_low,
            "nps_high": self.nps_high,
            "bands": dict(self.bands),
        }


def _float(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def headline(summary: pd.DataFrame, counts: Mapping[str, int]) -> Headline:
    """Headline figures from an account summary and `metrics.scope_counts` of the same scope."""
    from heatmap_lib.metrics.summary import nps, nps_interval

    promoters = int(summary["promoters"].sum()) if len(summary) else 0
    passives = int(summary["passives"].sum()) if len(summary) else 0
    detractors = int(summary["detractors"].sum()) if len(summary) else 0
    responses = int(counts.get("responses", promoters + passives + detractors))
    invitations = int(counts.get("invitations", 0))
    interval = nps_interval(promoters, passives, detractors)
    bands = summary["band"].value_counts() if len(summary) else pd.Series(dtype="int64")
    return Headline(
        accounts=int(counts.get("accounts", len(summary))),
        surveyed=len(summary),
        not_surveyed=int(counts.get("accounts", len(summary))) - len(summary),
        invitations=invitations,
        responses=responses,
        response_rate=responses / invitations if invitations else 0.0,
        nps=_float(nps(promoters, detractors, promoters + passives + detractors)),
        nps_low=interval[0] if interval else None,
        nps_high=interval[1] if interval else None,
        bands={b: int(bands.get(b, 0)) for b in BANDS},
    )


def segment_headline(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    red_below: float | None = None,
    green_above: float | None = None,
) -> Headline:
    """A segment's headline figures alone (no view): what the batch index shows when a notebook recorded none."""
    fs = segment_filters(filters, segment_by, segment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FilterWarning)
        sc = scope(dataset, fs)
        summary = account_summary(dataset, scoped=sc, red_below=red_below, green_above=green_above)
        counts = scope_counts(dataset, scoped=sc)
    return headline(summary, counts)


# --------------------------------------------------------------------------------------------------------------
# the snapshot


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _money(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):,.0f}"


def _points(x: float | None) -> str:
    """Whole NPS points with a sign ("+45", "\u221270", "0"); "n/a" when undefined."""
    return "n/a" if x is None else (f"{x:+.0f}".replace("-", "\u2212") if round(x) != 0 else "0")


def _score(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1f}".replace("-", "\u2212")


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


_components_lock = threading.Lock()


def _components(snap: Snapshot) -> str:
    cached = getattr(snap, "_components_html", None)
    if cached is None:
        from bokeh.embed import components

        with _components_lock:
            script, div = components(snap.layout)
        cached = f'<div class="hm-bokeh">{div}</div>{script}'
        object.__setattr__(snap, "_components_html", cached)
    return cached


def _view_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary cut to the columns the views use (nothing else is sent to the browser)."""
    view = summary[[c for c in VIEW_COLUMNS if c in summary.columns]].copy()
    view.attrs = dict(summary.attrs)
    return view


def _build_layout(
    view: pd.DataFrame,
    *,
    log_x: bool,
    title: str,
    uid: str,
    xray_href: str | None = None,
    movement: pd.DataFrame | None = None,
    health: pd.DataFrame | None = None,
    plays_hover: pd.Series | None = None,
    currency: str | None = None,
) -> Any:
    """The chart, its bubbles filtered by an IndexFilter the page script rewrites; models named by `uid`.

    The account table is plain HTML built by the page script (offline.js), not a Bokeh DataTable: it prints every
    row, sorts by seed 000's rule and needs no `bokeh-tables` bundle. With `movement` (a `waves.compare_waves`
    frame) the chart draws trails, named `hm-trail-<uid>-<k>` for the trail toggle, and its source carries the
    `moved` facet. With `health` (`health.health_summary`) the hover shows each account's usage health
    (`chart.usage_hover`), as the live dashboard's does; with `plays_hover` (`plays.play_hover_text`) its open plays.
    The quadrant labels sit above the plot area, so they never cover a bubble; a bubble opens its X-Ray in a new tab.
    """
    from bokeh.layouts import column
    from bokeh.models import CDSView, CustomJS, IndexFilter, SaveTool, TapTool
    from bokeh.models.annotations import Title

    from heatmap_lib.views.chart import TOP_SELECTED_JS, bubble_chart, hover_lines, usage_hover

    # the trails' colour key is in the page's controls (plain HTML), not a Bokeh legend: smaller page
    chart = bubble_chart(
        view,
        log_x=log_x,
        title=title,
        xray_href=xray_href,
        movement=movement,
        trail_legend=False,
        currency=currency,
        extra_hover=hover_lines(usage_hover(health), None if plays_hover is None else {"Open plays": plays_hover}),
    )
    fig = chart.figure
    fig.name = f"hm-figure-{uid}"
    for k, trail in enumerate(chart.trails):
        trail.name = f"hm-trail-{uid}-{k}"
    chart.value_guide.name = f"hm-guide-value-{uid}"
    chart.footprint_guide.name = f"hm-guide-footprint-{uid}"
    chart.empty_label.name = f"hm-empty-{uid}"
    # The quadrant labels go in rows above the plot area (Bokeh titles), where no bubble can be.
    for label in (chart.risk_label, chart.expansion_label):
        fig.renderers = [r for r in fig.renderers if r is not label]
        fig.center = [r for r in fig.center if r is not label]
    style: dict[str, Any] = {"text_font_size": "10pt", "text_font_style": "italic", "text_color": "#555555"}
    fig.add_layout(Title(text="Upper right, red or gray: revenue at risk \u2197", align="right", **style), "above")
    fig.add_layout(Title(text="\u2196 Upper left, green or yellow: expansion", align="left", **style), "above")
    for tool in fig.select({"type": SaveTool}):
        tool.filename = _file_stem(title)
    if xray_href is not None:
        for tap in fig.select({"type": TapTool}):
            tap.callback = CustomJS(
                args={"source": chart.source},
                code=f"const i = {TOP_SELECTED_JS};"  # of the bubbles under the click, the one drawn on top
                "if (i != null && source.data.xray_href) {"
                " window.open(source.data.xray_href[i], '_blank', 'noopener'); }",
            )
    _hover_in_browser(chart, view, health)
    chart.size_key.name = f"hm-size-key-{uid}"
    layout = column(fig, chart.size_key)
    src = chart.source
    src.name = f"hm-source-{uid}-0"
    # each bubble's account as its row in the page's counts (offline.py lists the summary's accounts first, in order)
    rows = {a: i for i, a in enumerate(view["account_id"].astype(str))}
    src.data["hm_row"] = np.array([rows[str(a)] for a in src.data["account_id"]], dtype=np.int32)
    filt = IndexFilter(name=f"hm-filter-{uid}-0")
    for model in [*chart.renderers, *chart.trails]:  # the filters narrow the bubbles and their trails alike
        view_model = model.view if model.view is not None else CDSView()
        current: Any = view_model.filter
        is_all = current is None or type(current).__name__ == "AllIndices"
        view_model.filter = filt if is_all else current & filt
        model.view = view_model
    # only what a glyph, tooltip, filter or script reads goes to the page (and the facet the page script reads)
    used = _fields_used(layout, src) | {MOVED} | set(OFFLINE_FIELDS)
    src.data = {k: v for k, v in src.data.items() if k in used}
    return layout


OFFLINE_FIELDS = ("hm_row", "x")  # chart columns the page script reads besides those the chart draws


# Hover lines formatted in the browser from small numeric columns (see `_hover_in_browser`). Only numbers and
# fixed labels reach the text, no customer text. A silent account's hover_nps is SILENT_NPS, not NaN: Bokeh writes
# "NaN" for a NaN field without calling its formatter.
SILENT_NPS = 1000.0
NPS_HOVER_JS = """
const d = source.data, i = special_vars.index, x = d.hover_nps[i];
if (x !== x || x > 100) return "no response";
function s(v) { return v < 0 ? "\\u2212" + (-v) : String(v === 0 ? 0 : v); }
const k = d.hover_small[i];  // the answers behind a small sample (0: not one), its note from metrics
return s(x) + " (" + s(d.hover_nps_low[i]) + " to " + s(d.hover_nps_high[i]) + ")"
  + (k > 0 ? ", " + (notes[k] || notes[0]) : "");
"""
RATE_HOVER_JS = """
const d = source.data, i = special_vars.index;
return d.hover_rate[i] + "% (" + d.hover_responses[i].toLocaleString("en-US") + " of "
  + d.hover_invitations[i].toLocaleString("en-US") + ")";
"""
# The usage health lines (`chart.usage_hover`), from whole numbers: active users now and in the window before,
# seats (-1: unknown) and days since the last event (-1: never); hover_au -1: the account has no health row.
# Percentages rounded half up, as chart.usage_hover rounds them (Math.floor(x + 0.5) on the same double).
USAGE_HOVER_JS = """
const d = source.data, i = special_vars.index, au = d.hover_au[i], prev = d.hover_au_prev[i], seats = d.hover_seats[i];
if (au < 0) return "";
function n(x) { return x.toLocaleString("en-US"); }
let t = seats > 0 ? n(au) + " of " + n(seats) + " seats active (" + Math.floor(au * 100 / seats + 0.5) + "%)"
  : n(au) + " active user" + (au === 1 ? "" : "s");
if (prev > 0) {
  const c = Math.floor((au - prev) * 100 / prev + 0.5);
  t += c > 0 ? ", up " + c + "%" : c < 0 ? ", down " + (-c) + "%" : ", no change";
  t += " on the previous __WINDOW__ days";
}
return t;
"""
LAST_ACTIVE_JS = """
const d = source.data, i = special_vars.index, days = d.hover_days[i];
if (d.hover_au[i] < 0) return "";
if (days < 0) return "never";
const t = days === 0 ? "today" : days === 1 ? "yesterday" : days.toLocaleString("en-US") + " days ago";
return days >= __INACTIVE__ ? t + " (inactive)" : t;
"""


def _compact_ints(values: np.ndarray) -> np.ndarray:
    """Whole numbers as the smallest of int16 and int32 that holds them (sent to the browser in binary)."""
    small = not len(values) or (values.min() >= -(2**15) and values.max() < 2**15)
    return values.astype(np.int16 if small else np.int32)


def _usage_health(dataset: Any, sc: Any) -> pd.DataFrame | None:
    """The usage health of the scope's accounts for the hover (None without usage events).

    Only the account filters apply: usage is no survey's (DESIGN.md section 6; health.py). The window is
    `health_summary`'s default, the 28 days up to the dataset's latest event, the same for every segment of a run.
    """
    if not dataset.has("usage_events"):
        return None
    from heatmap_lib.metrics.health import health_summary

    account_keys = {k: list(v) for k, v in sc.filters.criteria.items() if k in dataset.account_columns}
    try:
        return health_summary(dataset, FilterSet.from_dict(account_keys))
    except HeatmapError:
        return None


def _hover_in_browser(chart: Any, view: pd.DataFrame, health: pd.DataFrame | None = None) -> None:
    """Format the hover's band, NPS and response-rate lines in the browser, from small numeric columns.

    Instead of a preformatted text per account (`band_label`, `nps_text`, `rate_text`: about 70 KB of a
    1,000-account page) the page carries the rounded figures as compact binary arrays and four fixed band labels;
    the text shown is the same as the live chart's. This is what keeps a 1,000-account report with the
    wave-over-wave layer under its 2 MB budget. The usage health lines (`health`, as `chart.usage_hover` formats
    it) are sent the same way: four small whole numbers per account instead of about 80 characters of text.
    """
    from bokeh.models import CustomJSHover, HoverTool

    from heatmap_lib.metrics.summary import small_sample_note
    from heatmap_lib.views.chart import band_legend_labels, usage_hover

    src = chart.source
    ids = [str(a) for a in src.data["account_id"]]
    rows = view.assign(account_id=view["account_id"].astype(str)).set_index("account_id").reindex(ids)

    def whole(values: pd.Series) -> np.ndarray:  # rounded as the live chart's text is (Python's format)
        return np.array([float(f"{v:.0f}") if v == v else np.nan for v in values.astype(float)], dtype=np.float32)

    labels = json.dumps(band_legend_labels(view.attrs.get("thresholds")))
    formatters: dict[str, Any] = {"@band": CustomJSHover(code=f"const l = {labels}; return l[value] || String(value);")}
    swaps = {("Band", "@band_label"): ("Band", "@band{custom}")}
    if {"nps", "nps_low", "nps_high"} <= set(rows.columns):
        src.data["hover_nps"] = np.nan_to_num(whole(rows["nps"]), nan=SILENT_NPS)
        src.data["hover_nps_low"] = whole(rows["nps_low"])
        src.data["hover_nps_high"] = whole(rows["nps_high"])
        small = rows["small_sample"] if "small_sample" in rows else pd.Series(False, index=rows.index)
        flagged = small.fillna(False).astype(bool).to_numpy()
        known = "responses" in rows  # else every flagged row says "small sample" (notes[1]), without a count
        answers = rows["responses"].fillna(0).to_numpy(dtype=np.int64) if known else np.ones(len(rows), np.int64)
        src.data["hover_small"] = _compact_ints(np.where(flagged, np.maximum(answers, 1), 0))
        most = int(src.data["hover_small"].max(initial=0))
        notes = ["small sample"] + [
            small_sample_note(k, flagged=True) if known else "small sample" for k in range(1, most + 1)
        ]
        swaps[("NPS", "@nps_text")] = ("NPS", "@hover_nps{custom}")
        formatters["@hover_nps"] = CustomJSHover(args={"source": src, "notes": notes}, code=NPS_HOVER_JS)
    if {"responses", "invitations", "response_rate"} <= set(rows.columns):
        src.data["hover_rate"] = np.array([int(f"{r:.0%}"[:-1]) for r in rows["response_rate"]], dtype=np.int16)
        src.data["hover_responses"] = rows["responses"].to_numpy(dtype=np.int32)
        src.data["hover_invitations"] = rows["invitations"].to_numpy(dtype=np.int32)
        swaps[("Response rate", "@rate_text")] = ("Response rate", "@hover_rate{custom}")
        formatters["@hover_rate"] = CustomJSHover(args={"source": src}, code=RATE_HOVER_JS)
    lines = chart.extra_hover
    usage = usage_hover(health)
    if health is not None and usage is not None and lines is not None and set(usage.columns) <= set(lines.columns):
        from heatmap_lib.views.chart import HOVER_LINE, usage_figures

        figures = usage_figures(health)
        at = pd.Index(health["account_id"].astype(str).to_numpy(dtype=object), dtype=object).get_indexer(ids)
        for name, column in (("au", "active_users"), ("au_prev", "active_users_prev"), ("seats", "seats")):
            src.data[f"hover_{name}"] = _compact_ints(np.where(at >= 0, figures[column][at], -1))
        src.data["hover_days"] = _compact_ints(np.where(at >= 0, figures["days"][at], -1))
        window = str(int(health.attrs.get("window_days", 28)))
        inactive = str(int(health.attrs.get("inactive_days", 30)))
        usage_label, last_label = usage.columns
        j_usage, j_last = (list(lines.columns).index(label) for label in (usage_label, last_label))
        swaps[(usage_label, f"@{HOVER_LINE}{j_usage}")] = (usage_label, "@hover_au{custom}")
        swaps[(last_label, f"@{HOVER_LINE}{j_last}")] = (last_label, "@hover_days{custom}")
        code = USAGE_HOVER_JS.replace("__WINDOW__", window)
        formatters["@hover_au"] = CustomJSHover(args={"source": src}, code=code)
        code = LAST_ACTIVE_JS.replace("__INACTIVE__", inactive)
        formatters["@hover_days"] = CustomJSHover(args={"source": src}, code=code)
    for tool in chart.figure.select({"type": HoverTool}):
        if not isinstance(tool.tooltips, list):
            continue
        tool.tooltips = [swaps.get(tuple(t), tuple(t)) for t in tool.tooltips]
        tool.formatters = {**tool.formatters, **formatters}


def _fields_used(layout: Any, source: Any) -> set[str]:
    """The columns of `source` a layout reads: glyph fields, view filters, tooltips, table columns, templates.

    Scripts (CustomJS) are searched for every identifier, conservatively.
    """
    import re

    from bokeh.core.property.vectorization import Field
    from bokeh.models import CustomJS, CustomJSFilter, CustomJSHover, GroupFilter, HoverTool
    from bokeh.models.renderers import GlyphRenderer
    from bokeh.models.widgets.tables import DataTable, HTMLTemplateFormatter

    def fields(model: Any) -> set[str]:
        found: set[str] = set()
        for m in model.references():
            for value in m.properties_with_values(include_defaults=True).values():
                if isinstance(value, Field):
                    found.add(value.field)
            if isinstance(m, GroupFilter):
                found.add(m.column_name)
            elif isinstance(m, HTMLTemplateFormatter):  # every identifier in the template's code, conservatively
                found |= set(re.findall(r"[A-Za-z_]\w*", " ".join(re.findall(r"<%(.*?)%>", m.template, re.S))))
        return found

    used: set[str] = set()
    renderers = [r for r in layout.select({"type": GlyphRenderer}) if r.data_source is source]
    for r in renderers:
        used |= fields(r)
    for tool in layout.select({"type": HoverTool}):
        targets = tool.renderers if isinstance(tool.renderers, list) else renderers
        if any(t in renderers for t in targets):
            used |= set(re.findall(r"@\{?([A-Za-z_]\w*)", str(tool.tooltips)))
    for table in layout.select({"type": DataTable}):
        if table.source is source:
            used |= fields(table) | {c.field for c in table.columns}
    for kind in (CustomJS, CustomJSHover, CustomJSFilter):
        for script in layout.select({"type": kind}):
            used |= set(re.findall(r"[A-Za-z_]\w*", script.code))
    return used


def snapshot(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    log_x: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    title: str | None = None,
    xray_href: str | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    plays: Any = None,
    index_href: str | None = None,
    currency: str | None = None,
) -> Snapshot:
    """Compute one segment's report: `dataset` (a Dataset or a dataset path), the filter set plus the segment.

    `segment_by` is an accounts column or `wave`; with no segment the snapshot covers the whole filter set.
    Wave over wave: `wave` narrows the report to that wave; whenever the report covers exactly one wave (by
    `wave`, the filter set or a wave segment) it is compared with `compare_to` (default: the wave sent before
    it): trails on the chart, a movers list, and two client-side toggles (trails, movers only).
    `plays` (a workspace folder, `PlayStore` or plays frame) adds each account's open plays to the hover and a
    read-only list of the segment's open plays per account manager; the store is only read, never created.
    `index_href` links the header back to the run's index page. `currency` ("USD") names the account values'
    currency on the chart's value axis and in its hover.
    """
    from heatmap_lib.views.offline import offline_payload

    ds = open_data(dataset)
    fs = report_filters(filters, segment_by, segment, wave)
    if compare_to is not None and str(compare_to).strip() not in ds.distinct_values("invitation_facts", "wave"):
        raise FilterError(f"compare_to: wave {str(compare_to).strip()!r} does not occur in the data")
    with warnings.catch_warnings():  # shown in the header, not as stderr in the report
        warnings.simplefilter("ignore", FilterWarning)
        sc = scope(ds, fs)
        summary, missing = heatmap_tables(ds, scoped=sc, red_below=red_below, green_above=green_above)
        counts = scope_counts(ds, scoped=sc)
        movement, note = _movement(ds, sc, compare_to, red_below=red_below, green_above=green_above)
        health = _usage_health(ds, sc) if len(summary) else None
        payload = offline_payload(ds, sc, summary, missing, thresholds=summary.attrs["thresholds"], xray_href=xray_href)
    seg_text = None if segment is None else str(segment).strip()
    if title is None:
        title = "Customer heat map" + (f": {segment_by} {seg_text}" if segment_by and seg_text is not None else "")
        if wave is not None and segment_by != "wave":
            title += f", wave {str(wave).strip()}"
    view = _view_frame(summary)
    uid = secrets.token_hex(4)
    plays_hover, plays_section = _segment_plays(ds, plays, summary, missing)
    layout = _build_layout(
        view,
        log_x=log_x,
        title=title,
        uid=uid,
        xray_href=xray_href,
        movement=movement,
        health=health,
        plays_hover=plays_hover,
        currency=currency,
    )
    facets = {}
    for column, _ in FACETS:
        if column == "band":
            present = set(view["band"]) if "band" in view else set()
            facets[column] = tuple(b for b in BANDS if b in present)
        elif column in view.columns:
            facets[column] = tuple(sorted({str(v) for v in view[column].dropna()}, key=str.casefold))
    facets = {k: v for k, v in facets.items() if v}
    waves_info = move_info = movers_table = None
    movers_total = 0
    if movement is not None:
        from heatmap_lib.metrics.waves import move_counts, movers

        facets[MOVED] = ("1", "0")
        waves_info = dict(movement.attrs["waves"])
        if movement.attrs.get("open_waves_note"):  # a wave still collecting answers: said beside the moves
            waves_info["open_note"] = str(movement.attrs["open_waves_note"])
        move_info = move_counts(movement)
        every_mover = movers(movement)
        movers_total = len(every_mover)
        movers_table = every_mover.groupby("move", sort=False).head(MOVERS_SHOWN).reset_index(drop=True)
    shown = [c for c, _ in NOT_SURVEYED_COLUMNS if c in missing.columns]
    return Snapshot(
        title=title,
        data_name=Path(str(ds.path)).name,
        filters=coerce(filters),
        segment_by=segment_by,
        segment=seg_text,
        exclusion_note=ds.exclusion_note(),
        warnings=tuple(sc.warnings),
        headline=headline(summary, counts),
        layout=layout,
        facets=facets,
        not_surveyed=missing[shown].reset_index(drop=True),
        uid=uid,
        waves=waves_info,
        move_counts=move_info,
        movers=movers_table,
        compare_note=note,
        movers_total=movers_total,
        plays_html=plays_section,
        payload=payload,
        xlsx_base64=_segment_xlsx(ds, summary) if len(summary) else "",
        index_href=index_href,
        scope=fs,
    )


XLSX_COLUMNS = (
    "account_name",
    "account_manager",
    "value",
    "contacts_invited",
    "invitations",
    "responses",
    "response_rate",
    "promoters",
    "passives",
    "detractors",
    "nps",
    "nps_low",
    "nps_high",
    "band",
)


def _segment_xlsx(dataset: Any, summary: pd.DataFrame) -> str:
    """The segment's account table as a formatted xlsx (`export.write_table`), base64, for the page's download."""
    import base64
    import tempfile

    from heatmap_lib.views.export import about, write_table

    frame = summary[[c for c in XLSX_COLUMNS if c in summary.columns]]
    frame.attrs = dict(summary.attrs)
    with tempfile.TemporaryDirectory(prefix="hm-xlsx-") as tmp:
        path = write_table(frame, Path(tmp) / "accounts.xlsx", about(dataset, frame), headers="words")
        return base64.b64encode(path.read_bytes()).decode("ascii")


def _file_stem(title: str) -> str:
    """A download's file name (no suffix) from a report title: letters, digits and dashes only."""
    import re

    stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:80]
    return stem or "customer-heat-map"


def _segment_plays(
    dataset: Any, plays: Any, summary: pd.DataFrame, missing: pd.DataFrame
) -> tuple[pd.Series | None, str]:
    """The open-plays hover line per account and the open plays list, for the segment's accounts only."""
    if plays is None:
        return None, ""
    from heatmap_lib.data.plays import play_hover_text, read_plays
    from heatmap_lib.views.plays_view import open_plays_html

    ids = [*summary["account_id"].astype(str), *missing["account_id"].astype(str)]
    frame = (
        plays[plays["account_id"].astype(str).isin(ids)]
        if isinstance(plays, pd.DataFrame)
        else read_plays(plays, ids, dataset=dataset)
    )
    accounts = pd.concat(
        [
            summary[[c for c in ("account_id", "account_name", "account_manager") if c in summary]],
            missing[[c for c in ("account_id", "account_name", "account_manager") if c in missing]],
        ],
        ignore_index=True,
    )
    return play_hover_text(frame), open_plays_html(frame, accounts)


def report_filters(
    filters: FilterSet | Mapping[str, Any] | str | Path | None,
    segment_by: str | None,
    segment: Any,
    wave: str | None = None,
) -> FilterSet:
    """The filter set of one segment's report, narrowed to `wave` when one is given (see `segment_filters`)."""
    fs = segment_filters(filters, segment_by, segment)
    if wave is None:
        return fs
    value = str(wave).strip()
    allowed = fs.criteria.get("wave")
    if allowed and value not in allowed:
        raise FilterError(f"wave {value!r} is outside the report's waves: {', '.join(allowed)}")
    return fs.replace(wave=[value])


def _movement(
    dataset: Any, sc: Any, compare_to: str | None, *, red_below: float | None, green_above: float | None
) -> tuple[pd.DataFrame | None, str | None]:
    """The wave-over-wave comparison of a scope covering exactly one wave, or (None, why not) / (None, None)."""
    from heatmap_lib.metrics.waves import compare_waves, open_waves_note

    named = sc.filters.criteria.get("wave", ())
    if len(named) != 1:
        return None, None
    try:
        cmp = compare_waves(dataset, named[0], compare_to, scoped=sc, red_below=red_below, green_above=green_above)
        cmp.attrs["open_waves_note"] = open_waves_note(dataset, list(cmp.attrs["waves"].values()))
        return cmp, None
    except HeatmapError as exc:
        return None, str(exc)


_live_bokehjs_loaded = False


def show_snapshot(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    log_x: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    title: str | None = None,
    embed_bokehjs: bool = True,
    xray_href: str | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    plays: Any = None,
    currency: str | None = None,
) -> None:
    """Display a segment's snapshot in the notebook (returns None, so a cell ending with it shows it once).

    `embed_bokehjs=False` (batch runs): one static HTML output with no BokehJS; the page template adds the slim
    bundle once. `embed_bokehjs=True` (a live kernel): BokehJS is loaded inline once per kernel and the layout is
    shown through Bokeh's notebook support, so it renders offline in JupyterLab too.
    """
    from IPython.display import HTML, display

    snap = snapshot(
        dataset,
        filters,
        segment_by=segment_by,
        segment=segment,
        log_x=log_x,
        red_below=red_below,
        green_above=green_above,
        title=title,
        xray_href=xray_href,
        wave=wave,
        compare_to=compare_to,
        plays=plays,
        index_href=None if embed_bokehjs else "index.html",  # a batch report sits beside its run's index
        currency=currency,
    )
    if not embed_bokehjs:
        display(snap)
        return
    from bokeh.io import show

    # inline (offline-safe, DESIGN 11) but not the whole INLINE set: the notebook stores this output twice
    _load_live_bokehjs()
    display(HTML(snap.header_html() + snap.controls_html()))
    show(snap.layout)
    rest = snap.table_html() + snap.movers_html() + snap.not_surveyed_html() + snap.plays_html + snap.script_html()
    display(HTML(rest))


def write_segment_xrays(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    xray_dir: str | Path,
    include_emails: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    renewal_weights: str | Path | None = None,
    plays: Any = None,
    play_rules: Any = None,
) -> int:
    """Write the X-Ray page of every surveyed account of a segment into `xray_dir`; return how many.

    The pages link back to the segment's report, `<run>/<slug>.html`, where `xray_dir` is `<run>/xray/<slug>`.
    `wave` and `compare_to` as for `snapshot`: each page compares the same two waves for its account. `plays`
    and `play_rules` add each account's plays and suggested plays, read-only (see `xray.xrays`).
    """
    from heatmap_lib.metrics.xray import xrays
    from heatmap_lib.views.xray_view import write_xray_pages

    ds = open_data(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FilterWarning)
        found = xrays(
            ds,
            report_filters(filters, segment_by, segment, wave),
            include_emails=include_emails,
            red_below=red_below,
            green_above=green_above,
            compare_to=compare_to,
            renewal_weights=renewal_weights,
            plays=plays,
            play_rules=play_rules,
        )
    folder = Path(xray_dir)
    back = f"../../{folder.name}.html"
    return len(write_xray_pages(found, folder, back_href=back, back_label="Back to the segment's heat map"))


def _load_live_bokehjs() -> None:
    """Load BokehJS inline once per kernel (offline-safe, DESIGN 11), for live display through Bokeh."""
    global _live_bokehjs_loaded
    from bokeh.io import output_notebook
    from bokeh.resources import Resources

    if not _live_bokehjs_loaded:
        live = Resources(mode="inline", components=["bokeh", "bokeh-widgets", "bokeh-tables"])
        output_notebook(resources=live, hide_banner=True)
        _live_bokehjs_loaded = True


def show_bokeh(obj: Any, *, embed_bokehjs: bool = True) -> None:
    """Display any Bokeh layout in a notebook the way snapshots do.

    `embed_bokehjs=False` (batch runs): the layout's components only (a div and its script), so the page
    template's single BokehJS bundle draws it; `True` (a live kernel): BokehJS loaded inline once, then shown.
    """
    from IPython.display import HTML, display

    if embed_bokehjs:
        from bokeh.io import show

        _load_live_bokehjs()
        show(obj)
        return
    from bokeh.embed import components

    with _components_lock:
        script, div = components(obj)
    display(HTML(f'<div class="hm-bokeh">{div}</div>{script}'))


# --------------------------------------------------------------------------------------------------------------
# pages


@functools.cache
def bokehjs_inline(tables: bool = True) -> str:
    """The slim BokehJS bundle (core, and tables unless `tables=False`) as inline script tags, for a page's head."""
    from bokeh.resources import Resources

    components = [c for c in BOKEHJS_COMPONENTS if tables or c != "bokeh-tables"]
    return Resources(mode="inline", components=components).render_js()


CORE_ONLY = 'data-hm-bokeh="core"'  # marks a heat map snapshot, whose table is plain HTML (no bokeh-tables)


def _uses_tables(nb: Any) -> bool:
    """Whether a page needs the tables bundle: yes unless a snapshot says it needs only the core.

    An output holding a Bokeh DataTable needs it anyway.
    """
    texts = [str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", [])]
    return not any(CORE_ONLY in t for t in texts) or any("DataTable" in t for t in texts)


_exporters = threading.local()


def _exporter() -> Any:
    exporter = getattr(_exporters, "html", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(
            template_name=SNAPSHOT_TEMPLATE,
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
        _exporters.html = exporter
    return exporter


def notebook_to_html(nb: Any, *, title: str) -> str:
    """An executed notebook as one offline page: no code cells, no stderr, BokehJS inlined once, no CDN.

    The tables bundle (300 KB) is inlined only when an output holds a Bokeh DataTable.

    The outputs are kept as they are (the snapshot escaped its customer text already); stderr streams are
    diagnostics for the executed notebook, not the reader.
    """
    import copy

    page = copy.deepcopy(nb)
    # the usual nbconvert convention: a cell tagged remove-cell is for the notebook's users, not the report's
    page.cells = [c for c in page.cells if "remove-cell" not in c.get("metadata", {}).get("tags", [])]
    for cell in page.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    body, _ = _exporter().from_notebook_node(
        page, resources={"metadata": {"name": title}, "heatmap_bokehjs": bokehjs_inline(_uses_tables(page))}
    )
    return body


@functools.cache
def _index_template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["score"] = _score
    env.filters["pct"] = lambda x: "" if x is None else f"{x:.0%}"
    return env.get_template("run_index.html.j2")


def render_index(info: Mapping[str, Any]) -> str:
    """The batch index page: one row per segment (link, status, headline figures or the error)."""
    return _index_template().render(run=info, bands=BANDS, band_labels=BAND_LABELS)


# --------------------------------------------------------------------------------------------------------------
# static assets of the fragment

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
