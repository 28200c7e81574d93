"""What X-Ray pages add to a batch, per account, and whether a segment's cost follows the segment or the dataset.

    python benchmarks/bench_xray.py [--accounts 5000] [--sizes 10000,100000] [--segment-size 25]

1. Times `report.write_segment_xrays` (what a segment's kernel runs after its report) on the largest region of the
   demo data of `--accounts` accounts, with the renewal weights the batch notebook passes
   (params/renewal_weights.yaml), and prints milliseconds and kilobytes per page. Targets (issue 21): at most
   5 ms and 50 KB per page.
2. For each of `--sizes`, the same call for a segment of `--segment-size` accounts (an `account_id` filter), so
   the two times show whether a segment's work grows with the dataset (it should not).

Every dataset is the demo as `heatmap demo --format parquet --seed 7` makes it, cached by `common.ensure_demo`,
and opened with `hm.load` (the validated copy is reused when cached; the load is not timed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from common import ensure_demo

WEIGHTS = Path(__file__).resolve().parents[1] / "params" / "renewal_weights.yaml"


def _pages(ds, folder: Path, **kw) -> tuple[int, float, int, int]:
    """Write one segment's pages; return pages, seconds, total bytes and the largest page's bytes."""
    from heatmap_lib.reports.snapshot import write_segment_xrays

    start = time.perf_counter()
    n = write_segment_xrays(ds, xray_dir=folder, renewal_weights=WEIGHTS, **kw)
    seconds = time.perf_counter() - start
    sizes = [p.stat().st_size for p in folder.glob("*.html")]
    return n, seconds, sum(sizes), max(sizes, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--sizes", default="10000,100000", help="dataset sizes for the fixed-size segment")
    parser.add_argument("--segment-size", type=int, default=25)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import heatmap_lib as hm

    with tempfile.TemporaryDirectory() as tmp:
        ds = hm.load(ensure_demo(args.accounts))
        region = hm.account_summary(ds)["region"].value_counts().index[0]
        n, seconds, size, biggest = _pages(ds, Path(tmp) / "xray" / "seg", segment_by="region", segment=region)
        print(f"X-Ray pages, demo of {args.accounts:,} accounts, region {region}: {n:,} pages, renewal weights on")
        print(f"  time  {seconds:6.2f} s  = {1000 * seconds / n:5.1f} ms per page   (target <= 5 ms)")
        print(
            f"  size  {size / 1e6:6.2f} MB = {size / n / 1000:5.1f} KB per page   (target <= 50 KB;"
            f" largest page {biggest / 1000:.0f} KB)"
        )
        ds.close()
        for accounts in (int(s) for s in args.sizes.split(",") if s):
            ds = hm.load(ensure_demo(accounts))
            ids = hm.account_summary(ds)["account_id"].head(args.segment_size).tolist()
            fs = hm.FilterSet(account_id=ids)
            n, seconds, _, _ = _pages(ds, Path(tmp) / "xray" / f"fixed-{accounts}", filters=fs)
            print(f"segment of {n} accounts in a demo of {accounts:,} accounts: X-Ray pages in {seconds:.2f} s")
            ds.close()


if __name__ == "__main__":
    main()
