"""Export configurations, destinations and encryptions as JSON (SPEC 7): one format for the UI,
the Python API and the CLI. These models check the shape; the export service checks what needs
the store (an active audience, a known destination) and the catalog (attributes that exist).
Every message names the field as a form shows it: ``Column 3 template: …`` (``messages``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    StrictBool,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import InvalidExport, InvalidInput, Problem
from .schedule import Schedule

# ASCII addresses: a local part of at most 64 characters, host labels that neither start nor end
# with "-", a top-level domain of letters (what SMTP servers deliver to without SMTPUTF8).
EMAIL = re.compile(r"^(?=.{3,254}$)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                   r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
DELIMITERS = {"comma": ",", "tab": "\t", "pipe": "|", "semicolon": ";"}
RECORD_DELIMITERS = {"LF": "\n", "CRLF": "\r\n"}
MAX_COLUMNS = 200
MAX_RECIPIENTS = 50
MAX_STALENESS_DAYS = 365


def _no_control(value: str, field: str) -> str:
    """No control characters, nor invisible ones that reorder what a person reads (U+202E)."""
    for c in value:
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(f"{field} must not contain control or invisible characters "
                             f"(found U+{ord(c):04X})")
    return value


def _name(value: str) -> str:
    """A name as a person reads it: not blank, trimmed, nothing invisible."""
    if not value.strip():
        raise ValueError("must not be blank")
    return _no_control(value.strip(), "the name")


# The name of an export or an encryption.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_name)]


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: bool = True
    record_delimiter: Literal["LF", "CRLF"] = "LF"
    field_delimiter: Literal["comma", "tab", "pipe", "semicolon"] = "comma"
    # A text value starting with = + - @ (or a tab or carriage return) gets a leading ' so a
    # spreadsheet opening the file shows it instead of running it as a formula (OWASP's CSV
    # injection advice). Off by default: it changes the data a program reading the file sees.
    neutralize_formulas: StrictBool = False


# What a run delivers (SPEC 7, wave 3), measured against what the export last delivered
# successfully: the whole list, only the added or removed members, both as two files, or one
# file with a ``change`` column.
CHANGES = ("full", "added", "removed", "both", "column")
COMPRESSIONS = ("gzip", "zstd")
MAX_SPLIT_ROWS = 1_000_000_000
MIN_SPLIT_BYTES = 1024  # below this a part could not hold its header and one long row
MAX_SPLIT_BYTES = 100_000_000_000  # 100 GB of CSV a part: more is no split at all
# Parts of one file of a run. Each part is an upload of its own (a connection, a temporary
# name, a rename, a record in the run's ledger, which lists the parts before it) and a line of
# the manifest: 10,000 one-row parts would take hours and a partner could not check them.
MAX_PARTS = 1000


class SplitOptions(BaseModel):
    """Numbered parts of at most ``rows`` rows or ``bytes`` bytes of CSV each (one of them)."""

    model_config = ConfigDict(extra="forbid")

    rows: int | None = None
    bytes: int | None = None

    @field_validator("rows", "bytes", mode="before")
    @classmethod
    def _whole(cls, value: Any, info) -> int | None:
        if value is None:
            return None
        low, high = (1, MAX_SPLIT_ROWS) if info.field_name == "rows" else \
            (MIN_SPLIT_BYTES, MAX_SPLIT_BYTES)
        shown = repr(value) if len(repr(value)) <= 20 else repr(value)[:19] + "…"
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"must be a whole number of {info.field_name}, at least {low:,} "
                             f"(got {shown})")
        if value > high:
            raise ValueError(f"must be a whole number of {info.field_name}, at most {high:,} "
                             f"(got {shown})")
        return value

    @model_validator(mode="after")
    def _one(self) -> SplitOptions:
        if (self.rows is None) == (self.bytes is None):
            raise ValueError('give either "rows" or "bytes" (how large each part may be)')
        return self


class ExportColumn(BaseModel):
    """An attribute of the customer record, or a Handlebars template (with a label)."""

    model_config = ConfigDict(extra="forbid")

    attribute: str | None = None
    template: str | None = None
    label: str | None = Field(None, max_length=200)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else _no_control(value, "the label")

    @model_validator(mode="after")
    def _one_source(self) -> ExportColumn:
        if (self.attribute is None) == (self.template is None):
            raise ValueError("give either attribute or template")
        if self.template is not None and not (self.label or "").strip():
            raise ValueError("a template column needs a label")
        return self

    @property
    def header(self) -> str:
        return self.label if self.label is not None else self.attribute


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    audience: int
    file_name: str = Field(min_length=1, max_length=1000)
    active: StrictBool = True
    schedule: Schedule
    destination: str = Field(min_length=1)
    encryption: str | None = None
    format: Literal["csv"] = "csv"
    csv: CsvOptions = CsvOptions()
    columns: list[ExportColumn] = Field(min_length=1, max_length=MAX_COLUMNS)
    notify: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    # A run delivers nothing when the audience's last processing is more than this many days
    # before the run's day (SPEC 7, freshness).
    max_staleness_days: int = 1
    # Which group of an audience with a holdout (SPEC 6) the file holds: the treatment by
    # default; the holdout, for a control list. Without a holdout every member is treatment.
    group: Literal["treatment", "holdout"] = "treatment"
    # Wave 3 (SPEC 7): each optional, today's behaviour by default.
    changes: Literal["full", "added", "removed", "both", "column"] = "full"
    compression: Literal["gzip", "zstd"] | None = None
    split: SplitOptions | None = None

    @field_validator("max_staleness_days", mode="before")
    @classmethod
    def _staleness(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value <= MAX_STALENESS_DAYS:
            shown = repr(value) if len(repr(value)) <= 20 else repr(value)[:19] + "…"
            raise ValueError(f"must be a whole number of days from 0 to {MAX_STALENESS_DAYS} "
                             f"(got {shown})")
        return value

    @field_validator("audience", mode="before")
    @classmethod
    def _audience(cls, value: Any) -> int:
        from ..ids import parse_id

        try:
            return parse_id(value, "audience")
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("notify")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        """An entry with "@" is an e-mail address; any other, the name of a webhook or Slack
        notice target (the export service checks that it exists)."""
        bad = [entry for entry in value if "@" in entry and not EMAIL.match(entry.strip())]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(repr(b) for b in bad[:5])}")
        for entry in value:
            if "@" not in entry:
                if not entry.strip() or len(entry.strip()) > 200:
                    raise ValueError("an entry is an e-mail address or the name of a notice "
                                     f"target (1 to 200 characters), not {entry[:60]!r}")
                _no_control(entry, "a notice target's name")
        return list(dict.fromkeys(entry.strip() for entry in value))  # once each

    @classmethod
    def parse(cls, data: dict | str | ExportConfig) -> ExportConfig:
        return parse_model(cls, data, "export configuration")

    def to_json(self) -> dict:
        return self.model_dump(mode="json")


def describe(exc: ValidationError) -> list[Problem]:
    """pydantic's errors as problems of ``field.path``, in plain words (``messages``)."""
    from .messages import problems

    return problems(exc.errors())


