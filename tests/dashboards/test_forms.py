"""/training/new and /backtest/new: form -> raw config -> validation (field errors) -> YAML -> submit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import pytest
import yaml
from bokeh.models import Select

from dashboards import backtest_form, training_form
from dashboards.state.backtest import BacktestFormState
from dashboards.state.schema import FieldKind, field_spec
from dashboards.state.training import TrainingFormState
from dashboards.viewer import Viewer
from stockbot.config import BacktestConfig, TrainConfig, to_plain, validate_config
from stockbot.jobs import run_dir
from stockbot.jobs.estimate import DEFAULT_RATES
from stockbot.store import RunStore
from tests.dashboards.conftest import BOKEH_INPLACE, T0, add_run, metrics

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
    assert (steps.kind, steps.default) == (FieldKind.INT, 200_000)
    assert steps.help.split(", ")[0] == "≥ 1"  # the model's bounds, in order (an upper one may follow)
    assert field_spec(TrainConfig, "features.macd", defaults).kind is FieldKind.SWITCH
    # a backtest's costs are optional: their inputs start from CostConfig's defaults
    assert field_spec(BacktestConfig, "costs.slippage_bps", BacktestConfig()).default == 2.0
    with pytest.raises(KeyError, match="no field 'nope'"):
        field_spec(TrainConfig, "ppo.nope", defaults)


# --------------------------------------------------------------------------- training


def test_the_default_training_form_is_the_default_config(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    assert form.valid and form.errors == []
    # the same data as the config's default (its null dataset means dow29), said explicitly
    default = TrainConfig()
    explicit = default.model_copy(update={"data": default.data.model_copy(update={"dataset": "dow29"})})
    assert validate_config(TrainConfig, form.raw()) == explicit
    preview = yaml.safe_load(form.yaml_preview())
    assert preview["data"]["dataset"] == "dow29"
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


# --------------------------------------------------------------------------- dates and coverage

SAMPLE = Path(__file__).parents[2] / "stockbot" / "data" / "sample"


def sample_coverage(dataset: str) -> str:
    """The coverage text of a bundled dataset, read straight from its file."""
    frame = pd.read_csv(SAMPLE / f"{dataset}.csv.gz", usecols=["date", "tic"])
    days = pd.to_datetime(frame["date"])
    n = frame["tic"].nunique()
    return f"{dataset}: {days.min().date()} … {days.max().date()}, {n} symbol{'s' if n > 1 else ''}"


def widgets_by_class(page: pn.viewable.Viewable) -> dict[str, Any]:
    return {c: w for w in page.select() for c in getattr(w, "css_classes", []) or []}


def html_of(page: pn.viewable.Viewable, css_class: str) -> list[str]:
    return [str(p.object) for p in page.select(pn.pane.HTML) if f'class="{css_class}"' in str(p.object)]


def test_the_dataset_field_shows_the_dataset_in_use(store: RunStore) -> None:
    # the config's default dataset is null (meaning dow29): the selector showed its "—" choice
    form = TrainingFormState(ALICE, store=store)
    page = training_form.view(form)
    root = page.get_root()
    selector = widgets_by_class(page)["stockbot-field-data-dataset"]
    assert selector.value == "dow29"
    model = next(m for m in root.select({"type": Select}) if "stockbot-field-data-dataset" in m.css_classes)
    assert model.value == "dow29"  # what the browser shows
    selector.value = "wiki5"
    assert form.raw()["data"]["dataset"] == "wiki5" and model.value == "wiki5"


def test_a_backtest_shows_the_dataset_its_trained_run_used(store: RunStore) -> None:
    # stored as a submit stores it: the validated config, whose dataset stays null
    stored = to_plain(validate_config(TrainConfig, TRAINED | {"data": {**TRAINED["data"], "dataset": None}}))
    assert stored["data"]["dataset"] is None
    add_run(store, "20261101-120000-train-00c1", "alice", config=stored)
    form = BacktestFormState(ALICE, store=store)
    page = backtest_form.view(form)
    page.get_root()
    assert widgets_by_class(page)["stockbot-field-data-dataset"].value == "dow29"
    assert form.valid, form.errors


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2017/04/03", "'2017/04/03' is not a date: type it as YYYY-MM-DD (e.g. 2017-04-03)"),
        ("20170403", "'20170403' is not a date: type it as YYYY-MM-DD"),
        ("2017-02-30", "'2017-02-30' is not a date (day is out of range for month): type it as YYYY-MM-DD"),
        ("soon", "'soon' is not a date"),
    ],
)
def test_a_typed_date_that_is_not_one_is_named(store: RunStore, text: str, needle: str) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set_text("data.start", text)
    assert not form.valid
    assert [e["field"] for e in form.errors] == ["data.start"]
    assert form.errors_at("data.start") == [form.errors[0]["message"]]
    assert needle in form.errors[0]["message"]
    assert form.submit() is None and store.list()[1] == 0


def test_typed_dates(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set_text("data.start", " 2013-03-01 ")
    assert form.values["data.start"] == dt.date(2013, 3, 1) and form.valid
    form.set_text("data.start", "")  # optional: from the first bar
    assert form.values["data.start"] is None and form.valid
    form.set_text("split.train_end", "")  # required
    assert form.errors_at("split.train_end") == [
        "a date is needed here: type it as YYYY-MM-DD (e.g. 2017-04-03)"
    ]
    form.set_text("split.train_end", "2016-06-30")
    assert form.valid, form.errors


def test_dates_are_typed_or_picked_within_the_datas_coverage(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    page = training_form.view(form)
    page.get_root()
    by_class = widgets_by_class(page)
    text, picker = by_class["stockbot-field-data-start"], by_class["stockbot-field-data-start-picker"]
    assert isinstance(text, pn.widgets.TextInput) and isinstance(picker, pn.widgets.DatePicker)
    dow29 = sample_coverage("dow29")
    assert form.coverage is not None and form.coverage.text == dow29
    assert (picker.start, picker.end) == (dt.date(2012, 12, 6), dt.date(2017, 12, 6))
    assert any(dow29 in h for h in html_of(page, "stockbot-data-coverage"))
    text.value = "2014-01-02"  # typed
    assert form.values["data.start"] == dt.date(2014, 1, 2) and picker.value == dt.date(2014, 1, 2)
    picker.value = dt.date(2014, 2, 3)  # picked
    assert form.values["data.start"] == dt.date(2014, 2, 3) and text.value == "2014-02-03"
    text.value = "2014-13-01"
    assert form.errors_at("data.start") and picker.value is None
    by_class["stockbot-field-data-dataset"].value = "wiki5"  # another dataset: other bounds
    assert form.coverage is not None and form.coverage.text == sample_coverage("wiki5")
    assert (picker.start, picker.end) == (dt.date(2000, 3, 1), dt.date(2013, 3, 1))
    assert any(sample_coverage("wiki5") in h for h in html_of(page, "stockbot-data-coverage"))


def test_a_date_outside_the_data_is_pointed_out(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    form.set("data.start", dt.date(2011, 1, 3))
    note = form.field_note("data.start")
    assert note is not None and note.css_class == "stockbot-date-outside" and note.level == "warning"
    assert note.text == f"2011-01-03 is outside the data ({sample_coverage('dow29')})"
    form.set("split.val_end", dt.date(2019, 1, 2))
    assert form.field_note("split.val_end") is not None
    assert form.field_note("split.train_end") is None


def test_coverage_of_the_users_own_file_and_of_network_providers(store: RunStore) -> None:
    bars = ALICE.data_root / "mine.csv"
    bars.parent.mkdir(parents=True, exist_ok=True)
    rows = ["date,tic,open,high,low,close,volume"]
    rows += [f"2019-01-{d:02d},{s},1,1,1,1,100" for d in (2, 3, 4, 7) for s in ("AAA", "BBB")]
    bars.write_text("\n".join(rows) + "\n")
    form = TrainingFormState(ALICE, store=store)
    form.set("data.provider", "csv")
    assert form.coverage is None  # no file named yet
    form.set_text("data.path", "mine.csv")
    assert form.coverage is not None and form.coverage.text == "mine.csv: 2019-01-02 … 2019-01-07, 2 symbols"
    assert form.date_bounds() == (dt.date(2019, 1, 2), dt.date(2019, 1, 7))
    form.set_text("data.path", "../bob/data/theirs.csv")  # never read outside the data folder
    assert form.coverage is None
    form.set_text("data.path", "missing.csv")
    assert form.coverage is not None and "no such file" in form.coverage.text
    form.set("data.provider", "yfinance")
    assert form.date_bounds() == (None, None)
    assert form.coverage is not None and form.coverage.text.startswith("yfinance: no fixed date range")


# --------------------------------------------------------------------------- the expected duration


def finished_training(store: RunStore, run_id: str, seconds: float, steps: int, policy: str = "mlp") -> None:
    add_run(store, run_id, "bob", config={"ppo": {"policy": policy, "total_timesteps": steps}})
    store.col.update_one(
        {"_id": run_id},
        {
            "$set": {
                "started_at": T0,
                "finished_at": T0 + dt.timedelta(seconds=seconds),
                "progress": {"step": steps, "total": steps, "message": "succeeded"},
            }
        },
    )


def test_the_budget_comes_with_its_expected_duration_before_submit(store: RunStore) -> None:
    form = TrainingFormState(ALICE, store=store)
    sps, overhead = DEFAULT_RATES["mlp"]
    minutes = round((overhead + 200_000 / sps) / 60)
    assert minutes >= 1  # the default budget is not a quick one: it must be visible
    page = training_form.view(form)
    page.get_root()
    expected = f"Budget: 200,000 timesteps ≈ {minutes} min on this machine (measured default"
    assert any(expected in h for h in html_of(page, "stockbot-estimate")), html_of(page, "stockbot-estimate")
    note = html_of(page, "stockbot-budget-estimate")
    assert any(f"≈ {minutes} min on this machine (measured default)" in h for h in note), note
    assert form.submitted == ""
    # what this machine did: the estimate follows the budget and the policy type
    finished_training(store, "20261101-130000-train-00d1", seconds=60.0, steps=12_000)
    later = TrainingFormState(ALICE, store=store)
    later.set("ppo.total_timesteps", 60_000)
    assert later.estimate is not None
    assert later.estimate.seconds == pytest.approx(60_000 / (12_000 / 60.0))
    assert later.budget_text().startswith("60,000 timesteps ≈ 5 min on this machine (the last mlp training")
    later.set("ppo.policy", "lstm")
    lstm_sps, lstm_overhead = DEFAULT_RATES["lstm"]
    assert later.estimate is not None and later.estimate.basis == "measured default"
    assert later.estimate.seconds == pytest.approx(lstm_overhead + 60_000 / lstm_sps)
    later.set("ppo.total_timesteps", 10_000_000)  # days of training: said as a warning
    assert [(n.css_class, n.level) for n in later.notices()] == [("stockbot-estimate", "warning")]
    later.set("ppo.total_timesteps", 1)
    assert [n.level for n in later.notices()] == ["info"]
    later.set("ppo.total_timesteps", 0)  # not a budget: no estimate rather than a wrong one
    assert later.estimate is None and later.notices() == []


# --------------------------------------------------------------------------- in-sample warning


def test_a_backtest_inside_the_policys_own_periods_is_warned_about(trained: RunStore) -> None:
    form = BacktestFormState(ALICE, store=trained)
    assert form.in_sample == "" and form.notices() == []  # its test period: out of sample
    form.set("data.start", dt.date(2016, 1, 4))
    assert form.in_sample.startswith(
        "in-sample: these dates overlap the policy's training period (2013-03-01 … 2016-06-30) and "
        "validation period (2016-07-01 … 2017-03-31)"
    )
    assert "start after 2017-03-31" in form.in_sample
    assert form.valid  # a warning, not a refusal
    form.set("data.start", dt.date(2016, 12, 1))
    assert "validation period" in form.in_sample and "training period" not in form.in_sample
    page = backtest_form.view(form)
    page.get_root()
    assert any("in-sample: these dates overlap" in h for h in html_of(page, "stockbot-in-sample"))
    form.set("data.start", dt.date(2017, 4, 3))
    assert form.in_sample == "" and html_of(page, "stockbot-in-sample") == []
    form.set("data.end", None)
    form.set("data.start", None)  # from the first bar: all of it
    assert "training period" in form.in_sample
    form.set("policy.type", "buy_and_hold")  # a baseline learnt nothing
    assert form.in_sample == ""
