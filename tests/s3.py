"""A local S3-compatible server for tests: moto's standalone server (``python -m moto.server``)
in a subprocess on a free loopback port, with request signing checked (IAM on), so wrong keys
fail as against AWS. The client code under test talks HTTP to it, as to AWS.

Two IAM users are made while the server still lets requests through unauthenticated
(``INITIAL_NO_AUTH_ACTION_COUNT``): ``writer`` (s3:*) and ``reader`` (no S3 permission, for
"access denied"). Parts may be as small as 16 bytes (``S3_UPLOAD_PART_MIN_SIZE``), so a
multipart upload needs no 5 MiB parts in a test: ``MIN_PART`` is the part size tests use.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MIN_PART = 64 * 1024
_SERVER_MIN_PART = 16  # even an export run of a few hundred bytes can go up in parts
_UNAUTHENTICATED = 6  # the IAM calls below, in this order


@dataclass
class S3Server:
    url: str
    port: int
    writer: tuple[str, str]  # access key id, secret access key
    reader: tuple[str, str]
    process: subprocess.Popen

    def client(self, keys: tuple[str, str] | None = None, url: str | None = None):
        import boto3
        from botocore.config import Config

        key, secret = keys or self.writer
        return boto3.client("s3", endpoint_url=url or self.url, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=Config(s3={"addressing_style": "path"}))

    def bucket(self) -> str:
        """A new empty bucket of its own for one test."""
        name = f"drop-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every object a reader of the bucket can see."""
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(entry["Key"] for entry in listed.get("Contents") or [])

    def uploads(self, bucket: str) -> list[str]:
        """Multipart uploads begun and neither completed nor aborted."""
        listed = self.client().list_multipart_uploads(Bucket=bucket)
        return sorted(entry["Key"] for entry in listed.get("Uploads") or [])

    def destination(self, name: str, bucket: str, prefix: str = "", **changes) -> dict:
        """SPEC 7 JSON of an S3 destination on this server, with the writer's keys."""
        return {"name": name, "type": "s3", "bucket": bucket, "prefix": prefix,
                "endpoint": self.url, "region": "us-east-1",
                "access_key_id": self.writer[0], "secret_access_key": self.writer[1],
                **changes}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_moto() -> Iterator[S3Server]:
    import boto3

    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_UNAUTHENTICATED),
           "S3_UPLOAD_PART_MIN_SIZE": str(_SERVER_MIN_PART),
           "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1024 * 1024), "MOTO_CALL_RESET_API": "false"}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")

        def user(name: str, actions: str) -> tuple[str, str]:
            iam.create_user(UserName=name)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
            return key["AccessKeyId"], key["SecretAccessKey"]

        writer = user("writer", "s3:*")
        reader = user("reader", "iam:GetUser")
        yield S3Server(url=url, port=port, writer=writer, reader=reader, process=process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class CuttingProxy:
    """A TCP proxy on loopback in front of the server: once ``cut`` is set, any connection
    that has carried more than ``limit`` bytes towards the server is closed mid-request (a
    dropped link under a big transfer); small requests (listing, abort) still pass."""

    def __init__(self, port: int, limit: int):
        import threading

        self.target_port, self.limit = port, limit
        self.cut = threading.Event()
        self.cuts = 0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(32)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, towards_server: bool) -> None:
        carried = 0
        try:
            while chunk := source.recv(16384):
                carried += len(chunk)
                if towards_server and self.cut.is_set() and carried > self.limit:
                    self.cuts += 1
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._listener.close()
