"""Faults in batch runs: a kernel that dies, an output folder that cannot be written, a disk that fills up.
Nothing half-written, and a resume finishes what was left (tests/test_resume.py has the other resumes).
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_batch import NOTEBOOK, by_segment, demo60, manifest, run_cli, write_spec  # noqa: F401  (demo60: fixture)

from heatmap_lib.reports import batch

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


# A report page carries BokehJS inline (about 1.6 MB); the manifest, the index and the executed notebooks are far
# smaller. With the file-size limit between the two, every report write fails the way a full disk fails it: the
# system refuses the write (EFBIG; SIGXFSZ is ignored, as Python does by default), no mock involved.
FILE_SIZE_LIMIT = 1_000_000


def _limit_file_size() -> None:  # runs in the child, before exec; kernels inherit the limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_full_disk_fails_each_report_cleanly_and_resume_writes_them(tmp_path: Path) -> None:
    from heatmap_lib.data.demo import write_demo

    # a DuckDB URL: the run reads the tables where they are, so no prepared copy of the data is written either
    data = write_demo(tmp_path / "data", accounts=30, seed=3, fmt="duckdb")
    spec = write_spec(
        tmp_path,
        notebook=str(NOTEBOOK),
        data=f"duckdb:///{data}",
        segment_by="region",
        segments=["West"],
        output="out",
        workers=1,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "heatmap_lib.cli.run", str(spec), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 1, proc.stderr
    (folder,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    m = manifest(folder)
    assert m["status"] == "complete" and m["counts"] == {**m["counts"], "ok": 0, "failed": 1}
    for value, seg in by_segment(m).items():
        assert seg["status"] == "failed" and "html" not in seg["files"], value
        assert seg["error"]["type"] == "DiskFull"
        assert seg["error"]["message"].startswith(f"cannot write {seg['slug']}.html: file too large")
        assert seg["files"]["notebook"] == f"notebooks/{seg['slug']}.ipynb"  # the small files still fit
        assert f"segment {value!r} failed: DiskFull: cannot write {seg['slug']}.html: file too large" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].endswith(f"heatmap run {spec} --resume {folder.name}")
    assert sorted(p.name for p in folder.glob("*.html")) == ["index.html"]
    assert "DiskFull" in (folder / "index.html").read_text()
    assert not list((tmp_path / "out").rglob(".*"))  # no temporary file, partial notebook or lock left

    result = batch.run(batch.load_spec(spec), progress=False, resume="latest")  # room again: no limit here
    assert result.exit_status == 0 and result.folder == folder and result.resumed == ["West"]
    m = manifest(folder)
    assert m["status"] == "complete" and m["counts"]["ok"] == 1
    for seg in m["segments"]:
        assert seg["attempts"] == 2 and seg["previous_attempts"][0]["error"]["type"] == "DiskFull"
        page = folder / seg["files"]["html"]
        assert page.stat().st_size > FILE_SIZE_LIMIT  # the limit was below a report: the failure was real
        assert page.read_text().rstrip().endswith("</html>")
