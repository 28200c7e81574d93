"""A small ipywidgets form that records a play on the selected account, with one-click suggested plays.

Shown under the X-Ray in the live heat map and in the X-Ray notebook. It writes to the workspace's actions
store (`plays.PlayStore`); batch snapshots show the same plays read-only.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.data.plays import OPEN, PLAY_TYPES, STATUSES, PlayStore, play_label
from heatmap_lib.views.xray_view import CSS, plays_section

DEFAULT_DUE_DAYS = 14


class PlayForm:
    """Record, adopt and update the plays of one account at a time (call `show(account_id)` to pick it)."""

    def __init__(
        self,
        store: PlayStore | str | Path | None = None,
        *,
        owner: str = "",
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store if isinstance(store, PlayStore) else PlayStore(store)
        self.on_change = on_change
        self.account_id: str | None = None
        self.title = w.HTML("<b>Plays</b>: select an account (click a bubble or a table row).")
        self.suggested = w.HBox([], layout=w.Layout(flex_flow="row wrap"))
        self.play = w.Combobox(
            options=list(PLAY_TYPES),
            placeholder="a play, or type your own",
            description="Play",
            ensure_option=False,
        )
        self.owner = w.Text(value=owner, description="Owner", placeholder="who does it")
        self.due = w.DatePicker(description="Due", value=dt.date.today() + dt.timedelta(days=DEFAULT_DUE_DAYS))
        self.notes = w.Textarea(description="Notes", placeholder="what and why", layout=w.Layout(width="480px"))
        self.record_button = w.Button(description="Record play", button_style="primary", icon="plus")
        self.record_button.on_click(lambda _: self.record())
        self.pick = w.Dropdown(description="Play", options=[])
        self.status = w.Dropdown(description="Status", options=list(STATUSES), value="done")
        self.update_button = w.Button(description="Update status")
        self.update_button.on_click(lambda _: self.update_status())
        self.message = w.HTML()
        self.listing = w.HTML()
        self._suggested_by = ""
        self._button_play: dict[str, str] = {}  # each "Adopt" button's play, to drop it once that play is open
        self._enable(False)

    # -- showing an account ----------------------------------------------------------------------------------
    def show(self, account_id: str, account_name: str = "", suggested: pd.DataFrame | None = None) -> None:
        """Point the form at an account: its name, its suggested plays (one click adopts) and its plays."""
        if str(account_id) != self.account_id:
            self.message.value = ""  # what the form said was about another account
        self.account_id = str(account_id)
        name = html.escape(account_name or self.account_id)
        self.title.value = f"<b>Plays for {name}</b> <small>({html.escape(self.account_id)})</small>"
        buttons = []
        for r in (suggested if suggested is not None else pd.DataFrame()).to_dict(orient="records"):
            if r.get("open_already"):
                continue
            b = w.Button(
                description=f"Adopt: {play_label(str(r['play']))}",
                tooltip=str(r.get("why") or r.get("rule") or ""),
                layout=w.Layout(width="auto"),
            )
            b.on_click(self._adopter(str(r["play"]), str(r.get("rule") or "")))
            self._button_play[b.model_id] = str(r["play"])
            buttons.append(b)
        self.suggested.children = [w.HTML("<i>Suggested:</i>&nbsp;"), *buttons] if buttons else []
        self._enable(True)
        self._refresh_list()

    def _adopter(self, play: str, rule: str) -> Callable[[Any], None]:
        def click(_: Any) -> None:
            self.adopt(play, rule)

        return click

    def _enable(self, on: bool) -> None:
        for widget in (self.play, self.owner, self.due, self.notes, self.record_button):
            widget.disabled = not on

    def _refresh_list(self) -> None:
        if self.account_id is None:
            return
        plays = self.store.frame([self.account_id])
        self.listing.value = f'<style>{CSS}</style><div class="hx-xray">{plays_section(plays)}</div>'
        live = plays[plays["status"].isin(OPEN)]
        self.pick.options = [
            (f"{play_label(str(r['play']))} ({r['owner']}, {r['status']})", str(r["play_id"]))
            for r in live.to_dict(orient="records")
        ]
        self.update_button.disabled = self.pick.disabled = self.status.disabled = not len(live)

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self.message.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    # -- writing ---------------------------------------------------------------------------------------------
    def record(self) -> str | None:
        """Record the play the form describes on the selected account; return its play_id (None on an error)."""
        if self.account_id is None:
            self._say("Select an account first.", error=True)
            return None
        play = self.play.value.strip()
        same = self.store.frame([self.account_id], status=OPEN)
        same = same[same["play"] == play]
        if len(same):  # a second open copy of one play is a double click, not a plan: refuse it
            r = same.iloc[0]
            self._say(
                f"{play_label(play)} is already open for this account ({r['play_id']}, {r['owner']}, due "
                f"{r['due_date']}): update that one below rather than recording it twice.",
                error=True,
            )
            return None
        try:
            pid = self.store.add(
                self.account_id,
                play,
                self.owner.value.strip(),
                due=self.due.value,
                notes=self.notes.value,
                suggested_by=self._suggested_by,
            )
        except HeatmapError as exc:
            self._say(str(exc), error=True)
            return None
        self._say(f"Recorded {play_label(play)} ({pid}).")
        self.play.value, self.notes.value, self._suggested_by = "", "", ""
        buttons = [b for b in self.suggested.children[1:] if self._button_play.get(b.model_id) != play]
        self.suggested.children = [self.suggested.children[0], *buttons] if buttons else []
        self._refresh_list()
        if self.on_change:
            self.on_change(self.account_id)
        return pid

    def adopt(self, play: str, rule: str = "") -> str | None:
        """Record a suggested play in one click (owner and due date from the form)."""
        self.play.value = play
        self._suggested_by = rule
        if not self.owner.value.strip():
            self._say("Say who owns it (Owner), then adopt again.", error=True)
            return None
        return self.record()

    def update_status(self) -> None:
        """Set the status of the play picked in the list (closing it stamps today's date)."""
        if not self.pick.value:
            return
        try:
            row = self.store.update(self.pick.value, status=self.status.value)
        except HeatmapError as exc:
            self._say(str(exc), error=True)
            return
        self._say(f"{play_label(row['play'])}: {row['status'].replace('_', ' ')}.")
        self._refresh_list()
        if self.on_change and self.account_id:
            self.on_change(self.account_id)

    def widget(self) -> w.Widget:
        """The form as one widget."""
        record = w.VBox([self.play, self.owner, self.due, self.notes, self.record_button])
        update = w.HBox([self.pick, self.status, self.update_button])
        return w.VBox([self.title, self.suggested, record, self.message, self.listing, update])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget())
