"""The Overlap page in real headless Chromium, on the shared sample home (tests/served.py):
reached from the dashboard; two audiences give a heatmap, a table and a two-circle Venn
diagram, three a three-circle one, more a heatmap only; a link reopens the same choice.
Screenshots 50–54 go to test-artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest

from tests.served import NO_CHROMIUM, Visit

pytestmark = pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or "")

HEATMAP_CELLS = ".vega-embed svg .mark-rect path"


def tick(page, name: str) -> None:
    page.locator(f".wb-checklist label:has-text('{name}') input").check()


def test_the_overlap_page_in_the_browser(served, browser):
    _home, admin, _viewer = served
    visit = Visit(browser, admin.url)
    page = visit.page
    visit.shot("50-dashboard-overlap-button")
    page.click("button:has-text('Overlap')")
    page.wait_for_selector(".wb-title:has-text('Overlap')")
    page.wait_for_selector("text=Choose 2 to 10 audiences (0 chosen)")
    assert "page=overlap" in page.url

    tick(page, "Champions")
    tick(page, "Lapsing app users")
    page.wait_for_selector(".wb-venn svg circle:nth-of-type(2)", timeout=60_000)
    page.wait_for_selector(HEATMAP_CELLS, timeout=60_000)
    rows = page.locator("table.wb-table tbody tr")
    assert rows.count() == 1
    both = rows.first.locator("td:nth-child(5)").inner_text()
    assert re.fullmatch(r"[\d,]+", both.strip())
    assert page.locator(".wb-venn circle").count() == 2
    assert page.locator("text=from the memberships kept by processing").count() == 1
    visit.shot("51-overlap-two")

    tick(page, "Young store visitors, high spend")
    page.wait_for_function("document.querySelectorAll('table.wb-table tbody tr').length === 3")
    page.wait_for_function("document.querySelectorAll('.wb-venn circle').length === 3")
    page.wait_for_timeout(500)  # the heatmap redraws
    visit.shot("52-overlap-three")
    url = page.url
    assert re.search(r"audiences=\d+(%2C|,)\d+(%2C|,)\d+", url)

    # Fewer than two: nothing computed, said so.
    for name in ("Champions", "Lapsing app users"):
        page.locator(f".wb-checklist label:has-text('{name}') input").uncheck()
    page.wait_for_selector("text=(1 chosen)")
    assert page.locator(".wb-venn").count() == 0
    assert page.locator("text=Loading").count() == 0  # the request it superseded says nothing
    visit.shot("53-overlap-one-chosen")
    visit.done()

    # The address reopens the same choice.
    again = Visit(browser, url)
    again.page.wait_for_function(
        "document.querySelectorAll('table.wb-table tbody tr').length === 3", timeout=90_000)
    again.page.wait_for_selector(HEATMAP_CELLS, timeout=60_000)
    assert again.page.locator(".wb-checklist input:checked").count() == 3
    again.shot("54-overlap-from-link")
    again.done()
