"""Account health at scale: the per-account health table over 100M usage events in Parquet, against the floor.

Generates (once, cached under data/bench/health-<events>/) a Parquet file of usage events, appended in time order
as a real event log is (row groups of 1M events, so a window filter skips old row groups), over ~100k accounts
with some quiet, falling and young ones and 0.3% of events with no account; then, in a fresh process so peak
memory is this measurement's own, times in the same DuckDB engine:

    floor            SELECT account_id, count(*) FROM usage_events GROUP BY account_id  (fetched whole)
    health           hm.health.health_summary(ds, as_of=...)   the per-account health table
    health_default   the same with as_of defaulted (one more scan: the latest event)
    health_kpi       with 3 KPI events and 3 onboarding steps (onboarding reads `event` over all history)
    signals          usage_signals(ds, date) for every account
    signals_rows     usage_signals(ds, DataFrame) with one row per account at a per-account date

`usage_events` is a view over the Parquet file, not a copy: the Dataset is built by hand here (data.load copies
and validates every row, which is right for the contract but not what this measures). Each timing is the best of
`--repeat` runs, interleaved (floor, health, ... then again), each from a cold Dataset cache (no cached
distinct values).

    python benchmarks/bench_health.py [--events 100_000_000] [--accounts 100_000] [--repeat 3]

Targets (issue 7): health at most 3x the floor; peak memory (VmHWM) under 2 GB.
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

from common import peak_mb

from heatmap_lib.demo import EVENTS  # the same product events as the demo data

MEMORY_LIMIT = "1GB"  # DuckDB's cap; peak RSS follows it
THREADS = 2
ROW_GROUP = 1_000_000
REFERENCE = dt.date(2026, 10, 1)
SPAN_DAYS = 456
FEATURES = (None, "dashboards", "reports", "reports", "admin", "integrations", "workflows", *("onboarding",) * 3)
EVENT_P = (0.28, 0.25, 0.14, 0.08, 0.04, 0.05, 0.10, 0.03, 0.02, 0.01)
KPI = ("create_report", "export_data", "run_workflow")
STEPS = ("onboarding_profile", "onboarding_connect_data", "onboarding_first_report")


# --------------------------------------------------------------------------------------------------------------
# data


def generate(folder: Path, events: int, accounts: int, seed: int = 7) -> None:
    """Write accounts.parquet and usage_events.parquet (time-ordered row groups) into `folder`, atomically."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = accounts
    ids = pa.array([f"A{i:07d}" for i in range(1, n + 1)])
    seats = np.clip(np.round(np.exp(rng.normal(3.0, 1.0, n))), 1, 5000).astype(np.int64)
    users = np.maximum(1, np.round(seats * rng.uniform(0.3, 1.0, n))).astype(np.int64)
    seats_known = rng.random(n) > 0.1
    value = np.round(np.exp(rng.normal(10.5, 1.2, n)), -2)
    tiers = np.array(["SMB", "Mid-Market", "Enterprise", "Strategic"])[np.searchsorted([2e4, 1e5, 5e5], value)]
    regions = np.array(["West", "East", "Central", "EMEA", "APAC"])[rng.integers(0, 5, n)]
    managers = np.array([f"Manager {k:02d}" for k in range(60)])[rng.integers(0, 60, n)]
    acc_table = pa.table(
        {
            "account_id": ids,
            "account_name": pa.array([f"Account {i}" for i in range(1, n + 1)]),
            "value": value,
            "tier": tiers,
            "region": regions,
            "industry": np.array(["Software", "Retail", "Energy", "Healthcare"])[rng.integers(0, 4, n)],
            "sales_rep": managers,
            "account_manager": managers,
            "seats": pa.array(seats, mask=~seats_known),
        }
    )
    pq.write_table(acc_table, folder / "accounts.parquet.tmp")

    # activity: a heavy-tailed rate per account, some accounts start late (young), stop (quiet) or fall
    start_s = int(dt.datetime(REFERENCE.year, REFERENCE.month, REFERENCE.day).timestamp()) - SPAN_DAYS * 86_400
    span_s = SPAN_DAYS * 86_400
    rate = np.exp(rng.normal(0.0, 1.0, n)) * users**0.5
    begin = np.where(rng.random(n) < 0.10, rng.uniform(0.3, 0.98, n), 0.0) * span_s
    stop = np.where(rng.random(n) < 0.08, rng.uniform(0.2, 0.95, n), 1.0) * span_s
    falls = rng.random(n) < 0.10
    user_off = np.concatenate([[0], np.cumsum(users)])
    user_ids = pa.array([f"U{i:08d}" for i in range(int(user_off[-1]) + 20_000)])
    n_unassigned_users = 20_000
    events_arr, features_arr = pa.array(EVENTS), pa.array(FEATURES, pa.string())
    p_event = np.array(EVENT_P) / sum(EVENT_P)
    schema = pa.schema(
        [
            ("account_id", pa.string()),
            ("user_id", pa.string()),
            ("event", pa.string()),
            ("occurred_at", pa.timestamp("us")),
            ("feature", pa.string()),
        ]
    )
    chunks = max(1, round(events / ROW_GROUP))
    tmp = folder / "usage_events.parquet.tmp"
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        for k in range(chunks):
            m = events // chunks + (1 if k < events % chunks else 0)
            t0, t1 = k * span_s / chunks, (k + 1) * span_s / chunks
            mid = (t0 + t1) / 2
            w = rate * ((begin <= mid) & (mid < stop)) * np.where(falls & (mid > span_s - 60 * 86_400), 0.4, 1.0)
            acc = rng.choice(n, size=m, p=w / w.sum())
            user = user_off[acc] + np.floor(users[acc] * rng.random(m) ** 2.0).astype(np.int64)
            unassigned = rng.random(m) < 0.003
            user = np.where(unassigned, user_off[-1] + rng.integers(0, n_unassigned_users, m), user)
            t = np.sort(rng.uniform(t0, t1, m)) + start_s
            ev = rng.choice(len(EVENTS), size=m, p=p_event)
            table = pa.table(
                {
                    "account_id": ids.take(pa.array(acc, mask=unassigned)),  # a null index takes a null
                    "user_id": user_ids.take(pa.array(user)),
                    "event": events_arr.take(pa.array(ev)),
                    "occurred_at": pa.array((t * 1_000_000).astype("int64"), pa.timestamp("us")),
                    "feature": features_arr.take(pa.array(ev)),
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=ROW_GROUP)
            if k % 10 == 0:
                print(f"  generated {k + 1}/{chunks} row groups", file=sys.stderr, flush=True)
    tmp.replace(folder / "usage_events.parquet")
    (folder / "accounts.parquet.tmp").replace(folder / "accounts.parquet")


def ensure_data(events: int, accounts: int) -> Path:
    """The cached Parquet files for this size, generated once in a child process (its memory is its own)."""
    folder = Path("data") / "bench" / f"health-{events}-{accounts}"
    if not (folder / "usage_events.parquet").exists() or not (folder / "accounts.parquet").exists():
        print(f"generating {events:,} usage events over {accounts:,} accounts in {folder} ...", file=sys.stderr)
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--generate", str(folder), "--events", str(events), "--accounts", str(accounts)],
            check=True,
            capture_output=True,
            text=True,
        )
        gen = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"generated in {time.perf_counter() - start:.0f} s (generator peak {gen['peak_mb']:.0f} MB)",
            file=sys.stderr,
        )
    return folder


