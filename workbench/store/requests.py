"""Changes the workbench service answered, by idempotency key (``schema.service_requests``).

A key is taken before the change is made (one INSERT: of two requests with one key, one makes
the change) and its answer kept after (a refused change forgets its key). A retry with the key
gets the kept answer; one that comes while the change is still being made, or after the
service died making it, is told so instead of making it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select, update

from ..errors import Conflict
from . import Store
from .schema import service_requests


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


class Requests:
    def __init__(self, store: Store):
        self._store = store

    def begin(self, user: str, key: str, call: str) -> Replay | None:
        """None: the change is this request's to make; else the answer to give again."""
        try:
            with self._store.begin() as conn:
                conn.execute(insert(service_requests).values(
                    user_name=user, key=key, call=call, received_at=self._store.now()))
            return None
        except Conflict:  # the key is taken
            pass
        with self._store.read() as conn:
            row = conn.execute(select(service_requests).where(self._one(user, key))).first()
        if row.call != call:
            return Replay(422, _refusal(f"Idempotency-Key {key!r} was used for {row.call}; "
                                        "use a new key for another change"))
        if row.status is None:
            return Replay(409, _refusal(
                f"the change with Idempotency-Key {key!r} ({call}) is being made, or its "
                "service stopped while making it; look before trying again (workbench audit)"))
        return Replay(row.status, json.loads(row.answer))

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


def _refusal(message: str) -> dict:
    return {"error": "Conflict", "message": message, "problems": []}
