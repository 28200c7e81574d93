"""Static exports of the views: the chart as PNG, SVG or PDF, and the table as xlsx or CSV (DESIGN.md section 6).

Images are drawn by Debian's headless Chromium through chromedriver (bokeh.io.export_png/export_svg). One webdriver
serves the whole process: it starts at the first export (under a second) and closes at exit. Chromium runs with
`--no-sandbox`: as root it fails otherwise, with a misleading "no chromium on PATH" message (DESIGN.md section 11).
PDF is printed by the same browser (the DevTools `Page.printToPDF` call behind `chromium --print-to-pdf`, without
starting a second browser) onto a page exactly the size of the chart, so wide charts are not clipped on a portrait
page. Chromium prints a canvas as an image at the device pixel ratio, so the page is drawn at `PDF_SCALE` x.
(Bokeh's SVG backend would give a vector PDF, but in Bokeh 3.9 it lays out a figure with a side legend wrongly.)

Every export is of a copy: the live chart (maybe shown in a notebook) is never touched. The copy has no toolbar and
carries a caption, the provenance line (data, filters, accounts, time) below the plot.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError

__all__ = [
    "CHART_FORMATS",
    "TABLE_FORMATS",
    "browser_paths",
    "close_webdriver",
    "export_caption",
    "export_chart",
    "export_table",
    "static_copy",
    "webdriver",
]

CHART_FORMATS = ("png", "svg", "pdf")
TABLE_FORMATS = ("xlsx", "csv")
INSTALL_HINT = "install them with `apt-get install chromium chromium-driver` (Debian)"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "chromedriver")
BROWSER_ARGS = (
    "--headless",
    "--no-sandbox",  # required as root (DESIGN.md section 11)
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--hide-scrollbars",
    "--force-device-scale-factor=1",  # one image pixel per CSS pixel: a PNG is exactly the chart's size
    "--force-color-profile=srgb",
)
PDF_SCALE = 2  # canvas pixels per CSS pixel in a PDF (192 dpi)
RENDER_TIMEOUT = 15  # s to wait for BokehJS to load and draw a page

_driver: Any = None
_atexit_registered = False
_lock = threading.RLock()


# --------------------------------------------------------------------------------------------------------------
# the browser


def _which(candidates: Sequence[str]) -> str | None:
    for c in candidates:
        found = shutil.which(c) if os.sep not in c else (c if Path(c).is_file() and os.access(c, os.X_OK) else None)
        if found:
            return found
    return None


def browser_paths() -> tuple[str, str]:
    """The Chromium and chromedriver executables to use (env HEATMAP_CHROMIUM / HEATMAP_CHROMEDRIVER override).

    Raises HeatmapError naming the Debian packages to install when either is missing.
    """
    chromium = os.environ.get("HEATMAP_CHROMIUM") or _which(CHROMIUM_CANDIDATES)
    driver = (
        os.environ.get("HEATMAP_CHROMEDRIVER")
        or os.environ.get("BOKEH_CHROMEDRIVER_PATH")
        or _which(CHROMEDRIVER_CANDIDATES)
    )
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    for name, path in (("chromium", chromium), ("chromedriver", driver)):
        if path and not Path(path).is_file():
            missing.append(f"{name} ({path} does not exist)")
    if missing:
        raise HeatmapError(
            f"static chart export needs Chromium and chromedriver; missing: {', '.join(missing)}; {INSTALL_HINT}"
        )
    return str(chromium), str(driver)


def webdriver() -> Any:
    """The process's headless Chromium webdriver, started on first use and closed at exit."""
    global _driver, _atexit_registered
    with _lock:
        if _driver is None:
            _driver = _start_driver()
            if not _atexit_registered:
                atexit.register(close_webdriver)
                _atexit_registered = True
        return _driver


def _start_driver() -> Any:
    chromium, chromedriver = browser_paths()
    try:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.chrome.webdriver import WebDriver
    except ImportError as exc:  # pragma: no cover - selenium is a declared dependency
        raise HeatmapError("static chart export needs the selenium package: pip install selenium") from exc
    options = Options()
    options.binary_location = chromium
    for arg in BROWSER_ARGS:
        options.add_argument(arg)
    try:
        return WebDriver(service=Service(chromedriver, log_output=os.devnull), options=options)
    except WebDriverException as exc:
        first = ((exc.msg or str(exc)).strip() or type(exc).__name__).splitlines()[0]
        raise HeatmapError(f"could not start headless Chromium ({chromium} via {chromedriver}): {first}") from exc


