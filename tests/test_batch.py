"""Batch runs (heatmap_lib.reports.batch) and snapshots (heatmap_lib.reports.snapshot): specs, files, manifest,
failures, interrupts, safe names, segment isolation and escaping.

The runs use `tests/fixtures/segment_report.ipynb`, a segment notebook with two test hooks: `fail_on` (that segment
raises) and `slow_on` (that segment sleeps).
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Builder

import heatmap_lib as hm
from heatmap_lib.cli import run as run_command
from heatmap_lib.core import files
from heatmap_lib.core.exceptions import FilterError, SpecError
from heatmap_lib.core.progress import PREPARED_ENV
from heatmap_lib.data import prepared
from heatmap_lib.reports import batch
from heatmap_lib.reports import snapshot as report
from heatmap_lib.reports.batch import kernels as batch_kernels
from heatmap_lib.reports.batch import runner as batch_runner
from heatmap_lib.reports.batch import spec as batch_spec
from heatmap_lib.reports.snapshot import display as report_display
from heatmap_lib.reports.snapshot._common import _score

NOTEBOOK = Path(__file__).parent / "fixtures" / "segment_report.ipynb"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "</script><script>alert(2)</script>"
HOSTILE_MANAGER = "<svg onload=alert(3)>"
HOSTILE_COMMENT = "<img src=y onerror=alert(4)>"
HOSTILE_REGIONS = ("A/B", "A-B", "../../etc")


def write_spec(folder: Path, name: str = "spec.yaml", **keys: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(keys, sort_keys=False))
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = run_command.main(list(args))
    return status, out.getvalue(), err.getvalue()


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def by_segment(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["segment"]: s for s in m["segments"]}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


class Tags(HTMLParser):
    """Every element the browser would build from a page (script contents are text, as in a browser)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


# --------------------------------------------------------------------------------------------------------------
# data


@pytest.fixture(scope="module")
def demo60(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from heatmap_lib.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo60"), accounts=60, seed=3, fmt="csv")


@pytest.fixture(scope="module")
def demo60_ds(demo60: Path) -> hm.Dataset:
    return hm.load(demo60)


def hostile_builder() -> Builder:
    b = Builder()
    a = b.account("H1", 90_000, name=HOSTILE_NAME, region="A/B", account_manager=HOSTILE_MANAGER, tier="Gold")
    b.scores(a, "decision_maker", [9, 10, 3], comment=HOSTILE_COMMENT)
    a = b.account("H2", 40_000, name="Plain Slash Co", region="A/B", tier="Silver")
    b.scores(a, "influencer", [8, 2])
    a = b.account("H3", 70_000, name=HOSTILE_SCRIPT, region="A-B")
    b.scores(a, "influencer", [9, 2], comment=HOSTILE_SCRIPT)
    a = b.account("H4", 50_000, name='Dash & Sons "Quoted"', region="A-B")
    b.scores(a, "day_to_day", [10, None])
    a = b.account("H5", 30_000, name="Etc Holdings", region="../../etc")
    b.scores(a, "day_to_day", [6, 7])
    b.account("H6", 99_000, name="Silent Etc <b>bold</b>", region="../../etc")  # never invited: not surveyed
    return b


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_builder().write(tmp_path_factory.mktemp("hostile"))


# --------------------------------------------------------------------------------------------------------------
# specs: every problem is an error before anything runs


def test_load_spec_resolves_paths_against_the_spec_file(tmp_path: Path, demo60: Path) -> None:
    (tmp_path / "params" / "filters").mkdir(parents=True)
    (tmp_path / "params" / "filters" / "leaders.yaml").write_text("role: [decision_maker, influencer]\n")
    spec_file = write_spec(
        tmp_path / "params",
        notebook=str(NOTEBOOK),
        data=os.path.relpath(demo60, tmp_path / "params"),
        segment_by="region",
        segments=["West", "East"],
        filters="filters/leaders.yaml",
        output="../outputs",
        workers=3,
        parameters={"log_x": True},
        timeout=30,
    )
    spec = batch.load_spec(spec_file)
    assert spec.data == str(demo60.resolve())
    assert spec.output == (tmp_path / "outputs").resolve()
    assert spec.segments == ("West", "East")
    assert spec.filters.criteria["role"] == ("decision_maker", "influencer")
    assert spec.workers == 3 and spec.timeout == 30.0 and spec.include_emails is False
    params = batch.notebook_parameters(spec, "West")
    assert params == {
        "log_x": True,
        "data": str(demo60.resolve()),
        "filters": {"name": "leaders", "role": ["decision_maker", "influencer"]},
        "segment_by": "region",
        "segment": "West",
        "include_emails": False,
        "batch": True,
    }


def test_spec_defaults(tmp_path: Path) -> None:
    spec = batch.load_spec(write_spec(tmp_path, notebook=str(NOTEBOOK), data="d", segment_by="tier", output="o"))
    assert spec.segments is None and spec.filters.is_empty and spec.workers == 2 and spec.timeout is None
    assert spec.as_dict()["segments"] == "all"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"output": None}, "missing key output"),
        ({"parameters": {"not_declared": 1}}, "'not_declared' not declared in the parameters cell"),
        ({"parameters": {"segment": "West"}}, "set by `heatmap run` itself"),
        ({"workers": 0}, "workers must be a whole number >= 1"),
        ({"timeout": -1}, "timeout must be a number of seconds > 0"),
        ({"segments": "some"}, "segments must be 'all' or a non-empty list"),
        ({"filters": {"colour": ["red"], "start": "2026-01-01", "end": "2025-01-01"}}, "filters"),
        ({"segment_by": "wave", "filters": {"start": "2026-01-01"}}, "waves or by a start/end date range"),
        ({"include_emails": "yes"}, "include_emails must be true or false"),
        ({"notebook": "missing.ipynb"}, "does not exist"),
    ],
)
def test_spec_errors_name_the_file_and_the_problem(tmp_path: Path, change: dict, message: str) -> None:
    keys = {"notebook": str(NOTEBOOK), "data": "data", "segment_by": "region", "output": "out", **change}
    keys = {k: v for k, v in keys.items() if v is not None}
    path = write_spec(tmp_path, **keys)
    with pytest.raises(SpecError, match=re.escape(message)) as err:
        batch.load_spec(path)
    if "notebook" not in change:
        assert str(path) in str(err.value)


