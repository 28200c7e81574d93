"""Time-series charts that mark partial periods (issue 18): a pure Bokeh builder, a table in, a figure out.

Complete periods are drawn as solid lines with filled markers; a partial period (`complete` False, from
`periods.period_completeness`) as a dashed segment to a hollow marker, so a short last week never reads as a
drop. The window and what was done with the partial periods (`periods.describe_window`) are stated on the chart,
under its title.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.models.annotations import Title  # (the submodule: visible to type checkers)
from bokeh.palettes import Category10
from bokeh.plotting import figure

PARTIAL_DASH = "dashed"


def series_chart(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    group: str,
    title: str,
    note: str = "",
    y_label: str = "",
    unit: str = "period",
    top: int = 8,
    width: int = 900,
    height: int = 340,
) -> Any:
    """One line per group (the `top` largest by total `y`), partial periods dashed and hollow, the window noted.

    frame: long format with columns `x` (dates), `y`, `group` and optionally `complete` (bool, default all
    complete) and `days_covered`. note: the window sentence shown under the title (escaped by Bokeh: plain
    text). Returns the figure; its renderers named `solid-<group>` and `partial-<group>`.
    """
    fig = figure(title=title, x_axis_type="datetime", height=height, width=width, tools="pan,wheel_zoom,reset,save")
    if note:
        fig.add_layout(Title(text=note, text_font_style="italic", text_font_size="11px"), "above")
    complete = frame["complete"] if "complete" in frame else pd.Series(True, index=frame.index)
    days = frame["days_covered"] if "days_covered" in frame else pd.Series(pd.NA, index=frame.index)
    data = frame.assign(_complete=complete.astype(bool), _days=days)
    totals = data.groupby(group)[y].sum().sort_values(ascending=False, kind="stable")
    hovered: list[Any] = []
    for colour, name in zip(Category10[10], totals.index[:top], strict=False):
        part = data[data[group] == name].sort_values(x)
        label = str(name)
        status = [
            "complete" if ok else f"partial {unit}" + (f": {int(d)} days of data" if pd.notna(d) else "")
            for ok, d in zip(part["_complete"], part["_days"], strict=True)
        ]
        src = {"x": part[x].tolist(), "y": part[y].tolist(), "group": [label] * len(part), "status": status}
        whole = part["_complete"].to_numpy()
        solid = ColumnDataSource({k: [v for v, ok in zip(vals, whole, strict=True) if ok] for k, vals in src.items()})
        fig.line("x", "y", source=solid, color=colour, line_width=2, legend_label=label, name=f"solid-{label}")
        hovered.append(fig.scatter("x", "y", source=solid, color=colour, size=6, legend_label=label))
        xs, ys = [], []
        positions = list(range(len(part)))
        for i in positions:
            if whole[i]:
                continue
            before = [j for j in positions[:i] if whole[j]]
            after = [j for j in positions[i + 1 :] if whole[j]]
            near = before[-1] if before else after[0] if after else None
            xs.append([src["x"][near], src["x"][i]] if near is not None else [src["x"][i]])
            ys.append([src["y"][near], src["y"][i]] if near is not None else [src["y"][i]])
        if xs:
            fig.multi_line(
                xs, ys, color=colour, line_width=2, line_dash=PARTIAL_DASH, legend_label=label, name=f"partial-{label}"
            )
            hollow = ColumnDataSource(
                {k: [v for v, ok in zip(vals, whole, strict=True) if not ok] for k, vals in src.items()}
            )
            hovered.append(
                fig.scatter("x", "y", source=hollow, line_color=colour, fill_color="white", size=8, legend_label=label)
            )
    fig.add_tools(
        HoverTool(
            renderers=hovered,
            tooltips=[("", "@group"), (unit, "@x{%F}"), (y_label or y, "@y"), ("", "@status")],
            formatters={"@x": "datetime"},
        )
    )
    fig.yaxis.axis_label = y_label or y
    if fig.legend:
        fig.legend.click_policy = "hide"
        fig.add_layout(fig.legend[0], "right")
    fig.toolbar.logo = None
    return fig
