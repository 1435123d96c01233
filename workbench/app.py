"""``Workbench``: an opened home with its settings, current user and services.

The one place where adapters (metadata store, DuckDB connection) are built. They are created on
first use, so that ``workbench audience list`` never pays for DuckDB and a notebook that only
reads the store never opens a query engine.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from .errors import InvalidInput
from .home import Home, open_home
from .settings import Settings, load_settings
from .users import User, resolve_user

if TYPE_CHECKING:
    import duckdb

    from .audiences.catalog import Catalog
    from .audiences.service import Audiences
    from .customers.service import CustomerData
    from .processing.features import FeatureTables
    from .processing.run import Processing
    from .store import Store


class Workbench:
    def __init__(self, home: str | os.PathLike | None = None, *, user: str | None = None):
        self.home: Home = open_home(home)
        self.settings: Settings = load_settings(self.home.root)
        self.user: User = resolve_user(self.settings, user)
        self._catalog: tuple[tuple, Catalog] | None = None  # (data version, catalog)

    @cached_property
    def store(self) -> Store:
        from .store import open_store

        return open_store(self.home, self.settings.store_url or None)

    @cached_property
    def duck(self) -> duckdb.DuckDBPyConnection:
        from .customers.engine import connect

        return connect(self.home, self.settings)

    @cached_property
    def customers(self) -> CustomerData:
        from .customers.service import CustomerData

        return CustomerData(self)

    @cached_property
    def feature_tables(self) -> FeatureTables:
        from .processing.features import FeatureTables

        return FeatureTables(self.duck, self.home)

    @cached_property
    def audiences(self) -> Audiences:
        from .audiences.service import Audiences

        return Audiences(self)

    @cached_property
    def processing(self) -> Processing:
        from .processing.run import Processing

        return Processing(self)

    def catalog(self) -> Catalog:
        """The attribute catalog, rebuilt when customer data changes."""
        from .audiences.discovery import load_catalog

        version = self.feature_tables.data_version()
        if self._catalog is None or self._catalog[0] != version:
            self._catalog = (version, load_catalog(self))
        return self._catalog[1]

    def today(self) -> date:
        """Today in the workbench timezone (never the machine's)."""
        return datetime.now(self.settings.zone).date()

    def yesterday(self) -> date:
        """The default day of processing and estimates."""
        return self.today() - timedelta(days=1)

    def day(self, value: date | str | None = None) -> date:
        """A day given as a date or YYYY-MM-DD; None is yesterday (the processing default)."""
        if value is None:
            return self.yesterday()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"as-of day {value!r} is not a date YYYY-MM-DD") from None

    def features(self, as_of) -> duckdb.DuckDBPyRelation:
        """The point-in-time customer feature table as of ``as_of`` (``.df()`` for pandas)."""
        return self.feature_tables.relation(as_of)

    def close(self) -> None:
        if "duck" in self.__dict__:
            self.duck.close()
        if "store" in self.__dict__:
            self.store.dispose()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workbench(home={str(self.home.root)!r}, user={self.user.name!r}, " \
               f"role={self.user.role.value!r})"
