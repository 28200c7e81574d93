"""Renewal scores at scale: signals and scores for 100k accounts, and calibration on their renewal history.

Uses the demo dataset as `heatmap demo` makes it (300 usage events per account), generated once and cached by
`common.ensure_demo`, loads it once, then times, best of `--repeat`:

    floor      one scan of each event table, grouped by account (usage, tickets, invoices, invitations)
    signals    renewal.signals(ds, as_of) for every account (one date: literal filters)
    score      renewal.score(ds, weights): signals, standardisation, segment models, contributions
    calibrate  renewal.calibrate(ds, segment_by="tier"): signals per historical renewal (range joins), fitting,
               time-ordered cross-validation and validation (once)

    python benchmarks/bench_renewal.py [--accounts 100000] [--repeat 3] [--no-calibrate]

Target (issue 6): scoring 100k accounts takes seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import best_of, ensure_demo, peak_mb

MEMORY_LIMIT = "2GB"
WEIGHTS = Path(__file__).resolve().parents[1] / "params" / "renewal_weights.yaml"


def _floor(ds) -> None:
    for table, column in (
        ("usage_events", "account_id"),
        ("tickets", "account_id"),
        ("invoices", "account_id"),
        ("invitation_facts", "account_id"),
    ):
        ds.con.execute(f"SELECT {column}, count(*) FROM {table} GROUP BY 1").fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-calibrate", action="store_true", help="skip the calibration timing")
    args = parser.parse_args()

    import heatmap_lib as hm
    from heatmap_lib.metrics import renewal as rn

    data = ensure_demo(args.accounts)
    start = time.perf_counter()
    ds = hm.load(data, memory_limit=MEMORY_LIMIT)
    load_s = time.perf_counter() - start
    weights = rn.Weights.load(WEIGHTS)
    at = rn.data_as_of(ds)

    floor_s, _ = best_of(lambda: _floor(ds), args.repeat)
    sig_s, sig = best_of(lambda: rn.signals(ds, at), args.repeat)
    score_s, scores = best_of(lambda: rn.score(ds, weights, as_of=at), args.repeat)
    cal_s = None
    if not args.no_calibrate:
        start = time.perf_counter()
        calibrated = rn.calibrate(ds, segment_by="tier")
        cal_s = time.perf_counter() - start

    print(f"renewal scores, {args.accounts:,} accounts as of {at} (best of {args.repeat}); data: {data}")
    print(
        f"  {ds.rows['usage_events']:,} usage events, {ds.rows['invitations']:,} invitations, "
        f"{ds.rows['tickets']:,} tickets, {ds.rows['invoices']:,} invoices, {ds.rows['renewals']:,} renewals"
    )
    print(f"{'':34}{'seconds':>10}{'x floor':>10}")
    print(f"{'load and validate':34}{load_s:10.2f}")
    print(f"{'floor: scan event tables':34}{floor_s:10.3f}{1.0:10.2f}")
    print(f"{'signals (every account)':34}{sig_s:10.3f}{sig_s / floor_s:10.2f}")
    print(f"{'score (signals + scoring)':34}{score_s:10.3f}{score_s / floor_s:10.2f}")
    print(f"{'  of which scoring itself':34}{max(score_s - sig_s, 0):10.3f}")
    print(f"{len(sig):,} accounts with signals, {len(scores):,} scored (churned accounts left out)")
    if cal_s is not None:
        v = calibrated.validation or {}
        print(
            f"{'calibrate (segment_by=tier)':34}{cal_s:10.2f}{cal_s / floor_s:10.2f}   "
            f"{v.get('n_renewals', 0):,} renewals, held-out AUC {v.get('auc') or float('nan'):.3f}, "
            f"baseline {v.get('baseline_auc') or float('nan'):.3f}"
        )
    print(f"{'peak memory (MB)':34}{peak_mb():10.0f}")
    print("target: scoring 100k accounts takes seconds")


if __name__ == "__main__":
    main()
