"""workbench.toml plus environment, read once when a home is opened.

The file is written by ``workbench init`` from ``SETTINGS_TEMPLATE`` so that it carries comments a
person can follow; it is parsed with tomllib and validated with pydantic, and every problem is
reported as a ``SettingsError`` naming the key and what is allowed.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import SettingsError

SETTINGS_FILE = "workbench.toml"
MAX_BACKFILL_DAYS = 3660  # ten years of history at activation

# TOML reads nan and inf as floats; no setting means either. For float settings (none yet) this
# refuses them; int settings refuse them anyway ("Input should be a finite number").
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class Secret:
    """A value that never shows itself in a repr, a log line or a notebook output."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


class Role(StrEnum):
    viewer = "viewer"
    analyst = "analyst"
    admin = "admin"


class SmtpSettings(BaseModel):
    model_config = STRICT

    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    username: str = ""
    sender: str = Field("workbench@localhost", alias="from")
    starttls: bool = True

    @property
    def password(self) -> Secret:
        # Passwords live in the environment, never in a file that may be committed or shared.
        return Secret(os.environ.get("WORKBENCH_SMTP_PASSWORD", ""))


MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|(spark|k8s|mesos)://\S+|yarn|sc://\S+")


class EngineSettings(BaseModel):
    model_config = STRICT

    memory_limit: str = "4GB"
    # Export files: rows stream out, so DuckDB spills to HOME/tmp beyond this instead of holding
    # them (docs/exports.md); a query that still runs out is redone under memory_limit.
    streaming_memory_limit: str = "300MB"
    threads: int | None = Field(None, ge=1)
    # Which engine runs estimates, members, processing and exports (docs/scale.md): the kinds
    # of the query layer's ENGINES, named here because the settings sit below that layer.
    kind: Literal["duckdb", "spark"] = "duckdb"
    # Spark: local[N], spark://host:7077, yarn, k8s://…, or a Spark Connect server sc://host:15002
    master: str = Field("local[2]", min_length=1)
    # Spark: where the cluster sees this home's folder (a shared filesystem); "" is its own path
    home_url: str = ""
    # Spark: settings for the application, e.g. {"spark.executor.memory" = "4g"}
    spark: dict[str, str] = {}

    @field_validator("master")
    @classmethod
    def _spark_master(cls, value: str) -> str:
        if not MASTER.fullmatch(value.strip()):
            raise ValueError(f"a Spark master: local[N], local[*], spark://HOST:PORT, yarn, "
                             f"k8s://URL, or a Spark Connect server sc://HOST:PORT; not {value!r}")
        return value.strip()

    @field_validator("home_url")
    @classmethod
    def _home_url(cls, value: str) -> str:
        if value and not (value.startswith("/") or re.match(r"[A-Za-z][\w+.-]*://", value)):
            raise ValueError("where the cluster sees this home: an absolute path or a URL such "
                             f"as file:///mnt/wb or hdfs://namenode/wb; not {value!r}")
        return value

    @field_validator("spark")
    @classmethod
    def _spark_settings(cls, value: dict[str, str]) -> dict[str, str]:
        for key, setting in value.items():
            if not key.startswith("spark."):
                raise ValueError(f"Spark settings are named spark.…; not {key!r}")
            if key.endswith(".memory") and not re.fullmatch(r"\d+[kmgt]?b?", setting.lower()):
                raise ValueError(f"{key}: a size such as 1g or 512m; not {setting!r}")
        return value

    @property
    def remote(self) -> bool:
        """A Spark Connect server rather than an application in this process."""
        return self.master.startswith("sc://")


class CompositionSettings(BaseModel):
    model_config = STRICT

    attributes: list[str] = []


HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


class ServeSettings(BaseModel):
    model_config = STRICT

    # Kernels `workbench serve` runs at once (one per open page, and a preheated one); beyond
    # it a visitor gets a "busy, try again in a moment" page.
    max_kernels: int = Field(8, ge=2, le=200)
    # Host names besides 127.0.0.1 and localhost that browsers may use to reach the dashboards
    # (a proxy's name); requests naming any other host are refused (DNS rebinding).
    hostnames: list[str] = []

    @field_validator("hostnames")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not HOSTNAME.fullmatch(name):
                raise ValueError(f"a host name such as dashboards.example.com; not {name!r}")
        return value


