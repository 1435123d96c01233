"""Issue 22's parts together, end to end on real servers: a changes-only export with a change
column, zstd, split into parts of two rows, encrypted with real gpg, delivered to moto's S3
server on loopback (tests/s3.py), its manifest last, and a signed webhook to a local receiver
(tests/receiver.py) naming every file. Each part is checked by what a partner would do:
decrypt, decompress, rejoin, compare with the manifest."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.audience_data import D
from tests.test_delivery_pgp import _decrypt_with_only, keys  # noqa: F401 - real gpg keys

LATER = datetime(2026, 3, 12, 10, tzinfo=UTC)  # D+1 is processed by then
SECRET = "a-webhook-signing-secret-of-some-length"


@pytest.fixture
def receiver():
    from tests.receiver import running_receiver

    with running_receiver() as running:
        yield running


@pytest.fixture
def young(wb, write_csv):
    """"Young women" is {ann, eve, fay} as of D, {ann, eve, late} as of D+1 (test_export_files)."""
    from tests.audience_data import load

    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create({"name": "Young women", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]},
        {"attribute": "age", "op": "lte", "value": 40}]}).id)
    wb.processing.run(D)
    return wb


def delivered_rows(s3, bucket, run, key_of, gpg_keys, tmp_path) -> tuple[list[list[str]], dict]:
    """The rows of a run's data files as a partner reads them (decrypted, decompressed, parts
    rejoined, one header), checked against its manifest."""
    import zstandard

    client = s3.client()
    manifest_key = key_of(run.file_name)
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    rows: list[list[str]] = []
    for listed in manifest["parts"]:
        body = client.get_object(Bucket=bucket, Key=key_of(listed["file_name"]))["Body"].read()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (listed["bytes"],
                                                                 listed["sha256"])
        encrypted = tmp_path / listed["file_name"]
        encrypted.write_bytes(body)
        plain = _decrypt_with_only(gpg_keys, gpg_keys.alice, encrypted,
                                   tmp_path / (listed["file_name"] + ".plain"))
        text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(plain)).read().decode()
        part = list(csv.reader(io.StringIO(text)))
        assert len(part) - 1 == listed["rows"]
        rows += part if not rows else part[1:]
    return rows, manifest


def test_changes_compressed_split_encrypted_to_s3_with_a_signed_webhook(
        young, s3, keys, receiver, clock, tmp_path):  # noqa: F811
    wb = young
    bucket = s3.bucket()
    wb.destinations.add(s3.destination("lake", bucket, "crm/young"))
    wb.encryptions.add({"name": "partner key", "keys": [keys.alice.armored]})
    wb.notices.add({"name": "crm-hook", "type": "webhook", "url": receiver.url("/hook"),
                    "secret": SECRET})
    export_id = wb.exports.create({
        "name": "Young changes", "audience": 1, "destination": "lake",
        "file_name": "young_{change}_{run}.csv.zst", "encryption": "partner key",
        "schedule": {"start": "2026-03-12T06:00", "timezone": "UTC",
                     "repeat": {"every": 1, "unit": "days"}},
        "columns": [{"attribute": "customer_id"}, {"attribute": "first_name"}],
        "changes": "column", "compression": "zstd", "split": {"rows": 2},
        "notify": ["crm-hook"]}).id

    def key_of(name: str) -> str:
        return f"crm/young/{name}"

    first = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert first.state == "complete", first.error
    rows, manifest = delivered_rows(s3, bucket, first, key_of, keys, tmp_path)
    assert rows == [["customer_id", "first_name", "change"], ["ann", "Ann", "added"],
                    ["eve", "Eve", "added"], ["fay", "O'Brien", "added"]]
    assert [f["part"] for f in manifest["parts"]] == [1, 2] and manifest["total_rows"] == 3

    clock.set(LATER)
    wb.processing.run(D + timedelta(days=1))
    second = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert second.state == "complete", second.error
    rows, manifest = delivered_rows(s3, bucket, second, key_of, keys, tmp_path)
    assert rows == [["customer_id", "first_name", "change"], ["fay", "", "removed"],
                    ["late", "Late", "added"]]
    # A reader of the bucket sees the final keys only: the parts and manifests of both runs.
    names = [f["file_name"] for run in (first, second) for f in run.details["files"]]
    assert s3.keys(bucket) == sorted(key_of(n) for n in names) and s3.uploads(bucket) == []
    assert names[-1] == second.file_name and second.file_name.endswith(".manifest.json")

    # Each run told the webhook, signed, naming exactly the files it delivered.
    import hmac

    posted = receiver.at("/hook")
    assert len(posted) == 2
    for run, request in zip((first, second), posted, strict=True):
        body = json.loads(request.body)
        assert (body["run"], body["state"]) == (run.id, "complete")
        assert body["files"] == [f["file_name"] for f in run.details["files"]]
        signed = f"{request.headers['X-Workbench-Timestamp']}.".encode() + request.body
        expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["X-Workbench-Signature"], expected)
        assert wb.export_runs.get(run.id).details["notices"]["crm-hook"].startswith("sent")
