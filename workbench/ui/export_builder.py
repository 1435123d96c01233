"""The export builder: a three-step wizard (Setup → Attributes → Notification) for a new
export of an audience, or an edit of one (the same wizard, filled in). Next is blocked until
the step is valid — the export service says what is wrong (``wb.exports.check``), and each
message appears at its field; Save on the last step.

Setup picks the destination by name with its kind beside it ("Partner SFTP (SFTP)"): the kind
comes with the destination, so it is shown, not asked. Attributes holds the file's choices:
the CSV options and columns, what each file holds (``changes``), its compression and its
split into parts. Every stored field the wizard has no control for is kept on save."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import ipywidgets as w
import traitlets

from ..days import parse_day
from ..errors import Problem, WorkbenchError
from ..exports.fileset import manifest_name, part_name
from ..exports.notify import unsent_reason
from .forms import Fields
from .style import escape
from .work import one_line

if TYPE_CHECKING:
    from .navigator import Navigator

STEPS = ("Setup", "Attributes", "Notification")
# Which fields of the configuration each step edits (the service's messages name them).
STEP_FIELDS = {0: ("name", "audience", "file_name", "active", "schedule", "destination",
                   "encryption", "format"),
               1: ("csv", "columns", "changes", "compression", "split"),
               2: ("notify",)}

# Destination kinds (``Destination.type``) as people name them, and where such a destination
# puts a file; a kind not listed here is shown by its own name.
KINDS = {"sftp": "SFTP", "s3": "S3"}
KIND_PLACES = {"sftp": "an SFTP server's folder", "s3": "an S3 bucket's prefix"}
# What each file holds (ExportConfig.changes), in the words of the person who picks it.
CHANGES = [("Everyone in the audience", "full"),
           ("Only people added since the last delivery", "added"),
           ("Only people removed since the last delivery", "removed"),
           ("Added and removed, as two files", "both"),
           ("One file with a change column", "column")]
COMPRESSIONS = [("None", ""), ("gzip", "gzip"), ("zstd", "zstd")]
SUFFIXES = {"gzip": ".gz", "zstd": ".zst"}
SPLITS = [("Off", ""), ("Every N rows", "rows"), ("Every N MB", "mb")]
# Parts are sized in megabytes on the page and in bytes in the configuration: decimal
# megabytes, as disks and object stores count them (docs/exports.md, "In the wizard").
MB = 1_000_000


def destination_label(destination) -> str:
    """A destination as the picker lists it: its name and its kind, "Data lake (S3)"."""
    kind = destination.type or ""
    return f"{destination.name} ({KINDS.get(kind, kind.upper() or '?')})"


def destination_places(destinations) -> str:
    """Where the destinations listed put files, in words: "an SFTP server's folder or an S3
    bucket's prefix" (each kind once, in the order first listed)."""
    kinds = list(dict.fromkeys(d.type for d in destinations))
    return " or ".join(KIND_PLACES.get(k, f"a destination of kind {k}") for k in kinds)


def suggested_name(file_name: str, compression: str | None) -> str | None:
    """The file name a compressed file should have when its name still ends ``.csv``
    (``women_%Y%m%d.csv`` with gzip: ``women_%Y%m%d.csv.gz``); None when it needs none."""
    suffix = SUFFIXES.get(compression or "")
    if suffix and file_name.strip().lower().endswith(".csv"):
        return file_name.strip() + suffix
    return None


def split_config(mode: str, size: str) -> dict | None:
    """The ``split`` of the configuration from the page's choice and number: rows as typed,
    megabytes as bytes. What is not a number goes to the service as typed (its message says
    what is allowed); megabytes that are not a positive number go as 0 bytes (refused)."""
    text = size.strip().replace(",", "").replace("_", "")
    if not mode:
        return None
    if mode == "rows":
        return {"rows": int(text) if text.isdigit() else size.strip()}
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = 0.0
    return {"bytes": round(megabytes * MB) if megabytes > 0 and megabytes < 1e12 else 0}


def split_choice(split: dict | None) -> tuple[str, str]:
    """A stored ``split`` as the page shows it: (mode, number), bytes in megabytes (as many
    decimals as it takes to say the stored bytes exactly)."""
    if not split:
        return "", ""
    if split.get("rows") is not None:
        return "rows", str(split["rows"])
    megabytes = f"{split['bytes'] / MB:.6f}".rstrip("0").rstrip(".")
    return "mb", megabytes


def with_change(file_name: str) -> str:
    """``file_name`` with ``{change}`` before its extensions: ``w_%Y%m%d.csv`` →
    ``w_%Y%m%d_{change}.csv`` (an example for the hint, never applied unasked)."""
    stem, dot, rest = file_name.strip().partition(".")
    return f"{stem}_{{change}}{dot}{rest}" if stem else "{change}.csv"


