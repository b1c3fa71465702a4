"""One interface to runs, wherever the caller is.

On the platform's own machine (the CLI, a job, a test) runs go straight to the store and the local
executor. Inside a hub user's server (``JUPYTERHUB_API_TOKEN`` and ``STOCKBOT_SERVICE_URL`` are set,
and this is not the service itself) they go through the StockBot service's REST API with the
server's token, so the hub user is the owner and sees only their own runs::

    from stockbot.jobs.client import runs_client
    runs = runs_client()
    run_id = runs.submit("train", {"data": {"symbols": ["AAPL"]}})
    doc = runs.wait(run_id)
    runs.edit(run_id, name="first try", tags=["aapl"], note="small budget")
    page, total = runs.list(search="aapl", sort="metrics.sharpe")
    runs.archive(run_id)          # hidden from lists (archived=True lists them); kept on disk
    runs.delete(run_id)           # the run and its folder; RunConflictError while others depend on it
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import BaseModel

from stockbot.config import to_plain
from stockbot.errors import ConfigError, JobError
from stockbot.store.runs import TERMINAL, RunConflictError, RunStatus, RunStore

# the service's route for each job kind (the API mirrors the platform's: DESIGN.md §7)
SUBMIT_ROUTES = {
    "train": "api/stockbot/train",
    "backtest": "api/stockbot/backtest",
    "hmm_fit": "api/prob/train",
    "hmm_infer": "api/prob/infer",
}


class Runs(Protocol):
    def submit(self, kind: str, config: dict[str, Any] | BaseModel) -> str: ...
    def get(self, run_id: str) -> dict[str, Any]: ...
    def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        search: str | None = None,
        sort: str = "created_at",
        descending: bool = True,
        archived: bool | None = False,
        limit: int = 50,
        skip: int = 0,
    ) -> tuple[list[dict[str, Any]], int]: ...
    def cancel(self, run_id: str) -> dict[str, Any]: ...
    def edit(self, run_id: str, **changes: Any) -> dict[str, Any]: ...
    def archive(self, run_id: str, archived: bool = True) -> dict[str, Any]: ...
    def delete(self, run_id: str) -> None: ...
    def artifacts(self, run_id: str) -> list[dict[str, Any]]: ...
    def read_artifact(self, run_id: str, relpath: str) -> bytes: ...
    def zip(self, run_id: str) -> bytes: ...


def wait(runs: Runs, run_id: str, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
    """Poll until the run reaches a final status; return its document."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        doc = runs.get(run_id)
        if RunStatus(doc["status"]) in TERMINAL:
            return doc
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"run {run_id} is still {doc['status']} after {timeout:.0f} s")
        time.sleep(poll)


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    """A run document as the service's API shows it: ``_id`` as ``id``."""
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


class LocalRuns:
    """Runs in this machine's store, owned by ``owner`` (the OS or hub user by default)."""

    def __init__(self, owner: str | None = None, store: RunStore | None = None) -> None:
        from stockbot.jobs.submit import default_owner

        self.owner = owner or default_owner()
        self.store = store or RunStore()

    def submit(self, kind: str, config: dict[str, Any] | BaseModel) -> str:
        from stockbot.jobs import ensure_executor, submit

        run_id = submit(kind, config, self.owner, store=self.store)
        ensure_executor()
        return run_id

    def get(self, run_id: str) -> dict[str, Any]:
        doc = self.store.get(run_id)
        if doc is None:
            raise JobError(f"no run {run_id!r}")
        return _public(doc)

    def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        search: str | None = None,
        sort: str = "created_at",
        descending: bool = True,
        archived: bool | None = False,
        limit: int = 50,
        skip: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """This owner's runs; ``search``, ``sort``, ``archived`` as in :meth:`RunStore.list`."""
        docs, total = self.store.list(
            owner=self.owner,
            kind=kind,
            status=status,
            search=search,
            sort=sort,
            descending=descending,
            archived=archived,
            limit=limit,
            skip=skip,
        )
        return [_public(d) for d in docs], total

    def cancel(self, run_id: str) -> dict[str, Any]:
        doc = self.store.request_cancel(run_id)
        if doc is None:
            raise JobError(f"no run {run_id!r}")
        return _public(doc)

    def _own(self, run_id: str) -> None:
        """Only the owner changes a run: another owner's run is as unknown as a missing one."""
        doc = self.store.get(run_id)
        if doc is None or doc.get("owner") != self.owner:
            raise JobError(f"no run {run_id!r}")

    def edit(self, run_id: str, **changes: Any) -> dict[str, Any]:
        """Set any of ``name``, ``tags``, ``note``; a :class:`ConfigError` names a bad field."""
        self._own(run_id)
        doc = self.store.edit(run_id, changes)
        if doc is None:
            raise JobError(f"no run {run_id!r}")
        return _public(doc)

    def archive(self, run_id: str, archived: bool = True) -> dict[str, Any]:
        """Hide a finished run from lists (``archived=False``: show it again); files stay."""
        self._own(run_id)
        doc = self.store.archive(run_id, archived)
        if doc is None:
            raise JobError(f"no run {run_id!r}")
        return _public(doc)

    def delete(self, run_id: str) -> None:
        """Delete a finished run and its folder; :class:`RunConflictError` while it is active or
        other runs depend on it."""
        from stockbot.jobs.artifacts import delete_run_folder

        self._own(run_id)
        if not self.store.delete(run_id, remove_files=delete_run_folder):
            raise JobError(f"no run {run_id!r}")

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        from stockbot.jobs import list_artifacts

        return list_artifacts(run_id)

    def read_artifact(self, run_id: str, relpath: str) -> bytes:
        from stockbot.jobs import read_artifact

        return read_artifact(run_id, relpath)

    def zip(self, run_id: str) -> bytes:
        from stockbot.jobs import zip_run

        return zip_run(run_id)


