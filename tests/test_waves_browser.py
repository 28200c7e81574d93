"""Wave over wave in a batch snapshot, in headless Chromium, offline: the trails draw, the two client-side toggles
change how many are drawn, and the hover names the change.

A real `heatmap run` of notebooks/customer_heatmap.ipynb on hand-built two-wave data, passing `wave` through the
spec's `parameters:`. Counts are read from the page's Bokeh document, as in test_snapshot_browser.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CHROMIUM
from test_snapshot_browser import Page
from test_waves import two_waves

import heatmap_lib as hm
from heatmap_lib.reports import batch

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "customer_heatmap.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make system-deps)"),
]

# Drawn trails: the trail segments' renderers (Segment glyphs named hm-trail-...) that are visible, by their
# filtered view; bubbles and table rows as in test_snapshot_browser.py.
DRAWN = """() => {
  const out = {trails: 0, starts: 0, bubbles: 0, rows: document.querySelectorAll("table.hm-accounts tbody tr").length};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== "GlyphRenderer") continue;
    const name = m.name || "";
    const drawn = m.visible ? m.view.indices.count : 0;
    if (name.startsWith("hm-trail-")) {
      if (m.glyph.type === "Segment") out.trails += drawn; else out.starts += drawn;
    }
    if (name === "bubbles") out.bubbles += drawn;
  }
  return out;
}"""
BUBBLE = """(name) => {
  for (const v of Bokeh.index.all_views()) {
    const m = v.model;
    if (m.type !== "GlyphRenderer" || m.name !== "bubbles") continue;
    const box = v.plot_view.canvas_view.el.getBoundingClientRect();
    for (const i of m.view.indices) {
      if (m.data_source.data.account_name[i] === name) return {x: box.left + v.glyph.sx[i], y: box.top + v.glyph.sy[i]};
    }
  }
  return null;
}"""


# Every hover line the browser formats (band, NPS, response rate, NPS change), for every bubble.
HOVER_TEXTS = """() => {
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== "HoverTool") continue;
    const f = m.formatters, get = (k) => (f instanceof Map ? f.get(k) : f[k]);
    const src = m.renderers[0].data_source, d = src.data, out = {};
    for (let i = 0; i < src.get_length(); i++) {
      const at = {index: i};
      out[d.account_name[i]] = [
        get("@band").format(d.band[i], "custom", at),
        get("@hover_nps").format(d.hover_nps[i], "custom", at),
        get("@hover_rate").format(d.hover_rate[i], "custom", at),
        get("@direction").format(d.direction[i], "custom", at),
      ];
    }
    return out;
  }
}"""


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("waves-run")
    data = two_waves().write(folder / "data")
    spec = folder / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "notebook": str(NOTEBOOK),
                "data": str(data),
                "segment_by": "region",
                "output": "out",
                "workers": 1,
                "parameters": {"wave": "2026-Q3", "log_x": False},
            }
        )
    )
    result = batch.run(batch.load_spec(spec), progress=False)
    assert result.exit_status == 0, [s.error for s in result.failed]
    manifest = json.loads((result.folder / "manifest.json").read_text())
    (segment,) = manifest["segments"]
    return result.folder / segment["files"]["html"]


def test_the_movement_layer_toggles_in_the_snapshot(browser: Any, report_page: Path) -> None:
    page = Page(browser, report_page)
    page.wait_for_bokeh()
    p = page.page
    # Q3 accounts: A, B (new, no trail), D (newly silent), E, F, G; trails for the five surveyed in both waves
    assert p.evaluate(DRAWN) == {"trails": 5, "starts": 5, "bubbles": 6, "rows": 6}
    assert "Trails since 2026-Q2" in p.locator(".hm-controls").inner_text()

    p.locator("input[data-column=moved]").check()  # only accounts that moved: A, D, E, F
    p.wait_for_timeout(200)
    assert p.evaluate(DRAWN) == {"trails": 4, "starts": 4, "bubbles": 4, "rows": 4}
    assert p.locator(".hm-count").inner_text() == "4 of 6 accounts shown"

    p.locator("input.hm-trails").uncheck()  # the movement layer off: no trail drawn, the bubbles stay
    p.wait_for_timeout(200)
    assert p.evaluate(DRAWN) == {"trails": 0, "starts": 0, "bubbles": 4, "rows": 4}

    p.locator("input[data-column=moved]").uncheck()
    band = p.locator('.hm-facet[data-column="band"]')
    band.locator("summary").click()
    band.locator("label", has_text="Negative").locator("input").check()  # the facets filter the trails too: A, E
    p.locator("input.hm-trails").check()
    p.wait_for_timeout(200)
    assert p.evaluate(DRAWN) == {"trails": 2, "starts": 2, "bubbles": 2, "rows": 2}

    p.locator(".hm-reset").click()
    p.wait_for_timeout(200)
    assert p.evaluate(DRAWN) == {"trails": 5, "starts": 5, "bubbles": 6, "rows": 6}
    assert p.locator("input.hm-trails").is_checked() and not p.locator("input[data-column=moved]").is_checked()
    page.clean()
    p.close()


def test_hover_texts_formatted_in_the_browser_match_the_live_chart(browser: Any, report_page: Path) -> None:
    from heatmap_lib.views.chart import band_legend_labels, bubble_source_data

    page = Page(browser, report_page)
    page.wait_for_bokeh()
    got = page.page.evaluate(HOVER_TEXTS)
    data = two_waves().load(report_page.parent / "check-data")
    live = bubble_source_data(hm.account_summary(data, {"wave": ["2026-Q3"]}))
    labels = band_legend_labels(None)
    expected = {
        n: [labels[b], nps, rate]
        for n, b, nps, rate in zip(live["account_name"], live["band"], live["nps_text"], live["rate_text"], strict=True)
    }
    assert {n: texts[:3] for n, texts in got.items()} == expected
    assert got["Alpha"][1:] == [
        "\u221225 (\u221255 to 12)",
        "100% (20 of 20)",
        "\u221270 (\u2212106 to \u221215), real drop; was Positive",
    ]
    assert got["Bravo"][3] == "new: not surveyed in the compared wave"
    assert got["Delta"][1] == "no response" and got["Delta"][3].startswith("newly silent")
    assert ", small sample: " in got["Echo"][1] and "within noise" in got["Echo"][3]
    page.clean()
    page.page.close()


def test_hover_names_the_change_and_the_movers_list_is_there(browser: Any, report_page: Path) -> None:
    page = Page(browser, report_page)
    page.wait_for_bokeh()
    p = page.page
    bubble = p.evaluate(BUBBLE, "Alpha")
    assert bubble is not None
    p.mouse.move(bubble["x"], bubble["y"])
    tooltip = p.locator(".bk-Tooltip")
    tooltip.get_by_text("\u221270 (\u2212106 to \u221215), real drop; was Positive").first.wait_for(timeout=5_000)
    tooltip.get_by_text("Negative (NPS < \u221210)").first.wait_for(timeout=5_000)  # band label, from the band
    movers = p.locator("table.hm-movers tbody tr")
    assert movers.count() == 4
    assert movers.first.inner_text().startswith("newly red; real drop\tAlpha")
    page.clean()
    p.close()
    xray = (report_page.parent / "xray" / report_page.stem / "A.html").read_text()
    assert "Wave over wave: 2026-Q3 compared with 2026-Q2" in xray and "real drop" in xray
