"""The heat map's account table and not-surveyed list (DESIGN.md section 6): pure builders of Bokeh DataTables.

Customer text is untrusted (DESIGN.md section 8). Plain text columns use `StringFormatter`, which sets the cell's
text, never its HTML. The two HTML columns are built from values escaped here in Python: the account name
(`html.escape`) and its X-Ray link (the account_id URL-quoted, then escaped as an attribute), interpolated by the
template as they are; and the band, whose colour and label come from fixed sets and are escaped again by the
template's `<%- %>`. Sorting works on the client (click a header; shift-click adds a column), by case-folded
account name for the account column and in the fixed band order (green, yellow, red, gray) for the band column.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource
from bokeh.models.widgets.tables import (  # (the submodule: visible to type checkers)
    DataTable,
    HTMLTemplateFormatter,
    NumberFormatter,
    StringFormatter,
    TableColumn,
)

from .chart import BAND_COLORS, xray_link
from .metrics import BAND_LABELS, BANDS

__all__ = [
    "ROLE_COLUMNS",
    "AccountTable",
    "account_table",
    "account_table_data",
    "not_surveyed_data",
    "not_surveyed_table",
    "update_not_surveyed",
    "update_table",
]

ROLE_COLUMNS: dict[str, str] = {
    "nps_decision_maker": "NPS decision makers",
    "nps_influencer": "NPS influencers",
    "nps_day_to_day": "NPS day-to-day",
}
DASH = "\u2014"
NAME_TEMPLATE = "<%= name_html %>"  # name_html is escaped in Python (see `_name_html`)
BAND_TEMPLATE = (
    '<span style="display:inline-block;width:0.8em;height:0.8em;border-radius:50%;vertical-align:-0.05em;'
    'margin-right:0.4em;background:<%- band_color %>"></span><%- band_label %>'
)


def _text(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame:
        return [""] * len(frame)
    return frame[column].astype(object).fillna("").astype(str).tolist()


def _escape(values: list[str]) -> pd.Series:
    """html.escape(quote=True), vectorised over a column."""
    s = pd.Series(values, dtype=object).astype(str)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        s = s.str.replace(char, entity, regex=False)
    return s


def _name_html(names: list[str], ids: list[str], xray_href: str | None) -> list[str]:
    """The account cell's HTML: the escaped name, linked to the X-Ray when a link pattern is given."""
    if not names:
        return []
    escaped = _escape(names)
    if xray_href is None:
        return escaped.tolist()
    hrefs = _escape([xray_link(xray_href, i) for i in ids])
    return ('<a href="' + hrefs + '">' + escaped + "</a>").tolist()


def _sort_order(frame: pd.DataFrame) -> np.ndarray:
    """Row order by case-folded account name, then account_id (the table's default sort)."""
    if not len(frame):
        return np.arange(0)
    keys = pd.DataFrame({"n": [s.casefold() for s in _text(frame, "account_name")], "i": _text(frame, "account_id")})
    return keys.sort_values(["n", "i"], kind="stable").index.to_numpy()


def account_table_data(
    summary: pd.DataFrame,
    *,
    role_columns: bool = False,
    xray_href: str | None = None,
) -> dict[str, Any]:
    """The account table's data source columns, one row per account, sorted by account name.

    No email, comment or other personal data: only the columns the table shows, their sort keys and the escaped
    HTML of the account cell.
    """
    frame = summary.iloc[_sort_order(summary)] if len(summary) else summary
    ids = _text(frame, "account_id")
    names = _text(frame, "account_name")
    bands = [str(b) for b in frame["band"]]
    rank = {b: i for i, b in enumerate(BANDS)}
    data: dict[str, Any] = {
        "account_id": ids,
        "account_name": names,
        "account_sort": [n.casefold() for n in names],
        "name_html": _name_html(names, ids, xray_href),
        "account_manager": _text(frame, "account_manager"),
        "value": frame["value"].to_numpy(dtype=float),
        "contacts_invited": frame["contacts_invited"].to_numpy(dtype=np.int64),
        "response_rate": frame["response_rate"].to_numpy(dtype=float),
        "nps": frame["nps"].to_numpy(dtype=float),
        "band": bands,
        "band_rank": np.array([rank.get(b, len(BANDS)) for b in bands], dtype=np.int64),
        "band_label": [BAND_LABELS.get(b, b) for b in bands],
        "band_color": [BAND_COLORS.get(b, BAND_COLORS["gray"]) for b in bands],
    }
    if role_columns:
        for column in ROLE_COLUMNS:
            values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
            data[column] = values.to_numpy(dtype=float)
    return data


