"""The Details chart of an audience with a holdout, in real headless Chromium: the size line and
both groups' lines with their legend (tests/served.py's helpers; a home of its own, so the
shared served home keeps its three audiences). Screenshot 55 is looked at by a person."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN
from tests.served import NO_CHROMIUM, Served, Visit, cli

pytestmark = pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or "")

HELD_OUT = {"name": "Store visitors, 20% held out", "holdout_percent": 20, "rules": [
    {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90}]}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    from workbench.home import init_home

    root = tmp_path_factory.mktemp("holdout")
    home = root / "home"
    init_home(home, admin=ADMIN, timezone="UTC")
    cli(home, "sample", "--customers", "3000", "--seed", "7")
    (root / "a.json").write_text(json.dumps(HELD_OUT))
    audience = json.loads(cli(home, "audience", "create", str(root / "a.json"), "--json"))
    cli(home, "audience", "activate", str(audience["id"]))
    cli(home, "process", "--days", "7")
    served = Served(home, ADMIN)
    yield home, served, audience["id"]
    served.stop()


def test_the_details_chart_shows_both_groups(held_out, browser):
    home, served, audience_id = held_out
    shown = json.loads(cli(home, "audience", "show", str(audience_id), "--json"))
    assert shown["holdout_size"] > 0 and shown["treatment_size"] > shown["holdout_size"]
    visit = Visit(browser, served.url)  # the list, then the audience's page
    page = visit.page
    page.goto(f"{served.url}&audience={audience_id}")
    page.wait_for_selector(".vega-embed svg .mark-symbol path", timeout=60_000)
    visit.shot("55-details-holdout")
    legend = page.locator(".vega-embed svg .role-legend", has_text="Treatment").text_content()
    assert "Treatment (exported)" in legend and "Holdout 20% (not exported)" in legend
    # Three lines: the size, the treatment, the holdout; a point a day on each.
    assert page.locator(".vega-embed svg .mark-line.role-mark path").count() == 3
    assert page.locator(".vega-embed svg .mark-symbol.role-mark path").count() == 3 * 7
    # The last point drawn is the holdout's of the last day (the fold: treatment, holdout).
    page.locator(".vega-embed svg .mark-symbol.role-mark path").last.hover()
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible")
    assert "Holdout 20% (not exported)" in tooltip.inner_text()
    assert f"{shown['holdout_size']:,}" in tooltip.inner_text()
    visit.shot("56-details-holdout-tooltip")
    side = page.locator(".wb-panel").last.inner_text()
    assert f"Treatment {shown['treatment_size']:,} · Holdout {shown['holdout_size']:,} " \
        "(20%, not exported)" in side
    visit.done()
