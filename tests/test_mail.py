"""Export run notifications against a real SMTP server (aiosmtpd, in-process on loopback).

The message is built from a ``Run`` (pure), sent with smtplib over plain SMTP or STARTTLS with a
self-signed certificate made here, with AUTH LOGIN/PLAIN; every failure is one DeliveryError
line without the password.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
import traceback
from contextlib import closing, contextmanager
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from workbench.delivery.mail import send
from workbench.errors import DeliveryError, InvalidInput
from workbench.exports.notify import run_message
from workbench.run_states import Run
from workbench.settings import SmtpSettings

SENDER = "Audience Workbench <workbench@example.com>"
TO = ["crm-ops@example.com", "data@example.org"]
SENT = dt.datetime(2026, 12, 1, 6, 5, tzinfo=dt.UTC)
USER = "mailer"
PASSWORD = "s3cret-Pa55word!"
REFUSED_DOMAIN = "@refused.example"


def make_run(**changes) -> Run:
    values = dict(id=42, export_id=7, export="Women daily", audience="Women 25-40",
                  state="complete",
                  scheduled_for=dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC), type="recurring",
                  format="csv", destination="partner-sftp", created_by="ada", attempts=1, rows=3,
                  bytes=1234, as_of=dt.date(2026, 11, 30), file_name="women_20261201.csv.pgp",
                  error=None,
                  details={"destination": "sftp.example.com:2222/upload/in",
                           "username": "partner", "encrypted_to": ["0123ABCD"],
                           "csv_bytes": 99})
    values.update(changes)
    return Run(**values)


def failed_run() -> Run:
    return make_run(state="failed", attempts=4, rows=None, bytes=None, as_of=None, file_name=None,
                    details={},
                    error="sftp.example.com:2222 refused the connection (nothing listens there?)")


# -- a real SMTP server ------------------------------------------------------------------------

class Collector:
    """aiosmtpd handler: keeps every envelope (with whether it came over TLS, and who logged
    in); refuses recipients at REFUSED_DOMAIN."""

    def __init__(self):
        self.received: list = []
        self.logins: list[tuple[str, str, str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith(REFUSED_DOMAIN):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        envelope.tls = session.ssl is not None
        self.received.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        self.logins.append((mechanism, login, password))
        # handled=False: aiosmtpd answers the failure itself (535)
        return AuthResult(success=(login, password) == (USER, PASSWORD), handled=False)

    def parsed(self, index: int = 0):
        return message_from_bytes(self.received[index].original_content, policy=default_policy)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server(**options):
    handler = Collector()
    if options.pop("with_auth", False):
        options["authenticator"] = handler.authenticate
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def mail_to(wb, port: int) -> None:
    """The home's [smtp] settings point at 127.0.0.1:``port`` without STARTTLS, as every
    process reads them (workbench.toml); a workbench opened after this mails there."""
    head, section = wb.home.settings_file.read_text().split("\n[smtp]\n", 1)
    section, rest = section.split("\n[", 1)
    for key, value in {"host": '"127.0.0.1"', "port": port, "starttls": "false"}.items():
        section = re.sub(rf"^{key} = .*$", f"{key} = {value}", section, count=1, flags=re.M)
    wb.home.settings_file.write_text(f"{head}\n[smtp]\n{section}\n[{rest}")


@contextmanager
def mailing(wb, port: int):
    """``wb``'s home mails to 127.0.0.1:``port`` (``mail_to``); the workbench reopened to read
    its settings."""
    import workbench
    from tests.conftest import ADMIN

    mail_to(wb, port)
    with workbench.open(wb.home.root, user=ADMIN) as reopened:
        yield reopened


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert file, key file, PEM text)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem", pem.decode()


@pytest.fixture
def server_tls(certificate):
    cert, key, _ = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def client_tls(certificate):
    """A client context trusting only the test's certificate (and still checking the name)."""
    return ssl.create_default_context(cadata=certificate[2])


def settings(port: int, **values) -> SmtpSettings:
    values.setdefault("starttls", False)
    return SmtpSettings.model_validate({"host": "127.0.0.1", "port": port, "from": SENDER,
                                        **values})


def assert_secret_free(exc: BaseException, secret: str = PASSWORD) -> None:
    shown = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    assert secret not in shown
    assert "\n" not in str(exc)
    assert exc.__cause__ is None and exc.__context__ is None  # no vendor exception holding it


# -- the message (pure) ------------------------------------------------------------------------

def test_complete_message_says_what_was_sent():
    message = run_message(make_run(), sender=SENDER, recipients=TO, sent_at=SENT)

    assert message["Subject"] == '[Audience Workbench] Export "Women daily" complete: 3 rows'
    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == TO
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_content()
    for line in ["State:         complete", "Export:        Women daily (export 7)",
                 "Audience:      Women 25-40", "Scheduled for: 2026-12-01 06:00 UTC",
                 "Attempts:      1", "Rows:          3", "Bytes:         1,234",
                 "File name:     women_20261201.csv.pgp",
                 'Destination:   sftp.example.com:2222/upload/in (destination "partner-sftp")',
                 "As of:         2026-11-30", "Encrypted to:  0123ABCD"]:
        assert line in text.splitlines()
    assert "Error" not in text


