"""What the snapshot modules share: value formatting for HTML (escaped text, money, NPS points), file stems, a lock."""

from __future__ import annotations

import html
import math
import threading
from typing import Any


def _float(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _money(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):,.0f}"


def _points(x: float | None) -> str:
    """Whole NPS points with a sign ("+45", "\u221270", "0"); "n/a" when undefined."""
    return "n/a" if x is None else (f"{x:+.0f}".replace("-", "\u2212") if round(x) != 0 else "0")


def _score(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1f}".replace("-", "\u2212")


_components_lock = threading.Lock()


def _file_stem(title: str) -> str:
    """A download's file name (no suffix) from a report title: letters, digits and dashes only."""
    import re

    stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:80]
    return stem or "customer-heat-map"


CORE_ONLY = 'data-hm-bokeh="core"'  # marks a heat map snapshot, whose table is plain HTML (no bokeh-tables)
