"""Outgoing webhook and Slack notices: one HTTPS POST of a JSON body, bounded and retried.

Only https, except to a loopback host (127.0.0.1, ::1, localhost: a receiver on this machine,
which the tests use). The server's certificate is verified against the system's trust store.
Redirects are not followed (a 3xx is a refusal): the signed body goes to the URL that was
sealed and nowhere else. Each try waits at most ``TIMEOUT`` seconds for the connection and for
each read; a 2xx answer is success; 429 and 5xx, a timeout or a dropped connection are tried
again after ``BACKOFF``; any other 4xx is final. Every failure is one line without the URL
(webhook URLs are secrets: Slack's carry their token in the path), and no vendor exception is
chained to it.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import DeliveryError
from ..settings import Secret
from .hosts import check_host, shown

TIMEOUT = 5.0  # seconds: to connect, and for each read of the answer
BACKOFF = (0.0, 1.0, 4.0)  # seconds waited before each try: three tries
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_URL = 2048  # characters of a notice URL (browsers and proxies refuse longer ones)
MAX_ANSWER = 64 * 1024  # of an answer's body read (then the connection is closed)


def url_host(url: str) -> str:
    """The host of a notice URL, the only part of it that is ever shown (``hooks.slack.com``),
    once it is checked: https (http for a loopback host only), a host, no white space or
    control characters. ``ValueError`` says what is wrong without repeating the URL."""
    text = url.strip()
    if not text or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("must be one URL without spaces or control characters")
    if len(text) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL:,} characters (got {len(text):,})")
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("is not a URL (https://host/path)") from None
    if not host:
        raise ValueError("is not a URL (https://host/path)")
    scheme = parts.scheme.lower()
    if scheme == "http" and host not in LOOPBACK:
        raise ValueError(f"must be https (http only to a loopback host such as 127.0.0.1), "
                         f"not http to {host}")
    if scheme not in ("https", "http"):
        raise ValueError("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        # http.client would drop them silently: a receiver expecting them would refuse.
        raise ValueError("must not carry a user name or password (user:password@); the "
                         "signing secret proves who sends")
    # http.client sends the path and query as ASCII: anything else would fail every send.
    rest = text[len(parts.scheme) + 3 + len(parts.netloc):]
    odd = next((ch for ch in rest if ord(ch) > 126), None)
    if odd is not None:
        raise ValueError(f"must be ASCII after the host: percent-encode U+{ord(odd):04X} "
                         f"(as %{'%'.join(f'{b:02X}' for b in odd.encode())})")
    check_host(host)
    return shown(host, port)


def post(url: Secret, body: bytes, headers: Callable[[], dict[str, str]], *,
         timeout: float | None = None, backoff: tuple[float, ...] | None = None,
         ssl_context: ssl.SSLContext | None = None) -> str:
    """POST ``body`` to ``url`` until a 2xx answer, at most ``len(backoff)`` tries; ``headers``
    is called for each try (a signature carries the moment of its try). Returns what to record
    (``sent (HTTP 200)``); raises ``DeliveryError`` (``HTTP 500 after 3 tries``, ``no answer
    within 5 s``) otherwise."""
    timeout = TIMEOUT if timeout is None else timeout
    waits = BACKOFF if backoff is None else backoff
    reason, tried = "not tried", 0
    for wait in waits:
        if wait:
            time.sleep(wait)
        tried += 1
        status, reason, again = _try(url.reveal(), body, headers(), timeout, ssl_context)
        if status is not None and 200 <= status < 300:
            return f"sent (HTTP {status})"
        if not again:
            break
    raise DeliveryError(f"{reason} after {tried} tries" if tried > 1 else reason)


def _try(url: str, body: bytes, headers: dict[str, str], timeout: float,
         ssl_context: ssl.SSLContext | None) -> tuple[int | None, str, bool]:
    """(HTTP status or None, the reason in one line, whether trying again may help)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme.lower() == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout,
            context=ssl_context or ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    failure: tuple[int | None, str, bool] | None = None
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "Audience-Workbench", **headers})
        answer = connection.getresponse()
        answer.read(MAX_ANSWER)
        status = answer.status
        again = status == 429 or status >= 500
        return status, f"HTTP {status}", again
    except TimeoutError:
        failure = (None, f"no answer within {timeout:g} s", True)
    except ssl.SSLCertVerificationError:
        failure = (None, "its TLS certificate is not trusted", False)
    except ssl.SSLError:
        failure = (None, "the TLS handshake failed", True)
    except ConnectionRefusedError:
        failure = (None, "the connection was refused (nothing listens there?)", True)
    except socket.gaierror:
        failure = (None, f"the host {parts.hostname} was not found", True)
    except (OSError, http.client.HTTPException, UnicodeError, ValueError) as exc:
        # UnicodeError/ValueError: a URL stored before it was checked as it is now.
        failure = (None, f"the connection failed ({exc.__class__.__name__})", True)
    finally:
        connection.close()
    return failure
