"""Filter change to updated chart and table data sources, at 10k accounts and about 1M invitations.

    python benchmarks/bench_redraw.py [--accounts 10000] [--repeat 5]

Sets a widget of the live dashboard's filter panel (as an analyst's click would) and times until the bubble
chart's and account table's data sources hold the new summary. Target (issue 3): under 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from common import ensure_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import heatmap_lib as hm
    from heatmap_lib.widgets import Dashboard

    ds = hm.load(ensure_demo(args.accounts))
    dash = Dashboard(ds)
    panel = dash.panel
    regions = list(panel.account_widgets["region"].options)
    changes = [
        ("region", lambda i: setattr(panel.account_widgets["region"], "value", (regions[i % len(regions)],))),
        ("role", lambda i: setattr(panel.role, "value", ("decision_maker", "influencer")[: 1 + i % 2])),
        ("wave", lambda i: setattr(panel.wave, "value", (panel.wave.options[i % len(panel.wave.options)],))),
        ("clear", lambda i: panel.clear()),
    ]
    print(f"filter change -> updated data sources, {len(ds.distinct_values('accounts', 'account_id')):,} accounts,")
    print(f"{ds.rows['invitations']:,} invitations (median and worst of {args.repeat}; target < 100 ms)")
    for name, change in changes:
        times = []
        for i in range(args.repeat):
            panel.clear() if name != "clear" else panel.set_filters(hm.FilterSet(region=[regions[0]]))
            start = time.perf_counter()
            change(i + 1)
            times.append(time.perf_counter() - start)
            assert len(dash.chart.source.data["account_id"]) == len(dash.summary)
        print(
            f"  {name:8} median {1000 * statistics.median(times):6.1f} ms   worst {1000 * max(times):6.1f} ms"
            f"   ({len(dash.summary):,} bubbles)"
        )


if __name__ == "__main__":
    main()
