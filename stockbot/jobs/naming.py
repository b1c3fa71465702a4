"""A run's name, tags and note: the default name a run gets from what it is, and the rules an edit
of them must meet (``PATCH api/runs/{id}``, :meth:`stockbot.store.runs.RunStore.edit`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from stockbot.errors import ConfigError

NAME_MAX = 120
TAG_MAX = 32
TAGS_MAX = 16
NOTE_MAX = 10_000
SEARCH_MAX = 200
SHOWN_SYMBOLS = 4  # more than this many symbols are named as the first few and "+N"

_BASELINES = {
    "buy_and_hold": "buy & hold",
    "equal_weight": "equal weight",
    "cash": "cash",
    "weights_csv": "weights file",
}


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, Mapping) else {}


def _short_id(run_id: Any) -> str | None:
    """``20261125-142301-train-7f3a`` -> ``train 7f3a``: enough to tell a user's runs apart."""
    if not isinstance(run_id, str) or run_id.count("-") < 3:
        return None
    kind, tail = run_id.split("-", 2)[2].rsplit("-", 1)
    return f"{kind} {tail}"


def _universe(data: Mapping[str, Any]) -> str:
    symbols = data.get("symbols")
    if isinstance(symbols, list | tuple) and symbols:
        names = [str(s) for s in symbols]
        if len(names) > SHOWN_SYMBOLS:
            return " ".join(names[: SHOWN_SYMBOLS - 1]) + f" +{len(names) - SHOWN_SYMBOLS + 1}"
        return " ".join(names)
    # every symbol of a dataset or a file: name the source instead
    path = data.get("path")
    if isinstance(path, str) and path:
        return path.replace("\\", "/").rsplit("/", 1)[-1]
    for key in ("dataset", "provider"):
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
    return ""


def _detail(kind: str, config: Mapping[str, Any]) -> str:
    if kind == "train":
        policy = _section(config, "ppo").get("policy")
        return str(policy) if isinstance(policy, str) else ""
    if kind == "backtest":
        policy = _section(config, "policy")
        ptype = policy.get("type")
        if ptype == "run":
            return _short_id(policy.get("run_id")) or "policy file"
        return _BASELINES.get(ptype, "") if isinstance(ptype, str) else ""
    if kind == "hmm_fit":
        n = _section(config, "regimes").get("n_states")
        return f"{n} states" if isinstance(n, int) and not isinstance(n, bool) else ""
    if kind == "hmm_infer":
        return _short_id(_section(config, "model").get("run_id")) or ""
    return ""


def default_run_name(kind: str, config: Mapping[str, Any] | BaseModel | None) -> str:
    """The name a run gets when nobody gave it one: its kind, universe and policy, e.g.
    ``"train AAPL MSFT · mlp"``, ``"backtest KO PG · buy & hold"``, ``"backtest AAPL · train 7f3a"``
    (the trained run it tests). Never fails: a config it cannot read gives just the kind (old runs
    and external records can hold anything)."""
    if isinstance(config, BaseModel):
        config = config.model_dump(mode="json")
    if not isinstance(config, Mapping):
        config = {}
    head = " ".join(p for p in (str(kind), _universe(_section(config, "data"))) if p)
    detail = _detail(str(kind), config)
    name = f"{head} · {detail}" if detail else head
    return name[:NAME_MAX]


def _printable(text: str, where: str, allow_newlines: bool = False) -> str:
    for ch in text:
        if allow_newlines and ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise ValueError(f"{where} may not contain control or invisible characters (found {ch!r})")
    return text


class RunLabels(BaseModel):
    """The body of ``PATCH api/runs/{id}``: any of ``name``, ``tags`` and ``note``.

    ``name``: 1 to 120 characters (surrounding spaces dropped). ``tags``: up to 16 short strings
    (1 to 32 characters, no commas; duplicates dropped, order kept), ``[]`` clears them. ``note``:
    free text up to 10,000 characters; ``""`` or null clears it. Only the fields given change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr | None = Field(default=None, description="what the run is called in the list")
    tags: list[StrictStr] | None = Field(default=None, description="short labels to search by")
    note: StrictStr | None = Field(default=None, description="free text about the run")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            raise ValueError("a run always has a name: give 1 to 120 characters")
        v = _printable(v.strip(), "a name")
        if not 1 <= len(v) <= NAME_MAX:
            raise ValueError(
                f"a name has 1 to {NAME_MAX} characters (surrounding spaces dropped), got {len(v)}"
            )
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            raise ValueError("give tags as a list of strings ([] clears them)")
        out: list[str] = []
        for i, raw in enumerate(v):
            tag = _printable(raw.strip(), f"tag {i}")
            if not 1 <= len(tag) <= TAG_MAX:
                raise ValueError(f"tag {i} ({raw!r}) must have 1 to {TAG_MAX} characters")
            if "," in tag:
                raise ValueError(
                    f"tag {i} ({raw!r}) may not contain a comma (tags are typed comma-separated)"
                )
            if tag not in out:
                out.append(tag)
        if len(out) > TAGS_MAX:
            raise ValueError(f"at most {TAGS_MAX} tags, got {len(out)}")
        return out

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = _printable(v.strip(), "a note", allow_newlines=True)
        if len(v) > NOTE_MAX:
            raise ValueError(f"a note has at most {NOTE_MAX:,} characters, got {len(v):,}")
        return v or None

    def changes(self) -> dict[str, Any]:
        """The fields the caller gave, validated (what an edit sets)."""
        return {k: getattr(self, k) for k in self.model_fields_set}


def parse_labels(body: Mapping[str, Any] | RunLabels) -> RunLabels:
    """A validated :class:`RunLabels`; a :class:`ConfigError` naming each bad field otherwise
    (also when the body changes nothing)."""
    from stockbot.config import validate_config

    labels = body if isinstance(body, RunLabels) else validate_config(RunLabels, dict(body))
    if not labels.model_fields_set:
        raise ConfigError("give at least one of name, tags, note to change")
    return labels


def search_text(text: str | None) -> str | None:
    """A search box's text, checked: None or blank means no search; at most 200 characters."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ConfigError.at("search", f"must be text, got {type(text).__name__}")
    text = text.strip()
    if len(text) > SEARCH_MAX:
        raise ConfigError.at("search", f"at most {SEARCH_MAX} characters, got {len(text)}")
    return text or None
