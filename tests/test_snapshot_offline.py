"""A batch report a reader works with offline (DESIGN.md section 8, issue 16), in headless Chromium with every
request leaving file:// refused: filters set in the page recompute the figures exactly as `hm.account_summary`
does; the downloads (PNG, CSV of the view, xlsx), printing every row, the three-click sort, new-tab links and the
link back to the run's index."""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import yaml
from conftest import CHROMIUM
from test_snapshot_browser import Page

import heatmap_lib as hm
from heatmap_lib.metrics.summary import COUNT_COLUMNS
from heatmap_lib.reports import batch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make system-deps)"),
]
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "customer_heatmap.ipynb"
TIER = "Mid-Market"
BAND_LABELS = {"green": "Positive", "yellow": "Neutral", "red": "Negative", "gray": "Silent"}
ROWS = """() => Array.from(document.querySelectorAll("table.hm-accounts tbody tr")).map(tr => ({
  id: tr.dataset.account, cells: Array.from(tr.children).map(td => td.textContent)}))"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> tuple[Path, Path]:
    """A real run (papermill, nbconvert) of one tier's report on the demo data: (run folder, report page)."""
    folder = tmp_path_factory.mktemp("offline-run")
    spec = folder / "spec.yaml"
    keys = {
        "notebook": str(NOTEBOOK),
        "data": str(demo_dir),
        "segment_by": "tier",
        "segments": [TIER],
        "output": "out",
        "workers": 1,
    }
    spec.write_text(yaml.safe_dump(keys))
    result = batch.run(batch.load_spec(spec), progress=False)
    assert result.exit_status == 0, [s.error for s in result.failed]
    seg = result.segments[0]
    return result.folder, result.folder / (seg.html or "")


@pytest.fixture(scope="module")
def ds(demo_dir: Path) -> hm.Dataset:
    return hm.load(demo_dir)


def open_report(browser: Any, path: Path) -> Page:
    page = Page(browser, path)
    page.wait_for_bokeh()
    page.page.wait_for_function("() => window.HeatmapOffline && Object.keys(HeatmapOffline.snapshots).length === 1")
    return page


def choose(p: Any, selection: dict[str, list[str]]) -> None:
    """Set a selection through the page's controls, as a reader does: open each list, tick the values."""
    p.locator(".hm-reset").click()
    for key, values in selection.items():
        if key == "name":
            p.locator("input.hm-search").fill(values[0])
            continue
        facet = p.locator(f'.hm-facet[data-column="{key}"]')
        facet.locator("summary").click()
        for v in values:
            facet.locator(f'input[value="{v}"]').check()
        facet.locator("summary").click()


def fixed1(x: float) -> str:
    return f"{x:.1f}".replace("-", "\u2212")


def expected_cells(r: pd.Series) -> list[str]:
    """The table's cells from contacts invited to band, as the page writes them, from a summary row."""
    silent = r["responses"] == 0
    nps = "no response" if silent else fixed1(r["nps"]) + (" (small sample)" if r["small_sample"] else "")
    interval = "" if silent else f"{fixed1(r['nps_low'])} to {fixed1(r['nps_high'])}"
    rate = f"{r['response_rate']:.1%} ({r['responses']:,} of {r['invitations']:,})"
    return [f"{r['contacts_invited']:,}", rate, nps, interval, BAND_LABELS[r["band"]]]


def combos(ds: hm.Dataset) -> list[dict[str, list[str]]]:
    facts = ds.table("invitation_facts").to_pandas()
    accounts = ds.table("accounts").to_pandas()
    mine = accounts[accounts["tier"] == TIER]
    waves = sorted(facts["wave"].unique())
    regions = mine["region"].value_counts().index.tolist()
    industries = mine["industry"].value_counts().index.tolist()
    return [
        {"role": ["decision_maker", "influencer"]},
        {"wave": [waves[-1]]},
        {"questionnaire": ["Relationship NPS"]},
        {"region": [regions[0]]},
        {"industry": [industries[0], industries[1]]},
        {"role": ["decision_maker"], "wave": [waves[-1]], "questionnaire": ["Relationship NPS"]},
        {"region": [regions[1]], "role": ["influencer", "day_to_day"]},
        {"industry": [industries[0]], "wave": [waves[0], waves[-1]]},
        {"questionnaire": ["Support Follow-up"], "role": ["day_to_day"]},
        {"region": [regions[0]], "industry": [industries[0]], "role": ["decision_maker", "influencer"]},
    ]


