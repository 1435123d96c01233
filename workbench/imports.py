"""Start-up costs we refuse to pay.

jsonschema (imported by Altair and by nbformat, so by papermill) imports ``rfc3987_syntax``
whenever it is installed, and Jupyter's packages install it: that module compiles a grammar at
import, about 0.9 s of every kernel and every ``workbench process``, for an "iri" format check
that neither Altair nor nbformat asks for. Marked absent, jsonschema simply skips that check.
"""

from __future__ import annotations

import sys


def skip_slow_optional_modules() -> None:
    """Call before importing Altair or papermill (harmless when already imported)."""
    sys.modules.setdefault("rfc3987_syntax", None)
