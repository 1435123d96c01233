"""The dashboards' one frame: a top bar (product, Audiences, Manage Exports, the user and role)
and a content area whose page is swapped in place — moving between pages costs no kernel start
(TOOLCHAIN: 55–170 ms against 1.5 s or more for another notebook). The address follows the page
(``?audience=12``, ``?page=new``) so a link can be shared and reopened.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import ipywidgets as w

from ..ids import parse_id
from .audience import AudiencePage
from .builder import AudienceBuilder
from .dashboard import AudiencesDashboard
from .export_builder import ExportBuilder
from .exports import ManageExports
from .navigator import Navigator
from .overlap import OverlapPage
from .refused import RefusedPage
from .style import CSS, escape
from .widgets import Location
from .work import one_line

if TYPE_CHECKING:
    from ..app import Workbench

log = logging.getLogger(__name__)


class App:
    """``App(wb).widget`` is the whole dashboard; ``go(page, **args)`` moves between its pages
    (the names registered below)."""

    def __init__(self, wb: Workbench, *, background: bool = True):
        """``background``: estimates and loads run in a thread (off in headless tests, where
        they run at once)."""
        self.nav = Navigator(wb, background=background)
        self.location = Location()
        self.location.observe(self._arrived, "ready")
        self.nav.addressed(lambda query: setattr(self.location, "query", query))
        for name, show in (("dashboard", self._dashboard), ("audience", self._audience),
                           ("builder", self._builder), ("export", self._export_builder),
                           ("exports", self._exports), ("overlap", self._overlap)):
            self.nav.register(name, show)
        self._nav = {name: w.Button(description=label, tooltip=label)
                     for name, label in (("audiences", "Audiences"),
                                         ("exports", "Manage Exports"))}
        for name, button in self._nav.items():
            button.add_class("wb-nav")
            button.on_click(lambda _b, name=name: self.go(
                "dashboard" if name == "audiences" else "exports"))
        self._user_label = w.HTML(self._user_text(), layout=w.Layout(margin="0 0 0 auto"))
        bar = w.HBox([w.HTML('<span class="wb-brand">Audience Workbench</span>'),
                      self._nav["audiences"], self._nav["exports"], self._user_label])
        bar.add_class("wb-topbar")
        self.content = w.VBox()
        self.widget = w.VBox([w.HTML(CSS), bar, self.content, self.location])
        self.widget.add_class("wb-app")
        self._dashboard(remember=False)

    @property
    def wb(self) -> Workbench:
        return self.nav.wb

    @property
    def page(self):
        return self.nav.page

    def go(self, page: str, **args) -> None:
        self.nav.go(page, **args)

    def _user_text(self) -> str:
        user = self.wb.user
        return f'<span class="wb-user">{escape(user.name)} ({escape(user.role.value)})</span>'

    # -- pages ------------------------------------------------------------------------------------

    def _dashboard(self, remember: bool = True) -> None:
        self._show(AudiencesDashboard(self.nav), "audiences", {} if remember else None)

    def _audience(self, audience_id: int, tab: str | None = None) -> None:
        self._show(AudiencePage(self.nav, audience_id, tab=tab), "audiences",
                   {"audience": str(audience_id)})

    def _export_builder(self, audience_id: int | None = None,
                        export_id: int | None = None) -> None:
        builder = ExportBuilder(self.nav, audience_id=audience_id, export_id=export_id)
        query = ({"page": "export", "export": str(export_id)} if export_id else
                 {"page": "export", "audience": str(builder.audience.id)})
        self._show(builder, "exports", query)

    def _builder(self, audience_id: int | None = None, definition: dict | None = None) -> None:
        query = {"audience": str(audience_id), "page": "edit"} if audience_id else {"page": "new"}
        if "edit" not in self.wb.audiences.actions():  # a viewer, by a link or the address
            if audience_id:  # the audience as they may see it: read-only, and why
                self._audience(audience_id)
                self.page.notice("Viewers cannot edit audiences: this is the audience "
                                 "read-only.")
                return
            self._show(RefusedPage(self.nav, "create audiences"), "audiences", query)
            return
        self._show(AudienceBuilder(self.nav, audience_id, definition), "audiences", query)

    def _exports(self, tab: int = 0) -> None:
        self._show(ManageExports(self.nav, tab=tab), "exports", {"page": "exports"})

    def _overlap(self, audience_ids: list[int] | None = None) -> None:
        ids = audience_ids or []
        self._show(OverlapPage(self.nav, ids), "audiences",
                   {"page": "overlap", **({"audiences": ",".join(map(str, ids))} if ids else {})})

    def _show(self, page, section: str, query: dict | None) -> None:
        if self.page is not None and hasattr(self.page, "close"):
            self.page.close()
        self.nav.page = page
        self.content.children = [page.widget]
        for name, button in self._nav.items():
            (button.add_class if name == section else button.remove_class)("wb-current")
        if query is not None:
            self.location.query = query

    def _reopen_if_role_changed(self) -> None:
        """A preheated kernel opened the workbench before the visitor came: if their role has
        changed since (workbench.toml, or hub groups in team mode), reopen it (pages are
        rebuilt for that role)."""
        try:
            fresh = self.wb.reopen()
        except Exception:  # unreadable settings: keep what we have; the services will say
            return
        if fresh.user.role == self.wb.user.role:
            fresh.close()
            return
        previous, self.nav.wb = self.wb, fresh
        previous.close()
        self._user_label.value = self._user_text()
        self._dashboard(remember=False)

    def _arrived(self, change) -> None:
        """The page is in a browser: go where its address points, or show the dashboard as it
        is now (a preheated kernel built it before the visitor came)."""
        if not change["new"]:
            return
        self._reopen_if_role_changed()
        try:
            self._follow(self.location.initial or {})
        except Exception as exc:  # a stale or mistyped link: stay on the dashboard, say why
            log.info("link not followed: %s", exc)
            if hasattr(self.page, "notice"):
                self.page.notice(f"That link points nowhere: {one_line(exc)}")

    def _follow(self, query: dict) -> None:
        page, audience = query.get("page"), query.get("audience")
        if not page and not audience:
            if hasattr(self.page, "refresh"):
                self.page.refresh()
        elif page == "new":
            self.go("builder")
        elif page == "exports":
            self.go("exports")
        elif page == "overlap":
            self.go("overlap", audience_ids=[
                parse_id(part, "audience") for part in query.get("audiences", "").split(",")[:10]
                if part.strip()])
        elif page == "export" and query.get("export"):
            self.go("export", export_id=parse_id(query["export"], "export"))
        elif page == "export" and audience:
            self.go("export", audience_id=parse_id(audience, "audience"))
        elif page not in (None, "edit"):
            raise ValueError(f"there is no page {page[:40]!r}")
        elif audience:
            audience_id = parse_id(audience, "audience")
            draft = self.wb.audiences.get(audience_id).status == "draft"
            self.go("builder" if page == "edit" and draft else "audience",
                    audience_id=audience_id)
