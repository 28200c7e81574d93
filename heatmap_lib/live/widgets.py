"""The live JupyterLab dashboard: an ipywidgets filter panel wired to the Bokeh chart and table.

The panel maps its widgets to a `FilterSet` and back, nothing more; the dashboard recomputes the summary through
the library and updates the chart's and table's data sources in place. The batch path never imports this module.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.core.schema import ROLE_LABELS, ROLES
from heatmap_lib.data.plays import OPEN as OPEN_STATUSES
from heatmap_lib.filters import FilterLibrary, FilterSet

ACCOUNT_KEYS = ("tier", "region", "industry", "sales_rep", "account_manager")
LEADERS = ("decision_maker", "influencer")
MAX_TAGS = 20_000  # above this many accounts, the account box accepts free text instead of a fixed list


MULTI_HINT = "Ctrl-click (⌘-click on a Mac) or Shift-click picks several; nothing picked means all."


def _multi(description: str, options: list[tuple[str, str]] | list[str], rows: int = 4) -> w.SelectMultiple:
    """A multi-select list with its label above it, in full (a fixed-width label beside it cut long names off)."""
    return w.SelectMultiple(
        options=options,
        description=description,
        rows=min(max(len(options), 2), rows),
        layout=w.Layout(width="220px", flex_flow="column", align_items="flex-start"),
        style={"description_width": "initial"},
    )


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """'1 account', '2 accounts', '1,200 accounts' (`nouns` for an irregular plural)."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"


