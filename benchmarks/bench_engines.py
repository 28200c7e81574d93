"""The same account summary on DuckDB and on local Spark, at 10M invitations, with each engine's start-up cost.

Reads the 100k-account demo as Parquet (built once by `common.ensure_demo`):
DuckDB loads and validates it as `hm.load(path)` always does; Spark reads the Parquet files where they are
(`hm.load("spark://local?threads=2&path=...")`) and validates them in the engine. Each engine runs in its own
process, so start-up and memory are its own:

    python benchmarks/bench_engines.py [--accounts 100000] [--repeat 3] [--driver-memory 4g]

Rows: start-up (session or connection, plus a first trivial query), opening the dataset (DuckDB: load and
validate into the engine; Spark: register the files and run every contract rule as engine queries; and with
`checks=structure` only), the first and the best of `--repeat` summaries, a filtered summary and the role
breakdown. The two summaries are compared at the end (same accounts, same figures).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_summary import FILTER, MEMORY_LIMIT
from common import ensure_demo, peak_mb


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _best(fn: Any, repeat: int) -> float:
    return min(_timed(fn)[0] for _ in range(repeat))


def _jvm_peak_mb() -> float:
    from pyspark import SparkContext

    proc = getattr(SparkContext._gateway, "proc", None)
    if proc is None:
        return float("nan")
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_duckdb(data: Path, repeat: int, out: Path) -> dict:
    import duckdb
    import ibis

    import heatmap_lib as hm

    def start() -> None:
        con = duckdb.connect()
        ibis.duckdb.from_connection(con).execute(ibis.literal(42))
        con.close()

    startup_s, _ = _timed(start)
    # cache=False: every rule checked on each open, as Spark does (hm.load otherwise reopens a prepared copy)
    open_s, ds = _timed(lambda: hm.load(data, memory_limit=MEMORY_LIMIT, cache=False))
    first_s, summary = _timed(lambda: hm.account_summary(ds))
    summary.to_parquet(out)
    return {
        "startup_s": startup_s,
        "open_s": open_s,
        "open_structure_s": None,
        "first_s": first_s,
        "summary_s": _best(lambda: hm.account_summary(ds), repeat),
        "filtered_s": _best(lambda: hm.account_summary(ds, FILTER), repeat),
        "roles_s": _best(lambda: hm.role_breakdown(ds), repeat),
        "invitations": ds.rows["invitations"],
        "accounts": len(summary),
        "peak_mb": peak_mb(),
    }


def run_spark(data: Path, repeat: int, out: Path, memory: str) -> dict:
    from urllib.parse import urlencode

    import ibis

    import heatmap_lib as hm
    from heatmap_lib.data import engines

    conf = {"spark.driver.memory": memory}

    def start() -> None:
        session = engines.spark_session("local[2]", conf)
        ibis.pyspark.connect(session).execute(ibis.literal(42))

    startup_s, _ = _timed(start)
    url = "spark://local?" + urlencode({"threads": 2, "path": str(data.resolve()), **conf})
    open_s, ds = _timed(lambda: hm.load(url))
    structure_s, _ = _timed(lambda: hm.load(url + "&checks=structure").close())
    first_s, summary = _timed(lambda: hm.account_summary(ds))
    summary.to_parquet(out)
    result = {
        "startup_s": startup_s,
        "open_s": open_s,
        "open_structure_s": structure_s,
        "first_s": first_s,
        "summary_s": _best(lambda: hm.account_summary(ds), repeat),
        "filtered_s": _best(lambda: hm.account_summary(ds, FILTER), repeat),
        "roles_s": _best(lambda: hm.role_breakdown(ds), repeat),
        "invitations": ds.rows["invitations"],
        "accounts": len(summary),
        "peak_mb": peak_mb() + _jvm_peak_mb(),
    }
    ds.close()
    engines.shutdown_spark()
    return result


ROWS = (
    ("startup_s", "start-up: session + first query (s)"),
    ("open_s", "open dataset, all rules (s)"),
    ("open_structure_s", "open dataset, structure only (s)"),
    ("first_s", "first summary (s)"),
    ("summary_s", "summary, best (s)"),
    ("filtered_s", "filtered summary, best (s)"),
    ("roles_s", "role breakdown, best (s)"),
    ("peak_mb", "peak memory (MB)"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--driver-memory", default="4g", help="Spark driver heap (local mode: the only JVM)")
    parser.add_argument("--child", choices=("duckdb", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "duckdb":
        print(json.dumps(run_duckdb(args.data, args.repeat, args.out)))
        return
    if args.child == "spark":
        print(json.dumps(run_spark(args.data, args.repeat, args.out, args.driver_memory)))
        return
    import pandas as pd

    data = ensure_demo(args.accounts)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        for engine in ("duckdb", "spark"):
            cmd = [sys.executable, __file__, "--child", engine, "--data", str(data), "--repeat", str(args.repeat)]
            cmd += ["--out", str(Path(tmp) / f"{engine}.parquet"), "--driver-memory", args.driver_memory]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"{engine} failed:\n{proc.stderr[-3000:]}")
            results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
        a = pd.read_parquet(Path(tmp) / "duckdb.parquet")
        b = pd.read_parquet(Path(tmp) / "spark.parquet")
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)
    d, s = results["duckdb"], results["spark"]
    print(
        f"account summary, {args.accounts:,} accounts, {d['invitations']:,} invitations, 2 cores "
        f"(best of {args.repeat}); the two summaries are equal ({d['accounts']:,} accounts)"
    )
    print(f"| {'':38} | {'DuckDB':>8} | {'Spark local[2]':>14} | {'Spark / DuckDB':>14} |")
    print(f"|{'-' * 40}|{'-' * 9}:|{'-' * 15}:|{'-' * 15}:|")
    for key, label in ROWS:
        dv, sv = d[key], s[key]
        fmt = (
            (lambda v: "-" if v is None else f"{v:.0f}")
            if key == "peak_mb"
            else (lambda v: "-" if v is None else f"{v:.2f}")
        )
        ratio = f"{sv / dv:.1f}" if dv and sv else "-"
        print(f"| {label:38} | {fmt(dv):>8} | {fmt(sv):>14} | {ratio:>14} |")
    print(
        f"DuckDB: hm.load(path, memory_limit={MEMORY_LIMIT}) (a temporary compressed DuckDB file); "
        f"Spark: local[2], spark.driver.memory={args.driver_memory}, 2 shuffle partitions, Parquet read in place; "
        "peak memory: Python process (+ the JVM for Spark)"
    )


if __name__ == "__main__":
    main()
