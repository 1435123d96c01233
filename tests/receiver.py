"""A local HTTP receiver for webhook and Slack notices (http.server on 127.0.0.1, in a thread):
it records every request, and each path can be told to answer 500 or to hang."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


SLOW_SECONDS = 3.0


class Receiver:
    def __init__(self, port: int, scheme: str = "http"):
        self.port, self.scheme = port, scheme
        self.received: list[Received] = []
        self.answers: dict[str, str] = {}  # path -> "500" | "hang" | "slow" (else 200)
        self.released = threading.Event()  # a hanging answer ends when this is set

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@contextmanager
def running_receiver(tls=None):
    """``tls``: a server ``ssl.SSLContext``: the receiver speaks HTTPS (``Receiver.url``'s
    scheme is then https)."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            answer = receiver.answers.get(self.path, "200")
            if answer == "hang":
                receiver.released.wait(30)
                return
            if answer == "slow":  # 200, after a pause shorter than a webhook's read timeout
                time.sleep(SLOW_SECONDS)
                answer = "200"
            self.send_response(int(answer))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server.server_address[1], "https" if tls is not None else "http")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
