"""Downloads from the live panel (seed 000 "Download report"): the chart and the account table, exactly as shown.

The chart as PNG, SVG or PDF and the account table as xlsx or CSV (filters applied, the table's sort as shown),
named for what they hold. The files are written by the CLI's writers (`static_export.export_chart`,
`export.write_table`), so they look the same as `heatmap export` output: the chart carries the provenance caption
(data, filters, accounts, time), the xlsx has headers in words, fitted widths and an About sheet, the CSV is
formula-safe and starts with `# key: value` lines naming the data, the filters and the sort. The browser saves them
from a link with a `data:` URL and a `download` name: no server endpoint, so it works offline in JupyterLab. A file
is written on a thread and the panel says so meanwhile (a 10k-row workbook takes a second or two), so the filters
stay usable; each file has its own status line (writing, its link, or what failed), newest first, so two exports
started together both show.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.filters import FilterSet

__all__ = ["BUTTONS", "ExportPanel", "export_name", "filter_slug", "sort_words", "table_export_frame"]

# format -> button label; the chart's formats first, then the table's
BUTTONS: dict[str, str] = {"png": "PNG", "svg": "SVG", "pdf": "PDF", "xlsx": "Excel (xlsx)", "csv": "CSV"}
CHART = ("png", "svg", "pdf")
MIME = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}
# the account table's columns as shown, as summary columns (the 95% range is its two ends)
TABLE_COLUMNS = (
    "account_name",
    "account_manager",
    "value",
    "contacts_invited",
    "response_rate",
    "nps",
    "nps_low",
    "nps_high",
    "band",
)
SLUG_MAX = 60  # characters of a file name that name the filters
STATUS_LINES = 5  # the newest exports' lines the panel keeps (a line per file name)


def filter_slug(filters: FilterSet) -> str:
    """The filters in a file name: "region-West", "region-East+West_role-influencer", "all-data"."""
    parts = [f"{k}-{'+'.join(v)}" for k, v in filters.criteria.items()]
    if filters.start or filters.end:
        parts.append(f"sent-{filters.start or 'start'}-to-{filters.end or 'end'}")
    slug = "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "-", p).strip("-") for p in parts) or "all-data"
    return slug if len(slug) <= SLUG_MAX else slug[: SLUG_MAX - 5].rstrip("-_+") + "-more"


def export_name(fmt: str, filters: FilterSet, day: dt.date | None = None) -> str:
    """A download's file name: "heatmap_region-West_2026-12-07.png" (chart), "heatmap-accounts_...xlsx" (table)."""
    if fmt not in BUTTONS:
        raise HeatmapError(f"unknown export type {fmt!r}; use {', '.join(BUTTONS)}")
    what = "heatmap" if fmt in CHART else "heatmap-accounts"
    return f"{what}_{filter_slug(filters)}_{(day or dt.date.today()).isoformat()}.{fmt}"


def sort_words(state: list[tuple[str, str]], titles: dict[str, str]) -> str:
    """The table's sort in words: "NPS descending, then Value ascending" ("account name" when none is chosen)."""
    if not state:
        return "account name"
    words = [f"{titles.get(f, f)} {'ascending' if d == 'asc' else 'descending'}" for f, d in state]
    return ", then ".join(words)