class ServiceRuns:
    """Runs through the StockBot service's REST API, authenticated with a hub token."""

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        import requests

        self.url = url.rstrip("/") + "/"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        try:
            resp = self.http.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise JobError(f"the StockBot service at {self.url} did not answer: {e}") from e
        if resp.status_code == 422:
            body = resp.json()
            errors = body.get("errors") or []
            lines = [f"{e.get('field') or '(config)'}: {e.get('message')}" for e in errors]
            raise ConfigError("\n".join([body.get("error", "invalid config"), *lines]), errors)
        if resp.status_code == 409:
            body = resp.json()
            raise RunConflictError(
                str(body.get("error", "conflict")),
                str(body.get("reason", "")),
                status=body.get("status"),
                dependents=[{"id": d} for d in body.get("dependents") or []],
            )
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text[:500]
            raise JobError(f"{method} {path}: {resp.status_code} {message}")
        return resp

    def submit(self, kind: str, config: dict[str, Any] | BaseModel) -> str:
        if kind not in SUBMIT_ROUTES:
            raise JobError(f"unknown job kind {kind!r}; choose one of {', '.join(SUBMIT_ROUTES)}")
        body = to_plain(config) if isinstance(config, BaseModel) else config
        return str(self._call("POST", SUBMIT_ROUTES[kind], json=body).json()["run_id"])

    def get(self, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"api/runs/{run_id}").json())

    def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        search: str | None = None,
        sort: str = "created_at",
        descending: bool = True,
        archived: bool | None = False,
        limit: int = 50,
        skip: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        params: dict[str, Any] = {
            k: v for k, v in {"kind": kind, "status": status, "search": search}.items() if v is not None
        }
        params.update(
            sort=sort,
            order="desc" if descending else "asc",
            archived="all" if archived is None else str(bool(archived)).lower(),
            limit=limit,
            skip=skip,
        )
        body = self._call("GET", "api/runs", params=params).json()
        return list(body["runs"]), int(body["total"])

    def cancel(self, run_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"api/runs/{run_id}/cancel").json())

    def edit(self, run_id: str, **changes: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"api/runs/{run_id}", json=changes).json())

    def archive(self, run_id: str, archived: bool = True) -> dict[str, Any]:
        return dict(self._call("POST", f"api/runs/{run_id}/archive", json={"archived": archived}).json())

    def delete(self, run_id: str) -> None:
        self._call("DELETE", f"api/runs/{run_id}")

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"api/artifacts/{run_id}").json()["artifacts"])

    def read_artifact(self, run_id: str, relpath: str) -> bytes:
        return bytes(self._call("GET", f"api/artifacts/{run_id}/{quote(relpath)}").content)

    def zip(self, run_id: str) -> bytes:
        return bytes(self._call("GET", f"api/artifacts/{run_id}/zip").content)


def in_hub_server() -> bool:
    """True inside a hub user's server (not inside the service or a job)."""
    env = os.environ
    has_token = bool(env.get("JUPYTERHUB_API_TOKEN") and env.get("STOCKBOT_SERVICE_URL"))
    return has_token and not env.get("JUPYTERHUB_SERVICE_NAME")


def runs_client() -> Runs:
    """The service's API inside a hub user's server, the local store everywhere else."""
    if in_hub_server():
        return ServiceRuns(os.environ["STOCKBOT_SERVICE_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    return LocalRuns()
