"""The dashboards' one frame: a top bar (product, Audiences, Manage Exports, the user and role)
and a content area whose page is swapped in place — moving between pages costs no kernel start
(TOOLCHAIN: 55–170 ms against 1.5 s or more for another notebook). The address follows the page
(``?audience=12``, ``?page=new``) so a link can be shared and reopened.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import ipywidgets as w

from .style import CSS, escape
from .widgets import Location

if TYPE_CHECKING:
    from ..app import Workbench

log = logging.getLogger(__name__)


class App:
    """``App(wb).widget`` is the whole dashboard; ``show_*`` move between its pages."""

    def __init__(self, wb: Workbench, *, background: bool = True):
        """``background``: estimates and loads run in a thread (off in headless tests, where
        they run at once)."""
        self.wb = wb
        self.background = background
        self.location = Location()
        self.location.observe(self._arrived, "ready")
        self._nav = {name: w.Button(description=label, tooltip=label)
                     for name, label in (("audiences", "Audiences"),
                                         ("exports", "Manage Exports"))}
        for name, button in self._nav.items():
            button.add_class("wb-nav")
            button.on_click(lambda _b, name=name: self.show_dashboard() if name == "audiences"
                            else self.show_exports())
        user = wb.user
        self._user_label = w.HTML(f'<span class="wb-user">{escape(user.name)} '
                                  f'({escape(user.role.value)})</span>',
                                  layout=w.Layout(margin="0 0 0 auto"))
        bar = w.HBox([w.HTML('<span class="wb-brand">Audience Workbench</span>'),
                      self._nav["audiences"], self._nav["exports"], self._user_label])
        bar.add_class("wb-topbar")
        self.content = w.VBox()
        self.page = None
        self.widget = w.VBox([w.HTML(CSS), bar, self.content, self.location])
        self.widget.add_class("wb-app")
        self.show_dashboard(remember=False)

    # -- pages ------------------------------------------------------------------------------------

    def show_dashboard(self, remember: bool = True) -> None:
        from .dashboard import AudiencesDashboard

        self._show(AudiencesDashboard(self), "audiences", {} if remember else None)

    def show_audience(self, audience_id: int, tab: str | None = None) -> None:
        from .audience import AudiencePage

        self._show(AudiencePage(self, audience_id, tab=tab), "audiences",
                   {"audience": str(audience_id)})

    def show_export_builder(self, audience_id: int | None = None,
                            export_id: int | None = None) -> None:
        from .export_builder import ExportBuilder

        builder = ExportBuilder(self, audience_id=audience_id, export_id=export_id)
        query = ({"page": "export", "export": str(export_id)} if export_id else
                 {"page": "export", "audience": str(builder.audience.id)})
        self._show(builder, "exports", query)

    def show_builder(self, audience_id: int | None = None, definition: dict | None = None) -> None:
        from .builder import AudienceBuilder

        query = {"audience": str(audience_id), "page": "edit"} if audience_id else {"page": "new"}
        self._show(AudienceBuilder(self, audience_id, definition), "audiences", query)

    def show_exports(self, tab: int = 0) -> None:
        from .exports import ManageExports

        self._show(ManageExports(self, tab=tab), "exports", {"page": "exports"})

    def _show(self, page, section: str, query: dict | None) -> None:
        if self.page is not None and hasattr(self.page, "close"):
            self.page.close()
        self.page = page
        self.content.children = [page.widget]
        for name, button in self._nav.items():
            (button.add_class if name == section else button.remove_class)("wb-current")
        if query is not None:
            self.location.query = query

    def _reopen_if_role_changed(self) -> None:
        """A preheated kernel opened the workbench before the visitor came: if workbench.toml
        has given this user another role since, reopen it (pages are rebuilt for that role)."""
        from ..settings import load_settings
        from ..users import resolve_user

        try:
            now = resolve_user(load_settings(self.wb.home.root), self.wb.user.name)
        except Exception:  # unreadable settings: keep what we have; the services will say
            return
        if now.role == self.wb.user.role:
            return
        import workbench

        previous = self.wb
        self.wb = workbench.open(previous.home.root, user=previous.user.name,
                                 clock=previous.clock)
        previous.close()
        self._user_label.value = (f'<span class="wb-user">{escape(self.wb.user.name)} '
                                  f'({escape(self.wb.user.role.value)})</span>')
        self.show_dashboard(remember=False)

    def _arrived(self, change) -> None:
        """The page is in a browser: go where its address points, or show the dashboard as it
        is now (a preheated kernel built it before the visitor came)."""
        if not change["new"]:
            return
        self._reopen_if_role_changed()
        query = self.location.initial or {}
        try:
            if not query.get("page") and not query.get("audience"):
                if hasattr(self.page, "refresh"):
                    self.page.refresh()
            elif query.get("page") == "new":
                self.show_builder()
            elif query.get("page") == "exports":
                self.show_exports()
            elif query.get("page") == "export" and query.get("export"):
                from ..ids import parse_id

                self.show_export_builder(export_id=parse_id(query["export"], "export"))
            elif query.get("page") == "export" and query.get("audience"):
                from ..ids import parse_id

                self.show_export_builder(audience_id=parse_id(query["audience"], "audience"))
            elif query.get("page") not in (None, "edit"):
                raise ValueError(f"there is no page {query['page'][:40]!r}")
            elif query.get("audience"):
                from ..ids import parse_id

                audience_id = parse_id(query["audience"], "audience")
                audience = self.wb.audiences.get(audience_id)
                if query.get("page") == "edit" and audience.status == "draft":
                    self.show_builder(audience_id)
                else:
                    self.show_audience(audience_id)
        except Exception as exc:  # a stale or mistyped link: stay on the dashboard, say why
            from .work import one_line

            log.info("link not followed: %s", exc)
            if hasattr(self.page, "notice"):
                self.page.notice(f"That link points nowhere: {one_line(exc)}")
