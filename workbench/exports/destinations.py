"""``wb.destinations`` and ``wb.encryptions``: where exports go and whom they are encrypted to.

A destination has a kind (SPEC 7 ``type``): ``sftp`` (the default) or ``s3``; each kind is
delivered by its module in delivery/ (``delivery.kinds``). An S3 destination keeps its fields
in the row's ``settings`` and its secrets (secret access key, session token) sealed one by one
in ``sealed_settings``; its kind cannot change once saved (add another destination).

Secrets (passwords, private keys, passphrases) are sealed with the home's key before they are
stored and are write-only: nothing here returns, prints or repeats them, and an update that
omits one keeps the stored one. A host key is pinned when a destination is added: given as a
known_hosts line, or fetched from the server for the person to confirm; changing the host or
the port needs it confirmed again. Keys of an encryption are checked with real GnuPG.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from ..audit import changed, created, secrets
from ..delivery import location, location_of
from ..errors import Conflict, InvalidExport, InvalidInput, Problem
from ..settings import Secret
from .messages import labelled
from .models import (
    DESTINATION_MODELS,
    EncryptionConfig,
    SftpDestinationConfig,
    parse_destination,
    parse_model,
)

if TYPE_CHECKING:
    from ..audit import AuditTrail
    from ..secrets import SecretBox
    from ..store.exports import DestinationRecords, EncryptionRecords, ExportRecords
    from ..users import User


@dataclass
class Destination:
    id: int
    name: str
    type: str
    host: str
    port: int
    path: str
    username: str
    auth: str  # "password" or "private key" — never the secret itself
    host_key: str
    fingerprint: str
    version: int
    created_by: str
    created_at: datetime
    warnings: list[str] = field(default_factory=list)
    # A kind other than SFTP: its fields (S3: bucket, prefix, region, endpoint,
    # access_key_id), never its secrets; ``secrets``: the names of the secrets stored.
    settings: dict = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    @property
    def location(self) -> str:
        return location_of({"type": self.type, "host": self.host, "port": self.port,
                            "path": self.path, "settings": self.settings})

    def to_json(self) -> dict:
        if self.type != "sftp":
            return {"id": self.id, "name": self.name, "type": self.type, **self.settings,
                    "auth": self.auth, "secrets": self.secrets, "location": self.location,
                    "version": self.version, "created_by": self.created_by,
                    "created_at": self.created_at.isoformat()}
        return {"id": self.id, "name": self.name, "type": self.type, "host": self.host,
                "port": self.port, "path": self.path, "username": self.username,
                "auth": self.auth, "host_key": self.host_key,
                "host_key_fingerprint": self.fingerprint, "version": self.version,
                "created_by": self.created_by, "created_at": self.created_at.isoformat()}

    def _repr_html_(self) -> str:
        if self.type != "sftp":
            return (f"<b>{html.escape(self.name)}</b> {html.escape(self.location)} "
                    f"<small>({html.escape(self.auth)})</small>")
        return (f"<b>{html.escape(self.name)}</b> sftp://{html.escape(self.username)}@"
                f"{html.escape(location(self.host, self.port, self.path))} "
                f"<small>({self.auth}; host key {html.escape(self.fingerprint)})</small>")


@dataclass
class Encryption:
    id: int
    name: str
    type: str
    keys: list[dict]  # fingerprint, user_ids, expires
    version: int
    created_by: str
    created_at: datetime
    warnings: list[str] = field(default_factory=list)

    @property
    def earliest_expiry(self) -> str | None:
        dates = [k["expires"] for k in self.keys if k.get("expires")]
        return min(dates) if dates else None

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.type, "keys": self.keys,
                "earliest_expiry": self.earliest_expiry, "version": self.version,
                "created_by": self.created_by, "created_at": self.created_at.isoformat()}

    def _repr_html_(self) -> str:
        keys = "".join(f"<li><code>{html.escape(k['fingerprint'])}</code> "
                       f"{html.escape(', '.join(k['user_ids']))} "
                       f"(expires {k.get('expires') or 'never'})</li>" for k in self.keys)
        return f"<b>{html.escape(self.name)}</b> (PGP)<ul>{keys}</ul>"


class Destinations:
    def __init__(self, *, records: DestinationRecords, exports: ExportRecords, user: User,
                 box: Callable[[], SecretBox], audit: AuditTrail):
        self._audit = audit
        self._records = records
        self._exports = exports
        self._user = user
        self._box = box

    def fetch_host_key(self, host: str, port: int = 22):
        """The server's host key and its SHA256 fingerprint, to show for confirmation (those
        who may add destinations only: it reaches out to any address)."""
        from ..delivery.sftp import fetch_host_key

        self._user.require("destination.edit")
        return fetch_host_key(host, port)

    def add(self, data, *, trust_host_key: bool = False) -> Destination:
        """``trust_host_key``: the caller showed the fetched key and the person confirmed it."""
        self._user.require("destination.edit")
        config = parse_destination(data)
        if config.type != "sftp":
            return self._add_settings(config)
        if config.password is None and config.private_key is None:
            raise InvalidExport.listing([Problem("password or private_key", "one is required")],
                                        "invalid destination")
        values = self._checked(config, trust_host_key, secrets_required=True)
        destination = self._get(self._records.insert(values, user=self._user.name))
        self._audit.record("destination.add", "destination", destination.id, changes={
            **created(_audited(destination)), **secrets(_given(config), "set")})
        return destination

    def update(self, key: int | str, data, *, version: int | None = None,
               trust_host_key: bool = False) -> Destination:
        """Secrets left out keep their stored values; a new host or port needs its key."""
        self._user.require("destination.edit")
        stored = self._records.get(_key(key))
        before = _destination(stored)
        config = parse_destination(data)
        _refuse_rename(stored, config.name, self._exports.using("destination_id", stored["id"]),
                       "destination")
        if config.type != stored["type"]:
            raise InvalidExport.listing([Problem(
                "type", f"destination {stored['name']!r} is of type {stored['type']}; a "
                "destination's type cannot change (add a new destination)")],
                "invalid destination")
        if config.type != "sftp":
            return self._update_settings(stored, before, config, version)
        moved = (config.host, config.port) != (stored["host"], stored["port"])
        if config.host_key is None and not moved:
            config = config.model_copy(update={"host_key": stored["host_key"]})
        values = self._checked(config, trust_host_key, secrets_required=False)
        if config.password is not None:  # switching to a password drops a stored key
            values.update(sealed_private_key=None, sealed_passphrase=None)
        elif config.private_key is not None:
            values.update(sealed_password=None)
        self._records.update(stored["id"], values, base_version=version,
                             user=self._user.name)
        destination = self._get(stored["id"])
        self._audit.record("destination.update", "destination", destination.id, changes={
            **changed(_audited(before), _audited(destination)), **secrets(_given(config))})
        return destination

    def _add_settings(self, config) -> Destination:
        values = self._settings_values(config, {})
        destination = self._get(self._records.insert(values, user=self._user.name))
        self._audit.record("destination.add", "destination", destination.id, changes={
            **created(_audited(destination)), **secrets(_given(config), "set")})
        return destination

    def _update_settings(self, stored: dict, before: Destination, config,
                         version: int | None) -> Destination:
        sealed = json.loads(stored["sealed_settings"] or "{}")
        values = self._settings_values(config, sealed)
        self._records.update(stored["id"], values, base_version=version, user=self._user.name)
        destination = self._get(stored["id"])
        self._audit.record("destination.update", "destination", destination.id, changes={
            **changed(_audited(before), _audited(destination)), **secrets(_given(config))})
        return destination

    def _settings_values(self, config, sealed: dict) -> dict:
        """The row of a kind kept in ``settings``: its fields, and its secrets sealed one by
        one (one left out keeps ``sealed``'s; an optional one given empty is removed)."""
        box = self._box()
        secret_names = _SECRETS[config.type]
        sealed = dict(sealed)
        for name in secret_names:
            value = getattr(config, name)
            if value is None:
                continue
            if value.get_secret_value():
                sealed[name] = box.seal(_secret(value))
            else:
                sealed.pop(name, None)
        missing = [n for n in _REQUIRED_SECRETS.get(config.type, ()) if n not in sealed]
        if missing:
            raise InvalidExport.listing([Problem(n, "is required") for n in missing],
                                        "invalid destination")
        settings = config.model_dump(mode="json", exclude={"name", "type", *secret_names})
        # The SFTP columns (not null) hold what a list shows of it: the bucket where the host
        # goes, the prefix as the path, the key id as the user name.
        return {"name": config.name, "type": config.type, "host": config.bucket, "port": 0,
                "path": config.prefix, "username": config.access_key_id, "host_key": "",
                "settings": json.dumps(settings), "sealed_settings": json.dumps(sealed)}

    def _checked(self, config: SftpDestinationConfig, trust_host_key: bool, *,
                 secrets_required: bool) -> dict:
        from ..delivery.sftp import check_private_key, fetch_host_key, parse_host_key

        if config.host_key is not None:
            host_key = parse_host_key(config.host_key)
        elif trust_host_key:
            host_key = fetch_host_key(config.host, config.port)
        else:
            raise InvalidExport.listing([Problem(
                "host_key", "required; give the server's public key as a known_hosts line "
                "(ssh-ed25519 AAAA...), or fetch it with --trust-host-key and compare its "
                "fingerprint")], "invalid destination")
        box = self._box()
        values = {"name": config.name, "type": config.type, "host": config.host,
                  "port": config.port, "path": config.path, "username": config.username,
                  "host_key": host_key.line}
        if config.private_key is not None:
            key, passphrase = _secret(config.private_key), _secret(config.passphrase)
            check_private_key(key, passphrase)
            values["sealed_private_key"] = box.seal(key)
            values["sealed_passphrase"] = box.seal(passphrase) if passphrase else None
        if config.password is not None:
            values["sealed_password"] = box.seal(_secret(config.password))
        return values

    def actions(self) -> list[str]:
        """What the current user may do with destinations (what the UI offers): add one, and
        edit, test or remove each."""
        return ["add", "edit", "test", "remove"] if self._user.can("destination.edit") else []

    def check(self, data: dict, *, editing: Destination | None = None,
              secret: str = "password") -> list[Problem]:
        """Every problem of a destination being typed, nothing saved or fetched: what its form
        shows at each field (an empty one: "required"). ``editing``: the stored destination, whose
        secrets and host key stay unless replaced (a new host or port needs its key);
        ``secret``: the field a missing secret is said at (``password`` or ``private_key``)."""
        kind = data.get("type") or "sftp"
        model = DESTINATION_MODELS.get(kind, SftpDestinationConfig)
        blank = [name for name, f in model.model_fields.items()
                 if f.is_required() and not str(data.get(name) or "").strip()]
        problems = [Problem(f, "is required") for f in blank]
        try:
            parse_destination(data)
        except InvalidExport as exc:
            problems += [p for p in exc.problems if p.field.split(".")[0] not in blank]
        if kind != "sftp":
            if editing is None:
                problems += [Problem(name, "is required")
                             for name in _REQUIRED_SECRETS.get(kind, ()) if not data.get(name)]
            return labelled(problems)
        if editing is None and not (data.get("password") or data.get("private_key")):
            problems.append(Problem(secret, "is required"))
        moved = editing is not None and (str(data.get("host", "")).strip(),
                                         data.get("port")) != (editing.host, editing.port)
        if (editing is None or moved) and not data.get("host_key"):
            problems.append(Problem("host_key", "fetch the server's host key and confirm it"))
        return labelled(problems)

    def list(self) -> list[Destination]:
        return [_destination(row) for row in self._records.list()]

    def get(self, key: int | str) -> Destination:
        return self._get(_key(key))

    def _get(self, key: int | str) -> Destination:
        return _destination(self._records.get(key))

    def remove(self, key: int | str) -> None:
        """Refused while an export that is not canceled uses it."""
        self._user.require("destination.edit")
        row = self._records.get(_key(key))
        using = self._exports.using("destination_id", row["id"])
        if using:
            names = ", ".join(f"{e['id']} ({e['name']})" for e in using)
            raise Conflict(f"destination {row['name']!r} is used by export(s) {names}; cancel "
                           "them or point them elsewhere first")
        self._records.remove(row["id"])
        self._audit.record("destination.remove", "destination", row["id"],
                           changes={"name": [row["name"], None]})

    def test(self, key: int | str) -> list[str]:
        """SFTP: log in with the pinned key, check the path exists and is writable; S3: list
        the prefix, put a probe object and delete it. The steps that passed, or the error
        (``SftpError``, ``S3Error``) saying precisely what failed."""
        from ..delivery.kinds import of

        # It logs in with the stored secrets and writes on the partner's server.
        self._user.require("destination.edit")
        target = self._target(key)
        return of(target).test(target)

    def target(self, key: int | str):
        """The destination with its secrets opened, for delivering an export: only for users
        who may run exports (viewers read everything but secrets, SPEC 8)."""
        self._user.require("export.run")
        return self._target(key)

    def _target(self, key: int | str):
        from ..delivery.sftp import SftpTarget

        row = self._records.get(_key(key))
        box = self._box()

        def opened(column: str) -> Secret | None:
            return box.open(row[column]) if row[column] else None

        if row["type"] == "s3":
            from ..delivery.s3 import S3Target

            settings = json.loads(row["settings"])
            sealed = json.loads(row["sealed_settings"] or "{}")
            token = sealed.get("session_token")
            return S3Target(bucket=settings["bucket"], prefix=settings["prefix"],
                            region=settings.get("region"), endpoint=settings.get("endpoint"),
                            access_key_id=settings["access_key_id"],
                            secret_access_key=box.open(sealed["secret_access_key"]),
                            session_token=box.open(token) if token else None)

        return SftpTarget(host=row["host"], port=row["port"], path=row["path"],
                          username=row["username"], host_key=row["host_key"],
                          password=opened("sealed_password"),
                          private_key=opened("sealed_private_key"),
                          passphrase=opened("sealed_passphrase"))


class Encryptions:
    def __init__(self, *, records: EncryptionRecords, user: User, today: Callable[[], date],
                 audit: AuditTrail, exports: ExportRecords | None = None):
        self._audit = audit
        self._exports = exports
        self._records = records
        self._user = user
        self._today = today

    def add(self, data) -> Encryption:
        self._user.require("encryption.edit")
        config = parse_model(EncryptionConfig, data, "encryption")
        values, warnings = self._checked(config)
        encryption = self._get(self._records.insert(values, user=self._user.name))
        self._audit.record("encryption.add", "encryption", encryption.id,
                           changes=created(_keys_of(encryption)))
        encryption.warnings = warnings
        return encryption

    def update(self, key: int | str, data, *, version: int | None = None) -> Encryption:
        self._user.require("encryption.edit")
        stored = self._records.get(_key(key, "encryption"))
        before = _encryption(stored)
        config = parse_model(EncryptionConfig, data, "encryption")
        if self._exports is not None:
            _refuse_rename(stored, config.name,
                           self._exports.using("encryption_id", stored["id"]), "encryption")
        values, warnings = self._checked(config)
        self._records.update(stored["id"], values, base_version=version,
                             user=self._user.name)
        encryption = self._get(stored["id"])
        self._audit.record("encryption.update", "encryption", encryption.id,
                           changes=changed(_keys_of(before), _keys_of(encryption)))
        encryption.warnings = warnings
        return encryption

    def _checked(self, config: EncryptionConfig) -> tuple[dict, list[str]]:
        from ..delivery.pgp import check_keys

        infos, warnings = check_keys(config.keys, today=self._today())
        key_info = [{"fingerprint": k.fingerprint, "user_ids": list(k.user_ids),
                     "expires": k.expires.isoformat() if k.expires else None} for k in infos]
        return ({"name": config.name, "type": config.type, "keys": json.dumps(config.keys),
                 "key_info": json.dumps(key_info)}, warnings)

    def inspect(self, armored_keys: list[str]):
        """The keys as gpg sees them (fingerprint, user ids, expiry) and warnings, before
        saving; every refused key is said in one ``InvalidInput`` (``key N: reason``)."""
        from ..delivery.pgp import check_keys

        return check_keys(list(armored_keys), today=self._today())

    def actions(self) -> list[str]:
        """What the current user may do with encryptions (what the UI offers): add one, edit
        each."""
        return ["add", "edit"] if self._user.can("encryption.edit") else []

    def list(self) -> list[Encryption]:
        return [self._with_expired(_encryption(row)) for row in self._records.list()]

    def get(self, key: int | str) -> Encryption:
        return self._get(_key(key, "encryption"))

    def _get(self, key: int | str) -> Encryption:
        return self._with_expired(_encryption(self._records.get(key)))

    def _with_expired(self, encryption: Encryption) -> Encryption:
        """An encryption read back says which of its keys have expired since they were added
        (every run encrypting to it fails until the key is renewed)."""
        today = self._today()
        encryption.warnings = [
            f"key {k['fingerprint'][-16:]} expired on {k['expires']}: runs encrypting to "
            f"{encryption.name} fail until a renewed key replaces it"
            for k in encryption.keys if k.get("expires") and k["expires"] <= today.isoformat()]
        return encryption

    def armored_keys(self, key: int | str) -> list[str]:
        return json.loads(self._records.get(_key(key, "encryption"))["keys"])


def _key(key: int | str, what: str = "destination") -> int | str:
    """An id (number) or a name of a destination or an encryption (``what``)."""
    if isinstance(key, int) or (isinstance(key, str) and key.strip().isascii()
                                and key.strip().isdigit()):
        from ..ids import parse_id

        return parse_id(key, what)
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput("give an id or a name")
    return key.strip()


def _refuse_rename(stored: dict, name: str, using: list[dict], what: str) -> None:
    """Exports name their destination and encryption: a rename would leave them pointing at
    nothing the next time they are edited."""
    if name != stored["name"] and using:
        names = ", ".join(f"{e['id']} ({e['name']})" for e in using)
        raise InvalidExport.listing([Problem(
            "name", f"{what} {stored['name']!r} is used by export(s) {names}; keep its name "
            "while they use it")], f"invalid {what}")


def _audited(destination: Destination) -> dict:
    """What the trail says of a destination: where it points, how it logs in and the pinned
    key's fingerprint; its secrets only as named in ``_given``."""
    if destination.type != "sftp":
        return {"name": destination.name, **destination.settings}
    return {"name": destination.name, "host": destination.host, "port": destination.port,
            "path": destination.path, "username": destination.username,
            "auth": destination.auth, "host_key": destination.fingerprint}


# The secrets of each kind (sealed, write-only), and those a new destination must be given.
_SECRETS = {"sftp": ("password", "private_key", "passphrase"),
            "s3": ("secret_access_key", "session_token")}
_REQUIRED_SECRETS = {"s3": ("secret_access_key",)}


def _given(config) -> list[str]:
    """The secrets a save was given (each replaces the stored one): names only."""
    return [name for name in _SECRETS[config.type] if getattr(config, name) is not None]



def _keys_of(encryption: Encryption) -> dict:
    """What the trail says of an encryption: its name and its keys' fingerprints."""
    return {"name": encryption.name, "keys": [k["fingerprint"] for k in encryption.keys]}


def _secret(value) -> Secret | None:
    return None if value is None else Secret(value.get_secret_value())


def _destination(row: dict) -> Destination:
    from ..delivery.sftp import parse_host_key

    if row["type"] != "sftp":
        sealed = json.loads(row["sealed_settings"] or "{}")
        return Destination(
            id=row["id"], name=row["name"], type=row["type"], host=row["host"],
            port=row["port"], path=row["path"], username=row["username"],
            auth="access key" + (" and session token" if "session_token" in sealed else ""),
            host_key="", fingerprint="", version=row["version"], created_by=row["created_by"],
            created_at=row["created_at"], settings=json.loads(row["settings"] or "{}"),
            secrets=sorted(sealed))

    return Destination(
        id=row["id"], name=row["name"], type=row["type"], host=row["host"], port=row["port"],
        path=row["path"], username=row["username"],
        auth="private key" if row["sealed_private_key"] else "password",
        host_key=row["host_key"], fingerprint=parse_host_key(row["host_key"]).fingerprint,
        version=row["version"], created_by=row["created_by"], created_at=row["created_at"])


def _encryption(row: dict) -> Encryption:
    return Encryption(id=row["id"], name=row["name"], type=row["type"],
                      keys=json.loads(row["key_info"]), version=row["version"],
                      created_by=row["created_by"], created_at=row["created_at"])

