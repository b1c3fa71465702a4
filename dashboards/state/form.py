"""A job form's state: field values -> the raw config -> validation in the session -> YAML preview
-> submit. The same checks as the service's submit run on every change (``validate_job``), so the
errors shown next to the inputs are the ones a submit would answer with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import param
import yaml

from dashboards.state.coverage import Coverage, data_coverage
from dashboards.state.schema import FieldKind, FieldSpec, date_problem, parse_text
from dashboards.viewer import Viewer, service_prefix
from stockbot.errors import ConfigError, StockBotError
from stockbot.jobs import submit, validate_job
from stockbot.store.runs import RunStore

NONE_LABEL = "—"  # the choice of a nullable selector that leaves the field out


@dataclass(frozen=True)
class Section:
    """Fields of one config section (``key`` "data", or "" for top-level fields)."""

    title: str
    key: str
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True)
class Step:
    title: str
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class Note:
    """Something a person should know before submitting that is not a problem (the form stays
    valid): the data's coverage, the expected duration, an in-sample warning. ``css_class`` names it
    on the page; ``level`` is ``info`` or ``warning``."""

    text: str
    css_class: str
    level: str = "info"


def put(tree: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating the sections on the way."""
    *parents, leaf = path.split(".")
    node = tree
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def plain(value: Any) -> Any:
    """YAML-safe: tuples as lists, paths as strings (dates stay dates: YAML has them)."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _within(day: dt.date, cov: Coverage) -> bool:
    return cov.first is None or cov.last is None or cov.first <= day <= cov.last


class FormState(param.Parameterized):
    """Subclasses set ``job_kind`` and return their steps from :meth:`build_steps`."""

    job_kind: ClassVar[str]
    # parameters the notes follow (a view refreshes its notes when one changes)
    note_params: ClassVar[tuple[str, ...]] = ("coverage",)

    values = param.Dict(default={}, doc="field path -> value (config types: dates, lists, numbers)")
    step = param.Integer(default=0, bounds=(0, None))
    errors = param.List(default=[], doc='validation problems: [{"field": "a.b" | None, "message"}]')
    valid = param.Boolean(default=False)
    submitted = param.String(default="", doc="the id of the run this form submitted")
    message = param.String(default="", doc="a failure that is no field's (the store is down, ...)")
    coverage = param.ClassSelector(
        class_=Coverage, default=None, allow_None=True, doc="the dates and symbols the chosen data holds"
    )

    def __init__(self, viewer: Viewer, store: RunStore | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.viewer = viewer
        self._store = store
        self.steps: tuple[Step, ...] = self.build_steps()
        self._specs = {f.path: f for s in self.steps for sec in s.sections for f in sec.fields}
        with param.parameterized.discard_events(self):
            self.values = {path: spec.default for path, spec in self._specs.items()}
            self._prepare()
        self.validate()
        self._refresh()

    def build_steps(self) -> tuple[Step, ...]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Hook: adjust the initial values (events are held back; validation follows)."""

    @property
    def store(self) -> RunStore:
        if self._store is None:
            self._store = RunStore()
        return self._store

    # ------------------------------------------------------------------ fields

    def specs(self) -> list[FieldSpec]:
        return list(self._specs.values())

    def spec(self, path: str) -> FieldSpec:
        try:
            return self._specs[path]
        except KeyError:
            raise KeyError(f"the {self.job_kind} form has no field {path!r}") from None

    def active(self, spec: FieldSpec) -> bool:
        """Whether a field applies to the current values (inactive ones are hidden, not sent)."""
        return True

    def choices(self, spec: FieldSpec) -> dict[str, Any]:
        """Label -> value of a choice field."""
        out = {NONE_LABEL: None} if spec.nullable else {}
        out.update({str(o): o for o in spec.options})
        return out

    def set(self, path: str, value: Any) -> None:
        """Change one field (and whatever :meth:`_adjust` ties to it); revalidates."""
        self.spec(path)
        if path in self.values and self.values[path] == value and type(self.values[path]) is type(value):
            return
        values = {**self.values, path: value}
        self.values = self._adjust(path, value, values)

    def set_text(self, path: str, text: str) -> None:
        """Change a text field from what was typed (lists comma- or space-separated)."""
        self.set(path, parse_text(self.spec(path), text))

    def _adjust(self, path: str, value: Any, values: dict[str, Any]) -> dict[str, Any]:
        """Hook: fields that follow another's change (e.g. a valid action for an env kind)."""
        return values

    # ------------------------------------------------------------------ config

    def raw(self) -> dict[str, Any]:
        """The config that will be submitted: every active field, except empty optional ones."""
        out: dict[str, Any] = {}
        for spec in self._specs.values():
            if spec.local or not self.active(spec):
                continue
            value = self.values.get(spec.path)
            if value is None and spec.default is None:
                continue  # left empty: the config's default applies
            put(out, spec.path, plain(value))
        return out

    def yaml_preview(self) -> str:
        return yaml.safe_dump(self.raw(), sort_keys=False, default_flow_style=None)

    @param.depends("values", watch=True)
    def _values_changed(self) -> None:
        self.validate()
        self._refresh()

    def validate(self) -> bool:
        """Run the submit checks in this session; fills ``errors``; True when the config is valid."""
        errors = self._job_errors()
        typed = self._date_errors()
        if typed:
            # the config's own message for a typed non-date ("input is too short") says less
            fields = {e["field"] for e in typed}
            errors = typed + [e for e in errors if e.get("field") not in fields]
        self.param.update(errors=errors, valid=not errors)
        return not errors

    def _job_errors(self) -> list[dict[str, Any]]:
        try:
            validate_job(
                self.job_kind,
                self.raw(),
                self._store,
                data_root=self.viewer.data_root,
                parent_owner=self.viewer.parent_owner,
            )
        except ConfigError as e:
            return list(e.errors)
        except StockBotError as e:
            return [{"field": None, "message": str(e)}]
        return []

    def _date_errors(self) -> list[dict[str, Any]]:
        out = []
        for spec in self._specs.values():
            if spec.kind is FieldKind.DATE and self.active(spec):
                problem = date_problem(self.values.get(spec.path))
                if problem:
                    out.append({"field": spec.path, "message": problem})
        return out

    # ------------------------------------------------------------------ notes

    def _refresh(self) -> None:
        """Hook: recompute what follows the values besides validation (subclasses add theirs)."""
        coverage = data_coverage(self.values, self.viewer.data_root)
        if coverage != self.coverage:
            self.coverage = coverage

    def date_bounds(self) -> tuple[dt.date | None, dt.date | None]:
        """Where the date pickers open and end: the chosen data's first and last date."""
        cov = self.coverage
        return (cov.first, cov.last) if cov is not None else (None, None)

    def field_note(self, path: str) -> Note | None:
        """The note shown under a field: the data's coverage under ``data.start``; under any date
        outside that coverage, that it is."""
        cov = self.coverage
        value = self.values.get(path)
        if cov is not None and isinstance(value, dt.date) and not _within(value, cov):
            return Note(f"{value} is outside the data ({cov.text})", "stockbot-date-outside", "warning")
        if path == "data.start" and cov is not None:
            return Note(cov.text, "stockbot-data-coverage", "warning" if cov.problem else "info")
        return None

    def notices(self) -> list[Note]:
        """Notes shown beside the Submit button (subclasses: the duration, an in-sample warning)."""
        return []

    def errors_at(self, path: str) -> list[str]:
        """Messages of the problems at ``path`` or inside it (``data.symbols.1`` is data.symbols')."""
        return [
            str(e["message"])
            for e in self.errors
            if e.get("field") and (e["field"] == path or str(e["field"]).startswith(path + "."))
        ]

    def section_errors(self, key: str) -> list[str]:
        """Problems of a whole section (``split``: val_end before train_end), not of one field."""
        return [str(e["message"]) for e in self.errors if key and e.get("field") == key]

    def step_errors(self, index: int) -> int:
        """How many problems belong to the fields of step ``index`` (for its tab label)."""
        sections = self.steps[index].sections
        paths = [f.path for sec in sections for f in sec.fields] + [sec.key for sec in sections if sec.key]
        return sum(1 for e in self.errors if any(self._belongs(e.get("field"), p) for p in paths))

    @staticmethod
    def _belongs(field: str | None, path: str) -> bool:
        return bool(field) and (field == path or str(field).startswith(path + "."))

    # ------------------------------------------------------------------ steps and submit

    def next_step(self) -> None:
        self.step = min(self.step + 1, len(self.steps) - 1)

    def previous_step(self) -> None:
        self.step = max(self.step - 1, 0)

    def submit(self) -> str | None:
        """Validate and submit as the viewer; the new run's id, or None (see ``errors``/``message``)."""
        self.message = ""
        if not self.validate():
            return None
        try:
            run_id = submit(
                self.job_kind,
                self.raw(),
                owner=self.viewer.name,
                store=self._store,
                data_root=self.viewer.data_root,
                parent_owner=self.viewer.parent_owner,
            )
        except ConfigError as e:  # the store changed since the last check (a parent run vanished)
            self.param.update(errors=list(e.errors), valid=False)
            return None
        except StockBotError as e:
            self.message = f"not submitted: {e}"
            return None
        self.submitted = run_id
        return run_id

    @staticmethod
    def run_url(run_id: str) -> str:
        return f"{service_prefix()}runs/{run_id}"
