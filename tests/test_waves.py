"""Wave over wave (heatmap_lib.metrics.waves and its views): statuses, two-sample interval, movers, trails, X-Ray."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Builder

import heatmap_lib as hm
from heatmap_lib.core.exceptions import FilterError, HeatmapError
from heatmap_lib.metrics.waves import (
    MOVES,
    compare_waves,
    move_counts,
    movers,
    nps_change,
    nps_change_interval,
    resolve_waves,
    wave_order,
)
from heatmap_lib.reports import snapshot as report
from heatmap_lib.views.chart import DIRECTION_CODES, bubble_chart, trail_source_data, update_chart

Q1 = {"wave": "2026-Q1", "sent_at": "2026-01-10"}
Q2 = {"wave": "2026-Q2", "sent_at": "2026-04-10"}
Q3 = {"wave": "2026-Q3", "sent_at": "2026-07-10"}
Z = 1.959963984540054


def two_waves() -> Builder:
    """Hand-built accounts over 2026-Q2 and 2026-Q3 (and one in 2026-Q1 only, to test the send order)."""
    b = Builder()
    a = b.account("A", 50_000, name="Alpha", account_manager="Ann")  # real drop, green -> red
    b.scores(a, "decision_maker", [10] * 12 + [7] * 5 + [3] * 3, **Q2)
    b.scores(a, "decision_maker", [10] * 5 + [7] * 5 + [3] * 10, **Q3)
    a = b.account("B", 1_000, name="Bravo")  # new in Q3
    b.scores(a, "influencer", [9, 9], **Q3)
    a = b.account("C", 2_000, name="Charlie")  # dropped: only Q2
    b.scores(a, "influencer", [2, 9], **Q2)
    a = b.account("D", 3_000, name="Delta")  # newly silent
    b.scores(a, "influencer", [9, 9], **Q2)
    b.scores(a, "influencer", [None, None], **Q3)
    a = b.account("E", 4_000, name="Echo")  # -50 on four answers: within noise, but green -> red
    b.scores(a, "influencer", [9, 9, 8, 3], **Q2)
    b.scores(a, "influencer", [9, 8, 3, 2], **Q3)
    a = b.account("F", 8_000, name="Foxtrot", account_manager="Fay")  # real rise, red -> green
    b.scores(a, "day_to_day", [2] * 12 + [9] * 3, **Q2)
    b.scores(a, "day_to_day", [10] * 12 + [2] * 3, **Q3)
    a = b.account("G", 6_000, name="Golf")  # same in both: yellow, no move
    b.scores(a, "day_to_day", [9, 8, 3], **Q2)
    b.scores(a, "day_to_day", [9, 8, 3], **Q3)
    a = b.account("H", 500, name="Hotel")  # Q1 only: before both
    b.scores(a, "day_to_day", [9], **Q1)
    return b


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> hm.Dataset:
    return two_waves().load(tmp_path_factory.mktemp("waves"))


@pytest.fixture(scope="module")
def cmp(ds: hm.Dataset) -> pd.DataFrame:
    return compare_waves(ds).set_index("account_id")


# --------------------------------------------------------------------------------------------------------------
# the two-sample interval


def by_hand(now: tuple[int, int, int], prev: tuple[int, int, int], add: float, extra: float) -> tuple[float, float]:
    def wave(p: int, pa: int, d: int) -> tuple[float, float]:
        n = p + pa + d + extra
        pp, dd = (p + add) / n, (d + add) / n
        return pp - dd, (pp + dd - (pp - dd) ** 2) / n

    (c1, v1), (c0, v0) = wave(*now), wave(*prev)
    half = Z * math.sqrt(v1 + v0)
    return 100 * (c1 - c0 - half), 100 * (c1 - c0 + half)


def test_two_sample_interval_by_hand() -> None:
    # docs/waves.md's worked example: 12/5/3 (NPS 45) then 5/5/10 (NPS -25)
    low, high = nps_change_interval((5, 5, 10), (12, 5, 3))
    assert (round(low, 2), round(high, 2)) == (-106.28, -15.46)
    assert (low, high) == pytest.approx(by_hand((5, 5, 10), (12, 5, 3), 0.75, 3))
    # the variances by hand: 0.564272 / 23 and 0.670132 / 23
    centre = (5.75 - 10.75) / 23 - (12.75 - 3.75) / 23
    half = Z * math.sqrt(0.5642722117 / 23 + 0.6701323251 / 23)
    assert (low, high) == pytest.approx((100 * (centre - half), 100 * (centre + half)), abs=1e-6)
    wald = nps_change_interval((5, 5, 10), (12, 5, 3), method="wald")
    assert wald == pytest.approx(by_hand((5, 5, 10), (12, 5, 3), 0, 0))
    assert (round(wald[0], 2), round(wald[1], 2)) == (-118.70, -21.30)
    c = nps_change((5, 5, 10), (12, 5, 3))
    assert (c.change, c.real, c.direction) == (-70.0, True, "down")


def test_small_samples_are_noise_under_the_adjusted_form() -> None:
    small = nps_change((1, 1, 2), (2, 1, 1))
    assert small.change == -50.0 and not small.real and small.direction == "noise"
    assert (round(small.low, 2), round(small.high, 2)) == (-111.23, 54.08)
    # one promoter, then one detractor: Wald calls it certain (zero variance); the adjusted interval does not
    assert nps_change((0, 0, 1), (1, 0, 0), method="wald").real
    one = nps_change((0, 0, 1), (1, 0, 0))
    assert not one.real and one.low == pytest.approx(-153.94, abs=0.01)
    three = nps_change((0, 0, 3), (3, 0, 0))  # three unanimous answers each way: real, and wide
    assert three.real and (round(three.low, 2), round(three.high, 2)) == (-180.02, -19.98)
    rise = nps_change((12, 5, 3), (5, 5, 10))
    assert rise.direction == "up" and rise.low == pytest.approx(15.46, abs=0.01)


def test_undefined_when_a_wave_has_no_answer() -> None:
    assert nps_change_interval((0, 0, 0), (1, 0, 0)) is None
    c = nps_change((2, 0, 0), (0, 0, 0))
    assert (c.change, c.low, c.high, c.real, c.direction) == (None, None, None, False, "undefined")
    with pytest.raises(HeatmapError, match="unknown interval method"):
        nps_change_interval((1, 0, 0), (1, 0, 0), method="exact")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------
# per account


def test_statuses_and_band_transitions(cmp: pd.DataFrame) -> None:
    assert cmp.attrs["waves"] == {"wave": "2026-Q3", "compare_to": "2026-Q2"}
    assert "H" not in cmp.index  # surveyed in neither wave
    assert cmp["wave_status"].to_dict() == {
        "A": "both",
        "B": "new",
        "C": "dropped",
        "D": "newly_silent",
        "E": "both",
        "F": "both",
        "G": "both",
    }
    assert cmp["band_transition"].to_dict() == {
        "A": "green→red",
        "B": "—→green",
        "C": "yellow→—",
        "D": "green→gray",
        "E": "green→red",
        "F": "red→green",
        "G": "yellow→yellow",
    }
    assert cmp.loc[["A", "D", "E", "F"], "band_changed"].all() and not cmp.loc[["B", "C", "G"], "band_changed"].any()
    assert cmp["direction"].to_dict() == {
        "A": "down",
        "B": "undefined",
        "C": "undefined",
        "D": "undefined",
        "E": "noise",
        "F": "up",
        "G": "noise",
    }
    assert cmp["nps_change_real"].to_dict() == {k: k in ("A", "F") for k in cmp.index}
    assert cmp["moved"].to_dict() == {k: k in ("A", "D", "E", "F") for k in cmp.index}


def test_both_waves_figures_match_the_hand_counts(cmp: pd.DataFrame) -> None:
    a = cmp.loc["A"]
    assert (a.promoters, a.passives, a.detractors, a.promoters_prev, a.passives_prev, a.detractors_prev) == (
        5,
        5,
        10,
        12,
        5,
        3,
    )
    assert (a.nps, a.nps_prev, a.nps_change) == (-25.0, 45.0, -70.0)
    assert (a.nps_change_low, a.nps_change_high) == pytest.approx(nps_change_interval((5, 5, 10), (12, 5, 3)))
    assert (a.nps_low, a.nps_high) == pytest.approx(hm.nps_interval(5, 5, 10))
    b, c, d = cmp.loc["B"], cmp.loc["C"], cmp.loc["D"]
    assert b.contacts_invited_prev == 0 and math.isnan(b.response_rate_prev) and pd.isna(b.band_prev)
    assert b.footprint_change == 2 and math.isnan(b.nps_change)
    assert c.contacts_invited == 0 and pd.isna(c.band) and c.account_name == "Charlie" and c.value == 2000
    assert d.responses == 0 and d.band == "gray" and d.response_rate_change == -1.0
    assert math.isnan(d.nps_change_low)


def test_each_wave_equals_the_account_summary_of_that_wave(ds: hm.Dataset, cmp: pd.DataFrame) -> None:
    cols = ["contacts_invited", "invitations", "responses", "response_rate", "nps", "nps_low", "nps_high", "band"]
    for wave, suffix in (("2026-Q3", ""), ("2026-Q2", "_prev")):
        summary = hm.account_summary(ds, {"wave": [wave]}).set_index("account_id")
        got = cmp.loc[summary.index, [c + suffix for c in cols]]
        got.columns = cols
        pd.testing.assert_frame_equal(got, summary[cols], check_dtype=False)


def test_default_and_explicit_waves(ds: hm.Dataset) -> None:
    assert wave_order(ds) == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert resolve_waves(ds) == ("2026-Q3", "2026-Q2")
    assert resolve_waves(ds, filters={"wave": ["2026-Q2"]}) == ("2026-Q2", "2026-Q1")
    assert resolve_waves(ds, "2026-Q3", "2026-Q1") == ("2026-Q3", "2026-Q1")
    # a region with no Q2 invitation skips to the wave before that it does have
    assert wave_order(ds, {"account_id": ["H", "A"]}) == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert resolve_waves(ds, "2026-Q3", filters={"account_id": ["H", "B"]}) == ("2026-Q3", "2026-Q1")
    with pytest.raises(HeatmapError, match="no wave was sent before '2026-Q1'"):
        resolve_waves(ds, "2026-Q1")
    with pytest.raises(HeatmapError, match=r"compare_to '2030-Q1' has no invitation in scope \(waves in scope"):
        compare_waves(ds, "2026-Q3", "2030-Q1")
    with pytest.raises(HeatmapError, match="with itself"):
        compare_waves(ds, "2026-Q3", "2026-Q3")
    q1 = compare_waves(ds, "2026-Q3", "2026-Q1").set_index("account_id")
    assert q1.loc["H", "wave_status"] == "dropped" and q1.loc["A", "wave_status"] == "new"


def test_the_other_filters_apply_to_both_waves(ds: hm.Dataset) -> None:
    leaders = compare_waves(ds, filters={"role": ["decision_maker", "influencer"], "wave": ["2026-Q3"]})
    assert set(leaders["account_id"]) == {"A", "B", "C", "D", "E"}  # F and G have day-to-day users only
    assert leaders.attrs["filters"]["role"] == ["decision_maker", "influencer"]
    west = compare_waves(ds, filters={"account_id": ["A", "F"]})
    assert list(west["account_id"]) == ["A", "F"]


def test_an_accounts_column_called_like_a_comparison_column_is_kept(tmp_path: Path) -> None:
    b = two_waves()
    for row in b.accounts:
        row["status"] = "active"
        row["moved"] = "no"
    c = compare_waves(b.load(tmp_path / "d"))
    assert (c["status"] == "active").all() and (c["account_moved"] == "no").all()
    assert c["moved"].dtype == bool


# --------------------------------------------------------------------------------------------------------------
# movers


def test_movers_order_and_moves(cmp: pd.DataFrame) -> None:
    table = movers(cmp.reset_index())
    assert list(table["account_id"]) == ["A", "E", "D", "F"]
    assert list(table["move"]) == ["newly red", "newly red", "newly silent", "real rise"]
    assert table.loc[0, "moves"] == "newly red; real drop"
    assert table.loc[3, "moves"] == "real rise; newly green"
    assert list(table["verdict"]) == ["real", "within noise", "undefined", "real"]
    assert move_counts(cmp.reset_index()) == {
        "newly red": 2,
        "real drop": 1,
        "newly silent": 1,
        "real rise": 1,
        "newly green": 1,
        "new": 1,
        "dropped": 1,
    }
    assert list(movers(cmp.reset_index(), limit=1)["account_id"]) == ["A", "D", "F"]
    assert set(MOVES) >= set(table["move"])


def test_movers_within_a_move_most_valuable_first(tmp_path: Path) -> None:
    b = Builder()
    for aid, value in (("S", 100), ("L", 9_000), ("M", 5_000)):
        b.account(aid, value)
        b.scores(aid, "influencer", [10] * 10, **Q2)
        b.scores(aid, "influencer", [1] * 10, **Q3)
    table = movers(compare_waves(b.load(tmp_path / "d")))
    assert list(table["account_id"]) == ["L", "M", "S"] and set(table["move"]) == {"newly red"}


def test_movers_export_as_csv_and_xlsx(ds: hm.Dataset, cmp: pd.DataFrame, tmp_path: Path) -> None:
    from heatmap_lib.views.export import about, write_table

    table = movers(cmp.reset_index())
    info = about(ds, table, waves="2026-Q3 compared with 2026-Q2")
    back = pd.read_csv(write_table(table, tmp_path / "movers.csv", info), comment="#")
    assert list(back["account_id"]) == ["A", "E", "D", "F"] and back.loc[0, "band_transition"] == "green→red"
    xlsx = pd.read_excel(
        write_table(table, tmp_path / "movers.xlsx", info, sheet="movers"), sheet_name=None, engine="openpyxl"
    )
    assert list(xlsx["movers"]["move"]) == list(table["move"]) and "About" in xlsx


# --------------------------------------------------------------------------------------------------------------
# chart


def test_trail_columns_follow_the_bubble_order(ds: hm.Dataset, cmp: pd.DataFrame) -> None:
    movement = cmp.reset_index()
    movement.attrs = cmp.attrs
    summary = hm.account_summary(ds, {"wave": ["2026-Q3"]})
    chart = bubble_chart(summary, movement=movement)
    data = chart.source.data
    row = {a: i for i, a in enumerate(data["account_id"])}
    assert set(row) == {"A", "B", "D", "E", "F", "G"}  # this wave's accounts: the dropped one is no bubble
    assert data["trail"][row["B"]] == 0 and math.isnan(data["footprint_prev"][row["B"]])  # new: no trail
    assert data["trail"][row["A"]] == 1 and data["footprint_prev"][row["A"]] == 20
    assert data["direction"][row["A"]] == DIRECTION_CODES["down"]
    assert data["direction"][row["F"]] == DIRECTION_CODES["up"]
    assert data["direction"][row["E"]] == DIRECTION_CODES["noise"]
    assert data["direction"][row["D"]] == DIRECTION_CODES["newly_silent"]
    assert [data["moved"][row[a]] for a in "ABDEFG"] == [1, 0, 1, 1, 1, 0]
    assert data["band_prev"][row["A"]] == hm.BANDS.index("green")
    segments, starts = chart.trails
    assert segments.glyph.y0 == "footprint_prev" and segments.glyph.y1 == "contacts_invited"
    assert segments.view.filter.column_name == "trail" and starts.view.filter.group == 1
    assert chart.trail_legend is not None and "2026-Q2" in chart.trail_legend.title
    assert [i.label.value for i in chart.trail_legend.items] == ["Real rise", "Real drop", "Within noise"]
    hover = next(t for t in chart.figure.tools if type(t).__name__ == "HoverTool")
    assert hover.tooltips[-1] == ("NPS change", "@direction{custom}")
    update_chart(chart, summary)  # another summary without a comparison: no trail drawn
    assert not np.any(chart.source.data["trail"]) and (np.asarray(chart.source.data["direction"]) == -1).all()
    assert "compared wave" in chart.trail_legend.title
    assert bubble_chart(summary).trails == ()  # no movement asked: the chart is as before


def test_trail_data_without_a_comparison() -> None:
    empty = trail_source_data(["x", "y"], None)
    assert list(empty["trail"]) == [0, 0] and list(empty["moved"]) == [0, 0]
    assert trail_source_data([], pd.DataFrame())["trail"].size == 0


# --------------------------------------------------------------------------------------------------------------
# snapshots


def _sources(snap: report.Snapshot) -> list[Any]:
    return [m for m in snap.layout.references() if (getattr(m, "name", None) or "").startswith("hm-source-")]


def test_a_wave_snapshot_carries_trails_toggles_and_movers(ds: hm.Dataset) -> None:
    snap = report.snapshot(ds, segment_by="wave", segment="2026-Q3")
    open_note = (
        "2026-Q3 is still open (last sent 2026-07-10; answers may arrive until 2026-07-31): its response rates "
        "and NPS may still move."
    )  # Q3 is the data's last day
    assert snap.waves == {"wave": "2026-Q3", "compare_to": "2026-Q2", "open_note": open_note}
    assert snap.move_counts is not None and snap.move_counts["newly red"] == 2
    controls = snap.controls_html()
    assert 'class="hm-trails" checked' in controls and 'data-column="moved" value="1"' in controls
    assert "Trails since 2026-Q2" in controls
    trails = [m for m in snap.layout.references() if (getattr(m, "name", None) or "").startswith("hm-trail-")]
    assert sorted(t.name for t in trails) == [f"hm-trail-{snap.uid}-0", f"hm-trail-{snap.uid}-1"]
    for src in _sources(snap):  # chart and table both filter on the moved facet
        assert "moved" in src.data
    page = snap.html()
    assert "<h3>Movers since 2026-Q2</h3>" in page and "newly red; real drop" in page
    assert "compared with <b>2026-Q2</b>: 2 newly red, 1 real drop" in page
    assert "trails run from the footprint then to the footprint now. " + open_note in page
    assert "Charlie" not in snap.movers_html()  # the dropped account is counted, not listed as a mover
    assert page.index("<h3>Movers since") < page.index("<h3>Not surveyed")


def test_snapshot_waves_parameters(ds: hm.Dataset) -> None:
    everything = report.snapshot(ds)  # all waves: no trail, no toggle, page as before
    assert everything.waves is None and 'class="hm-trails"' not in everything.controls_html()
    assert everything.movers_html() == "" and "Wave over wave" not in everything.header_html()
    west = report.snapshot(ds, segment_by="region", segment="West", wave="2026-Q3", compare_to="2026-Q1")
    assert west.waves is not None and west.headline.surveyed == 6
    assert {k: west.waves[k] for k in ("wave", "compare_to")} == {"wave": "2026-Q3", "compare_to": "2026-Q1"}
    assert west.title.endswith(", wave 2026-Q3")
    first = report.snapshot(ds, segment_by="wave", segment="2026-Q1")
    assert first.waves is None and "no wave was sent before" in first.header_html()
    with pytest.raises(FilterError, match="compare_to: wave '2030-Q9' does not occur"):
        report.snapshot(ds, segment_by="wave", segment="2026-Q3", compare_to="2030-Q9")
    with pytest.raises(FilterError, match="wave '2026-Q2' is outside the report's waves: 2026-Q3"):
        report.snapshot(ds, segment_by="wave", segment="2026-Q3", wave="2026-Q2")


def test_a_1k_account_report_with_trails_stays_under_2_mb(tmp_path: Path) -> None:
    import nbformat

    from heatmap_lib.data.demo import write_demo

    # the page `heatmap run` writes for segment_by: wave (X-Ray links as batch makes them), without papermill.
    # At 1,041 accounts: 1.961 MB, here and from a real run (the same page was 1.99 MB without trails before the
    # hover lines were formatted in the browser)
    big = hm.load(write_demo(tmp_path / "demo", accounts=1200, seed=5, fmt="csv"))
    href = "xray/2026-q3/{account_id}.html"
    snap = report.snapshot(big, segment_by="wave", segment="2026-Q3", log_x=True, xray_href=href)
    assert snap.headline.surveyed >= 1000 and snap.waves is not None and snap.movers_total > 0
    nb = nbformat.v4.new_notebook()
    intro = Path(__file__).resolve().parent.parent / "notebooks" / "customer_heatmap.ipynb"
    nb.cells = [nbformat.read(intro, as_version=4).cells[0], nbformat.v4.new_code_cell("")]
    bundle = snap._repr_mimebundle_()
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"text/html": bundle["text/html"]})]
    page = report.notebook_to_html(nb, title="wave 2026-Q3")
    assert len(page.encode()) < 2_000_000, len(page.encode())


# --------------------------------------------------------------------------------------------------------------
# X-Ray and live dashboard


def test_xray_shows_the_comparison(ds: hm.Dataset) -> None:
    from heatmap_lib.metrics.xray import xray
    from heatmap_lib.views.xray_view import xray_page

    x = xray(ds, "A")  # all waves: the latest against the one before
    assert x.comparison is not None and (x.comparison["wave"], x.comparison["compare_to"]) == ("2026-Q3", "2026-Q2")
    page = xray_page(x)
    assert "<h2>Wave over wave: 2026-Q3 compared with 2026-Q2</h2>" in page
    assert "<b>−70</b> (−106 to −15), real drop" in page
    assert page.index("Wave over wave:") < page.index("<h2>Trend")
    assert "within noise" in xray_page(xray(ds, "E"))
    assert "Not surveyed in 2026-Q2" in xray_page(xray(ds, "B"))
    assert "Newly silent" in xray_page(xray(ds, "D"))
    old = xray(ds, "H")  # surveyed in neither of the two waves
    assert "not surveyed in 2026-Q3 or 2026-Q2" in xray_page(old)
    assert xray(ds, "A", compare_to="2026-Q1").comparison["row"]["wave_status"] == "new"
    q2 = xray(ds, "A", {"wave": ["2026-Q2"]})
    assert (q2.comparison["wave"], q2.comparison["compare_to"]) == ("2026-Q2", "2026-Q1")


def test_live_dashboard_trails_and_movers_toggle(ds: hm.Dataset) -> None:
    from heatmap_lib.live.widgets import Dashboard

    dash = Dashboard(ds)
    assert "Select one wave" in dash.movement_note.value and not np.any(dash.chart.source.data["trail"])
    assert len(dash.chart.trails) == 2  # the layer exists, empty, so it can fill in place later
    dash.panel.wave.value = ("2026-Q3",)
    assert "compared with <b>2026-Q2</b>" in dash.movement_note.value
    # as the snapshot says it (#18): Q3 ends on the data's last day, so its answers may still arrive
    open_note = "2026-Q3 is still open (last sent 2026-07-10; answers may arrive until 2026-07-31)"
    assert open_note in dash.movement_note.value
    assert int(np.sum(dash.chart.source.data["trail"])) == 5  # A, D, E, F, G
    dash.movers_only.value = True
    assert sorted(dash.chart.source.data["account_id"]) == ["A", "D", "E", "F"]
    assert sorted(dash.table.data["account_id"]) == ["A", "D", "E", "F"]
    dash.show_trails.value = False
    assert not any(r.visible for r in dash.chart.trails)
    dash.compare_to.value = "2026-Q1"
    assert "compared with <b>2026-Q1</b>" in dash.movement_note.value
    assert sorted(dash.chart.source.data["account_id"]) == []  # nobody answered in both Q1 and Q3
    dash.movers_only.value = False
    assert len(dash.chart.source.data["account_id"]) == 6
    dash.panel.wave.value = ("2026-Q2",)  # Q2 compared with Q1: both closed, no warning
    assert "compared with <b>2026-Q1</b>" in dash.movement_note.value and "still open" not in dash.movement_note.value


def test_notebook_declares_wave_and_compare_to(tmp_path: Path) -> None:
    import yaml

    from heatmap_lib.reports import batch

    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "customer_heatmap.ipynb"
    declared = batch.declared_parameters(notebook)
    assert declared["wave"]["default"] == "None" and declared["compare_to"]["default"] == "None"
    data = two_waves().write(tmp_path / "data")
    spec = tmp_path / "spec.yaml"
    keys = {"notebook": str(notebook), "data": str(data), "segment_by": "region", "output": "out"}
    spec.write_text(yaml.safe_dump({**keys, "parameters": {"wave": "2026-Q3", "compare_to": "2026-Q1"}}))
    assert batch.load_spec(spec).parameters == {"wave": "2026-Q3", "compare_to": "2026-Q1"}


def test_hostile_wave_names_are_escaped(tmp_path: Path) -> None:
    from heatmap_lib.metrics.xray import xray
    from heatmap_lib.views.xray_view import xray_page

    before, now = "<img src=x onerror=alert(1)>", "</script><b>W2</b>"
    b = Builder()
    b.account("A", name="Alpha")
    b.scores("A", "influencer", [10, 10, 10], wave=before, sent_at="2026-01-10")
    b.scores("A", "influencer", [1, 1, 1], wave=now, sent_at="2026-04-10")
    data = b.load(tmp_path / "d")
    snap = report.snapshot(data, segment_by="wave", segment=now)
    assert snap.waves is not None and (snap.waves["wave"], snap.waves["compare_to"]) == (now, before)
    assert now in snap.waves["open_note"]  # the open wave is named in the note, escaped on the page as elsewhere
    page = snap.html()
    for raw in (before, now):
        assert raw not in page
    assert "Trails since &lt;img src=x onerror=alert(1)&gt;" in snap.controls_html()
    assert "&lt;img src=x onerror=alert(1)&gt;" in snap.movers_html()
    x = xray_page(xray(data, "A"))
    assert before not in x and now not in x and "&lt;/script&gt;&lt;b&gt;W2&lt;/b&gt;" in x
