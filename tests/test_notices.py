"""Webhook and Slack notice targets (docs/exports.md, "Webhook and Slack notices"): sealed and
write-only, named in an export's notify, told after each run against a real HTTP receiver on
loopback (tests/receiver.py) that can answer 500 or hang."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

import workbench
from tests.conftest import ADMIN, NOW, add_partner, csv_writer
from workbench.errors import Conflict, DeliveryError, InvalidExport, PermissionDenied
from workbench.home import init_home

from .test_mail import certificate, client_tls, server_tls  # noqa: F401 - a TLS receiver

SECRET = "whsec-0123456789abcdef-not-shown"
SLACK_PATH = "/services/T000/B000/XXXXSLACKTOKEN"


def verify(secret: bytes, timestamp: str, signature: str, body: bytes, now=None) -> bool:
    """The receiver's check, as docs/exports.md gives it (``now`` only for the pinned clock)."""
    expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    fresh = abs((time.time() if now is None else now) - int(timestamp)) <= 300
    return fresh and hmac.compare_digest(expected, signature)


@pytest.fixture(scope="module")
def receiver():
    from tests.receiver import running_receiver

    with running_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def home(tmp_path_factory, server):
    """One home for the module: "Women" processed, the destination "partner" (the SFTP
    server), and the targets "hook" (a webhook) and "chat" (Slack) on the receiver."""
    from tests.audience_data import D, load

    folder = tmp_path_factory.mktemp("notices")
    init_home(folder / "home", admin=ADMIN, timezone="UTC")
    with workbench.open(folder / "home", user=ADMIN) as wb:
        load(wb, csv_writer(folder))
        wb.audiences.activate(wb.audiences.create({"name": "Women", "rules": [
            {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
        wb.processing.run(D)
        add_partner(wb, server)
    return folder / "home"


@pytest.fixture
def wb(home, receiver):
    with workbench.open(home, user=ADMIN) as opened:
        yield opened
    receiver.received.clear()


def export(wb, name: str, notify: list[str]) -> int:
    return wb.exports.create({"name": name, "audience": 1, "file_name": "women_{run}.csv",
                              "destination": "partner",
                              "schedule": {"start": "2027-01-04T06:00"},
                              "columns": [{"attribute": "customer_id"}], "notify": notify}).id


def target(wb, receiver, name: str, kind: str = "webhook", path: str | None = None):
    if name in wb.notices.names():
        return wb.notices.get(name)
    data = {"name": name, "type": kind, "url": receiver.url(path or f"/{name}")}
    return wb.notices.add({**data, "secret": SECRET} if kind == "webhook" else data)


def fast(monkeypatch):
    """Tries that give up soon (the docs' 5 s and 0-1-4 s are the product's)."""
    from workbench.delivery import webhook

    monkeypatch.setattr(webhook, "TIMEOUT", 0.5)
    monkeypatch.setattr(webhook, "BACKOFF", (0.0, 0.05, 0.1))


def test_targets_are_added_updated_and_removed_with_their_secrets_write_only(wb, receiver):
    hook = target(wb, receiver, "hook")
    chat = target(wb, receiver, "chat", "slack", SLACK_PATH)
    assert (hook.type, hook.host, hook.signed, hook.created_by) == (
        "webhook", f"127.0.0.1:{receiver.port}", True, ADMIN)
    assert (chat.type, chat.signed) == ("slack", False)
    shown = json.dumps([t.to_json() for t in wb.notices.list()]) + repr(wb.notices.list()) \
        + hook._repr_html_() + chat._repr_html_()
    assert SECRET not in shown and "XXXXSLACKTOKEN" not in shown and "/hook" not in shown
    from workbench.exports.notices import NoticeTargetConfig

    config = NoticeTargetConfig(name="x", type="webhook", url=receiver.url("/x"), secret=SECRET)
    assert SECRET not in repr(config) and "/x" not in repr(config)
    # An update without the URL or the secret keeps them; a rename is just a rename.
    renamed = wb.notices.update("hook", {"name": "hook2", "type": "webhook"})
    assert renamed.signed and renamed.host == hook.host and renamed.version == 2
    assert wb.notices.test("hook2") == "sent (HTTP 200)"
    body = receiver.at("/hook")[-1].body
    assert json.loads(body)["event"] == "test"
    wb.notices.update("hook2", {"name": "hook", "type": "webhook"})
    with pytest.raises(Conflict, match="exists already"):
        wb.notices.add({"name": "chat", "type": "slack", "url": receiver.url("/c")})
    spare = wb.notices.add({"name": "spare", "type": "slack", "url": receiver.url("/spare")})
    wb.notices.remove(spare.id)
    assert "spare" not in wb.notices.names()
    trail = wb.audit_trail.frame(limit=50)
    said = trail.astype(str).to_string()
    assert SECRET not in said and "XXXXSLACKTOKEN" not in said and "/spare" not in said
    actions = list(trail.action)
    assert {"notice.add", "notice.update", "notice.remove"} <= set(actions)
    added = [e for e in wb.audit_trail.entries(subjects=("notice",)) if e.action == "notice.add"]
    assert added[-1].changes["url"] == "set" and added[-1].changes["secret"] == "set"


@pytest.mark.parametrize("data, field, says", [
    ({"type": "webhook", "url": "http://example.com/hook", "secret": SECRET}, "url",
     "must be https"),
    ({"type": "webhook", "url": "ftp://example.com/hook", "secret": SECRET}, "url", "https://"),
    ({"type": "slack", "url": "https://me:pw@example.com/hook"}, "url", "user name or password"),
    ({"type": "webhook", "url": "https://example.com/hook"}, "secret", "is required"),
    ({"type": "webhook", "url": "https://example.com/h", "secret": "short"}, "secret",
     "at least 16"),
    ({"type": "slack", "url": "https://hooks.slack.com/x", "secret": SECRET}, "secret",
     "takes no secret"),
    ({"type": "teams", "url": "https://example.com/h"}, "type", ""),
    ({"type": "slack"}, "url", "is required"),
])
def test_a_target_that_is_not_https_or_lacks_its_secret_is_refused(wb, data, field, says):
    with pytest.raises(InvalidExport) as refused:
        wb.notices.add({"name": "bad", **data})
    assert [p.field for p in refused.value.problems] == [field]
    assert says in str(refused.value)
    assert "example.com/hook" not in str(refused.value).replace("http to example.com", "")


def test_a_viewer_reads_names_and_hosts_and_changes_nothing(wb, home, receiver):
    target(wb, receiver, "hook")
    with workbench.open(home, user="vic") as viewer:
        assert "hook" in [t.name for t in viewer.notices.list()]
        assert viewer.notices.actions() == []
        for call in (lambda: viewer.notices.add({"name": "v", "type": "slack",
                                                 "url": receiver.url("/v")}),
                     lambda: viewer.notices.remove("hook"), lambda: viewer.notices.test("hook")):
            with pytest.raises(PermissionDenied, match="notice.edit needs the admin role"):
                call()


def test_notify_names_a_target_that_exists_and_it_stays_while_named(wb, receiver):
    with pytest.raises(InvalidExport, match="'nobody' is neither an e-mail address nor a "
                                            "notice target .targets: '"):
        export(wb, "Women nobody", ["ops@example.com", "nobody"])
    with pytest.raises(InvalidExport, match="not an e-mail address: 'ops@'"):
        export(wb, "Women bad", ["ops@"])
    target(wb, receiver, "kept", "slack")
    export_id = export(wb, "Women kept", ["kept"])
    with pytest.raises(Conflict, match=f"named by export.s. {export_id} .Women kept."):
        wb.notices.remove("kept")
    with pytest.raises(InvalidExport, match="keep its name"):
        wb.notices.update("kept", {"name": "renamed", "type": "slack"})
    wb.exports.cancel(export_id)
    wb.notices.remove("kept")


def test_a_run_that_completes_tells_the_webhook_signed_and_slack_in_one_line(wb, receiver,
                                                                           server):
    target(wb, receiver, "hook")
    target(wb, receiver, "chat", "slack", SLACK_PATH)
    export_id = export(wb, "Women told", ["hook", "chat", "ops@example.com"])
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete" and run.rows == 3
    assert run.details["notices"] == {"hook": "sent (HTTP 200)", "chat": "sent (HTTP 200)"}
    assert run.notification == "e-mail not sent: no SMTP host configured"  # e-mail as before
    [hooked] = receiver.at("/hook")
    assert verify(SECRET.encode(), hooked.headers["X-Workbench-Timestamp"],
                  hooked.headers["X-Workbench-Signature"], hooked.body, now=NOW.timestamp())
    assert not verify(b"another secret......", hooked.headers["X-Workbench-Timestamp"],
                      hooked.headers["X-Workbench-Signature"], hooked.body, now=NOW.timestamp())
    sent = json.loads(hooked.body)
    assert sent == {"event": "export_run.complete", "run": run.id, "export": "Women told",
                    "audience": "Women", "state": "complete",
                    "scheduled_for": run.scheduled_for.isoformat(), "as_of": "2026-03-10",
                    "rows": 3, "bytes": run.bytes, "files": [run.file_name],
                    "destination": "partner", "error": None}
    [chatted] = receiver.at(SLACK_PATH)
    assert "X-Workbench-Signature" not in chatted.headers
    assert json.loads(chatted.body) == {"text": f'Audience Workbench: export "Women told" '
                                                f'(run #{run.id}) complete, 3 rows, file '
                                                f'{run.file_name}'}
    assert server.password not in hooked.body.decode()


def test_a_run_is_told_once_each_notify_entry_it_names_is_recorded():
    """What a page following a run waits for after the run ends (ui/exports.py, follow): its
    e-mail's note when it names addresses, its notices when it names targets."""
    from dataclasses import replace

    from workbench.exports.notify import told
    from workbench.run_states import Run, RunState

    ended = Run(id=1, export_id=1, export="E", audience="A", state=RunState.COMPLETE,
                scheduled_for=NOW, type="full", format="csv", destination="d", created_by="ada",
                attempts=1, rows=1, bytes=1, as_of=None, file_name="f.csv", error=None, details={})
    both = ["ops@example.com", "hook"]
    assert told(ended, []) and not told(ended, both)
    assert not told(replace(ended, details={"notification": "e-mail sent to 1 recipient"}), both)
    assert not told(replace(ended, details={"notices": {"hook": "sent (HTTP 200)"}}), both)
    assert told(replace(ended, details={"notification": "x", "notices": {}}), both)
    assert told(replace(ended, details={"notices": {}}), ["hook"])
    assert not told(replace(ended, state=RunState.FAILED), ["hook"])
    for quiet in (RunState.CANCELED, RunState.IN_PROGRESS, RunState.SCHEDULED):  # tells nothing
        assert told(replace(ended, state=quiet), both)


def test_a_500_is_retried_then_recorded_and_a_hang_is_bounded_the_run_complete(
        wb, receiver, monkeypatch):
    fast(monkeypatch)
    receiver.answers.update({"/broken": "500", "/stuck": "hang"})
    target(wb, receiver, "broken")
    target(wb, receiver, "stuck", "slack")
    export_id = export(wb, "Women unheard", ["broken", "stuck"])
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete" and run.error is None
    assert run.details["notices"] == {"broken": "not sent: HTTP 500 after 3 tries",
                                      "stuck": "not sent: no answer within 0.5 s after 3 tries"}
    assert len(receiver.at("/broken")) == 3 and len(receiver.at("/stuck")) == 3
    assert wb.export_runs.get(run.id).details["notices"] == run.details["notices"]
    with pytest.raises(DeliveryError, match="'broken': not sent: HTTP 500$"):
        wb.notices.test("broken")  # one try


def test_a_failed_run_says_its_error_and_4xx_is_not_retried(wb, receiver, monkeypatch):
    from workbench.exports.notify import slack_body, webhook_body
    from workbench.run_states import Run

    fast(monkeypatch)
    receiver.answers["/gone"] = "404"
    target(wb, receiver, "gone")
    failed = Run(id=9, export_id=1, export="Women <!channel>", audience="Women",
                 state="failed", scheduled_for=NOW, type="one-time", format="csv",
                 destination="partner", created_by=ADMIN, attempts=1, rows=None, bytes=None,
                 as_of=None, file_name=None, error="host refused", details={})
    assert json.loads(webhook_body(failed))["event"] == "export_run.failed"
    assert json.loads(webhook_body(failed))["files"] == []
    text = json.loads(slack_body(failed))["text"]
    assert text.endswith("failed. Error: host refused") and "&lt;!channel&gt;" in text
    assert wb.notices.send(failed, ["gone", "nowhere"]) == {
        "gone": "not sent: HTTP 404",
        "nowhere": "not sent: no notice target of that name (it was removed)"}
    assert len(receiver.at("/gone")) == 1
    parts = Run(**{**failed.__dict__, "state": "complete", "error": None,
                   "details": {"files": [{"file_name": "a.001.csv"},
                                         {"file_name": "a.manifest.json"}]}})
    assert json.loads(webhook_body(parts))["files"] == ["a.001.csv", "a.manifest.json"]


def test_team_mode_answers_wb_notices_through_the_service(home, receiver):
    from workbench.service import codec
    from workbench.service.server import Service

    service = Service(home, ADMIN)
    try:
        status, answer = service.answer({"name": ADMIN}, "notices", "add", {"args": [
            {"name": "team", "type": "webhook", "url": receiver.url("/team"),
             "secret": SECRET}]}, None)
        assert status == 200, answer
        added = codec.decode(answer["result"], trusted=True)
        assert added.name == "team" and SECRET not in json.dumps(answer)
        status, answer = service.answer({"name": "vic"}, "notices", "remove", {"args": ["team"]},
                                        None)
        assert status == 403 and "notice.edit" in answer["message"]
        status, answer = service.answer({"name": "vic"}, "notices", "list", {}, None)
        assert "team" in [t.name for t in codec.decode(answer["result"], trusted=True)]
    finally:
        service.pool.shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_notices_tab_the_wizard_and_history_headless(wb, receiver):
    import ipywidgets

    from workbench.ui import App

    app = App(wb, background=False)
    app.go("exports", tab=4)
    manage = app.page
    assert manage.tabs.titles[4] == "Notices"
    manage.notices.widget.children[0].children[0].click()  # Add Notice target
    form = manage.form
    form.name.value, form.kind.value = "ui-hook", "webhook"
    form.url.value = "http://example.com/ui-hook-path"
    assert form.save() is False
    assert "must be https" in form.fields.notes["url"].value
    assert "is required" in form.fields.notes["secret"].value
    form.url.value, form.secret.value = receiver.url("/ui-hook-path"), SECRET
    assert form.save() is True and form.url.value == form.secret.value == ""
    row = next(r for r in manage.notices.table.rows if "ui-hook" in r["cells"]["name"])
    assert f"127.0.0.1:{receiver.port}" in row["cells"]["host"]
    assert row["cells"]["signed"] == "✔ signed" and row["cells"]["created_by"] == "ada"
    assert row["cells"]["created_at"].startswith("20")
    assert [a for a, _ in row["actions"]] == ["edit", "test", "remove"]
    manage.notices.table.act(row["id"], "test")
    row = next(r for r in manage.notices.table.rows if r["id"] == row["id"])
    assert "test sent (HTTP 200)" in row["cells"]["tested"]
    manage.notices.table.act(row["id"], "edit")
    assert "kept" in manage.form.url.placeholder and manage.form.url.value == ""
    state = json.dumps([w.get_state() for w in ipywidgets.Widget.widgets.values()],
                       default=str)
    assert "ui-hook-path" not in state and SECRET not in state

    export_id = export(wb, "Women wizard", ["ops@example.com"])
    app.go("export", export_id=export_id)
    builder = app.page
    assert builder.notify.value == "ops@example.com"
    assert ("ui-hook", "ui-hook") not in builder.notice_targets.options  # labelled with host
    assert "ui-hook" in [name for _label, name in builder.notice_targets.options]
    builder.notice_targets.value = ("ui-hook",)
    assert builder.recipients() == ["ops@example.com", "ui-hook"]
    assert builder.save() is True
    assert wb.exports.get(export_id).config.notify == ["ops@example.com", "ui-hook"]
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    app.go("exports", tab=1)
    cell = next(r for r in app.page.runs_table.rows if r["id"] == str(run.id))["cells"]["error"]
    assert "ui-hook: sent (HTTP 200)" in cell and "e-mail not sent" in cell
    assert "ui-hook-path" not in cell


def test_targets_are_kept_on_postgresql_too(tmp_path, postgres, receiver):
    from workbench.home import SETTINGS_TEMPLATE

    root = tmp_path / "home"
    root.mkdir()
    (root / "workbench.toml").write_text(
        SETTINGS_TEMPLATE.format(timezone="UTC", users=f'"{ADMIN}" = "admin"')
        .replace('store_url = ""', f'store_url = "{postgres.database()}"'), encoding="utf-8")
    init_home(root, admin=ADMIN, timezone="UTC")
    with workbench.open(root, user=ADMIN) as wb:
        added = target(wb, receiver, "pg-hook")
        target(wb, receiver, "other")
        with pytest.raises(Conflict, match="exists already"):
            wb.notices.add({"name": "pg-hook", "type": "slack", "url": receiver.url("/d")})
        kept = wb.notices.update(added.id, {"name": "pg-hook", "type": "webhook"}, version=1)
        assert kept.signed and kept.version == 2
        assert wb.notices.test("pg-hook") == "sent (HTTP 200)"
        wb.notices.remove("pg-hook")
        assert wb.notices.names() == ["other"]


def test_over_https_the_certificate_is_verified(server_tls, client_tls):  # noqa: F811
    from tests.receiver import running_receiver
    from workbench.delivery.webhook import post
    from workbench.settings import Secret

    with running_receiver(server_tls) as secure:
        url = Secret(secure.url("/tls"))
        with pytest.raises(DeliveryError, match="^its TLS certificate is not trusted$"):
            post(url, b"{}", dict)  # the system's trust store: self-signed is refused, once
        assert post(url, b"{}", dict, ssl_context=client_tls) == "sent (HTTP 200)"
        assert [r.body for r in secure.at("/tls")] == [b"{}"]


def test_a_step_applied_out_of_order_still_gets_the_one_before_it(tmp_path, monkeypatch):
    # Migration 12 (notice targets) may reach a home before an 11 merged later: opening it
    # with the 11 then applies the 11, though the latest step is recorded already.
    from sqlalchemy import Column, Integer, MetaData, Table, inspect

    from workbench.store import open_store, schema

    url = f"sqlite:///{tmp_path / 'w.db'}"
    open_store(url).dispose()
    later = Table("a_later_eleven", MetaData(), Column("id", Integer, primary_key=True))
    # Step 0 stands for the 11: a number no real step takes, below the latest recorded one.
    monkeypatch.setattr(schema, "MIGRATIONS", [(0, [later], {}), *schema.MIGRATIONS])
    store = open_store(url)
    assert "a_later_eleven" in inspect(store.engine).get_table_names()
    store.dispose()


def test_the_cli_adds_lists_tests_and_removes_targets_and_never_prints_a_secret(tmp_path,
                                                                                receiver):
    from tests.test_cli import run as cli

    home = tmp_path / "h"
    assert cli("init", "--home", home).returncode == 0
    hook = tmp_path / "hook.json"
    hook.write_text(json.dumps({"name": "hook", "type": "webhook",
                                "url": receiver.url("/cli-hook"), "secret": SECRET}))
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps({"name": "chat", "type": "slack",
                                "url": receiver.url(SLACK_PATH)}))
    added = [cli("notice", "add", hook, home=home), cli("notice", "add", chat, home=home)]
    assert [a.returncode for a in added] == [0, 0], [a.stderr for a in added]
    assert added[0].stdout.strip() == f"#1 hook: webhook to 127.0.0.1:{receiver.port} (signed)"
    listed = cli("--json", "notice", "list", home=home)
    assert [t["name"] for t in json.loads(listed.stdout)] == ["hook", "chat"]
    tested = cli("notice", "test", "hook", home=home)
    assert tested.returncode == 0 and "sent (HTTP 200)" in tested.stdout
    assert len(receiver.at("/cli-hook")) == 1
    printed = "".join(r.stdout + r.stderr for r in (*added, listed, tested))
    assert SECRET not in printed and "XXXXSLACKTOKEN" not in printed and "cli-hook" not in printed
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "type": "webhook", "url": "http://example.com/x",
                               "secret": SECRET}))
    refused = cli("notice", "add", bad, home=home)
    assert refused.returncode == 2 and "must be https" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    removed = cli("notice", "remove", "chat", home=home)
    assert removed.returncode == 0 and "removed notice target #2 chat" in removed.stdout


def test_a_removed_targets_id_is_never_given_to_the_next(tmp_path):
    """The audit trail names targets by id: the newest removed, the next added gets a new one."""
    init_home(tmp_path / "home", admin=ADMIN, timezone="UTC")
    with workbench.open(tmp_path / "home", user=ADMIN) as wb:
        first = wb.notices.add({"name": "a", "type": "slack",
                                "url": "https://hooks.slack.com/services/T/B/one"})
        wb.notices.remove(first.id)
        second = wb.notices.add({"name": "b", "type": "slack",
                                 "url": "https://hooks.slack.com/services/T/B/two"})
        assert second.id == first.id + 1
