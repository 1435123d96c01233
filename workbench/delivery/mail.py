"""Outgoing mail: a thin smtplib adapter for export notifications.

Plain SMTP, or STARTTLS when ``smtp.starttls`` (the default): the server's certificate is verified
against the system's trust store and its host name with ``ssl.create_default_context()``; a server
that does not offer STARTTLS is refused rather than spoken to in the clear. Login only when
``smtp.username`` is set, with the password from ``$WORKBENCH_SMTP_PASSWORD`` (a ``Secret``,
revealed only in the call to ``login``). With ``starttls = false`` and a user name, the password
crosses the network in the clear: meant for a relay on the same machine or a trusted network.

Every failure is one ``DeliveryError`` line: no host configured, resolution, refused, timeout,
TLS, login, sender or recipients refused, message refused, connection dropped. No message ever
holds the password (it is also scrubbed from server replies that would echo it), and no vendor
exception is chained to it, not even as ``__context__``: some hold the password in their arguments.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import getaddresses

from ..errors import DeliveryError
from ..settings import SmtpSettings


def send(message: EmailMessage, smtp: SmtpSettings, *, timeout: float = 15,
         ssl_context: ssl.SSLContext | None = None) -> None:
    """Send ``message`` to its To/Cc/Bcc recipients through the server of ``smtp``.

    ``ssl_context`` replaces the default (verifying) context for STARTTLS: for tests and for a
    server with a private CA. Raises ``DeliveryError`` on any failure, including a recipient
    refused while others accepted the message (the error says which)."""
    if not smtp.host.strip():
        raise DeliveryError("no SMTP host configured in workbench.toml [smtp]")
    host, port = smtp.host.strip(), smtp.port
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    recipients = [address for _, address in
                  getaddresses(message.get_all("To", []) + message.get_all("Cc", [])
                               + message.get_all("Bcc", [])) if address]
    if not recipients:
        raise DeliveryError("the message has no recipients")
    secret = smtp.password if smtp.username else None
    problem = None
    try:
        _send(message, smtp, host, port, timeout, ssl_context, where)
    except DeliveryError as exc:
        problem = exc.message
    except Exception as exc:  # every vendor failure: one line, no secret
        problem = _describe(exc, where, smtp, timeout)
    if problem is not None:
        # Raised outside the except blocks: no __context__ holding a vendor exception (whose
        # arguments may hold the password, as an encoding error of the login does).
        raise DeliveryError(_scrub(problem, secret))


def _send(message: EmailMessage, smtp: SmtpSettings, host: str, port: int, timeout: float,
          ssl_context: ssl.SSLContext | None, where: str) -> None:
    with smtplib.SMTP(host, port, timeout=timeout) as client:
        client.ehlo()
        if smtp.starttls:
            if not client.has_extn("starttls"):
                raise DeliveryError(f"the SMTP server {where} does not offer STARTTLS; nothing "
                                    "was sent in the clear (set starttls = false in "
                                    "workbench.toml [smtp] only for a trusted relay)")
            client.starttls(context=ssl_context or ssl.create_default_context())
            client.ehlo()
        if smtp.username:
            if not client.has_extn("auth"):
                tls = " after STARTTLS" if smtp.starttls else " (without TLS; it may need STARTTLS)"
                raise DeliveryError(f"the SMTP server {where} offers no login{tls}, but "
                                    f"workbench.toml [smtp] sets username {smtp.username!r}")
            try:
                client.login(smtp.username, smtp.password.reveal())
            except UnicodeError:
                # smtplib encodes the login as ASCII; its error would show (and hold) the password.
                raise DeliveryError(f"cannot log in to the SMTP server {where}: the user name or "
                                    "the password holds a character other than ASCII, which "
                                    "smtplib cannot send") from None
        refused = client.send_message(message)
        if refused:
            raise DeliveryError(f"the SMTP server {where} refused {_refusals(refused)}; the "
                                "other recipients were sent the message")


def _describe(exc: Exception, where: str, smtp: SmtpSettings, timeout: float) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (f"the SMTP server {where} refused the login of {smtp.username!r} "
                f"({_reply(exc.smtp_code, exc.smtp_error)}); check username in workbench.toml "
                "[smtp] and $WORKBENCH_SMTP_PASSWORD")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"the SMTP server {where} refused every recipient: {_refusals(exc.recipients)}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (f"the SMTP server {where} refused the sender {exc.sender!r} "
                f"({_reply(exc.smtp_code, exc.smtp_error)}); check from in workbench.toml [smtp]")
    if isinstance(exc, smtplib.SMTPDataError):
        return f"the SMTP server {where} refused the message ({_reply(exc.smtp_code, exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPConnectError):
        return (f"the SMTP server {where} refused the connection "
                f"({_reply(exc.smtp_code, exc.smtp_error)})")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"the SMTP server {where} does not support what is needed: {_line(exc)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read that timed out or failed as a disconnection: say which.
        cause = exc.__context__
        if isinstance(cause, TimeoutError):
            return f"the SMTP server {where} did not answer within {timeout:g} s (timeout)"
        if isinstance(cause, OSError):
            return (f"the connection to the SMTP server {where} was lost: "
                    f"{cause.strerror or _line(cause)}")
        return f"the SMTP server {where} closed the connection unexpectedly"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the SMTP server {where} answered {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPException):
        return f"SMTP with {where} failed: {_line(exc)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the TLS certificate of the SMTP server {where} is not trusted: "
                f"{exc.verify_message or _line(exc)}")
    if isinstance(exc, ssl.SSLError):
        return f"TLS with the SMTP server {where} failed: {exc.reason or _line(exc)}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the SMTP host {smtp.host.strip()!r}: {exc.strerror or _line(exc)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"the SMTP server {where} refused the connection (nothing listens there?)"
    if isinstance(exc, TimeoutError):
        return f"the SMTP server {where} did not answer within {timeout:g} s (timeout)"
    if isinstance(exc, ConnectionError):
        return f"the connection to the SMTP server {where} was lost: {exc.strerror or _line(exc)}"
    if isinstance(exc, OSError):
        return f"cannot reach the SMTP server {where}: {exc.strerror or _line(exc)}"
    return f"sending mail through {where} failed: {exc.__class__.__name__}: {_line(exc)}"


def _refusals(refused: dict) -> str:
    return ", ".join(f"{address} ({_reply(*reply)})" for address, reply in sorted(refused.items()))


def _reply(code, text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {text}".split())


def _line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or exc.__class__.__name__)[:300]


def _scrub(text: str, secret) -> str:
    """``text`` with the password as ***, should a server reply have echoed it."""
    value = secret.reveal() if secret else ""
    return text.replace(value, "***") if value else text
