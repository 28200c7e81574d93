"""Hostile customer text on every HTML surface of a batch run: it shows as text and never runs.

A small demo dataset gets three payloads planted in every text field that comes from outside: account names, ids,
managers, industries and regions (a region is a segment value: file names, titles, the index), contact names and
titles, comments, drivers, questionnaire names, usage event and feature names. Each payload carries its field's
number, `alert(n)`, so a leak names the field. Three real batch runs (the heat map with its wave-over-wave movers
and X-Ray pages, account health, renewal) then write every surface there is: snapshot headers, client-side filter
controls, Bokeh charts and tables, movers and not-surveyed tables, X-Ray pages (comparison, usage health, renewal
drivers), the health and renewal pages, and each run's index.

Checked in every page: no payload appears as written; the page builds no element a payload could have made (no
event-handler attribute, no img/iframe/object/embed, no svg but the X-Ray trend, no javascript: URL); no
executable script holds a payload as written (Bokeh's embed scripts carry their data as a single-quoted string
with `<>&'` encoded); and each surface does show payloads, as text. A browser test opens one page of each kind.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BUBBLES_JS

from heatmap_lib.data.demo import write_demo
from heatmap_lib.reports import batch
from heatmap_lib.reports import snapshot as report

ROOT = Path(__file__).resolve().parent.parent

PAYLOADS = (
    "<img src=x onerror=alert({n})>",  # an element with an event handler
    '"><script>alert({n})</script>',  # out of an attribute value, into a script element
    "'-alert({n})-'",  # out of a single-quoted JavaScript string (Bokeh's embed scripts hold one)
)
FIELDS = {
    "account_name": 1,
    "account_manager": 2,
    "region": 3,
    "industry": 4,
    "contact_name": 5,
    "contact_title": 6,
    "comment": 7,
    "driver": 8,
    "questionnaire": 9,
    "event": 10,
    "feature": 11,
    "account_id": 12,
}
# No page's markup holds these at all (checked, so a new view is noticed); a heat map page's offline filters list
# them from its compressed counts, as text (test_no_dialog_opens_in_a_browser opens those pages).
NOT_SHOWN = {"industry", "questionnaire"}
REGIONS = {"West": 0, "East": 1}  # region -> payload: the two segments every run reports on


def payload(field: str, kind: int) -> str:
    return PAYLOADS[kind].format(n=FIELDS[field])


PLANTED = [payload(f, k) for f in FIELDS for k in range(len(PAYLOADS))]
MARKUP = [p for p in PLANTED if p.startswith(("<", '"'))]  # the two payloads that are markup wherever they appear
HOSTILE_REGIONS = [payload("region", k) for k in REGIONS.values()]


# --------------------------------------------------------------------------------------------------------------
# the dataset


def _rewrite(path: Path, change: Callable[[int, dict[str, str]], None]) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        change(i, row)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def hostile_dataset(folder: Path) -> tuple[Path, dict[str, str]]:
    """The 30-account demo with the payloads planted; returns it and the hostile account ids (old -> new)."""
    data = write_demo(folder, accounts=30, seed=5, fmt="csv")
    managers: dict[str, str] = {}
    ids: dict[str, str] = {}

    def accounts(i: int, r: dict[str, str]) -> None:
        if r["region"] in REGIONS and len(ids) < len(PAYLOADS):
            ids[r["account_id"]] = r["account_id"] + payload("account_id", len(ids))
        r["account_name"] = f"{r['account_name']} {payload('account_name', i % 3)}"
        r["account_manager"] = managers.setdefault(r["account_manager"], payload("account_manager", len(managers) % 3))
        r["industry"] = f"{r['industry']} {payload('industry', i % 3)}"
        if r["region"] in REGIONS:
            r["region"] = payload("region", REGIONS[r["region"]])

    _rewrite(data / "accounts.csv", accounts)

    def account_ids(i: int, r: dict[str, str]) -> None:
        r["account_id"] = ids.get(r["account_id"], r["account_id"])

    for table in ("accounts", "contacts", "usage_events", "tickets", "invoices", "renewals"):
        _rewrite(data / f"{table}.csv", account_ids)

    def contacts(i: int, r: dict[str, str]) -> None:
        r["name"] = f"{r['name']} {payload('contact_name', i % 3)}"
        r["title"] = f"{r['title']} {payload('contact_title', i % 3)}"

    _rewrite(data / "contacts.csv", contacts)
    questionnaires = {"Support Follow-up": 0, "Onboarding": 1, "Relationship NPS": 2}

    def invitations(i: int, r: dict[str, str]) -> None:
        if r["comment"]:
            r["comment"] = f"{r['comment']} {payload('comment', i % 3)}"
        if r["drivers"]:
            r["drivers"] = r["drivers"].replace("support", f"support {payload('driver', i % 3)}")
        r["questionnaire"] = payload("questionnaire", questionnaires[r["questionnaire"]])

    _rewrite(data / "invitations.csv", invitations)
    events = {"export_data": 0, "invite_user": 1, "configure_integration": 2}
    features = {"admin": 0, "integrations": 1, "workflows": 2}

    def usage(i: int, r: dict[str, str]) -> None:
        if r["event"] in events:
            r["event"] = payload("event", events[r["event"]])
        if r["feature"] in features:
            r["feature"] = payload("feature", features[r["feature"]])

    _rewrite(data / "usage_events.csv", usage)
    return data, ids


# --------------------------------------------------------------------------------------------------------------
# the runs: one per notebook that `heatmap run` takes


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("escaping")
    data, _ = hostile_dataset(folder / "data")
    event = payload("event", 0)
    specs = {
        # the heat map of the latest wave: compared with the wave before (trails, movers), X-Ray pages per account
        "heatmap": {
            "notebook": "customer_heatmap.ipynb",
            "segments": HOSTILE_REGIONS,
            "parameters": {"wave": "2026-Q3"},
        },
        # account health, with a hostile event as the KPI and as the "users who did" event
        "health": {
            "notebook": "account_health.ipynb",
            "segments": HOSTILE_REGIONS[:1],
            "parameters": {"event": event, "min_users": 1, "kpi_events": ["create_report", event]},
        },
        "renewal": {"notebook": "renewal_heatmap.ipynb", "segments": HOSTILE_REGIONS[1:]},
    }
    found = {}
    for name, keys in specs.items():
        spec = folder / f"{name}.yaml"
        keys = {**keys, "notebook": str(ROOT / "notebooks" / keys["notebook"])}
        spec.write_text(yaml.safe_dump({**keys, "data": str(data), "segment_by": "region", "output": name}))
        result = batch.run(batch.load_spec(spec), progress=False)
        assert result.exit_status == 0, [s.error for s in result.failed]
        found[name] = result.folder
    return found


def pages(runs: dict[str, Path]) -> dict[str, list[Path]]:
    """Every HTML file the runs wrote, by surface."""
    out: dict[str, list[Path]] = {"index": [], "heatmap": [], "xray": [], "health": [], "renewal": []}
    for name, folder in runs.items():
        for path in folder.rglob("*.html"):
            kind = "index" if path.name == "index.html" else "xray" if "xray" in path.parts else name
            out[kind].append(path)
    return out


class Page(HTMLParser):
    """What a browser builds from a page: elements with their attributes, and each script's type and text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[str, str]] = []
        self._script: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._script = (dict(attrs).get("type") or "text/javascript").lower()
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)


