"""`snapshot()`: compute one segment's report (summary, wave comparison, usage health, plays, xlsx) as a `Snapshot`."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from heatmap_lib.core.exceptions import FilterError, FilterWarning, HeatmapError
from heatmap_lib.data.prepared import open_data
from heatmap_lib.filters import FilterSet, coerce, scope
from heatmap_lib.metrics.summary import BANDS, heatmap_tables, scope_counts
from heatmap_lib.reports.snapshot.figures import headline, report_filters
from heatmap_lib.reports.snapshot.layout import build_layout
from heatmap_lib.reports.snapshot.page import MOVED, MOVERS_SHOWN, NOT_SURVEYED_COLUMNS, Snapshot

# The summary columns sent to the browser: what the chart, the table and the client-side filters use.
VIEW_COLUMNS: tuple[str, ...] = (
    "account_id",
    "account_name",
    "account_manager",
    "tier",
    "value",
    "contacts_invited",
    "invitations",
    "responses",
    "response_rate",
    "nps",
    "nps_low",
    "nps_high",
    "band",
    "small_sample",
)
FACETS: tuple[tuple[str, str], ...] = (("tier", "Tier"), ("account_manager", "Account manager"), ("band", "Band"))


def _view_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary cut to the columns the views use (nothing else is sent to the browser)."""
    view = summary[[c for c in VIEW_COLUMNS if c in summary.columns]].copy()
    view.attrs = dict(summary.attrs)
    return view


def _usage_health(dataset: Any, sc: Any) -> pd.DataFrame | None:
    """The usage health of the scope's accounts for the hover (None without usage events).

    Only the account filters apply: usage is no survey's (DESIGN.md section 6; health.py). The window is
    `health_summary`'s default, the 28 days up to the dataset's latest event, the same for every segment of a run.
    """
    if not dataset.has("usage_events"):
        return None
    from heatmap_lib.metrics.health import health_summary

    account_keys = {k: list(v) for k, v in sc.filters.criteria.items() if k in dataset.account_columns}
    try:
        return health_summary(dataset, FilterSet.from_dict(account_keys))
    except HeatmapError:
        return None


def snapshot(
    dataset: Any,
    filters: FilterSet | Mapping[str, Any] | str | Path | None = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    log_x: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    title: str | None = None,
    xray_href: str | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    plays: Any = None,
    index_href: str | None = None,
    currency: str | None = None,
) -> Snapshot:
    """Compute one segment's report: `dataset` (a Dataset or a dataset path), the filter set plus the segment.

    `segment_by` is an accounts column or `wave`; with no segment the snapshot covers the whole filter set.
    Wave over wave: `wave` narrows the report to that wave; whenever the report covers exactly one wave (by
    `wave`, the filter set or a wave segment) it is compared with `compare_to` (default: the wave sent before
    it): trails on the chart, a movers list, and two client-side toggles (trails, movers only).
    `plays` (a workspace folder, `PlayStore` or plays frame) adds each account's open plays to the hover and a
    read-only list of the segment's open plays per account manager; the store is only read, never created.
    `index_href` links the header back to the run's index page. `currency` ("USD") names the account values'
    currency on the chart's value axis and in its hover.
    """
    from heatmap_lib.views.offline import offline_payload

    ds = open_data(dataset)
    fs = report_filters(filters, segment_by, segment, wave)
    if compare_to is not None and str(compare_to).strip() not in ds.distinct_values("invitation_facts", "wave"):
        raise FilterError(f"compare_to: wave {str(compare_to).strip()!r} does not occur in the data")
    with warnings.catch_warnings():  # shown in the header, not as stderr in the report
        warnings.simplefilter("ignore", FilterWarning)
        sc = scope(ds, fs)
        summary, missing = heatmap_tables(ds, scoped=sc, red_below=red_below, green_above=green_above)
        counts = scope_counts(ds, scoped=sc)
        movement, note = _movement(ds, sc, compare_to, red_below=red_below, green_above=green_above)
        health = _usage_health(ds, sc) if len(summary) else None
        payload = offline_payload(ds, sc, summary, missing, thresholds=summary.attrs["thresholds"], xray_href=xray_href)
    seg_text = None if segment is None else str(segment).strip()
    if title is None:
        title = "Customer heat map" + (f": {segment_by} {seg_text}" if segment_by and seg_text is not None else "")
        if wave is not None and segment_by != "wave":
            title += f", wave {str(wave).strip()}"
    view = _view_frame(summary)
    uid = secrets.token_hex(4)
    plays_hover, plays_section = _segment_plays(ds, plays, summary, missing)
    layout = build_layout(
        view,
        log_x=log_x,
        title=title,
        uid=uid,
        xray_href=xray_href,
        movement=movement,
        health=health,
        plays_hover=plays_hover,
        currency=currency,
    )
    facets = {}
    for column, _ in FACETS:
        if column == "band":
            present = set(view["band"]) if "band" in view else set()
            facets[column] = tuple(b for b in BANDS if b in present)
        elif column in view.columns:
            facets[column] = tuple(sorted({str(v) for v in view[column].dropna()}, key=str.casefold))
    facets = {k: v for k, v in facets.items() if v}
    waves_info = move_info = movers_table = None
    movers_total = 0
    if movement is not None:
        from heatmap_lib.metrics.waves import move_counts, movers

        facets[MOVED] = ("1", "0")
        waves_info = dict(movement.attrs["waves"])
        if movement.attrs.get("open_waves_note"):  # a wave still collecting answers: said beside the moves
            waves_info["open_note"] = str(movement.attrs["open_waves_note"])
        move_info = move_counts(movement)
        every_mover = movers(movement)
        movers_total = len(every_mover)
        movers_table = every_mover.groupby("move", sort=False).head(MOVERS_SHOWN).reset_index(drop=True)
    shown = [c for c, _ in NOT_SURVEYED_COLUMNS if c in missing.columns]
    return Snapshot(
        title=title,
        data_name=Path(str(ds.path)).name,
        filters=coerce(filters),
        segment_by=segment_by,
        segment=seg_text,
        exclusion_note=ds.exclusion_note(),
        warnings=tuple(sc.warnings),
        headline=headline(summary, counts),
        layout=layout,
        facets=facets,
        not_surveyed=missing[shown].reset_index(drop=True),
        uid=uid,
        waves=waves_info,
        move_counts=move_info,
        movers=movers_table,
        compare_note=note,
        movers_total=movers_total,
        plays_html=plays_section,
        payload=payload,
        xlsx_base64=_segment_xlsx(ds, summary) if len(summary) else "",
        index_href=index_href,
        scope=fs,
    )


