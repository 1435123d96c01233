"""The notification email of an export run: what happened, never a secret or a customer row.

Pure: builds an ``EmailMessage`` from a ``Run`` and addresses, with no IO; ``delivery.mail.send``
sends it. The run holds what was sent (rows, bytes, file name, as-of day, where) and the error of a
failure, and nothing else goes in. Names come from users: every control, format (invisible) and
line-separator character in a value is replaced by a space before it reaches a header or a body
line, so an export named ``"x\\r\\nBcc: someone"`` can neither add a header nor fake a body line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..errors import InvalidInput
from ..run_states import Run, RunState

PRODUCT = "Audience Workbench"
_NONE = "—"
# What a run records when its recipients could not be mailed because nothing sends mail: the
# run's History row says it, as does the wizard when recipients are typed.
NO_SMTP_HOST = "no SMTP host configured"


def unsent_reason(recipients: list[str], smtp_host: str | None) -> str | None:
    """Why a run's e-mail will not be sent, decided before trying: no SMTP host (workbench.toml
    [smtp] host) while there are recipients. None: there is nobody to tell, or it may go."""
    if recipients and not (smtp_host or "").strip():
        return NO_SMTP_HOST
    return None


def told(run: Run, notify: Iterable[str]) -> bool:
    """Whether what a run tells is recorded on it: a run that completed or failed tells the
    export's ``notify`` entries after it ends (e-mail addresses, then webhook / Slack targets by
    name), and records each outcome. A page following the run waits for this, not only for the
    end: the notices are sent after the run is recorded."""
    if run.state not in (RunState.COMPLETE, RunState.FAILED):
        return True
    details = run.details or {}
    recipients, targets = addressed(notify)
    return (not recipients or "notification" in details) and \
        (not targets or "notices" in details)


def addressed(notify: Iterable[str]) -> tuple[list[str], list[str]]:
    """An export's ``notify`` entries as (e-mail addresses, webhook / Slack target names): an
    entry with "@" is an address."""
    entries = list(notify)
    return [e for e in entries if "@" in e], [e for e in entries if "@" not in e]


def sent_note(count: int) -> str:
    """What a run records when its e-mail went."""
    return f"e-mail sent to {_count(count, 'recipient')}"


def unsent_note(reason: str) -> str:
    """What a run records when its e-mail did not go (its History row shows it)."""
    return f"e-mail not sent: {reason}"


def run_message(run: Run, *, sender: str, recipients: list[str],
                sent_at: datetime) -> EmailMessage:
    """The email telling ``recipients`` how ``run`` ended (complete, failed, or any other state).

    ``sender`` is the From address (``smtp.sender``: ``addr@host`` or ``Name <addr@host>``).
    An address holding a control character or not parsing as one address is refused with
    ``InvalidInput``, naming it; an empty ``recipients`` list too."""
    from_header = _address_header(sender, "sender")
    if not recipients:
        raise InvalidInput("a notification needs at least one recipient")
    to_header = ", ".join(_address_header(address, "recipient") for address in recipients)

    message = EmailMessage()
    message["Subject"] = subject(run)
    message["From"] = from_header
    message["To"] = to_header
    message["Date"] = format_datetime(sent_at.astimezone(UTC))
    message["Message-ID"] = make_msgid(domain=_domain(message["From"]))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    message.set_content(body(run), cte="quoted-printable")
    return message


def subject(run: Run) -> str:
    """``[Audience Workbench] Export "Women daily" complete: 3 rows`` / ``... failed``."""
    text = f"[{PRODUCT}] Export \"{_one_line(run.export)}\" {run.state.label}"
    if run.state == RunState.COMPLETE and run.rows is not None:
        text += f": {_count(run.rows, 'row')}"
    return text


def body(run: Run) -> str:
    state = run.state.label
    lines = [f"Export \"{_one_line(run.export)}\" (run #{run.id}) {state}.", ""]
    fields = [
        ("State", state),
        ("Export", f"{_one_line(run.export)} (export {run.export_id})"),
        ("Audience", _one_line(run.audience)),
        ("Scheduled for", _when(run.scheduled_for)),
        ("Attempts", str(run.attempts)),
        ("Rows", _NONE if run.rows is None else f"{run.rows:,}"),
        ("Bytes", _NONE if run.bytes is None else f"{run.bytes:,}"),
        ("File name", _one_line(run.file_name) if run.file_name else _NONE),
        ("Destination", _destination(run)),
        ("As of", run.as_of.isoformat() if run.as_of else _NONE),
    ]
    keys = (run.details or {}).get("encrypted_to") or []
    if keys:
        fields.append(("Encrypted to", ", ".join(_one_line(str(key)) for key in keys)))
    if run.error or run.state != RunState.COMPLETE:
        fields.append(("Error", _one_line(run.error) if run.error else _NONE))
    width = max(len(label) for label, _ in fields) + 2
    lines += [f"{label + ':':<{width}}{value}" for label, value in fields]
    lines += ["", "-- ", f"Sent by {PRODUCT}. This message holds no customer data."]
    return "\n".join(lines) + "\n"


def _destination(run: Run) -> str:
    name = _one_line(run.destination) if run.destination else ""
    where = (run.details or {}).get("destination")
    if where and name:
        return f"{_one_line(str(where))} (destination \"{name}\")"
    return _one_line(str(where)) if where else (f"destination \"{name}\"" if name else _NONE)


def _when(at: datetime) -> str:
    if at.tzinfo is not None and at.utcoffset() == UTC.utcoffset(None):
        return at.strftime("%Y-%m-%d %H:%M UTC")
    return at.isoformat(sep=" ", timespec="minutes")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _one_line(text: str | None) -> str:
    """``text`` with every control/format/separator character (CR, LF, TAB, NUL, U+2028, bidi
    overrides, zero-width ...) as a space, runs of white space as one: safe in a header and as
    one body line."""
    if text is None:
        return ""
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch
                      for ch in str(text))
    return " ".join(cleaned.split())


def _address_header(value: str, what: str) -> str:
    text = str(value).strip()
    if not text or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise InvalidInput(f"not an e-mail address for the {what}: {value!r}")
    probe = EmailMessage()
    try:
        probe["To"] = text
        addresses: Iterable[Address] = probe["To"].addresses
    except (ValueError, IndexError, TypeError):
        raise InvalidInput(f"not an e-mail address for the {what}: {value!r}") from None
    addresses = list(addresses)
    if len(addresses) != 1 or not addresses[0].username or not addresses[0].domain \
            or probe["To"].defects:
        raise InvalidInput(f"not an e-mail address for the {what}: {value!r}")
    return text


def _domain(from_header) -> str:
    addresses = getattr(from_header, "addresses", ())
    return addresses[0].domain if addresses and addresses[0].domain else "localhost"


# -- webhook and Slack notices (pure: the bodies and the signature; delivery/webhook.py posts) --

SIGNATURE_HEADER = "X-Workbench-Signature"
TIMESTAMP_HEADER = "X-Workbench-Timestamp"


def notice_files(run: Run) -> list[str]:
    """The names of the files a run delivered: every part the run recorded (``details
    ["files"]``), else its one file; none when nothing was delivered."""
    files = (run.details or {}).get("files")
    if files:
        return [str(f["file_name"]) if isinstance(f, dict) else str(f) for f in files]
    return [run.file_name] if run.file_name else []


def webhook_body(run: Run) -> bytes:
    """The JSON a webhook receives after a run completes or fails (docs/exports.md, "Webhook
    and Slack notices"): what was sent and what went wrong, never a secret or a customer row."""
    import json

    event = "export_run.complete" if run.state == RunState.COMPLETE else "export_run.failed"
    return json.dumps({
        "event": event, "run": run.id, "export": run.export, "audience": run.audience,
        "state": run.state.value, "scheduled_for": run.scheduled_for.isoformat(timespec="seconds"),
        "as_of": run.as_of.isoformat() if run.as_of else None, "rows": run.rows,
        "bytes": run.bytes, "files": notice_files(run), "destination": run.destination,
        "error": run.error}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """``X-Workbench-Timestamp`` (Unix seconds) and ``X-Workbench-Signature: sha256=<hex>``,
    the HMAC-SHA256 of ``"<timestamp>.<body>"`` with the target's secret: a receiver that
    recomputes it knows the body came from this workbench, unchanged, at that moment."""
    import hashlib
    import hmac

    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body,
                      hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"sha256={digest}"}


def slack_body(run: Run) -> bytes:
    """One plain Slack message: state, export, rows, file and the error of a failure."""
    import json

    files = notice_files(run)
    text = f"{PRODUCT}: export \"{_one_line(run.export)}\" (run #{run.id}) {run.state.label}"
    if run.rows is not None:
        text += f", {_count(run.rows, 'row')}"
    if len(files) > 1:  # parts or two change files: the manifest, delivered last, lists them
        text += f", {len(files) - 1} files listed in {_one_line(files[-1])}"
    elif files:
        text += f", file {_one_line(files[0])}"
    if run.error or run.state != RunState.COMPLETE:
        text += f". Error: {_one_line(run.error) if run.error else _NONE}"
    return json.dumps({"text": _slack_escaped(text)}, ensure_ascii=False).encode("utf-8")


def test_body(kind: str, name: str, sent_at: datetime) -> bytes:
    """What a target's Test sends: an ``event`` of ``test`` (a webhook), one line (Slack)."""
    import json

    if kind == "slack":
        return json.dumps({"text": _slack_escaped(
            f"{PRODUCT}: test notice for \"{_one_line(name)}\"")}).encode("utf-8")
    return json.dumps({"event": "test", "target": name, "sent_at": sent_at.isoformat()},
                      separators=(",", ":")).encode("utf-8")


test_body.__test__ = False  # not a pytest test, despite its name


def _slack_escaped(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>): a name must not page everyone.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
