"""workbench serve [--port P]"""

from __future__ import annotations

from . import Commands, open_workbench


def register(commands: Commands) -> None:
    commands.add("serve", cmd_serve, "serve the Voilà dashboards on 127.0.0.1 (a token in each "
                 "printed URL); Ctrl-C stops them") \
        .add_argument("--port", type=int, default=8866, help="port (default 8866)")


def cmd_serve(args) -> int:
    from ..errors import InvalidInput
    from ..serve import serve

    if not 1 <= args.port <= 65535:
        raise InvalidInput(f"--port must be 1-65535, not {args.port}")
    with open_workbench(args) as wb:
        home, user, settings = wb.home, wb.user.name, wb.settings.serve
    try:
        serve(home, user, args.port, settings, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: how a server is meant to stop
        print("workbench: dashboards stopped", flush=True)
    return 0
