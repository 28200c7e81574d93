"""X-Ray pages in a batch run of the real heat map notebook: one page per account, linked both ways, offline."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from test_batch import HOSTILE_NAME, hostile_builder

import heatmap_lib as hm
from heatmap_lib.core.progress import PREPARED_ENV
from heatmap_lib.data import prepared
from heatmap_lib.metrics import shared
from heatmap_lib.metrics.health import account_table
from heatmap_lib.metrics.renewal import scoring
from heatmap_lib.metrics.xray import xrays
from heatmap_lib.reports import batch
from heatmap_lib.views.xray_view import write_xray_pages

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "customer_heatmap.ipynb"
WEIGHTS = ROOT / "params" / "renewal_weights.yaml"


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


def _pages(found: dict[str, Any], folder: Path) -> dict[str, bytes]:
    write_xray_pages(found, folder, back_href="../r.html", back_label="Back")
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.html"))}


def test_a_run_kernel_scores_renewals_once_and_its_pages_stay_the_same(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a `heatmap run` kernel, segments share one renewal scoring and the report's health; pages are unchanged."""
    monkeypatch.setenv(prepared.CACHE_ENV, str(tmp_path / "cache"))
    loaded = hm.load(demo_dir)  # as `heatmap run` loads: into the cache, then pinned for its kernels
    sidecar = prepared.pin(loaded, tmp_path)
    regions = loaded.distinct_values("accounts", "region")
    assert len(regions) > 1 and loaded.shared_key() is None  # outside a run: nothing kept
    calls = {"score": 0, "health": 0}

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(scoring, "_score", counted("score", scoring._score))
    monkeypatch.setattr(account_table, "_health_summary", counted("health", account_table._health_summary))
    monkeypatch.setattr(shared, "_kept", OrderedDict())
    expected = {}
    for r in regions:  # each segment scored on its own, nothing shared
        expected[r] = _pages(xrays(loaded, {"region": [r]}, renewal_weights=WEIGHTS), tmp_path / "plain" / r)
        assert expected[r]
    assert calls == {"score": len(regions), "health": len(regions)}
    loaded.con.close()

    calls.update(score=0, health=0)
    monkeypatch.setenv(PREPARED_ENV, str(sidecar))
    ds = prepared.open_data(str(demo_dir))
    assert ds.shared_key() is not None
    for r in regions:
        segment = hm.FilterSet.from_dict({"region": [r]})
        health = hm.health_summary(ds, segment)  # the segment's report asks first, then its X-Ray pages
        found = xrays(ds, segment, renewal_weights=WEIGHTS)
        assert _pages(found, tmp_path / "shared" / r) == expected[r]
        health["active_users"] = -1  # a caller's change to its copy reaches nobody else
        assert (hm.health_summary(ds, segment)["active_users"] >= 0).all()
    assert calls == {"score": 1, "health": len(regions)}
    ds.con.close()
