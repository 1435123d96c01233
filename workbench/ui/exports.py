"""Manage Exports: four tabs — Configuration (every export, with the actions the service allows
this user in its state), History (every run; filter by state and audience; refreshes itself
while a run is in progress; below, the changes to exports, runs, destinations and encryptions
from the audit trail), Destinations and Encryptions (with their add/edit forms). It calls
the export services and holds no rule of its own."""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING

import ipywidgets as w

from ..errors import WorkbenchError
from ..freshness import sentence
from ..run_states import RunState
from .changes import CHANGE_COLUMNS, change_rows
from .forms import DestinationForm, EncryptionForm, Tested, test_connection, tested_at
from .notices import NoticesTab, notices_note
from .style import DASH, badge, escape, number, stale_note
from .widgets import Table, link
from .work import one_line

if TYPE_CHECKING:
    from .navigator import Navigator

ACTION_LABELS = {"edit": "Edit", "activate": "Activate", "pause": "Pause", "cancel": "Cancel",
                 "run": "Run now", "preview": "Preview", "test": "Test connection",
                 "remove": "Remove"}
RUN_STATES = list(RunState)
CHANGED = ("export", "run", "destination", "encryption", "notice")  # what History's changes list
LIVE_SECONDS = 2.0
# How long a page follows an ended run for its notices: three webhook tries per target, and
# an e-mail, each bounded (delivery/webhook.py, delivery/mail.py).
NOTICE_WAIT = 120.0


def when(moment) -> str:
    return escape(moment.strftime("%Y-%m-%d %H:%M %Z")) if moment else DASH


def export_rows(exports) -> list[dict]:
    return [{"id": str(e.id), "actions": [(a, ACTION_LABELS[a]) for a in e.actions],
             "cells": {"audience": link(escape(e.audience), f"audience:{e.audience_id}"),
                       "name": escape(e.name), "type": escape(e.type),
                       "repeats": escape(e.repeats), "ends": escape(e.ends or DASH),
                       "format": escape(e.format.upper()),
                       "destination": escape(e.destination),
                       "state": badge(e.state) + "".join(
                           f' <span title="{escape(w)}" style="color:#b42318;cursor:help">⚠'
                           '</span>' for w in e.warnings[:1]),
                       "next": when(e.next_run), "created_by": escape(e.created_by)}}
            for e in exports]


def run_rows(runs) -> list[dict]:
    return [{"id": str(r.id), "cells": {
        "state": badge(r.state), "date": when(r.scheduled_for),
        "audience": escape(r.audience), "name": escape(r.export), "type": escape(r.type),
        "format": escape(r.format.upper()), "destination": escape(r.destination),
        "created_by": escape(r.created_by), "rows": number(r.rows),
        "attempts": str(r.attempts), "error": '<div class="wb-wrap">' + (
            escape(r.error) if r.error else file_cell(r)) + "</div>"
        + mail_note(r.notification) + notices_note(r.details)}} for r in runs]


def breakable(name: str) -> str:
    """A file name (escaped) that may wrap after its ``_`` and ``.``: a long manifest name
    wraps in its cell rather than widening History past the page."""
    return re.sub(r"([_.])", r"\1<wbr>", escape(name))


def file_cell(run) -> str:
    """A run's file; a run of several files (parts, two change files) shows its manifest and
    how many files it delivered, manifest included, as the command line does, and what they
    are: "(4 files: 3 parts, manifest, gzip)"."""
    if not run.file_name:
        return DASH
    files = (run.details or {}).get("files") or []
    if len(files) <= 1:
        return breakable(run.file_name)
    parts = sum(1 for f in files if f.get("part") is not None)
    kinds = [f"{parts} part{'s' if parts > 1 else ''}"] if parts else []
    changes = sorted({f.get("change") for f in files} & {"added", "removed"})
    kinds += [" + ".join(changes)] if changes and not parts else []
    kinds += ["manifest"] if any(f.get("change") == "manifest" for f in files) else []
    names = " ".join(f["file_name"] for f in files).lower()
    kinds += [z for z, ext in (("gzip", ".gz"), ("zstd", ".zst")) if ext in names][:1]
    return (f'{breakable(run.file_name)} <span class="wb-muted">({len(files)} files: '
            f'{escape(", ".join(kinds))})</span>')


def mail_note(note: str | None) -> str:
    """What became of a run's e-mail, under its file or error: "e-mail not sent: no SMTP
    host configured" in amber (its recipients were not told), a sent one muted."""
    if not note:
        return ""
    kind = "wb-warning" if "not sent" in note else "wb-muted"
    return f'<div class="{kind}">✉ {escape(note)}</div>'


