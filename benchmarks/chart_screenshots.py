"""Screenshots of the heat map's bubble chart at several portfolio sizes, to look at (issue 15: readable at 300,
10k and 100k accounts).

    python benchmarks/chart_screenshots.py [--sizes 300,10000,100000] [--out test-artifacts]

For each size: the demo data (`heatmap demo`, seed 7, through `common.ensure_demo`), its account summary, the chart
as the notebooks draw it (log value axis, the size key under it, values in USD), rendered in Debian's chromium
through Playwright, saved as chart-<size>.png. Prints the time the summary and the chart took.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import ensure_demo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the browser set-up the tests use
from conftest import CHROMIUM, CHROMIUM_ARGS


def main() -> None:
    """Write one screenshot per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,10000,100000", help="comma-separated account counts")
    parser.add_argument("--out", type=Path, default=Path("test-artifacts"))
    args = parser.parse_args()
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.resources import INLINE
    from playwright.sync_api import sync_playwright

    import heatmap_lib as hm
    from heatmap_lib.views.chart import bubble_chart, crowding

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for size in (int(s) for s in args.sizes.split(",")):
            start = time.perf_counter()
            summary = hm.account_summary(hm.load(ensure_demo(size)))
            summarised = time.perf_counter() - start
            chart = bubble_chart(summary, log_x=True, currency="USD", title=f"Customer Heat Map: {size:,} accounts")
            page_file = Path(tmp) / f"chart-{size}.html"
            page_file.write_text(file_html(column(chart.figure, chart.size_key), INLINE, "chart"), encoding="utf-8")
            page = browser.new_page(viewport={"width": 1000, "height": 680})
            page.goto(page_file.as_uri())
            page.wait_for_function(
                "() => window.Bokeh && Bokeh.index && Bokeh.index.all_views().some((v) => v.model.name === 'bubbles'"
                " && v.glyph.sx && v.glyph.sx.length > 0)",
                timeout=120_000,
            )
            page.wait_for_function("() => new Promise((ok) => requestAnimationFrame(() => ok(true)))")
            shot = args.out / f"chart-{size}.png"
            page.screenshot(path=str(shot), full_page=True)
            page.close()
            c = crowding(len(summary))
            print(
                f"{size:>7,} accounts: {len(summary):,} bubbles, summary {summarised:.1f}s, scale {c.scale:.2f}, "
                f"alpha green/yellow {c.calm_alpha:.2f}, red/gray {c.risk_alpha:.2f} -> {shot}"
            )
        browser.close()


if __name__ == "__main__":
    main()
