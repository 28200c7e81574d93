"""Helpers the benchmark scripts share: best-of timing, peak memory, the cached demo dataset."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of `repeat` calls, in seconds, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child process would report its parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_data_dir() -> Path:
    """Where generated benchmark data are cached: $HEATMAP_BENCH_DATA, else data/bench/ (outside git either way)."""
    return Path(os.environ.get("HEATMAP_BENCH_DATA") or Path("data") / "bench")


def ensure_demo(accounts: int) -> Path:
    """The Parquet demo dataset of this size, as `heatmap demo --format parquet --seed 7` makes it, built once.

    Every benchmark reads the same files (the demo's defaults: 300 usage events per account, so 30M at 100k
    accounts); it is generated into a temporary folder and renamed, so an interrupted run leaves no half dataset.
    """
    out = bench_data_dir() / f"demo-{accounts}"
    if not (out / "renewals.parquet").exists():
        print(f"generating {accounts:,} accounts into {out} ...", file=sys.stderr)
        start = time.perf_counter()
        from heatmap_lib.data.demo import write_demo

        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        write_demo(tmp, accounts=accounts, seed=7, fmt="parquet")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        print(f"  generated in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return out
