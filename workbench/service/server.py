"""The workbench service: one process, as its own OS account, owning a home (store, secret
key, processing, the scheduler, export runs), answering the services over HTTP as a
JupyterHub service (docs/team.md).

Every request names its user only through a JupyterHub token (``Authorization: token …``)
that the hub vouches for (``jupyterhub.services.auth``); the role is the service's to decide
(``users.hub_user``: its workbench.toml and the hub groups). Nothing a client sends — header,
field, variable — says who it is or what it may do.

Calls run on a few worker threads, each with a workbench of its own (its store connection,
its query engine); a request gets that workbench acting as its user (``Workbench.as_user``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from tornado import ioloop, web

from .. import errors
from ..store.requests import Requests, Taken
from ..users import hub_user
from . import api, codec
from .client import CLIENT_VIAS

log = logging.getLogger("workbench.service")

MAX_BODY = 8 * 1024 * 1024  # a definition or an export is a few KB; keys a few hundred
UNREAD_BODY = 512 * 1024 * 1024  # beyond this tornado drops the connection unanswered
WORKERS = 4
# How long the hub's word about a token is kept: a revoked token or a removed user is refused
# within this (JupyterHub's default of 300 s would let them in for five minutes more).
AUTH_CACHE_SECONDS = 2

STATUS: list[tuple[type[errors.WorkbenchError], int]] = [
    (errors.InvalidInput, 400), (errors.NotFound, 404), (errors.PermissionDenied, 403),
    (errors.Stale, 409), (errors.Conflict, 409), (errors.Busy, 503),
]


def status_of(error: errors.WorkbenchError) -> int:
    return next((status for cls, status in STATUS if isinstance(error, cls)), 500)


def error_body(error: str, message: str, problems=()) -> dict:
    return {"error": error, "message": message,
            "problems": [{"field": p.field, "message": p.message, "rule": p.rule,
                          "label": p.label}
                         for p in problems]}


class Service:
    """What the handlers share: the home, its workbenches (one per worker thread), the record
    of changes already answered (idempotency keys)."""

    def __init__(self, home: Path, account: str):
        from ..app import Workbench

        self.home, self.account = home, account
        self._local = threading.local()
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="workbench-call")
        self._opener = lambda: Workbench(home, user=account)
        for module in api.SENDABLE:  # what a request may name, and nothing it names later
            importlib.import_module(module)
        opened = self._opener()  # kept open: its store holds the idempotency keys
        self.settings = opened.settings
        self.requests = Requests(opened.store)

    def workbench(self):
        wb = getattr(self._local, "wb", None)
        if wb is None:
            wb = self._local.wb = self._opener()
        return wb

    def user(self, model: dict):
        return hub_user(self.settings, model["name"], list(model.get("groups") or []))

    def answer(self, model: dict, noun: str, verb: str, body: dict, key: str | None,
               via: str = "api"):
        """(status, JSON body) of a call, made on this worker thread; ``via``: the entry
        point the client said (page, cli, api), for the audit trail."""
        user = self.user(model)
        kind = api.kind_of(noun, verb)
        keyed = kind == api.CHANGE and key is not None
        if keyed:
            taken = self.requests.begin(user.name, key, f"{noun}.{verb}")
            if taken is not None:
                return _replay(taken, key, f"{noun}.{verb}")
        try:
            status, answer = self._call(user, noun, verb, body, via)
        except Exception as exc:  # a bug: one line to the client, the traceback to the log
            log.exception("%s.%s for %s failed", noun, verb, user.name)
            status, answer = 500, error_body("WorkbenchError", f"internal error in {noun}.{verb}"
                                             f": {exc.__class__.__name__} (see the service log)")
        if keyed:
            self.requests.finish(user.name, key, status, answer)
        return status, answer

    def _call(self, user, noun: str, verb: str, body: dict, via: str) -> tuple[int, dict]:
        try:
            args, kwargs = codec.decode(body.get("args", [])), codec.decode(body.get("kwargs", {}))
            wb = self.workbench().as_user(user, via)
            result = api.call(wb, noun, verb, args, kwargs)
            return 200, {"result": codec.encode(result)}
        except errors.WorkbenchError as exc:
            return status_of(exc), error_body(type(exc).__name__, exc.message, exc.problems)
        except codec.Undecodable as exc:
            return 400, error_body("InvalidInput", f"{noun}.{verb}: {exc}")
        except TypeError as exc:  # arguments the method does not take
            if "argument" not in str(exc):
                raise
            return 400, error_body("InvalidInput", f"{noun}.{verb}: {exc}")


def _replay(taken: Taken, key: str, call: str) -> tuple[int, dict]:
    """The answer to a change whose idempotency key was taken before."""
    if taken.call != call:
        return 422, error_body("Conflict", f"Idempotency-Key {key!r} was used for "
                               f"{taken.call}; use a new key for another change")
    if taken.status is None:
        return 409, error_body("Conflict", f"the change with Idempotency-Key {key!r} ({call}) "
                               "is being made, or its service stopped while making it; look "
                               "before trying again (workbench audit)")
    return taken.status, taken.answer


class _Base(web.RequestHandler):
    @property
    def service(self) -> Service:
        return self.settings["workbench"]

    def refuse(self, status: int, error: str, message: str) -> None:
        self.set_status(status)
        self.finish(error_body(error, message))

    def write_error(self, status_code: int, **kwargs) -> None:
        # Tornado's own refusals (a body too large, a bad method) in the same one-line shape.
        reason = self._reason if status_code < 500 else "internal error (see the service log)"
        self.finish(error_body("HTTPError", f"{status_code}: {reason}"))


SIGN_IN = "sign in through JupyterHub: send 'Authorization: token <your hub API token>'"


class Authenticated(HubOAuthenticated, _Base):
    """A request with a hub token in its Authorization header, or refused (401 without one,
    403 with one the hub does not vouch for: unknown, expired, revoked, its user removed, or
    without access to this service). Cookies are not taken for the API: a page elsewhere could
    make a signed-in browser send them."""

    def hub_user_model(self) -> dict | None:
        header = self.request.headers.get("Authorization", "")
        if header.split(" ", 1)[0].lower() not in ("token", "bearer"):
            self.refuse(401, "Unauthorized", SIGN_IN)
            return None
        model = self.get_current_user()
        # HubAuth falls back to the service's cookie when the header's token is bad: a call
        # counts only when the header's token itself was the one vouched for.
        if not getattr(self, "_token_authenticated", False):
            model = None
        if not model or model.get("kind", "user") != "user":
            self.refuse(403, "Forbidden", "the hub does not vouch for this token (unknown, "
                        "expired or revoked, its user removed, or it lacks "
                        "access:services!service=workbench)")
            return None
        return model


@web.stream_request_body
class Call(Authenticated):
    """``POST PREFIX/api/v1/call/NOUN/VERB``. A body over MAX_BODY is read to its end but not
    kept, then refused: answering before it is read would cut the connection under the proxy,
    which then says 503 instead."""

    def prepare(self):
        self._chunks, self._size = [], 0
        if not self.request.headers.get("Authorization"):  # refused before any body
            self.refuse(401, "Unauthorized", SIGN_IN)

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= MAX_BODY:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    async def post(self, noun: str, verb: str):
        if self._finished:
            return
        if self._size > MAX_BODY:
            return self.refuse(413, "TooLarge", f"a request body of at most "
                               f"{MAX_BODY // 2**20} MB")
        model = self.hub_user_model()
        if model is None:
            return
        if api.kind_of(noun, verb) is None:
            return self.refuse(404, "NotFound", f"no call {noun[:40]}.{verb[:40]}")
        body = _body(b"".join(self._chunks))
        if isinstance(body, str):
            return self.refuse(400, "InvalidInput", body)
        key = self.request.headers.get("Idempotency-Key") or None
        if key is not None and (len(key) > 100 or not key.isprintable()):
            return self.refuse(400, "InvalidInput", "Idempotency-Key: at most 100 printable "
                               "characters")
        via = self.request.headers.get("Workbench-Via", "api")
        status, answer = await ioloop.IOLoop.current().run_in_executor(
            self.service.pool, self.service.answer, model, noun, verb, body, key,
            via if via in CLIENT_VIAS else "api")
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(answer))


class Page(Authenticated):
    """The service's own page, for a browser (signed in through OAuth when it has no cookie)."""

    @web.authenticated
    def get(self):
        user = self.service.user(self.current_user)
        name = web.escape.xhtml_escape(user.name)
        self.finish(f"<!doctype html><title>Audience Workbench service</title>"
                    f"<p>Signed in as <b>{name}</b> ({user.role.value}). The dashboards and "
                    f"JupyterLab are on your own server: <a href='/hub/home'>hub home</a>. "
                    f"The API is at <code>{self.request.path}api/v1/</code> "
                    f"(docs/team.md).</p>")


