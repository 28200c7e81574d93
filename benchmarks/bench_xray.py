"""What X-Ray pages add to a batch, per account, for a segment of about 1,000 accounts.

    python benchmarks/bench_xray.py [--accounts 5000]

Times `report.write_segment_xrays` (what a segment's kernel runs after its report) on the largest region of the
demo data and prints seconds and kilobytes per account. Targets (issue 5): at most 0.05 s and 50 KB per account.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import heatmap_lib as hm
    from heatmap_lib.demo import write_demo
    from heatmap_lib.report import write_segment_xrays

    with tempfile.TemporaryDirectory() as tmp:
        data = write_demo(Path(tmp) / "demo", accounts=args.accounts, seed=7, fmt="parquet", usage_events_per_account=5)
        ds = hm.load(data)
        regions = hm.account_summary(ds)["region"].value_counts()
        region = regions.index[0]
        out = Path(tmp) / "xray" / "seg"
        start = time.perf_counter()
        n = write_segment_xrays(ds, segment_by="region", segment=region, xray_dir=out)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.glob("*.html"))
        biggest = max(p.stat().st_size for p in out.glob("*.html"))
    print(f"X-Ray pages for region {region}: {n:,} accounts")
    print(f"  time  {seconds:6.2f} s  = {1000 * seconds / n:5.1f} ms per account   (target <= 50 ms)")
    print(
        f"  size  {size / 1e6:6.2f} MB = {size / n / 1000:5.1f} KB per account   (target <= 50 KB;"
        f" largest page {biggest / 1000:.0f} KB)"
    )


if __name__ == "__main__":
    main()
