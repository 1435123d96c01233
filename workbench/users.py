"""Who is acting, and what their role lets them do (SPEC 8).

Services receive a ``User`` and call ``user.require(action)`` before they change anything; the
UI asks ``user.can(action)`` only to hide what the service would refuse anyway.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from .errors import PermissionDenied
from .settings import Role, Settings

_RANK = {Role.viewer: 0, Role.analyst: 1, Role.admin: 2}

# The least role each action needs. Reading is open to every role (secrets are never readable).
PERMISSIONS: dict[str, Role] = {
    "data.ingest": Role.analyst,
    "audience.edit": Role.analyst,
    "audience.activate": Role.analyst,
    "audience.archive": Role.analyst,
    "processing.run": Role.analyst,
    "export.edit": Role.analyst,
    "export.run": Role.analyst,
    "export.activate": Role.analyst,
    "export.pause": Role.analyst,
    "export.cancel": Role.admin,
    "destination.edit": Role.admin,
    "encryption.edit": Role.admin,
    "notice.edit": Role.admin,  # webhook / Slack targets: sealed URLs, like destinations
}


@dataclass(frozen=True)
class User:
    name: str
    role: Role

    def can(self, action: str) -> bool:
        return _RANK[self.role] >= _RANK[PERMISSIONS[action]]

    def require(self, action: str) -> None:
        if not self.can(action):
            needed = PERMISSIONS[action].value
            article = "an" if self.role.value[0] in "aeiou" else "a"
            raise PermissionDenied(
                f"{self.name} is {article} {self.role.value}; {action} needs the {needed} role "
                f"(set it under [users] in workbench.toml)")


def current_user_name(explicit: str | None = None) -> str:
    """``--user``, then $WORKBENCH_USER, $JUPYTERHUB_USER, then the OS login."""
    for candidate in (explicit, os.environ.get("WORKBENCH_USER"),
                      os.environ.get("JUPYTERHUB_USER")):
        if candidate:
            return candidate
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return f"uid-{os.getuid()}"


def resolve_user(settings: Settings, explicit: str | None = None) -> User:
    name = current_user_name(explicit)
    return User(name, settings.users.get(name, Role.viewer))


# Hub groups that give a role in team mode (docs/team.md), for deployments whose people and
# groups come from an identity provider (OAuth, LDAP) rather than from workbench.toml.
HUB_GROUPS: dict[str, Role] = {"workbench-admins": Role.admin,
                               "workbench-analysts": Role.analyst,
                               "workbench-viewers": Role.viewer}


def hub_user(settings: Settings, name: str, groups: list[str]) -> User:
    """The user the hub vouched for, with the highest role that the service's own settings or
    the user's hub groups give (a viewer when neither names them). Only the workbench service
    calls this: nothing a client sends grants a role."""
    roles = [settings.users.get(name, Role.viewer)]
    roles += [HUB_GROUPS[group] for group in groups if group in HUB_GROUPS]
    return User(name, max(roles, key=_RANK.__getitem__))
