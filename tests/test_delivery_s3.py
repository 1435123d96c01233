"""S3 destinations against moto's standalone S3 server on loopback (tests/s3.py): saving one
(secrets write-only), testing it, every bad input in one plain line, and export runs delivered
end to end: under the final key only when whole, never over an existing object, found by the
attempt that takes a run over, multipart for a file over the part size."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from tests.s3 import MIN_PART, CuttingProxy, free_port
from tests.test_cli import run as cli
from tests.test_delivery_pgp import _decrypt_with_only, keys  # noqa: F401 - real gpg keys
from workbench.errors import DeliveryError, InvalidExport, S3Error


@pytest.fixture
def women(wb, write_csv):
    """The hand-made base with one live audience, "Women" (id 1), processed as of its day D."""
    from tests.audience_data import D, load

    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create({"name": "Women", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
    wb.processing.run(D)
    return wb


@pytest.fixture
def bucket(s3):
    return s3.bucket()


def export(wb, **changes) -> int:
    return wb.exports.create({"name": "Women daily", "audience": 1,
                              "file_name": "women_{run}.csv", "destination": "bucket",
                              "schedule": {"start": "2027-01-04T06:00"},
                              "columns": [{"attribute": "customer_id"}], **changes}).id


def ledger(run_id: int = 9, live=lambda *_: False) -> SimpleNamespace:
    recorded: list = []
    return SimpleNamespace(workbench="0a1b2c3d", run_id=run_id, attempt=1, live=live,
                           writing=recorded.append, staging=recorded.append,
                           recorded=recorded)


# -- saving and testing ---------------------------------------------------------------------

@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_an_s3_destination_keeps_its_secrets_write_only(wb, s3, bucket):
    secret = s3.writer[1]
    added = wb.destinations.add(s3.destination("bucket", bucket, "reports/daily",
                                               session_token=""))
    shown = json.dumps(added.to_json())
    assert added.type == "s3" and added.settings["prefix"] == "reports/daily"
    assert added.location == f"s3://{bucket}/reports/daily/ at 127.0.0.1:{s3.port}"
    assert added.secrets == ["secret_access_key"] and secret not in shown
    target = wb.destinations.target("bucket")
    assert secret not in repr(target) and "Secret('********')" in repr(target)
    # An edit leaving the secret out keeps it: the connection test still logs in.
    edited = wb.destinations.update("bucket", {k: v for k, v in s3.destination(
        "bucket", bucket, "reports").items() if k != "secret_access_key"})
    assert edited.settings["prefix"] == "reports" and edited.version == 2
    assert wb.destinations.test("bucket")[-1].endswith("is writable")
    # A wrong secret given replaces it: the test then says so in one line, without it.
    wb.destinations.update("bucket", s3.destination("bucket", bucket, "reports",
                                                    secret_access_key="not-the-secret"))
    with pytest.raises(S3Error) as refused:
        wb.destinations.test("bucket")
    assert refused.value.reason == "authentication" and "not-the-secret" not in str(
        refused.value) and "\n" not in str(refused.value)
    trail = " | ".join(wb.audit()["changes"])
    assert secret not in trail and "not-the-secret" not in trail
    assert "secret access key set" in trail and "secret access key changed" in trail
    # A destination's kind cannot change.
    with pytest.raises(InvalidExport, match="type cannot change"):
        wb.destinations.update("bucket", {"name": "bucket", "host": "h", "path": "/",
                                          "username": "u", "password": "p"})


def test_an_older_home_gets_room_for_s3_and_keeps_its_sftp_destinations(home, s3, bucket):
    """Migration 11 on a home made before destination kinds: the columns are added, an SFTP
    destination saved before reads as before, an S3 one can be added."""
    import sqlalchemy as sa

    import workbench
    from tests.conftest import ADMIN

    with workbench.open(home, user=ADMIN) as wb:
        wb.destinations.add({"name": "old", "host": "sftp.example.com", "path": "/in",
                             "username": "u", "password": "pw", "host_key": HOST_KEY})
    engine = sa.create_engine(f"sqlite:///{home / 'workbench.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE destinations DROP COLUMN settings")
        conn.exec_driver_sql("ALTER TABLE destinations DROP COLUMN sealed_settings")
        conn.exec_driver_sql("DELETE FROM schema_version WHERE version = 11")
    engine.dispose()
    with workbench.open(home, user=ADMIN) as wb:
        old = wb.destinations.get("old")
        assert (old.type, old.location, old.auth) == ("sftp", "sftp.example.com:22/in",
                                                      "password")
        assert wb.destinations.add(s3.destination("new", bucket)).type == "s3"
        assert [d.name for d in wb.destinations.list()] == ["old", "new"]


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_testing_a_destination_lists_puts_and_deletes_a_probe(wb, s3, bucket):
    wb.destinations.add(s3.destination("bucket", bucket, "in"))
    steps = wb.destinations.test("bucket")
    assert [s.split()[0] for s in steps] == ["connected", "probe", "probe"]
    assert "written" in steps[1] and "deleted" in steps[2] and s3.keys(bucket) == []


@pytest.mark.parametrize("change, field, words", [
    ({"prefix": "../up"}, "prefix", "must not contain '..'"),
    ({"prefix": "a/../b"}, "prefix", "must not contain '..'"),
    ({"prefix": "/abs"}, "prefix", "must not start with /"),
    ({"bucket": "Not_A_Bucket"}, "bucket", "a bucket name"),
    ({"endpoint": "http://s3.example.com"}, "endpoint", "must be https"),
    ({"endpoint": "ftp://127.0.0.1"}, "endpoint", "an https URL"),
    ({"endpoint": "https://key:secret@s3.example.com"}, "endpoint", "no user, path or query"),
    ({"endpoint": None, "region": None}, "endpoint", "or a region for AWS"),
    ({"endpoint": "", "region": "EU central"}, "region", "a region such as"),
    ({"secret_access_key": None}, "secret_access_key", "is required"),
    ({"type": "ftp"}, "type", "one of sftp, s3"),
])
def test_bad_input_is_refused_at_save_naming_the_field(wb, s3, change, field, words):
    with pytest.raises(InvalidExport) as refused:
        wb.destinations.add({**s3.destination("bucket", "drop", "in"), **change})
    assert words in str(refused.value) and "\n" not in str(refused.value)
    assert [p.field for p in refused.value.problems] == [field]
    assert wb.destinations.list() == []


class _Skewed(BaseHTTPRequestHandler):
    """What AWS answers to a request signed by a clock 15 minutes off."""

    def do_GET(self):  # noqa: N802
        body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>RequestTimeTooSkewed"
                b"</Code><Message>The difference between the request time and the current "
                b"time is too large.</Message></Error>")
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_HEAD = do_GET  # noqa: N815

    def log_message(self, *_args):
        pass


def test_each_connection_fault_is_one_plain_line_without_a_secret(wb, s3, bucket):
    skewed = ThreadingHTTPServer(("127.0.0.1", 0), _Skewed)
    threading.Thread(target=skewed.serve_forever, daemon=True).start()
    cases = {
        "missing_bucket": s3.destination("x", "no-such-bucket-here"),
        "authentication": s3.destination("x", bucket, access_key_id="AKIANOTKNOWN0000000"),
        "access_denied": s3.destination("x", bucket, access_key_id=s3.reader[0],
                                        secret_access_key=s3.reader[1]),
        "unreachable": s3.destination("x", bucket, endpoint=f"http://127.0.0.1:{free_port()}"),
        "clock_skew": s3.destination("x", bucket,
                                     endpoint=f"http://127.0.0.1:{skewed.server_port}"),
    }
    said = {}
    try:
        for reason, data in cases.items():
            wb.destinations.add({**data, "name": reason})
            with pytest.raises(S3Error) as raised:
                wb.destinations.test(reason)
            text = str(raised.value)
            assert raised.value.reason == reason, text
            assert "\n" not in text and data["secret_access_key"] not in text
            said[reason] = text
    finally:
        skewed.shutdown()
    assert "bucket no-such-bucket-here does not exist" in said["missing_bucket"]
    assert "AKIANOTKNOWN0000000" in said["authentication"]
    assert "clock" in said["clock_skew"] and "unreachable" in said["unreachable"]


# -- delivering -----------------------------------------------------------------------------

def test_a_run_is_delivered_under_its_final_key_only_and_never_overwritten(women, s3, bucket,
                                                                           monkeypatch):
    """End to end, in parts of 16 bytes (a part size for tests): complete, the object under
    its final key only, its SHA-256 in its metadata, nothing else left in the bucket."""
    from workbench.delivery import s3 as adapter

    wb = women
    monkeypatch.setenv("WORKBENCH_S3_PART_SIZE", "16")
    calls: list[str] = []
    real = adapter.client

    def counting(target):
        made = real(target)
        made.meta.events.register("before-call.s3.*",
                                  lambda model, **_: calls.append(model.name))
        return made

    monkeypatch.setattr(adapter, "client", counting)
    wb.destinations.add(s3.destination("bucket", bucket, "partner/in"))
    export_id = export(wb)
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete", run.error
    parts = calls.count("UploadPart")
    assert parts >= 2 and parts == -(-run.bytes // 16) and "CompleteMultipartUpload" in calls
    assert calls[-2:] == ["CopyObject", "DeleteObject"]  # into place, then the temporary gone
    key = f"partner/in/{run.file_name}"
    assert s3.keys(bucket) == [key] and s3.uploads(bucket) == []
    head = s3.client().head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["sha256"] == run.details["sha256"]
    assert run.details["destination"] == f"s3://{bucket}/partner/in/ at 127.0.0.1:{s3.port}"
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body.decode().splitlines()[0] == "customer_id" and len(body) == run.bytes
    # The same name again: refused, the object there untouched, nothing else left.
    wb.exports.update(export_id, {**wb.exports.get(export_id).config.to_json(),
                                  "file_name": run.file_name})
    again = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert again.state == "failed" and "never overwritten" in again.error
    assert s3.keys(bucket) == [key] and s3.uploads(bucket) == []
    assert s3.client().get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_an_encrypted_run_to_s3_decrypts_with_each_key(women, s3, bucket, keys,  # noqa: F811
                                                       tmp_path):
    wb = women
    wb.destinations.add(s3.destination("bucket", bucket))
    wb.encryptions.add({"name": "pgp", "keys": [keys.alice.armored, keys.bob.armored]})
    export_id = export(wb, encryption="pgp")
    plain = tmp_path / "plain.csv"
    wb.exports.write_csv(export_id, plain)
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete" and run.file_name.endswith(".csv.pgp")
    assert s3.keys(bucket) == [run.file_name]
    encrypted = tmp_path / run.file_name
    encrypted.write_bytes(s3.client().get_object(Bucket=bucket, Key=run.file_name)["Body"]
                          .read())
    for key in (keys.alice, keys.bob):
        assert _decrypt_with_only(keys, key, encrypted, tmp_path / f"{key.fingerprint}.csv") \
            == plain.read_bytes()


def test_a_file_over_the_part_size_goes_up_in_parts(wb, s3, bucket, monkeypatch):
    from workbench.delivery import s3 as adapter
    from workbench.delivery.upload import Staged, delivered, upload

    monkeypatch.setenv("WORKBENCH_S3_PART_SIZE", str(MIN_PART))
    calls: list[str] = []
    real = adapter.client

    def counting(target):
        made = real(target)
        made.meta.events.register("before-call.s3.*",
                                  lambda model, **_: calls.append(model.name))
        return made

    monkeypatch.setattr(adapter, "client", counting)
    wb.destinations.add(s3.destination("bucket", bucket, "big"))
    target = wb.destinations.target("bucket")
    payload = bytes(range(256)) * (MIN_PART * 3 // 256 + 100)  # 3 parts and a bit
    stream = io.BytesIO(payload)
    trickle = SimpleNamespace(read=lambda n: stream.read(min(n, 1000)))  # a pipe's short reads
    staged = upload(target, trickle, "big.csv", ledger())
    assert calls.count("UploadPart") == 4 and "CompleteMultipartUpload" in calls
    assert staged.bytes == len(payload) and s3.keys(bucket) == ["big/big.csv"]
    assert s3.uploads(bucket) == [] and delivered(target, staged)
    assert not delivered(target, Staged("big.csv", staged.bytes, "0" * 64))
    # Over the single-copy limit, the copy into place goes part by part too.
    monkeypatch.setattr(adapter, "COPY_LIMIT", MIN_PART)
    upload(target, io.BytesIO(payload), "big2.csv", ledger())
    assert "UploadPartCopy" in calls and s3.keys(bucket) == ["big/big.csv", "big/big2.csv"]
    assert s3.client().get_object(Bucket=bucket, Key="big/big2.csv")["Body"].read() == payload


def test_a_connection_dropped_mid_multipart_leaves_no_object_and_no_upload(wb, s3, bucket,
                                                                          monkeypatch):
    """A link that drops every big request once the first part is up (a real TCP proxy that
    closes the connection mid-body): the upload fails in one line after its retries, the
    multipart upload is aborted, and a reader of the bucket sees nothing."""
    from workbench.delivery.upload import upload

    monkeypatch.setenv("WORKBENCH_S3_PART_SIZE", str(MIN_PART))
    proxy = CuttingProxy(s3.port, limit=MIN_PART // 2)
    try:
        wb.destinations.add(s3.destination("bucket", bucket, "in", endpoint=proxy.url))
        payload = io.BytesIO(b"x" * (MIN_PART * 4))
        source = SimpleNamespace(read=lambda n: (proxy.cut.set() if payload.tell() else None,
                                                 payload.read(n))[1])
        recorded = ledger()
        with pytest.raises(S3Error) as raised:
            upload(wb.destinations.target("bucket"), source, "women.csv", recorded)
        assert proxy.cuts >= 2 and "\n" not in str(raised.value)  # retried, then given up
        assert "closed while uploading" in str(raised.value)
        assert s3.keys(bucket) == [] and s3.uploads(bucket) == []
        assert recorded.recorded[0] == "in/.women.csv.part-0a1b2c3d-9-1"
        assert recorded.recorded[-1] is None  # the temporary key is gone, and recorded so
    finally:
        proxy.close()


def test_a_sweep_removes_our_stale_temporaries_and_uploads_only(wb, s3, bucket):
    from workbench.delivery.upload import sweep

    client = s3.client()
    ours, live, theirs = (".a.csv.part-0a1b2c3d-5-1", ".b.csv.part-0a1b2c3d-6-1",
                          ".a.csv.part-99999999-5-1")
    for name in (ours, live, theirs, "partner.csv"):
        client.put_object(Bucket=bucket, Key=f"in/{name}", Body=b"rows")
    client.create_multipart_upload(Bucket=bucket, Key="in/.c.csv.part-0a1b2c3d-7-1")
    client.create_multipart_upload(Bucket=bucket, Key="in/.c.csv.part-99999999-7-1")
    wb.destinations.add(s3.destination("bucket", bucket, "in"))
    removed = sweep(wb.destinations.target("bucket"), "0a1b2c3d", lambda run, _a: run == 6)
    assert sorted(removed) == [ours, ".c.csv.part-0a1b2c3d-7-1 (incomplete upload)"]
    assert s3.keys(bucket) == [f"in/{n}" for n in sorted((live, theirs, "partner.csv"))]
    assert s3.uploads(bucket) == ["in/.c.csv.part-99999999-7-1"]


def test_a_copy_whose_answer_was_lost_is_never_failed_and_is_found_later(women, s3, bucket,
                                                                         clock, monkeypatch):
    """The connection goes while the copy into place is answered (the server did it): the run
    is not Failed; the attempt that takes it over finds the object and records it Complete;
    it is never sent twice."""
    from botocore.exceptions import ConnectionClosedError

    from workbench.delivery import s3 as adapter

    wb = women
    wb.destinations.add(s3.destination("bucket", bucket))
    committed = adapter._commit

    def commit_then_drop(*args):
        committed(*args)
        raise ConnectionClosedError(endpoint_url=s3.url)

    monkeypatch.setattr(adapter, "_commit", commit_then_drop)
    run_id = wb.export_runs.create(export(wb)).id
    run = wb.export_runs.execute(run_id)
    assert run.state == "in_progress" and "was lost while" in run.error
    monkeypatch.setattr(adapter, "_commit", committed)
    clock.advance(minutes=4)
    assert wb.export_runs.due(clock.now()) == [run_id]
    run = wb.export_runs.execute(run_id)
    assert run.state == "complete" and run.attempts == 2 and run.details["sha256"]
    # The temporary object stays until the next contact sweeps it: only ours, never final.
    assert run.file_name in s3.keys(bucket)
    assert all(k == run.file_name or ".part-" in k for k in s3.keys(bucket))


def test_the_cli_adds_shows_and_tests_an_s3_destination(tmp_path, s3, bucket):
    home = tmp_path / "h"
    assert cli("init", "--home", home, "--timezone", "UTC").returncode == 0
    data = tmp_path / "dest.json"
    data.write_text(json.dumps(s3.destination("drop", bucket, "exports")))
    added = cli("destination", "add", data, home=home)
    assert added.returncode == 0, added.stderr
    assert f"s3://{bucket}/exports/" in added.stdout and s3.writer[1] not in added.stdout
    shown = cli("destination", "show", "drop", "--json", home=home)
    assert json.loads(shown.stdout)["bucket"] == bucket and s3.writer[1] not in shown.stdout
    tested = cli("destination", "test", "drop", home=home)
    assert tested.returncode == 0 and "probe object" in tested.stdout
    data.write_text(json.dumps(s3.destination("bad", bucket, "../x")))
    refused = cli("destination", "add", data, home=home)
    assert refused.returncode != 0 and "Prefix" in refused.stderr


def test_the_final_key_is_checked_before_anything_is_sent(wb, s3, bucket):
    from workbench.delivery.upload import upload

    s3.client().put_object(Bucket=bucket, Key="taken.csv", Body=b"theirs")
    wb.destinations.add(s3.destination("bucket", bucket))
    recorded = ledger()
    with pytest.raises(DeliveryError, match="never overwritten"):
        upload(wb.destinations.target("bucket"), io.BytesIO(b"ours"), "taken.csv", recorded)
    assert recorded.recorded == [] and s3.keys(bucket) == ["taken.csv"]


# -- the form, in Chromium ------------------------------------------------------------------

def test_an_s3_destination_added_through_the_form(served, browser, s3, bucket):
    from tests.served import NO_CHROMIUM, Visit
    from tests.served import cli as served_cli

    if NO_CHROMIUM:
        pytest.skip(NO_CHROMIUM)
    home, admin, _viewer = served
    visit = Visit(browser, admin.url)
    page = visit.page
    try:
        page.click("button:has-text('Manage Exports')")
        page.wait_for_selector(".wb-title:has-text('Manage Exports')")
        visit.tab("Destinations")
        page.click("button:has-text('Add Destination')")
        page.click(".wb-kind button:has-text('S3')")
        page.wait_for_selector("input[placeholder='partner-drop']")
        assert not page.is_visible("input[placeholder='sftp.example.com']")
        visit.shot("80-destination-kind-s3")
        page.fill("input[placeholder='partner-s3']", "partner-s3")
        page.fill("input[placeholder='partner-drop']", bucket)
        page.fill("input[placeholder='exports/daily (optional)']", "../up")
        page.fill("input[placeholder='https://minio.example.com:9000 (not for AWS)']", s3.url)
        page.fill("input[placeholder='AKIAIOSFODNN7EXAMPLE']", s3.writer[0])
        page.fill("input[placeholder='secret access key']", s3.writer[1])
        page.click("button:has-text('Save destination')")
        page.wait_for_selector("text=must not contain '..'")
        visit.shot("81-destination-s3-prefix-refused")
        # The refused save kept the typed secret (it is never sent back to the page).
        assert page.input_value("input[placeholder='secret access key']") == s3.writer[1]
        page.fill("input[placeholder='exports/daily (optional)']", "exports/daily")
        page.click("button:has-text('Save destination')")
        page.wait_for_selector(f"table.wb-table td:has-text('s3://{bucket}/exports/daily/')")
        page.wait_for_selector("table.wb-table td:has-text('connection test passed')")
        visit.shot("82-destinations-with-s3")
        visit.act(f"s3://{bucket}", "Edit")
        page.wait_for_selector("input[placeholder='leave empty to keep the stored one'] >> visible=true")
        assert page.input_value("input[placeholder='partner-drop']") == bucket
        assert page.is_disabled(".wb-kind button:has-text('SFTP')")  # its kind stays
        visit.shot("83-destination-s3-edit")
        page.click("button:has-text('Cancel')")
        visit.act(f"s3://{bucket}", "Test connection")
        page.wait_for_selector("table.wb-table td:has-text('probe object')")
        visit.shot("84-destination-s3-tested")
        # Kind-neutral columns; a second test says it ran again (its time, its count)
        heads = [h.lower() for h in page.locator("table.wb-table th >> visible=true")
                 .all_inner_texts()]
        assert heads[:5] == ["name", "kind", "where", "sign-in", "host key"], heads
        row = page.locator(f"table.wb-table tr:has-text('s3://{bucket}')").first
        assert "S3" in row.inner_text() and s3.writer[0] in row.inner_text()  # the key's id
        page.wait_for_selector("table.wb-table td:has-text('(test 2)')")
        assert "tested " in row.inner_text()
        visit.shot("76-destinations-by-kind-tested-again")
        assert s3.writer[1] not in page.content()
        assert not any(s3.writer[1] in frame for frame in visit.received)
        visit.done()
    finally:  # the shared home as the other browser tests expect it
        try:
            served_cli(home, "destination", "remove", "partner-s3")
        except AssertionError:
            pass  # never added


def test_team_mode_sends_an_s3_destination_and_its_errors_as_the_embedded_api(wb, s3, bucket):
    from workbench.service import codec
    from workbench.service.client import _error
    from workbench.service.server import status_of

    added = wb.destinations.add(s3.destination("bucket", bucket, "in"))
    sent = json.dumps(codec.encode(added))
    assert s3.writer[1] not in sent
    back = codec.decode(json.loads(sent))
    assert back == added and back.location == added.location
    error = _error({"error": "S3Error", "message": "bucket x does not exist on y"}, 500)
    assert isinstance(error, S3Error) and str(error) == "bucket x does not exist on y"
    assert status_of(S3Error("x", "missing_bucket")) == status_of(DeliveryError("x"))
