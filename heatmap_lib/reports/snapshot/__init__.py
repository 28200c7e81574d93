"""Shared snapshots (DESIGN.md section 8): what one segment's report shows, built to work with no kernel.

`snapshot()` computes a segment's summary and builds its view: a header (link back to the run, what the page is,
data, scope in plain words, exclusions, warnings), headline figures, the bubble chart (`chart.py`), the offline
filters, downloads and account table, and the not-surveyed list. `show_snapshot()` is what a notebook cell calls:
in a batch run it emits one static HTML output (Bokeh `components()`: a div and the document's JSON, no BokehJS)
that `notebook_to_html` turns into an offline page carrying BokehJS core once in its head; in a live JupyterLab
kernel it loads BokehJS inline and shows the layout through Bokeh's notebook support.

What reaches a page is this segment's data only: no other segment's accounts, not even in an undrawn data source,
and no contact data at all (emails never; in the offline counts a contact is a row number, see `views/offline.py`).
Customer text is escaped everywhere: `html.escape` in the HTML built here, Bokeh's escaped `@field` tooltips in the
chart, and `textContent` in everything the page script builds (filters, table, not-surveyed list).

The filters, the table (seed 000's sort), the downloads and the recomputed figures are plain HTML and one page
script (`templates/js/offline.js`) over compact counts, not Bokeh widgets: Bokeh's widgets (382 KB) and tables
(300 KB) bundles would push a 1,000-account report past its 2 MB budget.

The package's modules, each one concern (they import one another by full module path, never through here):

    figures.py     a segment's filter set (`segment_filters`, `report_filters`) and headline figures (`Headline`)
    page.py        `Snapshot`: one segment's report as a static HTML fragment (header, controls, tables, script)
    layout.py      the report's Bokeh layout: the chart, its hover formatted in the browser, only the fields it reads
    builder.py     `snapshot()`: computes a segment's summary, comparison, plays and Excel table into a `Snapshot`
    display.py     what a notebook cell calls: `show_snapshot`, `show_bokeh` (batch output or live BokehJS)
    xray_pages.py  `write_segment_xrays`: the X-Ray page of every surveyed account of a segment
    pages.py       whole pages: an executed notebook as an offline page (`notebook_to_html`), the run's index page
    _common.py     what several of them share: value formatting for HTML, the Bokeh `components()` lock
"""

from heatmap_lib.core.paths import TEMPLATES
from heatmap_lib.reports.snapshot.builder import snapshot
from heatmap_lib.reports.snapshot.display import show_bokeh, show_snapshot
from heatmap_lib.reports.snapshot.figures import Headline, headline, report_filters, segment_filters, segment_headline
from heatmap_lib.reports.snapshot.page import HEADLINE_MIME, Snapshot
from heatmap_lib.reports.snapshot.pages import BOKEHJS_COMPONENTS, bokehjs_inline, notebook_to_html, render_index
from heatmap_lib.reports.snapshot.xray_pages import write_segment_xrays

__all__ = [
    "BOKEHJS_COMPONENTS",
    "HEADLINE_MIME",
    "TEMPLATES",
    "Headline",
    "Snapshot",
    "bokehjs_inline",
    "headline",
    "notebook_to_html",
    "render_index",
    "report_filters",
    "segment_filters",
    "segment_headline",
    "show_bokeh",
    "show_snapshot",
    "snapshot",
    "write_segment_xrays",
]
