"""JupyterHub's configuration for a team on one workbench (``workbench hub`` starts the hub
with it; docs/team.md). What varies comes from the JSON file $WORKBENCH_HUB_SETTINGS that
``workbench hub`` writes; a deployment adds its own (OAuth, LDAP, TLS) in the file its
``--config`` names, loaded last.
"""
# ruff: noqa: F821 - ``get_config`` and ``c`` are JupyterHub's
import json
import os
from pathlib import Path

c = get_config()
s = json.loads(Path(os.environ["WORKBENCH_HUB_SETTINGS"]).read_text())
venv, state = s["venv"], s["state"]
scheme = "https" if s.get("ssl_cert") else "http"

c.JupyterHub.bind_url = f"{scheme}://{s['ip']}:{s['port']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = s["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [f"{venv}/bin/configurable-http-proxy"]
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
if s.get("ssl_cert"):
    c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = s["ssl_cert"], s["ssl_key"]

# People: local accounts through PAM (each is an OS user, whose server runs as them); only
# those the home's [users] names sign in. Roles become hub groups, which the service also reads.
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(s["users"])
c.JupyterHub.load_groups = {group: {"users": [n for n, r in s["users"].items() if r == role]}
                            for group, role in s["groups"].items()}

# Each person's server: JupyterLab for analysts, the dashboards for viewers, both as the
# person, with the service's address (never its files: the home is the service account's).
service_url = f"http://127.0.0.1:{s['service_port']}/services/workbench/"
c.Spawner.cmd = [f"{venv}/bin/jupyterhub-singleuser"]
c.Spawner.environment = {"WORKBENCH_URL": service_url, **s["environment"]}
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120


def _landing(spawner):
    """Analysts and admins land in JupyterLab, viewers on the dashboard; everyone's server has
    ``dashboards/`` (the installed ones) so that a dashboard link reads the same for all."""
    import pwd

    account = pwd.getpwnam(spawner.user.name)
    link = Path(account.pw_dir) / "dashboards"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(s["dashboards"])
        os.lchown(link, account.pw_uid, account.pw_gid)
    spawner.notebook_dir = account.pw_dir
    role = s["users"].get(spawner.user.name, "viewer")
    spawner.default_url = "/lab" if role in ("analyst", "admin") else \
        "/voila/render/dashboards/audiences.ipynb"


c.Spawner.pre_spawn_hook = _landing

c.JupyterHub.services = [{
    "name": "workbench", "url": f"http://127.0.0.1:{s['service_port']}",
    "command": [f"{venv}/bin/python", "-m", "workbench.service", "--home", s["home"]],
    "user": s["account"], "cwd": s["home"], "oauth_no_confirm": True, "display": True,
    "environment": {"WORKBENCH_HOME": s["home"], **s["environment"]},
}, *s.get("extra_services", [])]

# Who may call the service: every user's own browser session and tokens, and the token of
# each of their servers (the kernels' JUPYTERHUB_API_TOKEN). Hub groups are readable by the
# service for roles.
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", "access:services!service=workbench"]},
    {"name": "server", "scopes": ["users:activity!user", "access:servers!server",
                                  "access:services!service=workbench"]},
    {"name": "workbench-service", "services": ["workbench"],
     "scopes": ["read:users", "read:groups"]},
    *s.get("extra_roles", []),
]

if s.get("config"):
    load_subconfig(s["config"])
