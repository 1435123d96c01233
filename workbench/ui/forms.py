"""Forms of the Manage Exports page: add or edit a destination of a kind (SFTP: the server's
host key fetched and shown for confirmation; S3: bucket, prefix, region or endpoint, keys) and
an encryption (each key's fingerprint, user id and expiry, or why it is refused). Secrets are
never shown back: an edit leaves them as stored unless typed again, and a typed secret is
cleared from the page once saved."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import ipywidgets as w

from ..delivery.kinds import LABELS
from ..errors import InvalidKeys, Problem, WorkbenchError
from .style import escape
from .work import one_line

if TYPE_CHECKING:
    from .navigator import Navigator

ARMOR = re.compile(r"-----BEGIN PGP ([A-Z ]+)-----.*?-----END PGP \1-----", re.S)


class SecretBox(w.Password):
    """A password box whose typed value is never sent back to the browser (ipywidgets 8
    echoes every update to all views of a widget by default)."""

    value = w.Password.value.__class__("", help="the secret").tag(sync=True, echo_update=False)


class SecretArea(w.Textarea):
    """A multi-line secret (a private key): shown while typed, as a textarea is, but never
    echoed back to the browser, and cleared once saved."""

    value = w.Textarea.value.__class__("", help="the secret").tag(sync=True, echo_update=False)


class Fields:
    """Inputs by field name, each with its message line: problems (as the services word them)
    go next to their field, outlined in red."""

    def __init__(self):
        self.inputs: dict[str, w.Widget] = {}
        self.notes: dict[str, w.HTML] = {}
        # A problem about a whole part shown at one of its fields ("schedule" at its start).
        self.aliases: dict[str, str] = {}
        # Called when the last marked field is fixed: the form's "fix the marked fields" goes.
        self.on_fixed: Callable[[], None] = lambda: None

    def add(self, name: str, widget: w.Widget, label: str) -> w.Widget:
        self.inputs[name] = widget
        # Under the field, not under its label: the label column's width and the gap after it.
        self.notes[name] = w.HTML(layout=w.Layout(margin="0 0 0 154px"))
        self.watch(name, widget)
        return w.VBox([w.HBox([w.HTML(f'<div class="wb-field-label">{escape(label)}</div>',
                                      layout=w.Layout(width="150px", flex="none")), widget],
                              layout=w.Layout(align_items="center")),
                       self.notes[name]])

    def watch(self, name: str, *widgets: w.Widget) -> None:
        """Changing any of ``widgets`` takes the complaint about ``name`` away."""
        for widget in widgets:
            if widget.has_trait("value"):
                widget.observe(lambda _c, name=name: self.clear(name), "value")

    def clear(self, name: str) -> None:
        marked = self.marked()
        self.inputs[name].remove_class("wb-invalid")
        self.notes[name].value = ""
        if marked and not self.marked():
            self.on_fixed()

    def marked(self) -> list[str]:
        """The fields shown as wrong."""
        return [n for n, widget in self.inputs.items() if "wb-invalid" in widget._dom_classes]

    def show(self, problems: list[Problem | str]) -> list[Problem | str]:
        """Place problems at their fields; returns those that name no field here, and text."""
        for name, widget in self.inputs.items():
            widget.remove_class("wb-invalid")
            self.notes[name].value = ""
        rest = []
        for problem in problems:
            field = problem.field if isinstance(problem, Problem) else ""
            field = self.aliases.get(field, field)
            name = next((n for n in self.inputs if field == n or field.startswith(n + ".")),
                        None)
            if name is None:
                rest.append(problem)
                continue
            self.inputs[name].add_class("wb-invalid")
            self.notes[name].value += f'<div class="wb-error">{escape(problem.message)}</div>'
        return rest

    def report(self, problems: list[Problem | str], message: w.HTML) -> None:
        """Problems at their fields; those that name no field here in ``message``."""
        rest = self.show(problems)
        message.value = "".join(f'<div class="wb-error">✖ {escape(str(p))}</div>' for p in rest)
        if problems and not rest:
            message.value = '<div class="wb-error">Not saved: fix the marked fields.</div>'
        self.on_fixed = lambda: setattr(message, "value", "")


@dataclass(frozen=True)
class Tested:
    """A destination's (or notice target's) test as its row shows it: passed, the line to
    show, when it ran (workbench time) and how many times on this page, so a test run again
    with the same answer still visibly ran again."""

    ok: bool
    text: str
    at: str = ""
    count: int = 1

    def html(self) -> str:
        when = f"tested {self.at}" + (f" (test {self.count})" if self.count > 1 else "") + ": " \
            if self.at else ""
        return (f'<span class="wb-ok">✔ {escape(when + self.text)}</span>' if self.ok else
                f'<span class="wb-warning">⚠ {escape(when + self.text)}</span>')

    def again(self, previous: Tested | None) -> Tested:
        """This test, counted after ``previous`` (the row's last one, if any)."""
        return replace(self, count=previous.count + 1) if previous else self


def tested_at(wb) -> str:
    """Now on the workbench's clock, as a test's row says it: ``06:45:12``."""
    return wb.calendar.now().strftime("%H:%M:%S")


def test_connection(destinations, destination_id: int, at: str = "") -> Tested:
    """Log in, check the path exists and is writable: the last step that passed, or what
    failed (a path that does not exist: "… no such folder"), in one line."""
    try:
        steps = destinations.test(destination_id)
    except (WorkbenchError, OSError) as exc:
        return Tested(False, f"connection test failed: {one_line(exc)}", at)
    return Tested(True, f"connection test passed: {steps[-1] if steps else 'ok'}", at)


test_connection.__test__ = False  # not a pytest test, despite its name


class DestinationForm:
    def __init__(self, nav: Navigator, destination=None, on_done: Callable[[], None] = lambda: None):
        self.nav, self.destination, self.on_done = nav, destination, on_done
        d = destination
        self.fields = f = Fields()
        self.name = w.Text(value=d.name if d else "", placeholder="partner-sftp")
        self.host = w.Text(value=d.host if d else "", placeholder="sftp.example.com")
        self.port = w.IntText(value=d.port if d else 22, layout=w.Layout(width="100px"))
        self.path = w.Text(value=d.path if d else "", placeholder="/incoming")
        self.username = w.Text(value=d.username if d else "", placeholder="sftp user name")
        self._sign_in()
        self._host_key()
        self._s3()
        # The kind first: each shows its own fields; a saved destination keeps its kind.
        self.kind = w.ToggleButtons(options=[(LABELS[k], k) for k in LABELS],
                                    value=d.type if d else "sftp", disabled=d is not None)
        self.kind.add_class("wb-kind")
        # The connection test on save (optional): a path that does not exist is said when the
        # destination is saved, not by the first run at 3 a.m.
        self.test_on_save = w.Checkbox(value=True, indent=False,
                                       description="Test the connection when saved (SFTP: log "
                                                   "in, check the path is writable; S3: list, "
                                                   "put and delete a probe object)",
                                       layout=w.Layout(width="auto"))
        self.tested: Tested | None = None  # the test on save's result, for the table
        self.saved_id: int | None = None
        self.message = w.HTML()
        save = w.Button(description="Save destination", icon="save")
        save.add_class("wb-primary")
        save.on_click(lambda _b: self.save())
        cancel = w.Button(description="Cancel")
        cancel.on_click(lambda _b: (self.forget_secrets(), on_done()))
        self.sftp_box = w.VBox([
            f.add("host", self.host, "Host"),
            f.add("port", self.port, "Port"), f.add("path", self.path, "Path"),
            f.add("username", self.username, "User name"),
            f.add("auth", self.auth, "Sign in with"), self.secret_box,
            f.add("host_key", w.VBox([self.fetch, self.key_shown, self.confirmed]), "Host key")])
        self.widget = w.VBox([
            w.HTML(f'<h4>{"Edit destination " + escape(d.name) if d else "Add Destination"}</h4>'),
            f.add("type", self.kind, "Kind"), f.add("name", self.name, "Name"),
            self.sftp_box, self.s3_box,
            self.test_on_save, self.message, w.HBox([save, cancel], layout=w.Layout(gap="8px"))])
        self.widget.add_class("wb-panel")
        self.kind.observe(lambda _c: self._kind(), "value")
        self._kind()

    def _s3(self) -> None:
        """The fields of an S3 destination; its secrets write-only, as the SFTP password."""
        d = self.destination
        kept = (d.settings if d is not None and d.type == "s3" else {})
        keep = "leave empty to keep the stored one" if kept else ""
        self.bucket = w.Text(value=kept.get("bucket", ""), placeholder="partner-drop")
        self.prefix = w.Text(value=kept.get("prefix", ""), placeholder="exports/daily (optional)")
        self.region = w.Text(value=kept.get("region") or "", placeholder="eu-central-1")
        self.endpoint = w.Text(value=kept.get("endpoint") or "",
                               placeholder="https://minio.example.com:9000 (not for AWS)")
        self.access_key_id = w.Text(value=kept.get("access_key_id", ""),
                                    placeholder="AKIAIOSFODNN7EXAMPLE")
        self.secret_access_key = SecretBox(placeholder=keep or "secret access key")
        self.session_token = SecretBox(
            placeholder="leave empty to keep it" if "session_token" in (d.secrets if d else [])
            else "session token (temporary credentials only)")
        f = self.fields
        self.s3_box = w.VBox([
            f.add("bucket", self.bucket, "Bucket"), f.add("prefix", self.prefix, "Prefix"),
            f.add("region", self.region, "Region"), f.add("endpoint", self.endpoint, "Endpoint"),
            f.add("access_key_id", self.access_key_id, "Access key id"),
            f.add("secret_access_key", self.secret_access_key, "Secret access key"),
            f.add("session_token", self.session_token, "Session token")])

    def _kind(self) -> None:
        s3 = self.kind.value == "s3"
        self.sftp_box.layout.display = "none" if s3 else None
        self.s3_box.layout.display = None if s3 else "none"
        self.name.placeholder = "partner-s3" if s3 else "partner-sftp"

    def _sign_in(self) -> None:
        """A password or a private key (with its passphrase): the boxes of the one chosen."""
        d = self.destination
        self.auth = w.ToggleButtons(options=[("Password", "password"),
                                             ("Private key", "key")],
                                    value="key" if d and d.auth == "private key" else "password")
        keep = "leave empty to keep the stored one" if d else ""
        self.password = SecretBox(placeholder=keep or "password")
        self.private_key = SecretArea(placeholder=keep or "-----BEGIN OPENSSH PRIVATE KEY-----",
                                      layout=w.Layout(width="420px", height="90px"))
        self.passphrase = SecretBox(placeholder="passphrase of the key (if any)")
        self.secret_box = w.VBox()
        self.auth.observe(lambda _c: self._auth(), "value")
        self._auth()

    def _host_key(self) -> None:
        """Fetch the server's key, show it, and have it confirmed; the stored one when editing."""
        d = self.destination
        self.fetch = w.Button(description="Fetch host key", icon="key",
                              tooltip="Ask the server for its host key")
        self.fetch.on_click(lambda _b: self.fetch_key())
        self.host_key = None  # fetched, shown, to be confirmed
        self.fetched_for = None  # (host, port) the shown key came from
        self.key_shown = w.HTML(f'<div class="wb-muted">Pinned: {escape(d.fingerprint)}</div>'
                                if d else "")
        self.confirmed = w.Checkbox(description="This is the server's key: I compared the "
                                                "fingerprint with its administrator",
                                    indent=False, style={"description_width": "initial"},
                                    layout=w.Layout(display="none", width="auto"))
        for widget in (self.host, self.port):  # a key confirmed for one server, never another
            widget.observe(lambda _c: self._forget_key(), "value")

    def _auth(self) -> None:
        f = self.fields
        self.secret_box.children = ([f.add("password", self.password, "Password")]
                                    if self.auth.value == "password" else
                                    [f.add("private_key", self.private_key, "Private key"),
                                     f.add("passphrase", self.passphrase, "Passphrase")])

    def _forget_key(self) -> None:
        if self.host_key is not None:
            self.host_key = self.fetched_for = None
            self.confirmed.value = False
            self.confirmed.layout.display = "none"
            self.key_shown.value = ('<div class="wb-muted">The host or port changed: fetch the '
                                    'host key again.</div>')

    def fetch_key(self) -> None:
        try:
            where = (self.host.value.strip(), self.port.value)
            self.host_key = self.nav.wb.destinations.fetch_host_key(*where)
            self.fetched_for = where
        except (WorkbenchError, ValueError, OSError) as exc:
            self.host_key = None
            self.key_shown.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'
            self.confirmed.layout.display = "none"
            return
        self.key_shown.value = (f'<div><code>{escape(self.host_key.line[:80])}…</code><br>'
                                f'fingerprint <b>{escape(self.host_key.fingerprint)}</b></div>')
        self.fields.clear("host_key")
        self.confirmed.value = False
        self.confirmed.layout.display = None

    def data(self) -> dict:
        if self.kind.value == "s3":
            data = {"name": self.name.value, "type": "s3", "bucket": self.bucket.value,
                    "prefix": self.prefix.value, "region": self.region.value or None,
                    "endpoint": self.endpoint.value or None,
                    "access_key_id": self.access_key_id.value}
            for name in ("secret_access_key", "session_token"):
                if getattr(self, name).value:
                    data[name] = getattr(self, name).value
            return data
        data = {"name": self.name.value, "type": "sftp", "host": self.host.value,
                "port": self.port.value, "path": self.path.value,
                "username": self.username.value}
        if self.auth.value == "password" and self.password.value:
            data["password"] = self.password.value
        if self.auth.value == "key" and self.private_key.value.strip():
            data["private_key"] = self.private_key.value
            if self.passphrase.value:
                data["passphrase"] = self.passphrase.value
        if self.host_key is not None and self.confirmed.value and \
                self.fetched_for == (self.host.value.strip(), self.port.value):
            data["host_key"] = self.host_key.line
        return data

    def save(self) -> bool:
        """Save, or show why not. Saved, the typed secrets leave the page; refused, they stay
        (the person fixes the marked fields, not the password again), until Cancel. They are
        never sent back to the browser either way (``SecretBox``)."""
        saved = self._save()
        if saved:
            self.forget_secrets()
        return saved

    def forget_secrets(self) -> None:
        self.password.value = self.private_key.value = self.passphrase.value = ""
        self.secret_access_key.value = self.session_token.value = ""

    def _save(self) -> bool:
        destinations = self.nav.wb.destinations
        problems = destinations.check(self.data(), editing=self.destination,
                                      secret="password" if self.auth.value == "password"
                                      else "private_key")
        if problems:
            self._problems(problems)
            return False
        editing = self.destination is not None
        try:
            if editing:
                saved = destinations.update(self.destination.id, self.data(),
                                            version=self.destination.version)
            else:
                saved = destinations.add(self.data())
        except WorkbenchError as exc:
            self._problems(exc.problems or [one_line(exc)])
            return False
        self.saved_id = saved.id
        if self.test_on_save.value:
            self.tested = test_connection(destinations, saved.id, tested_at(self.nav.wb))
        self.on_done()
        return True

    def _problems(self, problems: list[Problem | str]) -> None:
        self.fields.report(problems, self.message)


class EncryptionForm:
    def __init__(self, nav: Navigator, encryption=None, on_done: Callable[[], None] = lambda: None):
        self.nav, self.encryption, self.on_done = nav, encryption, on_done
        e = encryption
        self.fields = Fields()
        self.name = w.Text(value=e.name if e else "", placeholder="partner-pgp")
        armored = "\n\n".join(nav.wb.encryptions.armored_keys(e.id)) if e else ""
        self.keys = w.Textarea(value=armored,
                               placeholder="Paste one or more ASCII-armored public keys "
                                           "(-----BEGIN PGP PUBLIC KEY BLOCK----- …)",
                               layout=w.Layout(width="520px", height="160px"))
        self.check = w.Button(description="Check keys", icon="search")
        self.check.on_click(lambda _b: self.check_keys())
        self.found = w.HTML()
        self.message = w.HTML()
        save = w.Button(description="Save encryption", icon="save")
        save.add_class("wb-primary")
        save.on_click(lambda _b: self.save())
        cancel = w.Button(description="Cancel")
        cancel.on_click(lambda _b: on_done())
        f = self.fields
        self.widget = w.VBox([
            w.HTML(f'<h4>{"Edit encryption " + escape(e.name) if e else "Add Encryption"}</h4>'),
            f.add("name", self.name, "Name"), f.add("keys", self.keys, "Public keys"),
            w.HBox([self.check]), self.found, self.message,
            w.HBox([save, cancel], layout=w.Layout(gap="8px"))])
        self.widget.add_class("wb-panel")

    def armored(self) -> list[str]:
        """Every armored block pasted (of any kind: a private key or a signature is refused by
        the service, not dropped here), and any other text as an entry of its own, so that
        nothing pasted is silently left out."""
        text = self.keys.value
        entries, at = [], 0
        for block in ARMOR.finditer(text):
            entries.append(text[at:block.start()])
            entries.append(block.group(0))
            at = block.end()
        entries.append(text[at:])
        return [e.strip() for e in entries if e.strip()]

    def check_keys(self) -> bool:
        try:
            infos, warnings = self.nav.wb.encryptions.inspect(self.armored())
        except WorkbenchError as exc:
            self.found.value = "".join(f'<div class="wb-error">✖ {escape(str(p))}</div>'
                                       for p in exc.problems or [one_line(exc)])
            return False
        rows = "".join(f"<tr><td><code>{escape(k.fingerprint)}</code></td>"
                       f"<td>{escape(', '.join(k.user_ids))}</td>"
                       f"<td>{escape(k.expires.isoformat() if k.expires else 'never')}</td></tr>"
                       for k in infos)
        self.found.value = ('<table class="wb-keys"><tr><th>Fingerprint</th><th>User id</th>'
                            f'<th>Expires</th></tr>{rows}</table>'
                            + "".join(f'<div class="wb-warning">⚠ {escape(x)}</div>'
                                      for x in warnings))
        return True

    def save(self) -> bool:
        encryptions = self.nav.wb.encryptions
        data = {"name": self.name.value, "type": "pgp", "keys": self.armored()}
        try:
            if self.encryption is not None:
                encryptions.update(self.encryption.id, data, version=self.encryption.version)
            else:
                encryptions.add(data)
        except InvalidKeys as exc:  # each at the keys field
            self._problems([Problem("keys", str(p)) for p in exc.problems])
            return False
        except WorkbenchError as exc:
            self._problems(exc.problems or [one_line(exc)])
            return False
        self.on_done()
        return True

    def _problems(self, problems: list[Problem | str]) -> None:
        self.fields.report(problems, self.message)

