"""Wave over wave on the bubble chart: the trail columns, their hover line, the trail layer and its legend.

`trail_source_data` gives each bubble the compared wave's footprint and the NPS change as compact codes
(`TRAIL_COLUMNS`, `DIRECTION_CODES`); `_trail_layer` draws the trails under the bubbles, coloured by direction
(`TRAIL_COLORS`), with their legend (`TRAIL_LABELS`); `CHANGE_HOVER_JS` formats the "NPS change" line in the browser.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from bokeh.core.properties import value as fixed
from bokeh.models import CDSView, ColumnDataSource, GroupFilter
from bokeh.models.annotations import Legend, LegendItem

from heatmap_lib.metrics.summary import BAND_LABELS, BANDS
from heatmap_lib.views.chart.style import BAND_COLORS

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


def _codes(values: np.ndarray, codes: Mapping[str, int]) -> np.ndarray:
    """Each value's code (-1 for a value not in `codes`: None, NaN, anything else)."""
    keys = pd.Index(list(codes), dtype=object)
    at = keys.get_indexer(pd.Index(np.asarray(values, dtype=object), dtype=object))
    return np.where(at >= 0, np.asarray(list(codes.values()))[at], -1)


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
