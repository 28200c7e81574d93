"""The live dashboard's fast path (issue 3): `metrics.LiveSummary` and the vectorised chart and table builders.

Every figure the dashboard shows must equal what the plain library functions give for the same filters and
thresholds (`account_summary`, `not_surveyed`, `compare_waves`, `move_counts`), including after the caches were
filled and the filters, thresholds or compared wave changed. The vectorised text builders must give the texts the
one-by-one Python formatting gives.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import heatmap_lib as hm
from heatmap_lib.filters import scope
from heatmap_lib.live.widgets import Dashboard
from heatmap_lib.metrics import summary
from heatmap_lib.metrics.live_summary import MOVEMENT_VIEW_COLUMNS, LiveSummary
from heatmap_lib.metrics.summary import BANDS, heatmap_tables
from heatmap_lib.metrics.waves import compare_waves, move_counts, resolve_waves
from heatmap_lib.views.chart import DIRECTION_CODES, bubble_source_data, trail_source_data
from heatmap_lib.views.chart import texts as chart_module
from heatmap_lib.views.table import account_table_data

FILTERS = [
    {},
    {"role": ["decision_maker"]},
    {"region": ["West"]},
    {"region": ["West", "EMEA"], "role": ["decision_maker", "influencer"]},
    {"wave": ["2026-Q3"]},
    {"wave": ["2026-Q2"], "tier": ["Enterprise", "SMB"]},
    {"start": "2026-04-01", "end": "2026-06-30"},
    {"questionnaire": ["Relationship NPS"]},
    {"region": ["Atlantis"]},  # matches nothing: empty summary, a warning
]


def _scope(ds: hm.Dataset, filters: dict) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scope(ds, hm.FilterSet.from_dict(filters))


def _assert_same_comparison(got: pd.DataFrame, expected: pd.DataFrame, account_columns: tuple[str, ...]) -> None:
    assert list(got.columns) == list(expected.columns)
    core = [c for c in expected.columns if c not in account_columns or c in ("account_id", "account_name", "value")]
    pd.testing.assert_frame_equal(got[core], expected[core])
    # the other account columns hold the same values (compare_waves' merge may widen their dtypes and turn a
    # missing value's None into NaN)
    for c in expected.columns.difference(core):
        missing = expected[c].isna().to_numpy()
        np.testing.assert_array_equal(got[c].isna().to_numpy(), missing, err_msg=c)
        assert got[c][~missing].tolist() == expected[c][~missing].tolist(), c
    assert got.attrs == expected.attrs


def _assert_same_view(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The columns of a comparison the dashboard reads (`compare(..., full=False)`) hold compare_waves' values."""
    assert list(got.columns) == list(MOVEMENT_VIEW_COLUMNS)
    for c in MOVEMENT_VIEW_COLUMNS:
        pd.testing.assert_series_equal(got[c], expected[c], check_dtype=False, obj=c)
    assert got.attrs["waves"] == expected.attrs["waves"]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ";".join(f) or "all")
def test_live_tables_equal_heatmap_tables(demo: hm.Dataset, filters: dict) -> None:
    live = LiveSummary(demo)
    sc = _scope(demo, filters)
    for _ in range(2):  # the second time from the compiled-query cache
        got = live.tables(sc)
        summary, blind = heatmap_tables(demo, scoped=sc)
        pd.testing.assert_frame_equal(got.summary, summary)
        pd.testing.assert_frame_equal(got.blind_spots, blind)
        assert got.summary.attrs == summary.attrs and got.movement is None


