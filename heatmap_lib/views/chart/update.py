"""The live update of a built bubble chart: `update_chart` shows another summary on the same figure.

It swaps the data in place, moves the guides and clears the selection, so a filter change in the live dashboard
costs one data message to the browser and no new model.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from bokeh.core.properties import value as fixed

from heatmap_lib.metrics.summary import BANDS, Guides, quadrant_guides
from heatmap_lib.views.chart.extra_hover import HoverLinesLike, _normalised
from heatmap_lib.views.chart.figure import BubbleChart, _crowd, _place
from heatmap_lib.views.chart.source import bubble_source_data
from heatmap_lib.views.chart.style import band_legend_labels
from heatmap_lib.views.chart.texts import wire_texts
from heatmap_lib.views.chart.tooltips import _static_split, _tooltips
from heatmap_lib.views.chart.trails import _trail_title, trail_source_data
from heatmap_lib.views.chart.xray_links import xray_link


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
