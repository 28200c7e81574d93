"""Account health at scale: the per-account health table and usage signals on the demo data, against the floor.

Reads the demo dataset as `heatmap demo --format parquet --seed 7` makes it (300 usage events per account: 30M at
100k accounts), cached by `common.ensure_demo`, opens it with `hm.load` (the validated copy, reused when cached) in
a fresh process so peak memory is this measurement's own, and times in the same DuckDB engine:

    floor            SELECT account_id, count(*) FROM usage_events GROUP BY account_id  (fetched whole)
    health           hm.health.health_summary(ds, as_of=...)   the per-account health table
    health_default   the same with as_of defaulted (one more scan: the latest event)
    health_kpi       with 3 KPI events and 3 onboarding steps (onboarding reads `event` over all history)
    signals          usage_signals(ds, date) for every account
    signals_rows     usage_signals(ds, DataFrame) with one row per account at a per-account date

Each timing is the best of `--repeat` runs, interleaved (floor, health, ... then again), each from a cold Dataset
cache (no cached distinct values).

    python benchmarks/bench_health.py [--accounts 100_000] [--repeat 3]

Targets (issue 21): health and signals at most 3x the floor; peak memory (VmHWM) under 2 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import ensure_demo, peak_mb

MEMORY_LIMIT = "1GB"  # DuckDB's cap; peak RSS follows it
KPI = ("create_report", "export_data", "run_workflow")
STEPS = ("onboarding_profile", "onboarding_connect_data", "onboarding_first_report")


# --------------------------------------------------------------------------------------------------------------
# measurement


def measure(folder: Path, repeat: int) -> dict:
    """Each query `repeat` times, interleaved (so a busy machine slows floor and health alike); best of each."""
    import pandas as pd

    import heatmap_lib as hm
    from heatmap_lib.metrics import health

    ds = hm.load(folder, memory_limit=MEMORY_LIMIT)
    latest = ds.con.execute("SELECT max(occurred_at) FROM usage_events").fetchall()[0][0]
    as_of = latest.date()
    reference = as_of + dt.timedelta(days=1)
    floor_sql = "SELECT account_id, count(*) AS n FROM usage_events GROUP BY account_id"
    accounts = ds.table("accounts").select("account_id").to_pandas()
    offsets = pd.to_timedelta(pd.Series(range(len(accounts))) % 365, unit="D")
    keys = accounts.assign(as_of=(pd.Timestamp(reference) - offsets).dt.date)
    queries = {
        "floor": lambda: ds.con.execute(floor_sql).df(),
        "health": lambda: health.health_summary(ds, as_of=as_of),
        "health_default": lambda: health.health_summary(ds),
        "health_kpi": lambda: health.health_summary(ds, as_of=as_of, kpi_events=KPI, onboarding_events=STEPS),
        "signals": lambda: health.usage_signals(ds, reference),
        "signals_rows": lambda: health.usage_signals(ds, keys),
    }
    timings = dict.fromkeys(queries, float("inf"))
    results: dict[str, object] = {}
    peak_health = 0.0
    for _ in range(repeat):
        for name, fn in queries.items():
            ds._distinct.clear()  # every run from a cold cache: the distinct features are counted each time
            start = time.perf_counter()
            results[name] = fn()
            timings[name] = min(timings[name], time.perf_counter() - start)
            if name == "health":
                peak_health = peak_health or peak_mb()
    table = results["health"]
    return {
        "events": ds.rows["usage_events"],
        "accounts": ds.rows["accounts"],
        "floor_groups": len(results["floor"]),
        "health_rows": len(table),
        "unassigned_events": table.attrs["unassigned_events"],
        "timings": timings,
        "peak_mb_after_health": peak_health,
        "peak_mb": peak_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.repeat)))
        return 0
    folder = ensure_demo(args.accounts)
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(folder), "--repeat", str(args.repeat)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        return out.returncode
    r = json.loads(out.stdout.strip().splitlines()[-1])
    t = r["timings"]
    print(
        f"demo data {folder}: {r['accounts']:,} accounts, {r['events']:,} usage events; "
        f"events with no account: {r['unassigned_events']:,} in the window"
    )
    print(f"DuckDB memory_limit {MEMORY_LIMIT}, loaded tables (hm.load); best of {args.repeat}")
    print(f"{'query':<16}{'seconds':>9}{'x floor':>9}")
    for name, seconds in t.items():
        print(f"{name:<16}{seconds:>9.2f}{seconds / t['floor']:>9.2f}")
    for name in ("health", "signals"):
        ratio = t[name] / t["floor"]
        print(f"{name} / floor: {ratio:.2f} (target <= 3)  {'OK' if ratio <= 3 else 'MISSED'}")
    print(
        f"peak memory (VmHWM): {r['peak_mb_after_health']:,.0f} MB after health, {r['peak_mb']:,.0f} MB overall "
        f"(target < 2048)  {'OK' if r['peak_mb'] < 2048 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