@pytest.mark.parametrize("filters", [{}, {"region": ["West"]}, {"role": ["influencer"], "tier": ["SMB"]}])
@pytest.mark.parametrize("pair", [("2026-Q3", None), ("2026-Q2", None), ("2026-Q3", "2025-Q4")])
def test_live_comparison_equals_compare_waves(demo: hm.Dataset, filters: dict, pair: tuple) -> None:
    live = LiveSummary(demo)
    sc = _scope(demo, {**filters, "wave": [pair[0]]})
    wave, compare_to = resolve_waves(demo, pair[0], pair[1], scoped=sc, order=live.wave_order(sc))
    got = live.compare(sc, wave, compare_to)
    expected = compare_waves(demo, wave, compare_to, scoped=sc)
    _assert_same_comparison(got.movement, expected, demo.account_columns)
    assert got.move_counts == move_counts(expected)
    slim = live.compare(sc, wave, compare_to, full=False)
    _assert_same_view(slim.movement, expected)
    assert slim.move_counts == got.move_counts
    summary, blind = heatmap_tables(demo, scoped=sc)
    pd.testing.assert_frame_equal(got.summary, summary)
    pd.testing.assert_frame_equal(got.blind_spots, blind)


def test_live_comparison_with_thresholds_and_a_hand_built_story(builder, tmp_path) -> None:
    """New, dropped, newly silent and both-wave accounts; other thresholds move bands and moves."""
    b = builder
    b.account("A", 5000, name="Alpha")
    b.scores("A", "decision_maker", [10] * 12, wave="2026-Q2", sent_at="2026-04-10")
    b.scores("A", "decision_maker", [0] * 12, wave="2026-Q3", sent_at="2026-07-10")
    b.account("B", 100, name="Bravo")  # new in Q3
    b.scores("B", "influencer", [9, 8], wave="2026-Q3", sent_at="2026-07-10")
    b.account("C", 300, name="charlie")  # dropped after Q2
    b.scores("C", "influencer", [5], wave="2026-Q2", sent_at="2026-04-10")
    b.account("D", 700, name="Delta")  # newly silent
    b.scores("D", "day_to_day", [9], wave="2026-Q2", sent_at="2026-04-10")
    b.scores("D", "day_to_day", [None], wave="2026-Q3", sent_at="2026-07-10")
    b.account("E", 900, name="Echo")  # never surveyed
    ds = b.load(tmp_path / "data")
    live = LiveSummary(ds)
    sc = _scope(ds, {"wave": ["2026-Q3"]})
    for t in ({}, {"red_below": -50.0, "green_above": 50.0}, {"red_below": 0.0, "green_above": 0.0}):
        got = live.compare(sc, "2026-Q3", "2026-Q2", **t)
        expected = compare_waves(ds, "2026-Q3", "2026-Q2", scoped=sc, **t)
        _assert_same_comparison(got.movement, expected, ds.account_columns)
        _assert_same_view(live.compare(sc, "2026-Q3", "2026-Q2", full=False, **t).movement, expected)
        assert got.move_counts == move_counts(expected)
        pd.testing.assert_frame_equal(got.summary, hm.account_summary(ds, {"wave": ["2026-Q3"]}, **t))
    assert sorted(got.movement["wave_status"]) == ["both", "dropped", "new", "newly_silent"]


@pytest.mark.parametrize("filters", [{}, {"region": ["West"]}, {"wave": ["2026-Q2"], "role": ["influencer"]}])
def test_live_wave_order_equals_wave_order(demo: hm.Dataset, filters: dict) -> None:
    from heatmap_lib.metrics.waves import wave_order

    live = LiveSummary(demo)
    sc = _scope(demo, filters)
    assert live.wave_order(sc) == wave_order(demo, scoped=sc) == live.wave_order(sc)


def test_the_ibis_path_for_other_engines_gives_the_same_tables(demo: hm.Dataset) -> None:
    """Without a DuckDB connection (a server or Spark dataset) the query goes through Ibis: same figures."""
    other = dataclasses.replace(demo, con=None, _ibis=demo.ibis)
    live = LiveSummary(other)
    sc = _scope(other, {"region": ["West"], "wave": ["2026-Q3"]})
    got = live.compare(sc, "2026-Q3", "2026-Q2")
    assert not live._sql  # nothing compiled for the DuckDB connection
    pd.testing.assert_frame_equal(got.summary, heatmap_tables(demo, scoped=sc)[0])
    _assert_same_comparison(got.movement, compare_waves(demo, "2026-Q3", "2026-Q2", scoped=sc), demo.account_columns)


