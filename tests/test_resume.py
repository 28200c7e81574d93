"""Resuming a batch run (`heatmap run SPEC --resume RUN`, `batch.run(spec, resume=...)`): only what was left runs
again, what was whole stays byte for byte, and a run is never finished with another spec, notebook or data.

The runs use a copy of `tests/fixtures/segment_report.ipynb` with two more test hooks that depend on a file, so
that the same spec fails first and succeeds once the cause is gone: `fail_while` ({segment: file}: the segment
raises while the file exists) and `hang_while` (the segment sleeps while the file exists).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_batch import NOTEBOOK, Links, by_segment, manifest, run_cli, write_spec

from heatmap_lib.reports import batch
from heatmap_lib.reports.batch import resume as batch_resume

pytestmark = pytest.mark.notebook

HOOKS = """
if fail_while and segment in fail_while and os.path.exists(fail_while[segment]):
    raise RuntimeError(f"segment {segment} fails while {fail_while[segment]} exists")
if hang_while and segment in hang_while and os.path.exists(hang_while[segment]):
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def demo60(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from heatmap_lib.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo60"), accounts=60, seed=3, fmt="csv")


def hooked_notebook(folder: Path) -> Path:
    """The fixture notebook with the `fail_while` and `hang_while` hooks."""
    nb = json.loads(NOTEBOOK.read_text())
    params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    params["source"] = "".join(params["source"]).rstrip("\n") + (
        "\nfail_while = None  # test hook: {segment: file}, the segment raises while the file exists"
        "\nhang_while = None  # test hook: {segment: file}, the segment sleeps while the file exists\n"
    )
    code = next(c for c in nb["cells"] if c["cell_type"] == "code" and "seen_segment" in "".join(c["source"]))
    code["source"] = "import os\n" + "".join(code["source"]).rstrip("\n") + "\n" + HOOKS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hooked_report.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    return path


def the_run(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return folder


def state(path: Path) -> tuple[bytes, int, int]:
    """A file's bytes, modification time and inode: equal only if nobody wrote or replaced it."""
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_ino


def leftovers(out: Path) -> list[Path]:
    """Temporary, partial or lock files anywhere under the output folder."""
    return [p for p in out.rglob(".*")]


def index_links(folder: Path) -> list[str]:
    links = Links()
    links.feed((folder / "index.html").read_text())
    return sorted(links.hrefs)


# --------------------------------------------------------------------------------------------------------------
# interrupted, then a report damaged: the resume runs exactly those again


def test_an_interrupted_run_with_a_damaged_report_is_finished_by_resume(tmp_path: Path, demo60: Path) -> None:
    spec_file = write_spec(
        tmp_path,
        notebook=str(NOTEBOOK),
        data=str(demo60),
        segment_by="region",
        segments=["West", "East", "APAC"],
        output="out",
        workers=1,
    )
    spec = batch.load_spec(spec_file)
    seen: list[str] = []

    def interrupt_after_two(seg: batch.SegmentResult) -> None:  # Ctrl-C while APAC runs on the one worker
        seen.append(seg.value)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(batch.RunInterrupted) as stopped:
        batch.run(spec, progress=False, on_segment=interrupt_after_two)
    folder = stopped.value.folder
    assert folder == the_run(tmp_path / "out") and stopped.value.run_id == folder.name
    first = manifest(folder)
    assert first["status"] == "interrupted" and first["index"] is None
    assert {k: v["status"] for k, v in by_segment(first).items()} == {
        "West": "ok",
        "East": "ok",
        "APAC": "interrupted",
    }
    assert not leftovers(tmp_path / "out")
    west_before = {p: state(folder / p) for p in ("west.html", "notebooks/west.ipynb")}
    # the East report is damaged after the fact (a disk error, a careless edit): same size, other bytes
    east = folder / "east.html"
    damaged = east.read_bytes().replace(b"</html>", b"</htm!>")
    east.write_bytes(damaged)

    status, out, err = run_cli(str(spec_file), "--resume", "latest", "--no-progress")
    assert status == 0, err
    assert out.strip() == str(folder / "index.html")
    assert f"resumed run {folder.name}; segments run again: 'East', 'APAC'" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == [folder.name]  # the same folder, no new run
    m = manifest(folder)
    assert m["status"] == "complete" and m["index"] == "index.html" and m["run_id"] == folder.name
    assert m["counts"]["ok"] == 3 and "interrupted_by" not in m
    segs = by_segment(m)
    assert {k: v["attempts"] for k, v in segs.items()} == {"West": 1, "East": 2, "APAC": 2}
    (resume,) = m["resumes"]
    assert resume["segments"] == {"East": "report damaged", "APAC": "interrupted"}
    assert resume["previous_status"] == "interrupted" and resume["status"] == "complete"
    assert segs["APAC"]["previous_attempts"][0]["status"] == "interrupted"
    assert segs["East"]["previous_attempts"][0]["run_again_because"] == "report damaged"
    assert segs["West"]["previous_attempts"] == []
    # the whole report was kept as it was; the damaged one was written whole again
    assert {p: state(folder / p) for p in west_before} == west_before
    assert east.read_bytes() != damaged and east.read_bytes().rstrip().endswith(b"</html>")
    assert index_links(folder) == ["apac.html", "east.html", "west.html"]
    for seg in segs.values():
        assert seg["status"] == "ok" and seg["headline"]["surveyed"] > 0
        page = (folder / seg["files"]["html"]).read_bytes()
        assert batch_resume.hashlib.sha256(page).hexdigest() == seg["checksums"]["html"]
    assert not leftovers(tmp_path / "out")


# --------------------------------------------------------------------------------------------------------------
# failed, then fixed: the CLI says how to resume, the resume runs the failed segment only


def test_a_failed_segment_is_run_again_once_its_cause_is_gone(tmp_path: Path, demo60: Path) -> None:
    marker = tmp_path / "east-is-broken"
    marker.write_text("")
    spec_file = write_spec(
        tmp_path,
        notebook=str(hooked_notebook(tmp_path)),
        data=str(demo60),
        segment_by="region",
        segments=["West", "East"],
        output="out",
        workers=2,
        parameters={"fail_while": {"East": str(marker)}},
    )
    status, _, err = run_cli(str(spec_file), "--no-progress")
    assert status == 1
    folder = the_run(tmp_path / "out")
    assert f"heatmap run {spec_file} --resume {folder.name}" in err.splitlines()[-1]
    first = by_segment(manifest(folder))
    assert first["East"]["status"] == "failed" and first["East"]["error"]["type"] == "RuntimeError"
    assert index_links(folder) == ["notebooks/east.ipynb", "west.html"]
    west_before = state(folder / "west.html")

    marker.unlink()  # the cause is fixed
    result = batch.run(batch.load_spec(spec_file), progress=False, resume=folder.name)
    assert result.exit_status == 0 and result.folder == folder and result.resumed == ["East"]
    m = manifest(folder)
    segs = by_segment(m)
    assert m["status"] == "complete" and m["counts"]["ok"] == 2
    assert segs["East"]["attempts"] == 2 and segs["East"]["error"] is None
    (earlier,) = segs["East"]["previous_attempts"]
    assert earlier["status"] == "failed" and earlier["error"]["type"] == "RuntimeError"
    assert "fails while" in earlier["error"]["message"] and earlier["run_again_because"] == "failed"
    assert state(folder / "west.html") == west_before
    assert index_links(folder) == ["east.html", "west.html"]
    assert not (folder / "logs" / "east.log").exists() and not leftovers(tmp_path / "out")

    # a complete run has nothing left: resuming it again touches nothing
    files = {p: state(p) for p in folder.rglob("*") if p.is_file()}
    again = batch.run(batch.load_spec(spec_file), progress=False, resume="latest")
    assert again.folder == folder and again.resumed == [] and again.exit_status == 0
    assert {p: state(p) for p in folder.rglob("*") if p.is_file()} == files


# --------------------------------------------------------------------------------------------------------------
# a segment that hung past its timeout is run again with a longer one


def test_a_timed_out_segment_is_run_again_with_a_longer_timeout(tmp_path: Path, demo60: Path) -> None:
    marker = tmp_path / "central-hangs"
    marker.write_text("")
    spec_file = write_spec(
        tmp_path,
        notebook=str(hooked_notebook(tmp_path)),
        data=str(demo60),
        segment_by="region",
        segments=["Central"],
        output="out",
        workers=1,
        timeout=4,
        parameters={"hang_while": {"Central": str(marker)}},
    )
    spec = batch.load_spec(spec_file)
    first = batch.run(spec, progress=False)
    assert first.segments[0].error["type"] == "Timeout" and first.exit_status == 1
    marker.unlink()
    result = batch.run(spec.replace(timeout=120.0), progress=False, resume=first.run_id)
    assert result.exit_status == 0 and result.resumed == ["Central"]
    m = manifest(first.folder)
    assert m["resumes"][0]["segments"] == {"Central": "timed out"} and m["resumes"][0]["timeout"] == 120.0
    assert m["spec"]["timeout"] == 4  # the spec the run was started with stays recorded
    assert index_links(first.folder) == ["central.html"]


# --------------------------------------------------------------------------------------------------------------
# refusals: another spec, notebook or data; an unknown or busy run


def _resume_error(spec: batch.Spec, run_id: str) -> str:
    with pytest.raises(batch.ResumeError) as caught:
        batch.run(spec, progress=False, resume=run_id)
    message = str(caught.value)
    assert "\n" not in message  # the CLI shows one line
    return message


def test_resume_refuses_another_spec_notebook_or_data_and_says_what_differs(tmp_path: Path, demo60: Path) -> None:
    data = shutil.copytree(demo60, tmp_path / "data")
    marker = tmp_path / "west-is-broken"
    marker.write_text("")
    notebook = hooked_notebook(tmp_path)
    spec_file = write_spec(
        tmp_path,
        notebook=str(notebook),
        data=str(data),
        segment_by="region",
        segments=["West"],
        filters={"role": ["decision_maker"]},
        output="out",
        workers=1,
        parameters={"fail_while": {"West": str(marker)}},
    )
    spec = batch.load_spec(spec_file)
    first = batch.run(spec, progress=False)
    run_id = first.run_id
    assert first.exit_status == 1
    before = {p: state(p) for p in first.folder.rglob("*") if p.is_file()}

    assert batch.spec_differences(spec.replace(workers=5, timeout=9.0), manifest(first.folder)) == []
    message = _resume_error(spec.replace(filters=spec.filters.replace(role=["influencer"])), run_id)
    assert f"cannot resume run {run_id}: the spec differs" in message
    assert 'filters {"role": ["decision_maker"]} then, {"role": ["influencer"]} now' in message
    message = _resume_error(spec.replace(segments=("West", "East")), run_id)
    assert 'segments ["West"] then, ["West", "East"] now' in message
    message = _resume_error(spec.replace(parameters={"fail_while": None}), run_id)
    assert "parameters" in message
    text = notebook.read_text()
    notebook.write_text(text.replace("(test fixture)", "(test fixture, edited)"))
    assert "notebook hooked_report.ipynb changed" in _resume_error(spec, run_id)
    notebook.write_text(text)
    # "latest" looks for the latest run of this spec only
    assert "no run of this spec to resume" in _resume_error(spec.replace(segment_by="tier", segments=None), "latest")

    assert f"no run 20990101-000000-abcdef in {spec.output} (runs there: {run_id})" in _resume_error(
        spec, "20990101-000000-abcdef"
    )
    assert "takes a run id" in _resume_error(spec, "../out")

    with (data / "accounts.csv").open("a", encoding="utf-8") as fh:
        fh.write("A999999,Late Arrival,100,Gold,West,Tech,Sam,Ann,2027-01-01,2020-01-01,5,active\n")
    message = _resume_error(spec, run_id)
    assert f"cannot resume run {run_id}: the data changed since it ran (accounts 60 rows then, 61 now" in message

    lock = batch_resume.RunLock(first.folder).acquire()
    try:
        assert "being run by another heatmap process" in _resume_error(spec, run_id)
    finally:
        lock.release()
    assert {p: state(p) for p in first.folder.rglob("*") if p.is_file()} == before  # no refusal wrote anything

    # a manifest is data: a slug or a file path that leaves the run folder is refused, not followed
    recorded = (first.folder / "manifest.json").read_text()
    tampered = json.loads(recorded)
    tampered["segments"][0]["slug"] = "../../escaped"
    (first.folder / "manifest.json").write_text(json.dumps(tampered))
    assert "segment list is damaged" in _resume_error(spec, run_id)
    (first.folder / "manifest.json").write_text(recorded)
    outside = first.folder.parent / "outside.txt"
    outside.write_text("not the run's")
    segment = batch.SegmentResult.from_dict({**json.loads(recorded)["segments"][0], "files": {"log": "../outside.txt"}})
    batch_resume.prepare_retry(first.folder, segment, "failed")
    assert outside.read_text() == "not the run's"  # never removed: it is not inside the run folder
    outside.unlink()

    status, _, err = run_cli(str(spec_file), "--resume", run_id, "--segments", "West")
    assert status == 2 and "takes no --segments" in err


def test_resume_command_quotes_what_it_names() -> None:
    assert batch.resume_command("params/by region.yaml", "r1") == "heatmap run 'params/by region.yaml' --resume r1"
    assert batch.resume_command("s.yaml", "r1", Path("out")) == "heatmap run s.yaml --resume r1 --output out"