class FilterPanel:
    """ipywidgets for every filter of DESIGN.md section 5, mapped to a FilterSet and back."""

    def __init__(self, dataset: Any, library: FilterLibrary | str | Path | None = None) -> None:
        self.dataset = dataset
        self.library = FilterLibrary(library) if isinstance(library, str | Path) else library
        self._callbacks: list[Callable[[FilterSet], None]] = []
        self._suspended = 0
        self._pending = False
        self._picking = False  # the saved-set list is being set by code, not picked by the user
        values = dataset.distinct_values
        self.accounts = w.TagsInput(
            value=[],
            allowed_tags=list(values("accounts", "account_name")) if dataset.rows["accounts"] <= MAX_TAGS else [],
            allow_duplicates=False,
            placeholder="account name",
            layout=w.Layout(width="520px"),
        )
        self.account_widgets: dict[str, w.SelectMultiple] = {
            key: _multi(key.replace("_", " ").capitalize(), list(values("accounts", key)))
            for key in ACCOUNT_KEYS
            if key in dataset.account_columns and values("accounts", key)
        }
        self.contacts = w.TagsInput(value=[], allow_duplicates=False, placeholder="contact id")
        present_roles = set(values("invitation_facts", "role"))
        self.role = _multi("Role", [(ROLE_LABELS[r], r) for r in ROLES if r in present_roles or not present_roles])
        self.leaders_only = w.Button(
            description="Decision makers and influencers only", layout=w.Layout(width="auto", height="auto")
        )
        self.leaders_only.add_class("hm-wrap-label")  # its label wraps in a narrow notebook (see `_STYLE`)
        self.questionnaire = _multi("Questionnaire", list(values("invitation_facts", "questionnaire")))
        self.by = w.ToggleButtons(options=["Waves", "Dates"], value="Waves", style={"button_width": "80px"})
        self.wave = _multi("Wave", list(values("invitation_facts", "wave")))
        self.start = w.DatePicker(description="Start", style={"description_width": "50px"})
        self.end = w.DatePicker(description="End", style={"description_width": "50px"})
        self.date_message = w.HTML()  # an impossible range is said here, next to the dates
        self.saved = w.Dropdown(
            options=self._saved_names(), description="Filter set", value=None, style={"description_width": "initial"}
        )
        self.saved_message = w.HTML()  # saving and loading say what happened here, next to the saved sets
        self.name = w.Text(placeholder="name to save as", layout=w.Layout(width="180px"))
        self.save_button = w.Button(description="Save", icon="save", layout=_button())
        self.load_button = w.Button(description="Load", icon="folder-open", layout=_button())
        self.clear_button = w.Button(description="Clear", icon="eraser", layout=_button())
        self.message = w.HTML()
        self.counts = w.HTML()
        self.leaders_only.on_click(lambda _: self._set(role=list(LEADERS)))
        self.save_button.on_click(lambda _: self.save(self.name.value))
        self.load_button.on_click(lambda _: self._load_selected())
        self.clear_button.on_click(lambda _: self.clear())
        self.saved.observe(lambda _: self._load_selected(), "value")  # picking a saved set loads it
        self._dates = w.VBox([w.HBox([self.start, self.end]), self.date_message])
        self.by.observe(self._switch_mode, "value")
        for widget in self._value_widgets():
            widget.observe(self._changed, "value")
        self._switch_mode()

    # -- layout ----------------------------------------------------------------------------------------------
    def _value_widgets(self) -> Iterator[w.ValueWidget]:
        yield self.accounts
        yield from self.account_widgets.values()
        yield from (self.contacts, self.role, self.questionnaire, self.wave, self.start, self.end)

    def layout(self) -> w.Widget:
        """The panel as one widget: account, contact and questionnaire filters, saved sets, counts."""
        lists = list(self.account_widgets.values())
        accounts = w.VBox([w.HTML("<b>Accounts</b>"), self.accounts, w.HBox(lists, layout=_wrap())])
        contacts = w.VBox(
            [w.HTML(f"<b>Contacts</b>{_STYLE}"), w.HBox([self.role, w.VBox([self.leaders_only, self.contacts])])]
        )
        questionnaires = w.VBox(
            [
                w.HTML("<b>Questionnaires</b>"),
                w.HBox([self.questionnaire, w.VBox([self.by, self.wave, self._dates])]),
            ]
        )
        saved = w.VBox(
            [
                w.HBox([self.saved, self.load_button, self.name, self.save_button, self.clear_button], layout=_wrap()),
                self.saved_message,
            ]
        )
        hint = w.HTML(f"<small><i>{html.escape(MULTI_HINT)}</i></small>")
        return w.VBox([accounts, contacts, questionnaires, hint, saved, self.counts, self.message])

    def _switch_mode(self, *_: Any) -> None:
        dates = self.by.value == "Dates"
        self.wave.layout.display = "none" if dates else None
        self._dates.layout.display = None if dates else "none"
        self.date_message.value = ""
        with self.hold():
            if dates:
                self.wave.value = ()
            else:
                self.start.value = self.end.value = None

    # -- FilterSet <-> widgets ---------------------------------------------------------------------------------
    @property
    def filters(self) -> FilterSet:
        """The FilterSet the panel shows now."""
        criteria: dict[str, Any] = {key: list(widget.value) for key, widget in self.account_widgets.items()}
        criteria["account_name"] = list(self.accounts.value)
        criteria["contact_id"] = list(self.contacts.value)
        criteria["role"] = list(self.role.value)
        criteria["questionnaire"] = list(self.questionnaire.value)
        if self.by.value == "Waves":
            criteria["wave"] = list(self.wave.value)
        return FilterSet(
            name=self.saved.value or None,
            start=self.start.value if self.by.value == "Dates" else None,
            end=self.end.value if self.by.value == "Dates" else None,
            **criteria,
        )

    def set_filters(self, filters: FilterSet) -> None:
        """Show `filters` in the widgets (one change notification for the whole set)."""
        c = filters.criteria
        unknown = [k for k in c if k not in (*self.account_widgets, "account_name", "contact_id", *_INVITATION)]
        if unknown:
            raise HeatmapError(f"the panel has no widget for {', '.join(unknown)}; use FilterSet in code for those")
        with self.hold():
            self.by.value = "Dates" if (filters.start or filters.end) else "Waves"
            for key, widget in self.account_widgets.items():
                widget.value = tuple(v for v in c.get(key, ()) if v in widget.options)
            self.accounts.value = list(c.get("account_name", ()))
            self.contacts.value = list(c.get("contact_id", ()))
            self.role.value = tuple(v for v in c.get("role", ()) if v in dict(self.role.options).values())
            self.questionnaire.value = tuple(v for v in c.get("questionnaire", ()) if v in self.questionnaire.options)
            self.wave.value = tuple(v for v in c.get("wave", ()) if v in self.wave.options)
            self.start.value, self.end.value = filters.start, filters.end

    def _set(self, **values: Any) -> None:
        self.set_filters(self.filters.replace(**values))

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Change several widgets with one notification at the end."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1
            if not self._suspended and self._pending:
                self._pending = False
                self._notify()

    def on_change(self, callback: Callable[[FilterSet], None]) -> None:
        """Call `callback(filters)` whenever the panel's filter set changes."""
        self._callbacks.append(callback)

    def _changed(self, change: dict) -> None:
        if self._suspended:
            self._pending = True
            return
        self._notify()

    def _notify(self) -> None:
        problem = self._date_problem()
        self.date_message.value = _error_html(problem) if problem else ""
        if problem:  # the chart keeps showing the last valid filters until the range makes sense
            return
        try:
            fs = self.filters
        except HeatmapError as exc:
            self.say(str(exc), error=True)
            return
        for callback in self._callbacks:
            callback(fs)

    def _date_problem(self) -> str | None:
        """Why the start/end dates cannot be used, in words (None when they can)."""
        start, end = self.start.value, self.end.value
        if self.by.value == "Dates" and start and end and start > end:
            return f"The end date ({end:%d %b %Y}) is before the start date ({start:%d %b %Y}): pick a later end."
        return None

    # -- saved filter sets ---------------------------------------------------------------------------------------
    def _saved_names(self) -> list[str]:
        return self.library.names() if self.library else []

    def save(self, name: str) -> None:
        """Save the current filters under `name` in the library."""
        if not self.library:
            self._saved_say("No filter-set folder configured; pass library= to save.", error=True)
            return
        try:
            path = self.library.save(self.filters, name=name.strip())
        except HeatmapError as exc:
            self._saved_say(str(exc), error=True)
            return
        with self.hold():  # listing the new name must not load it again
            self.saved.options = self._saved_names()
            self._picking = True
            try:
                self.saved.value = path.stem
            finally:
                self._picking = False
        self._saved_say(f"Saved filter set {path.stem}.")

    def _load_selected(self) -> None:
        if self.saved.value and not self._picking:
            self.load(self.saved.value)

    def load(self, name: str) -> None:
        """Load the saved filter set `name` into the widgets."""
        if not self.library:
            return
        try:
            fs = self.library.load(name)
            self.set_filters(fs)
            if self.saved.value != name and name in self.saved.options:
                self._picking = True
                try:
                    self.saved.value = name
                finally:
                    self._picking = False
        except HeatmapError as exc:
            self._saved_say(f"Filter set {name} not loaded: {exc}", error=True)
            return
        self._saved_say(f"Loaded filter set {name}: {fs.describe()}.")

    def clear(self) -> None:
        """Clear every filter (all data)."""
        self._picking = True
        try:
            self.saved.value = None
        finally:
            self._picking = False
        self.saved_message.value = ""
        self.set_filters(FilterSet())

    def say(self, message: str, error: bool = False) -> None:
        """Show a short message under the panel (already escaped HTML; an error is plain text and escaped here)."""
        self.message.value = _error_html(message) if error else f'<span style="color:#333">{message}</span>'

    def _saved_say(self, text: str, error: bool = False) -> None:
        """Say what saving or loading a filter set did, next to the saved-set widgets (plain text)."""
        self.saved_message.value = (
            _error_html(text) if error else f'<span style="color:#1b5e20">{html.escape(text)}</span>'
        )


