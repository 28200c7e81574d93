"""Account summary at scale: heatmap (DuckDB) against an idiomatic pandas implementation, as ratios.

Builds (once, cached under data/bench/) the demo dataset with 100k accounts and about 10M invitations as Parquet,
then runs each implementation in its own process so peak memory is measured apart:

    python benchmarks/bench_summary.py [--accounts 100000] [--repeat 3]

Targets (issue 2): full summary at most 0.4 of pandas' time, filtered at most 0.3, peak memory under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import best_of, ensure_demo, peak_mb

MEMORY_LIMIT = "1GB"  # DuckDB's cap for the heatmap side (hm.load(memory_limit=...)); peak RSS follows it
FILTER = {"region": ["West"], "role": ["decision_maker", "influencer"], "wave": ["2026-Q3"]}


def run_heatmap(data: Path, repeat: int) -> dict:
    import heatmap_lib as hm

    start = time.perf_counter()
    ds = hm.load(data, memory_limit=MEMORY_LIMIT)
    load_s = time.perf_counter() - start
    full_s, full = best_of(lambda: hm.account_summary(ds), repeat)
    filt_s, filt = best_of(lambda: hm.account_summary(ds, FILTER), repeat)
    return {
        "load_s": load_s,
        "full_s": full_s,
        "filtered_s": filt_s,
        "rows": len(full),
        "filtered_rows": len(filt),
        "invitations": ds.rows["invitations"],
        "peak_mb": peak_mb(),
    }


def _pandas_summary(accounts, contacts, invitations, filters: dict | None):
    import numpy as np

    acc, con, inv = accounts, contacts[["contact_id", "account_id", "role"]], invitations
    if filters:
        acc = acc[acc["region"].isin(filters["region"])]
        con = con[con["role"].isin(filters["role"])]
        inv = inv[inv["wave"].isin(filters["wave"])]
    f = inv[["contact_id", "score"]].merge(con, on="contact_id")
    f = f[f["account_id"].isin(acc["account_id"])]
    score = f["score"]
    f = f.assign(promoter=score >= 9, passive=(score >= 7) & (score <= 8), detractor=score <= 6)
    g = f.groupby("account_id").agg(
        contacts_invited=("contact_id", "nunique"),
        invitations=("contact_id", "size"),
        responses=("score", "count"),
        promoters=("promoter", "sum"),
        passives=("passive", "sum"),
        detractors=("detractor", "sum"),
    )
    out = acc.merge(g, left_on="account_id", right_index=True)
    out["response_rate"] = out["responses"] / out["invitations"]
    resp = out["responses"].replace(0, np.nan)
    out["nps"] = 100 * (out["promoters"] - out["detractors"]) / resp
    n = out["responses"] + 3
    p = (out["promoters"] + 0.75) / n
    d = (out["detractors"] + 0.75) / n
    c = p - d
    half = 1.96 * np.sqrt((p + d - c**2) / n)
    out["nps_low"] = (100 * (c - half)).clip(-100, 100).where(out["responses"] > 0)
    out["nps_high"] = (100 * (c + half)).clip(-100, 100).where(out["responses"] > 0)
    out["band"] = np.select(
        [out["responses"] == 0, out["nps"] < -10, out["nps"] > 10], ["gray", "red", "green"], "yellow"
    )
    return out.sort_values(["account_name", "account_id"]).reset_index(drop=True)


def run_pandas(data: Path, repeat: int) -> dict:
    import pandas as pd

    start = time.perf_counter()
    accounts = pd.read_parquet(data / "accounts.parquet")
    contacts = pd.read_parquet(data / "contacts.parquet", columns=["contact_id", "account_id", "role"])
    invitations = pd.read_parquet(data / "invitations.parquet", columns=["contact_id", "wave", "score"])
    load_s = time.perf_counter() - start
    full_s, full = best_of(lambda: _pandas_summary(accounts, contacts, invitations, None), repeat)
    filt_s, filt = best_of(lambda: _pandas_summary(accounts, contacts, invitations, FILTER), repeat)
    return {
        "load_s": load_s,
        "full_s": full_s,
        "filtered_s": filt_s,
        "rows": len(full),
        "filtered_rows": len(filt),
        "peak_mb": peak_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=("heatmap", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (run_heatmap if args.child == "heatmap" else run_pandas)(args.data, args.repeat)
        print(json.dumps(result))
        return
    data = ensure_demo(args.accounts)
    results = {}
    for impl in ("heatmap", "pandas"):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", impl, "--data", str(data), "--repeat", str(args.repeat)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
    h, p = results["heatmap"], results["pandas"]
    assert h["rows"] == p["rows"] and h["filtered_rows"] == p["filtered_rows"], (h, p)
    print(f"account summary, {args.accounts:,} accounts, {h['invitations']:,} invitations (best of {args.repeat})")
    print(f"{'':24}{'heatmap':>12}{'pandas':>12}{'ratio':>10}{'target':>10}")
    print(f"{'load (s)':24}{h['load_s']:12.2f}{p['load_s']:12.2f}")
    for key, label, target in (("full_s", "full summary (s)", 0.4), ("filtered_s", "filtered summary (s)", 0.3)):
        ratio = h[key] / p[key]
        print(f"{label:24}{h[key]:12.3f}{p[key]:12.3f}{ratio:10.2f}{'<= ' + str(target):>10}")
    print(f"{'peak memory (MB)':24}{h['peak_mb']:12.0f}{p['peak_mb']:12.0f}{'':10}{'< 1536':>10}")
    print(f"filtered view: {json.dumps(FILTER)} -> {h['filtered_rows']:,} accounts")
    print(f"heatmap side loaded with memory_limit={MEMORY_LIMIT} (a temporary compressed DuckDB file: database='auto')")


if __name__ == "__main__":
    main()
