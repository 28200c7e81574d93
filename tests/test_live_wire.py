"""The live redraw sends its text columns as plain JSON lists in one step (chart.wire_texts, docs/live.md): the same
texts as before reach the browser, columns with anything but text are left alone, and a redraw's patch carries them.
The live table sends each account's texts once and then only numbers (docs/live.md, Step 5)."""

from __future__ import annotations

import json

import numpy as np
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.protocol import Protocol

import heatmap_lib as hm
from heatmap_lib.views.chart import TextColumn, bubble_chart, update_chart, wire_texts
from heatmap_lib.views.table import STATIC_COLUMNS, AccountTable, account_table, update_table

NUMBERS = ("contacts_invited", "response_rate", "nps", "nps_range_low", "nps_range_high", "nps_small", "band_rank")


def _sent(column: object) -> object:
    """What Bokeh puts on the wire for a column, as the browser parses it."""
    return json.loads(json.dumps(Serializer().encode(column)))


def test_text_columns_are_sent_as_the_same_texts_and_other_columns_are_left_alone() -> None:
    texts = np.array(["Ünïcode <b>&</b>", "", 'quote " and \\ back', "x" * 300], dtype=object)
    mixed = np.array(["a", None, float("nan")], dtype=object)
    numbers = np.array([1.5, 2.5])
    data = {"texts": texts, "listed": ["a", "b"], "mixed": mixed, "numbers": numbers, "empty": []}
    wired = wire_texts(data)
    assert isinstance(wired["texts"], TextColumn) and isinstance(wired["listed"], TextColumn)
    assert _sent(wired["texts"]) == texts.tolist() and _sent(wired["listed"]) == ["a", "b"]
    assert wired["mixed"] is mixed and wired["numbers"] is numbers and wired["empty"] == []
    before = _sent(texts)  # an object array: Bokeh's ndarray of dtype object, encoded text by text
    assert isinstance(before, dict) and before["array"] == _sent(wired["texts"])


def test_a_redraw_patch_carries_the_text_columns_as_lists(demo: hm.Dataset) -> None:
    summary = hm.account_summary(demo)
    chart = bubble_chart(summary)
    table = account_table(summary)
    doc = Document()
    doc.add_root(chart.figure)
    doc.add_root(table.table)
    patches: list[dict] = []
    doc.on_change(lambda event: patches.append(json.loads(Protocol().create("PATCH-DOC", [event]).content_json)))
    part = summary.iloc[: len(summary) // 2]
    update_chart(chart, part)
    update_table(table, part)
    names = {}
    for patch in patches:
        for event in patch["events"]:
            columns = dict(event["data"]["entries"]) if event["kind"] == "ColumnDataChanged" else {}
            if "account_name" in columns:
                names[event["model"]["id"]] = columns["account_name"]  # a plain JSON list of the names
    assert set(names) == {chart.source.id, table.source.id}
    assert sorted(names[chart.source.id]) == sorted(part["account_name"].tolist())
    assert names[table.source.id] == list(table.source.data["account_name"])


def _page_rows(table: AccountTable) -> dict[str, list]:
    """The static columns per row as the page reads them: `accounts` at each row's `acc`."""
    assert table.accounts is not None
    acc = table.source.data["acc"]
    return {k: [table.accounts.data[k][i] for i in acc] for k in STATIC_COLUMNS}


def test_the_live_table_sends_each_accounts_texts_once_then_only_numbers(demo: hm.Dataset) -> None:
    summary = hm.account_summary(demo)
    table = account_table(summary.iloc[::2], static_texts=True, xray_href="xray/{account_id}.html")
    doc = Document()
    doc.add_root(table.table)
    events: list = []
    doc.on_change(events.append)
    known = set(summary.iloc[::2]["account_id"])  # sent when the table was built
    for part in (summary.iloc[::3], summary, summary.iloc[:5]):
        events.clear()
        update_table(table, part)
        assert sorted(table.data["account_id"]) == sorted(part["account_id"])
        for k, column in _page_rows(table).items():  # each row reads its own account's texts
            assert list(column) == list(table.data[k]), k
        sent = table.source.data
        assert set(sent) == {"acc", *NUMBERS}  # numbers only, as binary arrays
        assert all(isinstance(sent[k], np.ndarray) and sent[k].dtype != object for k in sent)
        assert sent["acc"].dtype == np.int32 and sent["band_rank"].dtype == np.int8
        patch = json.loads(Protocol().create("PATCH-DOC", events).content_json)
        streamed = [e for e in patch["events"] if e["kind"] == "ColumnsStreamed"]
        names = [n for e in streamed for k, v in e["data"]["entries"] if k == "account_sort" for n in v]
        assert len(names) == len(set(part["account_id"]) - known)  # only accounts the page has not seen
        known |= set(part["account_id"])
        assert [e["kind"] for e in patch["events"] if e.get("attr") == "data"] in (
            ["ColumnDataChanged"],
            ["ColumnsStreamed", "ColumnDataChanged"],
        )
    # an account whose texts changed (another name for the same id) is patched where it is, not added again
    renamed = summary.iloc[:5].assign(account_name=lambda f: f["account_name"] + " (renamed)")
    rows = len(table.accounts.data["name_html"])
    update_table(table, renamed)
    assert len(table.accounts.data["name_html"]) == rows
    assert _page_rows(table)["name_html"] == list(table.data["name_html"])
    assert all(" (renamed)</a>" in h for h in table.data["name_html"])