XLSX_COLUMNS = (
    "account_name",
    "account_manager",
    "value",
    "contacts_invited",
    "invitations",
    "responses",
    "response_rate",
    "promoters",
    "passives",
    "detractors",
    "nps",
    "nps_low",
    "nps_high",
    "band",
)


def _segment_xlsx(dataset: Any, summary: pd.DataFrame) -> str:
    """The segment's account table as a formatted xlsx (`export.write_table`), base64, for the page's download."""
    import base64
    import tempfile

    from heatmap_lib.views.export import about, write_table

    frame = summary[[c for c in XLSX_COLUMNS if c in summary.columns]]
    frame.attrs = dict(summary.attrs)
    with tempfile.TemporaryDirectory(prefix="hm-xlsx-") as tmp:
        path = write_table(frame, Path(tmp) / "accounts.xlsx", about(dataset, frame), headers="words")
        return base64.b64encode(path.read_bytes()).decode("ascii")


def _segment_plays(
    dataset: Any, plays: Any, summary: pd.DataFrame, missing: pd.DataFrame
) -> tuple[pd.Series | None, str]:
    """The open-plays hover line per account and the open plays list, for the segment's accounts only."""
    if plays is None:
        return None, ""
    from heatmap_lib.data.plays import play_hover_text, read_plays
    from heatmap_lib.views.plays_view import open_plays_html

    ids = [*summary["account_id"].astype(str), *missing["account_id"].astype(str)]
    frame = (
        plays[plays["account_id"].astype(str).isin(ids)]
        if isinstance(plays, pd.DataFrame)
        else read_plays(plays, ids, dataset=dataset)
    )
    accounts = pd.concat(
        [
            summary[[c for c in ("account_id", "account_name", "account_manager") if c in summary]],
            missing[[c for c in ("account_id", "account_name", "account_manager") if c in missing]],
        ],
        ignore_index=True,
    )
    return play_hover_text(frame), open_plays_html(frame, accounts)


def _movement(
    dataset: Any, sc: Any, compare_to: str | None, *, red_below: float | None, green_above: float | None
) -> tuple[pd.DataFrame | None, str | None]:
    """The wave-over-wave comparison of a scope covering exactly one wave, or (None, why not) / (None, None)."""
    from heatmap_lib.metrics.waves import compare_waves, open_waves_note

    named = sc.filters.criteria.get("wave", ())
    if len(named) != 1:
        return None, None
    try:
        cmp = compare_waves(dataset, named[0], compare_to, scoped=sc, red_below=red_below, green_above=green_above)
        cmp.attrs["open_waves_note"] = open_waves_note(dataset, list(cmp.attrs["waves"].values()))
        return cmp, None
    except HeatmapError as exc:
        return None, str(exc)
