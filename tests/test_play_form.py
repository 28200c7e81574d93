"""The play form, driven from Python as a click would: it writes to a real actions store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from heatmap_lib.data.plays import PlayStore
from heatmap_lib.live.play_form import PlayForm


def test_record_adopt_and_close(tmp_path: Path) -> None:
    changed: list[str] = []
    form = PlayForm(tmp_path, on_change=changed.append)
    assert form.record_button.disabled and form.record() is None  # no account selected yet
    suggested = pd.DataFrame(
        [
            {"play": "executive_sponsor", "rule": "revenue at risk", "why": "w", "open_already": False},
            {"play": "recruit_decision_makers", "rule": "revenue at risk", "why": "w", "open_already": True},
        ]
    )
    form.show("A1", "Acme <script>", suggested)
    assert "Acme &lt;script&gt;" in form.title.value
    adopt = [b for b in form.suggested.children if getattr(b, "description", "").startswith("Adopt")]
    assert [b.description for b in adopt] == ["Adopt: Executive sponsor"]  # already-open ones are not offered

    adopt[0].click()  # no owner yet: refused, nothing written
    assert "Owner" in form.message.value and len(PlayStore(tmp_path)) == 0
    form.owner.value = "Dana"
    adopt[0].click()
    plays = PlayStore(tmp_path).frame()
    assert plays[["account_id", "play", "owner", "suggested_by"]].values.tolist() == [
        ["A1", "executive_sponsor", "Dana", "revenue at risk"]
    ]
    assert plays.loc[0, "due_date"] == dt.date.today() + dt.timedelta(days=14)

    form.play.value, form.notes.value = "Quarterly dinner", "our own play"
    form.record_button.click()
    assert len(PlayStore(tmp_path)) == 2 and changed == ["A1", "A1"]
    assert "Quarterly dinner" in form.listing.value and len(form.pick.options) == 2

    form.pick.value = form.pick.options[0][1]
    form.status.value = "done"
    form.update_button.click()
    closed = PlayStore(tmp_path).frame(status=["done"])
    assert len(closed) == 1 and closed.loc[0, "closed_at"] == dt.date.today()
    assert len(form.pick.options) == 1


def test_bad_play_shows_the_error_and_writes_nothing(tmp_path: Path) -> None:
    form = PlayForm(tmp_path, owner="Dana")
    form.show("A1")
    form.play.value = ""
    assert form.record() is None
    assert "column play: empty" in form.message.value and len(PlayStore(tmp_path)) == 0


def test_adopting_a_suggestion_twice_is_refused_and_the_suggestion_goes(tmp_path: Path) -> None:
    form = PlayForm(tmp_path, owner="Dana")
    suggested = pd.DataFrame(
        [{"play": "executive_sponsor", "rule": "revenue at risk", "why": "w", "open_already": False}]
    )
    form.show("A1", "Acme", suggested)
    adopt = [b for b in form.suggested.children if getattr(b, "description", "").startswith("Adopt")]
    adopt[0].click()
    assert len(PlayStore(tmp_path)) == 1
    assert form.suggested.children == ()  # the adopted suggestion is no longer offered
    assert form.adopt("executive_sponsor", "revenue at risk") is None  # a second adoption: refused
    assert "already open for this account" in form.message.value and len(PlayStore(tmp_path)) == 1
    form.play.value = "executive_sponsor"  # typed by hand: refused all the same
    assert form.record() is None and len(PlayStore(tmp_path)) == 1
    form.pick.value = form.pick.options[0][1]
    form.status.value = "done"
    form.update_button.click()
    assert form.adopt("executive_sponsor") is not None and len(PlayStore(tmp_path)) == 2  # closed: may start again
