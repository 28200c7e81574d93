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

The package re-exports the public names of its modules, one concern each:
`style` (palette, bubble sizes, crowding, size key, legend labels), `texts` (hover texts made in Python,
`TextMemo`, `TextColumn` and `wire_texts`; importing it registers `TextColumn` with Bokeh's serializer),
`extra_hover` (extra and usage hover lines), `tooltips` (the hover tool's lines, those formatted in the browser
and the static per-account texts), `source` (the bubbles' data source), `trails` (wave over wave),
`xray_links` (X-Ray file names and links), `figure` (`bubble_chart`, `BubbleChart`) and `update` (`update_chart`).
"""

from __future__ import annotations

from heatmap_lib.views.chart.extra_hover import HOVER_LINE, hover_lines, usage_figures, usage_hover
from heatmap_lib.views.chart.figure import TOP_SELECTED_JS, BubbleChart, bubble_chart
from heatmap_lib.views.chart.source import FILTER_COLUMNS, SOURCE_COLUMNS, bubble_source_data, draw_order
from heatmap_lib.views.chart.style import (
    BAND_COLORS,
    EMPTY_TEXT,
    MAX_SIZE,
    MIN_SIZE,
    SMALLEST_DIAMETER,
    SMALLEST_SCALE,
    Crowding,
    band_legend_labels,
    bubble_size,
    crowding,
    drawn_size,
    format_money,
)
from heatmap_lib.views.chart.texts import TextColumn, TextMemo, wire_texts
from heatmap_lib.views.chart.tooltips import BROWSER_TEXTS, BROWSER_TOOLTIPS, TOOLTIPS
from heatmap_lib.views.chart.trails import (
    DIRECTION_CODES,
    TRAIL_COLORS,
    TRAIL_COLUMNS,
    TRAIL_LABELS,
    trail_source_data,
)
from heatmap_lib.views.chart.update import update_chart
from heatmap_lib.views.chart.xray_links import xray_file_name, xray_link

# the names the module had, plus those other modules and tests import from it (BROWSER_TEXTS, BROWSER_TOOLTIPS,
# SMALLEST_DIAMETER, SMALLEST_SCALE, TOOLTIPS, TOP_SELECTED_JS, TextMemo)
__all__ = [
    "BAND_COLORS",
    "BROWSER_TEXTS",
    "BROWSER_TOOLTIPS",
    "DIRECTION_CODES",
    "EMPTY_TEXT",
    "FILTER_COLUMNS",
    "HOVER_LINE",
    "MAX_SIZE",
    "MIN_SIZE",
    "SMALLEST_DIAMETER",
    "SMALLEST_SCALE",
    "SOURCE_COLUMNS",
    "TOOLTIPS",
    "TOP_SELECTED_JS",
    "TRAIL_COLORS",
    "TRAIL_COLUMNS",
    "TRAIL_LABELS",
    "BubbleChart",
    "Crowding",
    "TextColumn",
    "TextMemo",
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
