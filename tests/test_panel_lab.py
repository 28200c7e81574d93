"""The live panel in a real JupyterLab (issue 15): seed 000's sort cycle in the account table, the download buttons
(files the browser saves, which open and hold what is shown) and the date-range message beside the date widgets.

One Lab and one notebook run serve the module; each test sets the state it needs (the sort, the filters) itself.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from lab_server import run_all, start_lab, stop_lab

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The account table's rows as the grid draws them, top to bottom: each row's cell texts.
ROWS = """(rows) => rows
  .map((r) => [parseFloat(r.style.top) || 0, [...r.querySelectorAll('.slick-cell')].map((c) => c.textContent)])
  .sort((a, b) => a[0] - b[0]).map((r) => r[1])"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from heatmap_lib.data.demo import write_demo

    tmp = tmp_path_factory.mktemp("panel-lab")
    work = tmp / "work"
    (work / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "customer_heatmap.ipynb", work / "notebooks")
    shutil.copytree(ROOT / "params", work / "params")
    write_demo(work / "data" / "demo", accounts=80, seed=5, fmt="csv")
    proc, base, token = start_lab(work, tmp, timeout=60)
    yield base, token
    stop_lab(proc)


@pytest.fixture(scope="module")
def page(lab: Any, browser: Any) -> Any:
    base, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    run_all(page, base, token, "notebooks/customer_heatmap.ipynb", ARTIFACTS)
    table(page).locator(".slick-row").first.wait_for(timeout=120_000)
    yield page
    page.close()


# Every row of the account table in the order the grid shows it (SlickGrid's getDataItem, scrolled or not); the
# account as its cell shows it (the text of its escaped HTML, read in an inert document).
GRID_ROWS = """() => {
  const view = window.Bokeh.index.query_one(
    (v) => v.grid != null && v.model.columns.some((c) => c.title === 'Contacts invited'));
  const out = [];
  for (let i = 0; i < view.grid.getDataLength(); i++) {
    const item = view.grid.getDataItem(i);
    const name = new DOMParser().parseFromString(item.name_html, 'text/html').body.textContent;
    out.push([name, item.account_manager, item.value, Number.isNaN(item.nps) ? null : item.nps]);
  }
  return out;
}"""


def grid_rows(page: Any) -> list[list[Any]]:
    """All rows of the account table as shown: [account, account manager, value, NPS or None]."""
    return page.evaluate(GRID_ROWS)


def table(page: Any) -> Any:
    """The account table (the DataTable with a "Contacts invited" column; the other lists the not surveyed)."""
    return page.locator(".bk-DataTable").filter(has=page.locator(".slick-header-column", has_text="Contacts invited"))


def rows(page: Any) -> list[list[str]]:
    """The account table's visible rows, top to bottom."""
    return table(page).locator(".slick-row").evaluate_all(ROWS)


def headers(page: Any) -> list[str]:
    return [" ".join(t.split()) for t in table(page).locator(".slick-header-column").all_inner_texts()]


def header(page: Any, title: str) -> Any:
    pattern = re.compile(rf"^\s*{re.escape(title)}( [▲▼]\d*)?\s*$")
    return table(page).locator(".slick-header-column").filter(has_text=pattern)


def wait_headers(page: Any, *expected: str) -> None:
    """Wait until the table's headers include each of `expected` ("NPS ▲2")."""
    cells = table(page).locator(".slick-header-column")
    for text in expected:
        cells.filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")).first.wait_for(timeout=30_000)


