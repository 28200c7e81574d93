"""The snapshot's Bokeh layout: the chart named for the page script, its hover formatted in the browser, lean data.

`build_layout` draws the bubble chart with quadrant labels above the plot, X-Ray links and an IndexFilter the page
script rewrites. `_hover_in_browser` replaces per-account hover texts by compact numeric columns and small scripts
(the same text as the live chart's); `_fields_used` keeps only the source columns the layout reads.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.reports.snapshot._common import _file_stem
from heatmap_lib.reports.snapshot.page import MOVED


def build_layout(
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
            # only data specs hold fields: reading every property's (themed) default cost 0.4 s a report
            for name in m.dataspecs():
                value = m.lookup(name).get_value(m)
                if isinstance(value, Field):
                    found.add(value.field)
            if isinstance(m, GroupFilter):
                found.add(m.column_name)
            elif isinstance(m, HTMLTemplateFormatter):  # every identifier in the template's code, conservatively
                found |= set(re.findall(r"[A-Za-z_]\w*", " ".join(re.findall(r"<%(.*?)%>", m.template, re.S))))
        return found

    models = layout.references()  # walked once (each `select` walks every model and the sources' data again)

    def of(kind: type) -> list[Any]:
        return [m for m in models if isinstance(m, kind)]

    used: set[str] = set()
    renderers = [r for r in of(GlyphRenderer) if r.data_source is source]
    for r in renderers:
        used |= fields(r)
    for tool in of(HoverTool):
        targets = tool.renderers if isinstance(tool.renderers, list) else renderers
        if any(t in renderers for t in targets):
            used |= set(re.findall(r"@\{?([A-Za-z_]\w*)", str(tool.tooltips)))
    for table in of(DataTable):
        if table.source is source:
            used |= fields(table) | {c.field for c in table.columns}
    for kind in (CustomJS, CustomJSHover, CustomJSFilter):
        for script in of(kind):
            used |= set(re.findall(r"[A-Za-z_]\w*", script.code))
    return used
