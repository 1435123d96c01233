"""Webhook and Slack notice targets on Manage Exports (their tab and add/edit form), and what
a run's History row says of its notices. A target's URL and secret are typed, never shown
back: an edit keeps them unless typed again, and what was typed leaves the page once saved.
It calls ``wb.notices`` and holds no rule of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import ipywidgets as w

from ..errors import Problem, WorkbenchError
from .forms import Fields, SecretBox, Tested, tested_at
from .style import DASH, escape
from .widgets import Table
from .work import one_line

if TYPE_CHECKING:
    from .navigator import Navigator

LABELS = {"edit": "Edit", "test": "Send a test", "remove": "Remove"}
KINDS = {"webhook": "Webhook", "slack": "Slack"}


def notices_note(details: dict | None) -> str:
    """What became of a run's webhook / Slack notices, under its file or error, as its e-mail
    note is shown: a "not sent" one in amber, sent ones muted. Names and answers only."""
    notes = (details or {}).get("notices") or {}
    return "".join(
        f'<div class="{"wb-warning" if note.startswith("not sent") else "wb-muted"}">'
        f'⚑ {escape(name)}: {escape(note)}</div>' for name, note in notes.items())


def signed_cell(target) -> str:
    """A webhook's body is signed (HMAC-SHA256) when it has a secret; Slack signs nothing."""
    if target.type != "webhook":
        return DASH
    return "✔ signed" if target.signed else '<span class="wb-warning">not signed</span>'


class NoticeForm:
    def __init__(self, nav: Navigator, target=None, on_done: Callable[[], None] = lambda: None):
        self.nav, self.target, self.on_done = nav, target, on_done
        t = target
        self.fields = f = Fields()
        self.name = w.Text(value=t.name if t else "", placeholder="crm-webhook")
        self.kind = w.ToggleButtons(options=[(label, kind) for kind, label in KINDS.items()],
                                    value=t.type if t else "webhook")
        kept = f"kept ({t.host}); type a new one to replace it" if t else None
        self.url = SecretBox(placeholder=kept or "https://hooks.example.com/workbench",
                             layout=w.Layout(width="420px"))
        self.secret = SecretBox(placeholder=("kept; type a new one to replace it"
                                             if t and t.signed else "at least 16 characters"),
                                layout=w.Layout(width="420px"))
        self.secret_row = f.add("secret", self.secret, "Signing secret")
        self.sealed_note = w.HTML()
        self.kind.observe(lambda _c: self._show_secret(), "value")
        self._show_secret()
        self.message = w.HTML()
        save = w.Button(description="Save notice target", icon="save")
        save.add_class("wb-primary")
        save.on_click(lambda _b: self.save())
        cancel = w.Button(description="Cancel")
        cancel.on_click(lambda _b: (self.forget_secrets(), on_done()))
        self.widget = w.VBox([
            w.HTML(f'<h4>{"Edit notice target " + escape(t.name) if t else "Add Notice target"}'
                   '</h4>'),
            f.add("name", self.name, "Name"), f.add("type", self.kind, "Type"),
            f.add("url", self.url, "URL"), self.secret_row,
            self.sealed_note,
            self.message, w.HBox([save, cancel], layout=w.Layout(gap="8px"))])
        self.widget.add_class("wb-panel")

    def _show_secret(self) -> None:
        """The secret only for a webhook (Slack has none), and the note says what each kind
        seals: http is taken only to this machine (a receiver for testing), as the URL's
        check says."""
        webhook = self.kind.value == "webhook"
        self.secret_row.layout.display = None if webhook else "none"
        sealed = "The URL and the signing secret are" if webhook else "The URL is"
        self.sealed_note.value = (
            f'<div class="wb-muted">{sealed} sealed and never shown again; only the URL\'s '
            'host is. https (http only to this machine, for testing).</div>')

    def data(self) -> dict:
        data = {"name": self.name.value, "type": self.kind.value}
        if self.url.value.strip():
            data["url"] = self.url.value
        if self.kind.value == "webhook" and self.secret.value.strip():
            data["secret"] = self.secret.value
        return data

    def save(self) -> bool:
        notices = self.nav.wb.notices
        problems = notices.check(self.data(), editing=self.target)
        if problems:
            self._problems(problems)
            return False
        try:
            if self.target is not None:
                notices.update(self.target.id, self.data(), version=self.target.version)
            else:
                notices.add(self.data())
        except WorkbenchError as exc:
            self._problems(exc.problems or [one_line(exc)])
            return False
        self.forget_secrets()
        self.on_done()
        return True

    def forget_secrets(self) -> None:
        self.url.value = self.secret.value = ""

    def _problems(self, problems: list[Problem | str]) -> None:
        self.fields.report(problems, self.message)


class NoticesTab:
    """The Notices tab: every target (name, type, host), its last test, and the actions this
    user may take; ``open_form`` shows a form above the tabs (Manage Exports' own)."""

    def __init__(self, nav: Navigator, open_form: Callable, on_done: Callable[[], None]):
        self.nav, self.open_form, self.on_done = nav, open_form, on_done
        self.allowed = nav.wb.notices.actions()
        self.tested: dict[int, Tested] = {}
        self.message = w.HTML()
        add = w.Button(description="Add Notice target", icon="plus")
        add.add_class("wb-primary")
        add.on_click(lambda _b: self.open_form(NoticeForm(nav, on_done=on_done)))
        add.layout.display = None if "add" in self.allowed else "none"
        self.table = Table(columns=[{"key": k, "label": label} for k, label in (
            ("name", "Name"), ("type", "Type"), ("host", "Host"), ("signed", "Signed"),
            ("tested", "Last test"), ("created_by", "Created by"), ("created_at", "Created"),
            ("actions", "Actions"))],
            empty="No notice targets yet: add a webhook or a Slack incoming webhook to name "
                  "it in an export's notifications.")
        self.table.on_action(self._action)
        self.widget = w.VBox([w.HBox([add]), self.message, self.table])

    def refresh(self) -> None:
        allowed = [(a, LABELS[a]) for a in self.allowed if a != "add"]
        zone = self.nav.wb.calendar.zone
        self.table.rows = [{"id": str(t.id), "actions": allowed, "cells": {
            "name": escape(t.name), "type": escape(KINDS.get(t.type, t.type)),
            "host": f"<code>{escape(t.host)}</code>",
            "tested": self.tested[t.id].html() if t.id in self.tested else DASH,
            "signed": signed_cell(t), "created_by": escape(t.created_by),
            "created_at": escape(t.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"))
            if t.created_at else DASH}} for t in self.nav.wb.notices.list()]

    def _action(self, row: str, action: str) -> None:
        notices = self.nav.wb.notices
        self.message.value = ""
        try:
            if action == "edit":
                self.open_form(NoticeForm(self.nav, notices.get(int(row)),
                                          on_done=self.on_done))
            elif action == "test":
                at = tested_at(self.nav.wb)
                try:
                    tested = Tested(True, f"test {notices.test(int(row))}", at)
                except WorkbenchError as exc:
                    tested = Tested(False, one_line(exc), at)
                self.tested[int(row)] = tested.again(self.tested.get(int(row)))
                self.refresh()
            elif action == "remove":
                notices.remove(int(row))
                self.message.value = '<div class="wb-ok">Notice target removed.</div>'
                self.refresh()
        except WorkbenchError as exc:
            self.message.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'
