"""``wb.notices``: webhook and Slack notice targets, named like destinations, and the notices
sent to them after each export run that completes or fails.

A target's URL and a webhook's signing secret are sealed with the home's key before they are
stored and are write-only: nothing here returns, prints or repeats them (Slack's incoming
webhook URLs are bearer tokens), and an update that omits one keeps the stored one. What may be
shown: the name, the type, the URL's host and who made it when. An export names targets in its
``notify`` list beside e-mail addresses; a target is not removed or renamed while one does.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ..audit import changed, created, secrets
from ..errors import Conflict, DeliveryError, InvalidExport, NotFound, Problem, WorkbenchError
from ..settings import Secret
from .messages import labelled
from .models import Name, parse_model

if TYPE_CHECKING:
    from ..audit import AuditTrail
    from ..run_states import Run
    from ..secrets import SecretBox
    from ..store.exports import ExportRecords
    from ..store.notices import NoticeRecords
    from ..users import User

MIN_SECRET = 16  # characters of a signing secret: a guessable one signs nothing
PARALLEL = 8  # targets of one run told at once


class NoticeTargetConfig(BaseModel):
    """``{"name", "type": "webhook", "url", "secret"}`` or ``{"name", "type": "slack",
    "url"}``; the URL and the secret are ``SecretStr``: never in a repr or a dump."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    type: Literal["webhook", "slack"]
    url: SecretStr | None = None
    secret: SecretStr | None = Field(None)

    @field_validator("name")
    @classmethod
    def _not_an_address(cls, value: str) -> str:
        if "@" in value:  # an export's notify entry with "@" is an e-mail address
            raise ValueError("must not contain @ (a notify entry with @ is an e-mail address)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr | None) -> SecretStr | None:
        from ..delivery.webhook import url_host

        if value is not None:
            url_host(value.get_secret_value())
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_SECRET:
            raise ValueError(f"must be at least {MIN_SECRET} characters (a random one: "
                             "python -c 'import secrets; print(secrets.token_hex(32))')")
        return value


@dataclass
class NoticeTarget:
    id: int
    name: str
    type: str  # webhook | slack
    host: str  # the URL's host: all of the URL that is ever shown
    signed: bool  # a webhook with its signing secret
    version: int
    created_by: str
    created_at: datetime

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.type, "host": self.host,
                "signed": self.signed, "version": self.version, "created_by": self.created_by,
                "created_at": self.created_at.isoformat()}

    def _repr_html_(self) -> str:
        return (f"<b>{html.escape(self.name)}</b> {html.escape(self.type)} → "
                f"{html.escape(self.host)}" + (" <small>(signed)</small>" if self.signed else ""))


