"""The Python API of a team's workbench, over HTTP: ``workbench.open("http://…")``, or
``workbench.open()`` inside a server the hub spawned (which sets $WORKBENCH_URL).

``wb.audiences.estimate(…)``, ``wb.exports.create(…)`` and the rest return what they return
embedded (``Audience``, ``Estimate``, DataFrames), made by the workbench service as the user
whose hub token this client sends. ``wb.user`` is what the service says of that user, shown,
never trusted: changing it changes nothing the service allows.

A call that finds the service restarting (connection refused, the proxy's 502/503) is tried
again for up to a minute; a change is sent each time with the same idempotency key, so it is
made once however many times it is sent.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from .. import errors
from ..clock import as_clock
from ..days import Calendar, Dated
from ..settings import Role
from ..users import User
from . import api, codec

# Entry points a client may name for the audit trail; it says "api" for any other. A label, not
# a credential: who made a change is the token's user, whatever a client says here.
CLIENT_VIAS = ("page", "cli", "api")
RETRY_SECONDS = 60.0
CONNECT_SECONDS = 10.0
# A processing run or an export run answers when it has ended.
READ_SECONDS = 6 * 3600.0


def token_from_environment() -> str | None:
    """$WORKBENCH_TOKEN (a hub API token made on the hub's token page, for the CLI from a
    shell), else $JUPYTERHUB_API_TOKEN (what the hub gives each server it spawns)."""
    return os.environ.get("WORKBENCH_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN") or None


class RemoteSettings:
    """What a client may know of the service's settings."""

    def __init__(self, timezone: str, currency: str = "USD", backfill_days: int = 0):
        self.timezone = timezone
        self.currency = currency  # money in composition buckets
        self.backfill_days = backfill_days  # what the audience page says after activation

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class RemoteWorkbench(Dated):
    """A workbench whose services are the team's workbench service (docs/team.md)."""

    def __init__(self, url: str, token: str | None = None, *, clock=None, via: str = "api"):
        """``via``: what the audit trail says the changes came through (page, cli; else
        api)."""
        import requests

        token = token or token_from_environment()
        if not token:
            raise errors.InvalidInput(
                f"{url}: a team's workbench needs your hub API token: inside a hub server it "
                "is there already; from a shell, make one on the hub's Token page and set "
                "$WORKBENCH_TOKEN")
        self.url = url.rstrip("/") + "/"
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"token {token}"
        self.via = via if via in CLIENT_VIAS else "api"
        self._session.headers["Workbench-Via"] = self.via
        about = self._call("workbench", "about")
        self.user = User(about["user"], Role(about["role"]))
        self.settings = RemoteSettings(about["timezone"], about.get("currency", "USD"),
                                       about.get("backfill_days", 0))
        self.clock = as_clock(clock)
        self.calendar = Calendar(self.settings.zone, self.clock)
        for noun in api.SERVICES:
            setattr(self, noun, _Remote(self, noun))

    # -- the workbench's own calls ---------------------------------------------------------------

    def features(self, as_of=None):
        """The point-in-time feature table as of ``as_of``, made by the service, as a pandas
        DataFrame (embedded, a DuckDB relation: ``.df()`` there gives the same table)."""
        return self._call("workbench", "features", as_of)

    def audit(self, audience: int | None = None, export: int | None = None,
              since: date | str | None = None, limit: int = 200):
        """The audit trail, newest first, as a DataFrame (``Workbench.audit``)."""
        return self._call("workbench", "audit", audience, export, since, limit)

    def catalog(self):
        from ..audiences.catalog import Catalog

        attributes = self._call("workbench", "catalog")
        return Catalog({a.name: a for a in attributes}, lambda attribute: self._call(
            "workbench", "choices", attribute.name))

    def run_export(self, run_id: int):
        return self._call("workbench", "run_export", run_id)

    def run_processing(self, first: date, last: date) -> dict:
        return self._call("workbench", "run_processing", first, last)

    def reopen(self) -> RemoteWorkbench:
        """Asked afresh: the user's role as the service sees it now."""
        return RemoteWorkbench(self.url, self._session.headers["Authorization"].split(" ")[1],
                               clock=self.clock, via=self.via)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RemoteWorkbench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RemoteWorkbench(url={self.url!r}, user={self.user.name!r}, "
                f"role={self.user.role.value!r})")

    # -- HTTP --------------------------------------------------------------------------------------

    def _call(self, noun: str, verb: str, *args, **kwargs) -> Any:
        change = api.kind_of(noun, verb) == api.CHANGE
        headers = {"Content-Type": "application/json"}
        if change:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        body = json.dumps({"args": codec.encode(list(args)), "kwargs": codec.encode(kwargs)})
        response = self._send(f"{self.url}api/v1/call/{noun}/{verb}", body, headers)
        return _result(response, self.url)

    def _send(self, url: str, body: str, headers: dict):
        import requests

        deadline = time.monotonic() + RETRY_SECONDS
        pause = 0.25
        while True:
            try:
                response = self._session.post(url, data=body, headers=headers,
                                              timeout=(CONNECT_SECONDS, READ_SECONDS))
                if response.status_code not in (502, 503) or _ours(response):
                    return response
                problem = f"answered {response.status_code} (restarting?)"
            except requests.ConnectionError:
                problem = "is not answering"
            if time.monotonic() + pause > deadline:
                raise errors.WorkbenchError(
                    f"the workbench service at {self.url} {problem}; tried for "
                    f"{RETRY_SECONDS:.0f} s (is the hub running?)")
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


class _Remote:
    """``wb.audiences`` and the other services: each listed verb is a call to the service."""

    def __init__(self, wb: RemoteWorkbench, noun: str):
        self._wb, self._noun = wb, noun

    def __getattr__(self, verb: str):
        if self._noun == "audiences" and verb == "catalog":
            return self._wb.catalog
        if api.kind_of(self._noun, verb) is None:
            raise AttributeError(f"{self._noun}.{verb} is not offered by the workbench service")
        return lambda *args, **kwargs: self._wb._call(self._noun, verb, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self._noun} of {self._wb.url}>"


def _ours(response) -> bool:
    """A JSON answer of the service itself (a 503 of ours is Busy; the proxy's is HTML)."""
    return response.headers.get("Content-Type", "").startswith("application/json")


def _result(response, url: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise errors.WorkbenchError(f"the workbench service at {url} answered "
                                    f"{response.status_code} without JSON (is that its "
                                    "address?)") from None
    if response.status_code == 200 and "result" in body:
        return codec.decode(body["result"], trusted=True)
    raise _error(body, response.status_code)


def _error(body: dict, status: int) -> errors.WorkbenchError:
    """The service's refusal as the error the embedded API raises (its class, message and
    problems), so that callers catch the same things in both modes."""
    cls = getattr(errors, str(body.get("error")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.WorkbenchError)):
        cls = errors.InvalidInput if status in (400, 413, 422) else \
            errors.PermissionDenied if status in (401, 403) else errors.WorkbenchError
    problems = [errors.Problem(p.get("field", ""), p.get("message", ""), p.get("rule"),
                               str(p.get("label") or ""))
                for p in body.get("problems") or [] if isinstance(p, dict)]
    error = cls.__new__(cls)
    errors.WorkbenchError.__init__(error, str(body.get("message") or f"HTTP {status}"), problems)
    return error
