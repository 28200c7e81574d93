"""X-Ray pages: escaped, script-free, small, linked back."""

from __future__ import annotations

import re

import pytest

from heatmap_lib.metrics.xray import xray, xrays
from heatmap_lib.views.xray_view import write_xray_pages, xray_page

HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(2)</script>"


@pytest.fixture
def ds(builder, tmp_path):
    a = builder.account("A/1", name=HOSTILE, account_manager=SCRIPT)
    builder.scores(a, "decision_maker", [2], comment=SCRIPT, drivers=f"{HOSTILE};pricing")
    builder.scores(a, "day_to_day", [None])
    b = builder.account("B1", name="Beta & Sons")
    builder.scores(b, "influencer", [10])
    return builder.load(tmp_path / "d")


def test_customer_text_is_escaped_and_the_page_has_no_script(ds):
    page = xray_page(xray(ds, "A/1"), back_href="../west.html")
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "Beta &amp; Sons" in xray_page(xray(ds, "B1"))
    assert 'href="../west.html"' in page and "http" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", page)


def test_pages_are_written_with_safe_names_and_stay_small(ds, tmp_path):
    paths = write_xray_pages(xrays(ds), tmp_path / "xray", back_href="../index.html")
    names = sorted(p.name for p in paths)
    assert names == ["A%2F1.html", "B1.html"]  # the id is URL-quoted: no path traversal
    assert all(p.parent == tmp_path / "xray" for p in paths)
    assert max(p.stat().st_size for p in paths) < 50_000
    assert not list((tmp_path / "xray").glob("*.tmp"))


def test_emails_only_when_asked(ds):
    assert "@x.io" not in xray_page(xray(ds, "A/1"))
    assert "@x.io" in xray_page(xray(ds, "A/1", include_emails=True))


def test_every_section_is_there(ds):
    page = xray_page(xray(ds, "A/1"))
    for heading in ("NPS by role", "Contacts", "Non-responders to recruit", "Drivers", "Comments", "Trend"):
        assert f"<h2>{heading}" in page
    assert "Day-to-day users</b> (1)" in page  # the silent user is listed to recruit
    assert "Influencers</b>: no contact invited at all" in page


def test_a_one_answer_account_carries_the_small_sample_note(ds):
    from heatmap_lib.metrics.summary import small_sample_note

    page = xray_page(xray(ds, "B1"))  # one promoter: NPS 100, interval -48 to 98
    note = small_sample_note(1)
    assert "100 <small>(-48 to 98)</small>" in page
    assert page.count(note) == 2  # beside the NPS at the top and beside the interval in the trend
    assert page.index(note) < page.index("<h2>NPS by role")


def test_a_long_contact_list_folds_and_keeps_every_contact(builder, tmp_path):
    from heatmap_lib.views.xray_view import CONTACTS_SHOWN

    a = builder.account("BIG")
    for k in range(CONTACTS_SHOWN + 30):
        builder.scores(a, "day_to_day", [k % 11], comment=f"note {k}")
    page = xray_page(xray(builder.load(tmp_path / "d"), "BIG"))
    contacts = page[page.index("<h2>Contacts</h2>") : page.index("<h2>Non-responders")]
    shown, folded = contacts.split("<details")
    assert "30 more contacts" in folded
    assert shown.count("<tr><td>") == CONTACTS_SHOWN and folded.count("<tr><td>") == 30
    for cid in range(1, CONTACTS_SHOWN + 31):
        assert f"Person C{cid}<" in contacts  # every contact is on the page
    assert all(f"note {k}<" in page for k in range(CONTACTS_SHOWN + 30))  # and every comment


def test_role_table_counts_people_and_answers_apart_and_names_excluded_roles(ds):
    page = xray_page(xray(ds, "A/1", {"role": ["decision_maker", "influencer"]}))
    roles = page[page.index("NPS by role") : page.index("<h2>Contacts</h2>")]
    assert "Contacts invited" in roles and "Contacts who answered" in roles and "Answers" in roles
    day_to_day = roles.split("Day-to-day users")[1].split("</tr>")[0]
    assert "excluded by this report" in day_to_day and "Silent" not in day_to_day
    assert "Day-to-day users</b>: no contact invited at all" not in page
    assert "Influencers</b>: no contact invited at all" in page  # in scope, nobody invited: a real gap


def test_the_header_names_a_renewal_only_when_the_account_has_one(builder, tmp_path):
    builder.scores(builder.account("R1", renewal_date="2026-10-02"), "decision_maker", [9])
    builder.scores(builder.account("R2", renewal_date=""), "decision_maker", [9])
    ds = builder.load(tmp_path / "d")
    with_date, without = xray_page(xray(ds, "R1")), xray_page(xray(ds, "R2"))
    assert "Renewal 2026-10-02</div>" in with_date  # the day, no time of day
    assert "Renewal " not in without.split("<h2>")[0] and "NaT" not in without
