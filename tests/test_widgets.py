"""The live dashboard driven from Python: widget values in, chart and table data sources out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import heatmap_lib as hm
from heatmap_lib.live.widgets import LEADERS, Dashboard


@pytest.fixture
def dash(demo, tmp_path):
    return Dashboard(demo, library=tmp_path / "filters")


def _assert_shows(dash: Dashboard, dataset, filters: hm.FilterSet) -> None:
    expected = hm.account_summary(dataset, filters).set_index("account_id")
    chart = dash.chart.source.data
    table = dash.table.data
    assert sorted(chart["account_id"]) == sorted(expected.index)
    assert sorted(table["account_id"]) == sorted(expected.index)
    for i, account in enumerate(chart["account_id"]):
        row = expected.loc[account]
        assert chart["contacts_invited"][i] == row.contacts_invited
        assert chart["value"][i] == pytest.approx(row.value)
        assert chart["response_rate"][i] == pytest.approx(row.response_rate)
        assert chart["band"][i] == row.band
        assert np.isclose(chart["nps"][i], row.nps, equal_nan=True)
    for i, account in enumerate(table["account_id"]):
        assert np.isclose(table["nps"][i], expected.loc[account].nps, equal_nan=True)


def test_starts_with_all_data(dash, demo):
    assert dash.filters.is_empty
    _assert_shows(dash, demo, hm.FilterSet())
    assert "accounts in scope" in dash.panel.counts.value


def test_each_widget_narrows_the_chart_and_table(dash, demo):
    dash.panel.account_widgets["region"].value = ("West",)
    _assert_shows(dash, demo, hm.FilterSet(region=["West"]))
    dash.panel.leaders_only.click()
    leaders = hm.FilterSet(region=["West"], role=list(LEADERS))
    assert dash.filters == leaders
    _assert_shows(dash, demo, leaders)
    wave = dash.panel.wave.options[-1]
    dash.panel.wave.value = (wave,)
    _assert_shows(dash, demo, leaders.replace(wave=[wave]))
    names = list(dash.summary["account_name"][:2])
    dash.panel.accounts.value = names
    assert sorted(dash.chart.texts("account_name")) == sorted(names)


def test_date_mode_replaces_waves(dash, demo):
    dash.panel.wave.value = (dash.panel.wave.options[0],)
    dash.panel.by.value = "Dates"
    assert "wave" not in dash.filters.criteria
    with dash.panel.hold():
        dash.panel.start.value = dt.date(2026, 4, 1)
        dash.panel.end.value = dt.date(2026, 6, 30)
    fs = hm.FilterSet(start="2026-04-01", end="2026-06-30")
    assert dash.filters == fs
    _assert_shows(dash, demo, fs)


def test_saved_sets_save_load_and_clear(dash, demo):
    dash.panel.account_widgets["region"].value = ("EMEA",)
    dash.panel.role.value = ("decision_maker",)
    dash.panel.save("emea dms")
    assert "emea-dms" in dash.panel.saved.options
    dash.panel.clear()
    assert dash.filters.is_empty
    _assert_shows(dash, demo, hm.FilterSet())
    dash.panel.load("emea-dms")
    assert dash.filters.criteria == {"region": ("EMEA",), "role": ("decision_maker",)}
    _assert_shows(dash, demo, hm.FilterSet(region=["EMEA"], role=["decision_maker"]))


def test_one_refresh_per_programmatic_change(dash, demo):
    calls = []
    dash.panel.on_change(calls.append)
    dash.panel.set_filters(hm.FilterSet(region=["West"], tier=[dash.panel.account_widgets["tier"].options[0]]))
    assert len(calls) == 1


def test_unmatched_values_are_shown_and_unknown_keys_refused(dash, demo):
    dash.refresh(hm.FilterSet(region=["Atlantis"]))
    assert "Atlantis" in dash.panel.message.value and len(dash.chart.source.data["account_id"]) == 0
    with pytest.raises(hm.HeatmapError, match="no widget for plan"):
        dash.panel.set_filters(hm.FilterSet(plan=["Pro"]))


def test_not_surveyed_list_follows_the_filters(dash, demo):
    fs = hm.FilterSet(wave=[dash.panel.wave.options[0]])
    dash.panel.set_filters(fs)
    expected = hm.not_surveyed(demo, fs)
    assert list(dash.blind_table.source.data["account_id"]) == list(expected["account_id"])


def test_clicking_a_bubble_or_a_row_opens_the_xray(demo, tmp_path):
    picked = []
    dash = Dashboard(demo, on_select=picked.append)
    dash.chart.source.selected.indices = [3]
    bubble = dash.chart.source.data["account_id"][3]
    assert picked == [bubble] and dash.xray_account == bubble
    html = dash.xray_output.value
    name = dash.chart.texts("account_name")[3]
    assert "<h2>NPS by role" in html and f"<h1>{name}</h1>".replace("&", "&amp;") in html
    dash.table.source.selected.indices = [0]
    assert dash.xray_account == dash.table.data["account_id"][0]


def test_widget_builds_one_ipywidget(dash):
    import ipywidgets as w

    assert isinstance(dash.widget(), w.VBox)


def test_an_end_before_the_start_is_said_next_to_the_dates_and_changes_nothing(dash, demo):
    shown = list(dash.chart.source.data["account_id"])
    calls = []
    dash.panel.on_change(calls.append)
    dash.panel.by.value = "Dates"
    calls.clear()
    dash.panel.start.value = dt.date(2026, 6, 30)
    assert calls == [hm.FilterSet(start="2026-06-30")]
    dash.panel.end.value = dt.date(2026, 4, 1)
    assert "end date (01 Apr 2026) is before the start date (30 Jun 2026)" in dash.panel.date_message.value
    assert len(calls) == 1  # the impossible range never reached the chart
    dash.panel.end.value = dt.date(2026, 7, 31)
    assert dash.panel.date_message.value == ""
    assert calls[-1] == hm.FilterSet(start="2026-06-30", end="2026-07-31")
    assert list(dash.chart.source.data["account_id"]) != shown or len(shown) == 0


def test_a_saved_set_loads_when_picked_and_a_broken_file_is_said_next_to_it(dash, demo):
    dash.panel.account_widgets["region"].value = ("EMEA",)
    dash.panel.save("emea")
    assert dash.panel.saved.value == "emea" and "Saved filter set emea" in dash.panel.saved_message.value
    dash.panel.clear()
    assert dash.filters.is_empty and dash.panel.saved.value is None
    dash.panel.saved.value = "emea"  # picking it is enough: no Load click
    assert dash.filters.criteria == {"region": ("EMEA",)}
    _assert_shows(dash, demo, hm.FilterSet(region=["EMEA"]))
    broken = dash.panel.library.folder / "broken.yaml"
    broken.write_text("region: [West\nrole: {", encoding="utf-8")
    dash.panel.saved.options = dash.panel.library.names()
    dash.panel.saved.value = "broken"
    message = dash.panel.saved_message.value
    assert "Filter set broken not loaded" in message and "broken.yaml" in message and "⚠" in message
    assert dash.filters.criteria == {"region": ("EMEA",)}  # the last good filters stay


def test_counts_say_one_account_not_one_accounts(dash, demo):
    one = str(dash.summary["account_name"].iloc[0])
    dash.panel.accounts.value = [one]
    counts = dash.panel.counts.value
    assert "<b>1</b> account in scope" in counts and "1</b> accounts" not in counts
    dash.panel.accounts.value = []
    assert "accounts in scope" in dash.panel.counts.value


def test_compare_to_shows_its_default(dash):
    label = dict((v, k) for k, v in dash.compare_to.options)[dash.compare_to.value]
    assert label == "the wave before (default)" and dash.compared_wave is None


def test_the_xray_opens_beside_the_chart_follows_the_filters_and_closes(demo):
    dash = Dashboard(demo)
    assert dash.xray_panel.layout.display == "none"
    account = str(dash.chart.source.data["account_id"][0])
    dash.open_xray(account)
    assert dash.xray_panel.layout.display is None and "<h2>NPS by role" in dash.xray_output.value
    before = dash.xray_output.value
    dash.panel.role.value = ("decision_maker",)  # the open X-Ray is recomputed for the new scope
    assert dash.xray_account == account and dash.xray_output.value != before
    body = dash.widget().children[-1]
    assert dash.xray_panel in body.children  # beside the chart, in the same row
    dash.xray_close.click()
    assert dash.xray_panel.layout.display == "none" and dash.xray_account is None


def test_a_click_on_overlapping_bubbles_opens_the_one_drawn_on_top(demo):
    dash = Dashboard(demo)
    bands = list(dash.chart.source.data["band"])
    big_green = bands.index("green")  # rows go largest first: an early green row is a big bubble
    small_gray = len(bands) - 1 - bands[::-1].index("gray") if "gray" in bands else None
    small_red = len(bands) - 1 - bands[::-1].index("red")
    top = small_gray if small_gray is not None else small_red
    dash.chart.source.selected.indices = [big_green, top]  # what Bokeh reports for a click on both
    assert dash.xray_account == dash.chart.source.data["account_id"][top]
    assert dash.chart.source.selected.indices == [top]
    assert dash.top_bubble([small_red, big_green]) == small_red  # red is drawn over green
    first_red = bands.index("red")
    if first_red != small_red:
        assert dash.top_bubble([first_red, small_red]) == small_red  # the smaller of two reds lies on top