def test_a_notebook_must_declare_the_batch_parameters(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = "\n".join(line for line in cell.source.splitlines() if not line.startswith("batch ="))
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    with pytest.raises(SpecError, match="does not declare 'batch'"):
        batch.load_spec(write_spec(tmp_path, notebook="nb.ipynb", data="d", segment_by="region", output="o"))
    cell.metadata["tags"] = []
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    with pytest.raises(SpecError, match="no cell tagged `parameters`"):
        batch.load_spec(write_spec(tmp_path, notebook="nb.ipynb", data="d", segment_by="region", output="o"))


def test_unknown_yaml_is_refused_safely(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("notebook: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        batch.load_spec(path)


def test_resolve_segments(tmp_path: Path, demo60_ds: hm.Dataset) -> None:
    spec = batch.load_spec(write_spec(tmp_path, notebook=str(NOTEBOOK), data="d", segment_by="region", output="o"))
    assert batch.resolve_segments(spec, demo60_ds) == ["APAC", "Central", "EMEA", "East", "West"]
    narrowed = spec.replace(filters=hm.FilterSet(region=["West", "EMEA"]))
    assert batch.resolve_segments(narrowed, demo60_ds) == ["EMEA", "West"]
    with pytest.raises(SpecError, match="'East' of region not found in the data within the filter set"):
        batch.resolve_segments(narrowed.replace(segments=("East",)), demo60_ds)
    with pytest.raises(SpecError, match="'Atlantis' of region not found"):
        batch.resolve_segments(spec.replace(segments=("West", "Atlantis")), demo60_ds)
    waves = spec.replace(segment_by="wave")
    assert batch.resolve_segments(waves, demo60_ds) == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    with pytest.raises(SpecError, match="segment_by 'colour' is neither an accounts column nor wave"):
        batch.resolve_segments(spec.replace(segment_by="colour"), demo60_ds)


def test_a_bad_segment_by_fails_before_any_run_folder_exists(tmp_path: Path, demo60: Path) -> None:
    spec = write_spec(tmp_path, notebook=str(NOTEBOOK), data=str(demo60), segment_by="role", output="out")
    status, out, err = run_cli(str(spec), "--no-progress")
    assert status == 2 and "segment_by 'role' is neither an accounts column nor wave" in err and out == ""
    assert list((tmp_path / "out").iterdir()) == []


# --------------------------------------------------------------------------------------------------------------
# names and files


def test_slugs_are_safe_and_distinct() -> None:
    values = ["West", "../../etc", "A/B", "A-B", "index", "", "Ünïcödé Région", "/", "a" * 200, "CON"]
    names = batch.segment_file_names(values)
    assert len(set(names.values())) == len(values)
    for v, stem in names.items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", stem), (v, stem)
        assert len(stem) <= batch_spec.MAX_SLUG + 9
    assert names["West"] == "west" and names["../../etc"] == "etc" and names["Ünïcödé Région"] == "unicode-region"
    assert names["A/B"] != names["A-B"] and names["A/B"].startswith("a-b-") and names["A-B"].startswith("a-b-")
    assert names["index"].startswith("index-") and names["CON"].startswith("con-")
    assert names["/"].startswith("segment-") and names[""].startswith("segment-")
    assert batch.segment_file_names(["A/B", "A-B"]) == {k: names[k] for k in ("A/B", "A-B")}  # stable


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    files.atomic_write(target, "<html>old</html>")

    def broken(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, "<html>new, never whole</html>")
    assert target.read_text() == "<html>old</html>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_run_ids_never_collide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(batch_runner.secrets, "token_hex", lambda n: next(tokens))
    first = batch_runner._new_run_folder(tmp_path)
    second = batch_runner._new_run_folder(tmp_path)
    assert first[1] != second[1] and first[0].endswith("aaaaaa") and second[0].endswith("bbbbbb")
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", first[0])


# --------------------------------------------------------------------------------------------------------------
# snapshots without a kernel


def test_snapshot_of_a_segment(demo60_ds: hm.Dataset) -> None:
    leaders = {"role": ["decision_maker", "influencer"]}
    snap = report.snapshot(demo60_ds, leaders, segment_by="region", segment="West")
    summary = hm.account_summary(demo60_ds, {**leaders, "region": ["West"]})
    counts = hm.scope_counts(demo60_ds, {**leaders, "region": ["West"]})
    h = snap.headline
    assert h.surveyed == len(summary) and h.accounts == counts["accounts"]
    assert h.not_surveyed == counts["accounts"] - len(summary)
    assert h.response_rate == pytest.approx(counts["responses"] / counts["invitations"])
    p, d = summary["promoters"].sum(), summary["detractors"].sum()
    assert h.nps == pytest.approx(100 * (p - d) / summary["responses"].sum())
    assert sum(h.bands.values()) == len(summary)
    assert snap.filters == hm.FilterSet(**leaders)  # the header shows the spec's filters; the title the segment
    assert snap.title == "Customer heat map: region West"
    bundle = snap._repr_mimebundle_()
    assert bundle[report.HEADLINE_MIME] == h.as_dict() and "text/html" in bundle
    json.dumps(bundle[report.HEADLINE_MIME], allow_nan=False)
    assert set(snap.facets["tier"]) <= set(summary["tier"]) and set(snap.facets["band"]) <= set(hm.BANDS)


def test_segment_filters_intersect_never_widen() -> None:
    fs = hm.FilterSet(region=["West", "East"], role=["dm"])
    assert report.segment_filters(fs, "region", "East").criteria["region"] == ("East",)
    assert report.segment_filters(fs, "tier", "Gold").criteria == {
        "region": ("West", "East"),
        "role": ("decision_maker",),
        "tier": ("Gold",),
    }
    assert report.segment_filters(fs, None, None) == fs
    with pytest.raises(FilterError, match="outside the filter set's region"):
        report.segment_filters(fs, "region", "APAC")


def test_snapshot_sends_only_the_columns_its_views_use(demo60_ds: hm.Dataset) -> None:
    from bokeh.models import ColumnDataSource

    snap = report.snapshot(demo60_ds, segment_by="region", segment="East")
    sources = [s for s in snap.layout.select({"type": ColumnDataSource}) if s.name and s.name.startswith("hm-")]
    assert len(sources) == 1  # the chart's; the table is plain HTML built from the page's counts
    for src in sources:
        columns = set(src.data)
        assert {"hm_row", "account_manager", "band"} <= columns  # the hover and the page script read these
        assert not columns & {"email", "region", "sales_rep", "industry", "renewal_date", "seats", "comment"}
        lengths = {len(v) for v in src.data.values()}
        assert lengths == {snap.headline.surveyed}
    # the page's counts: the segment's accounts only, account columns as codes, no contact id, name or email
    payload = snap.payload
    assert payload is not None
    east = hm.scope_counts(demo60_ds, {"region": ["East"]})["accounts"]
    assert len(payload["accounts"]["id"]) == east and payload["attrs"]["region"]["values"] == ["East"]
    text = json.dumps(payload)
    contacts = demo60_ds.table("contacts").to_pandas()
    assert not [e for e in contacts["email"].dropna() if e in text]
    assert not [c for c in contacts["contact_id"] if f'"{c}"' in text]


def test_snapshot_html_escapes_customer_text(tmp_path: Path) -> None:
    ds = hostile_builder().load(tmp_path / "h")
    page = report.snapshot(ds, segment_by="region", segment="A/B").html()
    for raw in (HOSTILE_NAME, HOSTILE_MANAGER, HOSTILE_COMMENT, HOSTILE_SCRIPT, "<b>bold</b>"):
        assert raw not in page
    assert html.escape(HOSTILE_MANAGER) in page  # in the account manager filter, as text
    assert not [t for t, a in tags(page) if t in ("img", "svg") or any(k.startswith("on") for k in a)]
    assert "@x.io" not in page
    etc = report.snapshot(ds, segment_by="region", segment="../../etc")
    assert "Silent Etc &lt;b&gt;bold&lt;/b&gt;" in etc.not_surveyed_html()


def test_show_snapshot_in_batch_mode_displays_one_static_output(
    demo60_ds: hm.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    assert report.show_snapshot(demo60_ds, segment_by="region", segment="West", embed_bokehjs=False) is None
    assert len(shown) == 1 and isinstance(shown[0], report.Snapshot)
    bundle = shown[0]._repr_mimebundle_()
    assert "Bokeh.safely" in bundle["text/html"]
    assert len(bundle["text/html"]) < 200_000  # no BokehJS (1.3 MB and more) in the cell output


def test_show_snapshot_live_loads_bokehjs_once(demo60_ds: hm.Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    import bokeh.io
    import IPython.display

    calls: list[str] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: calls.append("display"))
    monkeypatch.setattr(bokeh.io, "output_notebook", lambda **kw: calls.append("load"))
    monkeypatch.setattr(bokeh.io, "show", lambda obj: calls.append("show"))
    monkeypatch.setattr(report_display, "_live_bokehjs_loaded", False)
    report.show_snapshot(demo60_ds, segment_by="region", segment="West")
    report.show_snapshot(demo60_ds, segment_by="region", segment="East")
    assert calls == ["load", "display", "show", "display", "display", "show", "display"]


def test_open_data_reuses_a_prepared_copy(tmp_path: Path, demo60: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = hm.load(demo60, database=tmp_path / "prepared.duckdb")
    sidecar = prepared.save_prepared(ds, tmp_path / "prepared.duckdb")
    expected = hm.account_summary(ds, {"region": ["West"]})
    ds.con.close()
    monkeypatch.setenv(PREPARED_ENV, str(sidecar))
    opened = prepared.open_data(str(demo60))
    assert opened.account_columns == ds.account_columns and opened.rows == ds.rows
    assert opened.fingerprint() == ds.fingerprint()
    assert hm.account_summary(opened, {"region": ["West"]}).equals(expected)
    opened.con.close()
    other = prepared.open_data(str(demo60) + "/")  # the same folder spelled differently
    assert other.path == str(demo60)
    other.con.close()


def test_render_index_escapes_everything() -> None:
    info = {
        "run_id": "r",
        "started_at": "t",
        "spec_file": "<s>.yaml",
        "data_name": HOSTILE_NAME,
        "fingerprint": "0" * 64,
        "excluded": None,
        "segment_by": "region",
        "filters": HOSTILE_SCRIPT,
        "versions": {"heatmap": "1", "bokeh": "1", "papermill": "1", "nbconvert": "1", "python": "3"},
        "segments": [
            {
                "segment": HOSTILE_NAME,
                "status": "failed",
                "files": {"notebook": "notebooks/x.ipynb"},
                "headline": None,
                "error": {"type": "E", "message": HOSTILE_SCRIPT, "traceback": HOSTILE_NAME},
            }
        ],
    }
    page = report.render_index(info)
    assert HOSTILE_NAME not in page and HOSTILE_SCRIPT not in page
    assert not [t for t, _ in tags(page) if t in ("img", "svg")] and page.count("<script") == 0


# --------------------------------------------------------------------------------------------------------------
# a batch on the demo data: two reports, one failure


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, demo60: Path) -> tuple[int, str, Path]:
    folder = tmp_path_factory.mktemp("demo-run")
    spec = write_spec(
        folder,
        notebook=str(NOTEBOOK),
        data=str(demo60),
        segment_by="region",
        segments=["West", "East", "APAC"],
        filters={"role": ["decision_maker", "influencer"]},
        output="out",
        workers=2,
        parameters={"fail_on": "APAC"},
    )
    status, out, _ = run_cli(str(spec), "--no-progress")
    runs = [p for p in (folder / "out").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1, runs
    return status, out, runs[0]


@pytest.mark.notebook
def test_batch_writes_reports_notebooks_index_and_manifest(demo_run: tuple[int, str, Path], demo60: Path) -> None:
    status, out, folder = demo_run
    assert status == 1  # one segment failed
    assert out.strip() == str(folder / "index.html")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    files = [f for f in files if f != "logs/apac.log"]  # the failed kernel's own output, when it printed any
    assert files == [
        "east.html",
        "index.html",
        "manifest.json",
        "notebooks/apac.ipynb",
        "notebooks/east.ipynb",
        "notebooks/west.ipynb",
        "west.html",
    ]
    for page in folder.glob("*.html"):
        assert page.read_text().rstrip().endswith("</html>")
    m = manifest(folder)
    assert m["status"] == "complete" and m["index"] == "index.html" and m["finished_at"]
    assert m["counts"]["ok"] == 2 and m["counts"]["failed"] == 1
    assert m["data"]["fingerprint"] == hm.load(demo60).fingerprint()
    assert m["spec"]["segment_by"] == "region" and m["spec"]["filters"] == {"role": ["decision_maker", "influencer"]}
    assert {"python", "heatmap", "bokeh", "papermill", "nbconvert"} <= set(m["versions"])
    west = by_segment(m)["West"]
    assert west["status"] == "ok" and west["files"] == {"html": "west.html", "notebook": "notebooks/west.ipynb"}
    assert west["seconds"] > 0 and west["execute_seconds"] > 0 and west["convert_seconds"] > 0
    assert west["error"] is None and west["headline"]["surveyed"] > 0
    executed = json.loads((folder / "notebooks" / "west.ipynb").read_text())
    assert not [c for c in executed["cells"] if batch_kernels.RESET_TAG in c.get("metadata", {}).get("tags", [])]


@pytest.mark.notebook
def test_a_failed_segment_is_recorded_and_the_others_finish(demo_run: tuple[int, str, Path]) -> None:
    _, _, folder = demo_run
    apac = by_segment(manifest(folder))["APAC"]
    assert apac["status"] == "failed" and "html" not in apac["files"]
    assert apac["error"]["type"] == "RuntimeError" and "segment APAC was asked to fail" in apac["error"]["message"]
    assert "raise RuntimeError" in apac["error"]["traceback"] and "\x1b[" not in apac["error"]["traceback"]
    failed = json.loads((folder / apac["files"]["notebook"]).read_text())
    errors = [o for c in failed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "RuntimeError"
    # two workers, three segments: APAC ran on a kernel that had run another segment, and saw none of its names
    counts = [c["execution_count"] for c in failed["cells"] if c["cell_type"] == "code" and c["execution_count"]]
    assert min(counts) > 2
    index = (folder / "index.html").read_text()
    assert 'data-segment-status="failed"' in index and "segment APAC was asked to fail" in index


@pytest.mark.notebook
def test_index_links_every_segment_with_its_headline_figures(demo_run: tuple[int, str, Path], demo60: Path) -> None:
    _, _, folder = demo_run
    index = (folder / "index.html").read_text()
    links = Links()
    links.feed(index)
    assert sorted(links.hrefs) == ["east.html", "notebooks/apac.ipynb", "west.html"]
    assert all((folder / h).is_file() for h in links.hrefs)
    ds = hm.load(demo60)
    leaders = {"role": ["decision_maker", "influencer"]}
    for region in ("West", "East"):
        h = report.segment_headline(ds, leaders, segment_by="region", segment=region)
        recorded = dict(by_segment(manifest(folder))[region]["headline"])
        assert recorded.pop("bands") == h.bands
        assert recorded == pytest.approx({k: v for k, v in h.as_dict().items() if k != "bands"})
        row = re.search(rf'<a href="{region.lower()}.html">{region}</a>(.*?)</tr>', index, re.S)
        assert row is not None
        cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
        assert cells[:4] == [f"{h.accounts:,}", f"{h.surveyed:,}", f"{h.response_rate:.0%}", _score(h.nps)]
        assert cells[4:] == [f"{h.bands[b]:,}" for b in hm.BANDS]


@pytest.mark.notebook
def test_a_region_report_holds_only_its_region_and_no_email(demo_run: tuple[int, str, Path], demo60: Path) -> None:
    _, _, folder = demo_run
    ds = hm.load(demo60)
    accounts = ds.table("accounts").to_pandas()
    emails = ds.table("contacts").to_pandas()["email"].dropna()
    west_names = set(accounts.loc[accounts["region"] == "West", "account_name"])
    others = set(accounts.loc[accounts["region"] != "West", "account_name"])
    others = {n for n in others if not any(n in w for w in west_names)}  # a name inside a West name proves nothing
    for path in (folder / "west.html", folder / "notebooks" / "west.ipynb"):
        text = path.read_text()
        leaked = [n for n in others if n in text or html.escape(n) in text]
        assert not leaked, f"{path.name} holds other regions' accounts: {leaked[:5]}"
        assert not [e for e in emails if e in text]
        assert not re.search(r"[\w.+-]+@[\w-]+\.(com|io|org|net)\b", text)
    page = (folder / "west.html").read_text()
    surveyed = set(
        hm.account_summary(ds, {"region": ["West"], "role": ["decision_maker", "influencer"]})["account_name"]
    )
    assert all(html.escape(n, quote=False) in page for n in surveyed if not set(n) & set("\"'\\"))


@pytest.mark.notebook
def test_report_pages_are_offline_and_carry_bokehjs_once(demo_run: tuple[int, str, Path]) -> None:
    _, _, folder = demo_run
    from bokeh.resources import Resources

    page = (folder / "west.html").read_text()
    core = report.bokehjs_inline(tables=False)  # the heat map's table is plain HTML: no tables bundle
    assert page.count(core) == 1 and page.index(core) < page.index("</head>") and report.bokehjs_inline() not in page
    tables = Resources(mode="inline", components=["bokeh-tables"]).js_raw[0]
    assert tables not in page
    external = [a for t, a in tags(page) if (t == "script" and a.get("src")) or (t in ("link", "img", "iframe"))]
    assert not external  # nothing to fetch: no CDN, no require.js, no MathJax (the browser test watches requests)
    assert (folder / "west.html").stat().st_size < 2_000_000


# --------------------------------------------------------------------------------------------------------------
# hostile segment values and customer text


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, hostile: Path) -> Path:
    folder = tmp_path_factory.mktemp("hostile-run")
    spec = batch.load_spec(
        write_spec(folder, notebook=str(NOTEBOOK), data=str(hostile), segment_by="region", output="out", workers=2)
    )
    result = batch.run(spec, progress=False)
    assert result.exit_status == 0, [s.error for s in result.failed]
    return result.folder


@pytest.mark.notebook
def test_hostile_segment_values_get_safe_distinct_names(hostile_run: Path) -> None:
    out = hostile_run.parent
    assert [p.name for p in out.iterdir()] == [hostile_run.name]  # nothing written beside or above the run
    m = manifest(hostile_run)
    names = {s["segment"]: s["files"]["html"] for s in m["segments"]}
    assert set(names) == set(HOSTILE_REGIONS)
    assert names["../../etc"] == "etc.html"
    assert names["A/B"] != names["A-B"] and all(
        re.fullmatch(r"a-b-[0-9a-f]{8}\.html", names[k]) for k in ("A/B", "A-B")
    )
    assert all((hostile_run / n).resolve().parent == hostile_run.resolve() for n in names.values())


@pytest.mark.notebook
def test_hostile_customer_text_is_escaped_in_every_page(hostile_run: Path) -> None:
    pages = {p.name: p.read_text() for p in hostile_run.glob("*.html")}
    assert len(pages) == 4
    for name, page in pages.items():
        for raw in (HOSTILE_NAME, HOSTILE_SCRIPT, HOSTILE_MANAGER, HOSTILE_COMMENT, "<b>bold</b>"):
            assert raw not in page, (name, raw)
        assert not [t for t, a in tags(page) if t in ("img", "svg")], name
        assert not [a for t, a in tags(page) if any(k.startswith("on") for k in a)], name
        assert "@x.io" not in page
    index = pages.pop("index.html")
    assert "../../etc" in index
    ab = next(p for n, p in pages.items() if html.escape(HOSTILE_MANAGER) in p)
    assert ab.count("alert(2)") == 0  # the other slug's account is not in this report


# --------------------------------------------------------------------------------------------------------------
# interrupts and timeouts


def _kernel_processes_for(marker: str) -> list[int]:
    """Live processes whose environment names `marker` (our kernels carry the run's prepared-data path)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.notebook
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_never_looks_complete(tmp_path: Path, demo60: Path, signum: int) -> None:
    spec = write_spec(
        tmp_path,
        notebook=str(NOTEBOOK),
        data=str(demo60),
        segment_by="region",
        segments=["East", "West", "APAC"],
        output="out",
        workers=1,
        parameters={"slow_on": "West", "slow_seconds": 120},
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "heatmap_lib.cli.run", str(spec), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        folder = None
        while time.monotonic() < deadline:
            runs = [p for p in (tmp_path / "out").glob("2*") if (p / "manifest.json").exists()]
            if runs and manifest(runs[0])["counts"].get("ok") == 1:
                folder = runs[0]
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert folder is not None, "the first segment never finished"
        time.sleep(1.0)  # West is now sleeping in its kernel
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"heatmap: run {folder.name} interrupted; finish it with: heatmap run {spec} --resume {folder.name}" in err
    m = manifest(folder)
    assert m["status"] == "interrupted" and m["index"] is None
    assert m["interrupted_by"] == ("SIGTERM" if signum == signal.SIGTERM else "KeyboardInterrupt")
    segs = by_segment(m)
    assert segs["East"]["status"] == "ok" and segs["West"]["status"] == "interrupted"
    assert segs["APAC"]["status"] == "cancelled"
    assert not (folder / "index.html").exists()
    assert sorted(p.name for p in folder.glob("*.html")) == ["east.html"]
    assert (folder / "east.html").read_text().rstrip().endswith("</html>")
    leftovers = [p for p in (tmp_path / "out").rglob(".*")]
    assert not leftovers, leftovers  # no temporary file, partial notebook or prepared data left
    assert not _kernel_processes_for(str(tmp_path / "out"))


@pytest.mark.notebook
def test_a_segment_over_its_timeout_fails_and_runs_never_mix(tmp_path: Path, demo60: Path) -> None:
    spec = batch.load_spec(
        write_spec(
            tmp_path,
            notebook=str(NOTEBOOK),
            data=str(demo60),
            segment_by="region",
            segments=["Central"],
            output="out",
            workers=1,
            timeout=5,
            parameters={"slow_on": "Central", "slow_seconds": 120},
        )
    )
    started = time.monotonic()
    first = batch.run(spec, progress=False)
    assert time.monotonic() - started < 60
    central = first.segments[0]
    assert central.status == "failed" and central.error["type"] == "Timeout" and first.exit_status == 1
    assert "timeout of 5 s" in central.error["message"]
    second = batch.run(spec.replace(segments=("EMEA",), timeout=None), progress=False)
    assert second.exit_status == 0
    assert second.folder != first.folder and second.folder.parent == first.folder.parent
    assert manifest(first.folder)["run_id"] == first.run_id and manifest(second.folder)["run_id"] == second.run_id
    assert sorted(p.name for p in first.folder.glob("*.html")) == ["index.html"]
    assert sorted(p.name for p in second.folder.glob("*.html")) == ["emea.html", "index.html"]
