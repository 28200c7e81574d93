"""X-Ray pages in a batch run of the real heat map notebook: one page per account, linked both ways, offline."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from test_batch import HOSTILE_NAME, hostile_builder

import heatmap_lib as hm
from heatmap_lib.reports import batch

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "customer_heatmap.ipynb"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("xray-run")
    data = hostile_builder().write(folder / "data")
    spec = folder / "spec.yaml"
    keys = {"notebook": str(NOTEBOOK), "data": str(data), "segment_by": "region", "output": "out", "workers": 2}
    spec.write_text(yaml.safe_dump(keys))
    result = batch.run(batch.load_spec(spec), progress=False)
    assert result.exit_status == 0, [s.error for s in result.failed]
    return result.folder, data


def test_every_surveyed_account_has_a_page_and_the_manifest_counts_them(run):
    folder, data = run
    ds = hm.load(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for seg in manifest["segments"]:
        expected = set(hm.account_summary(ds, {"region": [seg["segment"]]})["account_id"])
        pages = {p.stem for p in (folder / seg["files"]["xray"]).glob("*.html")}
        assert pages == {quote(a, safe="") for a in expected}
        assert seg["xray_pages"] == len(expected)


def test_pages_are_escaped_script_free_and_without_emails(run):
    folder, _ = run
    pages = list((folder / "xray").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert "<script" not in text.lower() and "@" not in text.replace("&#x27;", "")
        assert HOSTILE_NAME not in text
    assert any("&lt;img src=x onerror=alert(1)&gt;" in p.read_text() for p in pages)


@pytest.mark.browser
def test_clicking_an_account_in_a_report_opens_its_xray_and_back(run, browser):
    folder, _ = run
    manifest = json.loads((folder / "manifest.json").read_text())
    seg = next(s for s in manifest["segments"] if s["xray_pages"])
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((folder / seg["files"]["html"]).as_uri())
    link = page.locator("table.hm-accounts tbody a").first  # the table's account link
    link.wait_for(timeout=20_000)
    name = link.inner_text()
    with page.context.expect_page() as opened:  # the X-Ray opens in a new tab, the report stays
        link.click()
    xray = opened.value
    xray.wait_for_url(f"**/xray/{seg['slug']}/*.html", timeout=20_000)
    assert xray.locator("h1").inner_text() == name
    xray.get_by_text("Back to the segment's heat map").click()
    xray.wait_for_url(f"**/{seg['files']['html']}", timeout=20_000)
    assert not dialogs
    xray.close()
    page.close()