EXPORT_COLUMNS = [{"key": k, "label": label} for k, label in (
    ("audience", "Audience"), ("name", "Name"), ("type", "Type"), ("repeats", "Repeats"),
    ("ends", "Ends"), ("format", "Format"), ("destination", "Destination"), ("state", "State"),
    ("next", "Next run"), ("created_by", "Created by"))]
RUN_COLUMNS = [{"key": k, "label": label, **({"numeric": True} if k in ("rows", "attempts")
                                              else {})} for k, label in (
    ("state", "State"), ("date", "Date"), ("audience", "Audience"), ("name", "Name"),
    ("type", "Type"), ("format", "Format"), ("destination", "Destination"),
    ("created_by", "Created by"), ("rows", "Rows"), ("attempts", "Attempts"),
    ("error", "File / error / e-mail"))]


def follow(nav: Navigator, run_id: int, refresh, live: w.HTML | None = None) -> None:
    """Refresh a page every couple of seconds until run ``run_id`` has ended (it starts as
    Scheduled, then In-Progress) and what it tells is recorded (its e-mail and notices go after
    it ends), then once more. The notices are bounded (``delivery/webhook.py``, ``mail.py``);
    a process that stopped before sending them is given up on after ``NOTICE_WAIT``."""
    if not nav.background:
        refresh()
        return
    page = nav.page

    def loop():
        ended_at = None
        try:
            while nav.showing(page):
                run = nav.wb.export_runs.get(run_id)
                waiting = run.state.ended and not _told(nav, run)
                if live is not None:
                    doing = "sending its notices" if waiting else "refreshing"
                    live.value = (f'<span class="wb-muted">run #{run_id} is '
                                  f'{run.state.label}: {doing} '
                                  '<span class="wb-spinner"></span></span>')
                refresh()
                if run.state.ended:
                    ended_at = ended_at if ended_at is not None else time.monotonic()
                    if not waiting or time.monotonic() - ended_at > NOTICE_WAIT:
                        break
                time.sleep(LIVE_SECONDS)
        except Exception:  # a page that went away meanwhile: nothing to refresh
            pass
        finally:
            if live is not None:
                live.value = ""

    threading.Thread(target=loop, daemon=True).start()


def _told(nav: Navigator, run) -> bool:
    from ..exports.notify import told

    try:
        notify = nav.wb.exports.get(run.export_id).config.notify
    except WorkbenchError:  # its export is gone: nothing left to wait for
        return True
    return told(run, notify)


