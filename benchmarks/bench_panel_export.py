"""The panel's downloads (issue 15): how long each export keeps the panel busy, and how long the file takes.

`ExportPanel.export` captures what is shown on the kernel's thread (the panel is busy meanwhile) and writes the file
on a thread of its own, saying "Writing …" in the panel. Per size and format this prints the time on the kernel's
thread, the total time until the download link is ready, the file's size, and the first as a share of the second.
Sizes whose demo dataset is not in $HEATMAP_BENCH_DATA yet are left out (never generated here, except 300).

    HEATMAP_BENCH_DATA=/work/cache-demo python benchmarks/bench_panel_export.py [300 10000 100000]
"""

from __future__ import annotations

import sys
import time

from common import bench_data_dir, ensure_demo

import heatmap_lib as hm
from heatmap_lib.live.widgets import Dashboard

FORMATS = ("xlsx", "csv", "png", "pdf", "svg")


def main(sizes: list[int]) -> None:
    """Print one line per size and format."""
    print(f"{'accounts':>9} {'format':>6} {'kernel busy s':>13} {'total s':>8} {'file KB':>8} {'busy/total':>10}")
    for n in sizes:
        folder = bench_data_dir() / f"demo-{n}"
        if n != 300 and not (folder / "renewals.parquet").exists():
            print(f"{n:>9,} (no dataset in {folder}: left out)")
            continue
        dash = Dashboard(hm.load(ensure_demo(n) if n == 300 else folder))
        dash.table.sort.state = [("nps", "desc")]  # as a header click sets it
        for fmt in FORMATS:
            start = time.perf_counter()
            dash.exports.export(fmt)
            busy = time.perf_counter() - start
            dash.exports.wait()
            total = time.perf_counter() - start
            size = len(dash.exports.last.get(fmt, b"")) / 1024
            print(f"{n:>9,} {fmt:>6} {busy:>13.3f} {total:>8.2f} {size:>8,.0f} {busy / total:>10.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [300, 10_000])
