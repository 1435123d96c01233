"""The page shown instead of one the user's role may not use (a viewer's ``?page=new``): it
says so, and who can, rather than showing fields that look editable and refuse on save."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as w

from .style import escape

if TYPE_CHECKING:
    from .navigator import Navigator


class RefusedPage:
    def __init__(self, nav: Navigator, what: str, who: str = "an analyst or an admin"):
        """``what``: what the role cannot do, as a sentence's end ("create audiences")."""
        user = nav.wb.user
        self.text = f"{user.role.value.title()}s cannot {what}."
        back = w.Button(description="← Audiences", tooltip="Back to all audiences")
        back.add_class("wb-link")
        back.on_click(lambda _b: nav.go("dashboard"))
        self.message = w.HTML(
            f'<div class="wb-panel wb-refused"><div class="wb-title">{escape(self.text)}</div>'
            f'<div class="wb-muted">You are signed in as {escape(user.name)} '
            f'({escape(user.role.value)}): you can look at every audience, its size, '
            f'composition and exports. Ask {escape(who)} to {escape(what)}.</div></div>')
        self.widget = w.VBox([w.HBox([back]), self.message], layout=w.Layout(gap="8px"))
