"""The live redraw sends its text columns as plain JSON lists in one step (chart.wire_texts, docs/live.md): the same
texts as before reach the browser, columns with anything but text are left alone, and a redraw's patch carries them."""

from __future__ import annotations

import json

import numpy as np
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.protocol import Protocol

import heatmap_lib as hm
from heatmap_lib.views.chart import TextColumn, bubble_chart, update_chart, wire_texts
from heatmap_lib.views.table import account_table, update_table


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
