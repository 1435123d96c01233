"""How every page looks: one style sheet, and the few formatting rules the pages share.

Numbers right-aligned with thousands separators, dates as YYYY-MM-DD in the workbench timezone,
and "—" for what is not there yet (never None, NaN or NaT).
"""

from __future__ import annotations

import html
import math
from datetime import date, datetime

from ..freshness import sentence

DASH = "—"

CSS = """
<style>
.wb-app { font-family: var(--jp-ui-font-family, system-ui, sans-serif); color: #1f2933;
  max-width: 1240px; margin: 0 auto; }
.wb-app .widget-label, .wb-app .widget-inline-hbox .widget-label { color: #3e4c59; }
.wb-topbar { display: flex; align-items: center; gap: 18px; padding: 10px 16px;
  background: #1f3a5f; color: #fff; border-radius: 6px; margin-bottom: 14px; }
.wb-topbar .wb-brand { font-weight: 700; font-size: 16px; margin-right: 12px; color: #fff; }
.wb-topbar .wb-user { margin-left: auto; font-size: 13px; color: #d9e2ec; }
.wb-nav button, .wb-nav.jupyter-button { background: transparent !important; color: #d9e2ec !important;
  border: none !important; box-shadow: none !important; font-size: 14px; }
.wb-nav.wb-current, .wb-nav.wb-current button { color: #fff !important; font-weight: 700;
  text-decoration: underline; text-underline-offset: 6px; }
.wb-title { font-size: 22px; font-weight: 600; margin: 4px 0; overflow-wrap: anywhere; }
.wb-app .widget-button { flex: none; }
.wb-muted { color: #7b8794; font-size: 13px; }
.wb-error { color: #b42318; font-size: 13px; }
.wb-warning { color: #9a6700; font-size: 13px; }
.wb-ok { color: #1a7f37; font-size: 13px; }
.wb-banner { border: 1px solid #f59e0b; background: #fffbeb; border-radius: 6px;
  padding: 6px 12px; }
.wb-badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12px;
  font-weight: 600; line-height: 18px; white-space: nowrap; }
.wb-badge-live, .wb-badge-active, .wb-badge-complete { background: #dcfce7; color: #166534; }
.wb-badge-draft, .wb-badge-scheduled { background: #e5e7eb; color: #374151; }
.wb-badge-archived, .wb-badge-canceled { background: #f3f4f6; color: #9ca3af; }
.wb-badge-paused, .wb-badge-in-progress { background: #fef3c7; color: #92400e; }
.wb-badge-failed { background: #fee2e2; color: #991b1b; }
.wb-panel { border: 1px solid #e4e7eb; border-radius: 6px; padding: 12px 16px; background: #fff; }
.wb-panel h4 { margin: 0 0 6px 0; font-size: 13px; text-transform: uppercase;
  letter-spacing: .04em; color: #616e7c; }
.wb-big { font-size: 30px; font-weight: 700; line-height: 1.2; }
.wb-summary { margin: 4px 0 0 0; padding-left: 18px; font-size: 13px; }
.wb-rule { border: 1px solid #e4e7eb; border-radius: 6px; padding: 6px 10px; margin: 0 0 8px 0;
  background: #fafbfc; }
.wb-rule-name { font-weight: 600; min-width: 160px; }
.wb-group { border: 1px dashed #93c5fd; border-radius: 6px; padding: 6px 10px 8px 10px;
  margin: 0 0 8px 0; background: #f5f9ff; }
.wb-group .wb-rule { background: #fff; }
.wb-invalid input, .wb-invalid textarea, .wb-invalid select, input.wb-invalid {
  border: 1px solid #d92d20 !important; box-shadow: 0 0 0 1px #d92d20 !important; }
.wb-primary button, button.wb-primary, .wb-primary.jupyter-button {
  background: #2563eb !important; color: #fff !important; border-radius: 4px; }
.wb-link button, button.wb-link, .wb-link.jupyter-button { background: transparent !important;
  color: #2563eb !important; box-shadow: none !important; padding: 0 4px; }
.wb-spinner { display: inline-block; width: 12px; height: 12px; border: 2px solid #cbd2d9;
  border-top-color: #2563eb; border-radius: 50%; animation: wb-spin .8s linear infinite;
  vertical-align: middle; margin-left: 6px; }
@keyframes wb-spin { to { transform: rotate(360deg); } }
.wb-confirm { border: 1px solid #f59e0b; background: #fffbeb; border-radius: 6px; padding: 8px 12px; }
.wb-estimate { color: #52606d; font-style: italic; white-space: nowrap; }
.wb-est { font-size: 10px; font-style: normal; font-weight: 600; color: #9a6700;
  text-transform: uppercase; letter-spacing: .04em; }
.wb-changes { font-size: 15px; font-weight: 600; margin-top: 4px; }
.wb-added { color: #1a7f37; }
.wb-removed { color: #b42318; }
.wb-columns-note { margin-top: 8px; line-height: 1.5; }
.wb-tabs .lm-TabBar-tab, .wb-tabs .p-TabBar-tab { font-size: 13px; }
</style>
"""


def number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{int(value):,}"


def percent(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:,.2f}%"


def day(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value) or DASH


STATUS_LABELS = {"active": "Live", "draft": "Draft", "archived": "Archived"}


def stale_note(behind: str | None, then: str = "", *, banner: bool = False) -> str:
    """The warning shown where processed results lag the calendar (``freshness.behind``:
    "processed through 2026-11-28, 7 days behind"), with what to do (``then``)."""
    if not behind:
        return ""
    kind = "wb-warning wb-stale" + (" wb-banner" if banner else "")
    return f'<div class="{kind}">⚠ {escape(sentence(behind))}{then}</div>'


def badge(state: str, label: str | None = None) -> str:
    """A coloured state badge (Live, Draft, Archived; export and run states)."""
    text = label or STATUS_LABELS.get(state, state.replace("_", "-").title())
    css = state.replace("_", "-")
    return f'<span class="wb-badge wb-badge-{html.escape(css)}">{html.escape(text)}</span>'


def escape(text) -> str:
    return html.escape(str(text))
