"""What a notebook cell calls to show a report: `show_snapshot` and `show_bokeh`.

In a batch run (`embed_bokehjs=False`) they emit static HTML with no BokehJS (the page template adds it once); in a
live kernel they load BokehJS inline once per kernel and show the layout through Bokeh's notebook support.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from heatmap_lib.filters import FilterSet
from heatmap_lib.reports.snapshot._common import _components_lock
from heatmap_lib.reports.snapshot.builder import snapshot

_live_bokehjs_loaded = False


def show_snapshot(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    log_x: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    title: str | None = None,
    embed_bokehjs: bool = True,
    xray_href: str | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    plays: Any = None,
    currency: str | None = None,
) -> None:
    """Display a segment's snapshot in the notebook (returns None, so a cell ending with it shows it once).

    `embed_bokehjs=False` (batch runs): one static HTML output with no BokehJS; the page template adds the slim
    bundle once. `embed_bokehjs=True` (a live kernel): BokehJS is loaded inline once per kernel and the layout is
    shown through Bokeh's notebook support, so it renders offline in JupyterLab too.
    """
    from IPython.display import HTML, display

    snap = snapshot(
        dataset,
        filters,
        segment_by=segment_by,
        segment=segment,
        log_x=log_x,
        red_below=red_below,
        green_above=green_above,
        title=title,
        xray_href=xray_href,
        wave=wave,
        compare_to=compare_to,
        plays=plays,
        index_href=None if embed_bokehjs else "index.html",  # a batch report sits beside its run's index
        currency=currency,
    )
    if not embed_bokehjs:
        display(snap)
        return
    from bokeh.io import show

    # inline (offline-safe, DESIGN 11) but not the whole INLINE set: the notebook stores this output twice
    _load_live_bokehjs()
    display(HTML(snap.header_html() + snap.controls_html()))
    show(snap.layout)
    rest = snap.table_html() + snap.movers_html() + snap.not_surveyed_html() + snap.plays_html + snap.script_html()
    display(HTML(rest))


def _load_live_bokehjs() -> None:
    """Load BokehJS inline once per kernel (offline-safe, DESIGN 11), for live display through Bokeh."""
    global _live_bokehjs_loaded
    from bokeh.io import output_notebook
    from bokeh.resources import Resources

    if not _live_bokehjs_loaded:
        live = Resources(mode="inline", components=["bokeh", "bokeh-widgets", "bokeh-tables"])
        output_notebook(resources=live, hide_banner=True)
        _live_bokehjs_loaded = True


def show_bokeh(obj: Any, *, embed_bokehjs: bool = True) -> None:
    """Display any Bokeh layout in a notebook the way snapshots do.

    `embed_bokehjs=False` (batch runs): the layout's components only (a div and its script), so the page
    template's single BokehJS bundle draws it; `True` (a live kernel): BokehJS loaded inline once, then shown.
    """
    from IPython.display import HTML, display

    if embed_bokehjs:
        from bokeh.io import show

        _load_live_bokehjs()
        show(obj)
        return
    from bokeh.embed import components

    with _components_lock:
        script, div = components(obj)
    display(HTML(f'<div class="hm-bokeh">{div}</div>{script}'))
