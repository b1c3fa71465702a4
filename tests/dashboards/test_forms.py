"""/training/new and /backtest/new: form -> raw config -> validation (field errors) -> YAML -> submit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import panel as pn
import pytest
import yaml

from dashboards import backtest_form, training_form
from dashboards.state.backtest import BacktestFormState
from dashboards.state.schema import FieldKind, field_spec
from dashboards.state.training import TrainingFormState
from dashboards.viewer import Viewer
from stockbot.config import BacktestConfig, TrainConfig, validate_config
from stockbot.jobs import run_dir
from stockbot.store import RunStore
from tests.dashboards.conftest import BOKEH_INPLACE, add_run, metrics

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings(BOKEH_INPLACE)]

ALICE, BOB, ADMIN = Viewer("alice", False), Viewer("bob", False), Viewer("root", True)
TRAINED = {
    "data": {
        "provider": "sample",
        "dataset": "dow29",
        "symbols": ["AAPL", "JPM", "KO"],
        "start": "2013-03-01",
        "end": "2017-12-06",
    },
    "split": {"train_end": "2016-06-30", "val_end": "2017-03-31"},
}


# --------------------------------------------------------------------------- schema


def test_field_specs_come_from_the_config_models() -> None:
    defaults = TrainConfig()
    symbols = field_spec(TrainConfig, "data.symbols", defaults)
    assert (symbols.kind, symbols.default, symbols.nullable) == (FieldKind.STR_LIST, ["AAPL", "MSFT"], True)
    dataset = field_spec(TrainConfig, "data.dataset", defaults)
    assert (dataset.kind, dataset.options, dataset.nullable) == (
        FieldKind.CHOICE,
        ("dow29", "spy", "wiki5"),
        True,
    )
    # a split has no defaults of its own: they come from TrainConfig's default split
    assert field_spec(TrainConfig, "split.val_end", defaults).default == dt.date(2017, 3, 31)
    steps = field_spec(TrainConfig, "ppo.total_timesteps", defaults)
    assert (steps.kind, steps.default, steps.help) == (FieldKind.INT, 200_000, "≥ 1")
    assert field_spec(TrainConfig, "features.macd", defaults).kind is FieldKind.SWITCH
    # a backtest's costs are optional: their inputs start from CostConfig's defaults
    assert field_spec(BacktestConfig, "costs.slippage_bps", BacktestConfig()).default == 2.0
    with pytest.raises(KeyError, match="no field 'nope'"):
        field_spec(TrainConfig, "ppo.nope", defaults)


# --------------------------------------------------------------------------- training


def test_the_default_training_form_is_the_default_config(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    assert form.valid and form.errors == []
    assert validate_config(TrainConfig, form.raw()) == TrainConfig()
    preview = yaml.safe_load(form.yaml_preview())
    assert preview == form.raw()
    assert preview["data"]["symbols"] == ["AAPL", "MSFT"]
    assert preview["split"] == {"train_end": dt.date(2016, 6, 30), "val_end": dt.date(2017, 3, 31)}
    assert "regimes" in preview and set(preview["regimes"]) == {"enabled"}  # the rest is hidden while off


def test_edits_change_the_yaml_preview(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set_text("data.symbols", "ko  xom,jpm")
    form.set("ppo.total_timesteps", 5000)
    form.set("features.macd", False)
    form.set_text("features.returns", "1, 10")
    form.set("regimes.enabled", True)
    preview = yaml.safe_load(form.yaml_preview())
    assert preview["data"]["symbols"] == ["ko", "xom", "jpm"]  # as typed; the config upper-cases
    assert preview["ppo"]["total_timesteps"] == 5000
    assert preview["features"]["macd"] is False
    assert preview["features"]["returns"] == [1, 10]
    assert preview["regimes"]["n_states"] == 3 and preview["regimes"]["columns"] == ["ret_1", "vol_20"]
    assert form.valid, form.errors
    cfg = validate_config(TrainConfig, form.raw())
    assert cfg.data.symbols == ("KO", "XOM", "JPM") and cfg.features.macd is None


@pytest.mark.parametrize(
    ("path", "text", "field", "needle", "step"),
    [
        ("data.symbols", "AAPL, ZZZZ", "data.symbols", "['ZZZZ'] are not in the data", 0),
        ("features.returns", "1, 5, x", "features.returns.2", "valid integer", 1),
        ("regimes.columns", "", "regimes", "needs at least one feature column", 1),
        ("ppo.net_arch", "64, many", "ppo.net_arch.1", "valid integer", 3),
    ],
)
def test_field_errors_are_placed_at_their_field(
    store: RunStore, path: str, text: str, field: str, needle: str, step: int
) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set("regimes.enabled", True)
    form.set_text(path, text)
    assert not form.valid
    assert [e["field"] for e in form.errors] == [field]
    assert needle in form.errors[0]["message"]
    section = field.split(".", maxsplit=1)[0]
    where = form.section_errors(section) if field == section else form.errors_at(path)
    assert len(where) == 1 and needle in where[0]
    assert [form.step_errors(i) for i in range(len(form.steps))] == [int(i == step) for i in range(4)]


def test_a_problem_of_the_whole_config_is_listed_but_placed_nowhere(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set("regimes.enabled", True)
    form.set_text("regimes.columns", "ret_1, rsi_99")
    assert [e["field"] for e in form.errors] == [None]
    assert "not produced by 'features'" in form.errors[0]["message"]
    assert form.errors_at("regimes.columns") == [] and form.section_errors("regimes") == []
    assert [form.step_errors(i) for i in range(len(form.steps))] == [0, 0, 0, 0]


def test_a_section_error_and_its_fix(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set("split.val_end", dt.date(2016, 1, 1))
    assert form.section_errors("split") == ["val_end (2016-01-01) must be after train_end (2016-06-30)"]
    form.set("split.val_end", dt.date(2017, 3, 31))
    assert form.valid and form.section_errors("split") == []


def test_a_cleared_required_number_is_an_error(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set("ppo.total_timesteps", None)
    assert form.errors_at("ppo.total_timesteps") == ["Input should be a valid integer (got None)"]


def test_file_paths_stay_in_the_users_data_folder(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set("data.provider", "csv")
    assert form.active(form.spec("data.path")) and not form.active(form.spec("data.dataset"))
    form.set_text("data.path", "../bob/data/bars.csv")
    assert any("outside your data folder" in m for m in form.errors_at("data.path"))
    assert "dataset" not in form.raw()["data"]


def test_the_env_action_follows_the_env_kind(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set("env.kind", "single")
    assert form.values["env.action"] == "discrete"
    assert form.errors_at("") == [] and not form.valid  # single needs exactly one symbol
    form.set_text("data.symbols", "AAPL")
    assert form.valid, form.errors
    form.set("env.kind", "portfolio")
    assert form.values["env.action"] == "weights"


def test_steps(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    assert [s.title for s in form.steps] == ["Data", "Features", "Environment", "Training"]
    form.previous_step()
    assert form.step == 0
    for _ in range(10):
        form.next_step()
    assert form.step == 3


def test_submit_queues_a_run_of_the_viewer(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set_text("data.symbols", "KO")
    form.set("ppo.total_timesteps", 1000)
    run_id = form.submit()
    assert run_id is not None and form.submitted == run_id
    doc = store.get(run_id)
    assert doc is not None
    assert (doc["owner"], doc["kind"], doc["status"]) == ("alice", "train", "queued")
    assert doc["config"]["data"]["symbols"] == ["KO"] and doc["config"]["ppo"]["total_timesteps"] == 1000
    assert (run_dir(run_id) / "config.yaml").is_file()
    assert form.run_url(run_id) == f"/services/stockbot/runs/{run_id}"


def test_an_invalid_form_submits_nothing(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set_text("data.symbols", "ZZZZ")
    assert form.submit() is None
    assert store.list()[1] == 0 and form.submitted == ""


def test_the_training_page_builds(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    page = training_form.view(form)
    page.get_root()
    by_class = {c: w for w in page.select() for c in getattr(w, "css_classes", []) or []}
    symbols = by_class["stockbot-field-data-symbols"]
    symbols.value = "AAPL, ZZZZ"  # typing in the input validates the form
    assert form.errors_at("data.symbols")
    assert by_class["stockbot-submit"].disabled
    previews = [
        p.object for p in page.select(pn.pane.HTML) if 'class="stockbot-yaml-preview"' in str(p.object)
    ]
    assert len(previews) == 1 and "symbols: [AAPL, ZZZZ]" in previews[0]
    problems = [
        p.object for p in page.select(pn.pane.HTML) if 'class="stockbot-form-errors"' in str(p.object)
    ]
    assert len(problems) == 1 and "ZZZZ" in problems[0]
    symbols.value = "AAPL"
    assert form.valid and not by_class["stockbot-submit"].disabled
    form.set("ppo.total_timesteps", 777)  # a change of the state shows in its input
    assert by_class["stockbot-field-ppo-total-timesteps"].value == 777


# --------------------------------------------------------------------------- backtest


@pytest.fixture
def trained(store: RunStore) -> RunStore:
    add_run(store, "20261101-120000-train-00a1", "alice", config=TRAINED, metrics=metrics(1.2, 0.1, -0.05))
    add_run(store, "20261101-120100-train-00a2", "alice", config=TRAINED, minutes=1)
    add_run(store, "20261101-120200-train-00a3", "alice", status="failed", minutes=2)
    add_run(store, "20261101-120300-backtest-00a4", "alice", minutes=3)
    add_run(store, "20261101-120400-train-00b1", "bob", config=TRAINED, minutes=4)
    return store


def test_the_run_choices_are_the_viewers_succeeded_train_runs(trained: RunStore) -> None:
    form = BacktestFormState(ALICE, store=trained)
    assert [d["_id"] for d in form.parents] == ["20261101-120100-train-00a2", "20261101-120000-train-00a1"]
    choices = form.choices(form.spec("policy.run_id"))
    assert list(choices.values()) == [None, "20261101-120100-train-00a2", "20261101-120000-train-00a1"]
    assert "Sharpe 1.20" in next(k for k, v in choices.items() if v == "20261101-120000-train-00a1")
    admin = BacktestFormState(ADMIN, store=trained)
    assert {d["_id"] for d in admin.parents} == {
        "20261101-120000-train-00a1",
        "20261101-120100-train-00a2",
        "20261101-120400-train-00b1",
    }


def test_the_newest_run_is_backtested_on_its_test_period(trained: RunStore) -> None:
    form = BacktestFormState(ALICE, store=trained)
    raw = form.raw()
    assert raw["policy"] == {"type": "run", "run_id": "20261101-120100-train-00a2", "which": "best"}
    val_end = dt.date.fromisoformat(TRAINED["split"]["val_end"])
    assert raw["data"]["start"] == val_end + dt.timedelta(days=1)
    assert raw["data"]["end"] == dt.date(2017, 12, 6)
    assert raw["data"]["symbols"] == TRAINED["data"]["symbols"]
    assert "costs" not in raw  # from the trained run unless set
    assert form.valid, form.errors


def test_a_run_from_the_url_is_preselected(trained: RunStore) -> None:
    form = BacktestFormState(ALICE, store=trained, run_id="20261101-120000-train-00a1")
    assert form.raw()["policy"]["run_id"] == "20261101-120000-train-00a1"
    assert form.valid


def test_another_users_run_is_refused_unless_admin(trained: RunStore) -> None:
    form = BacktestFormState(ALICE, store=trained, run_id="20261101-120400-train-00b1")
    assert form.errors_at("policy.run_id") == ["no run '20261101-120400-train-00b1'"]
    assert form.submit() is None
    admin = BacktestFormState(ADMIN, store=trained, run_id="20261101-120400-train-00b1")
    assert admin.valid, admin.errors


def test_baselines_and_costs(store: RunStore) -> None:
    form = BacktestFormState(ALICE, store=store)  # no trained runs: a baseline by default
    assert form.raw()["policy"] == {"type": "buy_and_hold"}
    form.set("policy.type", "equal_weight")
    form.set("policy.rebalance", 5)
    form.set("costs", True)
    form.set("costs.commission_bps", 3.5)
    raw = form.raw()
    assert raw["policy"] == {"type": "equal_weight", "rebalance": 5}
    assert raw["costs"]["commission_bps"] == 3.5 and raw["costs"]["slippage_bps"] == 2.0
    assert validate_config(BacktestConfig, raw).costs.commission_bps == 3.5  # type: ignore[union-attr]
    form.set("costs", False)
    assert "costs" not in form.raw()
    form.set("policy.type", "run")
    assert form.errors_at("policy") == ["policy type 'run' needs run_id or path (the trained run's folder)"]


def test_a_backtest_submit_names_its_parent(trained: RunStore) -> None:
    form = BacktestFormState(ALICE, store=trained)
    run_id = form.submit()
    assert run_id is not None
    doc = trained.get(run_id)
    assert doc is not None and doc["parent"] == "20261101-120100-train-00a2" and doc["owner"] == "alice"


def test_the_backtest_page_builds(trained: RunStore) -> None:
    form = BacktestFormState(ALICE, store=trained)
    page = backtest_form.view(form)
    page.get_root()
    by_class = {c: w for w in page.select() for c in getattr(w, "css_classes", []) or []}
    selector = by_class["stockbot-field-policy-run-id"]
    assert selector.value == "20261101-120100-train-00a2"
    selector.value = "20261101-120000-train-00a1"
    assert form.values["policy.run_id"] == "20261101-120000-train-00a1"
    by_class["stockbot-field-policy-type"].value = "cash"
    assert not form.active(form.spec("policy.run_id"))


def test_users_data_folder_is_where_relative_paths_point(store: RunStore, stockbot_home: Path) -> None:
    bars = ALICE.data_root / "bars.csv"
    bars.parent.mkdir(parents=True, exist_ok=True)
    bars.write_text("date,tic,open,high,low,close,volume\n2017-01-03,AAA,1,1,1,1,100\n")
    form = BacktestFormState(ALICE, store=store)
    form.set("data.provider", "csv")
    form.set_text("data.path", "bars.csv")
    form.set_text("data.symbols", "BBB")
    assert any("BBB" in m for m in form.errors_at("data.symbols")), form.errors
