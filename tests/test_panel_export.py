"""The panel's exports and the live table's sort, without a browser: file names, rows as shown, the sort rule."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import openpyxl
import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.filters import FilterSet
from heatmap_lib.live.panel_export import export_name, filter_slug, sort_words
from heatmap_lib.live.widgets import Dashboard
from heatmap_lib.views.table import account_table, shown_order


def test_shown_order_follows_the_seed_rule():
    data = {
        "account_id": ["a", "b", "c", "d", "e"],
        "nps": np.array([3.0, np.nan, 1.0, 5.0, 1.0]),
        "account_manager": ["Zo", "", "al", "Bo", "al"],
    }
    assert shown_order(data, []).tolist() == [0, 1, 2, 3, 4]  # no sort: the source's order (by account name)
    # no NPS last whichever the direction; ties keep the source's order
    assert shown_order(data, [("nps", "asc")]).tolist() == [2, 4, 0, 3, 1]
    assert shown_order(data, [("nps", "desc")]).tolist() == [3, 0, 2, 4, 1]
    # text compared lower-cased, an empty text counts as no value; the second column breaks the ties
    assert shown_order(data, [("account_manager", "asc"), ("nps", "desc")]).tolist() == [2, 4, 3, 0, 1]
    assert shown_order(data, [("account_manager", "desc")]).tolist() == [0, 3, 2, 4, 1]


def test_file_names_say_what_they_hold():
    day = dt.date(2026, 12, 7)
    assert export_name("png", FilterSet(region=["West"]), day) == "heatmap_region-West_2026-12-07.png"
    assert export_name("xlsx", FilterSet(), day) == "heatmap-accounts_all-data_2026-12-07.xlsx"
    two = FilterSet(region=["East", "West"], role=["influencer"])
    assert filter_slug(two) == "region-East+West_role-influencer"
    assert filter_slug(FilterSet(account_name=["A/B & <C>"])) == "account-name-A-B-C"  # "_" only separates filters
    assert len(filter_slug(FilterSet(account_name=[f"Account {i}" for i in range(40)]))) <= 60
    dates = FilterSet(start="2026-01-01", end="2026-03-31")
    assert filter_slug(dates) == "sent-2026-01-01-to-2026-03-31"
    assert sort_words([("nps", "desc"), ("value", "asc")], {"nps": "NPS", "value": "Value"}) == (
        "NPS descending, then Value ascending"
    )
    with pytest.raises(hm.HeatmapError, match="unknown export type"):
        export_name("gif", FilterSet(), day)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Dashboard:
    from heatmap_lib.data.demo import write_demo

    folder = write_demo(tmp_path_factory.mktemp("panel") / "demo", accounts=120, seed=3, fmt="csv")
    return Dashboard(hm.load(folder), FilterSet(region=["West"]))


def test_table_exports_hold_the_rows_as_shown_in_the_sort_shown(dashboard: Dashboard):
    shown = dashboard._shown()
    dashboard.table.sort.state = [("nps", "desc"), ("value", "asc")]  # what a header click sets in the page
    name = dashboard.exports.export("xlsx", wait=True)
    assert name.startswith("heatmap-accounts_region-West_") and name.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(dashboard.exports.last["xlsx"]), read_only=True)
    rows = list(book["accounts"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Account", "Account manager", "Value")  # headers in words
    assert len(rows) - 1 == len(shown)
    nps = [r[5] for r in rows[1:]]
    known = [v for v in nps if v is not None]
    assert known == sorted(known, reverse=True) and nps[len(known) :] == [None] * (len(nps) - len(known))
    about = {r[0]: r[1] for r in book["About"].iter_rows(values_only=True)}
    assert about["filters"] == "region=West" and about["sort"] == "NPS descending, then Value ascending"

    dashboard.exports.export("csv", wait=True)
    text = dashboard.exports.last["csv"].decode("utf-8")
    assert "# filters: region=West\n" in text and "# sort: NPS descending, then Value ascending\n" in text
    csv = pd.read_csv(io.StringIO(text), comment="#", dtype={"account_id": str})
    expected = shown.set_index("account_id").loc[csv["account_id"]]
    assert csv["account_id"].tolist() == [r[-1] for r in rows[1:]]  # the same rows in the same order
    assert len(csv) == len(shown) and set(expected["region"]) == {"West"}
    assert "heatmap-accounts_region-West_" in dashboard.exports.status.value and "data:text/csv;base64," in (
        dashboard.exports.status.value
    )


def test_with_the_sort_off_the_export_keeps_the_default_order(dashboard: Dashboard):
    dashboard.table.sort.state = []
    dashboard.exports.export("csv", wait=True)
    csv = pd.read_csv(io.BytesIO(dashboard.exports.last["csv"]), comment="#")
    names = csv["account_name"].tolist()
    assert names == sorted(names, key=str.casefold)
    table = account_table(dashboard._shown())
    assert table.shown(dashboard._shown())["account_name"].tolist() == names


def test_an_impossible_date_range_is_said_in_the_panel_and_nothing_is_written(dashboard: Dashboard):
    panel = dashboard.panel
    panel.by.value = "Dates"
    try:
        with panel.hold():
            panel.start.value, panel.end.value = dt.date(2026, 3, 1), dt.date(2026, 1, 31)
        assert dashboard.exports.export("csv", wait=True) == ""
        assert "Nothing exported" in dashboard.exports.status.value and "start" in dashboard.exports.status.value
    finally:
        panel.by.value = "Waves"  # clears the dates


def test_the_not_surveyed_list_sorts_by_the_same_rule(dashboard: Dashboard):
    blind = dashboard.blind_table
    assert blind.table.sortable is False and blind.sort is not None and blind.sort_script is not None
    assert blind.sort_script.args["titles"] == {
        "account_sort": "Account",
        "account_manager": "Account manager",
        "value": "Value",
    }
    blind.sort.state = [("value", "asc")]
    values = np.asarray(blind.source.data["value"], dtype=float)[shown_order(blind.source.data, blind.sort_state)]
    known = values[~np.isnan(values)]
    assert known.tolist() == sorted(known.tolist()) and np.isnan(values[len(known) :]).all()


@pytest.mark.browser
def test_the_panel_is_free_while_a_chart_is_written_and_says_so(dashboard: Dashboard):
    from PIL import Image

    from heatmap_lib.views import static_export

    with static_export._lock:  # the browser is busy elsewhere: the export's thread waits for it
        name = dashboard.exports.export("png")  # returns to the kernel at once
        assert f"Writing {name}, the chart as shown" in dashboard.exports.status.value
        assert f'download="{name}"' not in dashboard.exports.status.value
    dashboard.exports.wait()
    assert f'download="{name}"' in dashboard.exports.status.value and "data:image/png;base64," in (
        dashboard.exports.status.value
    )
    with Image.open(io.BytesIO(dashboard.exports.last["png"])) as png:
        assert png.width >= 400 and png.height >= 300


def test_two_exports_started_together_both_show_their_link(dashboard: Dashboard):
    exports = dashboard.exports
    names = [exports.export("xlsx"), exports.export("csv")]  # the second starts while the first is written
    exports.wait()
    status = exports.status.value
    assert all(f'download="{n}"' in status for n in names), status
    assert status.index(names[1]) < status.index(names[0])  # the newest first
    exports.export("csv", wait=True)  # the same file again: its line is replaced, not repeated
    assert exports.status.value.count(f'download="{names[1]}"') == 1
