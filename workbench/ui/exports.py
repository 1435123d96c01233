"""Manage Exports: arrives with the exports UI issue ([8/9]). Until then this page lists the
export configurations read-only and says where to manage them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as w

from .style import DASH, badge, escape
from .widgets import Table, link

if TYPE_CHECKING:
    from .app import App


class ManageExports:
    def __init__(self, app: App):
        self.app = app
        exports = app.wb.exports.list()
        self.table = Table(columns=[
            {"key": "audience", "label": "Audience"}, {"key": "name", "label": "Name"},
            {"key": "type", "label": "Type"}, {"key": "repeats", "label": "Repeats"},
            {"key": "format", "label": "Format"}, {"key": "destination", "label": "Destination"},
            {"key": "state", "label": "State"}, {"key": "next", "label": "Next run"},
            {"key": "created_by", "label": "Created by"}],
            empty="No exports yet.", rows=[{"id": str(e.audience_id), "cells": {
                "audience": link(escape(e.audience)), "name": escape(e.name),
                "type": escape(e.type), "repeats": escape(e.repeats),
                "format": escape(e.format), "destination": escape(e.destination),
                "state": badge(e.state),
                "next": escape(e.next_run.strftime("%Y-%m-%d %H:%M %Z")) if e.next_run else DASH,
                "created_by": escape(e.created_by)}} for e in exports])
        self.table.on_click(lambda row, _link: app.show_audience(int(row)))
        note = w.HTML('<div class="wb-muted">Editing exports, destinations and encryptions '
                      'here comes with the export pages; meanwhile use <code>workbench export'
                      '</code>, <code>destination</code> and <code>encryption</code> on the '
                      'command line (docs/exports.md).</div>')
        self.widget = w.VBox([w.HTML('<div class="wb-title">Manage Exports</div>'), note,
                              self.table], layout=w.Layout(gap="8px"))
