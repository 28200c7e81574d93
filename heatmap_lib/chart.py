"""The heat map's bubble chart (DESIGN.md section 6): a pure builder, an account summary in, a Bokeh figure out.

x is the account's value (linear or log), y its footprint (contacts invited), the bubble's area grows with the
response rate (with a visible minimum, so silent accounts still show), the colour is the NPS band in a fixed
palette and a fixed legend order, and two guides sit at the median value and median footprint. Nothing here
computes a metric or calls `show()`: the summary comes from `metrics.account_summary`, and the live dashboard
calls `update_chart` on a filter change, which swaps the data and moves the guides without rebuilding the figure.
"""

from __future__ import annotations

import json
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
    GroupFilter,
    HoverTool,
    Node,
    NumeralTickFormatter,
    TapTool,
)
from bokeh.models.annotations import Label, Legend, LegendItem, Span  # (submodules: visible to type checkers)
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from .metrics import BAND_LABELS, BANDS, Guides, Thresholds, quadrant_guides

__all__ = [
    "BAND_COLORS",
    "DIRECTION_CODES",
    "EMPTY_TEXT",
    "FILTER_COLUMNS",
    "MAX_SIZE",
    "MIN_SIZE",
    "SOURCE_COLUMNS",
    "TRAIL_COLORS",
    "TRAIL_COLUMNS",
    "TRAIL_LABELS",
    "BubbleChart",
    "band_legend_labels",
    "bubble_chart",
    "bubble_size",
    "bubble_source_data",
    "format_money",
    "trail_source_data",
    "update_chart",
    "xray_link",
]

BAND_COLORS: dict[str, str] = {"green": "#2ca02c", "yellow": "#f2c12e", "red": "#d62728", "gray": "#9e9e9e"}
MIN_SIZE = 8.0  # px: the diameter of a silent (0%) account's bubble, still visible and clickable
MAX_SIZE = 40.0  # px: the diameter at a 100% response rate
EMPTY_TEXT = "No surveyed accounts in scope"
MINUS = "\u2212"  # typographic minus for hover text

# What the chart's data source holds, and nothing else (no emails, comments or other personal data: DESIGN 8).
SOURCE_COLUMNS: tuple[str, ...] = (
    "account_id",
    "account_name",
    "account_manager",
    "value",
    "x",
    "contacts_invited",
    "response_rate",
    "nps",
    "nps_low",
    "nps_high",
    "band",
    "band_label",
    "size",
    "value_text",
    "rate_text",
    "nps_text",
)
FILTER_COLUMNS: tuple[str, ...] = ("tier", "region")  # carried along for client-side filters in snapshots
# Wave over wave: a trail from the previous wave's footprint to this wave's, coloured by the NPS change.
TRAIL_COLUMNS: tuple[str, ...] = (
    "footprint_prev",
    "trail",
    "direction",
    "moved",
    "nps_change",
    "nps_change_low",
    "nps_change_high",
    "band_prev",
)
DIRECTION_CODES: dict[str, int] = {"undefined": 0, "up": 1, "down": 2, "noise": 3, "newly_silent": 4}
TRAIL_COLORS: dict[str, str] = {
    "undefined": "#9e9e9e",
    "up": BAND_COLORS["green"],
    "down": BAND_COLORS["red"],
    "noise": "#9e9e9e",
    "newly_silent": "#9e9e9e",
}
TRAIL_LABELS: dict[str, str] = {"up": "Real rise", "down": "Real drop", "noise": "Within noise"}
# The hover line of the NPS change, formatted in the browser from the compact columns (only numbers and the fixed
# band labels reach the text: no customer text, nothing to escape).
CHANGE_HOVER_JS = """
const d = source.data, i = special_vars.index, code = d.direction[i];
if (code < 0) return "no comparison";
if (d.trail[i] !== 1) return "new: not surveyed in the compared wave";
const bands = __BANDS__, labels = __LABELS__, before = d.band_prev[i];
const was = before >= 0 && bands[before] !== d.band[i] ? "; was " + labels[before] : "";
if (code === 4) return "newly silent: nobody answered this wave" + was;
if (code === 0) return "undefined: no answer in one of the waves" + was;
function s(x) { const r = Math.round(x); return (r > 0 ? "+" : r < 0 ? "\\u2212" : "") + Math.abs(r); }
const verdict = code === 1 ? "real rise" : code === 2 ? "real drop" : "within noise";
return s(d.nps_change[i]) + " (" + s(d.nps_change_low[i]) + " to " + s(d.nps_change_high[i]) + "), " + verdict + was;
"""
TOOLTIPS = [
    ("Account", "@account_name"),
    ("Account manager", "@account_manager"),
    ("Value", "@value_text"),
    ("Contacts invited", "@contacts_invited"),
    ("Response rate", "@rate_text"),
    ("NPS", "@nps_text"),
    ("Band", "@band_label"),
]


