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

from .exceptions import HeatmapError
from .filters import FilterLibrary, FilterSet
from .plays import OPEN as OPEN_STATUSES
from .schema import ROLE_LABELS, ROLES

ACCOUNT_KEYS = ("tier", "region", "industry", "sales_rep", "account_manager")
LEADERS = ("decision_maker", "influencer")
MAX_TAGS = 20_000  # above this many accounts, the account box accepts free text instead of a fixed list


def _multi(description: str, options: list[tuple[str, str]] | list[str], rows: int = 4) -> w.SelectMultiple:
    return w.SelectMultiple(
        options=options,
        description=description,
        rows=min(max(len(options), 2), rows),
        layout=w.Layout(width="260px"),
        style={"description_width": "110px"},
    )


class FilterPanel:
    """ipywidgets for every filter of DESIGN.md section 5, mapped to a FilterSet and back."""

    def __init__(self, dataset: Any, library: FilterLibrary | str | Path | None = None) -> None:
        self.dataset = dataset
        self.library = FilterLibrary(library) if isinstance(library, str | Path) else library
        self._callbacks: list[Callable[[FilterSet], None]] = []
        self._suspended = 0
        self._pending = False
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
        self.leaders_only = w.Button(description="Decision makers and influencers only", layout=w.Layout(width="260px"))
        self.questionnaire = _multi("Questionnaire", list(values("invitation_facts", "questionnaire")))
        self.by = w.ToggleButtons(options=["Waves", "Dates"], value="Waves", style={"button_width": "80px"})
        self.wave = _multi("Wave", list(values("invitation_facts", "wave")))
        self.start = w.DatePicker(description="Start", style={"description_width": "110px"})
        self.end = w.DatePicker(description="End", style={"description_width": "110px"})
        self.saved = w.Dropdown(options=self._saved_names(), description="Filter set", value=None)
        self.name = w.Text(placeholder="name to save as", layout=w.Layout(width="180px"))
        self.save_button = w.Button(description="Save", icon="save", layout=w.Layout(width="80px"))
        self.load_button = w.Button(description="Load", icon="folder-open", layout=w.Layout(width="80px"))
        self.clear_button = w.Button(description="Clear", icon="eraser", layout=w.Layout(width="80px"))
        self.message = w.HTML()
        self.counts = w.HTML()
        self.leaders_only.on_click(lambda _: self._set(role=list(LEADERS)))
        self.save_button.on_click(lambda _: self.save(self.name.value))
        self.load_button.on_click(lambda _: self._load_selected())
        self.clear_button.on_click(lambda _: self.clear())
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
        accounts = w.VBox(
            [w.HTML("<b>Accounts</b>"), self.accounts, w.HBox(list(self.account_widgets.values()), layout=_wrap())]
        )
        contacts = w.VBox([w.HTML("<b>Contacts</b>"), w.HBox([self.role, w.VBox([self.leaders_only, self.contacts])])])
        dates = w.HBox([self.start, self.end])
        questionnaires = w.VBox(
            [w.HTML("<b>Questionnaires</b>"), w.HBox([self.questionnaire, w.VBox([self.by, self.wave, dates])])]
        )
        saved = w.HBox([self.saved, self.load_button, self.name, self.save_button, self.clear_button])
        return w.VBox([accounts, contacts, questionnaires, saved, self.counts, self.message])

    def _switch_mode(self, *_: Any) -> None:
        dates = self.by.value == "Dates"
        self.wave.layout.display = "none" if dates else None
        self.start.layout.display = self.end.layout.display = None if dates else "none"
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
        fs = self.filters
        for callback in self._callbacks:
            callback(fs)

    # -- saved filter sets ---------------------------------------------------------------------------------------
    def _saved_names(self) -> list[str]:
        return self.library.names() if self.library else []

    def save(self, name: str) -> None:
        """Save the current filters under `name` in the library."""
        if not self.library:
            self.say("No filter-set folder configured; pass library= to save.", error=True)
            return
        try:
            path = self.library.save(self.filters, name=name.strip())
        except HeatmapError as exc:
            self.say(str(exc), error=True)
            return
        self.saved.options = self._saved_names()
        self.say(f"Saved filter set {html.escape(path.stem)}.")

    def _load_selected(self) -> None:
        if self.saved.value:
            self.load(self.saved.value)

    def load(self, name: str) -> None:
        """Load the saved filter set `name` into the widgets."""
        if not self.library:
            return
        try:
            fs = self.library.load(name)
            self.set_filters(fs)
        except HeatmapError as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"Loaded filter set {html.escape(name)}: {html.escape(fs.describe())}.")

    def clear(self) -> None:
        """Clear every filter (all data)."""
        self.saved.value = None
        self.set_filters(FilterSet())

    def say(self, message: str, error: bool = False) -> None:
        """Show a short message under the panel (already escaped HTML)."""
        colour = "#b00020" if error else "#333"
        self.message.value = f'<span style="color:{colour}">{message if not error else html.escape(message)}</span>'


