"""A workspace's plays belong to one dataset: another dataset's reports refuse them or show none, never attach them
to whichever of its accounts shares an id (the demo's escalation under another company of the same id)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from test_batch import run_cli, write_spec

import heatmap_lib as hm
from heatmap_lib.data.demo import write_demo
from heatmap_lib.data.plays import PlaysError, PlayStore, dataset_accounts, read_plays, store_dataset

pytestmark = pytest.mark.notebook
REPO = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The demo with its plays in `<root>/workspace`, and a second dataset whose account ids are the same."""
    root = tmp_path_factory.mktemp("two")
    demo = write_demo(root / "demo", accounts=40, seed=7, workspace=root / "workspace")
    other = write_demo(root / "other", accounts=40, seed=99)
    return root, demo, other


def test_the_demo_store_records_its_dataset_and_refuses_another(datasets: tuple[Path, Path, Path]) -> None:
    root, demo, other = datasets
    ds, foreign = hm.load(demo), hm.load(other)
    shared = set(ds.table("accounts").to_pandas()["account_id"]) & set(
        foreign.table("accounts").to_pandas()["account_id"]
    )
    assert shared  # the hazard: the same ids, other companies
    assert store_dataset(root / "workspace")["source"] == str(demo)
    assert len(read_plays(root / "workspace", dataset=ds)) > 0
    with pytest.raises(PlaysError, match="belongs to another dataset") as info:
        read_plays(root / "workspace", dataset=foreign)
    assert str(root / "workspace") in str(info.value) and str(other) in str(info.value)


def test_the_same_data_grown_by_an_account_keeps_its_plays(datasets: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, demo, _ = datasets
    grown = tmp_path / "grown"
    shutil.copytree(demo, grown)
    with (grown / "accounts.csv").open("a", encoding="utf-8") as fh:
        fh.write("A999999,Newco Ltd,1000" + "," * (len(pd.read_csv(demo / "accounts.csv", nrows=0).columns) - 3) + "\n")
    ds = hm.load(grown)
    assert ds.rows["accounts"] == 41
    workspace = tmp_path / "workspace"
    shutil.copytree(root / "workspace", workspace)
    assert len(read_plays(workspace, dataset=ds)) == len(PlayStore(workspace))
    assert store_dataset(workspace)["fingerprint"] != dataset_accounts(ds).fingerprint  # reading writes nothing
    # where plays are recorded, the store is bound to the grown data: a play on the new account is protected too
    PlayStore(workspace).check_dataset(ds)
    assert store_dataset(workspace)["fingerprint"] == dataset_accounts(ds).fingerprint


def test_a_spec_naming_the_demo_workspace_is_refused_on_another_dataset(
    datasets: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    root, _, other = datasets
    spec = write_spec(
        tmp_path,
        notebook=str(REPO / "notebooks" / "plays.ipynb"),
        data=str(other),
        segment_by="region",
        output="out",
        parameters={"workspace": str(root / "workspace")},
    )
    status, _, err = run_cli(str(spec), "--no-progress")
    assert status == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("heatmap: error:") and "belongs to another dataset" in line and str(spec) in line
    assert not list((tmp_path / "out").glob("*/manifest.json"))  # refused before any segment ran


def test_a_spec_naming_no_workspace_shows_no_plays(datasets: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, _, other = datasets
    # the notebook's own default, ../workspace, is the demo's store here: a run must not fall back to it
    (tmp_path / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / "plays.ipynb", tmp_path / "notebooks" / "plays.ipynb")
    shutil.copytree(root / "workspace", tmp_path / "workspace")
    region = hm.load(other).distinct_values("accounts", "region")[0]
    spec = write_spec(
        tmp_path,
        notebook="notebooks/plays.ipynb",
        data=str(other),
        segment_by="region",
        segments=[region],
        output="out",
        workers=1,
        parameters={
            "play_rules": str(REPO / "params" / "play_rules.yaml"),
            "renewal_weights": str(REPO / "params" / "renewal_weights.yaml"),
        },
    )
    status, _, err = run_cli(str(spec), "--no-progress")
    assert status == 0, err
    (run,) = [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["workspace"]["path"] is None and "no plays" in manifest["workspace"]["note"]
    (seg,) = manifest["segments"]
    executed = nbformat.read(run / seg["files"]["notebook"], as_version=4)
    assert any("workspace = None" in c.source for c in executed.cells if "injected-parameters" in c.metadata.tags)
    page = (run / seg["files"]["html"]).read_text(encoding="utf-8")
    demo_notes = PlayStore(tmp_path / "workspace").frame()["notes"]
    assert not [n for n in demo_notes if n and n in page]