def test_filters_set_in_the_page_recompute_what_account_summary_says(
    browser: Any, run: tuple[Path, Path], ds: hm.Dataset
) -> None:
    page = open_report(browser, run[1])
    p = page.page
    checked = 0
    for selection in combos(ds):
        choose(p, selection)
        expected = hm.account_summary(ds, {"tier": [TIER], **selection})
        rows = {r["id"]: r["cells"] for r in p.evaluate(ROWS)}
        assert set(rows) == set(expected["account_id"].astype(str)), selection  # the same accounts shown
        assert p.locator(".hm-count").inner_text().startswith(f"{len(expected):,} of ")
        picks = expected.iloc[[0, len(expected) // 4, len(expected) // 2, 3 * len(expected) // 4, -1]]
        for _, r in picks.iterrows():
            assert rows[str(r["account_id"])][3:] == expected_cells(r), (selection, r["account_name"])
            checked += 1
        # every account's raw figures, from the one function the page computes with
        uid = p.evaluate("() => Object.keys(HeatmapOffline.snapshots)[0]")
        js = p.evaluate(
            """([uid, sel]) => { const s = HeatmapOffline.snapshots[uid], f = s.compute(sel);
               const ids = s.data.raw.accounts.id;
               const out = {}; ids.forEach((a, i) => { if (f.invitations[i] > 0) out[a] = [f.contacts_invited[i],
               f.invitations[i], f.responses[i], f.promoters[i], f.passives[i], f.detractors[i], f.response_rate[i],
               f.nps[i], f.nps_low[i], f.nps_high[i], f.band[i]]; }); return out; }""",
            [uid, selection],
        )
        assert set(js) == set(expected["account_id"].astype(str))
        for _, r in expected.iterrows():
            got = js[str(r["account_id"])]
            counts = [int(r[c]) for c in COUNT_COLUMNS]
            assert got[:6] == counts, (selection, r["account_name"])
            for value, column in zip(got[6:10], ("response_rate", "nps", "nps_low", "nps_high"), strict=True):
                want = r[column]
                if math.isnan(want):
                    assert value is None or math.isnan(value)
                else:
                    assert value == pytest.approx(want, abs=1e-9), (selection, r["account_name"], column)
            assert got[10] == r["band"]
        blind = hm.not_surveyed(ds, {"tier": [TIER], **selection})  # the not-surveyed list follows the filters too
        listed = p.evaluate("() => document.querySelectorAll('.hm-not-surveyed tbody tr').length")
        assert listed == len(blind), selection
        words = p.locator(".hm-now").inner_text()
        assert words.startswith("Filters you set:") and "_" not in words  # plain words: "Role: decision makers"
    assert checked >= 40
    choose(p, {"role": ["decision_maker", "influencer"]})
    assert "Role: decision makers, influencers" in p.locator(".hm-now").inner_text()
    choose(p, {"band": ["red"]})
    reds = hm.account_summary(ds, {"tier": [TIER]}).query("band == 'red'")
    assert {r["id"] for r in p.evaluate(ROWS)} == set(reds["account_id"].astype(str))
    page.clean()
    p.close()


def test_downloads_open_and_hold_what_is_shown(browser: Any, run: tuple[Path, Path], ds: hm.Dataset) -> None:
    page = open_report(browser, run[1])
    p = page.page
    choose(p, {"role": ["decision_maker", "influencer"]})
    p.locator("table.hm-accounts th", has_text="Value").click()
    shown = p.evaluate(ROWS)
    with p.expect_download() as got:
        p.locator(".hm-dl-csv").click()
    csv_file = got.value
    assert csv_file.suggested_filename.endswith(".csv") and TIER.lower() in csv_file.suggested_filename
    text = Path(csv_file.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(shown)
    assert [r["Account"] for r in rows] == [r["cells"][0] for r in shown]  # the order shown
    values = [float(r["Value"]) for r in rows]
    assert values == sorted(values)

    with p.expect_download() as got:
        p.locator(".hm-dl-png").click()
    png = got.value
    assert png.suggested_filename == csv_file.suggested_filename[:-4] + ".png"
    data = Path(png.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    canvas = p.evaluate("() => { for (const v of Bokeh.index.all_views()) if (v.model.type === 'Figure') "
                        "return v.canvas_view.webgl ? 0 : v.el.getBoundingClientRect().height; }")  # fmt: skip
    assert image.height > canvas  # the chart and a footer under it

    with p.expect_download() as got:
        p.locator(".hm-dl-xlsx").click()
    book = openpyxl.load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()))
    sheet = book.worksheets[0]
    summary = hm.account_summary(ds, {"tier": [TIER]})
    assert sheet.max_row - 1 == len(summary)
    names = {c.value for c in sheet["A"][1:]}
    assert names == set(summary["account_name"])
    page.clean()
    p.close()


def test_printing_gives_every_row_with_page_headers(browser: Any, run: tuple[Path, Path], ds: hm.Dataset) -> None:
    from pypdf import PdfReader

    page = open_report(browser, run[1])
    p = page.page
    pdf = p.pdf(format="A4", print_background=True)
    text = "\n".join(page_.extract_text() for page_ in PdfReader(io.BytesIO(pdf)).pages)
    flat = " ".join(unicodedata.normalize("NFKC", text).split())  # the PDF's ligatures ("\ufb02") as letters
    summary = hm.account_summary(ds, {"tier": [TIER]})
    missing = [n for n in summary["account_name"] if " ".join(n.split()) not in flat]
    assert not missing, missing
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) > 1 and all("page " in pg.extract_text() for pg in pages)  # a header on every page
    page.clean()
    p.close()


def test_three_click_sort_with_priorities_and_silent_rows_last(browser: Any, run: tuple[Path, Path]) -> None:
    page = open_report(browser, run[1])
    p = page.page
    head = p.locator("table.hm-accounts thead")

    def column(k: int) -> list[str]:
        return [r["cells"][k] for r in p.evaluate(ROWS)]

    default = column(0)
    assert default == sorted(default, key=str.casefold)
    nps = head.locator("th", has_text="NPS").first
    nps.click()
    asc = column(5)
    assert asc[-1] == "no response" and "\u25b2" in nps.inner_text()
    nps.click()
    desc = column(5)
    assert desc[-1] == "no response" and "\u25bc" in nps.inner_text()  # silent rows last either way
    scored = [float(t.split(" ")[0].replace("\u2212", "-")) for t in desc if t != "no response"]
    assert scored == sorted(scored, reverse=True)
    nps.click()
    assert column(0) == default and nps.locator(".hm-mark").inner_text() == ""  # third click: off
    band, value = head.locator("th", has_text="Band"), head.locator("th", has_text="Value")
    band.click()
    value.click()
    value.click()
    assert band.locator(".hm-mark").inner_text() == "\u25b21" and value.locator(".hm-mark").inner_text() == "\u25bc2"
    rows = p.evaluate(ROWS)
    order = list(BAND_LABELS.values())
    keys = [(order.index(r["cells"][7]), -float(r["cells"][2].replace(",", ""))) for r in rows]
    assert keys == sorted(keys)
    page.clean()
    p.close()


def test_links_open_xrays_in_new_tabs_and_reach_the_index(browser: Any, run: tuple[Path, Path]) -> None:
    folder, report = run
    page = open_report(browser, report)
    p = page.page
    link = p.locator("table.hm-accounts tbody a").first
    assert link.get_attribute("target") == "_blank"
    with p.context.expect_page() as tab:
        link.click()
    xray = tab.value
    xray.wait_for_load_state("load")
    assert xray.url.startswith((folder / "xray").as_uri()) and Path(xray.url.removeprefix("file://")).exists()
    xray.close()
    bubble = p.evaluate(
        """() => { for (const v of Bokeh.index.all_views()) { const m = v.model;
          if (m.type !== "GlyphRenderer" || m.name !== "bubbles" || !m.view.indices.count) continue;
          const box = v.plot_view.canvas_view.el.getBoundingClientRect(), i = [...m.view.indices][0];
          return {x: box.left + v.glyph.sx[i], y: box.top + v.glyph.sy[i]}; } }"""
    )
    with p.context.expect_page() as tab:
        p.mouse.click(bubble["x"], bubble["y"])
    assert tab.value.url.startswith((folder / "xray").as_uri())
    assert p.url == report.as_uri()  # the report stays open
    tab.value.close()
    p.get_by_role("link", name="All reports of this run").click()
    p.wait_for_load_state("load")
    assert p.url == (folder / "index.html").as_uri()
    page.clean()
    p.close()


def test_words_for_readers(run: tuple[Path, Path]) -> None:
    page = run[1].read_text(encoding="utf-8")
    text = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)  # what a reader sees, not code
    assert "How to read this report" in text and "revenue at risk" in text and "All reports of this run" in text
    assert f"Report scope: Tier: {TIER}" in text
    for notebook_talk in ("batch", "compare_to", "params/filters", "decision_maker", "NaN", "segment_by"):
        assert notebook_talk not in text, notebook_talk


