"""``python -m workbench.service --home HOME``: the workbench service, as JupyterHub starts it
(``workbench hub``).

This process only keeps the service running: it starts the server (``--serve``) as its child
and starts it again a second after it dies of anything but a stop (JupyterHub itself looks at
a managed service only every 30 s). Clients retry meanwhile; their changes carry idempotency
keys, so none is lost or made twice. SIGINT and SIGTERM stop both.
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time

parser = argparse.ArgumentParser(prog="python -m workbench.service")
parser.add_argument("--home", default=None, help="the home it owns (else $WORKBENCH_HOME)")
parser.add_argument("--serve", action="store_true", help="be the server (what the keeper runs)")
options = parser.parse_args()

if options.serve:
    from ..notebooks import die_with_parent
    from .server import main

    die_with_parent(int(os.environ["WORKBENCH_KEEPER"]))
    main(options.home)
    sys.exit(0)

logging.basicConfig(level=logging.INFO, format="[workbench keeper %(asctime)s] %(message)s")
command = [sys.executable, "-m", "workbench.service", "--serve"] + (
    ["--home", options.home] if options.home else [])
stopping = False
quick = 0  # ends in a row within 10 s of starting
child: subprocess.Popen | None = None


def stop(signum, _frame):
    global stopping
    stopping = True
    if child is not None and child.poll() is None:
        child.send_signal(signum)


for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, stop)
while not stopping:
    started = time.monotonic()
    child = subprocess.Popen(command, env={**os.environ, "WORKBENCH_KEEPER": str(os.getpid())})
    code = child.wait()
    if stopping or code == 0:
        break
    quick = quick + 1 if time.monotonic() - started < 10 else 0
    if quick >= 5:  # it cannot start (its port taken, its home gone): say so and stop
        logging.error("the service ended with %s five times in a row; giving up", code)
        sys.exit(1)
    logging.warning("the service ended with %s; starting it again", code)
    time.sleep(1)
sys.exit(0)
