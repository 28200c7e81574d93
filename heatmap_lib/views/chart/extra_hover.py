"""Extra hover lines per account (usage health, open plays, ...), in the one form the chart takes.

`hover_lines` joins parts into a frame indexed by account_id, one column per line, the column name its label,
plain text its values (Bokeh escapes them); `bubble_chart(..., extra_hover=...)` adds them as `hover_line_<j>`
columns. The usage health lines (`usage_hover`, from `health.health_summary`) come this way, in the live dashboard
and in batch snapshots: `hover_lines(usage_hover(health), plays_frame)`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

HOVER_LINE = "hover_line_"  # the data source columns of the extra hover lines: hover_line_0, hover_line_1, ...
HoverLinesLike = pd.DataFrame | Mapping[str, pd.Series] | None


def hover_lines(*parts: HoverLinesLike) -> pd.DataFrame | None:
    """Extra hover lines per account, in the one form the chart takes; None when there is none.

    Each part is a DataFrame indexed by account_id whose columns are hover lines (the column name is the label shown
    before the colon, each value that account's text), or a mapping {label: Series indexed by account_id}, or None.
    Parts are joined on account_id in the order given; a label given twice keeps the first. The result is a frame
    indexed by account_id (as text) with one text column per line, "" where an account has no value (the line then
    shows its label only).

    Values are plain text, never HTML: the chart shows each through a `@field` tooltip, which Bokeh escapes, so
    customer text shows as text (DESIGN.md section 8) and markup shows literally (never use `{safe}` for them).
    Keep them short: a snapshot carries one text per account and line (see `snapshot.layout._hover_in_browser` for
    how the usage lines are sent as numbers instead). Usage: `bubble_chart(summary, extra_hover=hover_lines(usage_hover(
    health), plays))`; the live dashboard passes its lines once and `update_chart` looks them up on every redraw.
    """
    columns: dict[str, pd.Series] = {}
    for part in parts:
        if part is None:
            continue
        items = part.items() if isinstance(part, pd.DataFrame) else dict(part).items()
        for label, values in items:
            if str(label) in columns:
                continue
            series = pd.Series(values)
            series.index = series.index.astype(str)
            columns[str(label)] = series[~series.index.duplicated()]
    if not columns:
        return None
    frame = pd.concat(columns, axis=1, sort=False) if len(columns) > 1 else pd.DataFrame(columns)
    out = pd.DataFrame(
        {label: frame[label].astype(object).where(frame[label].notna(), "").astype(str) for label in columns},
        index=pd.Index(frame.index.astype(str).to_numpy(dtype=object), dtype=object, name="account_id"),
    )
    out.attrs["hover_lines"] = True  # normalised: hover_lines(out) returns it as it is
    return out


def _normalised(lines: HoverLinesLike) -> pd.DataFrame | None:
    if isinstance(lines, pd.DataFrame) and lines.attrs.get("hover_lines"):
        return lines
    return hover_lines(lines)


def _hover_line_data(lines: pd.DataFrame, account_ids: Any) -> dict[str, np.ndarray]:
    """The extra hover lines' data source columns for these bubbles, in the same order (object arrays)."""
    rows = lines.index.get_indexer(pd.Index(np.asarray(account_ids, dtype=object), dtype=object))
    found = rows >= 0
    out = {}
    for j, label in enumerate(lines.columns):
        values = lines[label].to_numpy(dtype=object)
        texts = np.full(len(account_ids), "", dtype=object)
        texts[found] = values[rows[found]]
        out[f"{HOVER_LINE}{j}"] = texts
    return out


def _hover_line_tooltips(lines: pd.DataFrame | None) -> list[tuple[str, str]]:
    return [] if lines is None else [(label, f"@{HOVER_LINE}{j}") for j, label in enumerate(lines.columns)]


def usage_hover(health: pd.DataFrame | None) -> pd.DataFrame | None:
    """The usage health hover lines of each account, from `health.health_summary` (None without one).

    Two lines: "Usage (28 days)": "12 of 40 seats active (30%), down 25% on the previous 28 days" (active users in
    the window, of the account's seats when known, and the change in active users against the window before, when
    it had any), and "Last active": "today", "yesterday", "3 days ago", "45 days ago (inactive)" or "never" (the
    inactive flag is the table's, `inactive_days` without an event). Percentages are rounded half up. Only numbers
    and fixed words: nothing to escape. `snapshot.layout._hover_in_browser` formats the same text in the browser
    (`USAGE_HOVER_JS`).
    """
    if health is None:
        return None
    figures = usage_figures(health)
    window = int(health.attrs.get("window_days", 28))
    usage, last = [], []
    for au, prev, seats, days, inactive in zip(
        *(figures[c].tolist() for c in ("active_users", "active_users_prev", "seats", "days")),
        health["inactive"].to_numpy(dtype=bool).tolist(),
        strict=True,
    ):
        text = f"{au:,} of {seats:,} seats active ({_half_up(au * 100 / seats)}%)" if seats > 0 else None
        text = text or f"{au:,} active user{'' if au == 1 else 's'}"
        if prev > 0:
            change = _half_up((au - prev) * 100 / prev)
            trend = f"up {change}%" if change > 0 else f"down {-change}%" if change < 0 else "no change"
            text += f", {trend} on the previous {window} days"
        usage.append(text)
        if days < 0:
            last.append("never")
        else:
            when = "today" if days == 0 else "yesterday" if days == 1 else f"{days:,} days ago"
            last.append(when + (" (inactive)" if inactive else ""))
    index = pd.Index(health["account_id"].astype(str).to_numpy(dtype=object), name="account_id")
    return hover_lines(pd.DataFrame({f"Usage ({window} days)": usage, "Last active": last}, index=index))


def usage_figures(health: pd.DataFrame) -> dict[str, np.ndarray]:
    """The whole numbers the usage hover lines are made of, per row of a health table (-1 where unknown).

    `active_users`, `active_users_prev`, `seats` (-1 when unknown) and `days` since the last event (-1: never).
    """
    seats = pd.to_numeric(health["seats"], errors="coerce") if "seats" in health else pd.Series(np.nan, health.index)
    days = pd.to_numeric(health["days_since_last_event"], errors="coerce")
    return {
        "active_users": health["active_users"].fillna(0).to_numpy(dtype=np.int64),
        "active_users_prev": health["active_users_prev"].fillna(0).to_numpy(dtype=np.int64),
        "seats": seats.astype(float).fillna(-1).to_numpy(dtype=np.int64),
        "days": days.astype(float).fillna(-1).to_numpy(dtype=np.int64),
    }


def _half_up(x: float) -> int:
    """Rounded half up, as the browser's Math.floor(x + 0.5) rounds the same double."""
    return math.floor(x + 0.5)
