"""S3 destinations (AWS S3 and S3-compatible object storage): a thin boto3 adapter.

A run's file is written under a temporary key beside the final one, ``PREFIX/.NAME.part-W-RUN-
ATTEMPT`` (the same pattern as SFTP, so a workbench sweeps only its own), hashed with SHA-256
as it streams: one PUT for a file smaller than a part, else a multipart upload that is aborted
on any failure, so no parts linger. Only when the temporary object is whole is it copied to
the final key (the commit point: S3 has no rename), with its SHA-256 in the object's metadata
(``x-amz-meta-sha256``), and the temporary object deleted. The final key is never overwritten:
it is looked for first, and the copy is conditional (``If-None-Match: *``) where the server
honours it (AWS since 2024, MinIO, moto); docs/exports.md says what window is left elsewhere.

Every failure is one ``S3Error(message, reason)`` line naming the bucket or the endpoint, never
a secret. Reasons: missing_bucket, authentication, clock_skew, unreachable, timeout,
access_denied, protocol.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, ClassVar
from urllib.parse import urlsplit

from ..errors import DeliveryError, RenameUncertain, S3Error, WorkbenchError
from ..settings import Secret
from .upload import PARTIAL, Ledger, Staged, partial_name

KIND, LABEL = "s3", "S3"
PROBE_PREFIX = ".workbench-probe-"
# Bytes per part of a multipart upload (and the size under which one PUT is used). AWS refuses
# parts under 5 MiB but the last; the override exists for tests against a local server.
PART_SIZE = 16 * 1024 * 1024
COPY_LIMIT = 5 * 1024 ** 3  # the largest object one CopyObject copies; above, part by part
CONNECT_TIMEOUT, READ_TIMEOUT, ATTEMPTS = 10, 60, 3
_SECRET_FIELDS = ("secret_access_key", "session_token")


def part_size() -> int:
    value = os.environ.get("WORKBENCH_S3_PART_SIZE")
    return int(value) if value and value.isdigit() and int(value) > 0 else PART_SIZE


def loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (the only place plain http is allowed to)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, repr=False)
class S3Target:
    kind: ClassVar[str] = "s3"
    bucket: str
    prefix: str  # a folder: no leading or trailing "/", "" for the bucket's top
    access_key_id: str
    secret_access_key: Secret
    region: str | None = None
    endpoint: str | None = None
    session_token: Secret | None = None

    def __post_init__(self):
        # A plain str here would show itself in a repr or a traceback: refuse it outright.
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Secret):
                raise TypeError(f"S3Target.{name} must be a Secret or None, "
                                f"not {type(value).__name__}")

    def __repr__(self) -> str:
        shown = [f"{name}={getattr(self, name)!r}"
                 for name in ("bucket", "prefix", "region", "endpoint", "access_key_id")]
        shown += [f"{name}=Secret('********')" for name in _SECRET_FIELDS if getattr(self, name)]
        return f"S3Target({', '.join(shown)})"

    @property
    def where(self) -> str:
        """The server, as errors name it."""
        if self.endpoint:
            return urlsplit(self.endpoint).netloc
        return f"s3.{self.region}.amazonaws.com"

    @property
    def location(self) -> str:
        return location(self.bucket, self.prefix, self.endpoint)

    @property
    def username(self) -> str:
        """What a run records as who delivered (an access key id is not a secret)."""
        return self.access_key_id

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def folder(self) -> str:
        """The prefix as keys start with it: ``reports/`` (or "" for the bucket's top)."""
        return f"{self.prefix}/" if self.prefix else ""


def location(bucket: str, prefix: str, endpoint: str | None = None) -> str:
    """``s3://bucket/prefix/`` (``at host:port`` for a server other than AWS)."""
    where = f"s3://{bucket}/{prefix + '/' if prefix else ''}"
    return f"{where} at {urlsplit(endpoint).netloc}" if endpoint else where


# --- connecting -----------------------------------------------------------------------------


def client(target: S3Target):
    """A boto3 S3 client with bounded timeouts and retries (botocore's standard mode)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=target.access_key_id,
        aws_secret_access_key=target.secret_access_key.reveal(),
        aws_session_token=target.session_token.reveal() if target.session_token else None)
    config = Config(
        connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"}, signature_version="s3v4",
        # S3-compatible servers (Ceph, older MinIO) refuse the CRC checksums botocore adds
        # by default since 1.36; our own SHA-256 says whether the bytes arrived.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if target.endpoint else "auto"})
    return session.client("s3", region_name=target.region or "us-east-1",
                          endpoint_url=target.endpoint or None, config=config)


def test(target: S3Target) -> list[str]:
    """List the prefix, put a probe object there and delete it: the steps that passed, or the
    ``S3Error`` of the first that failed."""
    s3 = client(target)
    steps: list[str] = []
    action = "list"
    probe = target.key(f"{PROBE_PREFIX}{secrets.token_hex(8)}")
    try:
        s3.list_objects_v2(Bucket=target.bucket, Prefix=target.folder, MaxKeys=1)
        steps.append(f"connected to {target.where} and listed {target.location}")
        action = "put"
        s3.put_object(Bucket=target.bucket, Key=probe,
                      Body=b"Audience Workbench probe object; safe to delete.\n")
        steps.append(f"probe object {probe} written")
        action = "delete"
        s3.delete_object(Bucket=target.bucket, Key=probe)
        steps.append(f"probe object deleted: {target.location} is writable")
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, target, action, probe if action != "list" else None) \
            from None
    return steps


test.__test__ = False  # not a pytest test, despite its name


# --- delivering -----------------------------------------------------------------------------


def upload(target: S3Target, source: BinaryIO, name: str, ledger: Ledger) -> Staged:
    """Upload ``source`` as ``name`` under the target's prefix (see the module's docstring),
    telling ``ledger`` how far it got; what the final key holds.

    A copy whose answer was lost with the connection raises ``RenameUncertain``: whether the
    object is in place is for the next attempt to look (``delivered``)."""
    s3 = client(target)
    final = target.key(name)
    temporary = target.key(partial_name(name, ledger.workbench, ledger.run_id, ledger.attempt))
    written = False
    action, key = "list", None
    try:
        sweep_prefix(s3, target, ledger.workbench, ledger.live)
        action, key = "head", final
        if _exists(s3, target, final):
            raise DeliveryError(f"{target.location}{name} exists already; it is never "
                                "overwritten (remove it, or change the file name)")
        ledger.writing(temporary)
        written = True
        action, key = "upload", temporary
        staged = Staged(name, *_write(s3, target, source, temporary))
        ledger.staging(staged)
        action, key = "copy", final
        try:
            _commit(s3, target, temporary, final, staged)
        except BaseException as exc:
            if not _answered(exc):  # the copy may have happened: nothing is removed
                written = False
                if not isinstance(exc, Exception):
                    raise
                raise RenameUncertain(
                    f"the connection to {target.where} was lost while {final} was being copied "
                    "into place; the next attempt looks whether it is there") from exc
            raise
        written = False
        _delete_quietly(s3, target, temporary)  # else the next sweep removes it
        return staged
    except BaseException as exc:  # stopped too: leave nothing of ours in their bucket
        if written and _delete_quietly(s3, target, temporary):
            _quietly(ledger.writing, None)
        if isinstance(exc, WorkbenchError) or not isinstance(exc, Exception):
            raise
        raise translate_error(exc, target, action, key) from None


def _write(s3, target: S3Target, source: BinaryIO, key: str) -> tuple[int, str]:
    """Stream ``source`` to ``key``: its size and SHA-256, once the server holds it all. One
    PUT below a part's size, else a multipart upload, aborted on any failure."""
    size = part_size()
    digest = hashlib.sha256()
    first = _read(source, size)
    digest.update(first)
    if len(first) < size:
        s3.put_object(Bucket=target.bucket, Key=key, Body=first)
        total = len(first)
    else:
        total = _multipart(s3, target, source, key, first, size, digest)
    kept = s3.head_object(Bucket=target.bucket, Key=key)["ContentLength"]
    if kept != total:
        raise S3Error(f"{target.where} kept {kept:,} of the {total:,} bytes written to {key}; "
                      "nothing was copied into place", "protocol")
    return total, digest.hexdigest()