class ExportActions:
    """What a click in an export's Actions menu does; shared by Manage Exports and the
    audience page's Exports tab."""

    def __init__(self, nav: Navigator, message: w.HTML, confirm: w.VBox, refresh, show_runs,
                 preview: w.HTML):
        self.nav, self.message, self.confirm = nav, message, confirm
        self.refresh, self.show_runs, self.preview = refresh, show_runs, preview

    def __call__(self, row: str, action: str) -> None:
        wb = self.nav.wb
        export_id = int(row)
        self.message.value = ""
        try:
            if action == "edit":
                self.nav.go("export", export_id=export_id)
            elif action in ("activate", "pause"):
                getattr(wb.exports, action)(export_id)
                self._say(f"Export {export_id} {'activated' if action == 'activate' else 'paused'}.")
                self.refresh()
            elif action == "cancel":
                self._ask_cancel(export_id)
            elif action == "run":
                self.ask_run(export_id)
            elif action == "preview":
                self.show_preview(export_id)
        except WorkbenchError as exc:
            self.message.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'

    def _say(self, text: str) -> None:
        self.message.value = f'<div class="wb-ok">{escape(text)}</div>'

    def _ask(self, question: str, yes: str, no: str, then) -> None:
        """A question above the table, with a primary ``yes`` button that calls ``then()``
        (its failure said in one line) and a ``no`` that closes it."""
        accept, refuse = w.Button(description=yes), w.Button(description=no)
        accept.add_class("wb-primary")
        refuse.on_click(lambda _b: setattr(self.confirm, "children", []))

        def answered(_b):
            self.confirm.children = []
            try:
                then()
            except WorkbenchError as exc:
                self.message.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'

        accept.on_click(answered)
        box = w.VBox([w.HTML(question), w.HBox([accept, refuse])])
        box.add_class("wb-confirm")
        self.confirm.children = [box]

    def _ask_cancel(self, export_id: int) -> None:
        def cancel():
            try:
                self.nav.wb.exports.cancel(export_id)
                self._say(f"Export {export_id} canceled.")
            finally:
                self.refresh()

        self._ask(f"<b>Cancel export {export_id}?</b> It will never run again and becomes "
                  "read-only.", "Cancel export", "Keep it", cancel)

    def ask_run(self, export_id: int) -> None:
        """Run now delivers a file at once, besides the schedule: asked first (members older
        than the export allows are asked about instead, once)."""
        stale = self.nav.wb.exports.staleness(export_id)
        if stale:
            self._ask_stale(export_id, stale)
            return
        export = self.nav.wb.exports.get(export_id)
        self._ask(f"<b>Run export {escape(export.name)} now?</b> It delivers the members of "
                  f"{escape(export.audience)} to {escape(export.destination)} at once; its "
                  "schedule is unchanged.", "Run now", "Don't run",
                  lambda: self.run_now(export_id))

    def _ask_stale(self, export_id: int, stale: str) -> None:
        self._ask(f"<b>Export {export_id} would deliver stale members.</b> "
                  f"{escape(sentence(stale))}. Run processing first, or deliver "
                  "them anyway (the run records that you did).", "Run anyway", "Don't run",
                  lambda: self.run_now(export_id, allow_stale=True))

    def run_now(self, export_id: int, allow_stale: bool = False) -> None:
        """Start a run (one attempt, through papermill: its notebook is the audit record) and
        follow it in History. Members older than the export allows are delivered only when
        the person confirms it."""
        stale = None if allow_stale else self.nav.wb.exports.staleness(export_id)
        if stale:
            self._ask_stale(export_id, stale)
            return
        run = self.nav.wb.export_runs.create(export_id, allow_stale=allow_stale)
        self._say(f"Run #{run.id} started.")

        def work():
            try:
                self.nav.wb.run_export(run.id)
            except Exception as exc:  # recorded on the run; the page says it in one line
                self.message.value = (f'<div class="wb-error">Run #{run.id}: '
                                      f'{escape(one_line(exc))}</div>')

        if self.nav.background:
            threading.Thread(target=work, daemon=True).start()
        else:
            work()
        self.show_runs(run.id)

    def show_preview(self, export_id: int) -> None:
        preview = self.nav.wb.exports.preview(export_id, limit=10)
        head = "".join(f"<th>{escape(h)}</th>" for h in preview.header)
        body = "".join("<tr>" + "".join(f"<td>{escape('' if v is None else v)}</td>"
                                        for v in row) + "</tr>" for row in preview.rows)
        at = when(preview.scheduled_for) if preview.scheduled_for else \
            "no next run (named as if run now)"
        self.preview.value = (f'<div class="wb-panel"><b>Preview of export {export_id}</b>: '
                              f'<code>{escape(preview.file_name)}</code> at {at}, members as '
                              f'of {preview.as_of}{stale_note(preview.stale)}'
                              f'<table class="wb-keys"><tr>{head}</tr>{body}</table></div>')


class ExportsOverview:
    """Manage Exports' model: every export, destination and encryption, the actions this user
    may take on them, the runs by state and audience, and the calls the tabs make (no
    widgets)."""

    def __init__(self, wb):
        self.wb = wb
        self.exports: list = []
        self.destinations: list = []
        self.encryptions: list = []
        self.busy: int | None = None  # a run in progress when the runs were last read
        self.destination_actions = wb.destinations.actions()
        self.encryption_actions = wb.encryptions.actions()

    def refresh(self) -> None:
        self.exports = self.wb.exports.list()
        self.destinations = self.wb.destinations.list()
        self.encryptions = self.wb.encryptions.list()

    def audiences(self) -> list[tuple[str, int]]:
        """The audiences the exports deliver, as (name, id)."""
        return sorted({(e.audience, e.audience_id) for e in self.exports})

    def runs(self, state: str = "", audience: int | None = None) -> list:
        """The latest 200 runs, of those in ``state`` and of exports of ``audience``."""
        every = self.wb.export_runs.history(limit=200)
        busy = [r for r in every if r.state == RunState.IN_PROGRESS]
        self.busy = busy[0].id if busy else None
        runs = [r for r in every if not state or r.state == state]
        if audience is not None:
            exports = {e.id for e in self.wb.exports.list(audience=audience)}
            runs = [r for r in runs if r.export_id in exports]
        return runs

    def destination(self, destination_id: int):
        return self.wb.destinations.get(destination_id)

    def remove_destination(self, destination_id: int) -> None:
        self.wb.destinations.remove(destination_id)

    def encryption(self, encryption_id: int):
        return self.wb.encryptions.get(encryption_id)

    def changes(self) -> list:
        """The latest 100 changes to exports, their runs, destinations and encryptions."""
        return self.wb.audit_trail.entries(subjects=CHANGED, limit=100)


