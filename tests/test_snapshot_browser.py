"""Batch report pages in headless Chromium, offline: they render, make no request, keep hover, zoom, table sorting
and the client-side filters, and show hostile customer text as text (test_snapshot_offline.py: the figures).

Uses Debian's /usr/bin/chromium through Playwright's Python package (no browser download). Bokeh 3 draws inside
shadow DOM: Playwright locators pierce it; counts are read from the page's Bokeh document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BUBBLES_JS, CHROMIUM
from test_batch import HOSTILE_MANAGER, HOSTILE_NAME, HOSTILE_SCRIPT, NOTEBOOK, hostile_builder

from heatmap_lib.reports import batch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make system-deps)"),
]

DRAWN = """() => {
  const out = {bubbles: 0, rows: null};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type === "GlyphRenderer" && m.name === "bubbles") out.bubbles += m.view.indices.count;
  }
  out.rows = document.querySelectorAll("table.hm-accounts tbody tr").length;
  return out;
}"""
X_RANGE = """() => {
  for (const m of Bokeh.documents[0].all_models) if (m.type === "Figure") return [m.x_range.start, m.x_range.end];
}"""


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser-run")
    data = hostile_builder().write(folder / "data")
    spec = folder / "spec.yaml"
    keys = {"notebook": str(NOTEBOOK), "data": str(data), "segment_by": "region", "output": "out", "workers": 2}
    spec.write_text(yaml.safe_dump(keys))
    result = batch.run(batch.load_spec(spec), progress=False)
    assert result.exit_status == 0, [s.error for s in result.failed]
    return result.folder


class Page:
    """A page opened from a file: requests leaving file:// are refused and counted, errors and dialogs recorded."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 1400})
        self.external: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def wait_for_bokeh(self) -> None:
        self.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=15_000)
        self.page.locator("canvas").first.wait_for(timeout=15_000)
        self.page.wait_for_timeout(300)

    def clean(self) -> None:
        assert self.external == [], self.external
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs


def report_for(run_folder: Path, segment: str) -> Path:
    m = json.loads((run_folder / "manifest.json").read_text())
    return run_folder / next(s["files"]["html"] for s in m["segments"] if s["segment"] == segment)


def test_every_page_opens_offline_without_errors(browser: Any, run_folder: Path) -> None:
    pages = sorted(run_folder.glob("*.html"))
    assert len(pages) == 4
    for path in pages:
        page = Page(browser, path)
        if path.name != "index.html":
            page.wait_for_bokeh()
            assert page.page.evaluate(DRAWN)["bubbles"] > 0
        page.page.wait_for_timeout(200)
        page.clean()
        page.page.close()


def test_index_links_open_the_reports(browser: Any, run_folder: Path) -> None:
    page = Page(browser, run_folder / "index.html")
    link = page.page.get_by_role("link", name="A/B", exact=True)
    link.click()
    page.wait_for_bokeh()
    assert page.page.url == report_for(run_folder, "A/B").as_uri()
    page.clean()
    page.page.close()


def test_client_side_filters_hover_zoom_and_sort(browser: Any, run_folder: Path) -> None:
    page = Page(browser, report_for(run_folder, "A/B"))
    page.wait_for_bokeh()
    p = page.page
    assert p.evaluate(DRAWN) == {"bubbles": 2, "rows": 2}

    def tick(column: str, value: str) -> None:
        facet = p.locator(f'.hm-facet[data-column="{column}"]')
        facet.locator("summary").click()
        facet.locator("label", has_text=value).locator("input").check()
        facet.locator("summary").click()

    tick("tier", "Gold")
    p.wait_for_function("() => document.querySelectorAll('table.hm-accounts tbody tr').length === 1")
    assert p.evaluate(DRAWN) == {"bubbles": 1, "rows": 1}
    assert p.locator(".hm-count").inner_text() == "1 of 2 accounts shown"
    tick("band", "Negative")  # Gold and red: nobody
    p.wait_for_function("() => document.querySelectorAll('table.hm-accounts tbody tr').length === 0")
    assert p.evaluate(DRAWN) == {"bubbles": 0, "rows": 0}
    p.locator(".hm-reset").click()
    assert p.evaluate(DRAWN) == {"bubbles": 2, "rows": 2}
    tick("account_manager", HOSTILE_MANAGER)
    assert p.evaluate(DRAWN) == {"bubbles": 1, "rows": 1}
    p.locator(".hm-reset").click()

    bubble = next(b for b in p.evaluate(BUBBLES_JS) if b["name"] == HOSTILE_NAME)
    p.mouse.move(bubble["x"], bubble["y"])
    tooltip = p.locator(".bk-Tooltip")  # hover shows the name and manager as text, not markup
    tooltip.get_by_text(HOSTILE_NAME, exact=True).first.wait_for(state="visible", timeout=5_000)
    tooltip.get_by_text(HOSTILE_MANAGER, exact=True).first.wait_for(state="visible", timeout=5_000)

    before = p.evaluate(X_RANGE)
    p.locator(".bk-tool-icon-wheel-zoom").first.click()
    p.mouse.move(bubble["x"], bubble["y"])
    p.mouse.wheel(0, -400)
    p.wait_for_timeout(300)
    assert p.evaluate(X_RANGE) != before

    rows = p.locator("table.hm-accounts tbody tr")
    header = p.locator("table.hm-accounts th", has_text="Value").first
    header.click()
    ascending = rows.first.inner_text()
    header.click()
    descending = rows.first.inner_text()
    assert "40,000" in ascending and "90,000" in descending  # sorted by value, both ways
    page.clean()
    p.close()


def test_hostile_text_shows_literally_and_never_runs(browser: Any, run_folder: Path) -> None:
    for segment, text in (("A/B", HOSTILE_NAME), ("A-B", HOSTILE_SCRIPT)):
        page = Page(browser, report_for(run_folder, segment))
        page.wait_for_bokeh()
        p = page.page
        cell = p.locator("table.hm-accounts td", has_text=text)
        assert cell.count() >= 1 and cell.first.inner_text().strip() == text
        assert p.evaluate("() => document.querySelectorAll('img, svg[onload]').length") == 0
        if segment == "A/B":
            options = p.locator('.hm-facet[data-column="account_manager"] label').all_text_contents()
            assert " " + HOSTILE_MANAGER in options
        p.wait_for_timeout(300)
        page.clean()  # no dialog: nothing ran
        p.close()
    index = Page(browser, run_folder / "index.html")
    assert index.page.get_by_role("link", name="../../etc", exact=True).count() == 1
    index.clean()
    index.page.close()
