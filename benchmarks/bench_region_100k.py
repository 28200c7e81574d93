"""A 100k-account batch by region (issue 21): 5 segments, every X-Ray page, wall time and peak memory.

    python benchmarks/bench_region_100k.py [--accounts 100000] [--workers 2] [--segment-by region]

Runs `heatmap run` (`batch.run`) on the demo data as `heatmap demo --format parquet --seed 7` makes it (cached by
`common.ensure_demo`; 100k accounts: 10M invitations, 30M usage events) with the segment notebook
(notebooks/customer_heatmap.ipynb and its own parameters: renewal weights, plays store, play rules), one segment per
region, each with the X-Ray page of every surveyed account. Prints:
- the time to open the data before the run (the validated copy is reused when cached; a first open validates and
  prepares it, and says so), not part of the run's time;
- the run's wall time (target: at most 10 minutes on 2 cores), per segment its execute and convert times, and the
  X-Ray pages written;
- peak memory: this process's (VmHWM), the largest kernel's (its own peak) and the whole process tree's resident
  total, sampled every 0.5 s (kernels are this process's children).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ensure_demo, peak_mb

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "customer_heatmap.ipynb"
TARGET_SECONDS = 600


def _tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, in MB (from /proc; 0 for processes gone meanwhile)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(parents.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


class TreeMemory:
    """The peak of this process tree's resident total, sampled every `every` seconds in a thread."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.peak = every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_mb(os.getpid()))
            self._stop.wait(self.every)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--segment-by", default="region")
    args = parser.parse_args()
    import heatmap_lib as hm
    from heatmap_lib.reports import batch

    data = ensure_demo(args.accounts)
    start = time.perf_counter()
    ds = hm.load(data)
    opened = time.perf_counter() - start
    segments = list(ds.distinct_values("accounts", args.segment_by))
    ds.close()
    print(f"demo of {args.accounts:,} accounts ({data}); {len(segments)} segments by {args.segment_by}")
    print(f"open the data before the run: {opened:.1f} s (a first open validates and prepares; then it is reused)")
    with tempfile.TemporaryDirectory(prefix="bench-region-") as tmp:
        spec_file = Path(tmp) / "spec.yaml"
        spec_file.write_text(
            json.dumps(  # JSON is YAML
                {
                    "notebook": str(NOTEBOOK),
                    "data": str(data),
                    "segment_by": args.segment_by,
                    "output": str(Path(tmp) / "out"),
                    "workers": args.workers,
                }
            )
        )
        spec = batch.load_spec(spec_file)
        with TreeMemory() as tree:
            start = time.perf_counter()
            result = batch.run(spec, progress=False)
            elapsed = time.perf_counter() - start
        ok = sum(s.status == "ok" for s in result.segments)
        pages = sum(s.xray_pages for s in result.segments)
        verdict = "met" if elapsed <= TARGET_SECONDS and ok == len(result.segments) else "NOT met"
        print(f"heatmap run: {ok}/{len(result.segments)} segments ok, {pages:,} X-Ray pages, workers {args.workers}")
        print(f"  wall time {elapsed:7.1f} s  (target <= {TARGET_SECONDS} s: {verdict})")
        for s in result.segments:
            print(
                f"  {s.value!s:>16}: {s.status}, {s.xray_pages:,} pages, execute {s.execute_seconds or 0:6.1f} s, "
                f"convert {s.convert_seconds or 0:5.1f} s" + (f"  ({s.error})" if s.error else "")
            )
        kernel_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"peak memory: this process {peak_mb():,.0f} MB, largest kernel {kernel_mb:,.0f} MB, "
            f"process tree (sampled) {tree.peak:,.0f} MB"
        )
    return 0 if ok == len(result.segments) else 1


if __name__ == "__main__":
    sys.exit(main())
