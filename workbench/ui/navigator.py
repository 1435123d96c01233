"""How a page moves to another without importing it: ``nav.go("audience", audience_id=3)``.

``app.py`` registers the pages; this module imports none, so no page imports the frame and the
frame is the only module that knows every page."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import Workbench


class Navigator:
    """What a page may ask of the frame it is shown in: the workbench, whether work runs in the
    background (off in headless tests, where it runs at once), which page is on show, moving to
    another page and changing the address."""

    def __init__(self, wb: Workbench, *, background: bool = True):
        self.wb = wb
        self.background = background
        self.page: Any = None
        self.cache: dict[str, Any] = {}  # what pages keep between visits (the list's estimates)
        self._pages: dict[str, Callable[..., None]] = {}
        self._address: Callable[[dict], None] = lambda _query: None

    def register(self, name: str, show: Callable[..., None]) -> None:
        self._pages[name] = show

    def addressed(self, set_address: Callable[[dict], None]) -> None:
        """Where ``address`` writes (the browser's address bar)."""
        self._address = set_address

    def go(self, page: str, **args) -> None:
        self._pages[page](**args)

    def address(self, query: dict) -> None:
        """Change the address without moving (a draft that got its id when first saved)."""
        self._address(query)

    def showing(self, page) -> bool:
        return self.page is page
