"""Faults in batch runs: a kernel that dies, an output folder that cannot be written. Nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_batch import NOTEBOOK, demo60, run_cli, write_spec  # noqa: F401  (demo60 is a fixture)

pytestmark = pytest.mark.notebook


def test_a_kernel_that_dies_fails_its_segment_and_the_others_finish(tmp_path: Path, demo60: Path) -> None:  # noqa: F811
    spec = write_spec(
        tmp_path,
        notebook=str(NOTEBOOK),
        data=str(demo60),
        segment_by="region",
        segments=["West", "East", "EMEA"],
        output="out",
        workers=2,
        parameters={"die_on": "East"},
    )
    status, _, _ = run_cli(str(spec), "--no-progress")
    assert status == 1
    (run,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    by = {s["segment"]: s for s in manifest["segments"]}
    assert by["East"]["status"] == "failed" and "html" not in by["East"]["files"]
    assert "dead" in by["East"]["error"]["message"].lower() or "died" in by["East"]["error"]["message"].lower()
    assert {by["West"]["status"], by["EMEA"]["status"]} == {"ok"}
    assert (run / by["West"]["files"]["html"]).read_text().rstrip().endswith("</html>")
    assert not (run / "east.html").exists()


def test_an_output_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path, demo60: Path) -> None:  # noqa: F811
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    spec = write_spec(
        tmp_path, notebook=str(NOTEBOOK), data=str(demo60), segment_by="region", output=str(blocker / "out")
    )
    status, _, err = run_cli(str(spec), "--no-progress")
    assert status == 2
    assert err.strip().startswith("heatmap: error:") and "not-a-folder" in err and "Traceback" not in err
