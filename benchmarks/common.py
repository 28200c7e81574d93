"""Helpers the benchmark scripts share: best-of timing, peak memory, the cached demo dataset."""

from __future__ import annotations

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


def ensure_demo(accounts: int, usage_events_per_account: int = 10) -> Path:
    """The Parquet demo dataset of this size under data/bench/, generated once and reused by every benchmark."""
    out = Path("data") / "bench" / f"demo-{accounts}"
    if not (out / "renewals.parquet").exists():
        print(f"generating {accounts:,} accounts into {out} ...", file=sys.stderr)
        start = time.perf_counter()
        from heatmap_lib.demo import write_demo

        write_demo(out, accounts=accounts, seed=7, fmt="parquet", usage_events_per_account=usage_events_per_account)
        print(f"  generated in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return out