# --------------------------------------------------------------------------------------------------------------
# the dashboard after its caches are warm: never stale


def _assert_dashboard_shows(dash: Dashboard, ds: hm.Dataset, fs: hm.FilterSet, **thresholds: float) -> None:
    expected = hm.account_summary(ds, fs, **thresholds)
    pd.testing.assert_frame_equal(dash.summary, expected)
    pd.testing.assert_frame_equal(dash.blind_spots, hm.not_surveyed(ds, fs))
    rows = expected.set_index("account_id")
    data = dash.chart.source.data
    assert sorted(data["account_id"]) == sorted(rows.index)
    for i, account in enumerate(data["account_id"]):
        assert data["band"][i] == rows.loc[account, "band"]
        assert data["contacts_invited"][i] == rows.loc[account, "contacts_invited"]
        assert np.isclose(data["nps"][i], rows.loc[account, "nps"], equal_nan=True)
    table = dash.table.data
    assert list(table["account_id"]) == list(expected["account_id"])  # the summary's order: by name
    assert list(table["band"]) == list(expected["band"])


def test_changing_thresholds_after_caching_gives_fresh_bands(demo: hm.Dataset) -> None:
    dash = Dashboard(demo, hm.FilterSet(region=["West"]))
    _assert_dashboard_shows(dash, demo, hm.FilterSet(region=["West"]))
    dash.thresholds = {"red_below": 30.0, "green_above": 60.0}
    dash.refresh()  # same filters: the compiled query is reused, the bands are not
    _assert_dashboard_shows(dash, demo, hm.FilterSet(region=["West"]), red_below=30.0, green_above=60.0)
    assert "NPS > 60" in dash.chart.legend.items[0].label.value
    dash.thresholds = {"red_below": None, "green_above": None}
    dash.refresh()
    _assert_dashboard_shows(dash, demo, hm.FilterSet(region=["West"]))


def test_filters_back_and_forth_always_show_their_own_figures(demo: hm.Dataset) -> None:
    dash = Dashboard(demo)
    sets = [
        hm.FilterSet(role=["decision_maker"]),
        hm.FilterSet(region=["EMEA"]),
        hm.FilterSet(role=["decision_maker"]),  # again: cached query, fresh counts
        hm.FilterSet(),
        hm.FilterSet(region=["EMEA"], role=["influencer"]),
        hm.FilterSet(start="2026-01-01", end="2026-03-31"),
    ]
    for fs in sets:
        dash.panel.set_filters(fs)
        _assert_dashboard_shows(dash, demo, fs)


def test_the_compared_wave_and_thresholds_change_the_trails(demo: hm.Dataset) -> None:
    dash = Dashboard(demo)
    dash.panel.wave.value = ("2026-Q3",)
    first = dash.movement
    q3 = {"wave": ["2026-Q3"]}
    expected = compare_waves(demo, "2026-Q3", "2026-Q2", q3)
    _assert_same_view(first, expected)
    c = move_counts(expected)
    assert f"{c['new']:,} new, {c['dropped']:,} not surveyed again" in dash.movement_note.value
    trails = trail_source_data(dash.chart.source.data["account_id"], expected)
    for key, values in trails.items():
        np.testing.assert_array_equal(np.asarray(dash.chart.source.data[key]), values)
    dash.compare_to.value = "2025-Q4"
    _assert_same_view(dash.movement, compare_waves(demo, "2026-Q3", "2025-Q4", q3))
    assert "compared with <b>2025-Q4</b>" in dash.movement_note.value
    dash.thresholds = {"red_below": 0.0, "green_above": 40.0}
    dash.refresh()
    strict = compare_waves(demo, "2026-Q3", "2025-Q4", q3, red_below=0.0, green_above=40.0)
    _assert_same_view(dash.movement, strict)
    dash.compare_to.value = ""  # the wave before ...
    dash.panel.wave.value = (dash.panel.wave.options[0],)  # ... of the first wave: nothing to compare with
    assert dash.movement is None and "no wave was sent before" in dash.movement_note.value


