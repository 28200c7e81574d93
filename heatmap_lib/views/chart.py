"""The heat map's bubble chart (DESIGN.md section 6): a pure builder, an account summary in, a Bokeh figure out.

x is the account's value (linear or log), y its footprint (contacts invited), the bubble's area grows with the
response rate (with a visible minimum, so silent accounts still show), the colour is the NPS band in a fixed
palette and a fixed legend order, and two guides sit at the median value and median footprint. Nothing here
computes a metric or calls `show()`: the summary comes from `metrics.account_summary`, and the live dashboard
calls `update_chart` on a filter change, which swaps the data and moves the guides without rebuilding the figure.

Extra hover lines per account (`hover_lines`; `bubble_chart(..., extra_hover=...)`): a frame indexed by account_id,
one column per line, the column name its label, plain text its values (Bokeh escapes them). The usage health
lines (`usage_hover`, from `health.health_summary`) come this way, in the live dashboard and in batch snapshots;
further lines (open plays, ...) are added the same way: `hover_lines(usage_hover(health), plays_frame)`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from bokeh.core.properties import value as fixed
from bokeh.core.serialization import Serializer
from bokeh.models import (
    BasicTicker,
    CDSView,
    ColumnDataSource,
    CustomJS,
    CustomJSFilter,
    CustomJSTransform,
    GroupFilter,
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
    BAND_LABELS,
    BANDS,
    Guides,
    Thresholds,
    quadrant_guides,
    small_sample_note,
    small_sample_notes,
)

__all__ = [
    "BAND_COLORS",
    "DIRECTION_CODES",
    "EMPTY_TEXT",
    "FILTER_COLUMNS",
    "HOVER_LINE",
    "MAX_SIZE",
    "MIN_SIZE",
    "SOURCE_COLUMNS",
    "TRAIL_COLORS",
    "TRAIL_COLUMNS",
    "TRAIL_LABELS",
    "BubbleChart",
    "Crowding",
    "TextColumn",
    "band_legend_labels",
    "bubble_chart",
    "bubble_size",
    "bubble_source_data",
    "crowding",
    "draw_order",
    "drawn_size",
    "format_money",
    "hover_lines",
    "trail_source_data",
    "update_chart",
    "usage_figures",
    "usage_hover",
    "wire_texts",
    "xray_file_name",
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
# The live chart's band, NPS and response-rate hover lines, formatted in the browser from the numeric columns the
# chart sends anyway (issue 15: ~800 KB of text per filter change at 10k accounts). One formatter on `@band` (never
# NaN, so Bokeh always calls it), its format naming the line. Rounding is Python's `format(x, ".0f")` on the same
# double (half to even), as `_nps_texts` and `_rate_texts` round; only numbers and the fixed band labels reach the
# text. A source still carrying Python's texts (a summary without counts) shows those.
BROWSER_HOVER_JS = """
const d = source.data, i = special_vars.index;
if (format === "band") {
  return d.band_label ? d.band_label[i] : labels[value] !== undefined ? labels[value] : String(value);
}
function r(x) { return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x); }
function n(x) { return x.toLocaleString("en-US"); }
if (format === "nps") {
  if (d.nps_text) return d.nps_text[i];
  const x = d.nps[i];
  if (x !== x) return "no response";
  function s(v) { const w = r(v); return w < 0 ? "\\u2212" + (-w) : String(w === 0 ? 0 : w); }
  const k = d.small_sample[i] ? d.responses[i] : 0;
  const note = k <= 0 ? "" : k === 1 ? one : many.replace("{n}", String(k));
  return s(x) + " (" + s(d.nps_low[i]) + " to " + s(d.nps_high[i]) + ")" + (note ? ", " + note : "");
}
if (d.rate_text) return d.rate_text[i];
const p = d.response_rate[i];
return (p === p ? String(r(p * 100)) : "nan") + "% (" + n(d.responses[i]) + " of " + n(d.invitations[i]) + ")";
"""
BROWSER_TOOLTIPS = {"@rate_text": "@band{rate}", "@nps_text": "@band{nps}", "@band_label": "@band{band}"}
BROWSER_TEXTS = ("band_label", "rate_text", "nps_text")  # the columns `BROWSER_HOVER_JS` formats instead
# The live chart's per-account texts that no filter changes (names, extra hover lines) live in a second source,
# `BubbleChart.accounts`, sent once (new accounts are streamed); the drawn rows carry their row there, `acc`.
# Bokeh escapes a formatter's result as it escapes an `@field` value: customer text still shows as text.
STATIC_TEXTS = ("account_name", "account_manager")
ACCOUNT_TEXT_JS = "const c = accounts.data[format]; return c ? String(c[value]) : '';"
# The bubble filter behind the legend: a band whose legend entry is hidden (its key renderer) is not drawn.
BAND_FILTER_JS = """
const hidden = new Set();
keys.forEach(function (k, j) { if (!k.visible) hidden.add(bands[j]); });
if (!hidden.size) return null;
return Array.from(source.data.band, function (b) { return !hidden.has(b); });
"""
# Of the bubbles a click selected (all those under the pointer), the one drawn on top: the last row.
TOP_SELECTED_JS = "(source.selected.indices.length ? Math.max(...source.selected.indices) : null)"
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
# readable at every size (docs/decisions.md, "Readable at 300, 10k and 100k accounts")

CROWD = 500  # up to this many bubbles the chart draws them as it always did; past it they shrink and fade
SMALLEST_SCALE = 0.35  # the bubbles' diameter never shrinks below this share of MIN_SIZE..MAX_SIZE
SMALLEST_DIAMETER = 4.0  # px: a silent bubble stays visible and clickable however many accounts are drawn
CALM_ALPHA, FAINTEST_ALPHA, RISK_ALPHA, FAINTEST_RISK_ALPHA = 0.75, 0.15, 0.85, 0.45
KEY_RATES = (0.1, 0.5, 1.0)  # the response rates of the size key's reference circles


@dataclass(frozen=True)
class Crowding:
    """How the bubbles are drawn for `n` accounts: diameter scale and fill opacities (see `crowding`)."""

    n: int
    scale: float  # the bubbles' diameters are `bubble_size(rate) * scale`, at least SMALLEST_DIAMETER
    calm_alpha: float  # green and yellow bubbles
    risk_alpha: float  # red and gray bubbles: they stay strong, so the accounts at risk stand out of the crowd
    line_width: float  # the white rim (none past a few thousand bubbles: rims turn a crowd white)


def crowding(n: int) -> Crowding:
    """The drawing of `n` bubbles: as before up to CROWD, then smaller (area ~ 1/n) and fainter green and yellow.

    Overlapping faint bubbles add up, so a dense region reads darker: the bubbles are their own density layer.
    Red and gray stay strong (RISK_ALPHA) up to 20 x CROWD, then fade more slowly than the calm bands, so that a
    mass of red at 100k still shows its own density.
    """
    ratio = math.sqrt(CROWD / n) if n > CROWD else 1.0
    scale = max(SMALLEST_SCALE, ratio)
    calm = max(FAINTEST_ALPHA, CALM_ALPHA * ratio)
    risk = CALM_ALPHA if n <= CROWD else max(FAINTEST_RISK_ALPHA, RISK_ALPHA * min(1.0, math.sqrt(20 * CROWD / n)))
    return Crowding(
        n=n,
        scale=scale,
        calm_alpha=calm,
        risk_alpha=risk,
        line_width=1.0 if n <= 4 * CROWD else 0.0,
    )


def drawn_size(diameters: Any, scale: float) -> np.ndarray:
    """The diameters drawn at this crowding `scale` (what `SIZE_JS` computes in the browser)."""
    return np.maximum(SMALLEST_DIAMETER, np.asarray(diameters, dtype=float) * scale)


# The drawn diameter and the fill opacity, in the browser from the `size` and `band` columns and the chart's
# crowding (the transforms' args): a change of crowding sends two numbers, not a column.
SIZE_JS = "return xs.map(function (d) { return Math.max(smallest, d * scale); });"
ALPHA_JS = 'return xs.map(function (b) { return b === "red" || b === "gray" ? risk : calm; });'


def _size_key(width: int) -> tuple[Any, ColumnDataSource]:
    """A strip under the chart: what response rate a bubble's size means (reference circles 10%, 50%, 100%)."""
    from bokeh.models import Range1d

    key = figure(
        width=width,
        height=64,
        toolbar_location=None,
        tools="",
        x_range=Range1d(start=0, end=1),
        y_range=Range1d(start=0, end=1),
        min_border_left=10,
        outline_line_color=None,
        name="size_key",
    )
    key.axis.visible = False
    key.grid.visible = False
    xs = [0.36, 0.5, 0.66]
    source = ColumnDataSource(
        {
            "x": xs,
            "y": [0.5] * 3,
            "size": bubble_size(np.array(KEY_RATES)),
            "label_x": [x + 0.045 for x in xs],
            "label": [f"{r:.0%}" for r in KEY_RATES],
        }
    )
    key.scatter(x="x", y="y", size="size", source=source, fill_color="#bdbdbd", line_color="#616161", fill_alpha=0.6)
    key.text(x="label_x", y="y", text="label", source=source, text_baseline="middle", text_font_size="10pt")
    key.add_layout(
        Label(
            x=0.02,
            y=0.5,
            text="Bubble size: response rate",
            text_baseline="middle",
            text_font_size="10pt",
            text_color="#444444",
        )
    )
    return key, source


