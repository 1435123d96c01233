"""The workbench home: one folder per deployment (SPEC 2), and ``workbench init``.

    HOME/
      workbench.toml          settings (settings.py)
      workbench.db            metadata store, SQLite in WAL mode (store/)
      secret.key              key that encrypts secrets at rest, mode 0600
      data/customers/         ingested customer data, one Parquet file per kind
      data/rejects/           rows that failed ingest, with the reason per row
      data/results/           processing results (memberships per day)
      runs/                   executed notebooks: the audit record of every run
      tmp/                    DuckDB spill space for queries larger than memory
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import HomeNotFound, InvalidInput
from .files import make_private, private_folder
from .settings import SETTINGS_FILE, SETTINGS_TEMPLATE, load_settings

if TYPE_CHECKING:
    from .settings import Settings

SECRET_KEY_FILE = "secret.key"
STORE_FILE = "workbench.db"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def store_file(self) -> Path:
        return self.root / STORE_FILE

    def store_url(self, settings: Settings | None = None) -> str:
        """The metadata store: ``store_url`` in the settings (read from workbench.toml when not
        given), else workbench.db here."""
        settings = settings or load_settings(self.root)
        return settings.store_url or f"sqlite:///{self.store_file}"

    @property
    def secret_key_file(self) -> Path:
        return self.root / SECRET_KEY_FILE

    @property
    def customers_dir(self) -> Path:
        return self.root / "data" / "customers"

    @property
    def rejects_dir(self) -> Path:
        return self.root / "data" / "rejects"

    @property
    def results_dir(self) -> Path:
        return self.root / "data" / "results"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def folders(self) -> list[Path]:
        return [self.customers_dir, self.rejects_dir, self.results_dir, self.runs_dir,
                self.tmp_dir]


def resolve_home(explicit: str | os.PathLike | None = None) -> Path:
    """``--home`` wins, then ``$WORKBENCH_HOME``; there is no silent default location."""
    value = explicit or os.environ.get("WORKBENCH_HOME")
    if not value:
        raise HomeNotFound("no workbench home: pass --home DIR or set WORKBENCH_HOME")
    return Path(value).expanduser().absolute()


def open_home(explicit: str | os.PathLike | None = None) -> Home:
    root = resolve_home(explicit)
    if not (root / SETTINGS_FILE).is_file():
        raise HomeNotFound(f"{root} is not a workbench home (no {SETTINGS_FILE}); "
                           f"create it with `workbench init --home {root}`")
    return Home(root)


def init_home(root: Path, *, admin: str, timezone: str = "UTC") -> tuple[Home, list[str]]:
    """Create what is missing and return the home and what was created (empty: nothing changed).

    Never overwrites: an existing settings file, key or store is left exactly as it is, so
    re-running init on a live deployment is safe.
    """
    from .clock import Clock
    from .store import open_store

    Clock()  # a bad WORKBENCH_NOW refuses before anything is written
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"{root} exists and is not a folder")
    home = Home(root)
    created: list[str] = []
    root.mkdir(parents=True, exist_ok=True)
    if not home.settings_file.exists():
        users = f"{json.dumps(admin)} = \"admin\""
        home.settings_file.write_text(SETTINGS_TEMPLATE.format(timezone=timezone, users=users),
                                      encoding="utf-8")
        created.append(SETTINGS_FILE)
    if not home.secret_key_file.exists():
        _write_secret_key(home.secret_key_file)
        created.append(SECRET_KEY_FILE)
    for folder in home.folders():
        if not folder.exists():
            created.append(str(folder.relative_to(root)) + "/")
        # Customer data, rejects and run records: the owner's only, whatever the umask (also
        # tightens a home made before this rule).
        private_folder(folder)
    private_folder(root / "data")
    store_existed = home.store_file.exists()
    store = open_store(home.store_url())  # creates and migrates the schema
    store.dispose()
    if not store_existed and home.store_file.exists():
        created.append(STORE_FILE)
        make_private(home.store_file)
    return home, created


def _write_secret_key(path: Path) -> None:
    from cryptography.fernet import Fernet

    # O_EXCL + mode at creation: the key is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")
