"""Two small browser-side widgets (anywidget, inline: nothing is fetched from the internet).

- ``Table``: a styled HTML table whose headers sort and whose link cells call back to Python;
  cells arrive as HTML made (and escaped) in Python.
- ``Location``: reads the page's query (``?audience=12``) once it is shown and writes it back as
  the app moves between pages, so an address can be shared.
"""

from __future__ import annotations

from collections.abc import Callable

import anywidget
import traitlets

_TABLE_ESM = r"""
function render({ model, el }) {
  const draw = () => {
    const rows = model.get("rows"), sort = model.get("sort");
    // No row offers an action (a viewer's): no Actions column, rather than a column of dashes.
    const acting = rows.some((r) => (r.actions || []).length);
    const cols = model.get("columns").filter((c) => c.key !== "actions" || acting);
    el.classList.add("wb-table-box");
    el.innerHTML = "";
    if (model.get("loading")) {
      el.innerHTML = '<div class="wb-muted" style="padding:18px 4px">Loading… ' +
        '<span class="wb-spinner"></span></div>';
      return;
    }
    if (!rows.length) {
      const empty = document.createElement("div");
      empty.className = "wb-empty";
      empty.innerHTML = model.get("empty");
      el.appendChild(empty);
      return;
    }
    const table = document.createElement("table");
    table.className = "wb-table";
    const head = table.createTHead().insertRow();
    for (const c of cols) {
      const th = document.createElement("th");
      th.textContent = c.label;
      if (c.title) th.title = c.title;
      if (c.numeric) th.className = "wb-num";
      if (c.sort) {
        th.style.cursor = "pointer";
        th.title = "Sort by " + c.label.toLowerCase();
        const arrow = document.createElement("span");
        arrow.style.cssText = "display:inline-block;width:1.1em";  // sorting never shifts columns
        if (sort === c.sort) arrow.textContent = " ↑";
        if (sort === "-" + c.sort) arrow.textContent = " ↓";
        th.appendChild(arrow);
        th.onclick = () => {
          model.set("sort", sort === c.sort ? "-" + c.sort : c.sort);
          model.save_changes();
        };
      }
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const r of rows) {
      const tr = body.insertRow();
      tr.dataset.row = r.id;
      for (const c of cols) {
        const td = tr.insertCell();
        td.innerHTML = r.cells[c.key] ?? "";
        if (c.numeric) td.className = "wb-num";
        if (c.key === "actions") {
          td.className = "wb-actions-cell";
          const actions = r.actions || [];
          if (!actions.length) { td.textContent = "—"; continue; }
          const menu = document.createElement("select");
          menu.className = "wb-actions";
          menu.innerHTML = '<option value="">Actions ▾</option>';
          for (const [value, label] of actions) {
            const option = document.createElement("option");
            option.value = value;
            option.textContent = label;
            menu.appendChild(option);
          }
          menu.onchange = () => {
            if (menu.value) model.send({ event: "action", row: r.id, action: menu.value });
            menu.value = "";
          };
          td.appendChild(menu);
          continue;
        }
        for (const a of td.querySelectorAll("a[data-link]")) {
          a.href = "#";
          a.onclick = (e) => {
            e.preventDefault();
            model.send({ event: "click", row: r.id, column: c.key, link: a.dataset.link });
          };
        }
      }
    }
    el.appendChild(table);
  };
  for (const name of ["rows", "columns", "sort", "loading", "empty"]) model.on("change:" + name, draw);
  draw();
}
export default { render };
"""

_TABLE_CSS = """
.wb-table-box { max-width: 100%; overflow-x: auto; }  /* never clips a column: it scrolls */
.wb-table { border-collapse: collapse; width: 100%; font-size: 13px; }
.wb-table .wb-badge { white-space: nowrap; }
.wb-table th { text-align: left; font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
  color: #616e7c; border-bottom: 2px solid #e4e7eb; padding: 6px 10px; white-space: nowrap;
  user-select: none; }
.wb-table td { border-bottom: 1px solid #eef0f2; padding: 7px 10px; vertical-align: top;
  max-width: 420px; overflow-wrap: break-word; }
.wb-table tr:hover td { background: #f5f7fa; }
.wb-table .wb-num { text-align: right; font-variant-numeric: tabular-nums; }
/* Names wrap between words only ("anywhere" let a squeezed column break "Wom|en"); one word
   longer than the box (a 200-character name) still breaks, so it never widens the table. */
.wb-table a { color: #2563eb; text-decoration: none; font-weight: 600; display: inline-block;
  max-width: 320px; overflow-wrap: break-word; }
.wb-table td.wb-actions-cell { white-space: nowrap; }
/* A cell of file names and notes (History's last column): it wraps (at the <wbr> after each
   "_" and ".", else anywhere) so the table fits the page rather than cutting it off. */
.wb-table .wb-wrap { overflow-wrap: anywhere; min-width: 14em; }
.wb-table .wb-break { overflow-wrap: anywhere; }  /* a host key's fingerprint: one long word */
.wb-table a:hover { text-decoration: underline; }
.wb-table select.wb-actions { font-size: 12px; padding: 2px 4px; }
.wb-empty { padding: 28px 8px; color: #616e7c; font-size: 14px; }
"""


