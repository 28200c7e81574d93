"""Opening a dataset: the first load with full validation against DuckDB reading the same files, and a reopen.

    python benchmarks/bench_load.py [--accounts 100000]

On the demo data as `heatmap demo --format parquet --seed 7` makes it (cached by `common.ensure_demo`), each in
its own process so peak memory (VmHWM) is its own:

    duckdb read   CREATE TABLE <t> AS SELECT * FROM read_parquet(<t>.parquet) for every table, into a DuckDB file
    first load    hm.load(path) into an empty cache folder: stage, check every rule, build the typed tables,
                  and keep the prepared copy (validate once)
    reopen        hm.load(path) again, sources unchanged: the prepared copy opened read-only (no validation)

Targets (issue 21): first load at most 3x the DuckDB read, peak memory under 4 GB; reopen at most 2 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ensure_demo, peak_mb


def duckdb_read(data: Path, folder: Path) -> dict:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(str(folder / "read.duckdb"))
    for f in sorted(data.glob("*.parquet")):
        con.execute(f"CREATE TABLE {f.stem} AS SELECT * FROM read_parquet('{f}')")
    con.close()
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb()}


def first_load(data: Path, folder: Path) -> dict:
    import heatmap_lib as hm
    from heatmap_lib.data.loading import LOAD_STATS

    start = time.perf_counter()
    ds = hm.load(data, cache=folder / "cache")
    seconds = time.perf_counter() - start
    assert LOAD_STATS["validated"] == 1, LOAD_STATS
    return {"seconds": seconds, "peak_mb": peak_mb(), "rows": ds.rows}


def reopen(data: Path, folder: Path) -> dict:
    import heatmap_lib as hm
    from heatmap_lib.data.loading import LOAD_STATS

    start = time.perf_counter()
    ds = hm.load(data, cache=folder / "cache")
    seconds = time.perf_counter() - start
    assert LOAD_STATS == {"validated": 0, "reused": 1}, LOAD_STATS
    n = len(hm.account_summary(ds))
    return {"seconds": seconds, "peak_mb": peak_mb(), "accounts": n}


STEPS = {"duckdb": duckdb_read, "first": first_load, "reopen": reopen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--child", choices=tuple(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(STEPS[args.child](args.data, args.folder)))
        return
    data = ensure_demo(args.accounts)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for step in STEPS:
            cmd = [sys.executable, __file__, "--child", step, "--data", str(data), "--folder", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"{step} failed:\n{proc.stderr[-3000:]}")
            results[step] = json.loads(proc.stdout.strip().splitlines()[-1])
    d, f, r = results["duckdb"], results["first"], results["reopen"]
    rows = ", ".join(f"{v:,} {k}" for k, v in f["rows"].items() if v)
    mb = sum(p.stat().st_size for p in data.glob("*.parquet")) / 1e6
    print(f"opening the demo of {args.accounts:,} accounts ({mb:,.0f} MB of Parquet): {rows}")
    print(f"{'':36}{'seconds':>10}{'x read':>10}{'peak MB':>10}")
    print(f"{'DuckDB reads the files into tables':36}{d['seconds']:10.1f}{1:10.2f}{d['peak_mb']:10.0f}")
    for label, x in (("first load, full validation", f), ("reopen, sources unchanged", r)):
        print(f"{label:36}{x['seconds']:10.2f}{x['seconds'] / d['seconds']:10.2f}{x['peak_mb']:10.0f}")
    print("targets: first load <= 3x the read, peak < 4096 MB; reopen <= 2 s")


if __name__ == "__main__":
    main()
