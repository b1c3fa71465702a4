"""The view of a job form (shared by ``/training/new`` and ``/backtest/new``): one tab per step with
Back/Next, each field with its problems under it, and beside them the problems, the live YAML
preview of exactly what will be submitted, and the Submit button.

CSS classes: ``stockbot-form-steps`` (the step tabs), ``stockbot-back``, ``stockbot-next``,
``stockbot-field-<path>`` on each input (dots and underscores as hyphens: ``data.symbols`` ->
``stockbot-field-data-symbols``, ``policy.run_id`` -> ``stockbot-field-policy-run-id``),
``stockbot-field-error`` under a field, ``stockbot-section-error`` under a section title,
``stockbot-step-problems`` (problems per step), ``stockbot-form-errors`` (the list of all problems;
absent when valid), ``stockbot-form-valid``, ``stockbot-yaml-preview`` (a ``<pre>`` of the YAML),
``stockbot-submit``, ``stockbot-submitted`` (the link to the new run), ``stockbot-form-message`` (a
failure that is no field's).

Dates are typed (``YYYY-MM-DD``) into the text input ``stockbot-field-<path>``; beside it a date picker
``stockbot-date-picker`` (also ``stockbot-field-<path>-picker``) opens within the chosen data's
dates. Notes that do not block a submit: ``stockbot-field-note`` under a field (with the note's own
class: ``stockbot-data-coverage`` under ``data.start``, ``stockbot-date-outside``,
``stockbot-budget-estimate``), and ``stockbot-notices`` beside the Submit button (``stockbot-estimate``,
``stockbot-in-sample``).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import panel as pn

from dashboards.layout import link, notice
from dashboards.state.form import FormState, Note
from dashboards.state.schema import DATE_HINT, TEXT_KINDS, FieldKind, FieldSpec, format_text, parse_text

# a Select cannot show None as a value: the "leave it out" choice is this string in the widget
_NONE = ""
SIDE_WIDTH = 400
PICKER_WIDTH = 150
_COLORS = {"info": "#33526e", "warning": "#8a5300"}


def _options(state: FormState, spec: FieldSpec) -> dict[str, Any]:
    return {label: _NONE if v is None else v for label, v in state.choices(spec).items()}


def _widget(state: FormState, spec: FieldSpec) -> pn.widgets.Widget:
    value = state.values.get(spec.path)
    common: dict[str, Any] = {
        "label": spec.label,
        "css_classes": [spec.css_class],
        "sizing_mode": "stretch_width",
    }
    if spec.kind in (FieldKind.BOOL, FieldKind.SWITCH):
        return pn.widgets.Checkbox(value=bool(value), **common)
    if spec.help:
        common["description"] = spec.help
    if spec.kind is FieldKind.INT:
        return pn.widgets.IntInput(value=value, **common)
    if spec.kind is FieldKind.FLOAT:
        return pn.widgets.FloatInput(value=value, **common)
    if spec.kind is FieldKind.CHOICE:
        return pn.widgets.Select(
            options=_options(state, spec), value=_NONE if value is None else value, **common
        )
    placeholder = "comma-separated" if spec.kind in (FieldKind.INT_LIST, FieldKind.STR_LIST) else ""
    if spec.kind is FieldKind.PATH:
        placeholder = "a file in your data folder"
    if spec.kind is FieldKind.DATE:
        placeholder = DATE_HINT
    return pn.widgets.TextInput(value=format_text(spec, value), placeholder=placeholder, **common)


def _picker(state: FormState, spec: FieldSpec) -> pn.widgets.DatePicker:
    """A calendar beside a date's text input; opens within the data's dates (flatpickr starts at
    the bound nearest today when no date is set)."""
    first, last = state.date_bounds()
    value = state.values.get(spec.path)
    return pn.widgets.DatePicker(
        label="or pick",
        value=value if isinstance(value, dt.date) else None,
        start=first,
        end=last,
        width=PICKER_WIDTH,
        css_classes=["stockbot-date-picker", f"{spec.css_class}-picker"],
    )


def note_html(note: Note) -> str:
    color = _COLORS.get(note.level, _COLORS["info"])
    return (
        f'<div class="{note.css_class}" data-level="{note.level}" style="color:{color}">'
        f"{html.escape(note.text)}</div>"
    )


class FieldView:
    """One input bound to one field of the state, both ways, with its problems under it."""

    def __init__(self, state: FormState, spec: FieldSpec) -> None:
        self.state, self.spec = state, spec
        self.widget = _widget(state, spec)
        self.problems = pn.pane.HTML("", css_classes=["stockbot-field-error"], styles={"color": "#b00020"})
        self.note = pn.pane.HTML("", css_classes=["stockbot-field-note"], sizing_mode="stretch_width")
        self.picker: pn.widgets.DatePicker | None = None
        entry: Any = self.widget
        if spec.kind is FieldKind.DATE:
            self.picker = _picker(state, spec)
            self.picker.param.watch(self._picked, "value")
            entry = pn.Row(self.widget, self.picker, sizing_mode="stretch_width")
        self.panel = pn.Column(entry, self.problems, self.note, sizing_mode="stretch_width")
        self.widget.param.watch(self._typed, "value")
        self.sync()

    def _picked(self, event: Any) -> None:
        if event.new is not None and event.new != self.state.values.get(self.spec.path):
            self.state.set(self.spec.path, event.new)

    def _typed(self, event: Any) -> None:
        kind = self.spec.kind
        if kind in TEXT_KINDS:
            self.state.set_text(self.spec.path, event.new or "")
        elif kind is FieldKind.CHOICE:
            self.state.set(self.spec.path, None if event.new == _NONE else event.new)
        else:
            self.state.set(self.spec.path, event.new)

    def sync(self) -> None:
        """Show the state's value (changed elsewhere, e.g. a chosen run), visibility and problems."""
        value = self.state.values.get(self.spec.path)
        kind = self.spec.kind
        if kind is FieldKind.CHOICE:
            options = _options(self.state, self.spec)
            if self.widget.options != options:
                self.widget.options = options
            value = _NONE if value is None else value
        elif kind in (FieldKind.BOOL, FieldKind.SWITCH):
            value = bool(value)
        if kind in TEXT_KINDS:
            # leave what was typed alone when it already means the same value
            if parse_text(self.spec, self.widget.value or "") != value:
                self.widget.value = format_text(self.spec, value)
        elif self.widget.value != value:
            self.widget.value = value
        if self.picker is not None:
            self._sync_picker(self.picker, value)
        self.panel.visible = self.state.active(self.spec)
        messages = self.state.errors_at(self.spec.path)
        self.problems.object = "<br>".join(html.escape(m) for m in messages)
        self.problems.visible = bool(messages)
        note = self.state.field_note(self.spec.path)
        self.note.object = note_html(note) if note else ""
        self.note.visible = note is not None

    def _sync_picker(self, picker: pn.widgets.DatePicker, value: Any) -> None:
        first, last = self.state.date_bounds()
        picked = value if isinstance(value, dt.date) else None
        if (picker.start, picker.end, picker.value) != (first, last, picked):
            picker.param.update(start=first, end=last, value=picked)