def parse_model(model: type[BaseModel], data, what: str):
    """A model from a dict or JSON text; shape errors become ``InvalidExport`` naming fields."""
    if isinstance(data, model):
        return data
    try:
        if isinstance(data, str | bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidExport.listing(describe(exc), f"invalid {what}") from None


class SftpDestinationConfig(BaseModel):
    """SPEC 7 SFTP destination JSON. Secrets are ``SecretStr``: never in a repr or a dump."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: Literal["sftp"] = "sftp"
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(22, ge=1, le=65535)
    path: str = Field(min_length=1, max_length=1000)
    username: str = Field(min_length=1, max_length=200)
    password: SecretStr | None = None
    private_key: SecretStr | None = None
    passphrase: SecretStr | None = None
    host_key: str | None = None

    @field_validator("name", "host", "path", "username")
    @classmethod
    def _plain(cls, value: str, info) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return _no_control(value.strip(), info.field_name)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        # A name, an IPv4 or an IPv6 address; never something a tool could read as an option.
        if value.startswith("-") or not re.fullmatch(r"[A-Za-z0-9._:%\[\]-]+", value):
            raise ValueError("a host name or an IP address, such as sftp.example.com or "
                             f"192.0.2.10; not {value[:60]!r}")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> SftpDestinationConfig:
        if self.password is not None and self.private_key is not None:
            raise ValueError("give a password or a private_key, not both")
        if self.passphrase is not None and self.private_key is None:
            raise ValueError("a passphrase goes with a private_key")
        return self


BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")  # AWS refuses bucket names formatted as IPs
# S3 keys are at most 1,024 bytes: the prefix leaves room for "/" and a file's temporary name
# (".NAME.part-W-RUN-ATTEMPT", NAME at most files.MAX_BYTES = 220 bytes).
MAX_PREFIX_BYTES = 700
REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class S3DestinationConfig(BaseModel):
    """SPEC 7 S3 destination JSON (wave 3). Secrets are ``SecretStr``: never in a repr or a
    dump. ``prefix``: the folder keys go under (no leading "/", no ".." part); ``endpoint``:
    an S3-compatible server's https URL (plain http only to this machine, for tests and local
    servers), else AWS in ``region``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: Literal["s3"]
    bucket: str = Field(min_length=1, max_length=63)
    prefix: str = Field("", max_length=900)
    region: str | None = Field(None, max_length=40)
    # Checked even when left out: a region or an endpoint is needed (said at the endpoint).
    endpoint: str | None = Field(None, max_length=500, validate_default=True)
    access_key_id: str = Field(min_length=1, max_length=128)
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None

    @field_validator("name", "access_key_id")
    @classmethod
    def _plain(cls, value: str, info) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        value = _no_control(value.strip(), info.field_name)
        if info.field_name == "access_key_id" and any(c.isspace() for c in value):
            raise ValueError("an access key id has no spaces (such as AKIAIOSFODNN7EXAMPLE)")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        value = value.strip()
        if not BUCKET.match(value) or ".." in value or IP_LIKE.match(value):
            raise ValueError("a bucket name: 3 to 63 lowercase letters, digits, dots and "
                             "hyphens, starting and ending with a letter or digit, not an "
                             f"IP address; not "
                             f"{value[:70]!r}")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = _no_control(value.strip(), "the prefix")
        if value.startswith("/"):
            raise ValueError("must not start with / (give reports/daily, not /reports/daily)")
        if "\\" in value:
            raise ValueError("use / between folders, not \\")
        parts = value.rstrip("/").split("/") if value.rstrip("/") else []
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError("must not contain '..', '.' or an empty part ('//'): keys stay "
                             "under the folder it names")
        size = len("/".join(parts).encode("utf-8"))
        if size > MAX_PREFIX_BYTES:
            raise ValueError(f"is {size:,} bytes in UTF-8; at most {MAX_PREFIX_BYTES} (S3 keys "
                             "are at most 1,024 bytes, and a file's temporary name needs the "
                             "rest)")
        return "/".join(parts)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not REGION.match(value.strip()):
            raise ValueError(f"a region such as eu-central-1; not {value[:50]!r}")
        return value.strip()

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None, info) -> str | None:
        from urllib.parse import urlsplit

        from ..delivery.hosts import check_host
        from ..delivery.s3 import loopback

        if value is None or not value.strip():
            if "region" in info.data and info.data["region"] is None:  # (a bad one is said)
                raise ValueError("give an endpoint (an S3-compatible server), or a region "
                                 "for AWS")
            return None
        value = _no_control(value.strip(), "the endpoint")
        try:
            url = urlsplit(value)
            url.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"an https URL such as https://minio.example.com:9000; not "
                             f"{value[:60]!r}")
        if url.username or url.password or url.query or url.fragment or \
                url.path not in ("", "/"):
            raise ValueError("only scheme, host and port (no user, path or query: the bucket "
                             "and the credentials have their own fields)")
        check_host(url.hostname)  # a name or an address; never the metadata service's
        if url.scheme == "http" and not loopback(url.hostname):
            raise ValueError("must be https (plain http is allowed only to this machine: "
                             "localhost, 127.0.0.1, ::1)")
        return f"{url.scheme}://{url.netloc}"



