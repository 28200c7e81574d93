"""The bubble chart's figure: `bubble_chart` builds it from an account summary, `BubbleChart` holds what it built.

x is the account's value (linear or log), y its footprint (contacts invited), the bubble's area grows with the
response rate, the colour is the NPS band in a fixed palette and legend order (a band hidden in the legend is not
drawn: `BAND_FILTER_JS`), and two guides sit at the median value and median footprint (`_place`). A click selects
the bubble drawn on top (`TOP_SELECTED_JS`) and, with an X-Ray link pattern, opens its page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from bokeh.core.properties import value as fixed
from bokeh.models import (
    BasicTicker,
    CDSView,
    ColumnDataSource,
    CustomJS,
    CustomJSFilter,
    CustomJSTransform,
    HoverTool,
    Node,
    NumeralTickFormatter,
    TapTool,
)
from bokeh.models.annotations import Label, Legend, LegendItem, Span  # (submodules: visible to type checkers)
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure
from bokeh.transform import factor_cmap, transform

from heatmap_lib.metrics.summary import (
    BANDS,
    Guides,
    Thresholds,
    quadrant_guides,
)
from heatmap_lib.views.chart.extra_hover import HoverLinesLike, _normalised
from heatmap_lib.views.chart.source import _log_floor, bubble_source_data
from heatmap_lib.views.chart.style import (
    ALPHA_JS,
    BAND_COLORS,
    EMPTY_TEXT,
    KEY_RATES,
    MIN_SIZE,
    SIZE_JS,
    SMALLEST_DIAMETER,
    _size_key,
    band_legend_labels,
    bubble_size,
    crowding,
    drawn_size,
)
from heatmap_lib.views.chart.tooltips import _account_texts, _browser_hover, _static_split, _tooltips, _value_label
from heatmap_lib.views.chart.trails import _change_hover, _trail_layer, trail_source_data
from heatmap_lib.views.chart.xray_links import xray_link

# The bubble filter behind the legend: a band whose legend entry is hidden (its key renderer) is not drawn.
BAND_FILTER_JS = """
const hidden = new Set();
keys.forEach(function (k, j) { if (!k.visible) hidden.add(bands[j]); });
if (!hidden.size) return null;
return Array.from(source.data.band, function (b) { return !hidden.has(b); });
"""
# Of the bubbles a click selected (all those under the pointer), the one drawn on top: the last row.
TOP_SELECTED_JS = "(source.selected.indices.length ? Math.max(...source.selected.indices) : null)"


def _crowd(chart: BubbleChart, n: int) -> None:
    """Draw the chart's bubbles (and its size key) for `n` accounts (`crowding`)."""
    c = crowding(n)
    chart.size_transform.args = {"scale": c.scale, "smallest": SMALLEST_DIAMETER}
    chart.alpha_transform.args = {"calm": c.calm_alpha, "risk": c.risk_alpha}
    glyph: Any = chart.renderers[0].glyph
    glyph.line_width = c.line_width
    chart.size_key_source.data["size"] = drawn_size(bubble_size(np.array(KEY_RATES)), c.scale)


# --------------------------------------------------------------------------------------------------------------
# the figure


