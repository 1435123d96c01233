"""Webhook and Slack notice targets in the metadata store (rows only; checks live in
``exports/notices.py``)."""

from __future__ import annotations

from . import Store
from .exports import Records
from .schema import notice_targets


class NoticeRecords(Records):
    kind = "notice target"

    def __init__(self, store: Store):
        super().__init__(store, notice_targets)
