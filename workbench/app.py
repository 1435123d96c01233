"""``Workbench``: an opened home with its settings, current user and services.

The one place where adapters (metadata store, query engine) are built. They are created on
first use, so that ``workbench audience list`` never pays for DuckDB and a notebook that only
reads the store never opens a query engine.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from .audit import checked_via
from .clock import Clock, as_clock
from .days import Calendar, Dated
from .home import Home, open_home
from .settings import Role, Settings, load_settings
from .users import User, resolve_user

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from .audiences.catalog import Catalog
    from .audiences.service import Audiences
    from .audit import AuditTrail
    from .customers.service import CustomerData
    from .customers.snapshot import Snapshots
    from .exports.destinations import Destinations, Encryptions
    from .exports.notices import Notices
    from .exports.runs import ExportRuns
    from .exports.service import Exports
    from .memberships import Memberships
    from .processing.run import Processing
    from .query.engine import Engine
    from .store import Store


# What a workbench made for another user (``as_user``) shares with the one it came from.
_SHARED = frozenset({"home", "settings", "clock", "calendar", "store", "engine", "duck",
                     "snapshots", "memberships"})


class Workbench(Dated):
    def __init__(self, home: str | os.PathLike | None = None, *, user: str | None = None,
                 clock: Clock | datetime | str | None = None, via: str = "python",
                 role: str | None = None):
        """``clock``: where every service reads the time: a ``Clock``, or an instant (ISO text
        or an aware datetime) it stands at; default the system's, or the instant
        ``WORKBENCH_NOW`` pins (``workbench/clock.py``). ``via``: the entry point the audit
        trail says changes came through (``audit.VIAS``: python, cli, page, api, scheduler).
        ``role``: the user's role as the caller already decided it, instead of workbench.toml's
        (a run's notebook acts with the role of whoever started the run; in team mode the
        service decided it from the hub)."""
        self.via: str = checked_via(via)
        self.home: Home = open_home(home)
        self.settings: Settings = load_settings(self.home.root)
        self.user: User = resolve_user(self.settings, user)
        if role is not None:
            self.user = User(self.user.name, Role(role))
        self.clock: Clock = as_clock(clock)
        self.calendar = Calendar(self.settings.zone, self.clock)

    # -- adapters -------------------------------------------------------------------------------

    @cached_property
    def store(self) -> Store:
        from .store import open_store

        return open_store(self.home.store_url(self.settings), clock=self.clock)

    @cached_property
    def engine(self) -> Engine:
        """The query engine ``[engine] kind`` names (DuckDB by default); it starts on the
        first query."""
        from .query.engine import open_engine

        return open_engine(self.home, self.settings)

    @cached_property
    def duck(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection in this process on this home's files, for analysts' own queries:
        the DuckDB engine's own (the tables it materialized are there), or one beside Spark."""
        from .query.duckdb import DuckDBEngine, connect

        if isinstance(self.engine, DuckDBEngine):
            return self.engine.conn
        return connect(self.home, self.settings)

    @cached_property
    def snapshots(self) -> Snapshots:
        from .customers.snapshot import Snapshots
        from .store.customers import CustomerDataRecords

        return Snapshots(self.home, CustomerDataRecords(self.store))

    @cached_property
    def memberships(self) -> Memberships:
        from .memberships import Memberships

        return Memberships(self.home, self.engine)

    # -- services -------------------------------------------------------------------------------

    @cached_property
    def audit_trail(self) -> AuditTrail:
        """Where the services record each change, as this user through ``via``."""
        from .audit import AuditTrail
        from .store.audit import AuditRecords

        return AuditTrail(AuditRecords(self.store), user=self.user.name, via=self.via,
                          now=self.calendar.now)

    @cached_property
    def customers(self) -> CustomerData:
        from .customers.service import CustomerData
        from .store.customers import CustomerDataRecords

        # Checked on the audiences side, which knows their rules; wired here, so that customer
        # data does not depend on audiences.
        return CustomerData(self.home, self.user, self.settings, self.snapshots,
                            CustomerDataRecords(self.store), self.calendar,
                            lambda stored, changes: self.audiences.refuse_type_changes(
                                stored, changes), audit=self.audit_trail)

    @cached_property
    def audiences(self) -> Audiences:
        from .audiences.service import Audiences
        from .store.audiences import AudienceRecords
        from .store.exports import ExportRecords
        from .store.processing import ProcessingRecords

        return Audiences(records=AudienceRecords(self.store),
                         history=ProcessingRecords(self.store), user=self.user,
                         calendar=self.calendar, snapshots=self.snapshots, engine=self.engine,
                         memberships=self.memberships,
                         exported_by=lambda audience_id: ExportRecords(self.store).using(
                             "audience_id", audience_id), audit=self.audit_trail,
                         activated=lambda audience_id: self.start_backfill(audience_id),
                         kept=self._kept())

    def _kept(self):
        """Tables kept between estimates: in a kernel of one person's (the Python API, a
        dashboard page) on DuckDB; not for one-off commands, nor a service's requests (each
        its own services), nor Spark (each estimate is a job on the cluster anyway)."""
        if self.via not in ("python", "page") or self.__dict__.get("_borrowed") \
                or self.settings.engine.kind != "duckdb":
            return None
        from .audiences.kept import Kept

        return Kept(self.engine)

    @cached_property
    def processing(self) -> Processing:
        from .processing.run import Processing
        from .store.audiences import AudienceRecords
        from .store.processing import ProcessingRecords

        return Processing(home=self.home, settings=self.settings, user=self.user,
                          calendar=self.calendar, records=ProcessingRecords(self.store),
                          audiences=AudienceRecords(self.store), snapshots=self.snapshots,
                          engine=self.engine, memberships=self.memberships,
                          audit=self.audit_trail)

    @cached_property
    def destinations(self) -> Destinations:
        from .exports.destinations import Destinations
        from .secrets import SecretBox
        from .store.exports import DestinationRecords, ExportRecords

        return Destinations(records=DestinationRecords(self.store),
                            exports=ExportRecords(self.store), user=self.user,
                            box=lambda: SecretBox.for_home(self.home.secret_key_file),
                            audit=self.audit_trail)

    @cached_property
    def encryptions(self) -> Encryptions:
        from .exports.destinations import Encryptions
        from .store.exports import EncryptionRecords, ExportRecords

        return Encryptions(records=EncryptionRecords(self.store), user=self.user,
                           today=self.calendar.today, exports=ExportRecords(self.store),
                           audit=self.audit_trail)

    @cached_property
    def notices(self) -> Notices:
        """Webhook and Slack notice targets (their URLs and secrets sealed, write-only)."""
        from .exports.notices import Notices
        from .secrets import SecretBox
        from .store.exports import ExportRecords
        from .store.notices import NoticeRecords

        return Notices(records=NoticeRecords(self.store), exports=ExportRecords(self.store),
                       user=self.user, box=lambda: SecretBox.for_home(self.home.secret_key_file),
                       audit=self.audit_trail, now=self.calendar.now)

    @cached_property
    def exports(self) -> Exports:
        from .exports.service import Exports
        from .store.audiences import AudienceRecords
        from .store.exports import DestinationRecords, EncryptionRecords, ExportRecords
        from .store.notices import NoticeRecords
        from .store.processing import ProcessingRecords

        return Exports(records=ExportRecords(self.store), audiences=AudienceRecords(self.store),
                       destinations=DestinationRecords(self.store),
                       encryptions=EncryptionRecords(self.store), user=self.user,
                       snapshots=self.snapshots,
                       now=self.calendar.now, zone=self.calendar.zone,
                       engine=self.engine,
                       memberships=self.memberships, history=ProcessingRecords(self.store),
                       audit=self.audit_trail, notices=NoticeRecords(self.store))

    @cached_property
    def export_runs(self) -> ExportRuns:
        from .exports.runs import ExportRuns
        from .store.runs import RunRecords

        return ExportRuns(records=RunRecords(self.store), exports=self.exports,
                          destinations=self.destinations, encryptions=self.encryptions,
                          home=self.home, user=self.user,
                          now=self.calendar.now,
                          smtp=self.settings.smtp, audit=self.audit_trail,
                          notices=self.notices)

    # -- conveniences for analysts -----------------------------------------------------------

    def audit(self, audience: int | None = None, export: int | None = None,
              since: date | str | None = None, limit: int = 200) -> pd.DataFrame:
        """The audit trail, newest first: every change, who, when, through what (a DataFrame;
        ``audience``: its changes and its exports'; ``since``: a day, YYYY-MM-DD)."""
        from .days import parse_day

        return self.audit_trail.frame(
            audience=audience, export=export, limit=limit,
            since=parse_day(since) if isinstance(since, str) else since)

    def snapshot(self):
        """``with wb.snapshot() as s:`` pins one version of every kind of customer data."""
        return self.snapshots.pin()

    def catalog(self) -> Catalog:
        """The attribute catalog over the current data."""
        return self.audiences.catalog()

    def features(self, as_of=None):
        """The point-in-time customer feature table as of ``as_of``, every attribute, from one
        snapshot, kept by the engine as a temporary table: a DuckDB relation (``.df()`` for
        pandas), or a Spark DataFrame on Spark (``.toPandas()``)."""
        from sqlglot import exp

        from .customers.features import Day, everything, features_query

        day = self.calendar.day(as_of)
        name = f"features_{day:%Y%m%d}"
        with self.snapshots.pin() as snapshot:
            tables = snapshot.tables()
            query = features_query(tables, Day(day, self.calendar.zone), everything(tables))
            self.engine.materialize(name, query.order_by(exp.column("customer_id")))
        return self.engine.relation(name)

    def run_export(self, run_id: int):
        """Execute a created export run now, through papermill (its notebook is the audit
        record); returns the run as it ended."""
        from .exports.notebook import run_export

        return run_export(self, run_id)

    def run_processing(self, first: date, last: date) -> dict:
        """Process the days ``first`` to ``last`` through papermill; returns the run."""
        from .processing.notebook import run_processing

        return run_processing(self, first, last)

    def start_backfill(self, audience_id: int) -> str | None:
        """Start the backfill of an activated audience's history in a process of its own
        (``backfill_days``; processing/backfill.py); the log it writes, or None if off."""
        from .processing.backfill import start

        return start(self, audience_id)

    def reopen(self) -> Workbench:
        """The same home opened afresh, as the same user name: its role read again (a
        preheated dashboard kernel asks when its visitor arrives)."""
        return Workbench(self.home.root, user=self.user.name, clock=self.clock)

    def as_user(self, user: User, via: str) -> Workbench:
        """This workbench acting for ``user`` through ``via``: services of its own, adapters
        (store, engine, files) shared with this one, which keeps them open (the workbench
        service answers each request so, for the user the hub vouched for)."""
        for adapter in ("store", "snapshots", "memberships"):  # opened here, closed here
            getattr(self, adapter)
        other = object.__new__(Workbench)
        other.__dict__.update({key: value for key, value in self.__dict__.items()
                               if key in _SHARED})
        other.user, other.via, other._borrowed = user, via, True
        return other

    def close(self) -> None:
        if self.__dict__.get("_borrowed"):
            return  # the adapters belong to the workbench it was made from
        if "duck" in self.__dict__:
            self.duck.close()
        if "engine" in self.__dict__:
            self.engine.close()
        if "store" in self.__dict__:
            self.store.dispose()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workbench(home={str(self.home.root)!r}, user={self.user.name!r}, " \
               f"role={self.user.role.value!r}, via={self.via!r})"