def _crowd(chart: BubbleChart, n: int) -> None:
    """Draw the chart's bubbles (and its size key) for `n` accounts (`crowding`)."""
    c = crowding(n)
    chart.size_transform.args = {"scale": c.scale, "smallest": SMALLEST_DIAMETER}
    chart.alpha_transform.args = {"calm": c.calm_alpha, "risk": c.risk_alpha}
    glyph: Any = chart.renderers[0].glyph
    glyph.line_width = c.line_width
    chart.size_key_source.data["size"] = drawn_size(bubble_size(np.array(KEY_RATES)), c.scale)


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


def _thousands(values: Any) -> np.ndarray:
    """Whole numbers with thousands separators ("1,234,500"; NaN gives ""), as an object array."""
    numbers = np.asarray(values, dtype=float)
    keys = numbers.tolist()
    if np.isnan(numbers).any():
        keys = [None if k != k else k for k in keys]
    return _VALUE_TEXT(keys)


def _signed(x: float) -> str:
    return f"{x:.0f}".replace("-", MINUS) if round(x) != 0 else "0"


# The hover texts are built from lookup tables of their whole-number parts, vectorised (a filter change at 10k
# accounts rebuilds them all): `np.rint` rounds half to even on the same double that Python's `format(x, ".0f")`
# rounds half to even, so the texts are the ones `_signed` and "{:.0%}" give (tests/test_redraw_cache.py checks).
_SIGNED = np.array([_signed(float(i)) for i in range(-200, 201)], dtype=object)  # NPS and interval ends
_PERCENT = np.array([f"{i}%" for i in range(101)], dtype=object)


