"""The Voilà server ``workbench serve`` starts (``python -m workbench.voila_app``): Voilà with
three guards it lacks.

- **Host names.** Voilà turns Jupyter's Host-header check off; it is on again here, so a page
  of another site cannot reach the dashboards through a name that resolves to 127.0.0.1 (DNS
  rebinding): the loopback addresses, ``localhost`` and ``[serve] hostnames`` only.
- **A cap on kernels.** Every page rendered holds a kernel (about 230 MB) until it is culled;
  beyond ``[serve] max_kernels`` a visitor gets a plain "busy, try again in a moment" page
  (HTTP 503) instead of another kernel.
- **No token in the log.** Requests are logged the way Jupyter logs them, with the token (and
  any other credential in a query) scrubbed; and the token's value is scrubbed from every line,
  wherever a visitor put it.
"""

from __future__ import annotations

import logging

from traitlets import Int, List, Unicode
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

BUSY = """<!doctype html><html><head><meta charset="utf-8"><title>Busy</title>
<meta http-equiv="refresh" content="20"></head>
<body style="font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;color:#1f2933">
<h2>The dashboards are busy</h2>
<p>This server keeps at most {count} kernels at once (one for each open page, and one ready for
the next visitor), and all are taken. Try again in a moment: this page reloads by itself in 20
seconds.</p></body></html>"""


class CappedVoilaHandler(TornadoVoilaHandler):
    """A page render, unless the server already runs its cap of kernels."""

    async def get(self, path=None):
        cap = self.settings["workbench_max_kernels"]
        count = len(self.kernel_manager.list_kernel_ids())
        if count >= cap:
            self.set_status(503)
            self.set_header("Retry-After", "20")
            self.finish(BUSY.format(count=cap))
            return
        await super().get(path)


class Scrub(logging.Filter):
    """Every log line with the token's value replaced, however it got there."""

    def __init__(self, secret: str):
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "[secret]"), ()
        return True


class WorkbenchVoila(Voila):
    max_kernels = Int(8, help="kernels this server runs at once (one per open page, and the "
                              "preheated one)").tag(config=True)
    hostnames = List(Unicode(), help="host names besides the loopback ones that may address "
                                     "this server").tag(config=True)

    def init_settings(self):
        from jupyter_server.log import log_request

        settings = super().init_settings()
        settings.update(allow_remote_access=False,
                        local_hostnames=["localhost", *self.hostnames],
                        log_function=log_request, workbench_max_kernels=self.max_kernels)
        return settings

    def start(self):
        # Voilà applies ``tornado_settings`` over its own settings at start; ours come last.
        self.tornado_settings = {**self.tornado_settings, "allow_remote_access": False}
        token = getattr(getattr(self, "identity_provider", None), "token", None) or self.token
        if token:
            scrub = Scrub(token)
            for logger in (self.log, logging.getLogger(), logging.getLogger("tornado.access"),
                           logging.getLogger("tornado.application")):
                for handler in logger.handlers:
                    handler.addFilter(scrub)
        super().start()

    def init_handlers(self):
        return [(pattern, CappedVoilaHandler if handler is TornadoVoilaHandler else handler,
                 *rest) for pattern, handler, *rest in super().init_handlers()]


main = WorkbenchVoila.launch_instance

if __name__ == "__main__":
    main()
