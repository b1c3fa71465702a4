"""Page state: ``param.Parameterized`` classes that call ``stockbot`` and import no widgets, so every
page's behaviour is unit-testable without a browser or a Panel server."""

from dashboards.state.backtest import BacktestFormState
from dashboards.state.form import FormState
from dashboards.state.run_detail import RunDetailState
from dashboards.state.runs_list import RunsListState
from dashboards.state.training import TrainingFormState

__all__ = ["BacktestFormState", "FormState", "RunDetailState", "RunsListState", "TrainingFormState"]
