"""Batch reports (DESIGN.md sections 7 and 9): what a run adds to the floor cost, and a large report's size.

Prints, in one run on this machine:
- the time of `heatmap run` for 20 segments (20 of the demo's account managers, `--accounts` 2,000) with the
  segment notebook and its X-Ray pages, against the floor: papermill-executing and converting 20 EMPTY
  notebooks with the same workers; the ratio (target <= 2.5);
- the size of a 1,000-account segment report (target < 2 MB) and of its executed notebook, and the report size per
  1,000 accounts with the offline filters' counts embedded (BokehJS once, plus the data scaled to 1,000 accounts).

    .venv/bin/python benchmarks/bench_batch.py [--workers 2] [--notebook PATH] [--fresh-kernels]
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill as pm

from heatmap_lib.data.demo import write_demo
from heatmap_lib.reports import batch
from heatmap_lib.reports import snapshot as report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOK = ROOT / "notebooks" / "customer_heatmap.ipynb"
FIXTURE = ROOT / "tests" / "fixtures" / "segment_report.ipynb"
MB = 1_000_000


def empty_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("segment = None")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    return nb


def floor(n: int, workers: int, folder: Path) -> float:
    """Execute and convert `n` empty notebooks through papermill's API, `workers` at a time."""
    nb = empty_notebook()

    def one(i: int) -> None:
        executed = pm.execute_notebook(
            copy.deepcopy(nb),
            str(folder / f"empty-{i}.ipynb"),
            parameters={"segment": str(i)},
            kernel_name="python3",
            progress_bar=False,
            request_save_on_cell_execute=False,
        )
        (folder / f"empty-{i}.html").write_text(report.notebook_to_html(executed, title=f"empty {i}"))

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - start


def write_spec(folder: Path, **keys: object) -> Path:
    path = folder / f"spec-{len(list(folder.glob('spec-*')))}.yaml"
    path.write_text(json.dumps(keys))  # JSON is YAML
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=2000, help="accounts in the demo the 20 segments split")
    parser.add_argument(
        "--fresh-kernels", action="store_true", help="a new kernel per segment (default: one per worker, reset)"
    )
    parser.add_argument(
        "--notebook",
        type=Path,
        default=DEFAULT_NOTEBOOK if DEFAULT_NOTEBOOK.exists() else FIXTURE,
        help="the segment notebook (default: notebooks/customer_heatmap.ipynb, else the test fixture)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        data = write_demo(work / "demo", accounts=args.accounts, seed=7)
        print(f"notebook: {args.notebook.relative_to(ROOT) if args.notebook.is_relative_to(ROOT) else args.notebook}")
        print(
            f"workers: {args.workers}; segments: {args.segments} account managers of a {args.accounts:,}-account demo"
        )
        print(f"kernels: {'fresh per segment' if args.fresh_kernels else 'one per worker, names reset per segment'}")

        base = floor(args.segments, args.workers, work)
        print(f"floor (empty notebooks, execute + convert): {base:6.1f} s  ({base / args.segments:.2f} s/segment)")

        spec = batch.load_spec(
            write_spec(
                work,
                notebook=str(args.notebook),
                data=str(data),
                segment_by="account_manager",
                output=str(work / "out"),
                workers=args.workers,
            )
        )
        import heatmap_lib as hm

        ds = hm.load(data)
        managers = list(ds.distinct_values("accounts", "account_manager"))[: args.segments]
        ds.con.close()
        spec = spec.replace(segments=tuple(managers))
        start = time.perf_counter()
        result = batch.run(spec, progress=False, fresh_kernels=args.fresh_kernels)
        elapsed = time.perf_counter() - start
        ok = sum(s.status == "ok" for s in result.segments)
        per = elapsed / len(managers)
        print(f"heatmap run ({ok}/{len(result.segments)} ok):        {elapsed:6.1f} s  ({per:.2f} s/segment)")
        ratio = elapsed / base
        print(f"ratio run / floor: {ratio:.2f}  (target <= 2.5: {'met' if ratio <= 2.5 else 'NOT met'})")
        execute = [s.execute_seconds or 0 for s in result.segments]
        convert = [s.convert_seconds or 0 for s in result.segments]
        mean_execute, mean_convert = sum(execute) / len(execute), sum(convert) / len(convert)
        print(f"  per segment, in its worker: execute {mean_execute:.2f} s, convert {mean_convert:.2f} s")

        big = write_demo(work / "demo1200", accounts=1200, seed=7)
        spec = batch.load_spec(
            write_spec(
                work,
                notebook=str(args.notebook),
                data=str(big),
                segment_by="status",
                segments=["active"],
                output=str(work / "out-big"),
                workers=1,
            )
        )
        result = batch.run(spec, progress=False)
        seg = result.segments[0]
        if seg.status != "ok":
            print(f"1k-account report failed: {seg.error}")
            return 1
        page = result.folder / (seg.html or "")
        nb_file = result.folder / (seg.notebook or "")
        surveyed = (seg.headline or {}).get("surveyed")
        accounts = (seg.headline or {}).get("accounts")
        size = page.stat().st_size
        print(
            f"report of a {accounts:,}-account segment ({surveyed:,} surveyed): {size / MB:.2f} MB "
            f"(target < 2 MB: {'met' if size < 2 * MB else 'NOT met'}); "
            f"executed notebook {nb_file.stat().st_size / MB:.2f} MB"
        )
        bokehjs = len(report.bokehjs_inline(tables=False))
        text = page.read_text(encoding="utf-8")
        counts = re.search(r'id="hm-data-\w+"[^>]*>([^<]*)<', text)
        counts_size = len(counts.group(1)) if counts else 0
        per_1000 = (size - bokehjs) / surveyed * 1000 + bokehjs if surveyed else float("nan")
        print(
            f"  per 1,000 accounts: {per_1000 / MB:.2f} MB "
            f"(target < 2 MB: {'met' if per_1000 < 2 * MB else 'NOT met'}), "
            f"BokehJS once plus {(size - bokehjs) / surveyed * 1000 / MB:.2f} MB of data per 1,000 accounts"
        )
        print(
            f"  of which BokehJS (inline, once, core only): {bokehjs / MB:.2f} MB; the offline filters' counts "
            f"(gzip, base64): {counts_size / MB:.3f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