def _destination_kind(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("type") or "sftp"  # SFTP JSON from before kinds has no type
    return getattr(value, "type", "sftp")


# A destination of any kind, told by its "type" (SPEC 7); one model per kind in
# ``DESTINATION_MODELS``, each delivered by its module in delivery/ (``delivery.kinds``).
DestinationConfig = Annotated[
    Annotated[SftpDestinationConfig, Tag("sftp")] | Annotated[S3DestinationConfig, Tag("s3")],
    Discriminator(_destination_kind)]
DESTINATION_MODELS: dict[str, type[BaseModel]] = {"sftp": SftpDestinationConfig,
                                                  "s3": S3DestinationConfig}


def parse_destination(data) -> SftpDestinationConfig | S3DestinationConfig:
    """A destination from a dict or JSON text, by its ``type`` (``sftp`` when absent); shape
    errors name the fields as the kind's form shows them."""
    import json

    if isinstance(data, tuple(DESTINATION_MODELS.values())):
        return data
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidExport.listing([Problem("", f"not valid JSON ({exc})")],
                                        "invalid destination") from None
    if not isinstance(data, dict):
        raise InvalidExport.listing([Problem("", "a JSON object is expected")],
                                    "invalid destination")
    kind = _destination_kind(data)
    model = DESTINATION_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidExport.listing([Problem("type", f"one of {', '.join(DESTINATION_MODELS)}, "
                                                     f"not {str(kind)[:40]!r}")],
                                    "invalid destination")
    return parse_model(model, data, "destination")


class EncryptionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    type: Literal["pgp"] = "pgp"
    keys: list[str] = Field(min_length=1, max_length=20)

