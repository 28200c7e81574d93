"""The renewal views (DESIGN.md section 6): pure Bokeh builders and escaped HTML tables; they never call show().

A table in, a figure out: the segment x renewal-month grid coloured by value at risk (`renewal_grid`), the
risk-versus-opportunity quadrant chart (`quadrant_chart`), a contribution waterfall (`waterfall_chart`, also for the
X-Ray), and HTML with customer text escaped (`html_table`, `validation_html`). The tables come from
`metrics.renewal`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from heatmap_lib.metrics.renewal.tables import QUADRANTS, risk_quadrants
from heatmap_lib.metrics.renewal.validation import validation_report

QUADRANT_COLORS: dict[str, str] = {"Rescue": "#d62728", "Protect": "#ff7f0e", "Grow": "#2ca02c", "Maintain": "#9e9e9e"}
QUADRANT_ABOUT: dict[str, str] = {
    "Rescue": "high risk, low opportunity",
    "Protect": "high risk, high opportunity",
    "Grow": "low risk, high opportunity",
    "Maintain": "low risk, low opportunity",
}


def _isna(x: Any) -> bool:
    """Whether a cell is missing (None, NaN, NaT); False for values pandas cannot test (lists, objects)."""
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def html_table(frame: pd.DataFrame, columns: Mapping[str, str], *, max_rows: int | None = None) -> str:
    """A plain HTML table of some columns (key -> header), numbers formatted, every cell escaped."""
    df = frame[[c for c in columns if c in frame]].copy()
    if max_rows is not None:
        df = df.head(max_rows)
    for c in df.columns:
        if c in ("value", "value_at_risk"):
            df[c] = [_money(v) for v in df[c]]
        elif c in ("risk", "opportunity", "nps", "mean_risk"):
            df[c] = ["" if _isna(v) else f"{float(v):.0f}" for v in df[c]]
        elif pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].dt.strftime("%Y-%m-%d").fillna("")
        else:
            df[c] = df[c].astype(object).where(df[c].notna(), "")
    df = df.rename(columns=dict(columns))
    return df.to_html(index=False, escape=True, border=0, classes="hm-table")


def _money(x: Any) -> str:
    return "" if x is None or _isna(x) else f"{float(x):,.0f}"


GRID_PALETTE: tuple[str, ...] = (
    "#fff5f0",
    "#fee0d2",
    "#fcbba1",
    "#fc9272",
    "#fb6a4a",
    "#ef3b2c",
    "#cb181d",
    "#a50f15",
    "#67000d",
)


def renewal_grid(grid: pd.DataFrame, *, title: str = "Value at risk by renewal month") -> Any:
    """The segment x renewal-month grid (`renewal_grid_table`): colour and second line = value at risk.

    Each cell shows how many accounts renew that month and their value at risk; the hover adds their value.
    """
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper, NumeralTickFormatter
    from bokeh.models.annotations import ColorBar, Title
    from bokeh.plotting import figure

    months = list(grid.attrs.get("months") or dict.fromkeys(grid["month"]))
    segments = list(grid.attrs.get("segments") or dict.fromkeys(grid["segment"]))
    data: dict[str, Any] = {
        "segment": grid["segment"].astype(str).tolist(),
        "month": grid["month"].astype(str).tolist(),
        "accounts": grid["accounts"].astype(int).tolist(),
        "value_at_risk": grid["value_at_risk"].astype(float).tolist(),
        "value_text": [_money(v) for v in grid["value"]],
        "var_text": [_money(v) for v in grid["value_at_risk"]],
        "risk_text": ["" if _isna(v) else f"{v:.0f}" for v in grid["mean_risk"]],
    }
    data["cell_text"] = [
        f"{n} acct{'s' * (n != 1)}\n{_short_money(v)}" if n else ""
        for n, v in zip(data["accounts"], data["value_at_risk"], strict=True)
    ]
    high = max([v for v in data["value_at_risk"] if v == v] + [1.0])
    data["text_colour"] = ["#ffffff" if v > 0.55 * high else "#1f2933" for v in data["value_at_risk"]]
    src = ColumnDataSource(data)
    mapper = LinearColorMapper(palette=list(GRID_PALETTE), low=0.0, high=high)
    fig = figure(
        title=title,
        x_range=FactorRange(factors=months),
        y_range=FactorRange(factors=list(reversed(segments))),
        width=max(560, 66 * len(months) + 230),
        height=max(220, 56 * len(segments) + 120),
        toolbar_location="right",
        tools="save",
        x_axis_location="above",
    )
    cells = fig.rect(
        x="month",
        y="segment",
        width=0.96,
        height=0.92,
        source=src,
        fill_color={"field": "value_at_risk", "transform": mapper},
        line_color="#d9e2ec",
    )
    fig.text(
        x="month",
        y="segment",
        text="cell_text",
        source=src,
        text_align="center",
        text_baseline="middle",
        text_font_size="8pt",
        text_color="text_colour",
    )
    tooltips = [
        ("Segment", "@segment"),
        ("Renewal month", "@month"),
        ("Accounts", "@accounts"),
        ("Value", "@value_text"),
        ("Value at risk", "@var_text"),
        ("Mean risk", "@risk_text"),
    ]
    partial = dict(grid.attrs.get("partial_months") or {})
    if partial:  # the partial first month: a dashed outline and its axis label saying from when it counts
        part = grid[grid["month"].astype(str).isin(list(partial))]
        fig.rect(
            x=part["month"].astype(str).tolist(),
            y=part["segment"].astype(str).tolist(),
            width=0.96,
            height=0.92,
            fill_alpha=0,
            line_color="#1f2933",
            line_dash="dashed",
            line_width=1.5,
            name="partial-months",
        )
        fig.xaxis.major_label_overrides = {m: f"{m} (partial)" for m in partial}
    if grid.attrs.get("window_note"):
        fig.add_layout(
            Title(text=str(grid.attrs["window_note"]), text_font_style="italic", text_font_size="10px"), "above"
        )
    fig.add_tools(HoverTool(renderers=[cells], tooltips=tooltips))
    bar = ColorBar(color_mapper=mapper, title="Value at risk", formatter=NumeralTickFormatter(format="0.[0]a"))
    fig.add_layout(bar, "right")
    fig.grid.grid_line_color = None
    fig.axis.axis_line_color = None
    fig.axis.major_tick_line_color = None
    fig.xaxis.major_label_orientation = 0.8
    return fig


def _short_money(x: float) -> str:
    v = float(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{suffix}"
    return f"{v:.0f}"


def quadrant_chart(scores: pd.DataFrame, *, title: str = "Renewal risk versus opportunity") -> Any:
    """Risk (x) against opportunity (y), one circle per account sized by value, coloured by quadrant."""
    from bokeh.models import ColumnDataSource, DataRange1d, HoverTool
    from bokeh.models.annotations import Label, Span
    from bokeh.plotting import figure

    quad, r_mid, o_mid = risk_quadrants(scores)
    value = scores["value"].to_numpy(dtype=float) if len(scores) else np.zeros(0)
    top = np.nanmax(value) if len(value) and np.isfinite(value).any() else 1.0
    size = 6.0 + 34.0 * np.sqrt(np.clip(np.nan_to_num(value), 0, None) / max(top, 1.0))
    fig = figure(
        title=title,
        width=820,
        height=560,
        x_axis_label="Risk (probability of churn at renewal, %)",
        y_axis_label="Opportunity (probability of expansion, %)",
        x_range=DataRange1d(start=0),
        y_range=DataRange1d(start=0),
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    renderers: list[Any] = []
    for q in QUADRANTS:
        mask = (quad == q).to_numpy()
        part = scores[mask]
        src = ColumnDataSource(
            {
                "account_id": part["account_id"].astype(str).tolist(),
                "account_name": part.get("account_name", part["account_id"]).astype(str).tolist(),
                "segment": part["segment"].astype(object).where(part["segment"].notna(), "").astype(str).tolist(),
                "risk": part["risk"].astype(float).tolist(),
                "opportunity": part["opportunity"].astype(float).tolist(),
                "size": size[mask].tolist(),
                "value_text": [_money(v) for v in part["value"]],
                "risk_text": [f"{v:.0f}" for v in part["risk"]],
                "opportunity_text": [f"{v:.0f}" for v in part["opportunity"]],
                "renewal_text": part["next_renewal"].dt.strftime("%Y-%m-%d").fillna("no date").tolist(),
            }
        )
        r = fig.scatter(
            "risk",
            "opportunity",
            size="size",
            source=src,
            fill_color=QUADRANT_COLORS[q],
            fill_alpha=0.55,
            line_color=QUADRANT_COLORS[q],
            legend_label=f"{q}: {QUADRANT_ABOUT[q]} ({int(mask.sum())})",
        )
        renderers.append(r)
    fig.add_tools(
        HoverTool(
            renderers=renderers,
            tooltips=[
                ("Account", "@account_name"),
                ("Segment", "@segment"),
                ("Value", "@value_text"),
                ("Risk", "@risk_text"),
                ("Opportunity", "@opportunity_text"),
                ("Next renewal", "@renewal_text"),
            ],
        )
    )
    fig.add_layout(Span(location=r_mid, dimension="height", line_dash="dashed", line_color="#7b8794"))
    fig.add_layout(Span(location=o_mid, dimension="width", line_dash="dashed", line_color="#7b8794"))
    fig.add_layout(
        Label(x=r_mid, y=o_mid, text=" historical churn / expansion rates", text_font_size="8pt", text_color="#7b8794")
    )
    fig.legend.location = "top_right"
    fig.legend.click_policy = "hide"
    return fig


def waterfall_chart(steps: pd.DataFrame, *, title: str | None = None) -> Any:
    """A contribution waterfall (`account_contributions`): base, each signal's push up or down, the total.

    Bars run on the log-odds scale: red raises the score, green lowers it, gray is the base and the total.
    Reusable by the X-Ray: it reads only `label`, `step`, `start`, `end`, `value_text` and `contribution_text`.
    """
    from bokeh.models import ColumnDataSource, FactorRange, HoverTool
    from bokeh.models.annotations import Span
    from bokeh.plotting import figure

    labels = steps["label"].astype(str).tolist()
    colours = []
    for step, c in zip(steps["step"], steps["contribution"], strict=True):
        colours.append("#9aa5b1" if step != "signal" else ("#d62728" if c > 0 else "#2ca02c"))
    src = ColumnDataSource(
        {
            "label": labels,
            "left": np.minimum(steps["start"], steps["end"]).astype(float).tolist(),
            "right": np.maximum(steps["start"], steps["end"]).astype(float).tolist(),
            "colour": colours,
            "value_text": steps["value_text"].astype(str).tolist(),
            "contribution_text": steps["contribution_text"].astype(str).tolist(),
        }
    )
    kind = steps.attrs.get("kind", "risk")
    name = steps.attrs.get("account_name", "")
    fig = figure(
        title=title or f"Why {name} scores {steps.attrs.get('score', float('nan')):.0f} on {kind}",
        y_range=FactorRange(factors=list(reversed(labels))),
        width=820,
        height=max(260, 26 * len(labels) + 90),
        x_axis_label="Contribution to the log-odds (right raises the score)",
        tools="save",
    )
    r = fig.hbar(y="label", left="left", right="right", height=0.7, source=src, fill_color="colour", line_color=None)
    fig.add_tools(
        HoverTool(
            renderers=[r],
            tooltips=[("Signal", "@label"), ("Value", "@value_text"), ("Contribution", "@contribution_text")],
        )
    )
    fig.add_layout(Span(location=0, dimension="height", line_color="#52606d", line_width=1))
    fig.ygrid.grid_line_color = None
    return fig


def validation_html(validation: Mapping[str, Any] | None) -> str:
    """`validation_report` as escaped HTML: the lines as paragraphs and the calibration as a table."""
    v = validation or {}
    lines = [line for line in validation_report(v) if not line.startswith("  ")]
    table = v.get("calibration") or []
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines if not line.startswith("Calibration on"))
    if table:
        rows = "".join(
            f"<tr><td>{int(r['decile'])}</td><td>{int(r['n']):,}</td><td>{float(r['predicted']):.1%}</td>"
            f"<td>{float(r['observed']):.1%}</td></tr>"
            for r in table
        )
        body += (
            "<table><thead><tr><th>Decile of predicted churn</th><th>Renewals held out</th><th>Predicted</th>"
            f"<th>Observed</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return body
