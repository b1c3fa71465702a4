"""``/training/new``: a ``train`` job, in four steps (data, features, environment, training), from
``TrainConfig``'s fields and defaults; validated in the session as it is edited; submitted as the
signed-in user. Element classes are those of :mod:`dashboards.form_view`; the page is
``stockbot-page-training-new``.
"""

from __future__ import annotations

from panel.viewable import Viewable

from dashboards.form_view import form_view
from dashboards.layout import guarded, shell
from dashboards.state.training import TrainingFormState
from dashboards.viewer import Viewer
from stockbot.store.runs import RunStore

TITLE = "New training"


def view(state: TrainingFormState) -> Viewable:
    return shell(state.viewer, "training/new", TITLE, form_view(state, "Submit training"))


def build(viewer: Viewer, *, store: RunStore | None = None) -> Viewable:
    state = TrainingFormState(viewer, store=store)
    return view(state)


def page() -> Viewable:
    return guarded(build, TITLE)
