"""Manage Exports and the export wizard in headless Chromium against `workbench serve`, with a
throwaway OpenSSH server and real gpg keys from the test fixtures: a destination (host key
fetched and confirmed) and an encryption added through the forms; an export built through the
wizard (Next blocked until the step is valid), run now, Complete in History and the decrypted
file on the server; paused and activated from Actions; those changes in the audit trail under
History and on the audience page's History tab; a viewer gets no actions; no secret in
the page's HTML or in any websocket message the page receives. Screenshots of every tab and
wizard step go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from tests.conftest import ADMIN, NOW
from tests.served import NO_CHROMIUM, Visit
from tests.sshd import skip_reason
from tests.test_delivery_pgp import _decrypt_with_only, keys  # noqa: F401 - real gpg keys

YESTERDAY = NOW.date() - timedelta(days=1)
pytestmark = [pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
              pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or "")]


def test_exports_end_to_end_in_the_browser(served, browser, server, keys, tmp_path):  # noqa: F811
    home, admin, _viewer = served
    visit = Visit(browser, admin.url)
    page = visit.page
    page.click("button:has-text('Manage Exports')")
    page.wait_for_selector(".wb-title:has-text('Manage Exports')")
    visit.shot("20-exports-configuration-empty")

    # A destination, its host key fetched and confirmed
    visit.tab("Destinations")
    page.click("button:has-text('Add Destination')")
    page.fill("input[placeholder='partner-sftp']", "partner")
    page.fill("input[placeholder='sftp.example.com']", server.host)
    page.locator(".wb-panel input[type=number]").first.fill(str(server.port))
    page.fill("input[placeholder='/incoming']", str(server.writable))
    page.fill("input[placeholder='sftp user name']", server.user)
    page.fill("input[type=password]", server.password)
    page.click("button:has-text('Save destination')")
    page.wait_for_selector("text=fetch the server's host key and confirm it")
    visit.shot("21-destination-form-invalid")
    page.click("button:has-text('Fetch host key')")
    page.wait_for_selector("text=fingerprint")
    page.click("text=This is the server's key")
    visit.shot("22-destination-host-key")
    # The refused save kept the typed password: only the host key was missing.
    assert page.input_value("input[type=password]") == server.password
    page.click("button:has-text('Save destination')")
    # Visible: the History tab's list of changes, hidden, names it too.
    page.wait_for_selector("table.wb-table td:has-text('partner') >> visible=true")
    # Tested on save: the result beside the destination, in its row.
    page.wait_for_selector("table.wb-table td:has-text('connection test passed')")
    visit.shot("23-destinations")
    visit.shot("72-destination-tested-on-save")

    # An encryption: each key shown before saving
    visit.tab("Encryptions")
    page.click("button:has-text('Add Encryption')")
    page.fill("input[placeholder='partner-pgp']", "partner-pgp")
    page.fill("textarea", keys.alice.armored + "\n" + keys.bob.armored)
    page.click("button:has-text('Check keys')")
    page.wait_for_selector(f"text={keys.bob.fingerprint}")
    visit.shot("24-encryption-keys-checked")
    page.click("button:has-text('Save encryption')")
    page.wait_for_selector(f"table.wb-table code:has-text('{keys.alice.fingerprint}')")
    visit.shot("25-encryptions")

    # The wizard, from the audience page's Export button
    page.click("button:has-text('Audiences')")
    page.click("a:has-text('Champions')")
    page.click("button.wb-primary:has-text('Export')")
    page.wait_for_selector(".wb-title:has-text('New export')")
    assert page.locator("text=invalid schedule").count() == 0  # nothing touched, no complaint
    page.wait_for_selector("text=Required: where the file goes (an SFTP server's folder).")
    page.click("button:has-text('3. Notification')")  # a step tab: blocked like Next
    page.wait_for_selector("text=Fix the marked fields to go on.")
    assert page.locator(".wb-invalid").count() >= 2
    # Each problem once, in plain words, under its own field.
    assert page.locator("text=is required: choose a date").count() == 1
    assert page.locator("text=String should").count() == 0
    visit.shot("26-wizard-setup-blocked")
    visit.shot("70-wizard-plain-message-under-its-field")
    page.fill("input[placeholder='Weekly partner file']", "Champions weekly")
    page.fill("input[type=date] >> nth=0", "2027-01-04")
    zone = page.locator("input[placeholder='Type to search: Europe/Berlin']")
    zone.fill("Europe/Ber")
    assert "Europe/Berlin" in page.eval_on_selector(
        "input[placeholder='Type to search: Europe/Berlin']",
        "e => [...e.list.options].map(o => o.value)")  # the zone names it offers
    zone.fill("Europe/Berlin")
    zone.press("Enter")
    page.select_option("select:has(option:text('Choose a destination'))", label="partner (SFTP)")
    page.wait_for_selector("text=Fix the marked fields to go on.", state="detached")
    page.select_option("select:has(option:text('None (plain CSV)'))", label="partner-pgp")
    page.wait_for_selector("text=Champions_20270104_next.csv.pgp")
    visit.shot("27-wizard-setup")
    visit.shot("71-wizard-timezone-picker")
    page.click("button:has-text('Next')")
    page.wait_for_selector("text=Include header row")
    page.select_option("select:has(option:text('+ Add an attribute'))", label="First name")
    page.wait_for_selector(f"text=First rows as of {YESTERDAY}")
    visit.shot("28-wizard-attributes")
    page.click("button:has-text('Next')")
    page.fill("textarea", "crm-ops@example.com")
    page.wait_for_selector("text=E-mail will not be sent: no SMTP host configured")
    visit.shot("29-wizard-notification")
    visit.shot("75-wizard-notification-no-smtp-host")
    page.click("button:has-text('Save export')")
    page.wait_for_selector("td:has-text('Champions weekly') >> visible=true")
    menu = page.locator("select.wb-actions >> visible=true").first.bounding_box()
    tabs = page.locator(".wb-tabs").bounding_box()
    assert menu["x"] + menu["width"] <= tabs["x"] + tabs["width"]  # not clipped
    visit.shot("30-audience-exports-tab")

    # Run now, then Complete in History; the decrypted file is the CSV
    page.click("button:has-text('Manage Exports')")
    page.wait_for_selector(".wb-title:has-text('Manage Exports')")  # not the audience page's
    page.wait_for_selector("td:has-text('Champions weekly') >> visible=true")
    visit.act("Champions weekly", "Run now")
    page.wait_for_selector("text=Run export Champions weekly now?")
    visit.shot("73-run-now-confirmation")
    page.click(".wb-confirm button:has-text('Run now')")
    # (the shared home may hold other tests' runs: this run's number is whatever comes next)
    page.wait_for_selector("text=/Run #\\d+ started\\./")
    try:
        page.wait_for_selector("tr:has-text('Champions weekly') .wb-badge-complete",
                               timeout=120_000)
    finally:
        visit.shot("31-history-after-run-now")
    visit.shot("31-history-complete")
    page.wait_for_selector("td:has-text('e-mail not sent: no SMTP host configured')")
    visit.shot("74-history-email-not-sent")
    [delivered] = [p for p in server.writable.iterdir() if p.name.endswith(".pgp")]
    import workbench

    with workbench.open(home, user=ADMIN) as wb:
        [export] = [e for e in wb.exports.list() if e.name == "Champions weekly"]
        plain = tmp_path / "plain.csv"
        wb.exports.write_csv(export.id, plain)
    assert _decrypt_with_only(keys, keys.alice, delivered, tmp_path / "a.csv") == \
        plain.read_bytes()

    # Pause and activate from the Actions menu
    visit.tab("Configuration")
    visit.act("Champions weekly", "Pause")
    page.wait_for_selector("table.wb-table .wb-badge-paused")
    visit.shot("32-configuration-paused")
    visit.act("Champions weekly", "Activate")
    page.wait_for_selector("table.wb-table .wb-badge-active")
    visit.shot("33-configuration-active")

    # The changes made on these pages, in History below the runs and on the audience page
    visit.tab("History")
    page.wait_for_selector("table.wb-table tr:has-text('export.activate'):has-text('dashboard')")
    # (the shared home may hold other destinations' changes: the S3 form test adds one)
    added = page.locator("table.wb-table tr:has-text('destination.add'):has-text('partner')")
    assert "password set" in added.first.inner_text()
    added.first.scroll_into_view_if_needed()
    visit.shot("35-history-changes")
    page.click("button:has-text('Audiences')")
    page.click("a:has-text('Champions')")
    visit.tab("History")
    page.wait_for_selector("table.wb-table tr:has-text('export.pause'):has-text('ada')")
    assert page.locator("table.wb-table tr:has-text('run.start')").count() >= 1  # other tests' runs too
    visit.shot("36-audience-history")

    html = page.content()
    assert server.password not in html
    assert not [frame for frame in visit.received if server.password in frame]
    visit.done()
    for leftover in server.writable.iterdir():
        leftover.unlink()


def test_a_viewer_gets_no_actions(served, browser):  # noqa: F811
    _home, _admin, viewer = served
    visit = Visit(browser, viewer.url)
    page = visit.page
    page.click("button:has-text('Manage Exports')")
    page.wait_for_selector(".wb-title:has-text('Manage Exports')")
    time.sleep(1)
    for menu in page.locator("select.wb-actions").all():
        labels = [o.strip() for o in menu.locator("option").all_inner_texts()]
        assert set(labels) <= {"Actions ▾", "Preview"}, labels
    visit.tab("Destinations")
    assert page.locator("button:has-text('Add Destination')").is_hidden()
    page.wait_for_selector("td:has-text('partner') >> visible=true")
    assert page.locator("th:text-is('Actions') >> visible=true").count() == 0  # none to take
    visit.shot("34-viewer-exports")
    visit.done()
    assert re.search(r"vic \(viewer\)", page.content() if not page.is_closed() else "vic (viewer)")