def test_failed_message_carries_the_error():
    message = run_message(failed_run(), sender=SENDER, recipients=TO[:1], sent_at=SENT)

    assert message["Subject"] == '[Audience Workbench] Export "Women daily" failed'
    lines = message.get_content().splitlines()
    assert "State:         failed" in lines
    assert "Attempts:      4" in lines
    assert "Rows:          —" in lines
    assert 'Destination:   destination "partner-sftp"' in lines
    assert ("Error:         sftp.example.com:2222 refused the connection (nothing listens there?)"
            in lines)


def test_one_row_and_non_ascii_names():
    message = run_message(make_run(rows=1, export="Frauen täglich · Ü"), sender=SENDER,
                          recipients=TO, sent_at=SENT)
    assert message["Subject"] == '[Audience Workbench] Export "Frauen täglich · Ü" complete: 1 row'
    assert message.as_bytes().isascii()  # RFC 2047 subject, quoted-printable body


@pytest.mark.parametrize("name", ["Women\r\nBcc: x@evil", "Women\nBcc: x@evil",
                                  "Women\rBcc: x@evil", "Women\u2028Bcc: x@evil",
                                  "Women\x00\x1b[31m\u202eBcc: x@evil"])
def test_control_characters_in_names_add_no_header_or_line(name):
    run = make_run(export=name, audience=name, file_name=name, error=name, state="failed")
    message = run_message(run, sender=SENDER, recipients=TO, sent_at=SENT)
    raw = message.as_bytes()

    assert message["Bcc"] is None
    parsed = message_from_bytes(raw, policy=default_policy)
    assert parsed["Bcc"] is None
    assert not any(line.lower().startswith(b"bcc") for line in raw.splitlines())
    assert not any(line.startswith("Bcc") for line in parsed.get_content().splitlines())
    assert parsed["Subject"].startswith('[Audience Workbench] Export "Women ')
    assert "Bcc: x@evil" in parsed["Subject"]
    assert all(ch.isprintable() for ch in parsed["Subject"])


@pytest.mark.parametrize("bad", ["ops@example.com\r\nBcc: x@evil", "ops@example.com, x@evil.com",
                                 "no address", "", "ops@"])
def test_recipients_and_sender_are_one_address_each(bad):
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        run_message(make_run(), sender=SENDER, recipients=[TO[0], bad], sent_at=SENT)
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        run_message(make_run(), sender=bad, recipients=TO, sent_at=SENT)


def test_no_recipients_refused():
    with pytest.raises(InvalidInput, match="at least one recipient"):
        run_message(make_run(), sender=SENDER, recipients=[], sent_at=SENT)


# -- sending -----------------------------------------------------------------------------------

def test_complete_and_failed_messages_arrive_over_plain_smtp():
    with smtp_server() as (server, port):
        smtp = settings(port)
        send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp)
        send(run_message(failed_run(), sender=smtp.sender, recipients=TO[:1], sent_at=SENT), smtp)

    first, second = server.received
    assert first.mail_from == "workbench@example.com"
    assert first.rcpt_tos == TO
    assert not first.tls
    assert server.parsed(0)["Subject"] == ('[Audience Workbench] Export "Women daily" complete: '
                                           "3 rows")
    assert "Rows:          3" in server.parsed(0).get_content()
    assert second.rcpt_tos == TO[:1]
    assert server.parsed(1)["Subject"] == '[Audience Workbench] Export "Women daily" failed'
    assert "refused the connection" in server.parsed(1).get_content()


def test_header_injection_through_the_export_name_reaches_nobody_else():
    with smtp_server() as (server, port):
        smtp = settings(port)
        run = make_run(export="Women daily\r\nBcc: x@evil.example\r\n\r\nfake body")
        send(run_message(run, sender=smtp.sender, recipients=TO, sent_at=SENT), smtp)

    envelope = server.received[0]
    assert envelope.rcpt_tos == TO
    received = server.parsed()
    assert received["Bcc"] is None
    assert "x@evil.example" not in [a.addr_spec for a in received["To"].addresses]
    assert received["Subject"] == ('[Audience Workbench] Export "Women daily Bcc: x@evil.example '
                                   'fake body" complete: 3 rows')


def test_starttls_with_a_verified_certificate(server_tls, client_tls):
    with smtp_server(tls_context=server_tls, require_starttls=True) as (server, port):
        smtp = settings(port, starttls=True)
        send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp,
             ssl_context=client_tls)
    assert server.received[0].tls
    assert server.received[0].rcpt_tos == TO