def test_the_sort_rule_on_its_own(browser: Any) -> None:
    """templates/js/table_sort.js as any table would use it (the live table adopts it later)."""
    from heatmap_lib.views.offline import script

    page = browser.new_page()
    page.set_content("<!doctype html><title>sort</title>")
    page.add_script_tag(content=script("table_sort.js"))
    got = page.evaluate(
        """() => {
      const S = HeatmapTableSort, cycle = [];
      let state = [];
      for (const key of ["nps", "nps", "nps"]) { state = S.next(state, key); cycle.push(JSON.stringify(state)); }
      const rows = [{nps: 5, v: 1}, {nps: null, v: 2}, {nps: -3, v: 3}, {nps: NaN, v: 1}, {nps: 5, v: 0}];
      const value = (key, i) => rows[i][key];
      const asc = S.order(rows.length, [["nps", "asc"]], value);
      const desc = S.order(rows.length, [["nps", "desc"]], value);
      const two = S.order(rows.length, [["nps", "desc"], ["v", "asc"]], value);
      const marks = [S.mark([["nps", "desc"], ["v", "asc"]], "nps"), S.mark([["nps", "desc"], ["v", "asc"]], "v"),
                     S.mark([["v", "asc"]], "v"), S.mark([["v", "asc"]], "nps")];
      return {cycle, asc, desc, two, marks, off: S.next(S.next([["v", "asc"]], "nps"), "v")};
    }"""
    )
    assert got["cycle"] == ['[["nps","asc"]]', '[["nps","desc"]]', "[]"]  # ascending, descending, off
    assert got["asc"] == [2, 0, 4, 1, 3] and got["desc"] == [0, 4, 2, 1, 3]  # no value last either way
    assert got["two"] == [4, 0, 2, 3, 1]  # the second sort breaks the ties of the first, silent rows too
    assert got["marks"] == ["\u25bc1", "\u25b22", "\u25b2", ""]
    assert got["off"] == [["v", "desc"], ["nps", "asc"]]  # a further column is added after, not instead
    page.close()


