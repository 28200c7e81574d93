"""Whole offline pages: an executed notebook as one page with BokehJS inlined once (`notebook_to_html`), the run index.

`bokehjs_inline` is the slim BokehJS bundle (core, and tables only when a page holds a Bokeh DataTable);
`render_index` renders the batch index (Jinja2, autoescaped) from the run's facts and segments.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from heatmap_lib.core.paths import TEMPLATES
from heatmap_lib.metrics.summary import BAND_LABELS, BANDS
from heatmap_lib.reports.snapshot._common import CORE_ONLY, _money, _score

if TYPE_CHECKING:
    from bokeh.resources import Component

BOKEHJS_COMPONENTS: tuple[Component, ...] = ("bokeh", "bokeh-tables")  # DataTable needs bokeh-tables (pages with one)
SNAPSHOT_TEMPLATE = "heatmap_snapshot"  # nbconvert template folder under TEMPLATES


@functools.cache
def bokehjs_inline(tables: bool = True) -> str:
    """The slim BokehJS bundle (core, and tables unless `tables=False`) as inline script tags, for a page's head."""
    from bokeh.resources import Resources

    components = [c for c in BOKEHJS_COMPONENTS if tables or c != "bokeh-tables"]
    return Resources(mode="inline", components=components).render_js()


def _uses_tables(nb: Any) -> bool:
    """Whether a page needs the tables bundle: yes unless a snapshot says it needs only the core.

    An output holding a Bokeh DataTable needs it anyway.
    """
    texts = [str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", [])]
    return not any(CORE_ONLY in t for t in texts) or any("DataTable" in t for t in texts)


_exporters = threading.local()


def _exporter() -> Any:
    exporter = getattr(_exporters, "html", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(
            template_name=SNAPSHOT_TEMPLATE,
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
        _exporters.html = exporter
    return exporter


def notebook_to_html(nb: Any, *, title: str) -> str:
    """An executed notebook as one offline page: no code cells, no stderr, BokehJS inlined once, no CDN.

    The tables bundle (300 KB) is inlined only when an output holds a Bokeh DataTable.

    The outputs are kept as they are (the snapshot escaped its customer text already); stderr streams are
    diagnostics for the executed notebook, not the reader.
    """
    import copy

    page = copy.deepcopy(nb)
    # the usual nbconvert convention: a cell tagged remove-cell is for the notebook's users, not the report's
    page.cells = [c for c in page.cells if "remove-cell" not in c.get("metadata", {}).get("tags", [])]
    for cell in page.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    body, _ = _exporter().from_notebook_node(
        page, resources={"metadata": {"name": title}, "heatmap_bokehjs": bokehjs_inline(_uses_tables(page))}
    )
    return body


@functools.cache
def _index_template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["score"] = _score
    env.filters["pct"] = lambda x: "" if x is None else f"{x:.0%}"
    return env.get_template("run_index.html.j2")


def render_index(info: Mapping[str, Any]) -> str:
    """The batch index page: one row per segment (link, status, headline figures or the error)."""
    return _index_template().render(run=info, bands=BANDS, band_labels=BAND_LABELS)
