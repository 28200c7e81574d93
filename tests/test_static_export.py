"""Static exports: PNG, SVG and PDF of the chart drawn by headless Chromium, xlsx and CSV of the table, the CLI."""

from __future__ import annotations

import argparse
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from bokeh.models import Title
from conftest import Builder

import heatmap_lib as hm
from heatmap_lib.cli.export import add_export_command, cmd_export
from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.views.chart import BAND_COLORS, bubble_chart
from heatmap_lib.views.export import about, header_words, with_sample_notes
from heatmap_lib.views.static_export import (
    browser_paths,
    export_caption,
    export_chart,
    export_table,
    static_copy,
)

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    b = Builder()
    b.account("A1", 5000, name="Zulu Corp", region="West")
    b.scores("A1", "decision_maker", [10, 10, 9, 8])
    b.account("A2", 100, name="Alpha red", region="West")
    b.scores("A2", "influencer", [0, 1, 2, 10])
    b.account("A3", 2000, name="Mid yellow", region="East")
    b.scores("A3", "day_to_day", [10, 0, 8, 7])
    b.account("A4", 0, name="Silent Co", region="West")
    b.scores("A4", "day_to_day", [None, None])
    b.account("A5", 9000, name=HOSTILE, region="East")
    b.scores("A5", "day_to_day", [9, 9, None])
    return b.write(tmp_path_factory.mktemp("export") / "data")


@pytest.fixture(scope="module")
def dataset(data_dir) -> hm.Dataset:
    return hm.load(data_dir)


@pytest.fixture(scope="module")
def summary(dataset) -> pd.DataFrame:
    return hm.account_summary(dataset, {"region": ["West", "East"]})