def problems_html(state: FormState) -> str:
    if state.valid:
        return '<div class="stockbot-form-valid">✓ The configuration is valid.</div>'
    items = "".join(
        f"<li><code>{html.escape(str(e.get('field') or 'config'))}</code>: "
        f"{html.escape(str(e['message']))}</li>"
        for e in state.errors
    )
    return f'<ul class="stockbot-form-errors">{items}</ul>'


def form_view(state: FormState, submit_label: str) -> pn.Row:
    fields = [FieldView(state, spec) for spec in state.specs()]
    by_path = {f.spec.path: f for f in fields}

    section_problems: dict[str, pn.pane.HTML] = {}

    def step_panel(index: int) -> pn.Column:
        parts: list[Any] = []
        for section in state.steps[index].sections:
            parts.append(pn.pane.Markdown(f"#### {section.title}"))
            if section.key:
                pane = pn.pane.HTML(css_classes=["stockbot-section-error"], styles={"color": "#b00020"})
                section_problems[section.key] = pane
                parts.append(pane)
            parts.extend(by_path[f.path].panel for f in section.fields)
        return pn.Column(*parts, sizing_mode="stretch_width")

    tabs = pn.Tabs(
        *[(f"{i + 1}. {s.title}", step_panel(i)) for i, s in enumerate(state.steps)],
        active=state.step,
        css_classes=["stockbot-form-steps"],
        sizing_mode="stretch_width",
    )
    back = pn.widgets.Button(label="← Back", css_classes=["stockbot-back"], width=110)
    forward = pn.widgets.Button(label="Next →", css_classes=["stockbot-next"], width=110)
    back.on_click(lambda _: state.previous_step())
    forward.on_click(lambda _: state.next_step())

    problems = pn.pane.HTML(problems_html(state), sizing_mode="stretch_width")
    notices = pn.pane.HTML("", css_classes=["stockbot-notices"], sizing_mode="stretch_width")
    where = pn.pane.HTML("", css_classes=["stockbot-step-problems"], styles={"color": "#b00020"})
    # long YAML lines scroll inside the box instead of widening the page
    preview = pn.pane.HTML(sizing_mode="stretch_width", styles={"overflow-x": "auto", "max-width": "100%"})
    submit = pn.widgets.Button(
        label=submit_label, color="primary", css_classes=["stockbot-submit"], disabled=not state.valid
    )
    submitted = pn.pane.HTML("", visible=False)
    message = notice("", "stockbot-form-message", "danger")
    message.visible = False

    def show_preview() -> None:
        preview.object = f'<pre class="stockbot-yaml-preview">{html.escape(state.yaml_preview())}</pre>'

    def show_notices() -> None:
        shown = state.notices()
        notices.object = "".join(note_html(n) for n in shown)
        notices.visible = bool(shown)

    def on_values(*_: Any) -> None:
        for f in fields:
            f.sync()
        show_preview()
        show_notices()

    def on_errors(*_: Any) -> None:
        for f in fields:
            f.sync()
        for key, pane in section_problems.items():
            messages = state.section_errors(key)
            pane.object = "<br>".join(html.escape(m) for m in messages)
            pane.visible = bool(messages)
        problems.object = problems_html(state)
        submit.disabled = not state.valid
        counts = [state.step_errors(i) for i in range(len(state.steps))]
        where.object = " · ".join(
            f"{s.title}: {n} problem{'s' if n > 1 else ''}"
            for s, n in zip(state.steps, counts, strict=True)
            if n
        )

    def on_step(*_: Any) -> None:
        tabs.active = state.step
        back.disabled = state.step == 0
        forward.disabled = state.step == len(state.steps) - 1

    def on_tab(event: Any) -> None:
        state.step = event.new

    def on_submit(_: Any) -> None:
        submit.disabled = True
        try:
            state.submit()
        finally:
            submit.disabled = not state.valid

    def on_submitted(*_: Any) -> None:
        url = state.run_url(state.submitted)
        submitted.object = f"Submitted: {link(url, state.submitted, 'stockbot-submitted')}"
        submitted.visible = bool(state.submitted)

    def on_message(*_: Any) -> None:
        message.object = html.escape(state.message)
        message.visible = bool(state.message)

    def on_notes(*_: Any) -> None:
        for f in fields:
            f.sync()
        show_notices()

    state.param.watch(on_values, "values")
    state.param.watch(on_notes, list(state.note_params))
    state.param.watch(on_errors, ["errors", "valid"])
    state.param.watch(on_step, "step")
    state.param.watch(on_submitted, "submitted")
    state.param.watch(on_message, "message")
    tabs.param.watch(on_tab, "active")
    submit.on_click(on_submit)
    show_preview()
    show_notices()
    on_errors()
    on_step()
    on_message()

    side = pn.Column(
        pn.pane.Markdown("#### Problems"),
        problems,
        pn.pane.Markdown("#### What will be submitted"),
        preview,
        notices,
        submit,
        submitted,
        message,
        width=SIDE_WIDTH,
    )
    main = pn.Column(where, tabs, pn.Row(back, forward), sizing_mode="stretch_width")
    return pn.Row(main, side, sizing_mode="stretch_width")
