"""`load`: open any dataset: a mapping file, a connection URL or engine, or a dataset of files.

It only chooses the loader: `mapping` for a mapping file, `engines` for a URL source (tables stay in their engine),
`file_loader` for a folder, workbook or DuckDB file. The Dataset model and the problem records (`dataset`) are
re-exported here, as `from heatmap_lib.data.loading import load, Dataset, Problem, Exclusion` has always worked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from heatmap_lib.core.exceptions import DataError
from heatmap_lib.data import engines, mapping
from heatmap_lib.data.dataset import Dataset, Exclusion, OnError, Problem
from heatmap_lib.data.file_loader import LOAD_STATS, load_files

__all__ = ["LOAD_STATS", "Dataset", "Exclusion", "OnError", "Problem", "load"]


def load(
    path: str | Path | Any,
    *,
    on_error: OnError = "raise",
    quarantine_dir: str | Path | None = None,
    database: str | Path | None = "auto",
    memory_limit: str | None = None,
    checks: Literal["rows", "structure"] | None = None,
    cache: bool | str | Path | None = None,
) -> Dataset:
    """Load and validate a dataset (folder of CSV/Parquet, Excel workbook or DuckDB file), or open one in its engine.

    path: a dataset path; or a connection URL (`postgres://...`, `spark://local`, `sc://...`, any Ibis backend
        URL; see `engines` and docs/engines.md), an Ibis backend or a SparkSession: the tables stay in that
        engine, are validated there, and every metric runs there.
    checks: URL sources only: "rows" (default) checks every rule in the engine, "structure" only tables, columns
        and types (files are always checked in full).

    on_error: "raise" refuses a dataset with any problem, listing every one in the `ValidationError`;
        "quarantine" loads the valid rows and writes the rejected ones, with their reasons, to `quarantine_dir`
        (default `outputs/quarantine/<dataset name>`); `Dataset.exclusions` records it for every report.
    database: where the loaded tables live: a DuckDB file path, None for memory, or "auto" (default): memory for
        small sources, a temporary file (compressed, so scans are faster and memory stays bounded) for sources
        over 64 MB, removed when the dataset is closed or garbage-collected.
    memory_limit: DuckDB's memory cap such as "1GB" (default: $HEATMAP_MEMORY_LIMIT, else DuckDB's own default).
    cache: validate once (`prepared_cache`): a validated dataset is kept as a DuckDB file in the cache folder and
        reopened read-only while its source files are unchanged. None or True: the default folder
        ($HEATMAP_CACHE_DIR, else ~/.cache/heatmap); a path: that folder; False: load and validate every time.
        Used with the defaults `on_error="raise"` and `database="auto"` only.
    """
    if on_error not in ("raise", "quarantine"):
        raise ValueError(f"on_error must be 'raise' or 'quarantine', not {on_error!r}")
    if mapping.is_mapping(path):  # a mapping file: survey-tool, CRM and analytics exports mapped onto the contract
        return mapping.load_mapped(
            path, on_error=on_error, quarantine_dir=quarantine_dir, database=database, memory_limit=memory_limit
        )
    if engines.is_url(path) and str(path).strip().lower().startswith("duckdb://"):
        path = engines.parse_url(str(path)).options["path"]  # a DuckDB file: the file loader, quarantine and all
    if engines.is_source(path):
        if on_error != "raise":
            # excluding rows would mean re-running every rule inside every query, or writing a cleaned copy
            # into the user's database: fix the rows in the engine instead (the error lists them)
            raise DataError(
                f"{engines.redact(str(path))}: on_error='quarantine' is for files; a URL source is "
                "used as it stands or refused"
            )
        if isinstance(path, str):
            return engines.open_url(path, checks=checks)
        return engines.open_backend(path, checks=checks or "rows")
    return load_files(
        path,
        on_error=on_error,
        quarantine_dir=quarantine_dir,
        database=database,
        memory_limit=memory_limit,
        cache=cache,
    )
