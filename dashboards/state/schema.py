"""Form fields generated from the pydantic config models: kind, default, choices and help text.

A page names the fields it shows (``"data.symbols"``); :func:`field_spec` reads the field's type from
the model, its default from the job's default config, and raises for a type it has no input for, so
a schema change shows up in the tests instead of as a broken form.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo


class FieldKind(StrEnum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    PATH = "path"
    DATE = "date"
    CHOICE = "choice"
    INT_LIST = "int_list"
    STR_LIST = "str_list"
    SWITCH = "switch"  # an optional sub-model the config accepts as true/false (features.macd)


# typed as text (dates too: a date picker alone cannot be typed into)
TEXT_KINDS = frozenset(
    {FieldKind.STR, FieldKind.PATH, FieldKind.INT_LIST, FieldKind.STR_LIST, FieldKind.DATE}
)
DATE_HINT = "YYYY-MM-DD"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class FieldSpec:
    """One input of a form. ``local`` fields steer the form and are never submitted."""

    path: str
    kind: FieldKind
    default: Any
    label: str
    help: str = ""
    options: tuple[Any, ...] = ()
    nullable: bool = False
    local: bool = False

    @property
    def css_class(self) -> str:
        return "stockbot-field-" + self.path.replace(".", "-").replace("_", "-")


_BOUNDS = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
)


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for cls, attr, sign in _BOUNDS:
            if isinstance(item, cls):
                parts.append(f"{sign} {getattr(item, attr)}")
    return ", ".join(parts)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], len(rest) < len(args)
        raise TypeError(f"no form input for the union {annotation}")
    return annotation, False


def _model_of(annotation: Any) -> type[BaseModel] | None:
    inner, _ = _unwrap_optional(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


_SIMPLE: dict[Any, FieldKind] = {
    bool: FieldKind.BOOL,
    int: FieldKind.INT,
    float: FieldKind.FLOAT,
    str: FieldKind.STR,
    dt.date: FieldKind.DATE,
    Path: FieldKind.PATH,
}
_LISTS: dict[Any, FieldKind] = {int: FieldKind.INT_LIST, str: FieldKind.STR_LIST}


def _unannotated(annotation: Any) -> Any:
    """``Annotated[Path, validator]`` -> ``Path``: a validator does not change the input."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _classify(annotation: Any, path: str) -> tuple[FieldKind, tuple[Any, ...], bool]:
    inner, nullable = _unwrap_optional(_unannotated(annotation))
    inner = _unannotated(inner)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    kind: FieldKind | None = None
    options: tuple[Any, ...] = ()
    if origin is typing.Literal:
        kind, options = FieldKind.CHOICE, tuple(args)
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        kind = _LISTS.get(args[0])
    elif origin is None and inner in _SIMPLE:
        kind = _SIMPLE[inner]
    elif _model_of(inner) is not None:
        kind = FieldKind.SWITCH
    if kind is None:
        raise TypeError(f"no form input for {path} ({annotation})")
    return kind, options, nullable


def field_spec(model: type[BaseModel], path: str, defaults: BaseModel, **overrides: Any) -> FieldSpec:
    """The :class:`FieldSpec` of ``path`` in ``model``; its default is ``defaults``' value there
    (or the sub-model's own default when ``defaults`` leaves that section out)."""
    parts = path.split(".")
    current: type[BaseModel] = model
    value: Any = defaults
    for part in parts[:-1]:
        sub = _model_of(current.model_fields[part].annotation)
        if sub is None:
            raise TypeError(f"{path}: {part!r} is not a section")
        current = sub
        value = getattr(value, part, None) if value is not None else None
        if value is None:
            value = sub()  # e.g. a backtest's optional costs: the CostConfig defaults
    name = parts[-1]
    info = current.model_fields.get(name)
    if info is None:
        raise KeyError(f"{path}: {current.__name__} has no field {name!r}")
    kind, options, nullable = _classify(info.annotation, path)
    default = getattr(value, name)
    if kind is FieldKind.SWITCH:
        default = default is not None
    elif isinstance(default, tuple):
        default = list(default)
    help_text = "; ".join(h for h in (info.description or "", _bounds(info)) if h)
    spec = FieldSpec(
        path=path,
        kind=kind,
        default=default,
        label=name.replace("_", " "),
        help=help_text,
        options=options,
        nullable=nullable,
    )
    return replace(spec, **overrides) if overrides else spec


# --------------------------------------------------------------------------- text inputs


def format_text(spec: FieldSpec, value: Any) -> str:
    """How a value shows in a text input (lists comma-separated)."""
    if value is None:
        return ""
    if spec.kind in (FieldKind.INT_LIST, FieldKind.STR_LIST):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def parse_text(spec: FieldSpec, text: str) -> Any:
    """A text input's value for the config. Items that are not numbers are passed on as typed, so
    the config's validation names the bad item (``features.returns.2: ...``)."""
    text = text.strip()
    if spec.kind in (FieldKind.INT_LIST, FieldKind.STR_LIST):
        if not text:
            return None if spec.nullable else []
        items = [t for t in re.split(r"[\s,;]+", text) if t]
        if spec.kind is FieldKind.STR_LIST:
            return items
        return [int(t) if t.lstrip("+-").isdigit() else t for t in items]
    if not text and spec.nullable:
        return None
    if spec.kind is FieldKind.DATE:
        return parse_date(text)
    return text


def parse_date(text: str) -> dt.date | str:
    """A typed date: a :class:`datetime.date` when ``text`` is one as ``YYYY-MM-DD``, else the text
    as typed (:func:`date_problem` says what is wrong with it). Only that one format: the config
    would also take ``20170403`` as seconds since 1970."""
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    return text


def date_problem(value: Any) -> str | None:
    """Why a date field's value (as :func:`parse_date` left it) is not a date; None when it is one
    or is empty."""
    if value is None or isinstance(value, dt.date):
        return None
    text = str(value)
    if not text:
        return f"a date is needed here: type it as {DATE_HINT} (e.g. 2017-04-03)"
    if _ISO_DATE.fullmatch(text):
        try:
            dt.date.fromisoformat(text)
        except ValueError as e:
            return f"{text!r} is not a date ({e}): type it as {DATE_HINT}"
    return f"{text!r} is not a date: type it as {DATE_HINT} (e.g. 2017-04-03)"
