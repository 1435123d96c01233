"""The audit trail as a table, shared by the audience page's History tab and Manage Exports'
History tab: when, who, through what, what was done to what, and what changed."""

from __future__ import annotations

from .style import escape

CHANGE_COLUMNS = [{"key": k, "label": label} for k, label in (
    ("at", "When"), ("user", "Who"), ("via", "Through"), ("action", "Action"),
    ("subject", "Of"), ("changes", "What changed"))]

VIA_LABELS = {"python": "Python", "cli": "command line", "page": "dashboard", "api": "API",
              "scheduler": "scheduler"}


def change_rows(entries, zone) -> list[dict]:
    """``entries``: ``AuditTrail.entries``, newest first; times shown in ``zone`` (the
    workbench's)."""
    return [{"id": str(e.id), "cells": {
        "at": escape(f"{e.at.astimezone(zone):%Y-%m-%d %H:%M %Z}"), "user": escape(e.user),
        "via": escape(VIA_LABELS.get(e.via, e.via)), "action": escape(e.action),
        "subject": escape(e.subject if e.subject_id is None else f"{e.subject} #{e.subject_id}"),
        "changes": escape(e.text)}} for e in entries]
