"""Small helpers the batch modules share: data names (a URL without its password), timestamps, rounding, checksums."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path


def _is_url(value: str) -> bool:
    return "://" in value


def _redact(data: str) -> str:
    """A data URL without its password (manifests and index pages are shared); a path as it is."""
    from heatmap_lib.data.engines import redact

    return redact(data)


def _data_name(data: str) -> str:
    return _redact(data) if _is_url(data) else Path(data).name


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