def handlers(prefix: str) -> list:
    return [(prefix, Page), (prefix + r"api/v1/call/([a-z_]+)/([a-z_]+)", Call),
            (prefix + "oauth_callback", HubOAuthCallbackHandler)]


def _body(raw: bytes) -> dict | str:
    """The call's JSON object, or why it is refused."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:
        return "the body is nested too deeply"
    except (UnicodeDecodeError, ValueError) as exc:
        return f"the body is not JSON: {str(exc)[:80]}"
    if not isinstance(body, dict) or not set(body) <= {"args", "kwargs"}:
        return 'the body is a JSON object of "args" (a list) and "kwargs" (an object)'
    if not isinstance(body.get("args", []), list) or not isinstance(body.get("kwargs", {}),
                                                                     dict):
        return 'the body is a JSON object of "args" (a list) and "kwargs" (an object)'
    return body


def main(home: str | None = None) -> None:
    """Serve on JUPYTERHUB_SERVICE_URL under JUPYTERHUB_SERVICE_PREFIX (what the hub gives a
    managed service), until SIGINT or SIGTERM."""
    from ..app import Workbench
    from ..users import current_user_name

    logging.basicConfig(level=logging.INFO, format="[workbench service %(asctime)s] %(message)s")
    os.umask(0o077)
    account = current_user_name()
    home_path = Workbench(home, user=account).home.root
    service = Service(home_path, account)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/workbench/")
    address = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8890"))
    auth = HubOAuth.instance(cache_max_age=AUTH_CACHE_SECONDS)
    app = web.Application(handlers(prefix), workbench=service, hub_auth=auth,
                          cookie_secret=os.urandom(32))
    # A client that sends its headers, or a body, and then nothing is let go after a minute.
    app.listen(address.port, address.hostname, max_body_size=UNREAD_BODY,
               idle_connection_timeout=60, body_timeout=60)
    scheduler = _start_scheduler(service)
    loop = ioloop.IOLoop.current()

    def stop(*_):
        scheduler.set()
        loop.add_callback_from_signal(loop.stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    log.info("serving %s as %s on %s%s", home_path, account, address.geturl(), prefix)
    loop.start()
    service.pool.shutdown(wait=False, cancel_futures=True)


def _start_scheduler(service: Service) -> threading.Event:
    """The scheduler in a thread of the service, as the service account: the night's
    processing and exports (``scheduler.Scheduler``), every 30 s until stopped."""
    from ..scheduler import Scheduler
    from ..settings import Role
    from ..users import User

    stopped = threading.Event()
    interval = float(os.environ.get("WORKBENCH_SCHEDULER_INTERVAL", "30"))

    def loop():
        from ..app import Workbench

        base = Workbench(service.home, user=service.account)
        wb = base.as_user(User(service.account, Role.admin), "scheduler")
        scheduler = Scheduler(wb, log=log.info)
        while not stopped.is_set():
            try:
                scheduler.tick()
            except Exception as exc:  # noqa: BLE001 - one bad tick must not stop the service
                log.warning("scheduler: %s", exc)
            stopped.wait(interval)

    if os.environ.get("WORKBENCH_SCHEDULER", "on") != "off":
        threading.Thread(target=loop, name="workbench-scheduler", daemon=True).start()
    return stopped


