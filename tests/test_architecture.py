"""The layers of docs/architecture.md hold: import-linter keeps them, and catches an import that breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_LINES = 800


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the repository's contracts on the `heatmap_lib` found first on PYTHONPATH=cwd."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    """A scratch copy of the package and its contracts, to plant wrong imports in."""
    shutil.copytree(ROOT / "heatmap_lib", tmp_path / "heatmap_lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layer_contracts() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "said"),
    [
        # a metric reaching up into a view: the layers contract
        ("metrics/summary.py", "from heatmap_lib.views import chart  # noqa", "heatmap_lib.metrics.summary -> "),
        # data reaching up into the reports, however indirectly
        ("data/plays.py", "import heatmap_lib.reports.batch  # noqa", "heatmap_lib.data.plays -> "),
        # a metric drawing with Bokeh: the forbidden-modules contract
        ("metrics/waves.py", "import bokeh.plotting  # noqa", "heatmap_lib.metrics is not allowed to import bokeh"),
        # a view holding a widget
        ("views/table.py", "import ipywidgets  # noqa", "heatmap_lib.views is not allowed to import ipywidgets"),
    ],
)
def test_a_wrong_import_breaks_a_contract_and_is_named(tmp_path: Path, module: str, planted: str, said: str) -> None:
    scratch = _copy(tmp_path)
    target = scratch / "heatmap_lib" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}\n", encoding="utf-8")
    result = _lint(scratch)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Broken contracts" in result.stdout and said in result.stdout, result.stdout


def test_every_module_is_short_and_says_what_it_owns() -> None:
    long, silent = [], []
    for path in sorted((ROOT / "heatmap_lib").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES:
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
        if path.name != "__main__.py" and not text.lstrip().startswith(('"""', 'r"""')):
            silent.append(str(path.relative_to(ROOT)))
    assert not long, f"over {MAX_LINES} lines (split by concern, docs/architecture.md): {long}"
    assert not silent, f"no module docstring saying what the module owns: {silent}"


def test_docs_architecture_lists_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for path in sorted((ROOT / "heatmap_lib").rglob("*.py")):
        rel = path.relative_to(ROOT / "heatmap_lib")
        if len(rel.parts) == 1 or path.name == "__main__.py" or (path.name == "__init__.py" and len(rel.parts) == 2):
            continue  # the public API, a top-level module (a heading of its own), a layer package's own docstring
        inner = Path(*rel.parts[1:])
        name = f"{inner.parent}/" if path.name == "__init__.py" else str(inner)
        if f"| `{name}` |" not in doc:
            missing.append(str(rel))
    assert (ROOT / "heatmap_lib" / "filters.py").exists() and "### `filters.py`" in doc
    assert not missing, f"docs/architecture.md does not list: {missing}"
