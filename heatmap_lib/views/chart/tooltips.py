"""The bubble hover tool's tooltips, the hover lines formatted in the browser, and the static per-account texts.

`TOOLTIPS` are the default lines (each `@field` escaped by Bokeh). The live chart formats its band, NPS and
response-rate lines in the browser (`BROWSER_HOVER_JS`, `_browser_hover`) and keeps the texts no filter changes
(names, extra hover lines) in a second source sent once (`STATIC_TEXTS`, `_static_split`, `ACCOUNT_TEXT_JS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource

from heatmap_lib.metrics.summary import small_sample_note
from heatmap_lib.views.chart.extra_hover import HOVER_LINE, _hover_line_tooltips
from heatmap_lib.views.chart.texts import wire_texts

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
TOOLTIPS = [
    ("Account", "@account_name"),
    ("Account manager", "@account_manager"),
    ("Value", "@value_text"),
    ("Contacts invited", "@contacts_invited"),
    ("Response rate", "@rate_text"),
    ("NPS", "@nps_text"),
    ("Band", "@band_label"),
]


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


def _browser_hover(source: ColumnDataSource, labels: Mapping[str, str]) -> Any:
    """The formatter of the hover's band, NPS and response-rate lines (see `BROWSER_HOVER_JS`)."""
    from bokeh.models import CustomJSHover

    one = small_sample_note(1, flagged=True)
    many = small_sample_note(2, flagged=True).replace("2 answers", "{n} answers", 1)
    args = {"source": source, "labels": dict(labels), "one": one, "many": many}
    return CustomJSHover(args=args, code=BROWSER_HOVER_JS)
