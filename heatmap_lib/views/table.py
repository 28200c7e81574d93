"""The heat map's account table and not-surveyed list (DESIGN.md section 6): pure builders of Bokeh DataTables.

Customer text is untrusted (DESIGN.md section 8). Plain text columns use `StringFormatter`, which sets the cell's
text, never its HTML. The two HTML columns are built from values escaped here in Python: the account name
(`html.escape`) and its X-Ray link (the account_id URL-quoted, then escaped as an attribute), interpolated by the
template as they are; and the band, whose colour and label come from fixed sets and are escaped again by the
template's `<%- %>`.

Sorting follows seed 000 (templates/js/table_sort.js, the rule the offline snapshot's table uses): a header's first
click sorts ascending, the second descending, the third turns that column's sort off; further columns add secondary
sorts, each header showing its direction and priority ("NPS ▲2"); rows with no value come last either way. Bokeh's
own sort is off; a CustomJS (templates/js/live_table_sort.js) re-orders the grid's rows in the page and writes the
sort to a `TableSort` model, so the kernel knows the order shown (`AccountTable.shown`, for exports). The account
column sorts by case-folded name, the band column in the fixed band order (green, yellow, red, gray).

The live dashboard's table (`account_table(static_texts=True)`, docs/live.md Step 5) sends each account's texts
and value once, in a second source (`AccountTable.accounts`, `STATIC_COLUMNS`; accounts never shown before are
streamed), and on a filter change only each row's `acc` (its row there) and the numbers, as binary arrays; the band
cell is made in the page from `band_rank`. `AccountTable.data` keeps every column of the rows shown, for the
kernel (clicks, exports).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import numpy as np
import pandas as pd
from bokeh.core.properties import Enum, List, String, Tuple
from bokeh.model import DataModel
from bokeh.models import ColumnDataSource, CustomJS, InlineStyleSheet
from bokeh.models.widgets.tables import (  # (the submodule: visible to type checkers)
    DataTable,
    HTMLTemplateFormatter,
    NumberFormatter,
    StringFormatter,
    TableColumn,
)

from heatmap_lib.metrics.summary import BAND_LABELS, BANDS, small_sample_note
from heatmap_lib.views.chart import BAND_COLORS, TextMemo, wire_texts, xray_link
from heatmap_lib.views.chart.texts import _whole

__all__ = [
    "ROLE_COLUMNS",
    "AccountTable",
    "TableSort",
    "account_table",
    "account_table_data",
    "live_sort_ready",
    "not_surveyed_data",
    "not_surveyed_table",
    "shown_order",
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


def _text(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame:
        return [""] * len(frame)
    col = frame[column]
    if isinstance(col.dtype, pd.StringDtype):  # already text: only the missing values need filling
        return col.to_numpy(dtype=object, na_value="").tolist()
    return col.astype(object).fillna("").astype(str).tolist()


def _escape(values: list[str]) -> pd.Series:
    """html.escape(quote=True) over a column (each distinct text escaped once, see `chart.TextMemo`)."""
    return pd.Series(_ESCAPED([str(v) for v in values]), dtype=object)


_ESCAPED = TextMemo(html.escape)
_LINKS: dict[str, TextMemo] = {}  # per X-Ray link pattern: each account's escaped link


def _name_html(names: list[str], ids: list[str], xray_href: str | None) -> list[str]:
    """The account cell's HTML: the escaped name, linked to the X-Ray when a link pattern is given."""
    if not names:
        return []
    escaped = _ESCAPED(names)
    if xray_href is None:
        return escaped.tolist()
    if xray_href not in _LINKS:
        if len(_LINKS) > 100:
            _LINKS.clear()
        _LINKS[xray_href] = TextMemo(lambda i: html.escape(xray_link(xray_href, i)))
    hrefs = _LINKS[xray_href](ids)
    return ('<a href="' + hrefs + '">' + escaped + "</a>").tolist()


def _sort_order(frame: pd.DataFrame) -> np.ndarray | None:
    """Row order by case-folded account name, then account_id (the table's default sort); None: already sorted."""
    if not len(frame):
        return None
    names = [s.casefold() for s in _text(frame, "account_name")]
    return _order(np.array(names, dtype=object), np.array(_text(frame, "account_id"), dtype=object))


