"""Plays where they show: the live dashboard (hover, X-Ray, form), batch snapshots and X-Ray pages, the views."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

import heatmap_lib as hm
from heatmap_lib.data.plays import PlayStore
from heatmap_lib.live.widgets import Dashboard
from heatmap_lib.reports.snapshot import snapshot, write_segment_xrays
from heatmap_lib.views.plays_view import effects_chart, effects_html, open_plays_html, suggestions_html


def _hover_texts(figure) -> dict[str, str]:
    """The "Open plays" hover line per account id, as the chart's hover and bubble data source hold it."""
    from bokeh.models import GlyphRenderer, HoverTool

    chart, figure = figure, getattr(figure, "figure", figure)
    (hover,) = figure.select({"type": HoverTool})
    spec = dict(hover.tooltips)["Open plays"]
    if spec.startswith("@acc{"):  # the live chart: a static text, looked up by the row's account (`BubbleChart.texts`)
        return dict(zip(map(str, chart.texts("account_id")), chart.texts(spec[5:-1]), strict=True))
    field = spec.lstrip("@").split("{")[0]
    source = next(r.data_source for r in figure.select({"type": GlyphRenderer}) if field in r.data_source.data)
    key = "account_id" if "account_id" in source.data else "account_name"  # snapshots leave the ids out
    return dict(zip(map(str, source.data[key]), source.data[field], strict=True))


def test_dashboard_counts_open_plays_in_the_hover_and_records_from_the_xray(demo: hm.Dataset, tmp_path: Path) -> None:
    summary = hm.account_summary(demo)
    first, second = summary["account_id"].iloc[0], summary["account_id"].iloc[1]
    store = PlayStore(tmp_path)
    store.add(first, "escalation", "Dana", due=dt.date(2020, 1, 1))  # overdue
    store.add(first, "business_review", "Dana")
    store.add(second, "business_review", "Lee", status="done")  # closed: not counted
    dash = Dashboard(demo, workspace=tmp_path)
    texts = _hover_texts(dash.chart)
    assert texts[first] == "2 open (1 overdue)" and texts[second] == ""

    dash.open_xray(second)
    assert "<h2>Plays</h2>" in dash.xray_output.value and "<h2>Suggested plays" in dash.xray_output.value
    assert dash.play_form.account_id == second
    dash.play_form.play.value, dash.play_form.owner.value = "executive_sponsor", "Kim"
    dash.play_form.record_button.click()
    assert _hover_texts(dash.chart)[second] == "1 open"  # the hover follows the store at once
    # a filter change keeps the line
    dash.panel.account_widgets["region"].value = (str(summary.set_index("account_id").loc[second, "region"]),)
    assert _hover_texts(dash.chart)[second] == "1 open"


def test_dashboard_without_a_workspace_has_no_plays(demo: hm.Dataset) -> None:
    dash = Dashboard(demo)
    assert dash.play_form is None
    assert "Open plays" not in dict(dash.chart.hover.tooltips) and "Open plays" not in dash.widget().__repr__()


def test_snapshot_shows_only_its_segments_plays_read_only(demo: hm.Dataset, tmp_path: Path) -> None:
    summary = hm.account_summary(demo)
    regions = summary.groupby("region")["account_id"].first()
    west, other = regions.index[0], regions.index[1]
    store = PlayStore(tmp_path / "ws")
    store.add(regions[west], "executive_sponsor", "Owner <b>West</b>", notes="west note")
    store.add(regions[other], "escalation", "Owner Other", notes="other note")
    before = (tmp_path / "ws" / "plays.sqlite").stat().st_mtime_ns

    snap = snapshot(demo, segment_by="region", segment=west, plays=tmp_path / "ws")
    page = snap.html()
    assert "Open plays by account manager" in page and "Owner &lt;b&gt;West&lt;/b&gt;" in page
    assert "other note" not in page and "Owner Other" not in page  # DESIGN 8: no other segment's data
    texts = _hover_texts(snap.layout.children[0])
    names = summary.set_index("account_id")["account_name"]
    assert texts[names[regions[west]]] == "1 open" and names[regions[other]] not in texts
    assert (tmp_path / "ws" / "plays.sqlite").stat().st_mtime_ns == before  # only read

    # a workspace with no store yet: no plays, and nothing created
    empty = snapshot(demo, segment_by="region", segment=west, plays=tmp_path / "none")
    assert "No open play" in empty.html() and not (tmp_path / "none").exists()


def test_segment_xray_pages_list_the_accounts_plays(demo: hm.Dataset, tmp_path: Path) -> None:
    summary = hm.account_summary(demo)
    account = summary.iloc[0]
    PlayStore(tmp_path / "ws").add(account.account_id, "business_review", "Dana", notes="QBR in March")
    n = write_segment_xrays(
        demo,
        segment_by="region",
        segment=account.region,
        xray_dir=tmp_path / "xray" / "seg",
        plays=tmp_path / "ws",
        play_rules=True,
    )
    assert n > 0
    page = (tmp_path / "xray" / "seg" / f"{account.account_id}.html").read_text(encoding="utf-8")
    assert "QBR in March" in page and "<h2>Suggested plays" in page


def test_views_escape_and_summarise() -> None:
    payload = "<img src=x onerror=alert(1)>"
    plays = pd.DataFrame(
        [
            {
                "play_id": "p",
                "account_id": "A1",
                "play": payload,
                "owner": payload,
                "due_date": dt.date(2026, 1, 1),
                "status": "open",
                "notes": payload,
                "created_at": dt.date(2025, 12, 1),
                "closed_at": None,
                "suggested_by": "",
            }
        ]
    )
    accounts = pd.DataFrame({"account_id": ["A1"], "account_name": [payload], "account_manager": [payload]})
    page = open_plays_html(plays, accounts, as_of=dt.date(2026, 1, 11))
    assert "<img" not in page and "10 d overdue" in page and "1 open, 1 overdue" in page
    suggested = pd.DataFrame(
        [
            {
                "account_id": "A1",
                "account_name": payload,
                "value": 1000.0,
                "band": "red",
                "play_label": payload,
                "rule": "r",
                "why": payload,
                "open_already": False,
            }
        ]
    )
    assert "<img" not in suggestions_html(suggested) and "1 suggested plays on 1 flagged accounts" in suggestions_html(
        suggested
    )
    effects = pd.DataFrame(
        [
            {
                "play": "executive_sponsor",
                "metric": "response_rate",
                "effect": 0.123,
                "low": 0.05,
                "high": 0.2,
                "treated_accounts": 30,
                "comparison_accounts": 200,
                "verdict": "helps",
            }
        ]
    )
    html = effects_html(effects)
    assert "+12.3" in html and "+5.0 to +20.0" in html and "helps" in html  # a fraction shown in points
    fig = effects_chart(effects, "response_rate")
    (dots,) = [r for r in fig.renderers if "effect" in r.data_source.data]
    assert list(dots.data_source.data["effect"]) == [12.3]