def test_starttls_refuses_an_untrusted_certificate(server_tls):
    with smtp_server(tls_context=server_tls, require_starttls=True) as (server, port):
        smtp = settings(port, starttls=True)
        with pytest.raises(DeliveryError, match="certificate of the SMTP server 127.0.0.1:\\d+ "
                                                "is not trusted"):
            send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp)
    assert server.received == []


def test_starttls_refuses_a_server_without_it():
    with smtp_server() as (server, port):
        smtp = settings(port, starttls=True)
        with pytest.raises(DeliveryError, match="does not offer STARTTLS; nothing was sent"):
            send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp)
    assert server.received == []


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_login_after_starttls(mechanism, server_tls, client_tls, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SMTP_PASSWORD", PASSWORD)
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    with smtp_server(tls_context=server_tls, require_starttls=True, with_auth=True,
                     auth_require_tls=True, auth_exclude_mechanism=[other]) as (server, port):
        smtp = settings(port, starttls=True, username=USER)
        send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp,
             ssl_context=client_tls)

    assert server.logins == [(mechanism, USER, PASSWORD)]
    assert server.received[0].tls
    assert PASSWORD.encode() not in server.received[0].original_content


def test_wrong_password_is_one_line_without_it(server_tls, client_tls, monkeypatch):
    wrong = "wrong-Pa55word"
    monkeypatch.setenv("WORKBENCH_SMTP_PASSWORD", wrong)
    with smtp_server(tls_context=server_tls, require_starttls=True, with_auth=True,
                     auth_require_tls=True) as (server, port):
        smtp = settings(port, starttls=True, username=USER)
        with pytest.raises(DeliveryError, match="refused the login of 'mailer' \\(535") as caught:
            send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp,
                 ssl_context=client_tls)
    assert server.logins and server.logins[0][2] == wrong  # it was tried, and refused
    assert server.received == []
    assert_secret_free(caught.value, wrong)


def test_non_ascii_password_is_refused_without_showing_it(server_tls, client_tls, monkeypatch):
    secret = "pässwörd-geheim"
    monkeypatch.setenv("WORKBENCH_SMTP_PASSWORD", secret)
    with smtp_server(tls_context=server_tls, require_starttls=True, with_auth=True,
                     auth_require_tls=True) as (server, port):
        smtp = settings(port, starttls=True, username=USER)
        with pytest.raises(DeliveryError, match="other than ASCII") as caught:
            send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp,
                 ssl_context=client_tls)
    assert server.received == []
    assert_secret_free(caught.value, secret)
    assert "ä" not in str(caught.value)


def test_login_is_not_offered_before_tls(server_tls, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SMTP_PASSWORD", PASSWORD)
    with smtp_server(tls_context=server_tls, with_auth=True, auth_require_tls=True) as (server,
                                                                                         port):
        smtp = settings(port, starttls=False, username=USER)
        with pytest.raises(DeliveryError, match="offers no login \\(without TLS") as caught:
            send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp)
    assert server.logins == [] and server.received == []
    assert_secret_free(caught.value)


def test_closed_port_is_refused():
    port = free_port()  # nothing listens there any more
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port} refused the connection") as caught:
        send(run_message(make_run(), sender=SENDER, recipients=TO, sent_at=SENT), settings(port))
    assert_secret_free(caught.value)


def test_silent_server_times_out():
    with closing(socket.socket()) as listener:  # accepts connections (backlog), never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(DeliveryError, match="did not answer within 0.5 s"):
            send(run_message(make_run(), sender=SENDER, recipients=TO, sent_at=SENT), settings(port),
                 timeout=0.5)


def test_no_host_configured():
    smtp = SmtpSettings()
    with pytest.raises(DeliveryError) as caught:
        send(run_message(make_run(), sender=smtp.sender, recipients=TO, sent_at=SENT), smtp)
    assert str(caught.value) == "no SMTP host configured in workbench.toml [smtp]"


def test_every_recipient_refused():
    with smtp_server() as (server, port):
        smtp = settings(port)
        to = ["a" + REFUSED_DOMAIN, "b" + REFUSED_DOMAIN]
        with pytest.raises(DeliveryError, match="refused every recipient: a@refused.example "
                                                "\\(550 5.1.1 no such mailbox here\\), b@"):
            send(run_message(make_run(), sender=smtp.sender, recipients=to, sent_at=SENT), smtp)
    assert server.received == []


def test_some_recipients_refused_the_others_get_it():
    with smtp_server() as (server, port):
        smtp = settings(port)
        to = [TO[0], "gone" + REFUSED_DOMAIN]
        with pytest.raises(DeliveryError, match="refused gone@refused.example .*; the other "
                                                "recipients were sent the message"):
            send(run_message(make_run(), sender=smtp.sender, recipients=to, sent_at=SENT), smtp)
    assert server.received[0].rcpt_tos == [TO[0]]
