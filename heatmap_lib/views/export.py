"""Writing tables out: CSV, formatted xlsx and JSON, each saying which data and filter set it came from.

CSV injection (OWASP): a spreadsheet runs a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return
as a formula. Every CSV written here (and every CSV the CLI writes) prefixes such text cells with `'` unless raw
values are asked for (`raw_csv=True`, `with raw_csv():`, `heatmap ... --raw-csv`), for pipelines that read the file
back as data. Numbers are never touched (a negative NPS stays a number); xlsx cells are typed, so they need no
prefix (formula and URL conversion of strings is off there).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.core.files import csv_cell, raw_csv_wanted

BAND_FILLS = {"green": "#C6EFCE", "yellow": "#FFEB9C", "red": "#FFC7CE", "gray": "#D9D9D9"}
PERCENT_COLUMNS = ("response_rate", "response_rate_prev", "response_rate_change")
ONE_DECIMAL = (
    "nps",
    "nps_low",
    "nps_high",
    "nps_prev",
    "nps_low_prev",
    "nps_high_prev",
    "nps_change",
    "nps_change_low",
    "nps_change_high",
)
XLSX_MAX_ROWS = 1_048_575  # data rows per sheet under the header
XLSX_WIDTH_SAMPLE = 2_000  # rows read to fit a column's width to its content
# Column headers in words for readers' xlsx (`headers="words"`); other columns: "sales_rep" -> "Sales rep".
HEADER_WORDS: dict[str, str] = {
    "account_id": "Account id",
    "account_name": "Account",
    "nps": "NPS",
    "nps_low": "NPS 95% low",
    "nps_high": "NPS 95% high",
    "small_sample": "Small sample (fewer than 10 answers)",
    "nps_decision_maker": "NPS decision makers",
    "nps_influencer": "NPS influencers",
    "nps_day_to_day": "NPS day-to-day users",
}


def neutralise_csv(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells are passed through `csv_cell` (numbers, dates and booleans unchanged)."""
    out = df.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype):
            out[col] = out[col].astype(object).map(csv_cell)
    return out


def about(dataset: Any, df: pd.DataFrame | None = None, **extra: Any) -> dict[str, Any]:
    """Provenance for an exported table: data path, fingerprint, filters, exclusions, warnings, time."""
    info: dict[str, Any] = {
        "data": dataset.path,
        "data_fingerprint": dataset.fingerprint(),
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "generated_by": f"heatmap {_version()}",
    }
    if df is not None:
        info["filters"] = df.attrs.get("filters") or "all data"
        if df.attrs.get("filter_warnings"):
            info["filter_warnings"] = list(df.attrs["filter_warnings"])
    if dataset.exclusions:
        info["excluded"] = dataset.exclusion_note()
    info.update(extra)
    return info


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("heatmap")
    except PackageNotFoundError:
        return "dev"


def header_words(column: str) -> str:
    """A column's header in words ("response_rate" -> "Response rate", "nps" -> "NPS")."""
    if column in HEADER_WORDS:
        return HEADER_WORDS[column]
    words = str(column).replace("_", " ").strip()
    words = " ".join("NPS" if w.lower() == "nps" else w for w in words.split(" "))
    return words[:1].upper() + words[1:]


