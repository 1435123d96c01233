"""Changes the workbench service answered, by idempotency key (``schema.service_requests``).

A key is taken before the change is made (one INSERT: of two requests with one key, one makes
the change) and its answer kept after (a refused change forgets its key). A retry with the key
gets the kept answer; one that comes while the change is still being made, or after the
service died making it, learns that instead of making it again (the service says it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select, update

from ..errors import Conflict
from . import Store
from .schema import service_requests


@dataclass(frozen=True)
class Taken:
    """A key already taken: by which ``call``, and its kept answer (``status`` None while the
    change is being made, or when its service died making it)."""

    call: str
    status: int | None
    answer: dict | None


class Requests:
    def __init__(self, store: Store):
        self._store = store

    def begin(self, user: str, key: str, call: str) -> Taken | None:
        """None: the change is this request's to make; else who took the key first."""
        try:
            with self._store.begin() as conn:
                conn.execute(insert(service_requests).values(
                    user_name=user, key=key, call=call, received_at=self._store.now()))
            return None
        except Conflict:  # the key is taken
            pass
        with self._store.read() as conn:
            row = conn.execute(select(service_requests).where(self._one(user, key))).first()
        return Taken(row.call, row.status, None if row.answer is None else json.loads(row.answer))

    def finish(self, user: str, key: str, status: int, answer: dict) -> None:
        """Keep a change's answer; forget a refusal (nothing was changed: the key may try
        again, e.g. once the store is no longer busy)."""
        with self._store.begin() as conn:
            if status >= 300:
                conn.execute(delete(service_requests).where(self._one(user, key)))
            else:
                conn.execute(update(service_requests).where(self._one(user, key)).values(
                    status=status, answer=json.dumps(answer)))

    @staticmethod
    def _one(user: str, key: str):
        return and_(service_requests.c.user_name == user, service_requests.c.key == key)