@dataclass(frozen=True)
class BubbleChart:
    """A built bubble chart: the figure, its data source, the guides and labels that `update_chart` moves.

    Unpacks as `(figure, source)`. The selection (`source.selected.indices`, set by clicking a bubble) is the
    event the X-Ray hooks into; `selected_account_ids()` and `index_of()` translate between rows and accounts.
    """

    figure: Any
    source: ColumnDataSource
    value_guide: Span
    footprint_guide: Span
    risk_label: Label
    expansion_label: Label
    empty_label: Label
    renderers: tuple[GlyphRenderer, ...]
    legend: Legend
    empty_frame: GlyphRenderer
    log_x: bool = False
    xray_href: str | None = None
    trails: tuple[GlyphRenderer, ...] = ()  # wave over wave: the trail segments, then their start dots
    trail_legend: Legend | None = None
    hover: HoverTool | None = None
    extra_hover: pd.DataFrame | None = None  # the extra hover lines (`hover_lines`), looked up on every update
    currency: str | None = None  # named on the value axis and in the hover ("USD"); None: not named
    size_transform: Any = None  # the bubbles' drawn diameter (`crowding`: scale, smallest)
    alpha_transform: Any = None  # the bubbles' fill opacity by band (`crowding`: calm, risk)
    size_key: Any = None  # the strip under the chart saying what a bubble's size means
    size_key_source: Any = None
    browser_hover: Any = None  # the CustomJSHover of the hover texts formatted in the browser (None: sent as text)
    accounts: ColumnDataSource | None = None  # the live chart's static per-account texts (`STATIC_TEXTS`, lines)
    account_rows: dict[str, int] | None = None  # account_id -> its row in `accounts`

    def __iter__(self) -> Iterator[Any]:
        """Unpack as `(figure, source)`."""
        return iter((self.figure, self.source))

    def texts(self, column: str) -> list[Any]:
        """A column of the drawn rows, read through `acc` when it lives in the static `accounts` source."""
        if self.accounts is None or column in self.source.data:
            return list(self.source.data[column])
        static: Any = self.accounts.data[column]
        rows: Any = self.source.data["acc"]
        return [static[i] for i in rows.tolist()]

    def account_index(self) -> dict[str, int]:
        """Map each account_id to its row in the data source."""
        return {aid: i for i, aid in enumerate(self.source.data["account_id"])}

    def index_of(self, account_id: str) -> int | None:
        """The data source row of an account, or None when it is not on the chart."""
        return self.account_index().get(str(account_id))

    def selected_account_ids(self) -> list[str]:
        """The account_ids of the selected (clicked) bubbles."""
        ids = self.source.data["account_id"]
        return [ids[i] for i in self.source.selected.indices if 0 <= i < len(ids)]

    def select(self, account_ids: Iterable[str]) -> None:
        """Select the bubbles of these accounts (those not on the chart are ignored)."""
        index = self.account_index()
        self.source.selected.indices = sorted(index[a] for a in map(str, account_ids) if a in index)

    @property
    def guides(self) -> tuple[float | None, float | None]:
        """Where the guides sit now: (value, footprint); None when there is no account."""
        locations: list[Any] = [self.value_guide.location, self.footprint_guide.location]
        value, footprint = (None if x is None else float(x) for x in locations)
        return value, footprint


