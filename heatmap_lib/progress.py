"""Progress bars for the steps a user waits on (loading and validating, X-Ray pages), on stderr, shown only late.

A bar appears only when its step is still running after `DELAY` seconds, so quick steps print nothing. It goes
to stderr (a terminal, or a notebook's stderr stream, which rendered reports leave out), and never in a kernel of
`heatmap run` (whose notebooks become reports) or when $HEATMAP_PROGRESS is 0.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DELAY = 1.5  # seconds a step runs before its bar appears


def enabled() -> bool:
    """Whether progress bars may be shown here (not in a batch kernel, not turned off by $HEATMAP_PROGRESS=0)."""
    from .report import PREPARED_ENV

    return not os.environ.get(PREPARED_ENV) and os.environ.get("HEATMAP_PROGRESS", "1") != "0"


def bar(total: int, desc: str, unit: str = "step") -> Any:
    """A tqdm bar on stderr that shows itself only after `DELAY` seconds (a no-op bar when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, delay=DELAY, disable=not enabled(), leave=False)
