"""A segment's X-Ray pages (`write_segment_xrays`): one page per surveyed account, linking back to its report."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from heatmap_lib.core.exceptions import FilterWarning
from heatmap_lib.data.prepared import open_data
from heatmap_lib.filters import FilterSet
from heatmap_lib.reports.snapshot.figures import report_filters


def write_segment_xrays(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    xray_dir: str | Path,
    include_emails: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    renewal_weights: str | Path | None = None,
    plays: Any = None,
    play_rules: Any = None,
) -> int:
    """Write the X-Ray page of every surveyed account of a segment into `xray_dir`; return how many.

    The pages link back to the segment's report, `<run>/<slug>.html`, where `xray_dir` is `<run>/xray/<slug>`.
    `wave` and `compare_to` as for `snapshot`: each page compares the same two waves for its account. `plays`
    and `play_rules` add each account's plays and suggested plays, read-only (see `xray.xrays`).
    """
    from heatmap_lib.metrics.xray import xrays
    from heatmap_lib.views.xray_view import write_xray_pages

    ds = open_data(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FilterWarning)
        found = xrays(
            ds,
            report_filters(filters, segment_by, segment, wave),
            include_emails=include_emails,
            red_below=red_below,
            green_above=green_above,
            compare_to=compare_to,
            renewal_weights=renewal_weights,
            plays=plays,
            play_rules=play_rules,
        )
    folder = Path(xray_dir)
    back = f"../../{folder.name}.html"
    return len(write_xray_pages(found, folder, back_href=back, back_label="Back to the segment's heat map"))
