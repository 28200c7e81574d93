"""Filter change to updated chart and table data sources, at 10k accounts and about 1M invitations.

    python benchmarks/bench_redraw.py [--accounts 10000] [--repeat 5] [--first-use | --cold]

Sets a widget of the live dashboard's filter panel (as an analyst's click would) and times until the bubble
chart's and account table's data sources hold the new summary. Target (issue 3): under 100 ms.

Change types: a region, a role, a single wave (any of them), a single wave that has a wave before it (so the
dashboard also compares the two waves: movement note, trails; "wave+cmp"), and clearing a region filter (all
data). Each change starts from the same state (all data, or one region for "clear"), so a change never repeats the
previous state. The dashboard keeps the accounts and each filter set's compiled query, never a result: by default
every filter set is used once before the timed changes (as in a session under way); `--first-use` forgets each
filter set before its change (its scope and SQL are built again; SQL of the same shape is re-bound with the new
values instead of compiled); `--cold` forgets everything before each change.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from common import ensure_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--cold", action="store_true", help="forget every compiled query before each change (a fresh session)"
    )
    parser.add_argument(
        "--first-use",
        action="store_true",
        help="forget each filter set before it is used (its first use in a session under way)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import heatmap_lib as hm
    from heatmap_lib.live.widgets import Dashboard

    ds = hm.load(ensure_demo(args.accounts))
    dash = Dashboard(ds)
    panel = dash.panel
    regions = list(panel.account_widgets["region"].options)
    waves = list(panel.wave.options)
    later = waves[1:]  # each has a wave sent before it in scope: selecting one compares the two
    changes = [
        ("region", lambda i: setattr(panel.account_widgets["region"], "value", (regions[i % len(regions)],))),
        ("role", lambda i: setattr(panel.role, "value", ("decision_maker", "influencer")[: 1 + i % 2])),
        ("wave", lambda i: setattr(panel.wave, "value", (waves[i % len(waves)],))),
        ("wave+cmp", lambda i: setattr(panel.wave, "value", (later[i % len(later)],))),
        ("clear", lambda i: panel.clear()),
    ]
    print(f"filter change -> updated data sources, {len(ds.distinct_values('accounts', 'account_id')):,} accounts,")
    print(f"{ds.rows['invitations']:,} invitations (median and worst of {args.repeat}; target < 100 ms)")
    if args.cold:
        print("cold: each change compiles its query and scope afresh (nothing of the session kept)")
    elif args.first_use:
        print("first use: each filter set is new to the session (its scope and queries built afresh); one of its shape")
        print("(the same criteria, as many values) ran before, so its SQL is re-bound, not compiled; the wave order of")
        print("its non-wave filters is known (every change starts from a state that had them)")
    for name, change in changes:
        if not args.cold:  # each filter set used once, so that its query is compiled, as in a session under way
            for i in range(args.repeat):
                panel.clear() if name != "clear" else panel.set_filters(hm.FilterSet(region=[regions[0]]))
                change(i + 1)
        times = []
        for i in range(args.repeat):
            panel.clear() if name != "clear" else panel.set_filters(hm.FilterSet(region=[regions[0]]))
            if args.cold or args.first_use:
                dash.live.forget(shapes=args.cold, wave_orders=args.cold)
            start = time.perf_counter()
            change(i + 1)
            times.append(time.perf_counter() - start)
            assert len(dash.chart.source.data["account_id"]) == len(dash.summary)
            assert len(dash.table.data["account_id"]) == len(dash.summary)
            if name == "wave+cmp":
                assert dash.movement is not None and "compared with" in dash.movement_note.value
        trails = int(np.count_nonzero(dash.chart.source.data["trail"])) if name == "wave+cmp" else None
        print(
            f"  {name:8} median {1000 * statistics.median(times):6.1f} ms   worst {1000 * max(times):6.1f} ms"
            f"   ({len(dash.summary):,} bubbles" + (f", {trails:,} trails)" if trails is not None else ")")
        )


if __name__ == "__main__":
    main()