_INVITATION = ("role", "questionnaire", "wave")


def _wrap() -> w.Layout:
    return w.Layout(flex_flow="row wrap")


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
    ) -> None:
        from .chart import bubble_chart, hover_lines
        from .metrics import LiveSummary, quadrant_guides
        from .table import account_table, not_surveyed_table

        self.dataset = dataset
        self.live = LiveSummary(dataset)
        self.thresholds: dict[str, Any] = {"red_below": red_below, "green_above": green_above}
        self.renewal_weights = renewal_weights  # adds the renewal drivers to the X-Ray of a clicked account
        self.panel = FilterPanel(dataset, library)
        self._base_hover = hover_lines(self._usage_hover() if usage_hover else None, extra_hover)
        self.play_form: Any = None
        self.play_rules = play_rules
        if workspace is not None:
            from .play_form import PlayForm

            self.play_form = PlayForm(workspace, on_change=lambda _: self._plays_changed())
            self.play_form.store.check_dataset(dataset)  # another dataset's plays never show on these accounts
        self.extra_hover = hover_lines(self._base_hover, self._plays_hover())
        self.on_select = on_select
        self.last_refresh_s = 0.0
        waves = self.live.wave_order(self.live.scope(FilterSet()))  # = wave_order(dataset), kept for the panel
        self.compare_to = w.Dropdown(
            options=[("the wave before", None), *((v, v) for v in waves)],
            value=compare_to if compare_to in waves else None,
            description="Compare to",
            style={"description_width": "110px"},
        )
        self.show_trails = w.Checkbox(value=True, description="Trails", indent=False, layout=w.Layout(width="90px"))
        self.movers_only = w.Checkbox(
            value=False, description="Only accounts that moved (band changed or real NPS change)", indent=False
        )
        self.movement_note = w.HTML()
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
        )
        self.table = account_table(shown, xray_href=xray_href)
        self.blind_table = not_surveyed_table(self.blind_spots)
        self.xray_output = w.HTML()
        self.xray_account: str | None = None
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

    def _plays_hover(self) -> Mapping[str, pd.Series] | None:
        """The "Open plays" hover line per account, from the store (None without a workspace)."""
        if self.play_form is None:
            return None
        from .plays import play_hover_text

        return {"Open plays": play_hover_text(self.play_form.store.frame(status=OPEN_STATUSES))}

    def _plays_changed(self) -> None:
        """A play was recorded or closed: refresh the hover's open-plays line (no query of the survey data)."""
        from .chart import hover_lines, update_chart
        from .metrics import quadrant_guides

        self.extra_hover = hover_lines(self._base_hover, self._plays_hover())
        shown = self._shown()
        update_chart(
            self.chart,
            shown,
            guides=quadrant_guides(self.summary),
            movement=self.movement,
            extra_hover=self.extra_hover,
        )

    def _usage_hover(self) -> pd.DataFrame | None:
        """Each account's usage hover lines, from one health table (None without usage events)."""
        if not self.dataset.has("usage_events"):
            return None
        from .chart import usage_hover
        from .health import health_summary

        try:
            return usage_hover(health_summary(self.dataset))
        except HeatmapError as exc:
            self.panel.say(f"No usage health in the hover: {exc}", error=True)
            return None

    def _compute(self, fs: FilterSet) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The summary and the not-surveyed list for `fs`; sets `movement` and the notes (one engine query)."""
        import warnings

        from .exceptions import FilterWarning
        from .waves import describe_moves, resolve_waves

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
                wave, compare_to = resolve_waves(self.dataset, named[0], self.compare_to.value, scoped=sc, order=order)
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
                )
        if tables is None:
            tables = self.live.tables(sc, red_below=red_below, green_above=green_above)
        self.panel.message.value = "".join(f"<div>⚠ {html.escape(n)}</div>" for n in notes)
        self.movement_note.value = note
        self.movement = tables.movement
        return tables.summary, tables.blind_spots

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
        from .chart import update_chart
        from .metrics import quadrant_guides
        from .table import update_table

        shown = self._shown()
        update_chart(self.chart, shown, guides=quadrant_guides(self.summary), movement=self.movement)
        update_table(self.table, shown)

    def _toggle_trails(self, change: dict) -> None:
        for renderer in self.chart.trails:
            renderer.visible = bool(change["new"])
        if self.chart.trail_legend is not None:
            self.chart.trail_legend.visible = bool(change["new"])

    def refresh(self, filters: FilterSet | None = None) -> None:
        """Recompute for `filters` (default: the panel's) and update chart and table in place."""
        from .table import update_not_surveyed

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
        self.last_refresh_s = time.perf_counter() - start

    def _show_counts(self) -> None:
        # a contact belongs to one account, so per-account counts add up to the scope's totals
        s = self.summary
        self.panel.counts.value = (
            f"<b>{len(s) + len(self.blind_spots):,}</b> accounts in scope, <b>{len(s):,}</b> surveyed; "
            f"<b>{int(s['contacts_invited'].sum()):,}</b> contacts invited; "
            f"<b>{int(s['invitations'].sum()):,}</b> invitations, <b>{int(s['responses'].sum()):,}</b> responses"
        )

    def _selected_bubble(self, attr: str, old: list[int], new: list[int]) -> None:
        if new:
            self.open_xray(str(self.chart.source.data["account_id"][new[0]]))

    def _selected_row(self, attr: str, old: list[int], new: list[int]) -> None:
        if new:
            self.open_xray(str(self.table.source.data["account_id"][new[0]]))

    def open_xray(self, account_id: str) -> None:
        """Show the account's X-Ray under the dashboard (what a click on a bubble or a table row does)."""
        from .xray import xray
        from .xray_view import CSS, xray_fragment

        self.xray_account = account_id
        if self.on_select:
            self.on_select(account_id)
        try:
            t = self.thresholds
            x = xray(
                self.dataset,
                account_id,
                self.panel.filters,
                red_below=t["red_below"],
                green_above=t["green_above"],
                compare_to=self.compare_to.value,
                renewal_weights=self.renewal_weights,
                plays=None if self.play_form is None else self.play_form.store,
                play_rules=None if self.play_form is None else self.play_rules,
            )
        except HeatmapError as exc:
            self.panel.say(str(exc), error=True)
            return
        self.xray_output.value = f"<style>{CSS}</style>{xray_fragment(x)}"
        if self.play_form is not None:
            self.play_form.show(account_id, str(x.account.get("account_name", "")), x.suggested)

    def widget(self) -> w.Widget:
        """The whole dashboard as one ipywidget (the Bokeh parts through jupyter_bokeh)."""
        from bokeh.layouts import column
        from jupyter_bokeh import BokehModel

        bokeh = BokehModel(column(self.chart.figure, self.table.table, self.blind_table.table))
        hint = w.HTML("<i>Click a bubble or a table row to open that account's X-Ray below.</i>")
        movement = w.VBox(
            [
                w.HTML("<b>Wave over wave</b>"),
                w.HBox([self.compare_to, self.show_trails, self.movers_only]),
                self.movement_note,
            ]
        )
        parts = [self.panel.layout(), movement, bokeh, hint, self.xray_output]
        if self.play_form is not None:
            parts.append(self.play_form.widget())
        return w.VBox(parts)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget())


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
) -> Dashboard:
    """The dashboard as a notebook opens it: BokehJS loaded inline (offline-safe), data opened, filters applied.

    `wave` selects that wave in the panel (so the chart shows trails since `compare_to`, default the wave before).
    `extra_hover` adds hover lines per account (`chart.hover_lines`) after the usage health lines; `workspace`
    adds the plays (see `Dashboard`).
    """
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    from .report import open_data, report_filters

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
    )


def _or_empty(movement: pd.DataFrame | None) -> pd.DataFrame:
    """A comparison, or an empty frame: the chart is built with its trail layer either way."""
    return movement if movement is not None else pd.DataFrame()