def button(page: Any, label: str) -> Any:
    """The widget button that reads `label` (its icon, if any, has no text)."""
    return page.locator("button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).first


def clear_sort(page: Any) -> None:
    """Click sorted headers until no column is sorted (the third click turns a column's sort off)."""
    for _ in range(20):
        marked = [h for h in headers(page) if re.search(r" [▲▼]\d*$", h)]
        if not marked:
            return
        header(page, re.sub(r" [▲▼]\d*$", "", marked[0])).click()
    raise AssertionError(f"the sort did not clear: {headers(page)}")


def test_three_clicks_sort_ascending_descending_off_and_more_columns_add_sorts_with_priorities(page: Any) -> None:
    clear_sort(page)
    default = grid_rows(page)
    names = [r[0] for r in default]
    assert names == sorted(names, key=str.casefold)  # by account name
    assert any(r[3] is None for r in default)  # the demo has accounts with no NPS (silent)
    nps = header(page, "NPS")
    nps.click()
    wait_headers(page, "NPS ▲")
    up = [r[3] for r in grid_rows(page)]
    nps.click()
    wait_headers(page, "NPS ▼")
    down = [r[3] for r in grid_rows(page)]
    nps.click()
    wait_headers(page, "NPS")
    off = grid_rows(page)
    known = sorted(v for v in up if v is not None)
    missing = [None] * (len(up) - len(known))
    assert up == known + missing  # no NPS last, ascending and descending
    assert down == known[::-1] + missing
    assert off == default
    # a second column adds a secondary sort; each header shows its priority
    header(page, "Account manager").click()
    wait_headers(page, "Account manager ▲")
    header(page, "Value").click()
    header(page, "Value").click()
    wait_headers(page, "Account manager ▲1", "Value ▼2")
    page.screenshot(path=str(ARTIFACTS / "lab-panel-sorted.png"), full_page=False)
    keys = [(r[1].lower(), -r[2]) for r in grid_rows(page)]
    assert keys == sorted(keys)
    assert [r[0] for r in rows(page)] == [r[0] for r in grid_rows(page)][: len(rows(page))]  # the grid draws it
    # a click on a sorted row opens that row's account
    second = rows(page)[1][0]
    table(page).locator(".slick-row .slick-cell.l0", has_text=second).first.click()
    page.locator(".hx-xray h1", has_text=second).first.wait_for(timeout=60_000)
    button(page, "Close").click()
    page.locator(".hx-xray h1").first.wait_for(state="detached", timeout=30_000)
    clear_sort(page)
    # the not-surveyed list (most valuable first) sorts by the same rule
    blind = page.locator(".bk-DataTable").filter(
        has_not=page.locator(".slick-header-column", has_text="Contacts invited")
    )
    value = blind.locator(".slick-header-column").filter(has_text=re.compile(r"^\s*Value"))
    value.click()
    blind.locator(".slick-header-column").filter(has_text=re.compile(r"^\s*Value ▲\s*$")).wait_for(timeout=30_000)
    values = [float(r[2].replace(",", "")) for r in blind.locator(".slick-row").evaluate_all(ROWS) if r[2].strip()]
    assert len(values) > 1 and values == sorted(values)
    value.click()
    value.click()
    blind.locator(".slick-header-column").filter(has_text=re.compile(r"^\s*Value\s*$")).wait_for(timeout=30_000)


def test_each_download_button_gives_a_file_that_opens_and_holds_what_is_shown(page: Any, tmp_path: Path) -> None:
    from PIL import Image
    from pypdf import PdfReader

    clear_sort(page)
    header(page, "NPS").click()
    header(page, "NPS").click()
    wait_headers(page, "NPS ▼")
    everyone = len(grid_rows(page))
    region = page.locator(".widget-select-multiple", has_text="Region").locator("select")
    region.select_option("West")  # new data keep the sort
    page.wait_for_function(f"() => ({GRID_ROWS})().length !== {everyone}", timeout=30_000)
    wait_headers(page, "NPS ▼")
    shown = grid_rows(page)
    known = [r[3] for r in shown if r[3] is not None]
    assert [r[3] for r in shown] == sorted(known, reverse=True) + [None] * (len(shown) - len(known))
    page.wait_for_function(
        "() => !document.body.innerText.includes('Writing')", timeout=30_000
    )  # no export from an earlier run pending
    files: dict[str, Path] = {}
    for fmt, label in (("xlsx", "Excel (xlsx)"), ("csv", "CSV"), ("png", "PNG"), ("svg", "SVG"), ("pdf", "PDF")):
        button(page, label).click()
        link = page.locator(f"a.heatmap-download[download$='.{fmt}']")
        link.wait_for(timeout=120_000)
        with page.expect_download(timeout=60_000) as info:
            link.click()
        download = info.value
        assert re.fullmatch(rf"heatmap(-accounts)?_region-West_\d{{4}}-\d\d-\d\d\.{fmt}", download.suggested_filename)
        files[fmt] = tmp_path / download.suggested_filename
        download.save_as(files[fmt])
    page.screenshot(path=str(ARTIFACTS / "lab-panel-exports.png"), full_page=False)
    counts = page.get_by_text(re.compile(r"[\d,]+ surveyed")).first.inner_text()
    surveyed = int(re.search(r"([\d,]+) surveyed", counts).group(1).replace(",", ""))
    sheet = list(openpyxl.load_workbook(files["xlsx"], read_only=True)["accounts"].iter_rows(values_only=True))
    assert len(sheet) - 1 == surveyed == len(shown)  # a header row and one row per account shown
    assert [r[0] for r in sheet[1:]] == [r[0] for r in shown]  # in the order shown
    text = files["csv"].read_text(encoding="utf-8")
    assert "# filters: region=West" in text and "# sort: NPS descending" in text
    assert sum(1 for line in io.StringIO(text) if not line.startswith("#")) - 1 == surveyed
    with Image.open(files["png"]) as png:
        assert png.width >= 400 and png.height >= 300
    assert "Filters: region: West" in files["svg"].read_text(encoding="utf-8")  # the filters named on the image
    assert len(PdfReader(files["pdf"]).pages) == 1
    region.select_option([])
    page.wait_for_function(f"() => ({GRID_ROWS})().length === {everyone}", timeout=30_000)
    clear_sort(page)


def test_an_end_date_before_the_start_is_said_beside_the_dates(page: Any) -> None:
    button(page, "Dates").click()
    dates = page.locator(".widget-datepicker input[type=date]")
    dates.first.wait_for()
    dates.nth(0).fill("2026-03-01")
    dates.nth(1).fill("2026-01-31")
    dates.nth(1).blur()
    message = page.get_by_text("is before the start date")
    message.wait_for(timeout=30_000)
    beside = message.evaluate(
        """(el) => {
          const box = el.closest('.widget-vbox');
          return box !== null && box.querySelectorAll('.widget-datepicker').length === 2;
        }"""
    )
    page.screenshot(path=str(ARTIFACTS / "lab-panel-date-message.png"), full_page=False)
    button(page, "Waves").click()
    message.wait_for(state="detached", timeout=30_000)
    assert beside
