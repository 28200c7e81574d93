"""Progress output that suits where it goes (heatmap_lib.core.progress): a bar on a terminal, plain lines in a log."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import heatmap_lib as hm
from heatmap_lib.core import progress as progress_module
from heatmap_lib.core.progress import is_terminal, progress
from heatmap_lib.metrics.xray import xrays
from heatmap_lib.views.xray_view import write_xray_pages

NOTEBOOK = Path(__file__).parent / "fixtures" / "segment_report.ipynb"


def test_a_log_gets_one_plain_line_per_step(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    with log.open("w") as fh:
        assert not is_terminal(fh)
        bar = progress(3, "heatmap run X", unit="segment", stream=fh)
        bar.step("East: ok; 0 failed")
        bar.step("\x1b[2Jbad\rvalue: failed; 1 failed")  # a segment value's control characters stay inert
        bar.step()
        bar.close()
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines() == [
        "heatmap run X: 1 of 3 segments done (East: ok; 0 failed)",
        "heatmap run X: 2 of 3 segments done (?[2Jbad?value: failed; 1 failed)",
        "heatmap run X: 3 of 3 segments done",
    ]


def _read_all(fd: int) -> str:
    """Everything the terminal has to give: a pty hands a write over in chunks, so read until it has no more."""
    chunks = []
    while select.select([fd], [], [], 5)[0]:  # a loaded machine may be slow to pass the rest along
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
        if b"2/2" in b"".join(chunks):
            break
    return b"".join(chunks).decode()


def test_a_terminal_gets_a_live_bar() -> None:
    main, child = pty.openpty()
    try:
        with os.fdopen(child, "w", closefd=False) as tty:
            assert is_terminal(tty)
            bar = progress(2, "heatmap run X", unit="segment", stream=tty)
            bar.step("1 failed")
            bar.step()
            bar.close()
            tty.flush()
        written = _read_all(main)
    finally:
        os.close(main)
        os.close(child)
    assert "\r" in written and "2/2" in written and "heatmap run X" in written  # redrawn in place by tqdm


def test_disabled_progress_writes_nothing() -> None:
    out = io.StringIO()
    bar = progress(2, "x", stream=out, enabled=False)
    bar.step()
    bar.close()
    assert out.getvalue() == ""


@pytest.mark.notebook
def test_a_run_redirected_to_a_file_has_no_carriage_return_fragments(tmp_path: Path) -> None:
    from heatmap_lib.data.demo import write_demo

    data = write_demo(tmp_path / "demo", accounts=40, seed=3, fmt="csv")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "notebook": str(NOTEBOOK),
                "data": str(data),
                "segment_by": "region",
                "segments": ["East", "West"],
                "output": "out",
                "workers": 1,
            }
        )
    )
    log = tmp_path / "run.log"
    with log.open("w") as fh:  # stdout and stderr both go to the file, as in a CI log or `> run.log 2>&1`
        done = subprocess.run(
            [sys.executable, "-m", "heatmap_lib.cli.run", str(spec)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text
    steps = [line for line in text.splitlines() if " segments done (" in line]
    assert len(steps) == 2, text
    assert steps[0].endswith("of 2 segments done (East: ok; 0 failed)") or steps[0].endswith(
        "of 2 segments done (West: ok; 0 failed)"
    )
    assert steps[1].split(": ", 1)[1].startswith("2 of 2 segments done")


def test_loading_and_xray_pages_show_a_bar_and_a_batch_kernel_shows_none(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(progress_module.PREPARED_ENV, raising=False)
    monkeypatch.setattr(progress_module, "DELAY", 0)  # every step counts as long here
    ds = hm.load(demo_dir, cache=tmp_path / "cache")
    found = xrays(ds, {"region": ["West"]})
    write_xray_pages(found, tmp_path / "pages")
    err = capsys.readouterr().err
    assert f"validating {demo_dir.name}" in err and f"preparing {demo_dir.name}" in err
    assert "X-Ray pages" in err and f"{len(found)}/{len(found)}" in err

    monkeypatch.setenv(progress_module.PREPARED_ENV, str(tmp_path / "run.json"))  # as `heatmap run` sets in its kernels
    hm.load(demo_dir, cache=tmp_path / "other-cache")
    write_xray_pages(found, tmp_path / "pages-2")
    assert capsys.readouterr().err == ""


def test_progress_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(progress_module.PREPARED_ENV, raising=False)
    assert progress_module.enabled()
    monkeypatch.setenv("HEATMAP_PROGRESS", "0")
    assert not progress_module.enabled()


@pytest.mark.notebook
def test_a_notebook_rendered_into_a_report_carries_no_progress(tmp_path: Path) -> None:
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import sys\n"
            "from heatmap_lib.core.progress import progress\n"
            "for stream in (sys.stderr, sys.stdout):\n"
            "    bar = progress(2, 'heatmap step', stream=stream)\n"
            "    bar.step('one')\n"
            "    bar.step()\n"
            "    bar.close()\n"
            "print('done')"
        )
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    papermill.execute_notebook(str(source), str(out), progress_bar=False, cwd=str(tmp_path))
    outputs = nbformat.read(out, as_version=4).cells[0].outputs
    assert [o.get("text") for o in outputs] == ["done\n"]  # the kernel's streams get no progress at all
