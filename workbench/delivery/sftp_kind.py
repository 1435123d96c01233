"""The SFTP destination kind (``kinds``): the rename is the commit point (``upload.py``), the
connection test logs in with the pinned host key and writes a probe (``sftp.py``)."""

from __future__ import annotations

from .sftp import SftpTarget, test_destination
from .upload import sftp_delivered as delivered
from .upload import sftp_sweep as sweep
from .upload import sftp_upload as upload

KIND, LABEL = "sftp", "SFTP"
__all__ = ["KIND", "LABEL", "SftpTarget", "delivered", "sweep", "test", "upload"]


def test(target: SftpTarget) -> list[str]:
    return test_destination(target)


test.__test__ = False  # not a pytest test, despite its name