class Notices:
    def __init__(self, *, records: NoticeRecords, exports: ExportRecords, user: User,
                 box: Callable[[], SecretBox], audit: AuditTrail, now: Callable[[], datetime]):
        self._records = records
        self._exports = exports
        self._user = user
        self._box = box
        self._audit = audit
        self._now = now

    # -- reading --------------------------------------------------------------------------------

    def list(self) -> list[NoticeTarget]:
        return [_target(row) for row in self._records.list()]

    def get(self, key: int | str) -> NoticeTarget:
        return _target(self._records.get(_key(key)))

    def names(self) -> list[str]:
        return [row["name"] for row in self._records.list()]

    def actions(self) -> list[str]:
        """What the current user may do with notice targets (what the UI offers)."""
        return ["add", "edit", "test", "remove"] if self._user.can("notice.edit") else []

    def check(self, data: dict, *, editing: NoticeTarget | None = None) -> list[Problem]:
        """Every problem of a target being typed, nothing saved: what its form shows at each
        field. ``editing``: the stored target, whose URL and secret stay unless replaced."""
        problems: list[Problem] = []
        try:
            parse_model(NoticeTargetConfig, data, "notice target")
        except InvalidExport as exc:
            problems = list(exc.problems)
        given = {name: bool(str(data.get(name) or "").strip()) for name in ("url", "secret")}
        missing = _missing(NoticeTargetConfig.model_construct(
            type=data.get("type"), **{k: SecretStr("given") for k, v in given.items() if v}),
            editing)
        said = {p.field for p in problems}
        return labelled(problems + [p for p in missing if p.field not in said])

    # -- changing -------------------------------------------------------------------------------

    def add(self, data) -> NoticeTarget:
        self._user.require("notice.edit")
        config = parse_model(NoticeTargetConfig, data, "notice target")
        _refuse(_missing(config, None))
        self._unique(config.name)
        row_id = self._records.insert(self._sealed(config), user=self._user.name)
        target = self.get(row_id)
        self._audit.record("notice.add", "notice", target.id, changes={
            **created(_audited(target)), **secrets(_given(config), "set")})
        return target

    def update(self, key: int | str, data, *, version: int | None = None) -> NoticeTarget:
        """The URL or secret left out keeps its stored value."""
        self._user.require("notice.edit")
        stored = self._records.get(_key(key))
        before = _target(stored)
        config = parse_model(NoticeTargetConfig, data, "notice target")
        _refuse(_missing(config, before))
        if config.name != stored["name"]:
            using = self.used_by(stored["name"])
            if using:
                raise InvalidExport.listing([Problem(
                    "name", f"notice target {stored['name']!r} is named by export(s) "
                    f"{_listed(using)}; keep its name while they use it")],
                    "invalid notice target")
            self._unique(config.name)
        values = self._sealed(config)
        if config.type == "slack":
            values["sealed_secret"] = None  # a Slack target signs nothing
        self._records.update(stored["id"], values, base_version=version, user=self._user.name)
        target = self.get(stored["id"])
        self._audit.record("notice.update", "notice", target.id, changes={
            **changed(_audited(before), _audited(target)), **secrets(_given(config))})
        return target

    def remove(self, key: int | str) -> None:
        """Refused while an export that is not canceled names it in its ``notify``."""
        self._user.require("notice.edit")
        row = self._records.get(_key(key))
        using = self.used_by(row["name"])
        if using:
            raise Conflict(f"notice target {row['name']!r} is named by export(s) "
                           f"{_listed(using)}; take it out of their notify first")
        self._records.remove(row["id"])
        self._audit.record("notice.remove", "notice", row["id"],
                           changes={"name": [row["name"], None]})

    def used_by(self, name: str) -> list[dict]:
        """Exports that are not canceled and name this target in their ``notify``."""
        return [e for e in self._exports.list() if e["state"] != "canceled"
                and name in (json.loads(e["config"]).get("notify") or [])]

    # -- sending --------------------------------------------------------------------------------

    def test(self, key: int | str) -> str:
        """Send a test notice now, one try: ``sent (HTTP 200)``, or ``DeliveryError`` with
        the receiver's answer (it reaches out to any address: those who edit targets only)."""
        from .notify import test_body

        self._user.require("notice.edit")
        row = self._records.get(_key(key))
        try:
            return self._post(row, test_body(row["type"], row["name"], self._now()), tries=1)
        except DeliveryError as exc:
            raise DeliveryError(f"notice target {row['name']!r}: not sent: {exc}") from None

    def send(self, run: Run, names: list[str]) -> dict[str, str]:
        """Tell the targets ``names`` how ``run`` ended, at once (a few in parallel), each
        bounded and retried (``delivery/webhook.py``): ``{name: "sent (HTTP 200)" | "not
        sent: <reason>"}``. Never raises: a notice never fails the run it tells of."""
        from concurrent.futures import ThreadPoolExecutor

        if not names:
            return {}
        try:  # opening secrets needs the right to run exports (viewers read none, SPEC 8)
            self._user.require("export.run")
        except WorkbenchError as exc:
            return dict.fromkeys(names, f"not sent: {exc}")
        with ThreadPoolExecutor(min(PARALLEL, len(names)),
                                thread_name_prefix="workbench-notice") as pool:
            notes = list(pool.map(lambda name: self._tell(run, name), names))
        return dict(zip(names, notes, strict=True))

    def _tell(self, run: Run, name: str) -> str:
        from .notify import slack_body, webhook_body

        try:
            row = self._records.get(name)
            body = slack_body(run) if row["type"] == "slack" else webhook_body(run)
            return self._post(row, body)
        except NotFound:
            return "not sent: no notice target of that name (it was removed)"
        except WorkbenchError as exc:
            return f"not sent: {exc}"
        except Exception as exc:  # noqa: BLE001 - a bug here must not fail the run
            return f"not sent: {exc.__class__.__name__}"

    def _post(self, row: dict, body: bytes, tries: int | None = None) -> str:
        from ..delivery import webhook
        from .notify import signed_headers

        box = self._box()
        url = box.open(row["sealed_url"])
        secret = box.open(row["sealed_secret"]) if row["sealed_secret"] else None

        def headers() -> dict[str, str]:
            if row["type"] != "webhook" or secret is None:
                return {}
            return signed_headers(secret.reveal(), body, int(self._now().timestamp()))

        backoff = None if tries is None else webhook.BACKOFF[:tries]
        return webhook.post(url, body, headers, backoff=backoff)

    # -- helpers --------------------------------------------------------------------------------

    def _unique(self, name: str) -> None:
        try:
            self._records.get(name)
        except NotFound:
            return
        raise Conflict(f"a notice target named {name!r} exists already; choose another name")

    def _sealed(self, config: NoticeTargetConfig) -> dict:
        from ..delivery.webhook import url_host

        values: dict = {"name": config.name, "type": config.type}
        box = self._box()
        if config.url is not None:
            url = config.url.get_secret_value().strip()
            values.update(host=url_host(url), sealed_url=box.seal(Secret(url)))
        if config.secret is not None:
            values["sealed_secret"] = box.seal(Secret(config.secret.get_secret_value().strip()))
        return values


def _missing(config: NoticeTargetConfig, stored: NoticeTarget | None) -> list[Problem]:
    """The secrets a target needs that neither this save nor the stored target gives."""
    problems = []
    if config.url is None and stored is None:
        problems.append(Problem("url", "is required"))
    if config.type == "webhook" and config.secret is None and not (stored and stored.signed):
        problems.append(Problem("secret", "is required for a webhook (it signs each notice)"))
    if config.type == "slack" and config.secret is not None:
        problems.append(Problem("secret", "a Slack target takes no secret (Slack's incoming "
                                          "webhooks are not signed)"))
    return problems


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise InvalidExport.listing(labelled(problems), "invalid notice target")


def _key(key: int | str) -> int | str:
    from .destinations import _key as destination_key

    return destination_key(key, "notice target")


def _listed(exports: list[dict]) -> str:
    return ", ".join(f"{e['id']} ({e['name']})" for e in exports)


def _audited(target: NoticeTarget) -> dict:
    """What the trail says of a target: its name, type and host; its URL and secret only as
    named in ``_given``."""
    return {"name": target.name, "type": target.type, "host": target.host}


def _given(config: NoticeTargetConfig) -> list[str]:
    return [name for name in ("url", "secret") if getattr(config, name) is not None]


def _target(row: dict) -> NoticeTarget:
    return NoticeTarget(id=row["id"], name=row["name"], type=row["type"], host=row["host"],
                        signed=bool(row["sealed_secret"]), version=row["version"],
                        created_by=row["created_by"], created_at=row["created_at"])
