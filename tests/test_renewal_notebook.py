"""The renewal heat map notebook runs top to bottom on the demo and renders as an offline page."""

from __future__ import annotations

import csv
import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from heatmap_lib.reports import snapshot as report

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "renewal_heatmap.ipynb"
BATCH_PARAMETERS = ("data", "filters", "segment_by", "segment", "include_emails", "batch")
HOSTILE = "<img src=x onerror=alert(1)>"
SECTIONS = (
    "How good are the weights?",
    "Value at risk by segment and renewal month",
    "Risk versus opportunity",
    "Most value at risk",
    "Why ",
    "Watermelons: green on NPS, high renewal risk",
)


def _outputs_html(nb: nbformat.NotebookNode) -> str:
    return "\n".join(
        str((o.get("data") or {}).get("text/html", "")) for cell in nb.cells for o in cell.get("outputs", [])
    )


def _errors(nb: nbformat.NotebookNode) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def _hostile_copy(demo_dir: Path, folder: Path) -> tuple[Path, str]:
    """The demo with its most valuable West account renamed to a script-injection attempt."""
    shutil.copytree(demo_dir, folder)
    with (folder / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    west = max((r for r in rows if r["region"] == "West" and r["status"] == "active"), key=lambda r: float(r["value"]))
    west["account_name"] = HOSTILE
    with (folder / "accounts.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder, west["account_id"]


def _run(out: Path, **parameters: object) -> nbformat.NotebookNode:
    import papermill as pm

    return pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=parameters,
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        kernel_name="python3",
    )


@pytest.fixture(scope="module")
def executed(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """A batch run with the shipped default weights, on the West and East accounts, explaining the hostile one."""
    out = tmp_path_factory.mktemp("renewal_nb")
    data, hostile_id = _hostile_copy(demo_dir, out / "data")
    return _run(
        out / "renewal_heatmap.ipynb",
        data=str(data),
        batch=True,
        filters={"region": ["West", "East"]},
        account_id=hostile_id,
    )


def test_parameters_cell_declares_what_heatmap_run_passes() -> None:
    import papermill as pm

    declared = pm.inspect_notebook(str(NOTEBOOK))
    assert set(BATCH_PARAMETERS) <= set(declared)
    assert declared["data"]["default"] == '"../data/demo"'
    assert declared["weights"]["default"] == '"../params/renewal_weights.yaml"'
    assert declared["segment_by"]["default"] == '"tier"'
    assert {"as_of", "account_id"} <= set(declared)


@pytest.mark.notebook
def test_notebook_runs_and_shows_every_view(executed: nbformat.NotebookNode) -> None:
    assert not _errors(executed)
    shown = _outputs_html(executed)
    for title in SECTIONS:
        assert html.escape(title) in shown, title
    assert shown.count("data-root-id") == 3  # grid, quadrant chart, waterfall
    assert "Scored as of <b>2026-10-01</b>" in shown and "validated on the latest renewals held out: AUC" in shown


@pytest.mark.notebook
def test_notebook_escapes_customer_text(executed: nbformat.NotebookNode) -> None:
    shown = _outputs_html(executed)
    assert html.escape(HOSTILE) in shown  # the explained account is named, as text
    assert HOSTILE not in shown
    page = report.notebook_to_html(executed, title="Renewal heat map")
    assert HOSTILE not in page
    assert "<img" not in page.replace(report.bokehjs_inline(), "")


@pytest.mark.notebook
def test_notebook_holds_only_its_scope(executed: nbformat.NotebookNode, demo_dir: Path) -> None:
    with (demo_dir / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        others = [r["account_name"] for r in csv.DictReader(fh) if r["region"] not in ("West", "East")]
    page = report.notebook_to_html(executed, title="Renewal heat map")
    assert not [name for name in others if html.escape(name) in page or name in page]


@pytest.mark.notebook
def test_notebook_renders_offline(executed: nbformat.NotebookNode) -> None:
    page = report.notebook_to_html(executed, title="Renewal heat map")
    assert '<script src="http' not in page and "<script src='http" not in page
    bundle = report.bokehjs_inline()
    assert page.count(bundle) == 1  # BokehJS inlined once, by the page template
    rest = page.replace(bundle, "")  # the bundle's own code holds templates such as "<img src='../images/..."
    assert not re.search(r"<(script|img|iframe)[^>]+src=", rest)
    assert not re.search(r"<link[^>]+href=\"https?:", rest)
    assert "cdn" not in rest.lower()
    assert "Traceback" not in page


@pytest.mark.notebook
def test_notebook_calibrates_on_the_fly_and_runs_live(demo_dir: Path, tmp_path: Path) -> None:
    nb = _run(tmp_path / "live.ipynb", data=str(demo_dir), weights=None, batch=False)
    assert not _errors(nb)
    shown = _outputs_html(nb)
    assert "validated on the latest renewals held out: AUC" in shown and "Watermelons" in shown
    assert re.search(r"Held-out AUC 0\.\d\d \(95% interval 0\.\d\d to [01]\.\d\d\)", shown)
    assert "Verdict: the model is " in shown and "Decile of predicted churn" in shown