def file_notes(compression: str | None, split: dict | None) -> str:
    """What the next file line adds for compression and parts, in words ("" for neither)."""
    notes = []
    if compression:
        notes.append(f"{compression}-compressed")
    if split and isinstance(split.get("rows"), int):
        notes.append(f"in numbered parts of at most {split['rows']:,} rows, then a manifest")
    elif split and isinstance(split.get("bytes"), int) and split["bytes"] > 0:
        megabytes = split_choice(split)[1]
        notes.append(f"in numbered parts of at most {megabytes} MB, then a manifest")
    return "; ".join(notes)


def next_files(name: str, parted: bool) -> str:
    """The "Next file" line's names (HTML): the file, or with parts the first part's name and
    the manifest's, as the run names them."""
    if not parted:
        return f"Next file: <code>{escape(name)}</code>"
    return (f"Next files: <code>{escape(part_name(name, 1, 1))}</code>, … then "
            f"<code>{escape(manifest_name(name))}</code>")


def megabytes_valid(size: str) -> bool:
    try:
        value = float(size.strip().replace(",", "").replace("_", ""))
    except ValueError:
        return False
    return 0 < value < 1e12


class TargetChecks(w.VBox):
    """The notice targets as checkboxes, one a line (a multi-select's picked row was a pale
    grey, and Ctrl-click is not obvious): ``options`` as (label, name), ``value`` the ticked
    names in the options' order."""

    value = traitlets.Tuple()

    def __init__(self, options: list[tuple[str, str]], value: list[str]):
        self.options = options
        self.boxes = [w.Checkbox(value=name in value, description=label, indent=False,
                                 layout=w.Layout(width="520px")) for label, name in options]
        super().__init__(self.boxes)
        self.add_class("wb-target-checks")
        self.value = tuple(name for _label, name in options if name in value)
        for box in self.boxes:
            box.observe(lambda _c: self._ticked(), "value")
        self.observe(lambda _c: self._show(), "value")

    def _ticked(self) -> None:
        self.value = tuple(name for (_label, name), box
                           in zip(self.options, self.boxes, strict=True) if box.value)

    def _show(self) -> None:
        for (_label, name), box in zip(self.options, self.boxes, strict=True):
            box.value = name in self.value


class ColumnRow:
    """One column of the file: an attribute or a Handlebars template, its label, its place."""

    def __init__(self, builder: ExportBuilder, column: dict):
        self.builder = builder
        self.attribute = column.get("attribute")
        self.label = w.Text(value=column.get("label") or "",
                            placeholder=self.attribute or "Label",
                            layout=w.Layout(width="200px"))
        self.template = w.Text(value=column.get("template") or "",
                               placeholder="{{first_name}} {{last_name}}",
                               layout=w.Layout(width="320px"))
        # An attribute by its catalog label ("First name"), its field name beside it: the
        # header the file gets unless a label is typed.
        shown = builder.labels.get(self.attribute, self.attribute) if self.attribute else ""
        source = (w.HTML(f'{escape(shown)} <span class="wb-muted"><code>'
                         f'{escape(self.attribute)}</code></span>',
                         layout=w.Layout(width="320px")) if self.attribute else self.template)
        up, down, remove = (w.Button(icon=i, tooltip=t, layout=w.Layout(width="34px"))
                            for i, t in (("arrow-up", "Move up"), ("arrow-down", "Move down"),
                                         ("times", "Remove this column")))
        up.on_click(lambda _b: builder.move(self, -1))
        down.on_click(lambda _b: builder.move(self, 1))
        remove.on_click(lambda _b: builder.remove_column(self))
        self.problems = w.HTML()
        self.widget = w.VBox([w.HBox([source, self.label, up, down, remove],
                                     layout=w.Layout(gap="6px", align_items="center")),
                              self.problems])
        for widget in (self.label, self.template):
            widget.observe(lambda _c: builder.columns_changed(), "value")

    def column(self) -> dict:
        if self.attribute:
            column = {"attribute": self.attribute}
            if self.label.value.strip():
                column["label"] = self.label.value
            return column
        return {"template": self.template.value, "label": self.label.value}


