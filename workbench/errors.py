"""Every error the workbench raises on purpose.

One root, so the CLI, the widgets and the notebooks catch ``WorkbenchError`` once and show its
message. Vendor exceptions (DuckDB, SQLAlchemy, paramiko, gnupg) are translated at the adapter
edge with ``raise ... from exc``; they never reach a user as a traceback.

    WorkbenchError                      exit 1: the operation failed
    ├── InvalidInput                    exit 2: bad usage or invalid input (file, JSON, option)
    │   ├── HomeNotFound                no home given, or the folder is not a workbench home
    │   ├── SettingsError               workbench.toml is unreadable or holds an invalid value
    │   └── IngestError                 a customer data file cannot be ingested as a whole
    ├── NotFound                        no such audience, export, destination, ... (exit 2)
    ├── PermissionDenied                the current user's role does not allow the operation
    ├── Conflict                        the object changed since it was read (stale version),
    │   │                               or is frozen (an active audience)
    │   └── Stale                       an export's members are older than its
    │                                   max_staleness_days allows (run processing first)
    ├── Busy                            another process holds what is needed (a lock timed
    │                                   out); trying again later can succeed
    ├── RejectedRows                    --strict ingest with rejected rows (exit 1; data kept)
    ├── DeliveryError                   talking to a destination or GnuPG failed (exit 1)
    │   ├── SftpError                   SFTP: resolution, connection, host key, login, path
    │   └── PgpError                    GnuPG: a key or an encryption
    └── StoreError                      the metadata store failed
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Root of the tree. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(WorkbenchError):
    exit_code = 2


class InvalidKeys(InvalidInput):
    """Public keys an encryption cannot use: ``problems`` holds one ``key N: reason`` each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class HomeNotFound(InvalidInput):
    pass


class SettingsError(InvalidInput):
    pass


class IngestError(InvalidInput):
    pass


class NotFound(WorkbenchError):
    exit_code = 2


class PermissionDenied(WorkbenchError):
    pass


class Conflict(WorkbenchError):
    pass


class Stale(Conflict):
    pass


class Busy(WorkbenchError):
    pass


class RejectedRows(WorkbenchError):
    pass


class StoreError(WorkbenchError):
    pass


class DeliveryError(WorkbenchError):
    pass


class SftpError(DeliveryError):
    """``reason``: a short machine-readable kind (resolution, refused, timeout, host_key,
    authentication, missing_path, not_writable, protocol), beside the message."""

    def __init__(self, message: str, reason: str = "protocol"):
        super().__init__(message)
        self.reason = reason


class PgpError(DeliveryError):
    pass
