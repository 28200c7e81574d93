"""Validate once, open anywhere: `open_data`, and the prepared-copy cache's API (`prepared_cache`) re-exported.

`open_data` is how a notebook opens its `data` parameter: in a kernel `heatmap run` started, the copy the run
validated once is reopened read-only; anywhere else the data are loaded (`loading.load`). The cache itself (where
prepared copies live, their signatures, publishing and reopening them) is `prepared_cache`, below the loader; its
public names are re-exported here, so `prepared.entries()`, `prepared.save_prepared(...)` and the rest still work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from heatmap_lib.core.progress import PREPARED_ENV
from heatmap_lib.data.loading import load
from heatmap_lib.data.prepared_cache import (
    BLOCK_BYTES,
    CACHE_ENV,
    EDGE_BYTES,
    FULL_HASH_BYTES,
    MAX_ENV,
    SAMPLE_BLOCKS,
    cache_dir,
    clear,
    content_hash,
    entries,
    entry_dir,
    file_signature,
    loader_version,
    lookup,
    max_bytes,
    open_prepared,
    pin,
    prune,
    publish,
    save_prepared,
    signature,
    writable,
)

__all__ = [
    "BLOCK_BYTES",
    "CACHE_ENV",
    "EDGE_BYTES",
    "FULL_HASH_BYTES",
    "MAX_ENV",
    "SAMPLE_BLOCKS",
    "cache_dir",
    "clear",
    "content_hash",
    "entries",
    "entry_dir",
    "file_signature",
    "loader_version",
    "lookup",
    "max_bytes",
    "open_data",
    "open_prepared",
    "pin",
    "prune",
    "publish",
    "save_prepared",
    "signature",
    "writable",
]


def _same_path(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return str(a) == str(b)


def open_data(data: Any, *, prepared: str | Path | None = None) -> Any:
    """A Dataset from a Dataset or a dataset path, as a notebook should open its `data` parameter.

    In a kernel started by `heatmap run`, a path naming the run's data opens the copy the run validated once,
    read-only, instead of loading and validating it again for every segment; anywhere else, `load(path)`.
    `prepared` names that copy's description (`save_prepared`) explicitly instead of the environment.
    A connection URL (`postgres://...`, `spark://...`) opens the tables where they are; in a `heatmap run` kernel
    their rows are not checked again (the run did, once).
    """
    if not isinstance(data, str | Path):
        return data
    prepared = prepared or os.environ.get(PREPARED_ENV)
    if isinstance(data, str) and "://" in data:  # a connection URL: the tables stay in their engine (engines)
        ran = bool(prepared) and Path(str(prepared)).is_file()
        checked = ran and json.loads(Path(str(prepared)).read_text(encoding="utf-8")).get("source") == data
        return load(data, checks="structure" if checked else None)  # a batch run checked the rows once already
    if prepared and Path(prepared).is_file():
        info = json.loads(Path(prepared).read_text(encoding="utf-8"))
        if _same_path(info["source"], data) and Path(info["database"]).is_file():
            return open_prepared(prepared)
    return load(data)
