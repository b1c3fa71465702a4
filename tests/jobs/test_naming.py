"""Default run names, and the rules for a run's name, tags and note."""

from __future__ import annotations

from typing import Any

import pytest

from stockbot.config import BacktestConfig, TrainConfig
from stockbot.errors import ConfigError
from stockbot.jobs.naming import RunLabels, default_run_name, parse_labels, search_text


@pytest.mark.parametrize(
    ("kind", "config", "name"),
    [
        ("train", {"data": {"symbols": ["AAPL", "MSFT"]}, "ppo": {"policy": "mlp"}}, "train AAPL MSFT · mlp"),
        ("train", {"data": {"symbols": list("ABCDEF")}, "ppo": {"policy": "cnn"}}, "train A B C +3 · cnn"),
        ("train", {"data": {"dataset": "dow29", "symbols": None}, "ppo": {}}, "train dow29"),
        (
            "backtest",
            {"data": {"symbols": ["KO", "PG"]}, "policy": {"type": "buy_and_hold"}},
            "backtest KO PG · buy & hold",
        ),
        (
            "backtest",
            {
                "data": {"symbols": ["AAPL"]},
                "policy": {"type": "run", "run_id": "20261125-142301-train-7f3a"},
            },
            "backtest AAPL · train 7f3a",
        ),
        (
            "backtest",
            {"data": {"path": "/u/data/my_bars.csv"}, "policy": {"type": "cash"}},
            "backtest my_bars.csv · cash",
        ),
        ("hmm_fit", {"data": {"symbols": ["SPY"]}, "regimes": {"n_states": 3}}, "hmm_fit SPY · 3 states"),
        (
            "hmm_infer",
            {"data": {"symbols": ["SPY"]}, "model": {"run_id": "20261125-142301-hmm_fit-00aa"}},
            "hmm_infer SPY · hmm_fit 00aa",
        ),
        # whatever an old run or an external record holds, a name comes out
        ("external", {"anything": [1, 2]}, "external"),
        ("train", None, "train"),
        ("train", {"data": "not a section", "ppo": {"policy": 7}}, "train"),
    ],
)
def test_default_names(kind: str, config: dict[str, Any] | None, name: str) -> None:
    assert default_run_name(kind, config) == name


def test_default_name_of_validated_configs() -> None:
    cfg = TrainConfig.model_validate({"data": {"symbols": ["AAPL", "MSFT"]}, "ppo": {"policy": "lstm"}})
    assert default_run_name("train", cfg) == "train AAPL MSFT · lstm"
    bt = BacktestConfig.model_validate({"data": {"symbols": ["KO"]}, "policy": {"type": "equal_weight"}})
    assert default_run_name("backtest", bt) == "backtest KO · equal weight"
    long = default_run_name("train", {"data": {"path": "x" * 300}})
    assert len(long) == 120 and long.startswith("train xxx")


def test_labels_keep_only_what_was_given() -> None:
    labels = parse_labels({"tags": ["a", " b ", "a"]})
    assert labels.changes() == {"tags": ["a", "b"]}
    assert parse_labels({"note": None}).changes() == {"note": None}
    assert parse_labels(RunLabels(name="x")).changes() == {"name": "x"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": True}, "name"),
        ({"tags": None}, "tags"),
        ({"tags": ["\u200bhidden"]}, "tags"),
        ({"tags": [["nested"]]}, "tags.0"),
        ({"note": 3}, "note"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_labels_name_their_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_labels(body)
    assert field in [e["field"] for e in err.value.errors]


def test_search_text() -> None:
    assert search_text(None) is None and search_text("  ") is None
    assert search_text("  a.*b ") == "a.*b"
    with pytest.raises(ConfigError, match="search"):
        search_text("x" * 201)
    with pytest.raises(ConfigError, match="search"):
        search_text(["x"])  # type: ignore[arg-type]
