"""Notice targets in headless Chromium against `workbench serve` (the shared served home of
tests/served.py): a webhook target added through the Notices form (an http URL refused first),
picked in the export wizard's Notification step, Run now, and the History row saying the
notice was sent; the receiver (tests/receiver.py) got it signed as docs/exports.md says; the
URL and the secret are nowhere in the page. It adds one export and its run to the shared home:
it runs after test_exports_browser (which counts them), as pytest orders the modules.
Screenshots 85-89; a Send a test from the target's Actions too."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN, NOW
from tests.served import NO_CHROMIUM, Visit
from tests.sshd import skip_reason
from tests.test_notices import SECRET, verify

pytestmark = [pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
              pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or "")]


@pytest.fixture(scope="module")
def receiver():
    from tests.receiver import running_receiver

    with running_receiver() as running:
        yield running


def test_a_webhook_added_picked_in_the_wizard_and_told_of_a_run(served, browser, server,
                                                                  receiver):
    import workbench

    home, admin, _viewer = served
    with workbench.open(home, user=ADMIN) as wb:  # where the run delivers: not what is shown
        wb.destinations.add({"name": "notices-partner", "host": server.host,
                             "port": server.port, "path": str(server.writable),
                             "username": server.user, "password": server.password,
                             "host_key": server.host_key_line()})
    visit = Visit(browser, admin.url)
    page = visit.page
    page.click("button:has-text('Manage Exports')")
    page.wait_for_selector(".wb-title:has-text('Manage Exports')")
    visit.tab("Notices")
    page.click("button:has-text('Add Notice target')")
    page.wait_for_selector("text=The URL and the signing secret are sealed")
    page.wait_for_selector("text=https (http only to this machine, for testing)")
    visit.shot("99-notice-form-says-what-is-sealed")
    page.click(".widget-toggle-buttons button:has-text('Slack')")  # Slack has no secret
    page.wait_for_selector("text=The URL is sealed and never shown again")
    page.click(".widget-toggle-buttons button:has-text('Webhook')")
    page.fill("input[placeholder='crm-webhook']", "crm-hook")
    page.fill("input[placeholder='https://hooks.example.com/workbench']",
              "http://hooks.example.com/secret-path")
    page.fill("input[placeholder='at least 16 characters']", SECRET)
    page.click("button:has-text('Save notice target')")
    page.wait_for_selector("text=must be https")
    visit.shot("85-notice-target-http-refused")
    page.fill("input[placeholder='https://hooks.example.com/workbench']",
              receiver.url("/secret-path"))
    page.click("button:has-text('Save notice target')")
    page.wait_for_selector(f"table.wb-table code:has-text('127.0.0.1:{receiver.port}')")
    visit.shot("86-notice-targets")
    row = page.locator("table.wb-table tr:has-text('crm-hook') >> visible=true").first
    assert "✔ signed" in row.inner_text() and ADMIN in row.inner_text()
    assert "2026-" in row.inner_text() or "2027-" in row.inner_text()  # created at
    assert [h.lower() for h in page.locator("table.wb-table th >> visible=true").all_inner_texts()
            ][:7] == ["name", "type", "host", "signed", "last test", "created by", "created"]
    visit.shot("97-notice-targets-signed-created")

    # The wizard's Notification step: the target picked beside the e-mail recipients
    page.click("button:has-text('Audiences')")
    page.click("a:has-text('Champions')")
    page.click("button.wb-primary:has-text('Export')")
    page.wait_for_selector(".wb-title:has-text('New export')")
    page.fill("input[placeholder='Weekly partner file']", "Champions told")
    page.fill("input[type=date] >> nth=0", "2027-01-04")
    page.select_option("select:has(option:text('Choose a destination'))",
                       label="notices-partner (SFTP)")
    page.click("button:has-text('Next')")
    page.wait_for_selector("text=Include header row")
    page.click("button:has-text('Next')")
    page.wait_for_selector("text=Webhook / Slack")
    target = page.locator(".wb-target-checks .widget-checkbox:has-text('crm-hook (Webhook → "
                          f"127.0.0.1:{receiver.port})') input[type=checkbox]")
    target.check()
    assert target.is_checked()  # a tick, not a pale grey row
    visit.shot("87-wizard-notification-targets")
    visit.shot("98-wizard-notice-target-ticked")
    page.click("button:has-text('Save export')")
    page.wait_for_selector("td:has-text('Champions told') >> visible=true")

    # Run now: Complete, and History says the notice went. The receiver answers after a pause:
    # the notice is sent after the run is recorded, and the page follows it until it is told.
    receiver.answers["/secret-path"] = "slow"
    page.click("button:has-text('Manage Exports')")
    page.wait_for_selector(".wb-title:has-text('Manage Exports')")
    page.wait_for_selector("td:has-text('Champions told') >> visible=true")
    visit.act("Champions told", "Run now")
    page.click(".wb-confirm button:has-text('Run now')")
    page.wait_for_selector("tr:has-text('Champions told') .wb-badge-complete", timeout=120_000)
    page.wait_for_selector("td:has-text('crm-hook: sent (HTTP 200)')")
    visit.shot("88-history-notice-sent")
    [told] = receiver.at("/secret-path")
    receiver.answers.pop("/secret-path")
    assert verify(SECRET.encode(), told.headers["X-Workbench-Timestamp"],
                  told.headers["X-Workbench-Signature"], told.body, now=NOW.timestamp())
    body = json.loads(told.body)
    assert (body["event"], body["export"], body["destination"]) == (
        "export_run.complete", "Champions told", "notices-partner")
    assert body["rows"] > 0 and len(body["files"]) == 1

    page.wait_for_selector("table.wb-table tr:has-text('notice.add')")
    page.locator("table.wb-table tr:has-text('notice.add')").scroll_into_view_if_needed()
    assert "url set" in page.locator("table.wb-table tr:has-text('notice.add')").inner_text()
    visit.tab("Notices")  # one try, its answer in the target's row
    page.locator("tr:has-text('crm-hook') select.wb-actions >> visible=true").first \
        .select_option(label="Send a test")
    page.wait_for_selector("td:has-text('test sent (HTTP 200)')")
    visit.shot("89-notice-target-tested")
    assert json.loads(receiver.at("/secret-path")[-1].body)["event"] == "test"
    html = page.content()
    assert SECRET not in html and "secret-path" not in html
    assert not [f for f in visit.received if SECRET in f or "secret-path" in f]
    visit.done()
    for leftover in server.writable.iterdir():
        leftover.unlink()