def test_a_silent_account_hovers_as_no_response(browser: Any, run: tuple[Path, Path]) -> None:
    page = open_report(browser, run[1])
    p = page.page
    p.wait_for_timeout(300)  # the first paint after the page's counts are drawn
    gray = p.evaluate(
        """() => { for (const v of Bokeh.index.all_views()) { const m = v.model;
          if (m.type !== "GlyphRenderer" || m.name !== "bubbles") continue;
          const box = v.plot_view.canvas_view.el.getBoundingClientRect(), rows = Array.from(m.view.indices);
          const k = rows.findIndex((i) => m.data_source.data.band[i] === "gray");
          if (k < 0) return null;
          const j = v.glyph.sx.length === rows.length ? k : rows[k];
          return {x: box.left + v.glyph.sx[j], y: box.top + v.glyph.sy[j]}; } return null; }"""
    )
    assert gray is not None  # the demo's tier has silent accounts
    p.mouse.move(gray["x"], gray["y"])
    p.locator(".bk-Tooltip").first.wait_for(state="visible", timeout=5_000)
    rows = p.evaluate(
        """() => { const out = []; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
          for (const c of n.children || []) walk(c);
          if (n.classList && n.classList.contains("bk-tooltip-row-value")) out.push(n.textContent.trim()); };
          walk(document.body); return out; }"""
    )
    assert "no response" in rows and "NaN" not in rows
    page.clean()
    p.close()