def bubble_chart(
    summary: pd.DataFrame,
    *,
    log_x: bool = False,
    guides: Guides | None = None,
    thresholds: Thresholds | Mapping[str, float] | None = None,
    title: str = "Customer Heat Map",
    width: int = 900,
    height: int = 560,
    source: ColumnDataSource | None = None,
    xray_href: str | None = None,
    movement: pd.DataFrame | None = None,
    trail_legend: bool = True,
    extra_hover: HoverLinesLike = None,
    currency: str | None = None,
    texts_in_browser: bool = False,
) -> BubbleChart:
    """Build the bubble chart of an account summary (one bubble per surveyed account).

    `guides` defaults to the medians of the accounts shown (`metrics.quadrant_guides`); `thresholds` names the
    legend entries (default: the summary's `attrs["thresholds"]`); `source` lets several views share one data
    source (it is filled with this summary's data). With `xray_href` (a pattern such as "xray/{account_id}.html")
    clicking a bubble also opens that account's X-Ray page; otherwise it only selects it.

    `movement` (a `waves.compare_waves` frame for the summary's wave, or an empty frame) adds the wave-over-wave
    layer: a trail from each account's footprint in the compared wave to its footprint now (the value is the
    same, so the trail is vertical), green for a real rise, red for a real drop, gray within noise, with its own
    legend (`trail_legend=False`: none, the page says it) and an "NPS change" hover line. Without it (None)
    the chart has no trail renderer at all.

    `extra_hover` adds hover lines after the others, one per column (see `hover_lines`: plain text per account,
    escaped by Bokeh), for example each account's usage health (`usage_hover`).

    `currency` ("USD", "EUR", ...) names the values' currency on the value axis and in the hover. The bubbles
    shrink and the green and yellow ones fade past CROWD accounts (`crowding`), and `size_key` (a strip to show
    under the figure) says what response rate a bubble's size means.

    `texts_in_browser` (the live dashboard): the hover's band, NPS and response-rate lines are formatted in the
    browser (`BROWSER_HOVER_JS`) from numeric columns, so `update_chart` sends no text for them.
    """
    thresholds = thresholds if thresholds is not None else summary.attrs.get("thresholds")
    lines = _normalised(extra_hover)
    data = bubble_source_data(
        summary, thresholds=thresholds, log_x=log_x, extra_hover=lines, texts=not texts_in_browser
    )
    if xray_href is not None:
        data["xray_href"] = [xray_link(xray_href, a) for a in data["account_id"]]
    if movement is not None:
        data.update(trail_source_data(data["account_id"], movement))
    accounts = ColumnDataSource(data={}) if texts_in_browser else None
    account_rows: dict[str, int] | None = {} if texts_in_browser else None
    if accounts is not None and account_rows is not None:
        data = _static_split(accounts, account_rows, data, True)
    if source is None:
        source = ColumnDataSource(data=data)
    else:
        source.data = data
    fig = figure(
        title=title,
        width=width,
        height=height,
        x_axis_type="log" if log_x else "linear",
        x_axis_label=_value_label("Account value", currency) + (" (log scale)" if log_x else ""),
        y_axis_label="Footprint: contacts invited",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
        output_backend="canvas",
    )
    fig.xaxis.formatter = NumeralTickFormatter(format="0,0")
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
    fig.yaxis.ticker = BasicTicker(min_interval=1)  # footprints are counts: no ticks between whole numbers

    trails, trail_key = _trail_layer(fig, source, movement, trail_legend) if movement is not None else ((), None)
    labels = band_legend_labels(thresholds)
    # ONE renderer draws every bubble, coloured by its band, in row order (`draw_order`): so the top bubble at the
    # pointer is the last row there, the hover shows that one only and a click opens that same account.
    keys: list[Any] = []
    band_filter = CustomJSFilter(code=BAND_FILTER_JS)
    size_transform = CustomJSTransform(v_func=SIZE_JS)
    alpha_transform = CustomJSTransform(v_func=ALPHA_JS)
    bubbles = fig.scatter(  # type: ignore[call-arg]  # selection_line_width is missing from Bokeh's stub
        x="x",
        y="contacts_invited",
        size=transform("size", size_transform),
        source=source,
        view=CDSView(filter=band_filter),
        fill_color=factor_cmap("band", palette=[BAND_COLORS[b] for b in BANDS], factors=list(BANDS)),
        fill_alpha=transform("band", alpha_transform),
        line_color="#ffffff",
        line_width=1,
        hover_fill_alpha=1.0,
        hover_line_color="#222222",
        selection_fill_alpha=1.0,
        selection_line_color="#000000",
        selection_line_width=2,
        nonselection_fill_alpha=0.25,
        nonselection_line_alpha=0.25,
        name="bubbles",
    )
    renderers: list[Any] = [bubbles]
    items = []
    for band in BANDS:
        # Bokeh draws a legend swatch from the renderer's first visible point, so a band with no account would get
        # a label without a dot. Each entry uses a key renderer instead: one point at NaN (never drawn, ignored by
        # the ranges), and hiding the key from the legend hides the band's bubbles (through `band_filter`).
        key: Any = fig.scatter(
            x=[math.nan],
            y=[math.nan],
            size=MIN_SIZE,
            fill_color=BAND_COLORS[band],
            fill_alpha=0.75,
            line_color="#ffffff",
            name=f"legend_{band}",
        )
        keys.append(key)
        items.append(LegendItem(label=fixed(labels[band]), renderers=[key]))
    band_filter.args = {"keys": keys, "bands": list(BANDS)}
    for key in keys:
        key.js_on_change("visible", CustomJS(args={"filter": band_filter}, code="filter.change.emit()"))
    # The ranges follow the bubbles (not the legend keys at NaN), and an invisible frame of two points that
    # `_place` spreads over a unit box when no account is in scope: without data Bokeh cannot set the ranges.
    frame = fig.scatter(x=[math.nan], y=[math.nan], size=0, visible=False, name="empty_frame")
    ranges: list[Any] = [fig.x_range, fig.y_range]  # DataRange1d, typed as Range
    for r in ranges:
        r.renderers = [*renderers, *trails, frame]
    legend = Legend(items=items, title="NPS band", location="top_left", click_policy="hide")
    fig.add_layout(legend, "right")

    # Default tooltips: Bokeh escapes each `@field` value, so customer text shows as text (DESIGN 8). One tooltip:
    # of the bubbles under the pointer, the last row (drawn on top).
    hover = HoverTool(
        renderers=renderers,
        tooltips=_tooltips(movement is not None, lines, currency, texts_in_browser),
        sort_by=[("$index", "descending")],
        limit=1,
    )
    formatters: dict[str, Any] = {"@direction": _change_hover(source)} if movement is not None else {}
    browser_hover = _browser_hover(source, labels) if texts_in_browser else None
    if browser_hover is not None:
        formatters["@band"] = browser_hover
        formatters["@acc"] = _account_texts(accounts)
    if formatters:
        hover.formatters = formatters
    fig.add_tools(hover)
    tap = TapTool(renderers=renderers, behavior="select")
    if xray_href is not None:
        tap.callback = CustomJS(
            args={"source": source},
            code=f"const i = {TOP_SELECTED_JS};"
            "if (i != null && source.data.xray_href) { window.location.href = source.data.xray_href[i]; }",
        )
    fig.add_tools(tap)

    g = guides if guides is not None else quadrant_guides(summary)
    guide_style: dict[str, Any] = {"line_color": "#555555", "line_dash": "dashed", "line_width": 1, "line_alpha": 0.8}
    value_guide = Span(dimension="height", location=None, **guide_style)
    footprint_guide = Span(dimension="width", location=None, **guide_style)
    fig.add_layout(value_guide)
    fig.add_layout(footprint_guide)
    text_style: dict[str, Any] = {"text_font_size": "11pt", "text_color": "#555555", "text_font_style": "italic"}
    risk_label = Label(
        x=Node(target="frame", symbol="right", offset=-8),
        y=Node(target="frame", symbol="top", offset=6),
        text="Revenue at risk",
        text_align="right",
        text_baseline="top",
        **text_style,
    )
    expansion_label = Label(
        x=Node(target="frame", symbol="left", offset=8),
        y=Node(target="frame", symbol="top", offset=6),
        text="Expansion",
        text_align="left",
        text_baseline="top",
        **text_style,
    )
    empty_label = Label(
        x=Node(target="frame", symbol="center"),
        y=Node(target="frame", symbol="center"),
        text=EMPTY_TEXT,
        text_align="center",
        text_baseline="middle",
        text_font_size="14pt",
        text_color="#777777",
    )
    for label in (risk_label, expansion_label, empty_label):
        fig.add_layout(label)
    key, key_source = _size_key(width)
    chart = BubbleChart(
        figure=fig,
        source=source,
        value_guide=value_guide,
        footprint_guide=footprint_guide,
        risk_label=risk_label,
        expansion_label=expansion_label,
        empty_label=empty_label,
        renderers=tuple(renderers),
        legend=legend,
        empty_frame=frame,
        log_x=log_x,
        xray_href=xray_href,
        trails=tuple(trails),
        trail_legend=trail_key,
        hover=hover,
        extra_hover=lines,
        currency=currency,
        size_transform=size_transform,
        alpha_transform=alpha_transform,
        size_key=key,
        size_key_source=key_source,
        browser_hover=browser_hover,
        accounts=accounts,
        account_rows=account_rows,
    )
    _crowd(chart, len(data["account_id"]))
    _place(chart, data, g)
    return chart


def _place(chart: BubbleChart, data: Mapping[str, Any], g: Guides) -> None:
    """Move the guides to `g` and show the quadrant labels or the empty-scope label."""
    empty = len(data["account_id"]) == 0
    value, footprint = g.value, g.footprint
    if chart.log_x and value is not None and not math.isnan(value) and value <= 0:
        value = _log_floor(np.asarray(data["value"], dtype=float))
    chart.value_guide.location = None if empty or math.isnan(value) else float(value)
    chart.footprint_guide.location = None if empty or math.isnan(footprint) else float(footprint)
    chart.risk_label.visible = not empty
    chart.expansion_label.visible = not empty
    chart.empty_label.visible = empty
    unit = {"x": [1.0, 10.0] if chart.log_x else [0.0, 1.0], "y": [0.0, 1.0]}
    frame_source: Any = chart.empty_frame.data_source
    frame_source.data = unit if empty else {"x": [math.nan], "y": [math.nan]}