class ExportDraft:
    """The export builder's model: the configuration being edited, where it came from, and the
    export service's answers about it (no widgets)."""

    def __init__(self, wb, audience_id: int | None = None, export_id: int | None = None):
        self.exports = wb.exports
        self.choices = wb.exports.choices()
        self.export_id, self.version = export_id, None
        self.stored: dict = {}
        if export_id is not None:
            export = wb.exports.get(export_id)
            self.version, self.stored = export.version, export.config.to_json()
            audience_id = export.audience_id
        self.audience = wb.audiences.get(audience_id)
        self.zone = wb.settings.timezone
        # Where run e-mails go: empty when no SMTP host is configured (they are not sent).
        self.smtp_host = wb.settings.smtp.host
        if export_id is None:
            self.can_edit = "export" in wb.audiences.actions(self.audience)
        else:
            self.can_edit = "edit" in wb.exports.actions(export)

    def value(self, name: str, default=None):
        """The stored configuration's ``name``, or a new configuration's (else ``default``)."""
        return self.stored.get(name, self.choices.new.get(name, default))

    def problems(self, config: dict) -> list[Problem]:
        return self.exports.check(self._kept(config))

    def _kept(self, config: dict) -> dict:
        """Fields the wizard has no control for keep their stored values: an export of the
        holdout (SPEC 6), edited here, must not start delivering the treatment; nor lose its
        ``max_staleness_days`` or ``csv.neutralize_formulas``, or any field added after this
        page. Whatever the wizard sends (``None`` too: "no compression") is the person's
        choice; what it leaves out is kept."""
        kept = {**{k: v for k, v in self.stored.items() if k not in config}, **config}
        if isinstance(self.stored.get("csv"), dict) and isinstance(config.get("csv"), dict):
            kept["csv"] = {**self.stored["csv"], **config["csv"]}
        return kept

    def save(self, config: dict):
        config = self._kept(config)
        if self.export_id is None:
            export = self.exports.create(config)
        else:
            export = self.exports.update(self.export_id, config, version=self.version)
        self.export_id, self.version = export.id, export.version
        return export