@pytest.fixture(scope="module")
def info(dataset, summary) -> dict:
    return about(dataset, summary)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def pdf_pages(path: Path) -> tuple[int, set[tuple[float, float]]]:
    """The page count and the distinct MediaBox sizes in points (the objects are plain text between streams)."""
    raw = path.read_bytes()
    assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", raw))
    number = rb"\s*(-?[\d.]+)"
    boxes = re.findall(rb"/MediaBox\s*\[" + number * 4, raw)
    return pages, {(float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in boxes}


# --------------------------------------------------------------------------------------------------------------
# no browser needed


def test_caption_says_where_the_chart_came_from(summary, info):
    lines = export_caption(summary, info)
    assert lines[0].startswith("Data: data (")
    assert "Filters: region: West, East" in lines[0]
    assert "5 surveyed accounts" in lines[0]
    assert "UTC" in lines[0]
    assert export_caption(summary.iloc[0:0])[0] == "Filters: region: West, East · 0 surveyed accounts"


def test_static_copy_leaves_the_live_chart_alone(summary):
    chart = bubble_chart(summary)
    before_below = list(chart.figure.below)
    copy = static_copy(chart, ["line one", "line two"])
    assert copy is not chart.figure and copy.id != "" and copy.toolbar_location is None
    captions = [t.text for t in copy.below if isinstance(t, Title)]
    assert captions == ["line one", "line two"]
    assert chart.figure.toolbar_location == "above"
    assert list(chart.figure.below) == before_below
    assert sorted(copy.select_one({"name": "bubbles"}).data_source.data["account_id"]) == sorted(summary["account_id"])


def test_unknown_suffix_and_non_charts_are_refused(summary, tmp_path):
    chart = bubble_chart(summary)
    with pytest.raises(HeatmapError, match=r"\.gif.*use \.png, \.svg, \.pdf"):
        export_chart(chart, tmp_path / "c.gif")
    with pytest.raises(HeatmapError, match="expected a Bokeh figure"):
        export_chart("not a chart", tmp_path / "c.png")
    with pytest.raises(HeatmapError, match=r"use \.xlsx, \.csv"):
        export_table(summary, tmp_path / "t.json")


def test_missing_browser_names_the_packages(monkeypatch):
    monkeypatch.setenv("HEATMAP_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(HeatmapError, match=r"apt-get install chromium chromium-driver"):
        browser_paths()
    monkeypatch.delenv("HEATMAP_CHROMIUM")
    monkeypatch.setenv("HEATMAP_CHROMEDRIVER", "/nonexistent/chromedriver")
    with pytest.raises(HeatmapError, match=r"chromedriver \(/nonexistent/chromedriver does not exist\)"):
        browser_paths()


def test_xlsx_table_reads_back_formatted(summary, info, tmp_path):
    out = export_table(summary, tmp_path / "accounts.xlsx", info)
    book = openpyxl.load_workbook(out)
    ws = book["accounts"]
    header = [c.value for c in ws[1]]
    # in words ("Response rate", "NPS 95% low"), with the small-sample note after the flag
    assert header == [header_words(c) for c in with_sample_notes(summary).columns]
    assert "Response rate" in header and "_" not in "".join(header)
    assert header.index(header_words("nps_note")) == header.index(header_words("small_sample")) + 1
    assert ws.max_row == len(summary) + 1
    assert ws.freeze_panes == "A2"
    assert ws.cell(1, 1).font.bold
    rate_col = header.index("Response rate") + 1
    assert ws.cell(2, rate_col).number_format == "0.0%"
    ids = [ws.cell(r, 1).value for r in range(2, ws.max_row + 1)]
    assert ids == list(summary["account_id"])
    band_col = openpyxl.utils.get_column_letter(header.index("Band") + 1)
    rules = {
        rule.formula[0].strip('"'): rule.dxf.fill.fgColor.rgb or rule.dxf.fill.bgColor.rgb
        for rng in ws.conditional_formatting
        if str(rng.sqref).startswith(band_col)
        for rule in rng.rules
    }
    assert set(rules) == set(hm.BANDS)
    assert "About" in book.sheetnames
    about_rows = {r[0].value: r[1].value for r in book["About"].iter_rows()}
    assert about_rows["filters"] == "region=West, East"


def test_csv_table_reads_back(summary, info, tmp_path):
    out = export_table(summary, tmp_path / "accounts.csv", info, columns=["account_id", "account_name", "band"])
    back = pd.read_csv(out, comment="#")
    assert list(back.columns) == ["account_id", "account_name", "band"]
    assert back["account_name"].tolist() == summary["account_name"].tolist()


def test_cli_exports_the_table_without_a_browser(data_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="heatmap")
    add_export_command(parser.add_subparsers(dest="command"))
    out = tmp_path / "out" / "table.xlsx"
    args = parser.parse_args(["export", str(data_dir), "--table", str(out), "--by-role"])
    assert args.func is cmd_export
    assert cmd_export(args) == 0
    back = pd.read_excel(out, sheet_name="accounts", engine="openpyxl")
    assert len(back) == 5 and "NPS decision makers" in back.columns
    with pytest.raises(HeatmapError, match="nothing to export"):
        cmd_export(parser.parse_args(["export", str(data_dir)]))
    with pytest.raises(HeatmapError, match=r"\.gif"):
        cmd_export(parser.parse_args(["export", str(data_dir), "--chart", "x.gif"]))


# --------------------------------------------------------------------------------------------------------------
# drawn by headless Chromium


@pytest.fixture(scope="module")
def chart(summary):
    return bubble_chart(summary, width=900, height=560)


@pytest.mark.browser
def test_png_is_the_chart_size(chart, summary, info, tmp_path):
    out = export_chart(chart, tmp_path / "chart.png", caption=export_caption(summary, info))
    assert png_size(out) == (900, 560)
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (900, 560)
        colours = {c for _, c in img.convert("RGB").getcolors(maxcolors=1_000_000)}
    # the bubbles are drawn: each band present shows its colour at 75% over white
    for band in set(summary["band"]):
        rgb = [int(BAND_COLORS[band][i : i + 2], 16) for i in (1, 3, 5)]
        blended = tuple(round(0.75 * c + 0.25 * 255) for c in rgb)
        assert any(all(abs(a - b) <= 2 for a, b in zip(c, blended, strict=True)) for c in colours), band
    assert chart.figure.toolbar_location == "above"  # the live chart kept its toolbar
    assert not list(tmp_path.glob(".chart.png.*"))  # no temporary file left behind


@pytest.mark.browser
def test_svg_parses_and_carries_the_caption(chart, tmp_path):
    out = export_chart(chart, tmp_path / "chart.svg", caption="Data: demo · Filters: region: West")
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert float(root.get("width")) == 900 and float(root.get("height")) == 560
    text = out.read_text(encoding="utf-8")
    assert "Filters: region: West" in text
    assert "Revenue at risk" in text and "Customer Heat Map" in text
    for label in ("Revenue at risk", "Expansion", "Customer Heat Map", "Filters: region: West", "NPS band"):
        assert text.count(label) == 1, label  # each label drawn once (Bokeh's invisible outline pass dropped)
    assert "<img" not in text  # the hostile account name is not drawn (no labels) nor leaked as markup


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(900, 560), (1400, 500)])
def test_pdf_is_one_page_the_size_of_the_chart(summary, tmp_path, width, height):
    wide = bubble_chart(summary, width=width, height=height)
    out = export_chart(wide, tmp_path / "chart.pdf", caption="caption")
    pages, sizes = pdf_pages(out)
    assert pages == 1 and len(sizes) == 1
    ((w, h),) = sizes
    # CSS pixels are 3/4 of a point; Chromium rounds the page to a hundredth of an inch
    assert w == pytest.approx(width * 0.75, abs=1.0) and h == pytest.approx(height * 0.75, abs=1.0)


@pytest.mark.browser
def test_cli_exports_chart_and_table(data_dir, tmp_path):
    parser = argparse.ArgumentParser(prog="heatmap")
    add_export_command(parser.add_subparsers(dest="command"))
    png, table = tmp_path / "c.png", tmp_path / "t.csv"
    args = parser.parse_args(
        ["export", str(data_dir), "--chart", str(png), "--table", str(table), "--log-x", "--width", "700"]
    )
    assert cmd_export(args) == 0
    assert png_size(png) == (700, 560)
    assert len(pd.read_csv(table, comment="#")) == 5