# --------------------------------------------------------------------------------------------------------------
# vectorised texts: the same as one-by-one Python formatting


def test_nps_and_rate_texts_equal_python_formatting() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    p, pas, d = (rng.integers(0, 40, n) for _ in range(3))
    p[:50] = pas[:50] = d[:50] = 0  # silent
    inv = p + pas + d + rng.integers(0, 30, n)
    inv[50:60] = 0
    frame = summary.derive(
        pd.DataFrame(
            {
                "contacts_invited": inv,
                "invitations": inv,
                "responses": p + pas + d,
                "promoters": p,
                "passives": pas,
                "detractors": d,
            }
        )
    )
    # half points and near-halves, where rounding rules differ
    halves = np.array([0.5, -0.5, 1.5, -1.5, 2.5, 12.5, -12.5, 99.5, -99.5, 0.49999999999, -0.4, 100.0, -100.0])
    frame.loc[frame.index[100 : 100 + len(halves)], "nps"] = halves
    frame.loc[frame.index[200 : 200 + len(halves)], "nps_low"] = halves
    rates = np.array([0.005, 0.015, 0.125, 0.285, 0.5, 0.665, 0.995, 1.0, 0.0, 0.0049999])
    frame.loc[frame.index[300 : 300 + len(rates)], "response_rate"] = rates
    frame["invitations"] = frame["invitations"] * 97  # thousands separators
    want_nps = chart_module._nps_texts_one_by_one(frame).tolist()
    assert chart_module._nps_texts(frame).tolist() == want_nps
    want_rate = [
        f"{r:.0%} ({a:,} of {b:,})"
        for r, a, b in zip(frame["response_rate"], frame["responses"], frame["invitations"], strict=True)
    ]
    assert chart_module._rate_texts(frame).tolist() == want_rate
    assert "no response" in want_nps and any(", small sample: " in t for t in want_nps)


def _trail_source_data_reference(account_ids: list[str], movement: pd.DataFrame) -> dict:
    """trail_source_data as it was written with pandas (before issue 3), as the oracle."""
    ids = [str(a) for a in account_ids]
    m = movement.assign(account_id=movement["account_id"].astype(str)).drop_duplicates("account_id")
    m = m.set_index("account_id").reindex(ids)
    status = m["wave_status"]
    both = status.isin(["both", "newly_silent"]).to_numpy()
    codes = m["direction"].map(DIRECTION_CODES).where(status != "newly_silent", DIRECTION_CODES["newly_silent"])
    band_index = {b: i for i, b in enumerate(BANDS)}
    return {
        "footprint_prev": np.where(both, m["contacts_invited_prev"].to_numpy(dtype=float), np.nan).astype(np.float32),
        "trail": both.astype(np.int8),
        "direction": codes.fillna(-1).to_numpy(dtype=np.int8),
        "moved": m["moved"].eq(True).to_numpy().astype(np.int8),
        "nps_change": np.round(m["nps_change"].to_numpy(dtype=float)).astype(np.float32),
        "nps_change_low": np.round(m["nps_change_low"].to_numpy(dtype=float)).astype(np.float32),
        "nps_change_high": np.round(m["nps_change_high"].to_numpy(dtype=float)).astype(np.float32),
        "band_prev": m["band_prev"].map(band_index).where(both, -1).fillna(-1).to_numpy(dtype=np.int8),
    }