def write_table(
    df: pd.DataFrame,
    path: str | Path,
    info: Mapping[str, Any] | None = None,
    sheet: str = "accounts",
    *,
    raw_csv: bool | None = None,
    headers: str = "names",
    comments: bool = False,
) -> Path:
    """Write a table as .csv, .xlsx or .json (by suffix), atomically, with its provenance.

    CSV: the table, preceded by `# key: value` lines when rows were excluded or filters matched nothing, or always
    with `comments=True` (read it back with `pandas.read_csv(path, comment="#")`); text cells that a spreadsheet
    would run as a formula are neutralised (`csv_cell`) unless `raw_csv` (default: `raw_csv_wanted()`). xlsx: a
    formatted sheet (columns as wide as their content, dates as dates, headers in words with `headers="words"`, else
    the column names that pipelines read) and an "About" sheet.
    JSON: {"about": {...}, "<sheet>": [...]} (the rows under the sheet's name, "accounts" by default).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    df = with_sample_notes(df)
    writers = {".csv": _write_csv, ".xlsx": _write_xlsx, ".json": _write_json}
    if suffix not in writers:
        raise HeatmapError(f"{p}: unknown output type {suffix or '(none)'}; use .csv, .xlsx or .json")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    if suffix == ".csv" and not (raw_csv_wanted() if raw_csv is None else raw_csv):
        df = neutralise_csv(df)
        info = {k: _SAFE_COMMENT.sub(r",\1'\2", _flat(v)) for k, v in (info or {}).items()}
    try:
        if suffix == ".xlsx":
            _write_xlsx(df, tmp, dict(info or {}), sheet, words=headers == "words")
        elif suffix == ".csv":
            _write_csv(df, tmp, dict(info or {}), sheet, comments=comments)
        else:
            writers[suffix](df, tmp, dict(info or {}), sheet)
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes owner-only files; outputs are shared like any other
        tmp.replace(p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def with_sample_notes(df: pd.DataFrame) -> pd.DataFrame:
    """The table with `nps_note` (the metrics' small-sample note) after `small_sample`, when it has an interval.

    Exports show the interval, so they carry the note beside it, as the hover and the X-Ray do.
    """
    if not {"responses", "small_sample", "nps_low"} <= set(df.columns) or "nps_note" in df.columns:
        return df
    from heatmap_lib.metrics.summary import small_sample_notes

    out = df.copy()
    out.insert(list(df.columns).index("small_sample") + 1, "nps_note", small_sample_notes(df))
    return out


_SAFE_COMMENT = re.compile(r",(\s*)([=+\-@\t\r])")  # a comment line's later cells must not start a formula


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_csv(df: pd.DataFrame, path: Path, info: dict[str, Any], sheet: str, *, comments: bool = False) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        if comments or info.get("excluded") or info.get("filter_warnings"):
            for key, value in info.items():
                fh.write(f"# {key}: {_flat(value)}\n")
        df.to_csv(fh, index=False)


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={_flat(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value).replace("\n", " ")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _write_json(df: pd.DataFrame, path: Path, info: dict[str, Any], sheet: str) -> None:
    records = []
    for row in df.to_dict(orient="records"):
        records.append({k: (None if _isnull(v) else v) for k, v in row.items()})
    with path.open("w", encoding="utf-8") as fh:
        json.dump({"about": info, sheet: records}, fh, default=_json_default, ensure_ascii=False, indent=1)


def _isnull(v: Any) -> bool:
    if v is None or v is pd.NaT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


XLSX_MAX_CELL = 32_767  # characters Excel keeps in one cell


def _fit_cells(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Text cells longer than Excel holds, cut with a visible marker; how many were cut per column."""
    cut: dict[str, int] = {}
    out = df
    for col in df.columns:
        if df[col].dtype != object and not pd.api.types.is_string_dtype(df[col]):
            continue
        # Excel counts UTF-16 units: a character outside the Basic Multilingual Plane (an emoji) takes two
        lengths = df[col].map(lambda v: len(v.encode("utf-16-le")) // 2 if isinstance(v, str) else 0)
        long = lengths > XLSX_MAX_CELL
        if not long.any():
            continue
        if out is df:
            out = df.copy()

        def shorten(text: str) -> str:
            marker = f" [... cut: {len(text):,} characters in all; the CSV or JSON export has the whole text]"
            keep = text.encode("utf-16-le")[: 2 * (XLSX_MAX_CELL - len(marker))]
            return keep.decode("utf-16-le", errors="ignore") + marker  # a pair cut in half is dropped

        out.loc[long, col] = out.loc[long, col].map(shorten)
        cut[str(col)] = int(long.sum())
    return out, cut


def _write_xlsx(df: pd.DataFrame, path: Path, info: dict[str, Any], sheet: str, *, words: bool = False) -> None:
    df, cut = _fit_cells(df)
    if cut:
        info = {
            **info,
            "cells_cut": f"{sum(cut.values()):,} text cells longer than Excel's {XLSX_MAX_CELL:,} characters were "
            "cut, each marked where (" + ", ".join(f"{c}: {n:,}" for c, n in cut.items()) + ")",
        }
    zoned = [str(c) for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]
    if zoned:
        info = {**info, "times": f"date-times with a time zone are written in UTC ({', '.join(zoned)})"}
    _write_sheets(df, path, info, sheet, words=words)


def _width(values: pd.Series, header: str, fmt: str | None) -> float:
    """A column width that fits its header and the content of its first rows, as Excel shows it."""
    sample = values.iloc[:XLSX_WIDTH_SAMPLE].dropna()
    if fmt == "pct":
        longest = 7
    elif pd.api.types.is_bool_dtype(sample):
        longest = 5
    elif pd.api.types.is_numeric_dtype(sample):
        longest = max((len(f"{v:,.1f}") for v in sample.astype(float)), default=0)
    elif pd.api.types.is_datetime64_any_dtype(sample):
        longest = 16
    else:
        longest = max((len(str(v)) for v in sample), default=0)
    return float(min(max(len(header), longest) + 2, 60))


def _dates(out: pd.DataFrame) -> pd.DataFrame:
    """Date-times without a time of day as dates, so that a sheet shows 2026-01-10, not 2026-01-10 00:00:00."""
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert("UTC").dt.tz_localize(None)  # Excel has no zones
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            values = out[col]
            if (values.dropna() == values.dropna().dt.normalize()).all():
                out[col] = values.dt.date.astype(object).where(values.notna(), None)
    return out


def _write_sheets(df: pd.DataFrame, path: Path, info: dict[str, Any], sheet: str, *, words: bool = False) -> None:
    """Write `df` to sheets of at most `XLSX_MAX_ROWS` rows, formatted, with the About sheet (`info`)."""
    chunks = [df.iloc[i : i + XLSX_MAX_ROWS] for i in range(0, max(len(df), 1), XLSX_MAX_ROWS)] or [df]
    # Customer text is data, never a formula or a link: "=HYPERLINK(...)" in a comment must stay text (CSV/Excel
    # injection), so xlsxwriter's string-to-formula and string-to-URL conversions are off.
    options = {"strings_to_formulas": False, "strings_to_urls": False}
    with pd.ExcelWriter(
        path,
        engine="xlsxwriter",
        engine_kwargs={"options": options},
        date_format="yyyy-mm-dd",
        datetime_format="yyyy-mm-dd hh:mm",
    ) as xw:
        book = xw.book
        head = book.add_format({"bold": True, "bg_color": "#1F3B57", "font_color": "#FFFFFF", "border": 1})
        pct = book.add_format({"num_format": "0.0%"})
        dec = book.add_format({"num_format": "0.0"})
        money = book.add_format({"num_format": "#,##0"})
        fills = {b: book.add_format({"bg_color": c}) for b, c in BAND_FILLS.items()}
        for n, chunk in enumerate(chunks):
            name = sheet if len(chunks) == 1 else f"{sheet}_{n + 1}"
            out = _dates(chunk.copy())
            out.to_excel(xw, sheet_name=name, index=False)
            ws = xw.sheets[name]
            for i, col in enumerate(out.columns):
                label = header_words(str(col)) if words else str(col)
                ws.write(0, i, label, head)
                fmt = (
                    pct if col in PERCENT_COLUMNS else dec if col in ONE_DECIMAL else money if col == "value" else None
                )
                kind = "pct" if col in PERCENT_COLUMNS else None
                ws.set_column(i, i, max(_width(out[col], label, kind), 8.0), fmt)
            ws.freeze_panes(1, 0)
            ws.autofilter(0, 0, max(len(out), 1), max(len(out.columns) - 1, 0))
            for band_col in ("band", "band_prev"):
                if band_col not in out.columns or not len(out):
                    continue
                j = list(out.columns).index(band_col)
                for b, f in fills.items():
                    ws.conditional_format(
                        1, j, len(out), j, {"type": "cell", "criteria": "==", "value": f'"{b}"', "format": f}
                    )
        ws = book.add_worksheet("About")
        bold = book.add_format({"bold": True})
        for r, (key, value) in enumerate(info.items()):
            ws.write(r, 0, key, bold)
            ws.write(r, 1, _flat(value)[:XLSX_MAX_CELL])
        ws.set_column(0, 0, 20)
        ws.set_column(1, 1, 100)


def write_health_table(
    df: pd.DataFrame, path: str | Path, dataset: Any | None = None, *, sheet: str = "health"
) -> Path:
    """Write a health table to .csv, .xlsx or .json (by suffix) with no row cap, with its provenance.

    xlsx continues on `<sheet>_2`, `<sheet>_3`, ... past Excel's row limit (`export.XLSX_MAX_ROWS`); CSV and JSON
    hold every row. With `dataset`, the About sheet / header names the data, filters, window and warnings.
    """
    keys = ("as_of", "window", "window_days", "inactive_days", "kpi_events", "onboarding_events", "event")
    extra = {k: df.attrs[k] for k in keys if df.attrs.get(k) not in (None, [], ())}
    if df.attrs.get("unassigned_events"):
        extra["unassigned_events"] = df.attrs["unassigned_events"]
    for key in ("warnings", "filter_notes"):
        if df.attrs.get(key):
            extra[key] = list(df.attrs[key])
    info = about(dataset, df, **extra) if dataset is not None else extra
    return write_table(df, path, info, sheet=sheet)