def close_webdriver() -> None:
    """Quit the shared webdriver if one is running (registered at exit; safe to call twice)."""
    global _driver
    with _lock:
        driver, _driver = _driver, None
    if driver is not None:
        with contextlib.suppress(Exception):  # the browser may be gone already; nothing left to clean
            driver.quit()


def _with_driver(action: Callable[[Any], Any]) -> Any:
    """Run `action(driver)`; if the browser died since the last export, start a new one and retry once."""
    from selenium.common.exceptions import WebDriverException

    with _lock:
        try:
            return action(webdriver())
        except WebDriverException:
            close_webdriver()
            return action(webdriver())


# --------------------------------------------------------------------------------------------------------------
# the static copy


def _root(obj: Any) -> Any:
    """The Bokeh model to export: a BubbleChart's figure, an AccountTable's table, or the model itself."""
    from bokeh.model import Model

    if isinstance(obj, Model):
        return obj
    for attr in ("figure", "table"):  # a BubbleChart or an AccountTable
        model = getattr(obj, attr, None)
        if isinstance(model, Model):
            return model
    raise HeatmapError(f"cannot export {type(obj).__name__}: expected a Bokeh figure, layout or BubbleChart")


def static_copy(obj: Any, caption: str | Sequence[str] | None = None) -> Any:
    """A detached copy of a chart or layout for a static file: no toolbar, the caption lines below the (first) plot.

    The original is left as it is (it may be live in a notebook, where a change would show).
    """
    from bokeh.document import Document
    from bokeh.embed.util import OutputDocumentFor
    from bokeh.models import GridPlot, Plot
    from bokeh.models.annotations import Title

    root = _root(obj)
    with OutputDocumentFor([root], always_new=True) as doc:
        doc_json = doc.to_json()
    copy: Any = Document.from_json(doc_json).roots[0]
    plots: list[Any] = list(copy.select({"type": Plot}))
    for model in plots + list(copy.select({"type": GridPlot})):
        model.toolbar_location = None
    lines = [caption] if isinstance(caption, str) else list(caption or [])
    if plots:
        for line in (ln for ln in lines if ln):
            plots[0].add_layout(
                Title(
                    text=line,
                    align="left",
                    text_font_size="8pt",
                    text_font_style="normal",
                    text_color="#666666",
                ),
                "below",
            )
    return copy


def export_caption(summary: pd.DataFrame, info: Mapping[str, Any] | None = None) -> list[str]:
    """The provenance lines for an exported chart: data, filters, accounts shown, exclusions, when.

    `info` is `export.about(dataset, summary)`; without it the summary's own attrs give the filters.
    """
    info = dict(info or {})
    data = info.get("data")
    name = Path(str(data)).name if data else None
    filters = info.get("filters", summary.attrs.get("filters")) or "all data"
    if isinstance(filters, Mapping):
        filters = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list | tuple) else v}" for k, v in filters.items()
        )
    parts = []
    if name:
        fingerprint = str(info.get("data_fingerprint") or "")[:12]
        parts.append(f"Data: {name}" + (f" ({fingerprint})" if fingerprint else ""))
    parts.append(f"Filters: {filters}")
    n = len(summary)
    parts.append(f"{n:,} surveyed account{'s' * (n != 1)}")
    if info.get("generated_at"):
        parts.append(str(info["generated_at"]))
    lines = [" · ".join(parts)]
    if info.get("excluded"):
        lines.append(str(info["excluded"]))
    if info.get("filter_warnings"):
        lines.append("Filter values that matched nothing: " + "; ".join(map(str, info["filter_warnings"])))
    return lines


# --------------------------------------------------------------------------------------------------------------
# writing files


