"""Shared fixtures: small hand-built datasets written as real files and loaded through the real loader."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import heatmap_lib as hm
from heatmap_lib.data.demo import TABLE_COLUMNS

ACCOUNT_FIELDS = [
    "account_id",
    "account_name",
    "value",
    "tier",
    "region",
    "account_manager",
    "sales_rep",
    "industry",
]
CONTACT_FIELDS = ["contact_id", "account_id", "role", "name", "email"]
INVITATION_FIELDS = list(TABLE_COLUMNS["invitations"])  # the contract's columns, as the demo writes them


def write_csv(path: Path, fields: list[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path


class Builder:
    """Builds a dataset account by account: contacts with their scores per wave."""

    def __init__(self) -> None:
        self.accounts: list[dict[str, Any]] = []
        self.contacts: list[dict[str, Any]] = []
        self.invitations: list[dict[str, Any]] = []

    def account(self, account_id: str, value: float = 1000, name: str | None = None, **cols: Any) -> str:
        row = {"account_id": account_id, "account_name": name or f"Account {account_id}", "value": value}
        row.update(
            {
                "tier": "Gold",
                "region": "West",
                "account_manager": "Ann",
                "sales_rep": "Sam",
                "industry": "Tech",
            }
        )
        row.update(cols)
        self.accounts.append(row)
        return account_id

    def contact(self, account_id: str, role: str = "day_to_day", contact_id: str | None = None) -> str:
        cid = contact_id or f"C{len(self.contacts) + 1}"
        self.contacts.append(
            {
                "contact_id": cid,
                "account_id": account_id,
                "role": role,
                "name": f"Person {cid}",
                "email": f"{cid}@x.io",
            }
        )
        return cid

    def invite(
        self,
        contact_id: str,
        score: int | None,
        wave: str = "2026-Q1",
        sent_at: str = "2026-01-10",
        questionnaire: str = "Relationship NPS",
        drivers: str | None = None,
        comment: str | None = None,
    ) -> str:
        iid = f"I{len(self.invitations) + 1}"
        responded = None if score is None else sent_at
        self.invitations.append(
            {
                "invitation_id": iid,
                "contact_id": contact_id,
                "questionnaire": questionnaire,
                "wave": wave,
                "sent_at": sent_at,
                "responded_at": responded,
                "score": score,
                "drivers": drivers,
                "comment": comment,
            }
        )
        return iid

    def scores(self, account_id: str, role: str, scores: Iterable[int | None], **kw: Any) -> None:
        """One contact of `role` per score, each invited once."""
        for s in scores:
            self.invite(self.contact(account_id, role), s, **kw)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        extra = [k for a in self.accounts for k in a if k not in ACCOUNT_FIELDS]
        write_csv(folder / "accounts.csv", ACCOUNT_FIELDS + list(dict.fromkeys(extra)), self.accounts)
        write_csv(folder / "contacts.csv", CONTACT_FIELDS, self.contacts)
        write_csv(folder / "invitations.csv", INVITATION_FIELDS, self.invitations)
        return folder

    def load(self, folder: Path, **kw: Any) -> hm.Dataset:
        return hm.load(self.write(folder), **kw)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """In CI every test must run: a skip (say, a missing browser) is turned into a failure there."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"


_SESSION_START = time.time()


def pytest_configure(config: pytest.Config) -> None:
    """Prepared datasets (validate once) go to a cache folder of this session, not the user's; kernels inherit it."""
    folder = tempfile.mkdtemp(prefix="heatmap-test-cache-")
    os.environ["HEATMAP_CACHE_DIR"] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many bad inputs the corpus tried and how each ended (tests/test_bad_inputs.py writes the record)."""
    record = Path(__file__).parent.parent / "test-artifacts" / "bad-inputs.json"
    if not record.exists() or record.stat().st_mtime < _SESSION_START:
        return
    results = json.loads(record.read_text())
    refused = sum(r["result"] == "error" and r["expected"] == "error" for r in results)
    accepted = sum(r["result"] == "accepted" and r["expected"] == "accepted" for r in results)
    wrong = len(results) - refused - accepted
    classes: dict[str, int] = {}
    for r in results:
        classes[r.get("class", "contract rules")] = classes.get(r.get("class", "contract rules"), 0) + 1
    by_class = ", ".join(f"{k} {n}" for k, n in classes.items())
    terminalreporter.write_line(
        f"bad-input corpus: {len(results)} inputs tried; {refused} refused with a clear error, {accepted} accepted "
        f"and shown correctly, {wrong} otherwise; by class: {by_class} (see test-artifacts/bad-inputs.json)"
    )


# Debian's chromium, driven by Playwright (never a downloaded browser): every browser test shares one per module.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# Where each drawn bubble of the heat map is on the page: [{x, y, name}] in screen coordinates, for hovering and
# clicking a named account (a glyph's screen coordinates are per drawn point of its renderer's view).
BUBBLES_JS = """() => {
  const out = [];
  for (const v of Bokeh.index.all_views()) {
    const m = v.model;
    if (m.type !== "GlyphRenderer" || m.name !== "bubbles") continue;
    const box = v.plot_view.canvas_view.el.getBoundingClientRect(), rows = Array.from(m.view.indices);
    rows.forEach((i, k) => {
      const j = v.glyph.sx.length === rows.length ? k : i;
      const x = box.left + v.glyph.sx[j], y = box.top + v.glyph.sy[j];
      if (Number.isFinite(x) && Number.isFinite(y)) out.push({x: x, y: y, name: m.data_source.data.account_name[i]});
    });
  }
  return out;
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Debian chromium for the module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def builder() -> Builder:
    return Builder()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded demo dataset (small), written once per session as CSV."""
    from heatmap_lib.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo"), accounts=150, seed=11, fmt="csv")


@pytest.fixture(scope="session")
def demo(demo_dir: Path) -> hm.Dataset:
    return hm.load(demo_dir)
