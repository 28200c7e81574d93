"""The bubble chart's look: the band palette, bubble sizes, crowding, the size key and the legend labels.

`BAND_COLORS` is the fixed palette of the NPS bands, `bubble_size` the diameter a response rate gives (area grows
with the rate, `MIN_SIZE` for a silent account). Past `CROWD` accounts the bubbles shrink and the green and yellow
ones fade (`crowding`, `drawn_size`; `SIZE_JS` and `ALPHA_JS` do the same in the browser), and the size key under
the figure (`_size_key`) says what a bubble's size means. `band_legend_labels` names each band with its thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource
from bokeh.models.annotations import Label
from bokeh.plotting import figure

from heatmap_lib.metrics.summary import BAND_LABELS, Thresholds

BAND_COLORS: dict[str, str] = {"green": "#2ca02c", "yellow": "#f2c12e", "red": "#d62728", "gray": "#9e9e9e"}
MIN_SIZE = 8.0  # px: the diameter of a silent (0%) account's bubble, still visible and clickable
MAX_SIZE = 40.0  # px: the diameter at a 100% response rate
EMPTY_TEXT = "No surveyed accounts in scope"
MINUS = "\u2212"  # typographic minus for hover text
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


def bubble_size(response_rate: Any) -> np.ndarray:
    """Bubble diameters in screen pixels: area = minimum area + rate x (maximum area - minimum area).

    Strictly increasing in the response rate, `MIN_SIZE` at 0% (silent accounts stay visible), `MAX_SIZE` at 100%.
    """
    rate = np.clip(np.nan_to_num(np.asarray(response_rate, dtype=float), nan=0.0), 0.0, 1.0)
    return np.sqrt(MIN_SIZE**2 + rate * (MAX_SIZE**2 - MIN_SIZE**2))


def format_money(value: float) -> str:
    """An account value as a whole number with thousands separators ("1,234,500"); "" when missing."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f}"


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