def _format(path: Path, fmt: str | None, allowed: Sequence[str]) -> str:
    f = (fmt or path.suffix.lstrip(".")).lower()
    if f not in allowed:
        raise HeatmapError(f"{path}: unknown export type {f or '(none)'}; use {', '.join('.' + a for a in allowed)}")
    return f


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes the file private; a report file is as readable as any other
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_chart(
    chart: Any,
    path: str | Path,
    *,
    fmt: str | None = None,
    caption: str | Sequence[str] | None = None,
    timeout: int = RENDER_TIMEOUT,
) -> Path:
    """Write a chart (a BubbleChart, figure or layout) as PNG, SVG or PDF, chosen by `fmt` or the file suffix.

    The file shows the chart without its toolbar, at its own size (the PDF page is exactly that size), with the
    `caption` lines (see `export_caption`) drawn below the plot. Written atomically; returns the path.
    """
    p = Path(path)
    kind = _format(p, fmt, CHART_FORMATS)
    copy = static_copy(chart, caption)
    if kind == "pdf":
        return _atomic(p, lambda tmp: _write_pdf(copy, tmp, timeout, title=p.stem))
    writer = _write_png if kind == "png" else _write_svg
    return _atomic(p, lambda tmp: writer(copy, tmp, timeout))


def _write_png(obj: Any, path: Path, timeout: int) -> None:
    from bokeh.io import export_png

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _with_driver(lambda d: export_png(obj, filename=path, webdriver=d, timeout=timeout))


def _write_svg(obj: Any, path: Path, timeout: int) -> None:
    from bokeh.io.export import get_svg

    svgs = _with_driver(lambda d: get_svg(obj, driver=d, timeout=timeout))
    if not svgs:
        raise HeatmapError(f"{path}: the browser returned no SVG for this chart")
    path.write_text(_INVISIBLE_TEXT.sub("", svgs[0]), encoding="utf-8")


# Bokeh draws each label twice, filled and then stroked with no visible outline; the SVG keeps the first only, so that
# each label is in the file once (search, screen readers and editors see one text).
_INVISIBLE_TEXT = re.compile(r'<text(?=[^>]*\bfill="none")(?=[^>]*\bstroke-opacity="0")[^>]*>[^<]*</text>')


_MEASURE = """
const el = Bokeh.index.roots[0].el;
const r = el.getBoundingClientRect();
return [Math.ceil(r.width), Math.ceil(r.height)];
"""
_PAGE_STYLE = """
const [w, h] = arguments;
const style = document.createElement("style");
style.textContent = `@page { size: ${w}px ${h}px; margin: 0 } html, body { margin: 0; padding: 0; overflow: hidden }`;
document.head.appendChild(style);
"""


def _write_pdf(obj: Any, path: Path, timeout: int, title: str = "heatmap") -> None:
    from bokeh.embed import file_html
    from bokeh.io.export import wait_until_render_complete
    from bokeh.resources import INLINE

    # A standalone page (BokehJS inline: no network), printed onto a page the size of the rendered chart.
    html = file_html(obj, INLINE, title=title, suppress_callback_warning=True)  # obj is a root of its own copy
    with tempfile.TemporaryDirectory(prefix="heatmap-pdf-") as tmp:
        page = Path(tmp) / "chart.html"
        page.write_text(html, encoding="utf-8")

        def render(driver: Any) -> bytes:
            # Canvases are printed as images at the device pixel ratio: draw at PDF_SCALE for a print resolution.
            metrics = {"width": 0, "height": 0, "deviceScaleFactor": PDF_SCALE, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            try:
                driver.get(page.as_uri())
                wait_until_render_complete(driver, timeout)
                width, height = driver.execute_script(_MEASURE)
                driver.execute_script(_PAGE_STYLE, width, height)
                result = driver.execute_cdp_cmd(
                    "Page.printToPDF",
                    {"preferCSSPageSize": True, "printBackground": True, "displayHeaderFooter": False},
                )
            finally:
                driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
            return base64.b64decode(result["data"])

        path.write_bytes(_with_driver(render))


def export_table(
    summary: pd.DataFrame,
    path: str | Path,
    info: Mapping[str, Any] | None = None,
    *,
    columns: Sequence[str] | None = None,
) -> Path:
    """Write the account table as formatted xlsx (headers in words, percentages, band colours) or CSV, by suffix.

    The xlsx has a frozen header and columns as wide as their content.

    `info` is the provenance (`export.about(dataset, summary)`); `columns` narrows the table (default: all).
    """
    from heatmap_lib.views.export import write_table

    p = Path(path)
    _format(p, None, TABLE_FORMATS)
    frame = summary if columns is None else summary[list(columns)]
    return write_table(frame, p, info, headers="words")
