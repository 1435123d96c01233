"""workbench hub: a team on one machine, signed in through JupyterHub (docs/team.md)"""

from __future__ import annotations

from pathlib import Path

from . import Commands


def register(commands: Commands) -> None:
    hub = commands.add("hub", cmd_hub, "start JupyterHub and the workbench service for a team "
                       "(as root, from a team install; docs/team.md)")
    hub.add_argument("--ip", default="127.0.0.1",
                     help="address people reach the hub on (default 127.0.0.1; a public one "
                          "needs --ssl-cert and --ssl-key)")
    hub.add_argument("--port", type=int, default=8000,
                     help="the hub's port (default 8000; the next three are used inside)")
    hub.add_argument("--account", default="workbench",
                     help="the service's OS account, made when missing (default workbench)")
    hub.add_argument("--state", default=None, metavar="DIR",
                     help="the hub's own files (default /var/lib/audience-workbench-hub)")
    hub.add_argument("--ssl-cert", default=None, metavar="FILE")
    hub.add_argument("--ssl-key", default=None, metavar="FILE")
    hub.add_argument("--config", default=None, metavar="FILE",
                     help="more JupyterHub configuration, loaded last (OAuth, LDAP)")


def cmd_hub(args) -> int:
    from ..app import Workbench
    from ..errors import InvalidInput
    from ..service import hub

    if not 1 <= args.port <= 65532:
        raise InvalidInput(f"--port must be 1-65532, not {args.port}")
    if bool(args.ssl_cert) != bool(args.ssl_key):
        raise InvalidInput("--ssl-cert and --ssl-key go together")
    if args.ip not in ("127.0.0.1", "localhost", "::1") and not args.ssl_cert:
        raise InvalidInput(f"--ip {args.ip}: passwords would cross the network in clear; "
                           "give --ssl-cert and --ssl-key (or put a TLS proxy in front and "
                           "keep 127.0.0.1)")
    if args.user or args.url:
        raise InvalidInput("workbench hub takes no --user or --url: it starts the service")
    wb = Workbench(args.home)
    home, settings = wb.home, wb.settings
    hub.check_before(settings, args.account, ports=list(range(args.port, args.port + 4)),
                     files=[f for f in (args.config, args.ssl_cert, args.ssl_key) if f])
    account = hub.service_account(args.account, home.root)
    hub.check(home, settings, account)
    hub.hand_over(home, account)
    hub.offline_dashboards()
    state = Path(args.state) if args.state else hub.STATE
    ssl = (str(Path(args.ssl_cert).resolve()), str(Path(args.ssl_key).resolve())) \
        if args.ssl_cert else None
    values = hub.hub_settings(home, settings, account.pw_name, ip=args.ip, port=args.port,
                              state=state.resolve(), ssl=ssl,
                              config=str(Path(args.config).resolve()) if args.config else None)
    scheme = "https" if ssl else "http"
    print(f"workbench hub: {home.root} is served by the account {account.pw_name}; sign in "
          f"at {scheme}://{args.ip}:{args.port}/ (Ctrl-C stops the hub, the service and "
          "everyone's servers)", flush=True)
    hub.start(hub.write_settings(state, values), state)
    return 0