def _error_html(text: str) -> str:
    """An error in words, in red, escaped."""
    return f'<span style="color:#b00020">⚠ {html.escape(text)}</span>'


_INVITATION = ("role", "questionnaire", "wave")
# Where a clicked account's X-Ray opens: "side", its own JupyterLab area split to the right of the notebook (the
# chart stays in view at any width); "beside", next to the chart in the cell's output (wraps below on a narrow
# page; for front ends other than JupyterLab).
XRAY_AREAS = ("side", "beside")


def _wrap() -> w.Layout:
    """A row that wraps onto the next line when the notebook is narrow (e.g. with the X-Ray open beside it)."""
    return w.Layout(flex_flow="row wrap")


# Page style the panel carries with it (a <style> in an HTML widget applies; no script runs).
_STYLE = "<style>.hm-wrap-label { white-space: normal; line-height: 1.3; padding: 4px 8px; }</style>"


def _button() -> w.Layout:
    """A button as wide as its label, never squeezed into "..." by a narrow row."""
    return w.Layout(width="auto", flex="0 0 auto")


class Dashboard:
    """The Customer Heat Map in a live kernel: filter panel, bubble chart, account table, not-surveyed list.

    Wave over wave: when the filters select exactly one wave, the chart shows each account's trail since the
    wave chosen in "Compare to" (default: the wave sent before); "Trails" shows or hides them and "Only accounts
    that moved" keeps the accounts whose band changed or whose NPS change is real, in the chart and the table.

    Speed (issue 3: a filter change at 10k accounts and 1M invitations updates the chart and table in under
    100 ms): the figures come from a `metrics.LiveSummary`, which keeps what no filter changes (the accounts, each
    filter set's scope and compiled query, the waves' order) and runs one engine query per change, the wave
    comparison included; nothing derived from the data in scope or the thresholds is kept, so `summary` and
    `blind_spots` always equal `account_summary` and `not_surveyed` for the panel's filters and `thresholds`.
    `movement` holds the comparison's `metrics.MOVEMENT_VIEW_COLUMNS` (those the trails and the movers-only toggle
    read; `waves.compare_waves` has them all). `last_refresh_s` is the time the last change took.

    Hover: with a `usage_events` table each bubble's hover adds the account's usage health (`chart.usage_hover`:
    active users of seats and their trend, last activity), from `health.health_summary` computed once, when the
    dashboard is built, over the dataset's default window (the 28 days up to the latest event). Usage figures are
    per account and no survey filter applies to them (DESIGN.md section 6, docs/decisions.md), so a filter
    change only looks them up. `extra_hover` adds further lines the same way (`chart.hover_lines`).

    Plays: with a `workspace` (the actions store's folder, `plays.PlayStore`) the hover adds each account's open
    plays ("2 open (1 overdue)"), the X-Ray of a clicked account shows its plays and suggested plays (rules from
    `play_rules`, default params/play_rules.yaml), and a form under it records, adopts and closes plays; the hover
    follows each change.
    """

    def __init__(
        self,
        dataset: Any,
        filters: FilterSet | None = None,
        *,
        library: FilterLibrary | str | Path | None = None,
        log_x: bool = False,
        red_below: float | None = None,
        green_above: float | None = None,
        xray_href: str | None = None,
        on_select: Callable[[str], None] | None = None,
        compare_to: str | None = None,
        renewal_weights: str | Path | None = None,
        usage_hover: bool = True,
        extra_hover: Any = None,
        workspace: str | Path | None = None,
        play_rules: Any = True,
        xray_area: str = "beside",
        currency: str | None = None,
    ) -> None:
        from heatmap_lib.views.chart import bubble_chart, hover_lines

        if xray_area not in XRAY_AREAS:
            raise HeatmapError(f"xray_area must be one of {', '.join(XRAY_AREAS)}, not {xray_area!r}")
        self.xray_area = xray_area
        self._sidecar: Any = None
        from heatmap_lib.metrics.live_summary import LiveSummary
        from heatmap_lib.metrics.summary import quadrant_guides
        from heatmap_lib.views.table import account_table, not_surveyed_table

        self.dataset = dataset
        self.live = LiveSummary(dataset)
        self.thresholds: dict[str, Any] = {"red_below": red_below, "green_above": green_above}
        self.renewal_weights = renewal_weights  # adds the renewal drivers to the X-Ray of a clicked account
        self.panel = FilterPanel(dataset, library)
        self._base_hover = hover_lines(self._usage_hover() if usage_hover else None, extra_hover)
        self.play_form: Any = None
        self.play_rules = play_rules
        if workspace is not None:
            from heatmap_lib.live.play_form import PlayForm

            self.play_form = PlayForm(workspace, on_change=lambda _: self._plays_changed())
            self.play_form.store.check_dataset(dataset)  # another dataset's plays never show on these accounts
        self.extra_hover = hover_lines(self._base_hover, self._plays_hover())
        self.on_select = on_select
        self.last_refresh_s = 0.0
        waves = self.live.wave_order(self.live.scope(FilterSet()))  # = wave_order(dataset), kept for the panel
        # "" (not None) stands for the default, so the dropdown shows it: a None value shows an empty box
        self.compare_to = w.Dropdown(
            options=[("the wave before (default)", ""), *((v, v) for v in waves)],
            value=compare_to if compare_to in waves else "",
            description="Compare to",
            style={"description_width": "initial"},
        )
        self.show_trails = w.Checkbox(value=True, description="Trails", indent=False, layout=w.Layout(width="90px"))
        self.movers_only = w.Checkbox(
            value=False,
            description="Only accounts that moved (band changed or real NPS change)",
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self.movement_note = w.HTML()
        self._open_notes: dict[tuple[str, str], str] = {}  # (wave, compared wave) -> the open-wave warning
        self.movement: pd.DataFrame | None = None
        if filters is not None:
            with self.panel.hold():
                self.panel.set_filters(filters)
        self.summary, self.blind_spots = self._compute(self.panel.filters)
        shown = self._shown()
        self.chart = bubble_chart(
            shown,
            log_x=log_x,
            guides=quadrant_guides(self.summary),
            movement=_or_empty(self.movement),
            extra_hover=self.extra_hover,
            currency=currency,
            texts_in_browser=True,  # the hover's band, NPS and rate lines: no text per account on a filter change
        )
        self.table = account_table(shown, xray_href=xray_href, static_texts=True)  # texts sent once (docs/live.md)
        self.blind_table = not_surveyed_table(self.blind_spots)
        from heatmap_lib.live.panel_export import ExportPanel

        self.exports = ExportPanel(self)  # the chart and the table as shown, as downloads
        self.xray_output = w.HTML()
        self.xray_account: str | None = None
        self.xray_close = w.Button(description="Close", icon="times", layout=w.Layout(width="90px"))
        self.xray_close.on_click(lambda _: self.close_xray())
        fixed = w.Layout(flex="0 0 auto")  # the panel scrolls; its parts keep their height
        header = w.HBox(
            [w.HTML("<b>Account X-Ray</b>"), self.xray_close],
            layout=w.Layout(justify_content="space-between", flex="0 0 auto"),
        )
        self.xray_output.layout = fixed
        xray_parts: list[w.Widget] = [header, self.xray_output]
        if self.play_form is not None:
            form = self.play_form.widget()
            form.layout.flex = "0 0 auto"
            xray_parts.append(form)
        # hidden until an account is picked; in its own area it fills it, beside the chart it scrolls on its own
        look = (
            {"width": "100%", "padding": "4px 8px"}
            if xray_area == "side"
            else {
                "width": "540px",
                "max_height": "900px",
                "overflow": "auto",
                "border": "1px solid #dddddd",
                "padding": "4px 8px",
                "margin": "0 0 0 12px",
            }
        )
        self.xray_panel = w.VBox(xray_parts, layout=w.Layout(display="none", **look))
        self.chart.source.selected.on_change("indices", self._selected_bubble)
        self.table.source.selected.on_change("indices", self._selected_row)
        self.panel.on_change(lambda fs: self.refresh(fs))
        self.compare_to.observe(lambda _: self.refresh(), "value")
        self.movers_only.observe(lambda _: self._render(), "value")
        self.show_trails.observe(self._toggle_trails, "value")
        self._show_counts()

    @property
    def filters(self) -> FilterSet:
        """The filter set the dashboard shows now."""
        return self.panel.filters

    @property
    def compared_wave(self) -> str | None:
        """The wave picked in "Compare to" (None: the wave before the one selected)."""
        return self.compare_to.value or None

    def _plays_hover(self) -> Mapping[str, pd.Series] | None:
        """The "Open plays" hover line per account, from the store (None without a workspace)."""
        if self.play_form is None:
            return None
        from heatmap_lib.data.plays import play_hover_text

        return {"Open plays": play_hover_text(self.play_form.store.frame(status=OPEN_STATUSES))}

    def _plays_changed(self) -> None:
        """A play was recorded or closed: refresh the hover's open-plays line (no query of the survey data)."""
        from heatmap_lib.metrics.summary import quadrant_guides
        from heatmap_lib.views.chart import hover_lines, update_chart

        self.extra_hover = hover_lines(self._base_hover, self._plays_hover())
        shown = self._shown()
        update_chart(
            self.chart,
            shown,
            guides=quadrant_guides(self.summary),
            movement=self.movement,
            extra_hover=self.extra_hover,
        )
        if self.xray_account is not None:  # its plays and suggested plays follow the store at once
            self._show_xray(self.xray_account)

    def _usage_hover(self) -> pd.DataFrame | None:
        """Each account's usage hover lines, from one health table (None without usage events)."""
        if not self.dataset.has("usage_events"):
            return None
        from heatmap_lib.metrics.health import health_summary
        from heatmap_lib.views.chart import usage_hover

        try:
            return usage_hover(health_summary(self.dataset))
        except HeatmapError as exc:
            self.panel.say(f"No usage health in the hover: {exc}", error=True)
            return None

    def _compute(self, fs: FilterSet) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The summary and the not-surveyed list for `fs`; sets `movement` and the notes (one engine query)."""
        import warnings

        from heatmap_lib.core.exceptions import FilterWarning
        from heatmap_lib.metrics.waves import describe_moves, resolve_waves

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FilterWarning)  # shown under the panel instead
            sc = self.live.scope(fs)  # once: the summary, the blind spots and the comparison share it
        notes = list(sc.warnings)
        red_below, green_above = self.thresholds.get("red_below"), self.thresholds.get("green_above")
        named = sc.filters.criteria.get("wave", ())
        tables = None
        if len(named) != 1:
            note = "<i>Select one wave to see where each account moved since another.</i>"
        else:  # the one wave in scope compared with the chosen wave, or a note saying why not
            try:
                order = self.live.wave_order(sc)
                wave, compare_to = resolve_waves(self.dataset, named[0], self.compared_wave, scoped=sc, order=order)
            except HeatmapError as exc:
                note = f"<i>{html.escape(str(exc))}</i>"
            else:
                tables = self.live.compare(  # only the columns the views read
                    sc, wave, compare_to, red_below=red_below, green_above=green_above, full=False
                )
                c = dict(tables.move_counts or {})
                note = (
                    f"<b>{html.escape(wave)}</b> compared with <b>{html.escape(compare_to)}</b>: "
                    + describe_moves(c)
                    + f"; {c.get('new', 0):,} new, {c.get('dropped', 0):,} not surveyed again."
                    + self._open_waves_note(wave, compare_to)
                )
        if tables is None:
            tables = self.live.tables(sc, red_below=red_below, green_above=green_above)
        self.panel.message.value = "".join(f"<div>⚠ {html.escape(n)}</div>" for n in notes)
        self.movement_note.value = note
        self.movement = tables.movement
        return tables.summary, tables.blind_spots

    def _open_waves_note(self, wave: str, compare_to: str) -> str:
        """The snapshot's warning when a compared wave is still collecting answers, as HTML; once per pair of waves."""
        from heatmap_lib.metrics.waves import open_waves_note

        key = (wave, compare_to)
        if key not in self._open_notes:
            said = open_waves_note(self.dataset, [wave, compare_to])
            self._open_notes[key] = f"<br><i>\u26a0 {html.escape(said)}</i>" if said else ""
        return self._open_notes[key]

    def _shown(self) -> pd.DataFrame:
        """The summary as drawn: only the accounts that moved when that box is ticked and waves are compared."""
        if not self.movers_only.value or self.movement is None:
            return self.summary
        moved = set(self.movement.loc[self.movement["moved"], "account_id"].astype(str))
        shown = self.summary[self.summary["account_id"].astype(str).isin(moved)]
        shown.attrs = dict(self.summary.attrs)
        return shown

    def _render(self) -> None:
        """Redraw chart and table from the computed summary and comparison (no query)."""
        from heatmap_lib.metrics.summary import quadrant_guides
        from heatmap_lib.views.chart import update_chart
        from heatmap_lib.views.table import update_table

        shown = self._shown()
        update_table(self.table, shown)  # first: its patch is small (numbers only), the chart's is not
        update_chart(self.chart, shown, guides=quadrant_guides(self.summary), movement=self.movement)

    def _toggle_trails(self, change: dict) -> None:
        for renderer in self.chart.trails:
            renderer.visible = bool(change["new"])
        if self.chart.trail_legend is not None:
            self.chart.trail_legend.visible = bool(change["new"])

    def refresh(self, filters: FilterSet | None = None) -> None:
        """Recompute for `filters` (default: the panel's) and update chart and table in place."""
        from heatmap_lib.views.table import update_not_surveyed

        start = time.perf_counter()
        fs = filters or self.panel.filters
        try:
            self.summary, self.blind_spots = self._compute(fs)
        except HeatmapError as exc:
            self.panel.say(str(exc), error=True)
            return
        self._render()
        update_not_surveyed(self.blind_table, self.blind_spots)
        self._show_counts()
        if self.xray_account is not None:  # the open X-Ray follows the filters
            self._show_xray(self.xray_account)
        self.last_refresh_s = time.perf_counter() - start

    def _show_counts(self) -> None:
        # a contact belongs to one account, so per-account counts add up to the scope's totals
        s = self.summary

        def count(n: int, noun: str) -> str:
            return plural(n, noun).replace(f"{n:,}", f"<b>{n:,}</b>", 1)

        self.panel.counts.value = (
            f"{count(len(s) + len(self.blind_spots), 'account')} in scope, <b>{len(s):,}</b> surveyed; "
            f"{count(int(s['contacts_invited'].sum()), 'contact')} invited; "
            f"{count(int(s['invitations'].sum()), 'invitation')}, {count(int(s['responses'].sum()), 'response')}"
        )

    def _selected_bubble(self, attr: str, old: list[int], new: list[int]) -> None:
        if not new:
            return
        top = self.top_bubble(new)
        if len(new) > 1:  # keep only the bubble the click was meant for selected (this calls back once more)
            self.chart.source.selected.indices = [top]
            return
        account_id = str(self.chart.source.data["account_id"][top])
        if account_id != self.xray_account:
            self.open_xray(account_id)

    def top_bubble(self, indices: list[int]) -> int:
        """Of the bubbles under a click, the one drawn on top: the last row (the hover shows the same one).

        One renderer draws the rows in order (`chart.draw_order`): bands green, yellow, red, gray (so gray lies
        over red over the rest), and within a band largest first, so the later row is the bubble on top.
        """
        return max(indices)

    def _selected_row(self, attr: str, old: list[int], new: list[int]) -> None:
        if new:
            self.open_xray(str(self.table.data["account_id"][new[0]]))

    def close_xray(self) -> None:
        """Close the X-Ray panel (and its JupyterLab area) and clear the chart's selection."""
        self.xray_account = None
        self.xray_panel.layout.display = "none"
        self.xray_output.value = ""
        if self._sidecar is not None:
            self._sidecar.close()
            self._sidecar = None
        self.chart.source.selected.indices = []

    def _side_area(self) -> None:
        """Open the X-Ray's own JupyterLab area, split to the right of the notebook, once (xray_area="side")."""
        if self.xray_area != "side" or self._sidecar is not None:
            return
        from sidecar import Sidecar

        self._sidecar = Sidecar(title="Account X-Ray", anchor="split-right")
        self._sidecar.append_display_data(self.xray_panel)

    def open_xray(self, account_id: str) -> None:
        """Show the account's X-Ray beside the chart (what a click on a bubble or a table row does)."""
        self.xray_account = account_id
        if self.on_select:
            self.on_select(account_id)
        self._show_xray(account_id)

    def _show_xray(self, account_id: str) -> None:
        """Compute and show the X-Ray of `account_id` for the panel's filters, with its play form."""
        from heatmap_lib.metrics.xray import xray
        from heatmap_lib.views.xray_view import CSS, xray_fragment

        self.xray_panel.layout.display = None
        self._side_area()
        try:
            t = self.thresholds
            x = xray(
                self.dataset,
                account_id,
                self.panel.filters,
                red_below=t["red_below"],
                green_above=t["green_above"],
                compare_to=self.compared_wave,
                renewal_weights=self.renewal_weights,
                plays=None if self.play_form is None else self.play_form.store,
                play_rules=None if self.play_form is None else self.play_rules,
            )
        except HeatmapError as exc:
            self.xray_output.value = _error_html(f"No X-Ray for account {account_id}: {exc}")
            return
        self.xray_output.value = f"<style>{CSS}</style>{xray_fragment(x)}"
        if self.play_form is not None:
            self.play_form.show(account_id, str(x.account.get("account_name", "")), x.suggested)

    def widget(self) -> w.Widget:
        """The whole dashboard as one ipywidget (the Bokeh parts through jupyter_bokeh)."""
        from bokeh.layouts import column
        from jupyter_bokeh import BokehModel

        from heatmap_lib.views.table import live_sort_ready

        layout = column(self.chart.figure, self.chart.size_key, self.table.table, self.blind_table.table)
        bokeh = BokehModel(no_patch_echo(live_sort_ready(layout, self.table, self.blind_table)))  # seed 000's sort
        hint = w.VBox(
            [
                w.HTML("<i>Click a bubble or a table row to open that account's X-Ray beside the chart.</i>"),
                self.exports.widget(),
            ]
        )
        movement = w.VBox(
            [
                w.HTML("<b>Wave over wave</b>"),
                w.HBox([self.compare_to, self.show_trails, self.movers_only], layout=_wrap()),
                self.movement_note,
            ]
        )
        if self.xray_area == "side":  # the X-Ray opens in its own JupyterLab area (see `_side_area`)
            return w.VBox([self.panel.layout(), movement, hint, bokeh])
        body = w.HBox(
            [w.VBox([hint, bokeh]), self.xray_panel], layout=w.Layout(flex_flow="row wrap", align_items="flex-start")
        )
        return w.VBox([self.panel.layout(), movement, body])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget())