class ExportBuilder:
    def __init__(self, nav: Navigator, audience_id: int | None = None,
                 export_id: int | None = None):
        self.nav = nav
        self.draft = draft = ExportDraft(nav.wb, audience_id, export_id)
        self.audience = draft.audience
        self.fields = Fields()
        self.fields.on_fixed = self._fixed
        self.columns: list[ColumnRow] = []
        self.steps = [self._setup(), self._attributes(), self._notification()]
        self.step = 0
        self.widget = self._frame("Edit export" if export_id else "New export")
        for column in draft.value("columns"):
            self.add_column(column, refresh=False)
        self._watch()
        self._show_repeat()
        self.refresh_name()
        self.can_edit = draft.can_edit
        if not self.can_edit:  # the service would refuse the save anyway
            self.save_button.disabled = True
        self.go(0, check=False)

    def _setup(self) -> w.Widget:
        draft, f, choices = self.draft, self.fields, self.draft.choices
        schedule = draft.value("schedule") or {}
        start = datetime.fromisoformat(schedule["start"]) if schedule.get("start") else None
        repeat = schedule.get("repeat") or {}
        self.name = w.Text(value=draft.value("name") or "", placeholder="Weekly partner file",
                           layout=w.Layout(width="420px"))
        self.file_name = w.Text(value=draft.value("file_name"), layout=w.Layout(width="420px"))
        self.next_name = w.HTML()
        self.active = w.ToggleButton(value=draft.value("active"), description="Export Active",
                                     icon="toggle-on")
        self.day = w.DatePicker(value=start.date() if start else None)
        self.time = w.Text(value=start.strftime("%H:%M") if start else choices.start_time,
                           placeholder="HH:MM", layout=w.Layout(width="80px"))
        # A searchable list of the zone database's names: typing "Ber" offers Europe/Berlin,
        # and nothing else is taken (ensure_option).
        self.zone = w.Combobox(value=schedule.get("timezone", draft.zone),
                               options=draft.choices.timezones, ensure_option=True,
                               placeholder="Type to search: Europe/Berlin",
                               layout=w.Layout(width="220px"))
        self.repeats = w.Checkbox(value=bool(repeat), description="Repeat This Export",
                                  indent=False)
        repeat = repeat or choices.repeat
        self.every = w.BoundedIntText(value=repeat["every"], min=1, max=choices.max_every,
                                      layout=w.Layout(width="80px"))
        self.unit = w.Dropdown(options=choices.units, value=repeat["unit"],
                               layout=w.Layout(width="120px"))
        self.ends = w.DatePicker(value=parse_day(schedule["ends"])
                                 if schedule.get("ends") else None)
        self.repeat_box = w.VBox([
            w.HBox([w.HTML("every"), self.every, self.unit],
                   layout=w.Layout(gap="6px", align_items="center")),
            f.add("schedule.ends", self.ends, "End date")])
        self.window = w.BoundedIntText(
            value=schedule.get("cancel_after_minutes", choices.cancel_after_minutes), min=1,
            max=choices.max_cancel_after_minutes, layout=w.Layout(width="100px"))
        self.format = w.Dropdown(options=choices.formats, value=draft.value("format") or
                                 choices.formats[0][1])
        self._targets()
        return self._setup_fields()

    def _targets(self) -> None:
        """The destination and encryption drop-downs: the stored ones, or none chosen."""
        wb, draft = self.nav.wb, self.draft
        listed = wb.destinations.list()
        destinations = [d.name for d in listed]
        chosen = draft.value("destination")
        # Each by its name and kind ("Data lake (S3)"): picking the destination picks its kind.
        self.destination = w.Dropdown(options=[("Choose a destination", "")] +
                                      [(destination_label(d), d.name) for d in listed],
                                      value=chosen if chosen in destinations else "")
        # Step 1 cannot go on without one: say so before Next is pressed, and where they come
        # from when there are none.
        self.destination_hint = w.HTML()
        self.places = destination_places(listed) if destinations else ""
        self.destination.observe(lambda _c: self._destination_hint(), "value")
        self._destination_hint()
        encryptions = [e.name for e in wb.encryptions.list()]
        chosen = draft.value("encryption") or ""
        self.encryption = w.Dropdown(options=[("None (plain CSV)", "")] +
                                     [(n, n) for n in encryptions],
                                     value=chosen if chosen in encryptions + [""] else "")

    def _destination_hint(self) -> None:
        """"Required" until a destination is picked (then nothing: the pick says it)."""
        self.destination_hint.value = (
            "" if self.destination.value else
            f'<div class="wb-muted">Required: where the file goes ({escape(self.places)}).</div>'
            if self.places else
            '<div class="wb-warning">⚠ No destinations yet: an admin adds one under Manage '
            'Exports → Destinations, then it can be chosen here.</div>')

    def _setup_fields(self) -> w.Widget:
        f = self.fields
        start = w.HBox([self.day, self.time], layout=w.Layout(gap="6px"))
        when = w.HBox([start, self.zone], layout=w.Layout(gap="6px"))
        setup = w.VBox([
            f.add("name", self.name, "Name"),
            f.add("file_name", w.VBox([self.file_name, self.next_name]), "File name"),
            f.add("active", self.active, "State"),
            f.add("schedule.start", when, "Delivery date/time"),
            f.add("schedule.repeat", self.repeats, "Repeats"), self.repeat_box,
            f.add("schedule.cancel_after_minutes", self.window, "Cancel after (min)"),
            f.add("format", self.format, "Format"),
            f.add("destination", w.VBox([self.destination, self.destination_hint]),
                  "Destination"),
            f.add("encryption", self.encryption, "Encryption")])
        f.inputs["schedule.start"] = start  # a date's problem marks the date, not the zone
        f.inputs["schedule.timezone"] = self.zone
        f.notes["schedule.timezone"] = f.notes["schedule.start"]
        f.aliases["schedule"] = "schedule.start"  # "no run after now": the date to change
        f.watch("schedule.start", self.day, self.time, self.zone)
        f.watch("schedule.timezone", self.zone)
        f.watch("file_name", self.file_name)  # boxes of two: their input clears them
        f.watch("destination", self.destination)
        f.watch("schedule.repeat", self.every, self.unit)
        return setup

    def _attributes(self) -> w.Widget:
        f, choices, csv = self.fields, self.draft.choices, self.draft.value("csv")
        self.header = w.Checkbox(value=csv.get("header"), description="Include header row",
                                 indent=False)
        self.records = w.Dropdown(options=choices.record_delimiters,
                                  value=csv.get("record_delimiter"))
        self.delimiter = w.Dropdown(options=choices.field_delimiters,
                                    value=csv.get("field_delimiter"))
        self.labels = dict((name, text) for text, name in self.nav.wb.exports.field_labels())
        self.attribute_picker = w.Dropdown(options=[("+ Add an attribute", "")] +
                                           [(text, name) for name, text in self.labels.items()],
                                           value="")
        self.attribute_picker.observe(self._picked, "value")
        self.add_template = w.Button(description="Add custom column", icon="code",
                                     tooltip="A Handlebars template, e.g. {{first_name}}",
                                     layout=w.Layout(width="auto"))
        self.add_template.on_click(lambda _b: self.add_column({"template": "", "label": ""}))
        self.columns_box = w.VBox()
        self.preview = w.HTML()
        return w.VBox([
            f.add("csv.header", self.header, "Header"),
            f.add("csv.record_delimiter", self.records, "Record delimiter"),
            f.add("csv.field_delimiter", self.delimiter, "Field delimiter"),
            *self._file_choices(),
            w.HTML("<h4>Columns</h4>"), self.columns_box,
            f.add("columns", w.HBox([self.attribute_picker, self.add_template],
                                    layout=w.Layout(gap="8px")), "Add"),
            w.HTML("<h4>Preview</h4>"), self.preview])

    def _file_choices(self) -> list[w.Widget]:
        """What each file holds, its compression, its parts: each with a line that says what
        the choice means for the file name."""
        f, draft = self.fields, self.draft
        self.changes = w.Dropdown(options=CHANGES, value=draft.value("changes", "full"),
                                  layout=w.Layout(width="360px"))
        self.changes_hint = w.HTML()
        self.compression = w.Dropdown(options=COMPRESSIONS,
                                      value=draft.value("compression") or "",
                                      layout=w.Layout(width="120px"))
        self.compression_hint = w.HTML()
        self.use_name = w.Button(description="Use this name", icon="check",
                                 layout=w.Layout(width="auto"))
        self.use_name.on_click(lambda _b: self._use_suggested_name())
        mode, size = split_choice(draft.value("split"))
        self.split_mode = w.Dropdown(options=SPLITS, value=mode, layout=w.Layout(width="160px"))
        self.split_size = w.Text(value=size, placeholder="e.g. 100000",
                                 layout=w.Layout(width="120px"))
        self.split_unit = w.HTML()
        self.split_box = w.HBox([self.split_size, self.split_unit],
                                layout=w.Layout(gap="6px", align_items="center"))
        self.split_hint = w.HTML()
        self.file_line = w.HTML()
        split = w.HBox([self.split_mode, self.split_box],
                       layout=w.Layout(gap="6px", align_items="center"))
        f.watch("split", self.split_mode, self.split_size)
        for widget in (self.changes, self.compression, self.split_mode, self.split_size,
                       self.file_name):
            widget.observe(lambda _c: self._file_hints(), "value")
        self._file_hints()
        return [w.HTML("<h4>Files</h4>"),
                f.add("changes", w.VBox([self.changes, self.changes_hint]),
                      "What each file holds"),
                f.add("compression", w.VBox([self.compression,
                                             w.HBox([self.compression_hint, self.use_name],
                                                    layout=w.Layout(gap="8px",
                                                                    align_items="center"))]),
                      "Compression"),
                f.add("split", w.VBox([split, self.split_hint]), "Split into parts"),
                w.HBox([w.HTML(layout=w.Layout(width="150px", flex="none")), self.file_line])]

    def _file_hints(self) -> None:
        """The lines under the file choices, as they change."""
        name = self.file_name.value
        both = self.changes.value == "both"
        self.changes_hint.value = (
            '<div class="wb-muted">The first delivery holds everyone (nothing delivered yet to '
            'compare with); after that, changes since what this export last delivered '
            'successfully.' + (' <code>{change}</code> in the file name says which file is '
                               'which.' if self.changes.value in ("added", "removed", "both")
                               else ' Each row\'s last column, <code>change</code>, says '
                               '<code>added</code> or <code>removed</code>.') + '</div>'
            if self.changes.value != "full" else "")
        if both and "{change}" not in name:
            self.changes_hint.value += (
                '<div class="wb-warning">⚠ Two files need <code>{change}</code> in the file name '
                '(step 1), e.g. <code>' + escape(with_change(name)) + '</code>.</div>')
        elif self.changes.value == "removed" and "{change}" not in name:
            self.changes_hint.value += (
                '<div class="wb-warning">⚠ The first file is the full list: put '
                '<code>{change}</code> in the file name (step 1) so it is not read as removals, '
                'e.g. <code>' + escape(with_change(name)) + '</code>.</div>')
        suggestion = suggested_name(name, self.compression.value)
        self.use_name.layout.display = None if suggestion else "none"
        self.use_name.tooltip = f"File name: {suggestion}" if suggestion else ""
        if suggestion:
            self.compression_hint.value = (
                f'<div class="wb-warning">⚠ The file name ends <code>.csv</code> but the file '
                f'will be {escape(self.compression.value)}-compressed: name it '
                f'<code>{escape(suggestion)}</code>.</div>')
        else:
            self.compression_hint.value = (
                '<div class="wb-muted">Compressed before encryption.</div>'
                if self.compression.value else "")
        mode = self.split_mode.value
        self.split_box.layout.display = None if mode else "none"
        self.split_unit.value = {"rows": "rows per part",
                                 "mb": "MB per part (1 MB = 1,000,000 bytes)"}.get(mode, "")
        self.split_hint.value = (
            '<div class="wb-muted">Numbered parts, then a manifest listing them (names, rows, '
            'bytes, SHA-256), delivered last: the set is complete when it arrives.</div>'
            if mode else "")

    def _use_suggested_name(self) -> None:
        suggestion = suggested_name(self.file_name.value, self.compression.value)
        if suggestion:
            self.file_name.value = suggestion

    def _notification(self) -> w.Widget:
        # ``notify`` holds e-mail addresses (with "@") and names of webhook / Slack notice
        # targets: the addresses in the text box, the names picked from the targets.
        stored = self.draft.value("notify") or []
        targets = [(f"{t.name} ({'Slack' if t.type == 'slack' else 'Webhook'} → {t.host})",
                    t.name) for t in self.nav.wb.notices.list()]
        known = {name for _label, name in targets}
        targets += [(f"{name} (no such target)", name) for name in stored
                    if "@" not in name and name not in known]  # said at the field on Next
        self.notify = w.Textarea(value=", ".join(e for e in stored if "@" in e),
                                 placeholder="crm-ops@example.com, partner@example.com",
                                 layout=w.Layout(width="520px", height="70px"))
        self.notice_targets = TargetChecks(targets, [e for e in stored if "@" not in e])
        self.mail_note = w.HTML()
        self.notify.observe(lambda _c: self._mail_note(), "value")
        self.fields.watch("notify", self.notice_targets)
        self._mail_note()
        none_yet = "" if targets else (
            '<div class="wb-muted">No notice targets yet: an admin adds them under Manage '
            'Exports → Notices.</div>')
        return w.VBox([self.fields.add("notify", self.notify, "Email recipients"),
                       w.HTML('<div class="wb-muted">Comma separated. One e-mail per '
                              'run that completes or fails.</div>'), self.mail_note,
                       w.HBox([w.HTML('<div class="wb-field-label">Webhook / Slack</div>',
                                      layout=w.Layout(width="150px", flex="none")),
                               self.notice_targets], layout=w.Layout(align_items="flex-start")),
                       w.HTML('<div class="wb-muted">Tick the targets to tell. Each is told '
                              'how every run ended (signed JSON, or one Slack message); a '
                              'notice never fails a run.</div>' + none_yet)])

    def _mail_note(self) -> None:
        """Recipients while nothing sends mail: said here, as each run's History row says it."""
        reason = unsent_reason(self.addresses(), self.draft.smtp_host)
        self.mail_note.value = "" if reason is None else (
            f'<div class="wb-warning">⚠ E-mail will not be sent: {escape(reason)} '
            '(workbench.toml <code>[smtp] host</code>). Runs still deliver; each run\'s row in '
            'History says the e-mail was not sent.</div>')

    def _frame(self, title: str) -> w.Widget:
        """The title, the step tabs, the step shown, and Back / Next / Save."""
        # Enabled, so they read as steps one can go to: a click is Next or Back to that step
        # (forward only when the steps before it are valid).
        self.tabs = w.ToggleButtons(options=[(f"{i + 1}. {s}", i) for i, s in enumerate(STEPS)],
                                    value=0)
        self.tabs.observe(self._tab_clicked, "value")
        self.body = w.Box()
        self.back = w.Button(description="Back", icon="arrow-left")
        self.next = w.Button(description="Next", icon="arrow-right")
        self.next.add_class("wb-primary")
        self.save_button = w.Button(description="Save export", icon="save")
        self.save_button.add_class("wb-primary")
        self.back.on_click(lambda _b: self.go(self.step - 1))
        self.next.on_click(lambda _b: self.go(self.step + 1))
        self.save_button.on_click(lambda _b: self.save())
        self.message = w.HTML()
        self.rest = w.HTML()
        close = w.Button(description="← " + self.audience.name, tooltip="Back to the audience")
        close.add_class("wb-link")
        close.on_click(lambda _b: self.nav.go("audience", audience_id=self.audience.id))
        return w.VBox([
            w.HBox([close, w.HTML(f'<span class="wb-title">{title}</span>')],
                   layout=w.Layout(align_items="center")),
            self.tabs, self.body, self.rest, self.message,
            w.HBox([self.back, self.next, self.save_button], layout=w.Layout(gap="8px"))],
            layout=w.Layout(gap="8px"))

    def _tab_clicked(self, change) -> None:
        if change["new"] != self.step and not self.go(change["new"]):
            self.tabs.value = self.step

    def _fixed(self) -> None:
        """Every marked field fixed: the complaint above the buttons goes too."""
        if "wb-error" in self.message.value:
            self.message.value = ""

    def _watch(self) -> None:
        self.repeats.observe(lambda _c: self._show_repeat(), "value")
        for widget in (self.name, self.file_name, self.day, self.time, self.zone, self.every,
                       self.unit, self.repeats, self.encryption):
            widget.observe(lambda _c: self.refresh_name(), "value")
        for widget in (self.header, self.records, self.delimiter):
            widget.observe(lambda _c: self.columns_changed(), "value")
        for widget in (self.compression, self.split_mode, self.split_size):
            widget.observe(lambda _c: self.refresh_name(), "value")
        self.changes.observe(lambda _c: self.columns_changed(), "value")

    # -- the configuration ----------------------------------------------------------------------

    def config(self) -> dict:
        start = f"{self.day.value.isoformat()}T{self.time.value.strip()}" if self.day.value \
            else ""
        schedule: dict = {"start": start, "timezone": self.zone.value.strip(),
                          "cancel_after_minutes": self.window.value}
        if self.repeats.value:
            schedule["repeat"] = {"every": self.every.value, "unit": self.unit.value}
            if self.ends.value:
                schedule["ends"] = self.ends.value.isoformat()
        return {"name": self.name.value, "audience": self.audience.id,
                "file_name": self.file_name.value, "active": self.active.value,
                "schedule": schedule, "destination": self.destination.value,
                "encryption": self.encryption.value or None, "format": self.format.value,
                **self.file_config(),
                "csv": {"header": self.header.value, "record_delimiter": self.records.value,
                        "field_delimiter": self.delimiter.value},
                "columns": [c.column() for c in self.columns], "notify": self.recipients()}

    def file_config(self) -> dict:
        """What each file holds, its compression and parts, as the configuration says them."""
        return {"changes": self.changes.value, "compression": self.compression.value or None,
                "split": split_config(self.split_mode.value, self.split_size.value)}

    def recipients(self) -> list[str]:
        """The configuration's ``notify``: the e-mail addresses typed, then the notice
        targets picked."""
        return self.addresses() + list(self.notice_targets.value)

    def addresses(self) -> list[str]:
        return [p.strip() for p in self.notify.value.replace(";", ",").replace("\n", ",")
                .split(",") if p.strip()]

    def problems(self) -> list[Problem]:
        problems = self.draft.problems(self.config())
        if self.split_mode.value == "mb" and not megabytes_valid(self.split_size.value):
            # Sent as 0 bytes: said in the unit the page asks for.
            problems = [replace(p, message="must be a number of MB greater than 0 (got "
                                f"{self.split_size.value.strip()!r}); 1 MB is 1,000,000 bytes")
                        if p.field.startswith("split") else p for p in problems]
        return problems

    # -- steps ----------------------------------------------------------------------------------

    def go(self, step: int, check: bool = True) -> bool:
        """Move to ``step``; forward only when the steps before it are valid."""
        step = max(0, min(step, len(STEPS) - 1))
        if check and step > self.step:
            problems = self.problems()
            for before in range(self.step, step):
                if self._show(problems, before):
                    self.message.value = ('<div class="wb-error">Fix the marked fields to go '
                                          'on.</div>')
                    return False
        self.message.value = "" if self.can_edit else (
            '<div class="wb-warning">You may look at this export, not change it.</div>')
        self.step = step
        self.tabs.value = step
        self.body.children = [self.steps[step]]
        self.back.disabled = step == 0
        self.next.layout.display = "none" if step == len(STEPS) - 1 else None
        self.save_button.layout.display = None if step == len(STEPS) - 1 else "none"
        if step == 1:
            self.refresh_preview()
        return True

    def _show(self, problems: list[Problem], step: int) -> list[Problem]:
        """Show the problems of ``step`` at their fields; returns them."""
        mine = [p for p in problems if p.field.split(".")[0] in STEP_FIELDS[step]]
        for row in self.columns:
            row.problems.value = ""
        column_problems = [p for p in mine if p.field.startswith("columns.")]
        for problem in column_problems:
            position = problem.field.split(".")[1]
            if position.isdigit() and int(position) < len(self.columns):
                self.columns[int(position)].problems.value += \
                    f'<div class="wb-error">✖ {escape(problem.message)}</div>'
        rest = self.fields.show([p for p in mine if p not in column_problems])
        # What no field of this step shows (an audience no longer active): above the buttons.
        self.rest.value = "".join(f'<div class="wb-error">✖ {escape(p)}</div>' for p in rest)
        if not mine:
            self._fixed()
        return mine

    def save(self) -> bool:
        problems = self.problems()
        for step in range(len(STEPS)):
            if self._show(problems, step):
                self.go(step, check=False)
                self._show(problems, step)
                self.message.value = '<div class="wb-error">Not saved: fix the marked fields.</div>'
                return False
        try:
            self.draft.save(self.config())
        except WorkbenchError as exc:
            self.message.value = f'<div class="wb-error">Not saved: {escape(one_line(exc))}</div>'
            return False
        self.nav.go("audience", audience_id=self.audience.id, tab="exports")
        return True

    # -- live parts -----------------------------------------------------------------------------

    def refresh_name(self) -> None:
        """The next run's file name, or what keeps it from being named: the file name's own
        problem here; a schedule not yet complete only as a hint (its field says what is
        wrong, once Next is pressed: nothing complains about a field not yet touched)."""
        run = '<br><code>{run}</code> is the run\'s number: each run gets a file of its own.' \
            if "{run}" in self.file_name.value else ""
        config = self.config()
        notes = file_notes(config.get("compression"), config.get("split"))
        parted = "numbered parts" in notes  # a valid split: the parts' names are shown
        if parted:  # the names say the manifest comes last
            notes = notes.replace(", then a manifest", "")
        notes = f" ({escape(notes)})" if notes else ""
        suggestion = suggested_name(self.file_name.value, self.compression.value)
        # The same advice as the Compression field's (step 2), where the name is typed.
        advice = (f'<div class="wb-warning">⚠ The name ends <code>.csv</code> but the file '
                  f'will be {escape(self.compression.value)}-compressed: name it <code>'
                  f'{escape(suggestion)}</code>.</div>') if suggestion else ""
        self.file_line.value = ""
        try:
            name = self.nav.wb.exports.next_file_name(config)
            shown = next_files(name, parted)
            self.next_name.value = (f'<div class="wb-muted">{shown}{notes}{run}</div>{advice}')
            # Step 2 says it too, under the choices that change it.
            self.file_line.value = f'<div class="wb-muted">{shown}{notes}</div>'

        except ValueError as exc:  # the template itself
            self.next_name.value = f'<div class="wb-muted">{escape(str(exc))}</div>'
        except WorkbenchError:  # the schedule (or the audience): their fields say it
            self.next_name.value = ('<div class="wb-muted">The next file\'s name shows once the '
                                    f'delivery date and time are set.{run}</div>{advice}')

    def _show_repeat(self) -> None:
        self.repeat_box.layout.display = None if self.repeats.value else "none"

    def _picked(self, change) -> None:
        if change["new"]:
            self.add_column({"attribute": change["new"]})
            self.attribute_picker.value = ""

    def add_column(self, column: dict, refresh: bool = True) -> ColumnRow:
        row = ColumnRow(self, column)
        self.columns.append(row)
        self.columns_box.children = [r.widget for r in self.columns]
        if refresh:
            self.columns_changed()
        return row

    def remove_column(self, row: ColumnRow) -> None:
        self.columns.remove(row)
        self.columns_box.children = [r.widget for r in self.columns]
        self.columns_changed()

    def move(self, row: ColumnRow, by: int) -> None:
        index = self.columns.index(row)
        target = max(0, min(len(self.columns) - 1, index + by))
        self.columns.insert(target, self.columns.pop(index))
        self.columns_box.children = [r.widget for r in self.columns]
        self.columns_changed()

    def columns_changed(self) -> None:
        """Template errors as typed, and the preview of the first rows."""
        if self.step == 1:
            self._show(self.problems(), 1)
            self.refresh_preview()

    def refresh_preview(self) -> None:
        config = self.config()
        try:
            preview = self.nav.wb.exports.preview(config, limit=5)
        except WorkbenchError as exc:
            self.preview.value = f'<div class="wb-muted">No preview: {escape(one_line(exc))}</div>'
            return
        header, rows = list(preview.header), [list(r) for r in preview.rows]
        column = self.changes.value == "column" and (not header or header[-1] != "change")
        if column:  # the file's last column, shown as the first delivery fills it
            header, rows = header + ["change"], [r + ["added"] for r in rows]
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape('' if v is None else v)}</td>"
                                        for v in row) + "</tr>" for row in rows)
        # The members as of the last processing: which of them a changes-only run delivers
        # depends on what the export last delivered, known only when it runs.
        changes = '' if self.changes.value == "full" else (
            ' <i>(every member: a run delivers only the changes against its last delivery'
            + ('; the first delivery marks everyone <code>added</code>' if column else '')
            + ')</i>')
        self.preview.value = (f'<div class="wb-muted">First rows as of {preview.as_of}'
                              f'{changes}:</div>'
                              f'<table class="wb-keys"><tr>{head}</tr>{body}</table>')