def open_dataset(folder: Path):
    """A Dataset whose accounts are a table and whose usage_events is a view over the Parquet file (no copy)."""
    import duckdb

    from heatmap_lib.data import Dataset, _lit

    con = duckdb.connect()
    con.execute(f"SET memory_limit = {_lit(MEMORY_LIMIT)}; SET threads = {THREADS}")
    con.execute(f"CREATE TABLE accounts AS SELECT * FROM read_parquet({_lit(str(folder / 'accounts.parquet'))})")
    con.execute(
        "CREATE VIEW usage_events AS SELECT account_id, user_id, event, occurred_at, feature "
        f"FROM read_parquet({_lit(str(folder / 'usage_events.parquet'))})"
    )
    columns = tuple(r[0] for r in con.execute("DESCRIBE accounts").fetchall())
    rows = {"accounts": con.execute("SELECT count(*) FROM accounts").fetchall()[0][0]}
    rows["usage_events"] = con.execute("SELECT count(*) FROM usage_events").fetchall()[0][0]
    return Dataset(
        path=str(folder),
        con=con,
        present=frozenset({"accounts", "usage_events"}),
        rows=rows,
        account_columns=columns,
    )


# --------------------------------------------------------------------------------------------------------------
# measurement


def measure(folder: Path, repeat: int) -> dict:
    """Each query `repeat` times, interleaved (so a busy machine slows floor and health alike); best of each."""
    import pandas as pd

    from heatmap_lib import health

    ds = open_dataset(folder)
    as_of = dt.date(2026, 9, 30)
    floor_sql = "SELECT account_id, count(*) AS n FROM usage_events GROUP BY account_id"
    accounts = ds.table("accounts").select("account_id").to_pandas()
    offsets = pd.to_timedelta(pd.Series(range(len(accounts))) % 365, unit="D")
    keys = accounts.assign(as_of=(pd.Timestamp(REFERENCE) - offsets).dt.date)
    queries = {
        "floor": lambda: ds.con.execute(floor_sql).df(),
        "health": lambda: health.health_summary(ds, as_of=as_of),
        "health_default": lambda: health.health_summary(ds),
        "health_kpi": lambda: health.health_summary(ds, as_of=as_of, kpi_events=KPI, onboarding_events=STEPS),
        "signals": lambda: health.usage_signals(ds, REFERENCE),
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
        "parquet_mb": (folder / "usage_events.parquet").stat().st_size / 2**20,
        "floor_groups": len(results["floor"]),
        "health_rows": len(table),
        "unassigned_events": table.attrs["unassigned_events"],
        "timings": timings,
        "peak_mb_after_health": peak_health,
        "peak_mb": peak_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(Path(args.generate), args.events, args.accounts)
        print(json.dumps({"peak_mb": peak_mb()}))
        return 0
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.repeat)))
        return 0
    folder = ensure_data(args.events, args.accounts)
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
        f"usage events: {r['events']:,} in {r['parquet_mb']:,.0f} MB of Parquet (a view, not copied); "
        f"accounts: {r['accounts']:,}; events with no account: {r['unassigned_events']:,} in the window"
    )
    print(f"DuckDB memory_limit {MEMORY_LIMIT}, {THREADS} threads; best of {args.repeat}")
    print(f"{'query':<16}{'seconds':>9}{'x floor':>9}")
    for name, seconds in t.items():
        print(f"{name:<16}{seconds:>9.2f}{seconds / t['floor']:>9.2f}")
    ratio = t["health"] / t["floor"]
    print(f"health / floor: {ratio:.2f} (target <= 3)  {'OK' if ratio <= 3 else 'MISSED'}")
    print(
        f"peak memory (VmHWM): {r['peak_mb_after_health']:,.0f} MB after health, {r['peak_mb']:,.0f} MB overall "
        f"(target < 2048)  {'OK' if r['peak_mb'] < 2048 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