def no_patch_echo(root: Any) -> Any:
    """Make the page send the kernel only the changes it made itself, not the kernel's own patches back; returns `root`.

    For a layout in a document embedded by jupyter_bokeh (`live_sort_ready` puts it in one): see
    templates/js/no_patch_echo.js and docs/live.md (a filter change at 10k accounts sent MBs back).
    """
    from bokeh.models import CustomJS

    from heatmap_lib.views.offline import script

    root.document.js_on_event("document_ready", CustomJS(args={"root": root}, code=script("no_patch_echo.js")))
    return root


def live_dashboard(
    data: Any,
    filters: Any = None,
    *,
    segment_by: str | None = None,
    segment: Any = None,
    library: FilterLibrary | str | Path | None = None,
    log_x: bool = False,
    red_below: float | None = None,
    green_above: float | None = None,
    xray_href: str | None = None,
    on_select: Callable[[str], None] | None = None,
    wave: str | None = None,
    compare_to: str | None = None,
    renewal_weights: str | Path | None = None,
    extra_hover: Any = None,
    workspace: str | Path | None = None,
    play_rules: Any = True,
    xray_area: str = "side",
    currency: str | None = None,
) -> Dashboard:
    """The dashboard as a notebook opens it: BokehJS loaded inline (offline-safe), data opened, filters applied.

    `wave` selects that wave in the panel (so the chart shows trails since `compare_to`, default the wave before).
    `extra_hover` adds hover lines per account (`chart.hover_lines`) after the usage health lines; `workspace`
    adds the plays (see `Dashboard`); `xray_area` says where a clicked account's X-Ray opens (`XRAY_AREAS`);
    `currency` ("USD") names the account values' currency on the chart's value axis and in its hover.
    """
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    from heatmap_lib.data.prepared import open_data
    from heatmap_lib.reports.snapshot import report_filters

    # DESIGN.md section 11: the CDN default never loads offline, and jupyter_bokeh needs BokehJS loaded first
    output_notebook(INLINE, hide_banner=True)
    return Dashboard(
        open_data(data),
        report_filters(filters, segment_by, segment, wave),
        library=library,
        log_x=log_x,
        red_below=red_below,
        green_above=green_above,
        xray_href=xray_href,
        on_select=on_select,
        compare_to=compare_to,
        renewal_weights=renewal_weights,
        extra_hover=extra_hover,
        workspace=workspace,
        play_rules=play_rules,
        xray_area=xray_area,
        currency=currency,
    )


def _or_empty(movement: pd.DataFrame | None) -> pd.DataFrame:
    """A comparison, or an empty frame: the chart is built with its trail layer either way."""
    return movement if movement is not None else pd.DataFrame()