class Settings(BaseModel):
    model_config = STRICT

    timezone: str = "UTC"
    # The ISO 4217 code of transaction amounts (spend rules, the monetary composition): how
    # the dashboards show money. Amounts are never converted.
    currency: str = "USD"
    processing_time: time = time(0, 0)
    # Days of history a newly activated audience gets at once (processing/backfill.py); 0: none.
    backfill_days: int = 30

    @field_validator("backfill_days", mode="before")
    @classmethod
    def _days_of_backfill(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value <= MAX_BACKFILL_DAYS:
            raise ValueError(f"a whole number of days from 0 to {MAX_BACKFILL_DAYS} (0: no "
                             f"backfill), not {value!r}")
        return value
    store_url: str = ""
    users: dict[str, Role] = {}
    smtp: SmtpSettings = SmtpSettings()
    engine: EngineSettings = EngineSettings()
    composition: CompositionSettings = CompositionSettings()
    serve: ServeSettings = ServeSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as "
                             "'UTC' or 'Europe/Berlin'") from None
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"a three-letter ISO 4217 code such as 'USD' or 'EUR', not "
                             f"{value[:20]!r}")
        return value

    @field_validator("processing_time", mode="before")
    @classmethod
    def _local_time(cls, value):
        # pydantic also reads a number (seconds since midnight; nan, inf) and "HH:MM+05:00";
        # the setting is a local time in ``timezone``, written as text or a TOML time.
        if isinstance(value, time | str) and not getattr(value, "tzinfo", None):
            return value
        raise ValueError(f'a local time "HH:MM" such as "02:30" (the zone is the timezone '
                         f'setting), not {value!r}')

    @field_validator("processing_time")
    @classmethod
    def _no_zone(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError('a local time "HH:MM" without a zone; the zone is the timezone '
                             "setting")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __repr_args__(self):
        # repr(), str() and notebook outputs of the settings never show the store's password;
        # the field itself keeps the real URL for the store to connect with.
        for name, value in super().__repr_args__():
            yield name, hide_password(value) if name == "store_url" else value


def hide_password(url: str) -> str:
    """A database URL with its password shown as ***, for reprs, logs and messages.

    Not SQLAlchemy's ``render_as_string(hide_password=True)``: it shows the rest of a password
    holding an unescaped '@' ("u:p@ss@db" gives "u:***@ss@db"), and a password passed as a
    query parameter; and importing SQLAlchemy for a repr would be slow."""
    # From the user's colon to the last @: a password may hold an unescaped / or @ too, and
    # hiding a little more than the password is better than showing some of it.
    url = re.sub(r"(://[^:/?#@]*):.*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&;]*", r"\1***", url)


BACKFILL_VARIABLE = "WORKBENCH_BACKFILL_DAYS"


def _whole(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_BACKFILL_DAYS:
        raise SettingsError(f"${BACKFILL_VARIABLE}: a whole number of days from 0 to "
                            f"{MAX_BACKFILL_DAYS}, not {text!r}")
    return int(text)


def load_settings(home: Path) -> Settings:
    path = home / SETTINGS_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path} is missing; run `workbench init --home {home}`") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path} is not UTF-8 text (byte {exc.start + 1} cannot be read)"
                            ) from None
    except OSError as exc:
        raise SettingsError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    if os.environ.get(BACKFILL_VARIABLE, "").strip():
        # For one command or one process (a script activating many audiences; the tests).
        raw["backfill_days"] = _whole(os.environ[BACKFILL_VARIABLE].strip())
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{path}: {key}: {reason}") from None


SETTINGS_TEMPLATE = """\
# Audience Workbench settings. Changes take effect the next time a command or kernel opens the home.

# IANA timezone of this deployment: dates of events, "yesterday" for processing, schedules.
timezone = "{timezone}"
# Currency of transaction amounts (ISO 4217 code, e.g. "EUR"): how the dashboards show money.
currency = "USD"
# Local time of the nightly processing run (HH:MM).
processing_time = "00:00"
# Days of history a newly activated audience gets at once, processed in the background
# (0: none; it then starts with the next nightly run). $WORKBENCH_BACKFILL_DAYS overrides it.
backfill_days = 30
# Metadata store. Empty: SQLite file workbench.db in this home. A server database works by URL,
# e.g. "postgresql+psycopg://user@dbhost/workbench"; keep its password out of this file (use
# the database client's own password file or environment, e.g. PGPASSWORD).
store_url = ""

# Who may do what: viewer (read), analyst (audiences, exports, ingest, processing),
# admin (also destinations, encryptions, cancel). Users not listed are viewers.
[users]
{users}

# Outgoing mail for export notifications. The password is read from $WORKBENCH_SMTP_PASSWORD.
[smtp]
host = ""
port = 587
username = ""
from = "workbench@localhost"
starttls = true

# The query engine: "duckdb" on this machine (the limits below), or "spark" (docs/scale.md).
[engine]
kind = "duckdb"
memory_limit = "4GB"
# Export files spill to HOME/tmp beyond this (redone under memory_limit if DuckDB still runs out).
streaming_memory_limit = "300MB"
# threads = 2
# Spark only: local[2], spark://host:7077, yarn, or Spark Connect sc://host:15002; home_url is
# where the cluster sees this home's folder ("" = this path). More in [engine.spark].
# master = "local[2]"
# home_url = ""

# Extra attributes offered in composition reports, e.g. ["appended.loyalty_tier", "home_state"].
[composition]
attributes = []

# `workbench serve`: kernels at once (one per open page; beyond it a "busy" page), and host
# names besides 127.0.0.1 and localhost that may address it (a reverse proxy's name).
[serve]
max_kernels = 8
hostnames = []
"""
