"""The account health notebook runs top to bottom on the demo and renders as an offline snapshot page."""

from __future__ import annotations

import csv
import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from heatmap_lib.reports import snapshot as report

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "account_health.ipynb"
BATCH_PARAMETERS = ("data", "filters", "segment_by", "segment", "include_emails", "batch")
TABLE_TITLES = (
    "Accounts by value",
    "Accounts with at least 3 users who did create_report",
    "The same, counted by account_manager",
    "Accounts with users who have not finished onboarding",
    "Users who started onboarding and have not finished",
    "No event in the last 30 days",
    "Falling accounts",
    "Users of ",
)


def _outputs_html(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(str((output.get("data") or {}).get("text/html", "")))
    return "\n".join(parts)


HOSTILE = "<img src=x onerror=alert(1)>"


def _hostile_copy(demo_dir: Path, folder: Path) -> Path:
    """The demo with its most valuable West account renamed to a script-injection attempt."""
    shutil.copytree(demo_dir, folder)
    with (folder / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    west = max((r for r in rows if r["region"] == "West"), key=lambda r: float(r["value"]))
    west["account_name"] = HOSTILE
    with (folder / "accounts.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def executed(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    import papermill as pm

    out = tmp_path_factory.mktemp("health_nb")
    data = _hostile_copy(demo_dir, out / "data")
    nb = pm.execute_notebook(
        str(NOTEBOOK),
        str(out / "account_health.ipynb"),
        parameters={
            "data": str(data),
            "batch": True,
            "filters": {"region": ["West", "East"]},
            "export_dir": str(out / "exports"),
        },
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        kernel_name="python3",
    )
    return nb, out


def test_parameters_cell_declares_what_heatmap_run_passes() -> None:
    import papermill as pm

    declared = pm.inspect_notebook(str(NOTEBOOK))
    assert set(BATCH_PARAMETERS) <= set(declared)
    assert declared["data"]["default"] == '"../data/demo"'


@pytest.mark.notebook
def test_notebook_runs_and_shows_every_table(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, out = executed
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    shown = _outputs_html(nb)
    for title in TABLE_TITLES:
        assert html.escape(title) in shown, title
    assert shown.count("<table") >= len(TABLE_TITLES)
    assert "Weekly active users" not in shown or "bk-root" in shown or "data-root-id" in shown
    assert "As of <b>2026-09-30</b>" in shown
    exports = sorted(p.name for p in (out / "exports").iterdir())
    assert "health.csv" in exports and "health.xlsx" in exports and len(exports) == 16


@pytest.mark.notebook
def test_notebook_escapes_customer_text(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, _ = executed
    shown = _outputs_html(nb)
    assert html.escape(HOSTILE) in shown  # the most valuable account is in the tables, as text
    assert HOSTILE not in shown
    page = report.notebook_to_html(nb, title="Account health")
    assert HOSTILE not in page
    assert "<img" not in page.replace(report.bokehjs_inline(), "")  # BokehJS's own code holds "<img" templates


@pytest.mark.notebook
def test_notebook_renders_offline(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, _ = executed
    page = report.notebook_to_html(nb, title="Account health")
    assert '<script src="http' not in page and "<script src='http" not in page
    bundle = report.bokehjs_inline()
    assert page.count(bundle) == 1  # BokehJS inlined once, by the page template
    # the bundle's own code holds tag templates and names CDNs for features never loaded here; the rest of the
    # page fetches nothing
    rest = page.replace(bundle, "")
    assert not re.search(r"<(script|img|iframe)[^>]+src=", rest)
    assert not re.search(r"<link[^>]+href=", rest)
    assert "cdn" not in rest.lower()
    assert "Weekly active users by tier" in page
    assert "Weeks from " in page and "; data to 2026-09-30." in page  # the window, stated on the chart
    assert "Traceback" not in page


@pytest.mark.notebook
def test_notebook_live_mode_runs(demo_dir: Path, tmp_path: Path) -> None:
    import papermill as pm

    nb = pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "live.ipynb"),
        parameters={"data": str(demo_dir), "max_rows": 5, "user_list_account": "A000001", "trend_by": "account_id"},
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        kernel_name="python3",
    )
    shown = _outputs_html(nb)
    assert "Users of " in shown and "first 5 of" in shown
    mimes = {m for c in nb.cells for o in c.get("outputs", []) for m in (o.get("data") or {})}
    assert "application/vnd.bokehjs_exec.v0+json" in mimes  # the chart, shown through Bokeh's notebook support