def table_export_frame(table: Any, shown: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns of the account table as shown: `shown` (the summary it holds) in its sort order."""
    from heatmap_lib.views.table import ROLE_COLUMNS

    columns = [c for c in TABLE_COLUMNS if c in shown.columns]
    if table.role_columns:
        columns += [c for c in ROLE_COLUMNS if c in shown.columns]
    ordered = table.shown(shown)
    out = ordered[[*columns, "account_id"]].copy()
    out.attrs = dict(shown.attrs)
    return out


def _size(n: int) -> str:
    return f"{n / 1024:,.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MB"


def download_link(name: str, data: bytes, fmt: str) -> str:
    """An anchor the browser saves as `name` (a `data:` URL: no server needed)."""
    url = f"data:{MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"
    label = html.escape(name)
    return (
        f'<a class="heatmap-download" href="{url}" download="{label}" '
        f'style="color:#1f3b57;font-weight:bold">⬇ {label}</a> <small>({_size(len(data))})</small>'
    )


class ExportPanel:
    """The panel's download buttons, for a `widgets.Dashboard`: what it shows now, as files the browser saves."""

    def __init__(self, dashboard: Any) -> None:
        self.dashboard = dashboard
        self.buttons = {
            fmt: w.Button(description=label, icon="download", layout=w.Layout(width="auto"))
            for fmt, label in BUTTONS.items()
        }
        for fmt, button in self.buttons.items():
            button.on_click(lambda _, f=fmt: self.export(f))
        self.status = w.HTML()  # a line per file: "Writing …" while it is written, then the link that saves it
        self.last: dict[str, bytes] = {}  # the latest file of each format (what the link holds)
        self._threads: list[threading.Thread] = []
        self._lines: dict[str, str] = {}  # file name -> its status line, oldest first
        self._lock = threading.Lock()  # export threads and the kernel both write the lines

    def widget(self) -> w.Widget:
        """The buttons, chart formats and table formats apart, and the status line with the download link."""
        chart = w.HBox([w.HTML("<b>Chart</b>"), *(self.buttons[f] for f in CHART)])
        table = w.HBox([w.HTML("<b>Table</b>"), *(self.buttons[f] for f in BUTTONS if f not in CHART)])
        return w.VBox([w.HBox([w.HTML("<b>Download</b>&nbsp;"), chart, table], layout=_wrap()), self.status])

    def export(self, fmt: str, *, wait: bool = False) -> str:
        """Write the chart or table as shown in `fmt` on a thread and show its download link; returns the file name.

        What is shown is captured at once (a filter change meanwhile does not change the file); `wait=True`
        returns only once the file is written (for scripts and tests). Returns "" (and says why in the panel) when
        the filters cannot be read.
        """
        d = self.dashboard
        try:
            filters = d.filters
        except HeatmapError as exc:  # e.g. an end date before the start: nothing shown matches the widgets
            self._say("", _error(f"Nothing exported: {exc}"), new=True)
            return ""
        name = export_name(fmt, filters)
        shown = d._shown()
        what = "chart" if fmt in CHART else f"table ({len(shown):,} row{'s' * (len(shown) != 1)})"
        writing = f'<span style="color:#555">⏳ Writing {html.escape(name)}, the {what} as shown…</span>'
        self._say(name, writing, new=True)
        from heatmap_lib.views.export import about

        info = about(d.dataset, shown)
        if fmt in CHART:
            from heatmap_lib.views.static_export import export_caption, static_copy

            copy = static_copy(d.chart)  # here, not on the thread: copying re-homes the live models for a moment
            caption = export_caption(shown, info)

            def write(path: Path) -> None:
                from heatmap_lib.views.static_export import export_chart

                export_chart(copy, path, fmt=fmt, caption=caption)

        else:
            from heatmap_lib.views.export import write_table

            frame = table_export_frame(d.table, shown)
            titles = {c.field: c.title for c in d.table.table.columns}
            info = {**info, "sort": sort_words(d.table.sort_state, titles), "rows": f"{len(frame):,}"}

            def write(path: Path) -> None:
                write_table(frame, path, info, headers="words", comments=True)

        thread = threading.Thread(target=self._write, args=(fmt, name, write), daemon=True, name=f"export-{fmt}")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        if wait:
            thread.join()
        return name

    def wait(self) -> None:
        """Return once every export started so far is written (or has failed)."""
        for thread in self._threads:
            thread.join()

    def _write(self, fmt: str, name: str, write: Callable[[Path], None]) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="heatmap-download-") as tmp:
                path = Path(tmp) / name
                write(path)
                data = path.read_bytes()
        except Exception as exc:  # the panel says what failed; the kernel log is not where a user looks
            self._say(name, _error(f"{name} not written: {exc}"))
            return
        self.last[fmt] = data
        self._say(name, download_link(name, data, fmt) + " <small>ready: click to save</small>")

    def _say(self, key: str, line: str, *, new: bool = False) -> None:
        """Set the status line of one file (`key` its name; "" for a refusal): newest export first, the last few kept.

        `new`: an export starting (it moves to the top); otherwise its line changes in place.
        """
        with self._lock:
            if new:
                self._lines.pop(key, None)
            self._lines[key] = line
            while len(self._lines) > STATUS_LINES:
                self._lines.pop(next(iter(self._lines)))
            self.status.value = "".join(f"<div>{v}</div>" for v in reversed(self._lines.values()))


def _error(text: str) -> str:
    return f'<span style="color:#b00020">⚠ {html.escape(text)}</span>'


def _wrap() -> w.Layout:
    return w.Layout(flex_flow="row wrap", align_items="center")