class Table(anywidget.AnyWidget):
    """``columns``: [{key, label, numeric?, sort?, title? (the header's tooltip)}]; ``rows``:
    [{id, cells: {key: html}, actions?: [(action, label)]}]. A cell's ``<a data-link="…">``
    calls ``on_click`` callbacks with (row id, link); the ``actions`` column is a menu of the
    row's actions, calling ``on_action`` callbacks with (row id, action), and is not shown when
    no row has any (``shown_columns``)."""

    _esm = _TABLE_ESM
    _css = _TABLE_CSS
    columns = traitlets.List().tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    sort = traitlets.Unicode("").tag(sync=True)
    loading = traitlets.Bool(False).tag(sync=True)
    empty = traitlets.Unicode("Nothing here yet.").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._clicks: list[Callable[[str, str], None]] = []
        self._actions: list[Callable[[str, str], None]] = []
        self.on_msg(self._message)

    def shown_columns(self) -> list[dict]:
        """The columns the browser draws (the same rule as its script)."""
        acting = any(row.get("actions") for row in self.rows)
        return [c for c in self.columns if c["key"] != "actions" or acting]

    def on_action(self, callback: Callable[[str, str], None]) -> None:
        self._actions.append(callback)

    def act(self, row: str, action: str) -> None:
        """What choosing an action in a row's menu does (only the actions it offers)."""
        offered = next((r.get("actions", []) for r in self.rows if r["id"] == str(row)), [])
        if action not in {a for a, _label in offered}:
            return
        for callback in self._actions:
            callback(str(row), action)

    def on_click(self, callback: Callable[[str, str], None]) -> None:
        self._clicks.append(callback)

    def click(self, row: str, link: str = "open") -> None:
        """What a click on a row's link does (the browser sends it; tests call it)."""
        for callback in self._clicks:
            callback(str(row), link)

    def _message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("event") == "click":
            self.click(content.get("row", ""), content.get("link", "open"))
        if isinstance(content, dict) and content.get("event") == "action":
            self.act(content.get("row", ""), content.get("action", ""))


_LOCATION_ESM = r"""
function render({ model, el }) {
  el.style.display = "none";
  const params = new URLSearchParams(window.location.search);
  const initial = {};
  for (const key of model.get("params")) if (params.has(key)) initial[key] = params.get(key);
  model.set("initial", initial);
  model.set("ready", true);
  model.save_changes();
  // On a team's hub the address names the person's own server (/user/NAME/...): it is shown
  // as the hub's /hub/user-redirect/..., so that a copied link opens as whoever signs in.
  const shared = window.location.pathname.replace(/^(.*?)\/user\/[^/]+\//,
                                                  "$1/hub/user-redirect/");
  const write = (pathOnly) => {
    const p = new URLSearchParams(window.location.search);
    if (!pathOnly) {
      for (const key of model.get("params")) p.delete(key);
      for (const [key, value] of Object.entries(model.get("query"))) p.set(key, value);
    }
    const text = p.toString();
    window.history.replaceState(null, "", shared + (text ? "?" + text : ""));
  };
  model.on("change:query", () => write(false));
  // Only the path at first: the query stays what was asked for (?audience=2) until the app
  // has opened it, so a link copied meanwhile still opens the same page.
  if (shared !== window.location.pathname) write(true);
}
export default { render };
"""


class Location(anywidget.AnyWidget):
    """The page's address: ``initial`` is its query when first shown; setting ``query`` writes
    the app's current page into it (other parameters, such as the token, are kept)."""

    _esm = _LOCATION_ESM
    params = traitlets.List(["audience", "page", "export", "audiences"]).tag(sync=True)
    initial = traitlets.Dict().tag(sync=True)
    ready = traitlets.Bool(False).tag(sync=True)
    query = traitlets.Dict().tag(sync=True)


_CHECKLIST_ESM = r"""
function render({ model, el }) {
  el.classList.add("wb-checklist");
  const search = document.createElement("input");
  search.type = "search";
  search.placeholder = model.get("placeholder");
  const list = document.createElement("div");
  list.className = "wb-checklist-items";
  const count = document.createElement("div");
  count.className = "wb-muted";
  el.append(search, list, count);
  const draw = () => {
    const chosen = new Set(model.get("selected"));
    const needle = search.value.trim().toLowerCase();
    const values = model.get("values");
    const shown = values.filter((v) => chosen.has(v) || v.toLowerCase().includes(needle));
    list.innerHTML = "";
    for (const value of shown.slice(0, 200)) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = chosen.has(value);
      box.onchange = () => {
        const now = new Set(model.get("selected"));
        box.checked ? now.add(value) : now.delete(value);
        model.set("selected", values.filter((v) => now.has(v)).concat(
          [...now].filter((v) => !values.includes(v))));
        model.save_changes();
      };
      label.append(box, document.createTextNode(" " + value));
      list.appendChild(label);
    }
    if (!shown.length) list.innerHTML = '<span class="wb-muted">no value matches</span>';
    count.textContent = chosen.size ? chosen.size + " selected" : "none selected";
  };
  search.oninput = draw;
  model.on("change:selected", draw);
  model.on("change:values", draw);
  draw();
}
export default { render };
"""

_CHECKLIST_CSS = """
.wb-checklist { display: flex; flex-direction: column; gap: 4px; width: 240px; }
.wb-checklist input[type=search] { padding: 4px 6px; border: 1px solid #cbd2d9; border-radius: 3px; }
.wb-checklist-items { max-height: 140px; overflow-y: auto; border: 1px solid #e4e7eb;
  border-radius: 3px; padding: 4px 6px; background: #fff; font-size: 13px; }
.wb-checklist-items label { display: block; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; cursor: pointer; line-height: 22px; }
"""


class Checklist(anywidget.AnyWidget):
    """Values as checkboxes with a search box (typing narrows the list); ``selected`` is what
    is ticked, in the values' order."""

    _esm = _CHECKLIST_ESM
    _css = _CHECKLIST_CSS
    values = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    placeholder = traitlets.Unicode("Search values…").tag(sync=True)


def link(text: str, target: str = "open") -> str:
    """An in-table link (text already escaped) that calls the table's ``on_click``."""
    return f'<a data-link="{target}">{text}</a>'
