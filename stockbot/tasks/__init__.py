"""Job bodies: one function per job kind, each taking a validated config and an output folder.

The CLI and the Papermill notebooks call these; they hold no logic of their own.
"""

from stockbot.tasks.backtest import run_backtest_job
from stockbot.tasks.hmm import HMMFitResult, HMMInferResult, run_hmm_fit, run_hmm_infer

__all__ = ["HMMFitResult", "HMMInferResult", "run_backtest_job", "run_hmm_fit", "run_hmm_infer"]
