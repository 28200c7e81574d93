"""Progress bars: shown on stderr for the steps a user waits on, never inside a `heatmap run` kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

import heatmap_lib as hm
from heatmap_lib import progress, report
from heatmap_lib.xray import xrays
from heatmap_lib.xray_view import write_xray_pages


def test_loading_and_xray_pages_show_a_bar_and_a_batch_kernel_shows_none(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(report.PREPARED_ENV, raising=False)
    monkeypatch.setattr(progress, "DELAY", 0)  # every step counts as long here
    ds = hm.load(demo_dir, cache=tmp_path / "cache")
    found = xrays(ds, {"region": ["West"]})
    write_xray_pages(found, tmp_path / "pages")
    err = capsys.readouterr().err
    assert f"validating {demo_dir.name}" in err and f"preparing {demo_dir.name}" in err
    assert "X-Ray pages" in err and f"{len(found)}/{len(found)}" in err

    monkeypatch.setenv(report.PREPARED_ENV, str(tmp_path / "run.json"))  # as `heatmap run` sets in its kernels
    hm.load(demo_dir, cache=tmp_path / "other-cache")
    write_xray_pages(found, tmp_path / "pages-2")
    assert capsys.readouterr().err == ""


def test_progress_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(report.PREPARED_ENV, raising=False)
    assert progress.enabled()
    monkeypatch.setenv("HEATMAP_PROGRESS", "0")
    assert not progress.enabled()