# --------------------------------------------------------------------------------------------------------------
# the data source


def bubble_size(response_rate: Any) -> np.ndarray:
    """Bubble diameters in screen pixels: area = minimum area + rate x (maximum area - minimum area).

    Strictly increasing in the response rate, `MIN_SIZE` at 0% (silent accounts stay visible), `MAX_SIZE` at 100%.
    """
    rate = np.clip(np.nan_to_num(np.asarray(response_rate, dtype=float), nan=0.0), 0.0, 1.0)
    return np.sqrt(MIN_SIZE**2 + rate * (MAX_SIZE**2 - MIN_SIZE**2))


def format_money(value: float) -> str:
    """An account value as a whole number with thousands separators ("1,234,500"); "" when missing."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f}"


def _thousands(values: Any) -> list[str]:
    """Whole numbers with thousands separators ("1,234,500"; NaN gives "")."""
    return [f"{v:,.0f}" if v == v else "" for v in np.asarray(values, dtype=float).tolist()]


def _signed(x: float) -> str:
    return f"{x:.0f}".replace("-", MINUS) if round(x) != 0 else "0"


def _nps_texts(frame: pd.DataFrame) -> list[str]:
    cols = [frame[c].to_numpy(dtype=float).tolist() for c in ("nps", "nps_low", "nps_high")]
    small = frame["small_sample"].to_numpy(dtype=bool).tolist() if "small_sample" in frame else [False] * len(frame)
    return [
        "no response"
        if score != score
        else f"{_signed(score)} ({_signed(low)} to {_signed(high)})" + (", small sample" if flag else "")
        for score, low, high, flag in zip(*cols, small, strict=True)
    ]


def _rate_texts(frame: pd.DataFrame) -> list[str]:
    rate = frame["response_rate"].to_numpy(dtype=float).tolist()
    if "responses" in frame and "invitations" in frame:
        n = frame["responses"].to_numpy(dtype=np.int64).tolist()
        i = frame["invitations"].to_numpy(dtype=np.int64).tolist()
        return [f"{r:.0%} ({a:,} of {b:,})" for r, a, b in zip(rate, n, i, strict=True)]
    return [f"{r:.0%}" for r in rate]


def _log_floor(values: np.ndarray) -> float:
    positive = values[values > 0]
    return float(positive.min()) / 2 if len(positive) else 1.0


def _text_column(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame:
        return [""] * len(frame)
    return frame[column].astype(object).fillna("").astype(str).tolist()


def band_legend_labels(thresholds: Thresholds | Mapping[str, float] | None = None) -> dict[str, str]:
    """The legend text of each band, naming its thresholds ("Positive (NPS > 10)", ...)."""
    if thresholds is None:
        t = Thresholds()
    elif isinstance(thresholds, Thresholds):
        t = thresholds
    else:
        t = Thresholds(**dict(thresholds))

    def f(x: float) -> str:
        return f"{x:g}".replace("-", MINUS)

    return {
        "green": f"{BAND_LABELS['green']} (NPS > {f(t.green_above)})",
        "yellow": f"{BAND_LABELS['yellow']} ({f(t.red_below)} to {f(t.green_above)})",
        "red": f"{BAND_LABELS['red']} (NPS < {f(t.red_below)})",
        "gray": f"{BAND_LABELS['gray']} (no response)",
    }


def bubble_source_data(
    summary: pd.DataFrame, *, thresholds: Thresholds | Mapping[str, float] | None = None, log_x: bool = False
) -> dict[str, Any]:
    """The chart's data source columns (`SOURCE_COLUMNS`, plus tier and region when present), one row per account.

    Rows are ordered by bubble size, largest first (drawn first, so small bubbles stay on top): find an account's
    row by its account_id, not by its position in the summary. Numbers stay numeric (numpy arrays, sent to the
    browser in binary); the hover texts are preformatted. `x` is the plotted value: on a log axis, values <= 0
    are drawn at half the smallest positive value, and the hover says so. `band_label` names the band with its
    thresholds (default: the summary's `attrs["thresholds"]`); the band itself is the summary's, never recomputed.
    """
    frame = summary
    labels = band_legend_labels(thresholds if thresholds is not None else summary.attrs.get("thresholds"))
    value = frame["value"].to_numpy(dtype=float)
    value_text = _thousands(value)
    x = value.copy()
    if log_x and len(value):
        floor = _log_floor(value)
        clipped = ~(value > 0)
        x = np.where(clipped, floor, value)
        shown = format_money(floor)
        value_text = [
            f"{t} (drawn at {shown} on the log axis)" if c else t for t, c in zip(value_text, clipped, strict=True)
        ]
    bands = [str(b) for b in frame["band"]]
    data: dict[str, Any] = {
        "account_id": _text_column(frame, "account_id"),
        "account_name": _text_column(frame, "account_name"),
        "account_manager": _text_column(frame, "account_manager"),
        "value": value,
        "x": x,
        "contacts_invited": frame["contacts_invited"].to_numpy(dtype=np.int64),
        "response_rate": frame["response_rate"].to_numpy(dtype=float),
        "nps": frame["nps"].to_numpy(dtype=float),
        "nps_low": frame["nps_low"].to_numpy(dtype=float),
        "nps_high": frame["nps_high"].to_numpy(dtype=float),
        "band": bands,
        "band_label": [labels.get(b, b) for b in bands],
        "size": bubble_size(frame["response_rate"]),
        "value_text": value_text,
        "rate_text": _rate_texts(frame),
        "nps_text": _nps_texts(frame),
    }
    for column in FILTER_COLUMNS:
        if column in frame:
            data[column] = _text_column(frame, column)
    # Largest bubbles first, so that small ones are drawn on top and stay visible (and clickable).
    order = np.argsort(-data["size"], kind="stable")
    return {k: _take(v, order) for k, v in data.items()}


def _take(values: Any, order: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[order]
    return np.asarray(values, dtype=object)[order].tolist()


def trail_source_data(account_ids: Iterable[str], movement: pd.DataFrame | None) -> dict[str, Any]:
    """The wave-over-wave columns (`TRAIL_COLUMNS`) for the bubbles of these accounts, in the same order.

    `movement` is `waves.compare_waves(...)` (None or empty: no comparison). Compact on purpose (small integer
    codes, sent to the browser as gzipped binary, so a 1,000-account snapshot stays under its 2 MB budget):
    `footprint_prev` the footprint in the compared wave (NaN when not surveyed then); `trail` 1 for accounts
    surveyed in both waves (they get a trail), else 0; `direction` the code of `DIRECTION_CODES` (up, down,
    noise, undefined, newly silent; -1 without a comparison), which colours the trail; `moved` 1 when the band
    changed or the NPS change is real; `nps_change` with `nps_change_low`/`nps_change_high`; `band_prev` the
    index of the compared wave's band in `BANDS` (-1 when absent). The hover line is formatted in the browser.
    """
    ids = [str(a) for a in account_ids]
    n = len(ids)
    if movement is None or not len(movement) or not n:
        return {
            "footprint_prev": np.full(n, np.nan, dtype=np.float32),
            "trail": np.zeros(n, dtype=np.int8),
            "direction": np.full(n, -1, dtype=np.int8),
            "moved": np.zeros(n, dtype=np.int8),
            "nps_change": np.full(n, np.nan, dtype=np.float32),
            "nps_change_low": np.full(n, np.nan, dtype=np.float32),
            "nps_change_high": np.full(n, np.nan, dtype=np.float32),
            "band_prev": np.full(n, -1, dtype=np.int8),
        }
    m = movement.assign(account_id=movement["account_id"].astype(str)).drop_duplicates("account_id")
    m = m.set_index("account_id").reindex(ids)
    status = m["wave_status"]
    both = status.isin(["both", "newly_silent"]).to_numpy()
    codes = m["direction"].map(DIRECTION_CODES).where(status != "newly_silent", DIRECTION_CODES["newly_silent"])
    band_index = {b: i for i, b in enumerate(BANDS)}
    return {
        "footprint_prev": np.where(both, m["contacts_invited_prev"].to_numpy(dtype=float), np.nan).astype(np.float32),
        "trail": both.astype(np.int8),
        "direction": codes.fillna(-1).to_numpy(dtype=np.int8),
        "moved": m["moved"].eq(True).to_numpy().astype(np.int8),
        # whole points are all the hover shows; rounded values also compress far better
        "nps_change": np.round(m["nps_change"].to_numpy(dtype=float)).astype(np.float32),
        "nps_change_low": np.round(m["nps_change_low"].to_numpy(dtype=float)).astype(np.float32),
        "nps_change_high": np.round(m["nps_change_high"].to_numpy(dtype=float)).astype(np.float32),
        "band_prev": m["band_prev"].map(band_index).where(both, -1).fillna(-1).to_numpy(dtype=np.int8),
    }


def xray_link(pattern: str, account_id: str) -> str:
    """The X-Ray address for an account: `pattern` ("xray/{account_id}.html") with the id URL-quoted (no "/")."""
    from urllib.parse import quote

    return pattern.format(account_id=quote(str(account_id), safe=""))


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

    def __iter__(self) -> Iterator[Any]:
        """Unpack as `(figure, source)`."""
        return iter((self.figure, self.source))

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
    """
    thresholds = thresholds if thresholds is not None else summary.attrs.get("thresholds")
    data = bubble_source_data(summary, thresholds=thresholds, log_x=log_x)
    if xray_href is not None:
        data["xray_href"] = [xray_link(xray_href, a) for a in data["account_id"]]
    if movement is not None:
        data.update(trail_source_data(data["account_id"], movement))
    if source is None:
        source = ColumnDataSource(data=data)
    else:
        source.data = data
    fig = figure(
        title=title,
        width=width,
        height=height,
        x_axis_type="log" if log_x else "linear",
        x_axis_label="Account value" + (" (log scale)" if log_x else ""),
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
    renderers: list[Any] = []
    items = []
    for band in BANDS:
        # One renderer per band (rather than legend_field, which orders the legend by data order, DESIGN 11):
        # the legend always lists green, yellow, red, gray, even when a band has no account.
        renderer = fig.scatter(  # type: ignore[call-arg]  # selection_line_width is missing from Bokeh's stub
            x="x",
            y="contacts_invited",
            size="size",
            source=source,
            view=CDSView(filter=GroupFilter(column_name="band", group=band)),
            fill_color=BAND_COLORS[band],
            fill_alpha=0.75,
            line_color="#ffffff",
            line_width=1,
            hover_fill_color=BAND_COLORS[band],
            hover_fill_alpha=1.0,
            hover_line_color="#222222",
            selection_fill_alpha=1.0,
            selection_line_color="#000000",
            selection_line_width=2,
            nonselection_fill_alpha=0.25,
            nonselection_line_alpha=0.25,
            name=f"band_{band}",
        )
        renderers.append(renderer)
        # Bokeh draws a legend swatch from the renderer's first visible point, so a band with no account would get
        # a label without a dot. Each entry uses a key renderer instead: one point at NaN (never drawn, ignored by
        # the ranges), and hiding the key from the legend hides the band's bubbles.
        key: Any = fig.scatter(
            x=[math.nan],
            y=[math.nan],
            size=MIN_SIZE,
            fill_color=BAND_COLORS[band],
            fill_alpha=0.75,
            line_color="#ffffff",
            name=f"legend_{band}",
        )
        key.js_on_change("visible", CustomJS(args={"bubbles": renderer}, code="bubbles.visible = cb_obj.visible"))
        items.append(LegendItem(label=fixed(labels[band]), renderers=[key]))
    # The ranges follow the bubbles (not the legend keys at NaN), and an invisible frame of two points that
    # `_place` spreads over a unit box when no account is in scope: without data Bokeh cannot set the ranges.
    frame = fig.scatter(x=[math.nan], y=[math.nan], size=0, visible=False, name="empty_frame")
    ranges: list[Any] = [fig.x_range, fig.y_range]  # DataRange1d, typed as Range
    for r in ranges:
        r.renderers = [*renderers, *trails, frame]
    legend = Legend(items=items, title="NPS band", location="top_left", click_policy="hide")
    fig.add_layout(legend, "right")

    # Default tooltips: Bokeh escapes each `@field` value, so customer text shows as text (DESIGN 8).
    hover = HoverTool(renderers=renderers, tooltips=TOOLTIPS)
    if movement is not None:
        hover.tooltips = [*TOOLTIPS, ("NPS change", "@direction{custom}")]
        hover.formatters = {"@direction": _change_hover(source)}
    fig.add_tools(hover)
    tap = TapTool(renderers=renderers, behavior="select")
    if xray_href is not None:
        tap.callback = CustomJS(
            args={"source": source},
            code="const i = source.selected.indices[0];"
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
    )
    _place(chart, data, g)
    return chart


def _change_hover(source: ColumnDataSource) -> Any:
    """The formatter of the hover's "NPS change" line (see `CHANGE_HOVER_JS`)."""
    from bokeh.models import CustomJSHover

    labels = json.dumps([BAND_LABELS[b] for b in BANDS])
    code = CHANGE_HOVER_JS.replace("__BANDS__", json.dumps(list(BANDS))).replace("__LABELS__", labels)
    return CustomJSHover(args={"source": source}, code=code)


def _trail_title(movement: pd.DataFrame | None) -> str:
    compare_to = ((movement.attrs.get("waves") or {}).get("compare_to")) if movement is not None else None
    return f"NPS change since {compare_to}" if compare_to else "NPS change since the compared wave"


def _trail_layer(
    fig: Any, source: ColumnDataSource, movement: pd.DataFrame | None, with_legend: bool
) -> tuple[list[Any], Legend | None]:
    """The trail segments and start dots (drawn under the bubbles), and their legend below the plot."""
    from bokeh.models import LinearColorMapper
    from bokeh.transform import transform

    # direction codes 0..4 fall in bins of width 1 centred on each code
    palette = [TRAIL_COLORS[d] for d in sorted(DIRECTION_CODES, key=DIRECTION_CODES.__getitem__)]
    mapper = LinearColorMapper(palette=palette, low=-0.5, high=len(palette) - 0.5)
    colour = transform("direction", mapper)
    view = CDSView(filter=GroupFilter(column_name="trail", group=1))
    segments = fig.segment(
        x0="x",
        y0="footprint_prev",
        x1="x",
        y1="contacts_invited",
        source=source,
        view=view,
        line_color=colour,
        line_width=2.5,
        line_alpha=0.8,
        name="trails",
    )
    starts = fig.scatter(
        x="x",
        y="footprint_prev",
        size=5,
        source=source,
        view=CDSView(filter=GroupFilter(column_name="trail", group=1)),
        fill_color=colour,
        line_color=colour,
        fill_alpha=0.8,
        name="trail_starts",
    )
    if not with_legend:
        return [segments, starts], None
    items = []
    for direction, label in TRAIL_LABELS.items():
        key: Any = fig.segment(
            x0=[math.nan],
            y0=[math.nan],
            x1=[math.nan],
            y1=[math.nan],
            line_color=TRAIL_COLORS[direction],
            line_width=2.5,
            name=f"legend_trail_{direction}",
        )
        items.append(LegendItem(label=fixed(label), renderers=[key]))
    legend = Legend(items=items, title=_trail_title(movement), orientation="horizontal", location="center")
    fig.add_layout(legend, "below")
    return [segments, starts], legend


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


def update_chart(
    chart: BubbleChart,
    summary: pd.DataFrame,
    *,
    guides: Guides | None = None,
    movement: pd.DataFrame | None = None,
) -> BubbleChart:
    """Show another summary on the same figure: replace the data in place, move the guides, clear the selection.

    For the live dashboard: no model is created, so a filter change costs one data message to the browser.
    A chart built with a movement layer takes the new `movement` too (None: no trail for this summary).
    """
    data = bubble_source_data(summary, log_x=chart.log_x)
    if chart.xray_href is not None:
        data["xray_href"] = [xray_link(chart.xray_href, a) for a in data["account_id"]]
    if chart.trails:
        data.update(trail_source_data(data["account_id"], movement))
        if chart.trail_legend is not None:
            chart.trail_legend.title = _trail_title(movement)
    chart.source.selected.indices = []
    chart.source.data = data
    labels = band_legend_labels(summary.attrs.get("thresholds"))
    items: list[Any] = list(chart.legend.items)
    for band, item in zip(BANDS, items, strict=True):
        item.label = fixed(labels[band])  # a bare string would be read as a field name
    _place(chart, data, guides if guides is not None else quadrant_guides(summary))
    return chart
