"""Secrets at rest (SFTP passwords, private keys): Fernet with the home's key.

The key is ``$WORKBENCH_SECRET_KEY`` when set (for deployments that keep keys in a vault), else
the home's ``secret.key`` written by ``init`` with mode 0600. Decrypted values come back as
``Secret`` so that they do not show in a repr, a log line or a notebook.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SettingsError
from .settings import Secret


class SecretBox:
    def __init__(self, key: bytes):
        from cryptography.fernet import Fernet

        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise SettingsError("the secret key is not a valid Fernet key (32 url-safe "
                                "base64-encoded bytes); check $WORKBENCH_SECRET_KEY or "
                                "secret.key") from None

    @classmethod
    def for_home(cls, key_file: Path) -> SecretBox:
        from_env = os.environ.get("WORKBENCH_SECRET_KEY")
        if from_env:
            return cls(from_env.strip().encode())
        try:
            return cls(key_file.read_bytes().strip())
        except FileNotFoundError:
            raise SettingsError(f"{key_file} is missing; set $WORKBENCH_SECRET_KEY or run "
                                "`workbench init` on this home") from None

    def seal(self, value: str | Secret) -> str:
        plain = value.reveal() if isinstance(value, Secret) else value
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, token: str) -> Secret:
        from cryptography.fernet import InvalidToken

        try:
            return Secret(self._fernet.decrypt(token.encode()).decode())
        except InvalidToken:
            raise SettingsError("a stored secret cannot be decrypted with this key (was the "
                                "secret key changed?)") from None

    def __repr__(self) -> str:
        return "SecretBox(key=********)"