def _order(names: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """The stable order by (names, ids); None when the rows are in that order already."""
    after, before = names[1:], names[:-1]
    if np.all((after > before) | ((after == before) & (ids[1:] >= ids[:-1]))):
        return None  # an account summary comes sorted so: checking is cheaper than sorting again
    keys = pd.DataFrame({"n": names, "i": ids})
    return keys.sort_values(["n", "i"], kind="stable").index.to_numpy()


SORT_CSS = ".slick-header-column { cursor: pointer } .hm-sort-mark { color: #1f3b57; font-weight: bold }"
SILENT = -999  # `nps_range_low`/`nps_range_high` of an account nobody answered: no interval, an empty cell
_MARK = 987654  # a count that stands for "n" in the plural note's words, so the words stay those of metrics


def range_template() -> str:
    """The "NPS 95% range" cell's template: "−48 to 98 (small sample: 1 answer)", formatted in the browser.

    From three small whole-number columns (`_range_columns`), which is what a 1,000-account snapshot can afford
    to send; the note's words are those of `summary.small_sample_note`.
    """
    one = json.dumps(small_sample_note(1, flagged=True, short=True))
    many = json.dumps(small_sample_note(_MARK, flagged=True, short=True)).replace(str(_MARK), '" + n + "')
    return (
        "<% function s(v) { return v < 0 ? '\u2212' + (-v) : String(v); } var n = nps_small; %>"
        f"<% if (value !== {SILENT}) {{ %><%- s(value) %> to <%- s(nps_range_high) %>"
        f"<% if (n > 0) {{ %> (<%- n === 1 ? {one} : {many} %>)<% }} }} %>"
    )


def _range_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The interval's whole-point ends (`SILENT` when nobody answered) and the answers behind a small sample."""
    n = len(frame)
    if not {"nps_low", "nps_high", "responses"} <= set(frame.columns) or not n:
        return {k: np.full(n, SILENT if k != "nps_small" else 0, np.int16) for k in RANGE_FIELDS}
    low, high = (frame[c].to_numpy(dtype=float) for c in ("nps_low", "nps_high"))
    silent = np.isnan(low) | np.isnan(high)
    small = frame["small_sample"].fillna(False).to_numpy(dtype=bool) if "small_sample" in frame else np.zeros(n, bool)
    answers = np.clip(frame["responses"].fillna(0).to_numpy(dtype=np.int64), 0, 2**15 - 1)
    return {
        "nps_range_low": np.where(silent, SILENT, _whole(low, -200, 200)).astype(np.int16),
        "nps_range_high": np.where(silent, SILENT, _whole(high, -200, 200)).astype(np.int16),
        "nps_small": np.where(small & ~silent, answers, 0).astype(np.int16),
    }


RANGE_FIELDS = ("nps_range_low", "nps_range_high", "nps_small")


_RANK = {b: i for i, b in enumerate(BANDS)}
_BAND_LABELS = np.array([BAND_LABELS[b] for b in BANDS], dtype=object)
_BAND_COLORS = np.array([BAND_COLORS[b] for b in BANDS], dtype=object)
# The band cell, made in the browser from `band_rank` and the fixed colours and labels; a row carrying its own
# `band_label` and `band_color` (a band outside the four, never from a summary) shows those. Escaped with `<%- %>`.
BAND_TEMPLATE = (
    f"<% var k = {json.dumps([[BAND_COLORS[b], BAND_LABELS[b]] for b in BANDS])}[band_rank] || "
    f"[{json.dumps(BAND_COLORS['gray'])}, String(band_rank)]; "
    "if (obj.band_label != null) k = [obj.band_color, obj.band_label]; %>"
    '<span style="display:inline-block;width:0.8em;height:0.8em;border-radius:50%;vertical-align:-0.05em;'
    'margin-right:0.4em;background:<%- k[0] %>"></span><%- k[1] %>'
)


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
    ids = np.array(_text(summary, "account_id"), dtype=object)
    names = np.array(_text(summary, "account_name"), dtype=object)
    folded = np.array([n.casefold() for n in names.tolist()], dtype=object)
    order = _order(folded, ids) if len(summary) else None
    frame = summary
    if order is not None:
        frame, ids, names, folded = summary.iloc[order], ids[order], names[order], folded[order]
    bands = [b if isinstance(b, str) else str(b) for b in frame["band"].to_numpy(dtype=object).tolist()]
    rank = np.array([_RANK.get(b, len(BANDS)) for b in bands], dtype=np.int64)
    known = rank < len(BANDS)
    data: dict[str, Any] = {
        "account_id": ids.tolist(),
        "account_name": names.tolist(),
        "account_sort": folded.tolist(),
        "name_html": _name_html(names.tolist(), ids.tolist(), xray_href),
        "account_manager": _text(frame, "account_manager"),
        "value": frame["value"].to_numpy(dtype=float),
        "contacts_invited": frame["contacts_invited"].to_numpy(dtype=np.int64),
        "response_rate": frame["response_rate"].to_numpy(dtype=float),
        "nps": frame["nps"].to_numpy(dtype=float),
        **_range_columns(frame),
        "band": bands,
        "band_rank": rank,
        # a band outside the four (never from a summary) shows as itself, in gray
        "band_label": np.where(known, _BAND_LABELS[np.where(known, rank, 0)], np.array(bands, dtype=object)).tolist(),
        "band_color": np.where(known, _BAND_COLORS[np.where(known, rank, 0)], BAND_COLORS["gray"]).tolist(),
    }
    if role_columns:
        for column in ROLE_COLUMNS:
            values = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
            data[column] = values.to_numpy(dtype=float)
    return data


@dataclass(frozen=True)
class AccountTable:
    """A built table: the DataTable and its data source (unpacks as `(table, source)`), and how it was built.

    `data` holds the rows shown, every column (`account_table_data`), in the source's row order. With static texts
    (`account_table(static_texts=True)`, the live dashboard's) the source holds only each row's `acc`, its row in
    `accounts` (the static per-account columns, `STATIC_COLUMNS`, sent once), and the numbers a filter changes.
    """

    table: DataTable
    source: ColumnDataSource
    role_columns: bool = False
    xray_href: str | None = None
    sort: TableSort | None = None
    sort_script: CustomJS | None = None
    data: dict[str, Any] = dataclass_field(default_factory=dict)
    accounts: ColumnDataSource | None = None
    account_rows: dict[str, int] | None = None  # account_id -> its row in `accounts`

    def __iter__(self) -> Iterator[Any]:
        """Unpack as `(table, source)`."""
        return iter((self.table, self.source))

    def selected_account_ids(self) -> list[str]:
        """The account_ids of the selected rows."""
        ids = self.data["account_id"]
        return [ids[i] for i in self.source.selected.indices if 0 <= i < len(ids)]

    @property
    def sort_state(self) -> list[tuple[str, str]]:
        """The sort shown in the page: (field, "asc"|"desc") pairs, main sort first ([]: by account name)."""
        state: list[Any] = list(self.sort.state) if self.sort is not None else []  # type: ignore[call-overload]
        return [(str(f), str(d)) for f, d in state]

    def shown(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` (the summary the table shows, one row per account) in the table's row order as shown."""
        ids = np.asarray(self.data["account_id"], dtype=object)[shown_order(self.data, self.sort_state)]
        by_id = frame.set_index(frame["account_id"].astype(str), drop=False)
        out = by_id.loc[[str(i) for i in ids]].reset_index(drop=True)
        out.attrs = dict(frame.attrs)
        return out


# The live table's per-account columns no filter changes, in `AccountTable.accounts`: sent once, new accounts
# streamed. The page's rows read them through `acc` (live_table_sort.js); Python's texts, escaped here.
STATIC_COLUMNS = ("account_sort", "name_html", "account_manager", "value")
_KERNEL_ONLY = ("account_id", "account_name", "band")  # the kernel's (exports, clicks); the page needs none
_WIRE_TYPES = {"contacts_invited": np.int32, "band_rank": np.int8}


def _same(stored: Any, fresh: np.ndarray) -> np.ndarray:
    """Which of `fresh` equal `stored` (NaN equals NaN)."""
    if fresh.dtype.kind == "f":
        old = np.asarray(stored, dtype=float)
        return (old == fresh) | (np.isnan(old) & np.isnan(fresh))
    return np.asarray(stored, dtype=object) == fresh


def _static_rows(accounts: ColumnDataSource, rows: dict[str, int], data: dict[str, Any]) -> np.ndarray:
    """Each row's row in `accounts`, which gets the accounts it does not hold yet (only they travel).

    An account whose static columns changed (never within one dataset) has them patched in place.
    """
    ids = data["account_id"]
    columns = {k: np.asarray(data[k], dtype=float if k == "value" else object) for k in STATIC_COLUMNS}
    if set(accounts.data) != set(STATIC_COLUMNS):
        rows.clear()
    acc = np.fromiter((rows.get(a, -1) for a in ids), dtype=np.int32, count=len(ids))
    old = np.flatnonzero(acc >= 0)
    if len(old):
        patches: dict[str, Any] = {}
        for k, fresh in columns.items():
            changed = old[~_same(np.asarray(accounts.data[k], dtype=fresh.dtype)[acc[old]], fresh[old])]
            if len(changed):
                patches[k] = [(int(acc[j]), fresh[j].item() if k == "value" else fresh[j]) for j in changed]
        if patches:
            accounts.patch(patches)
    new = np.flatnonzero(acc < 0)
    if len(new):
        acc[new] = np.arange(len(rows), len(rows) + len(new), dtype=np.int32)
        rows.update(zip((ids[j] for j in new.tolist()), acc[new].tolist(), strict=True))
        added = wire_texts({k: v[new] if k == "value" else v[new].tolist() for k, v in columns.items()})
        if len(rows) == len(new):
            accounts.data = added
        else:
            accounts.stream(added)
    return acc


def _wire(table: AccountTable, data: dict[str, Any]) -> dict[str, Any]:
    """What the table's source holds for `data`: everything, or (static texts) `acc` and what a filter changes."""
    if table.accounts is None or table.account_rows is None:
        return wire_texts(data)
    out: dict[str, Any] = {"acc": _static_rows(table.accounts, table.account_rows, data)}
    skip = {*STATIC_COLUMNS, *_KERNEL_ONLY}
    if np.all(np.asarray(data["band_rank"]) < len(BANDS)):
        skip |= {"band_label", "band_color"}  # the band cell makes them from `band_rank` (`BAND_TEMPLATE`)
    for k, v in data.items():
        if k not in skip:
            out[k] = np.asarray(v, dtype=_WIRE_TYPES[k]) if k in _WIRE_TYPES else v
    return wire_texts(out)


class TableSort(DataModel):
    """The live table's sort, set by the page on a header click: [(field, "asc"|"desc"), ...], main sort first."""

    state = List(Tuple(String, Enum("asc", "desc")), help="the sorted columns in priority order")


def _missing(values: pd.Series) -> pd.Series:
    """Which values count as none (table_sort.js `missing`): null, NaN and empty text."""
    return values.isna() | values.astype(object).map(lambda v: isinstance(v, str) and v == "")


def shown_order(data: Any, state: list[tuple[str, str]]) -> np.ndarray:
    """Row positions of a table's source `data` in the order table_sort.js `order` shows them for `state`.

    Each sorted column in turn, rows with no value last in either direction, text compared lower-cased; ties keep
    the source's order (by account name).
    """
    n = len(data["account_id"])
    keys: list[pd.Series] = []
    ascending: list[bool] = []
    for field, direction in state:
        if field not in data:
            continue
        values = pd.Series(list(data[field]) if not isinstance(data[field], np.ndarray) else data[field])
        text = values.map(lambda v: v.lower() if isinstance(v, str) else v)
        keys += [_missing(values).astype(int), text.where(~_missing(values), None)]
        ascending += [True, direction == "asc"]
    if not keys:
        return np.arange(n)
    frame = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)})
    return frame.sort_values(
        list(frame.columns), ascending=ascending, kind="stable", na_position="last"
    ).index.to_numpy()


def _sort_script(
    table: DataTable, sort: TableSort, titles: dict[str, str], accounts: ColumnDataSource | None
) -> CustomJS:
    """The page script that sorts `table` by seed 000's rule and reports it in `sort` (live_table_sort.js).

    With `accounts` (static texts) it also gives each row of the grid its static columns, read through `acc`.
    """
    from heatmap_lib.views.offline import script

    code = script("table_sort.js") + "\n" + script("live_table_sort.js")
    args = {"table": table, "sort": sort, "titles": titles, "accounts": accounts}
    return CustomJS(args=args, code=code)


def live_sort_ready(root: Any, *tables: AccountTable) -> Any:
    """Put `root` (a layout holding `tables`) in a document that runs the tables' sort scripts when it is ready.

    For jupyter_bokeh's BokehModel (or `file_html`), which embeds the document `root` belongs to; returns `root`.
    """
    from bokeh.document import Document

    doc = root.document
    if doc is None:
        doc = Document()
        doc.add_root(root)
    for table in tables:
        if table.sort_script is not None:
            doc.js_on_event("document_ready", table.sort_script)
    return root


def _number(fmt: str, null: str = DASH) -> NumberFormatter:
    return NumberFormatter(format=fmt, text_align="right", nan_format=DASH, null_format=null)


def account_table(
    summary: pd.DataFrame,
    *,
    role_columns: bool = False,
    xray_href: str | None = None,
    width: int = 900,
    height: int = 400,
    static_texts: bool = False,
) -> AccountTable:
    """Build the account table: account, account manager, value, contacts invited, response rate, NPS, band.

    `role_columns=True` adds each role's NPS (from `account_summary(..., by_role=True)`). With `xray_href`, a
    pattern such as "xray/{account_id}.html", each account name links to its X-Ray page. Headers sort by seed 000's
    rule once the layout shown is passed through `live_sort_ready` (the dashboard does), or after a data change.
    `static_texts=True` (the live dashboard) sends each account's texts and value once (`AccountTable.accounts`)
    and, on `update_table`, only the numbers: the page script (`live_sort_ready`) shows the texts.
    """
    data = account_table_data(summary, role_columns=role_columns, xray_href=xray_href)
    source = ColumnDataSource()
    accounts = ColumnDataSource() if static_texts else None
    columns = [
        TableColumn(
            field="account_sort",
            title="Account",
            formatter=HTMLTemplateFormatter(template=NAME_TEMPLATE),
            width=220,
        ),
        # null_format "": a live row shows nothing, not "(null)", until the page script gives it its static columns
        TableColumn(
            field="account_manager", title="Account manager", formatter=StringFormatter(null_format=""), width=150
        ),
        TableColumn(field="value", title="Value", formatter=_number("0,0", null=""), width=100),
        TableColumn(field="contacts_invited", title="Contacts invited", formatter=_number("0,0"), width=90),
        TableColumn(field="response_rate", title="Response rate", formatter=_number("0.0%"), width=90),
        TableColumn(field="nps", title="NPS", formatter=_number("0.0"), width=70),
        TableColumn(
            field="nps_range_low",
            title="NPS 95% range",
            formatter=HTMLTemplateFormatter(template=range_template()),
            width=180,
            sortable=False,
        ),
        TableColumn(field="band_rank", title="Band", formatter=HTMLTemplateFormatter(template=BAND_TEMPLATE), width=90),
    ]
    if role_columns:
        columns += [
            TableColumn(field=field, title=title, formatter=_number("0.0"), width=90)
            for field, title in ROLE_COLUMNS.items()
        ]
    table, sort, script = _seed_sorted(
        source, columns, accounts, selectable=True, width=width, height=height, name="account_table"
    )
    built = AccountTable(
        table=table,
        source=source,
        role_columns=role_columns,
        xray_href=xray_href,
        sort=sort,
        sort_script=script,
        data=data,
        accounts=accounts,
        account_rows={} if static_texts else None,
    )
    source.data = _wire(built, data)
    return built


def _seed_sorted(
    source: ColumnDataSource, columns: list[TableColumn], accounts: ColumnDataSource | None, **options: Any
) -> tuple[DataTable, TableSort, CustomJS]:
    """A DataTable whose headers sort by seed 000's rule (live_table_sort.js), its sort model and page script."""
    titles = {c.field: str(c.title) for c in columns if c.sortable}  # the columns seed 000's sort applies to
    for c in columns:
        c.sortable = False  # Bokeh's grid sorts nothing itself: live_table_sort.js does
    table = DataTable(
        source=source,
        columns=columns,
        sortable=False,
        reorderable=False,
        index_position=None,
        stylesheets=[InlineStyleSheet(css=SORT_CSS)],
        **options,
    )
    sort = TableSort()
    script = _sort_script(table, sort, titles, accounts)
    source.js_on_change("data", script)  # installs the sort on a view built after the document was ready
    return table, sort, script


def update_table(table: AccountTable, summary: pd.DataFrame) -> AccountTable:
    """Show another summary in the same table: replace the data in place and clear the selection."""
    data = account_table_data(summary, role_columns=table.role_columns, xray_href=table.xray_href)
    table.data.clear()
    table.data.update(data)
    table.source.selected.indices = []
    table.source.data = _wire(table, data)
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

    `frame` is `metrics.not_surveyed(...)`; its order is kept until a header is clicked (seed 000's sort, as the
    account table).
    """
    data = not_surveyed_data(frame)
    source = ColumnDataSource(data)
    columns = [
        TableColumn(
            field="account_sort", title="Account", formatter=HTMLTemplateFormatter(template=NAME_TEMPLATE), width=260
        ),
        TableColumn(field="account_manager", title="Account manager", formatter=StringFormatter(), width=180),
        TableColumn(field="value", title="Value", formatter=_number("0,0"), width=120),
    ]
    table, sort, script = _seed_sorted(source, columns, None, width=width, height=height, name="not_surveyed_table")
    return AccountTable(table=table, source=source, sort=sort, sort_script=script, data=dict(data))


def update_not_surveyed(table: AccountTable, frame: pd.DataFrame) -> AccountTable:
    """Show another not-surveyed list in the same table, in place."""
    data = not_surveyed_data(frame)
    table.data.clear()
    table.data.update(data)
    table.source.selected.indices = []
    table.source.data = data
    return table