def _whole(values: np.ndarray, low: int, high: int) -> np.ndarray:
    """Rounded whole numbers (half to even) as indexes, clipped to [low, high]; NaN gives `low`."""
    return np.clip(np.rint(np.nan_to_num(values, nan=low)), low, high).astype(np.int64)


class TextMemo:
    """Texts formatted once per distinct key and reused on every redraw (10k texts per filter change, live).

    Keyed by what the text is made of, so a text can never be stale; cleared past `LIMIT` keys.
    """

    LIMIT = 500_000

    def __init__(self, fmt: Callable[[Any], str]) -> None:
        self.fmt = fmt
        self.texts: dict[Any, str] = {}

    def __call__(self, keys: list[Any]) -> np.ndarray:
        """The text of each key, as an object array."""
        texts = self.texts
        try:
            found = [texts[k] for k in keys]
        except KeyError:
            if len(texts) > self.LIMIT:
                texts.clear()
            for k in set(keys).difference(texts):
                texts[k] = self.fmt(k)
            found = [texts[k] for k in keys]
        out = np.empty(len(found), dtype=object)
        out[:] = found
        return out


def _money_text(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


_VALUE_TEXT = TextMemo(_money_text)


def _counts_text(values: np.ndarray) -> np.ndarray:
    """Whole counts with thousands separators, as an object array (each distinct count formatted once)."""
    if not len(values):
        return np.array([], dtype=object)
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.array([f"{v:,}" for v in distinct.tolist()], dtype=object)[inverse]


_NOTE_SLOTS = 2**16  # the answers behind a small-sample note, in an `_nps_texts` key (0: no note)


def _nps_texts(frame: pd.DataFrame) -> np.ndarray:
    """The hover's NPS line per row: "−25 (−55 to 12)", the small-sample note when flagged, "no response"."""
    score, low, high = (frame[c].to_numpy(dtype=float) for c in ("nps", "nps_low", "nps_high"))
    if not len(score):
        return np.array([], dtype=object)
    defined = ~np.isnan(score)
    ends = np.stack([score, low, high])[:, defined]
    if not (np.all(np.isfinite(ends)) and np.all(np.abs(ends) <= 200)) or "responses" not in frame:
        return _nps_texts_one_by_one(frame)  # not from a summary (an interval end missing, a score off the scale)
    small = frame["small_sample"].to_numpy(dtype=bool) if "small_sample" in frame else np.zeros(len(score), bool)
    answers = np.clip(frame["responses"].fillna(0).to_numpy(dtype=np.int64), 0, _NOTE_SLOTS - 1)
    s, lo, hi = (_whole(x, -200, 200) + 200 for x in (score, low, high))  # 0..400 each: one whole-number key
    code = ((s * 401 + lo) * 401 + hi) * _NOTE_SLOTS + np.where(small, answers, 0)
    return _NPS_TEXT(np.where(defined, code, -1).tolist())


def _nps_text(code: int) -> str:
    """The NPS hover text of a `_nps_texts` key: score, interval ends (each + 200) and the small-sample answers."""
    if code < 0:
        return "no response"
    answers, code = code % _NOTE_SLOTS, code // _NOTE_SLOTS
    high, code = code % 401, code // 401
    low, score = code % 401, code // 401
    note = small_sample_note(answers, flagged=True)
    return f"{_SIGNED[score]} ({_SIGNED[low]} to {_SIGNED[high]})" + (f", {note}" if note else "")


_NPS_TEXT = TextMemo(_nps_text)


def _nps_texts_one_by_one(frame: pd.DataFrame) -> np.ndarray:
    cols = [frame[c].to_numpy(dtype=float).tolist() for c in ("nps", "nps_low", "nps_high")]
    small = frame["small_sample"].to_numpy(dtype=bool).tolist() if "small_sample" in frame else [False] * len(frame)
    notes = small_sample_notes(frame).tolist() if "responses" in frame else ["small sample"] * len(frame)
    texts = [
        "no response"
        if score != score
        else f"{_signed(score)} ({_signed(low)} to {_signed(high)})" + (f", {note}" if flag and note else "")
        for score, low, high, flag, note in zip(*cols, small, notes, strict=True)
    ]
    return np.array(texts, dtype=object)


def _rate_texts(frame: pd.DataFrame) -> np.ndarray:
    """The hover's response-rate line per row: "45% (9 of 20)" ("45%" without the counts)."""
    rate = frame["response_rate"].to_numpy(dtype=float)
    if not len(rate):
        return np.array([], dtype=object)
    out = None
    pct = _whole(rate * 100, 0, 100)  # "{:.0%}" formats rate * 100 with ".0f"
    if not np.all((rate >= 0) & (rate <= 1)):  # outside 0..100% (not from a summary): Python's own format
        out = np.array([f"{r:.0%}" for r in rate.tolist()], dtype=object)
    if "responses" in frame and "invitations" in frame:
        n = frame["responses"].to_numpy(dtype=np.int64)
        i = frame["invitations"].to_numpy(dtype=np.int64)
        if out is None and len(n) and min(n.min(), i.min()) >= 0 and max(n.max(), i.max()) < 2**21:
            return _RATE_TEXT(((pct * 2**21 + n) * 2**21 + i).tolist())  # one whole-number key per text
        out = (_PERCENT[pct] if out is None else out) + " (" + _counts_text(n) + " of " + _counts_text(i) + ")"
        return out
    return _PERCENT[pct] if out is None else out


def _rate_text(code: int) -> str:
    """The response-rate hover text of a `_rate_texts` key: the rounded percentage, responses and invitations."""
    return f"{code >> 42}% ({(code >> 21) % 2**21:,} of {code % 2**21:,})"


_RATE_TEXT = TextMemo(_rate_text)


class TextColumn(list):
    """A data source column of plain texts (str only) that Bokeh sends as the JSON list it is (see `wire_texts`)."""


Serializer.register(TextColumn, lambda column, _serializer: list(column))


def wire_texts(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each column of plain texts as a `TextColumn`: the same texts reach the browser, sent in one step.

    Bokeh encodes a list or an object array text by text (a reference lookup and type checks each): at 10k accounts
    that was most of a live redraw's kernel time (docs/live.md). Columns holding anything but str stay as they are.
    """
    out: dict[str, Any] = {}
    for key, column in data.items():
        plain = isinstance(column, list) or (isinstance(column, np.ndarray) and column.dtype == object)
        texts = column.tolist() if isinstance(column, np.ndarray) else column
        out[key] = TextColumn(texts) if plain and len(texts) and all(type(t) is str for t in texts) else column
    return out


def _log_floor(values: np.ndarray) -> float:
    positive = values[values > 0]
    return float(positive.min()) / 2 if len(positive) else 1.0


def _text_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as text, an object array ("" where missing or absent)."""
    if column not in frame:
        return np.full(len(frame), "", dtype=object)
    col = frame[column]
    if isinstance(col.dtype, pd.StringDtype):  # already text: only the missing values need filling
        return col.to_numpy(dtype=object, na_value="")
    return col.astype(object).fillna("").astype(str).to_numpy(dtype=object)


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
    summary: pd.DataFrame,
    *,
    thresholds: Thresholds | Mapping[str, float] | None = None,
    log_x: bool = False,
    extra_hover: HoverLinesLike = None,
    texts: bool = True,
) -> dict[str, Any]:
    """The chart's data source columns (`SOURCE_COLUMNS`, plus tier and region when present), one row per account.

    Rows are in drawing order (`draw_order`: green, yellow, red, gray, and within a band largest first, so the
    silent, red and small bubbles lie on top): find an account's row by its account_id, not by its position in
    the summary. Numbers stay numeric (numpy arrays, sent to the
    browser in binary); the hover texts are preformatted. `x` is the plotted value: on a log axis, values <= 0
    are drawn at half the smallest positive value, and the hover says so. `band_label` names the band with its
    thresholds (default: the summary's `attrs["thresholds"]`); the band itself is the summary's, never recomputed.
    `extra_hover` (see `hover_lines`) adds one text column per extra hover line, `hover_line_0`, `hover_line_1`, ...
    `texts=False` (the live chart, `BROWSER_HOVER_JS`): instead of `BROWSER_TEXTS`, the whole numbers they are made
    of, `responses`, `invitations` and `small_sample` (a summary without the counts keeps its texts).
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
        value_text = np.where(clipped, value_text + f" (drawn at {format_money(floor)} on the log axis)", value_text)
    bands = frame["band"].to_numpy(dtype=object)
    rate = frame["response_rate"].to_numpy(dtype=float)
    data: dict[str, Any] = {
        "account_id": _text_column(frame, "account_id"),
        "account_name": _text_column(frame, "account_name"),
        "account_manager": _text_column(frame, "account_manager"),
        "value": value,
        "x": x,
        "contacts_invited": frame["contacts_invited"].to_numpy(dtype=np.int64),
        "response_rate": rate,
        "nps": frame["nps"].to_numpy(dtype=float),
        "nps_low": frame["nps_low"].to_numpy(dtype=float),
        "nps_high": frame["nps_high"].to_numpy(dtype=float),
        "band": np.array([b if isinstance(b, str) else str(b) for b in bands.tolist()], dtype=object),
        "band_label": np.array([labels.get(b, b) for b in bands.tolist()], dtype=object),
        "size": bubble_size(rate),
        "value_text": value_text,
        "rate_text": _rate_texts(frame),
        "nps_text": _nps_texts(frame),
    }
    if not texts and "responses" in frame and "invitations" in frame:
        for column in BROWSER_TEXTS:
            del data[column]
        data["responses"] = frame["responses"].fillna(0).to_numpy(dtype=np.int32)
        data["invitations"] = frame["invitations"].fillna(0).to_numpy(dtype=np.int32)
        small = frame["small_sample"].fillna(False) if "small_sample" in frame else pd.Series(False, index=frame.index)
        data["small_sample"] = small.to_numpy(dtype=np.int8)
    for column in FILTER_COLUMNS:
        if column in frame:
            data[column] = _text_column(frame, column)
    lines = _normalised(extra_hover)
    if lines is not None:
        data.update(_hover_line_data(lines, data["account_id"]))
    # The draw order (one renderer draws its rows in order, later on top): bands green, yellow, red, gray, so the
    # silent and red accounts lie over the others, and within a band largest first, so small bubbles stay visible.
    # The hover shows the last row under the pointer and a click opens it: the bubble seen on top.
    order = draw_order(data["band"], data["size"])
    return {k: _take(v, order) for k, v in data.items()}


def draw_order(bands: Any, sizes: Any) -> np.ndarray:
    """The rows in drawing order: by band (`BANDS`: green, yellow, red, gray; others first), then largest first."""
    rank = {band: i for i, band in enumerate(BANDS)}
    ranks = np.array([rank.get(b, -1) for b in np.asarray(bands, dtype=object).tolist()], dtype=np.int64)
    return np.lexsort((-np.asarray(sizes, dtype=float), ranks))


def _take(values: Any, order: np.ndarray) -> Any:
    """Numbers stay numpy arrays (sent in binary); texts become lists."""
    values = np.asarray(values) if not isinstance(values, np.ndarray) else values
    return values[order].tolist() if values.dtype == object else values[order]


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
    keys = pd.Index(movement["account_id"].astype(str).to_numpy(dtype=object), dtype=object)
    if keys.is_unique:
        rows = keys.get_indexer(pd.Index(ids, dtype=object))
    else:  # an account's first row counts
        first = np.flatnonzero(~keys.duplicated())
        found_first = keys[first].get_indexer(pd.Index(ids, dtype=object))
        rows = np.where(found_first >= 0, first[found_first], -1)
    found = rows >= 0
    at = np.where(found, rows, 0)

    def column(name: str, missing: Any) -> np.ndarray:
        return np.where(found, movement[name].to_numpy()[at], missing)

    status = column("wave_status", None)
    both = (status == "both") | (status == "newly_silent")
    codes = _codes(column("direction", None), DIRECTION_CODES)
    codes = np.where(status == "newly_silent", DIRECTION_CODES["newly_silent"], codes)
    band_prev = _codes(column("band_prev", None), {b: i for i, b in enumerate(BANDS)})

    def whole(name: str) -> np.ndarray:  # whole points are all the hover shows; rounded values also compress better
        return np.round(column(name, np.nan).astype(float)).astype(np.float32)

    return {
        "footprint_prev": np.where(both, column("contacts_invited_prev", np.nan).astype(float), np.nan).astype(
            np.float32
        ),
        "trail": both.astype(np.int8),
        "direction": np.where(found, codes, -1).astype(np.int8),
        "moved": pd.Series(column("moved", False)).eq(True).to_numpy().astype(np.int8),
        "nps_change": whole("nps_change"),
        "nps_change_low": whole("nps_change_low"),
        "nps_change_high": whole("nps_change_high"),
        "band_prev": np.where(both, band_prev, -1).astype(np.int8),
    }


# --------------------------------------------------------------------------------------------------------------
# extra hover lines (usage health, open plays, ...)

HOVER_LINE = "hover_line_"  # the data source columns of the extra hover lines: hover_line_0, hover_line_1, ...
HoverLinesLike = pd.DataFrame | Mapping[str, pd.Series] | None


def hover_lines(*parts: HoverLinesLike) -> pd.DataFrame | None:
    """Extra hover lines per account, in the one form the chart takes; None when there is none.

    Each part is a DataFrame indexed by account_id whose columns are hover lines (the column name is the label shown
    before the colon, each value that account's text), or a mapping {label: Series indexed by account_id}, or None.
    Parts are joined on account_id in the order given; a label given twice keeps the first. The result is a frame
    indexed by account_id (as text) with one text column per line, "" where an account has no value (the line then
    shows its label only).

    Values are plain text, never HTML: the chart shows each through a `@field` tooltip, which Bokeh escapes, so
    customer text shows as text (DESIGN.md section 8) and markup shows literally (never use `{safe}` for them).
    Keep them short: a snapshot carries one text per account and line (see `report._hover_in_browser` for how the
    usage lines are sent as numbers instead). Usage: `bubble_chart(summary, extra_hover=hover_lines(usage_hover(
    health), plays))`; the live dashboard passes its lines once and `update_chart` looks them up on every redraw.
    """
    columns: dict[str, pd.Series] = {}
    for part in parts:
        if part is None:
            continue
        items = part.items() if isinstance(part, pd.DataFrame) else dict(part).items()
        for label, values in items:
            if str(label) in columns:
                continue
            series = pd.Series(values)
            series.index = series.index.astype(str)
            columns[str(label)] = series[~series.index.duplicated()]
    if not columns:
        return None
    frame = pd.concat(columns, axis=1, sort=False) if len(columns) > 1 else pd.DataFrame(columns)
    out = pd.DataFrame(
        {label: frame[label].astype(object).where(frame[label].notna(), "").astype(str) for label in columns},
        index=pd.Index(frame.index.astype(str).to_numpy(dtype=object), dtype=object, name="account_id"),
    )
    out.attrs["hover_lines"] = True  # normalised: hover_lines(out) returns it as it is
    return out


def _normalised(lines: HoverLinesLike) -> pd.DataFrame | None:
    if isinstance(lines, pd.DataFrame) and lines.attrs.get("hover_lines"):
        return lines
    return hover_lines(lines)


def _hover_line_data(lines: pd.DataFrame, account_ids: Any) -> dict[str, np.ndarray]:
    """The extra hover lines' data source columns for these bubbles, in the same order (object arrays)."""
    rows = lines.index.get_indexer(pd.Index(np.asarray(account_ids, dtype=object), dtype=object))
    found = rows >= 0
    out = {}
    for j, label in enumerate(lines.columns):
        values = lines[label].to_numpy(dtype=object)
        texts = np.full(len(account_ids), "", dtype=object)
        texts[found] = values[rows[found]]
        out[f"{HOVER_LINE}{j}"] = texts
    return out


def _hover_line_tooltips(lines: pd.DataFrame | None) -> list[tuple[str, str]]:
    return [] if lines is None else [(label, f"@{HOVER_LINE}{j}") for j, label in enumerate(lines.columns)]


def usage_hover(health: pd.DataFrame | None) -> pd.DataFrame | None:
    """The usage health hover lines of each account, from `health.health_summary` (None without one).

    Two lines: "Usage (28 days)": "12 of 40 seats active (30%), down 25% on the previous 28 days" (active users in
    the window, of the account's seats when known, and the change in active users against the window before, when
    it had any), and "Last active": "today", "yesterday", "3 days ago", "45 days ago (inactive)" or "never" (the
    inactive flag is the table's, `inactive_days` without an event). Percentages are rounded half up. Only numbers
    and fixed words: nothing to escape. `report._hover_in_browser` formats the same text in the browser
    (`USAGE_HOVER_JS`).
    """
    if health is None:
        return None
    figures = usage_figures(health)
    window = int(health.attrs.get("window_days", 28))
    usage, last = [], []
    for au, prev, seats, days, inactive in zip(
        *(figures[c].tolist() for c in ("active_users", "active_users_prev", "seats", "days")),
        health["inactive"].to_numpy(dtype=bool).tolist(),
        strict=True,
    ):
        text = f"{au:,} of {seats:,} seats active ({_half_up(au * 100 / seats)}%)" if seats > 0 else None
        text = text or f"{au:,} active user{'' if au == 1 else 's'}"
        if prev > 0:
            change = _half_up((au - prev) * 100 / prev)
            trend = f"up {change}%" if change > 0 else f"down {-change}%" if change < 0 else "no change"
            text += f", {trend} on the previous {window} days"
        usage.append(text)
        if days < 0:
            last.append("never")
        else:
            when = "today" if days == 0 else "yesterday" if days == 1 else f"{days:,} days ago"
            last.append(when + (" (inactive)" if inactive else ""))
    index = pd.Index(health["account_id"].astype(str).to_numpy(dtype=object), name="account_id")
    return hover_lines(pd.DataFrame({f"Usage ({window} days)": usage, "Last active": last}, index=index))


def usage_figures(health: pd.DataFrame) -> dict[str, np.ndarray]:
    """The whole numbers the usage hover lines are made of, per row of a health table (-1 where unknown).

    `active_users`, `active_users_prev`, `seats` (-1 when unknown) and `days` since the last event (-1: never).
    """
    seats = pd.to_numeric(health["seats"], errors="coerce") if "seats" in health else pd.Series(np.nan, health.index)
    days = pd.to_numeric(health["days_since_last_event"], errors="coerce")
    return {
        "active_users": health["active_users"].fillna(0).to_numpy(dtype=np.int64),
        "active_users_prev": health["active_users_prev"].fillna(0).to_numpy(dtype=np.int64),
        "seats": seats.astype(float).fillna(-1).to_numpy(dtype=np.int64),
        "days": days.astype(float).fillna(-1).to_numpy(dtype=np.int64),
    }


def _half_up(x: float) -> int:
    """Rounded half up, as the browser's Math.floor(x + 0.5) rounds the same double."""
    return math.floor(x + 0.5)


def _codes(values: np.ndarray, codes: Mapping[str, int]) -> np.ndarray:
    """Each value's code (-1 for a value not in `codes`: None, NaN, anything else)."""
    keys = pd.Index(list(codes), dtype=object)
    at = keys.get_indexer(pd.Index(np.asarray(values, dtype=object), dtype=object))
    return np.where(at >= 0, np.asarray(list(codes.values()))[at], -1)


MAX_XRAY_STEM = 200  # bytes of an X-Ray page's file name before ".html" (file systems allow 255)


def _xray_stem(account_id: str) -> str:
    """The URL-quoted id (no "/"); an id too long for a file name is cut and made unique by a hash of it."""
    import hashlib
    from urllib.parse import quote

    stem = quote(str(account_id), safe="")
    if len(stem) <= MAX_XRAY_STEM:
        return stem
    head = stem[:150]
    head = head[: head.rfind("%")] if "%" in head[-2:] else head  # never cut an escape in half
    return f"{head}-{hashlib.sha256(str(account_id).encode()).hexdigest()[:16]}"


def xray_file_name(pattern: str, account_id: str) -> str:
    """The X-Ray page's file for an account: `pattern` ("{account_id}.html") with the id URL-quoted (no "/").

    An id whose quoted form is longer than `MAX_XRAY_STEM` bytes is cut and suffixed with a hash of the whole id,
    so every account still gets its own page and no name is too long for the file system.
    """
    return pattern.format(account_id=_xray_stem(account_id))


def xray_link(pattern: str, account_id: str) -> str:
    """The href of an account's X-Ray page: its file name (`xray_file_name`) quoted once more.

    A browser percent-decodes an href before it opens the file, so the link must encode the file name itself:
    the page of "A1<b>" is stored as A1%3Cb%3E.html and linked as A1%253Cb%253E.html. Plain ids are unchanged.
    """
    from urllib.parse import quote

    return pattern.format(account_id=quote(_xray_stem(account_id), safe=""))


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


def _value_label(label: str, currency: str | None) -> str:
    """The label with its currency, "Account value (USD)"; the label alone without a currency."""
    return f"{label} ({currency})" if currency else label


def _tooltips(
    movement: bool, lines: pd.DataFrame | None, currency: str | None = None, browser: bool = False
) -> list[tuple[str, str]]:
    change = [("NPS change", "@direction{custom}")] if movement else []
    base = [(_value_label(name, currency), spec) if spec == "@value_text" else (name, spec) for name, spec in TOOLTIPS]
    extra = _hover_line_tooltips(lines)
    if browser:  # texts formatted in the browser, static texts read from the `accounts` source
        static = {f"@{k}": f"@acc{{{k}}}" for k in STATIC_TEXTS} | {spec: f"@acc{{{spec[1:]}}}" for _, spec in extra}
        base = [(name, BROWSER_TOOLTIPS.get(spec, static.get(spec, spec))) for name, spec in base]
        extra = [(name, static[spec]) for name, spec in extra]
    return [*base, *change, *extra]


def _account_texts(accounts: ColumnDataSource | None) -> Any:
    """The formatter of the hover lines read from the static per-account source (see `ACCOUNT_TEXT_JS`)."""
    from bokeh.models import CustomJSHover

    return CustomJSHover(args={"accounts": accounts}, code=ACCOUNT_TEXT_JS)


def _static_split(
    accounts: ColumnDataSource, rows: dict[str, int], data: dict[str, Any], renew: bool
) -> dict[str, Any]:
    """`data` without its static per-account texts, which `accounts` holds once (plus an `acc` row number).

    Accounts not yet in `accounts` are streamed to it (only their rows travel); `renew` (new hover lines) sends it
    whole again.
    """
    columns = [k for k in data if k in STATIC_TEXTS or k.startswith(HOVER_LINE)]
    ids = [str(a) for a in data["account_id"]]
    if renew or set(columns) != set(accounts.data):
        rows.clear()
        for a in ids:
            rows.setdefault(a, len(rows))
        at = {a: j for j, a in enumerate(ids)}
        accounts.data = wire_texts({k: [data[k][at[a]] for a in rows] for k in columns})
    else:
        new = {a: j for j, a in enumerate(ids) if a not in rows}
        if new:
            for a in new:
                rows[a] = len(rows)
            accounts.stream({k: [data[k][j] for j in new.values()] for k in columns})
    out = {k: v for k, v in data.items() if k not in columns}
    out["acc"] = np.array([rows[a] for a in ids], dtype=np.int32)
    return out


def _change_hover(source: ColumnDataSource) -> Any:
    """The formatter of the hover's "NPS change" line (see `CHANGE_HOVER_JS`)."""
    from bokeh.models import CustomJSHover

    labels = json.dumps([BAND_LABELS[b] for b in BANDS])
    code = CHANGE_HOVER_JS.replace("__BANDS__", json.dumps(list(BANDS))).replace("__LABELS__", labels)
    return CustomJSHover(args={"source": source}, code=code)


def _browser_hover(source: ColumnDataSource, labels: Mapping[str, str]) -> Any:
    """The formatter of the hover's band, NPS and response-rate lines (see `BROWSER_HOVER_JS`)."""
    from bokeh.models import CustomJSHover

    one = small_sample_note(1, flagged=True)
    many = small_sample_note(2, flagged=True).replace("2 answers", "{n} answers", 1)
    args = {"source": source, "labels": dict(labels), "one": one, "many": many}
    return CustomJSHover(args=args, code=BROWSER_HOVER_JS)


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
    extra_hover: HoverLinesLike = None,
) -> BubbleChart:
    """Show another summary on the same figure: replace the data in place, move the guides, clear the selection.

    For the live dashboard: no model is created, so a filter change costs one data message to the browser.
    A chart built with a movement layer takes the new `movement` too (None: no trail for this summary).
    The extra hover lines the chart was built with are looked up for the new accounts; `extra_hover` replaces them.
    """
    if extra_hover is not None:
        object.__setattr__(chart, "extra_hover", _normalised(extra_hover))
        if chart.hover is not None:
            browser = chart.browser_hover is not None
            chart.hover.tooltips = _tooltips(bool(chart.trails), chart.extra_hover, chart.currency, browser)
    data = bubble_source_data(
        summary, log_x=chart.log_x, extra_hover=chart.extra_hover, texts=chart.browser_hover is None
    )
    if chart.xray_href is not None:
        data["xray_href"] = [xray_link(chart.xray_href, a) for a in data["account_id"]]
    if chart.trails:
        data.update(trail_source_data(data["account_id"], movement))
        if chart.trail_legend is not None:
            chart.trail_legend.title = _trail_title(movement)
    if chart.accounts is not None and chart.account_rows is not None:
        data = _static_split(chart.accounts, chart.account_rows, data, extra_hover is not None)
    chart.source.selected.indices = []
    chart.source.data = wire_texts(data)
    _crowd(chart, len(data["account_id"]))
    labels = band_legend_labels(summary.attrs.get("thresholds"))
    if chart.browser_hover is not None and chart.browser_hover.args["labels"] != labels:
        chart.browser_hover.args = {**chart.browser_hover.args, "labels": labels}
    items: list[Any] = list(chart.legend.items)
    for band, item in zip(BANDS, items, strict=True):
        item.label = fixed(labels[band])  # a bare string would be read as a field name
    _place(chart, data, guides if guides is not None else quadrant_guides(summary))
    return chart