class ManageExports:
    def __init__(self, nav: Navigator, tab: int = 0):
        self.nav = nav
        self.overview = ExportsOverview(nav.wb)
        self._followed_busy = False  # a run in progress when the page opened is followed once
        self.tested: dict[int, Tested] = {}  # destination id -> its last test on this page
        self.message = w.HTML()
        self.confirm = w.VBox()
        self.preview = w.HTML()
        self.form_box = w.VBox()
        self.notices = NoticesTab(nav, self.open_form, self.form_done)
        self.tabs = w.Tab(children=[self._configuration(), self._history(), *self._admin(),
                                    self.notices.widget],
                          titles=("Configuration", "History", "Destinations", "Encryptions",
                                  "Notices"))
        self.tabs.add_class("wb-tabs")
        self.widget = w.VBox([w.HTML('<div class="wb-title">Manage Exports</div>'),
                              self.message, self.confirm, self.form_box, self.tabs],
                             layout=w.Layout(gap="8px"))
        self.refresh()
        self.show_tab(tab)

    def _configuration(self) -> w.Widget:
        self.exports_table = Table(columns=EXPORT_COLUMNS + [{"key": "actions",
                                                               "label": "Actions"}],
                                   empty="No exports yet — open an audience and use Export.")
        self.actions = ExportActions(self.nav, self.message, self.confirm, self.refresh,
                                     self.follow_run, self.preview)
        self.exports_table.on_action(self.actions)
        self.exports_table.on_click(self._open_audience)
        return w.VBox([self.exports_table, self.preview])

    def _history(self) -> w.Widget:
        self.state_filter = w.Dropdown(options=[("All states", "")] + [
            (s.label.title(), s.value) for s in RUN_STATES], description="State")
        self.audience_filter = w.Dropdown(options=[("All audiences", "")],
                                          description="Audience")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh_runs())
        self.live = w.HTML()
        self.runs_table = Table(columns=RUN_COLUMNS, empty="No runs yet.")
        for widget in (self.state_filter, self.audience_filter):
            widget.observe(lambda _c: self.refresh_runs(), "value")
        self.changes_table = Table(columns=CHANGE_COLUMNS, empty="No changes recorded.")
        return w.VBox([w.HBox([self.state_filter, self.audience_filter, self.refresh_button,
                               self.live], layout=w.Layout(gap="12px", align_items="center")),
                       self.runs_table, w.HTML("<h4>Changes</h4>"), self.changes_table])

    def _admin(self) -> tuple[w.Widget, w.Widget]:
        """The Destinations and Encryptions tabs, their Add buttons for those who may add."""
        self.add_destination = w.Button(description="Add Destination", icon="plus")
        self.add_destination.add_class("wb-primary")
        self.add_destination.on_click(lambda _b: self.open_form(DestinationForm(
            self.nav, on_done=self.form_done)))
        self.destinations_table = Table(columns=[{"key": k, "label": label} for k, label in (
            ("name", "Name"), ("kind", "Kind"), ("where", "Where"), ("sign_in", "Sign-in"),
            ("key", "Host key"), ("tested", "Connection"),
            ("created_by", "Created by"), ("actions", "Actions"))], empty="No destinations yet.")
        self.destinations_table.on_action(self._destination_action)
        self.add_encryption = w.Button(description="Add Encryption", icon="plus")
        self.add_encryption.add_class("wb-primary")
        self.add_encryption.on_click(lambda _b: self.open_form(EncryptionForm(
            self.nav, on_done=self.form_done)))
        self.encryptions_table = Table(columns=[{"key": k, "label": label} for k, label in (
            ("name", "Name"), ("type", "Type"), ("keys", "Key fingerprints"),
            ("expires", "Expires"), ("created_by", "Created by"), ("actions", "Actions"))],
            empty="No encryptions yet.")
        self.encryptions_table.on_action(self._encryption_action)
        for button, allowed in ((self.add_destination, self.overview.destination_actions),
                                (self.add_encryption, self.overview.encryption_actions)):
            button.layout.display = None if "add" in allowed else "none"
        return (w.VBox([w.HBox([self.add_destination]), self.destinations_table]),
                w.VBox([w.HBox([self.add_encryption]), self.encryptions_table]))

    def follow_run(self, run_id: int) -> None:
        """Show History and keep it current until the run has ended."""
        self.show_tab(1)
        follow(self.nav, run_id, self.refresh_runs, self.live)

    def show_tab(self, index: int) -> None:
        self.tabs.selected_index = index
        if index == 1:
            self.refresh_runs()

    def refresh(self) -> None:
        overview = self.overview
        overview.refresh()
        self.exports_table.rows = export_rows(overview.exports)
        audiences = overview.audiences()
        current = self.audience_filter.value
        self.audience_filter.options = [("All audiences", "")] + [
            (name, str(i)) for name, i in audiences]
        self.audience_filter.value = current if current in {str(i) for _n, i in audiences} \
            else ""
        allowed = [(a, ACTION_LABELS[a]) for a in overview.destination_actions if a != "add"]
        self.destinations_table.rows = [{"id": str(d.id), "actions": allowed,
            "cells": {"name": escape(d.name), **_where_cells(d),
                      "tested": self.tested[d.id].html() if d.id in self.tested else DASH,
                      "created_by": escape(d.created_by)}} for d in overview.destinations]
        allowed = [(a, ACTION_LABELS[a]) for a in overview.encryption_actions if a != "add"]
        self.encryptions_table.rows = [{"id": str(e.id), "actions": allowed, "cells": {
            "name": escape(e.name), "type": escape(e.type.upper()),
            "keys": "<br>".join(f"<code>{escape(k['fingerprint'])}</code>" for k in e.keys),
            "expires": escape(e.earliest_expiry or "never"),
            "created_by": escape(e.created_by)}} for e in overview.encryptions]
        self.notices.refresh()
        self.refresh_runs()

    def refresh_runs(self) -> None:
        audience = self.audience_filter.value
        self.runs_table.rows = run_rows(self.overview.runs(
            self.state_filter.value, int(audience) if audience else None))
        self.changes_table.rows = change_rows(self.overview.changes(), self.nav.wb.calendar.zone)
        if not self._followed_busy:  # opened while a run works: follow it
            self._followed_busy = True
            if self.overview.busy is not None:
                follow(self.nav, self.overview.busy, self.refresh_runs, self.live)

    def open_form(self, form) -> None:
        self.form = form
        self.form_box.children = [form.widget]

    def form_done(self) -> None:
        if isinstance(self.form, DestinationForm) and self.form.tested is not None:
            self.tested[self.form.saved_id] = self.form.tested
        self.form_box.children = []
        self.refresh()

    def _open_audience(self, _row: str, link_to: str) -> None:
        if not link_to.startswith("audience:"):
            return
        from ..ids import parse_id

        try:
            self.nav.go("audience", audience_id=parse_id(link_to.split(":", 1)[1], "audience"))
        except WorkbenchError as exc:
            self.message.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'

    def _destination_action(self, row: str, action: str) -> None:
        self.message.value = ""
        try:
            if action == "edit":
                self.open_form(DestinationForm(self.nav, self.overview.destination(int(row)),
                                               on_done=self.form_done))
            elif action == "test":  # the result beside the destination, in its row
                self.tested[int(row)] = test_connection(
                    self.nav.wb.destinations, int(row), tested_at(self.nav.wb)).again(
                    self.tested.get(int(row)))
                self.refresh()
            elif action == "remove":
                self.overview.remove_destination(int(row))
                self.message.value = '<div class="wb-ok">Destination removed.</div>'
                self.refresh()
        except WorkbenchError as exc:
            self.message.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'

    def _encryption_action(self, row: str, action: str) -> None:
        if action == "edit":
            self.open_form(EncryptionForm(self.nav, self.overview.encryption(int(row)),
                                          on_done=self.form_done))


def _where_cells(d) -> dict:
    """Kind-neutral cells: its kind, where the files go (``sftp://user@host:port/path``, or
    ``s3://bucket/prefix/`` and its server when not AWS), how it signs in (an S3 access key's
    id is not secret: shown), and the host key an SFTP server must show (S3 has none)."""
    if d.type == "s3":
        bucket, _at, endpoint = d.location.partition(" at ")
        key_id = d.settings.get("access_key_id") or d.username
        return {"kind": "S3",
                "where": f"<code>{breakable(bucket)}</code>" + (
                    f'<br><span class="wb-muted">at {escape(endpoint)}</span>' if endpoint else ""),
                "sign_in": escape(d.auth) + (f"<br><code>{escape(key_id)}</code>" if key_id else ""),
                "key": DASH}
    return {"kind": "SFTP",
            "where": f"<code>sftp://{breakable(d.username)}@{breakable(d.location)}</code>",
            "sign_in": escape(d.auth), "key": f'<code class="wb-break">{escape(d.fingerprint)}</code>'}