@dataclass(frozen=True)
class AccountTable:
    """A built table: the DataTable and its data source (unpacks as `(table, source)`), and how it was built."""

    table: DataTable
    source: ColumnDataSource
    role_columns: bool = False
    xray_href: str | None = None

    def __iter__(self) -> Iterator[Any]:
        """Unpack as `(table, source)`."""
        return iter((self.table, self.source))

    def selected_account_ids(self) -> list[str]:
        """The account_ids of the selected rows."""
        ids = self.source.data["account_id"]
        return [ids[i] for i in self.source.selected.indices if 0 <= i < len(ids)]


def _number(fmt: str) -> NumberFormatter:
    return NumberFormatter(format=fmt, text_align="right", nan_format=DASH, null_format=DASH)


def account_table(
    summary: pd.DataFrame,
    *,
    role_columns: bool = False,
    xray_href: str | None = None,
    width: int = 900,
    height: int = 400,
) -> AccountTable:
    """Build the account table: account, account manager, value, contacts invited, response rate, NPS, band.

    `role_columns=True` adds each role's NPS (from `account_summary(..., by_role=True)`). With `xray_href`, a
    pattern such as "xray/{account_id}.html", each account name links to its X-Ray page.
    """
    source = ColumnDataSource(account_table_data(summary, role_columns=role_columns, xray_href=xray_href))
    columns = [
        TableColumn(
            field="account_sort",
            title="Account",
            formatter=HTMLTemplateFormatter(template=NAME_TEMPLATE),
            width=220,
        ),
        TableColumn(field="account_manager", title="Account manager", formatter=StringFormatter(), width=150),
        TableColumn(field="value", title="Value", formatter=_number("0,0"), width=100),
        TableColumn(field="contacts_invited", title="Contacts invited", formatter=_number("0,0"), width=90),
        TableColumn(field="response_rate", title="Response rate", formatter=_number("0.0%"), width=90),
        TableColumn(field="nps", title="NPS", formatter=_number("0.0"), width=70),
        TableColumn(field="band_rank", title="Band", formatter=HTMLTemplateFormatter(template=BAND_TEMPLATE), width=90),
    ]
    if role_columns:
        columns += [
            TableColumn(field=field, title=title, formatter=_number("0.0"), width=90)
            for field, title in ROLE_COLUMNS.items()
        ]
    table = DataTable(
        source=source,
        columns=columns,
        sortable=True,  # also turns on multi-column sort (shift-click) in Bokeh's grid
        reorderable=False,
        selectable=True,
        index_position=None,
        width=width,
        height=height,
        name="account_table",
    )
    return AccountTable(table=table, source=source, role_columns=role_columns, xray_href=xray_href)


def update_table(table: AccountTable, summary: pd.DataFrame) -> AccountTable:
    """Show another summary in the same table: replace the data in place and clear the selection."""
    data = account_table_data(summary, role_columns=table.role_columns, xray_href=table.xray_href)
    table.source.selected.indices = []
    table.source.data = data
    return table


# --------------------------------------------------------------------------------------------------------------
# not surveyed


def not_surveyed_data(frame: pd.DataFrame) -> dict[str, Any]:
    """The not-surveyed list's data source columns: account, account manager, value (in the frame's order)."""
    names = _text(frame, "account_name")
    return {
        "account_id": [str(v) for v in frame["account_id"]] if "account_id" in frame else [""] * len(frame),
        "account_name": names,
        "account_sort": [n.casefold() for n in names],
        "name_html": [html.escape(n) for n in names],
        "account_manager": _text(frame, "account_manager"),
        "value": frame["value"].to_numpy(dtype=float) if "value" in frame else np.full(len(frame), np.nan),
    }


def not_surveyed_table(frame: pd.DataFrame, *, width: int = 600, height: int = 250) -> AccountTable:
    """Build the not-surveyed list (accounts with no invitation in scope: blind spots), most valuable first.

    `frame` is `metrics.not_surveyed(...)`; its order is kept.
    """
    source = ColumnDataSource(not_surveyed_data(frame))
    columns = [
        TableColumn(
            field="account_sort", title="Account", formatter=HTMLTemplateFormatter(template=NAME_TEMPLATE), width=260
        ),
        TableColumn(field="account_manager", title="Account manager", formatter=StringFormatter(), width=180),
        TableColumn(field="value", title="Value", formatter=_number("0,0"), width=120),
    ]
    table = DataTable(
        source=source,
        columns=columns,
        sortable=True,
        reorderable=False,
        index_position=None,
        width=width,
        height=height,
        name="not_surveyed_table",
    )
    return AccountTable(table=table, source=source)


def update_not_surveyed(table: AccountTable, frame: pd.DataFrame) -> AccountTable:
    """Show another not-surveyed list in the same table, in place."""
    table.source.selected.indices = []
    table.source.data = not_surveyed_data(frame)
    return table
