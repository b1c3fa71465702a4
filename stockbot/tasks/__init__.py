"""Job bodies: one function per job kind, each taking a validated config and an output folder.

The CLI and (later) the Papermill notebooks call these; they hold no logic of their own.
"""

from stockbot.tasks.hmm import HMMFitResult, run_hmm_fit

__all__ = ["HMMFitResult", "run_hmm_fit"]