def _without_bokehjs(text: str) -> str:
    """A page without its inlined BokehJS (with or without the tables bundle: heat map pages have no table)."""
    return text.replace(report.bokehjs_inline(), "").replace(report.bokehjs_inline(tables=False), "")


def _problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = [f"{p!r} as written" for p in MARKUP if p in text]
    page = Page(_without_bokehjs(text))  # BokehJS's own code holds tag and handler templates
    for tag, attrs in page.elements:
        found += [f"<{tag} {k}=...>" for k in attrs if k.startswith("on")]
        found += [f"<{tag} {k}={v!r}>" for k, v in attrs.items() if (v or "").strip().lower().startswith("javascript:")]
        if tag in ("img", "iframe", "object", "embed") or (tag == "svg" and attrs.get("role") != "img"):
            found.append(f"a <{tag}> element")
    for kind, script in page.scripts:
        if kind in ("text/javascript", "module", "application/javascript"):
            found += [f"{p!r} in a script" for p in PLANTED if p in script]
    return found


# --------------------------------------------------------------------------------------------------------------
# the checks


@pytest.mark.notebook
def test_no_page_of_any_run_lets_a_payload_run(runs: dict[str, Path]) -> None:
    by_kind = pages(runs)
    checked = [p for paths in by_kind.values() for p in paths]
    assert {k: len(v) for k, v in by_kind.items() if not v} == {}  # every surface was written
    assert len(by_kind["index"]) == 3 and len(by_kind["heatmap"]) == 2 and len(by_kind["xray"]) >= 10
    base = runs["heatmap"].parents[1]
    problems = {p.relative_to(base).as_posix(): _problems(p) for p in checked}
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.notebook
def test_every_surface_shows_the_payloads_as_text(runs: dict[str, Path]) -> None:
    shown: dict[str, set[str]] = {}
    for kind, paths in pages(runs).items():
        for path in paths:
            text = _without_bokehjs(path.read_text(encoding="utf-8"))
            shown.setdefault(kind, set()).update(f for f, n in FIELDS.items() if f"alert({n})" in text)
    assert set().union(*shown.values()) == set(FIELDS) - NOT_SHOWN
    assert shown["index"] == {"region"}
    assert {"account_name", "account_manager", "region"} <= shown["heatmap"]  # header, movers, not surveyed, Bokeh
    assert {"contact_name", "contact_title", "comment", "driver", "account_name", "account_manager"} <= shown["xray"]
    assert {"event", "feature", "account_name", "account_manager", "region"} <= shown["health"]
    assert {"account_name", "account_id", "region"} <= shown["renewal"]
    # shown as text: escaped in the markup (the index through Jinja's autoescape, the rest through html.escape)
    west = payload("region", 0)
    report_page = (runs["heatmap"] / f"{batch.slugify(west)}.html").read_text(encoding="utf-8")
    assert f"<h2>Customer heat map: region {html.escape(west)}, wave 2026-Q3</h2>" in report_page
    assert "Movers since 2026-Q2" in report_page and "Not surveyed" in report_page
    index = (runs["heatmap"] / "index.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(3)&gt;" in index and "&#34;&gt;&lt;script&gt;alert(3)" in index


@pytest.mark.notebook
def test_hostile_segment_values_and_ids_make_safe_file_names(runs: dict[str, Path]) -> None:
    manifest = json.loads((runs["heatmap"] / "manifest.json").read_text())
    names = sorted(s["files"]["html"] for s in manifest["segments"])
    assert names == ["img-src-x-onerror-alert-3.html", "script-alert-3-script.html"]
    written = [p for p in runs["heatmap"].rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(runs["heatmap"].resolve()) for p in written)
    xrays = {p.name for p in (runs["heatmap"] / "xray").rglob("*.html")}
    assert {n for n in xrays if "alert" in n} == {  # URL-quoted ids: no "<", quote or slash in a file name
        "A000002%3Cimg%20src%3Dx%20onerror%3Dalert%2812%29%3E.html",
        "A000003%22%3E%3Cscript%3Ealert%2812%29%3C%2Fscript%3E.html",
        "A000007%27-alert%2812%29-%27.html",
    }


@pytest.mark.notebook
def test_executed_notebooks_hold_no_live_payload_either(runs: dict[str, Path]) -> None:
    """JupyterLab renders a notebook's HTML outputs when someone opens the executed notebook."""
    notebooks = [p for folder in runs.values() for p in (folder / "notebooks").glob("*.ipynb")]
    assert len(notebooks) == 4
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        shown = "".join(
            "".join(o.get("data", {}).get("text/html", "")) for c in nb["cells"] for o in c.get("outputs", [])
        )
        assert shown and not [p for p in MARKUP if p in shown], path.name


@pytest.mark.notebook
def test_xray_links_reach_the_pages_of_ids_that_need_quoting(runs: dict[str, Path]) -> None:
    from urllib.parse import unquote

    from heatmap_lib.views.chart import xray_link

    folder = runs["heatmap"]
    manifest = json.loads((folder / "manifest.json").read_text())
    checked = 0
    for seg in manifest["segments"]:
        pattern = f"xray/{seg['slug']}/{{account_id}}.html"  # what the batch gives the notebook (xray_href)
        for page in (folder / seg["files"]["xray"]).glob("*alert%2812*.html"):
            account_id = unquote(page.stem)
            link = xray_link(pattern, account_id)
            assert (folder / unquote(link)).is_file(), link  # what the browser opens: the link, percent-decoded
            checked += 1
    assert checked == 3


# --------------------------------------------------------------------------------------------------------------
# in a browser: no dialog opens


@pytest.mark.browser
def test_no_dialog_opens_in_a_browser(runs: dict[str, Path], browser: Any) -> None:
    by_kind = pages(runs)
    west = payload("region", 0)
    heatmap = runs["heatmap"] / f"{batch.slugify(west)}.html"
    hostile_xray = next(p for p in by_kind["xray"] if "alert%2812" in p.name)
    opened = [heatmap, hostile_xray, *by_kind["health"], *by_kind["renewal"], runs["heatmap"] / "index.html"]
    for path in opened:
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        dialogs: list[str] = []
        page.on("dialog", lambda d, seen=dialogs: (seen.append(d.message), d.dismiss()))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        if path == heatmap:
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=15_000)
            page.locator("canvas").first.wait_for(timeout=15_000)
            page.wait_for_timeout(300)
            bubbles = page.evaluate(BUBBLES_JS)
            assert bubbles
            for point in bubbles[:8]:  # tooltips show account names and managers
                page.mouse.move(point["x"], point["y"])
                page.wait_for_timeout(60)
            page.mouse.move(bubbles[0]["x"], bubbles[0]["y"])
            tooltip = page.locator(".bk-Tooltip").get_by_text(bubbles[0]["name"], exact=True).first
            tooltip.wait_for(state="visible", timeout=5_000)  # the name with its payload, as text
            assert "alert(1)" in bubbles[0]["name"]
            assert page.locator("h2").first.inner_text().startswith(f"Customer heat map: region {west}")
        page.wait_for_timeout(300)
        assert dialogs == [], (path.name, dialogs)
        page.close()