def _multipart(s3, target: S3Target, source: BinaryIO, key: str, first: bytes, size: int,
               digest) -> int:
    upload_id = s3.create_multipart_upload(Bucket=target.bucket, Key=key)["UploadId"]
    try:
        parts, total, chunk = [], 0, first
        while chunk:
            number = len(parts) + 1
            answer = s3.upload_part(Bucket=target.bucket, Key=key, UploadId=upload_id,
                                    PartNumber=number, Body=chunk)
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            total += len(chunk)
            chunk = _read(source, size)
            digest.update(chunk)
        s3.complete_multipart_upload(Bucket=target.bucket, Key=key, UploadId=upload_id,
                                     MultipartUpload={"Parts": parts})
        return total
    except BaseException:
        _abort_quietly(s3, target, key, upload_id)  # else the next sweep aborts it
        raise


def _read(source: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end: a pipe's read may return less (a part under
    5 MiB that is not the last is refused, and a short first read is not the whole file)."""
    chunks, wanted = [], size
    while wanted > 0:
        chunk = source.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _commit(s3, target: S3Target, temporary: str, final: str, staged: Staged) -> None:
    """Copy the whole temporary object to its final key, never over an existing one."""
    from botocore.exceptions import ClientError

    metadata = {"sha256": staged.sha256}
    try:
        if staged.bytes <= COPY_LIMIT:
            s3.copy_object(Bucket=target.bucket, Key=final, IfNoneMatch="*",
                           CopySource={"Bucket": target.bucket, "Key": temporary},
                           MetadataDirective="REPLACE", Metadata=metadata)
        else:
            _copy_in_parts(s3, target, temporary, final, staged.bytes, metadata)
    except ClientError as exc:
        if _code(exc) not in ("PreconditionFailed", "412"):
            raise
        # Someone's object is there, or ours: a retried copy whose first answer was lost.
        if _holds(s3, target, final, staged):
            return
        raise DeliveryError(f"{target.location}{staged.file_name} appeared while the file was "
                            "uploaded; it is never overwritten (remove it, or change the file "
                            "name)") from None


def _copy_in_parts(s3, target: S3Target, temporary: str, final: str, size: int,
                   metadata: dict) -> None:
    """A copy of more than 5 GiB: part by part on the server, completed only if the final key
    is still free."""
    step = max(part_size(), 512 * 1024 * 1024)
    upload_id = s3.create_multipart_upload(Bucket=target.bucket, Key=final,
                                           Metadata=metadata)["UploadId"]
    try:
        parts = []
        for number, start in enumerate(range(0, size, step), 1):
            answer = s3.upload_part_copy(
                Bucket=target.bucket, Key=final, UploadId=upload_id, PartNumber=number,
                CopySource={"Bucket": target.bucket, "Key": temporary},
                CopySourceRange=f"bytes={start}-{min(start + step, size) - 1}")
            parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
        s3.complete_multipart_upload(Bucket=target.bucket, Key=final, UploadId=upload_id,
                                     MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    except BaseException:
        _abort_quietly(s3, target, final, upload_id)
        raise


def delivered(target: S3Target, staged: Staged) -> bool:
    """Whether the final key holds exactly the staged file: its size, then the SHA-256 its
    copy recorded in the metadata (or, without that, the bytes read back and hashed)."""
    s3 = client(target)
    try:
        return _holds(s3, target, target.key(staged.file_name), staged)
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, target, "head", target.key(staged.file_name)) from None


def _holds(s3, target: S3Target, key: str, staged: Staged) -> bool:
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=target.bucket, Key=key)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    if head["ContentLength"] != staged.bytes:
        return False
    recorded = (head.get("Metadata") or {}).get("sha256")
    if recorded:
        return recorded == staged.sha256
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=target.bucket, Key=key)["Body"]
    for chunk in body.iter_chunks(1 << 20):
        digest.update(chunk)
    return digest.hexdigest() == staged.sha256


def sweep(target: S3Target, workbench: str, live: Callable[[int, int], bool]) -> list[str]:
    """Remove this workbench's temporary objects under the prefix, and abort its incomplete
    multipart uploads, that no live attempt owns; the names removed."""
    s3 = client(target)
    try:
        return sweep_prefix(s3, target, workbench, live)
    except Exception as exc:  # noqa: BLE001
        raise translate_error(exc, target, "list", None) from None


def sweep_prefix(s3, target: S3Target, workbench: str, live: Callable[[int, int], bool]
                 ) -> list[str]:
    def ours(key: str) -> bool:
        found = PARTIAL.match(key[len(target.folder):])
        return bool(found) and found["workbench"] == workbench and \
            not live(int(found["run"]), int(found["attempt"]))

    removed = []
    start = f"{target.folder}."
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=target.bucket, Prefix=start, Delimiter="/")
    for page in pages:
        for entry in page.get("Contents") or []:
            if ours(entry["Key"]) and _delete_quietly(s3, target, entry["Key"]):
                removed.append(entry["Key"][len(target.folder):])
    uploads = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=target.bucket, Prefix=start, Delimiter="/")
    for page in uploads:
        for entry in page.get("Uploads") or []:
            if ours(entry["Key"]) and _abort_quietly(s3, target, entry["Key"],
                                                     entry["UploadId"]):
                removed.append(f"{entry['Key'][len(target.folder):]} (incomplete upload)")
    return removed


def _exists(s3, target: S3Target, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=target.bucket, Key=key)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _delete_quietly(s3, target: S3Target, key: str) -> bool:
    """Delete ``key``: True when it is gone (deleting a missing key succeeds in S3)."""
    try:
        s3.delete_object(Bucket=target.bucket, Key=key)
    except Exception:  # noqa: BLE001 - unreachable: the next sweep removes it
        return False
    return True


def _abort_quietly(s3, target: S3Target, key: str, upload_id: str) -> bool:
    try:
        s3.abort_multipart_upload(Bucket=target.bucket, Key=key, UploadId=upload_id)
    except Exception as exc:  # noqa: BLE001
        return _code(exc) in ("NoSuchUpload", "404")
    return True


def _quietly(call, *args) -> None:
    try:
        call(*args)
    except Exception:  # noqa: BLE001 - tidiness: a sweep finds nothing later
        pass


def _answered(exc: BaseException) -> bool:
    """Whether the server answered (an S3 error it sent), rather than the connection going
    away under the request."""
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError | WorkbenchError)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


# --- errors ---------------------------------------------------------------------------------

_ACTIONS = {"list": "listing", "head": "looking for", "upload": "uploading", "put": "writing",
            "copy": "copying into place", "delete": "deleting"}


def translate_error(exc: BaseException, target: S3Target, action: str,
                    key: str | None) -> S3Error:
    """One plain line for what boto3 raised while ``action`` (list, head, upload, put, copy,
    delete) on ``key``."""
    from botocore import exceptions as aws

    if isinstance(exc, S3Error):
        return exc
    doing = f"{_ACTIONS.get(action, action)} {key}" if key else _ACTIONS.get(action, action)
    if isinstance(exc, aws.ClientError):
        code = _code(exc)
        if code == "NoSuchBucket":
            return S3Error(f"bucket {target.bucket} does not exist on {target.where}",
                           "missing_bucket")
        if code == "InvalidAccessKeyId":
            return S3Error(f"{target.where} does not know the access key id "
                           f"{target.access_key_id} (wrong credentials)", "authentication")
        if code == "SignatureDoesNotMatch":
            return S3Error(f"{target.where} refused the secret access key of "
                           f"{target.access_key_id} (wrong credentials: the request signature "
                           "does not match)", "authentication")
        if code in ("ExpiredToken", "InvalidToken", "TokenRefreshRequired"):
            return S3Error(f"{target.where} refused the session token of "
                           f"{target.access_key_id} (expired or invalid)", "authentication")
        if code == "RequestTimeTooSkewed":
            return S3Error(f"{target.where} refused the request because this computer's clock "
                           "differs from the server's by more than 15 minutes; set the clock "
                           "right (NTP) and try again", "clock_skew")
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            return S3Error(f"access denied by {target.where} while {doing} in bucket "
                           f"{target.bucket} (the access key lacks a permission: see "
                           "docs/exports.md, S3 destinations)", "access_denied")
        message = _scrub(((exc.response.get("Error") or {}).get("Message") or code)
                         .splitlines()[0], target)
        return S3Error(f"{target.where} refused {doing} in bucket {target.bucket}: {code}: "
                       f"{message}", "protocol")
    if isinstance(exc, aws.EndpointConnectionError | aws.ConnectTimeoutError):
        return S3Error(f"cannot connect to {target.where} (endpoint unreachable)", "unreachable")
    if isinstance(exc, aws.ReadTimeoutError):
        return S3Error(f"{target.where} stopped answering while {doing} (no answer within "
                       f"{READ_TIMEOUT} s, {ATTEMPTS} attempts)", "timeout")
    if isinstance(exc, aws.ConnectionError | ConnectionError | aws.HTTPClientError):
        return S3Error(f"the connection to {target.where} closed while {doing}", "protocol")
    if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
        return S3Error(f"{target.where}: the destination has no credentials", "authentication")
    text = _scrub((str(exc).strip().splitlines() or [type(exc).__name__])[0], target)
    return S3Error(f"S3 at {target.where} failed while {doing}: {text}", "protocol")


def _scrub(text: str, target: S3Target) -> str:
    """Belt and braces: no server message may carry a secret of the target."""
    for name in _SECRET_FIELDS:
        value = getattr(target, name)
        if value and len(value.reveal()) >= 4:
            text = text.replace(value.reveal(), "********")
    return text