def test_trail_columns_equal_the_pandas_reference(demo: hm.Dataset) -> None:
    movement = compare_waves(demo, "2026-Q3", "2025-Q4")
    ids = [*movement["account_id"].astype(str).sample(frac=1.0, random_state=1), "not-an-account"]
    doubled = pd.concat([movement, movement.iloc[:5].assign(nps_change=99.0)])  # first row of an account counts
    for frame in (movement, doubled):
        got = trail_source_data(ids, frame)
        want = _trail_source_data_reference(ids, frame)
        assert list(got) == list(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
            assert got[key].dtype == want[key].dtype, key


def test_table_sorts_unsorted_input_and_keeps_sorted_input(demo: hm.Dataset) -> None:
    summary = hm.account_summary(demo)
    shuffled = summary.sample(frac=1.0, random_state=4)
    for frame in (summary, shuffled, shuffled.iloc[::-1]):
        data = account_table_data(frame)
        assert data["account_id"] == list(summary["account_id"])
        assert data["account_sort"] == [n.casefold() for n in summary["account_name"]]


def test_chart_source_texts_on_the_demo_equal_scalar_formatting(demo: hm.Dataset) -> None:
    summary = hm.account_summary(demo)
    data = bubble_source_data(summary, log_x=True)
    rows = summary.set_index("account_id")
    for i, account in enumerate(data["account_id"]):
        r = rows.loc[account]
        rate = f"{r.response_rate:.0%} ({r.responses:,} of {r.invitations:,})"
        assert data["rate_text"][i] == rate
        assert data["value_text"][i].startswith(f"{r.value:,.0f}")
        if math.isnan(r.nps):
            assert data["nps_text"][i] == "no response"
        else:
            assert data["nps_text"][i].startswith(chart_module._signed(r.nps) + " (")
        assert isinstance(data["account_name"][i], str) and data["account_name"][i] == r.account_name


def test_texts_for_large_counts_missing_values_and_outside_the_scale() -> None:
    big = pd.DataFrame({"response_rate": [0.5, 0.25], "responses": [2**22, 3], "invitations": [2**23, 12]})
    assert chart_module._rate_texts(big).tolist() == ["50% (4,194,304 of 8,388,608)", "25% (3 of 12)"]
    odd = pd.DataFrame({"response_rate": [1.5, float("nan")], "responses": [3, 0], "invitations": [2, 0]})
    assert chart_module._rate_texts(odd).tolist() == ["150% (3 of 2)", "nan% (0 of 0)"]
    assert chart_module._thousands([1234.5, float("nan"), 0.0, 1e9]).tolist() == ["1,234", "", "0", "1,000,000,000"]
    # the memo is keyed by the value: the same value always gives the same text, another value another text
    assert chart_module._thousands([1234.5, 1235.5]).tolist() == ["1,234", "1,236"]
    frame = pd.DataFrame({"nps": [250.0, 10.0], "nps_low": [-300.0, 0.4], "nps_high": [0.0, 20.0]})
    assert chart_module._nps_texts(frame).tolist() == ["250 (\u2212300 to 0)", "10 (0 to 20)"]


def test_a_new_filter_set_of_a_known_shape_rebinds_the_sql_and_gives_its_own_figures(builder, tmp_path) -> None:
    """The second region's query reuses the first's SQL with its own value bound; quotes never reach the SQL."""
    b = builder
    regions = ["West", "O'Brien's ' OR '1'='1", "East"]
    for i, region in enumerate(regions):
        b.account(f"A{i}", 1000 * (i + 1), name=f"Acc {i}", region=region)
        b.scores(f"A{i}", "decision_maker", [10 - 4 * i] * (i + 2), wave="2026-Q3")
    ds = b.load(tmp_path / "data")
    live = LiveSummary(ds)
    for region in regions:
        sc = _scope(ds, {"region": [region]})
        got = live.tables(sc)
        summary, blind = heatmap_tables(ds, scoped=sc)
        pd.testing.assert_frame_equal(got.summary, summary)
        pd.testing.assert_frame_equal(got.blind_spots, blind)
        assert got.summary["region"].tolist() == [region]
    # one compile for the shape {region: 1 value}; the others were bound to it
    compiled = [k for k in live._sql if k[0] == "tables"]
    assert len(compiled) == 1 and len([s for s in live._templates.values() if s]) == 1
    assert "$1" in next(s for s in live._templates.values() if s)
