"""The notebooks run top to bottom under papermill on the demo data, as an analyst or a schedule would run them."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.notebook


def execute(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    out = tmp_path / f"{name}.out.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def outputs(nb: nbformat.NotebookNode, mime: str) -> str:
    return "\n".join(
        str(o.get("data", {}).get(mime, "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name


def test_heatmap_notebook_live_mode_builds_the_dashboard(demo_dir, tmp_path):
    nb = execute(
        "customer_heatmap",
        tmp_path,
        data=str(demo_dir),
        filter_library=str(tmp_path / "filters"),
        workspace=str(tmp_path / "workspace"),
    )
    widgets = outputs(nb, "application/vnd.jupyter.widget-view+json")
    assert "model_id" in widgets  # the live dashboard is an ipywidget
    assert "cdn.bokeh.org" not in outputs(nb, "text/html")  # BokehJS inline: works offline


def test_xray_notebook_runs_for_a_demo_account(demo, demo_dir, tmp_path):
    import heatmap_lib as hm
    from heatmap_lib.data.plays import PlayStore

    account = hm.account_summary(demo).iloc[0]
    ws = tmp_path / "workspace"
    PlayStore(ws).add(str(account.account_id), "business_review", "Dana", notes="QBR <i>set</i>")
    nb = execute("account_xray", tmp_path, data=str(demo_dir), account_id=str(account.account_id), workspace=str(ws))
    html = outputs(nb, "text/html")
    assert "<h2>NPS by role" in html and "<h2>Non-responders to recruit" in html
    assert account.account_name.replace("&", "&amp;") in html
    assert "<h2>Plays</h2>" in html and "QBR &lt;i&gt;set&lt;/i&gt;" in html and "<h2>Suggested plays" in html
    # live (not batch): the play form is a widget under the X-Ray
    assert "model_id" in outputs(nb, "application/vnd.jupyter.widget-view+json")
    default = execute("account_xray", tmp_path, data=str(demo_dir), workspace=None)  # the riskiest valuable one
    out = outputs(default, "text/html")
    assert "<h2>Contacts" in out and "<h2>Plays</h2>" not in out


def test_plays_notebook_shows_suggestions_open_plays_and_effects(demo_dir, tmp_path):
    from heatmap_lib.data.demo import generate
    from heatmap_lib.data.plays import PlayStore

    plays = generate(150, 11).plays  # the demo_dir dataset's own plays
    PlayStore(tmp_path / "ws").import_frame(plays, source="demo")
    nb = execute("plays", tmp_path, data=str(demo_dir), workspace=str(tmp_path / "ws"), batch=True)
    html = outputs(nb, "text/html")
    assert "suggested plays on" in html and "Open plays by account manager" in html
    assert f"{int(plays['status'].isin(['open', 'in_progress']).sum()):,} open" in html
    assert "What the plays did" in html and "Plays not measured, and why" in html
    assert html.count("data-root-id") >= 3  # one effects chart per metric: NPS, response rate, renewal risk


def test_import_notebook_maps_the_sample_exports_and_draws_the_first_heat_map(tmp_path):
    nb = execute("import_your_data", tmp_path, out=str(tmp_path / "mine"))
    html = outputs(nb, "text/html")
    assert "contacts: 10 rows from 15 rows of qualtrics_responses.csv" in html
    assert "Wizard of Lightbulb Moments" in html and "2026-Q3" in html
    assert "Stark Industries, Inc." in html and "cdn.bokeh.org" not in html
    assert sorted(p.name for p in (tmp_path / "mine").glob("*.parquet")) == [
        "accounts.parquet",
        "contacts.parquet",
        "invitations.parquet",
        "usage_events.parquet",
    ]
    other = execute("import_your_data", tmp_path, mapping_file=str(ROOT / "params/mappings/surveymonkey_hubspot.yaml"))
    assert "FY2027-Q4" in outputs(other, "text/html")
