"""``python -m workbench.service --home HOME``: the workbench service, as JupyterHub starts it
(``workbench hub``)."""

import argparse

from .server import main

parser = argparse.ArgumentParser(prog="python -m workbench.service")
parser.add_argument("--home", default=None, help="the home it owns (else $WORKBENCH_HOME)")
main(parser.parse_args().home)
