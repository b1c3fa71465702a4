"""Risk limits on target weights (position value / equity), shared by envs, backtests and live."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numba import njit

from stockbot.config import RiskConfig

NO_LIMIT = -1.0  # how an absent optional limit travels into compiled code


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_gross_leverage: float = 1.0
    max_position_weight: float = 1.0
    max_turnover: float | None = None
    max_drawdown: float | None = None
    allow_short: bool = False
    daily_loss_limit: float | None = None

    @classmethod
    def from_config(cls, cfg: RiskConfig, *, allow_short: bool = False) -> RiskLimits:
        return cls(
            cfg.max_gross_leverage,
            cfg.max_position_weight,
            cfg.max_turnover,
            cfg.max_drawdown,
            allow_short,
            cfg.daily_loss_limit,
        )

    def as_array(self) -> np.ndarray:
        """[gross, position, turnover, drawdown, allow_short] for the compiled kernels."""
        return np.array(
            [
                self.max_gross_leverage,
                self.max_position_weight,
                NO_LIMIT if self.max_turnover is None else self.max_turnover,
                NO_LIMIT if self.max_drawdown is None else self.max_drawdown,
                1.0 if self.allow_short else 0.0,
            ]
        )


@njit(cache=True, nogil=True)
def limit_weights_kernel(target: np.ndarray, current: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """NaN in ``target`` holds that asset at its current weight: held weights are left as they
    are and only the other assets share what is left of the gross and turnover budgets."""
    max_gross, max_pos, max_turnover, _, allow_short = limits
    n = target.shape[0]
    w = np.empty(n)
    gross = 0.0
    held_gross = 0.0
    for i in range(n):
        x = target[i]
        if np.isnan(x):
            w[i] = current[i]
            held_gross += abs(current[i])
            continue
        if allow_short == 0.0 and x < 0.0:
            x = 0.0
        x = min(max(x, -max_pos), max_pos)
        w[i] = x
        gross += abs(x)
    budget = max(max_gross - held_gross, 0.0)
    if gross > budget:
        scale = budget / gross if gross > 0.0 else 0.0
        for i in range(n):
            if not np.isnan(target[i]):
                w[i] *= scale
    if max_turnover > 0.0:
        turnover = 0.0
        for i in range(n):
            turnover += abs(w[i] - current[i])
        if turnover > max_turnover:
            scale = max_turnover / turnover
            for i in range(n):
                w[i] = current[i] + (w[i] - current[i]) * scale
    return w


def limit_weights(target: np.ndarray, current: np.ndarray, limits: RiskLimits) -> np.ndarray:
    """Apply, in order: no shorts unless allowed; |w_i| <= max_position_weight; gross exposure
    sum |w_i| <= max_gross_leverage (scaled down proportionally); turnover sum |w - current| <=
    max_turnover (the move towards the target is shortened proportionally). A NaN target keeps
    that asset's current weight."""
    return limit_weights_kernel(
        np.asarray(target, dtype=np.float64), np.asarray(current, dtype=np.float64), limits.as_array()
    )


RiskStatus = Literal["active", "reducing", "halted"]
HaltCause = Literal["drawdown", "daily_loss", "equity", "person"]


@dataclass
class RiskState:
    """The trading state the risk engine holds, fed by every mark.

    ``active``: orders go out as planned. ``reducing``: entries are paused, only orders that reduce
    a position go out (a person's "pause entries"). ``halted``: positions are flattened at the next
    open and nothing else goes out. The drawdown kill switch (``max_drawdown``, from the peak) and
    the daily loss limit (``daily_loss_limit``, from the previous session's closing equity) halt;
    a daily-loss halt lifts at the next session, a drawdown halt (or one by a person) only when a
    person resumes. Equity at or below zero halts too.
    """

    status: RiskStatus = "active"
    cause: HaltCause | None = None
    reason: str | None = None
    session: Any = None  # the session (exchange date) of the last mark
    session_base: float | None = None  # equity at the previous session's close
    last_equity: float | None = None
    halted_session: Any = None

    def start(self, equity: float, session: Any) -> None:
        """Before the first decision: the starting equity is the first session's base."""
        self.session, self.session_base, self.last_equity = session, equity, equity

    def on_mark(self, equity: float, drawdown: float, session: Any, limits: RiskLimits) -> str | None:
        """Take one mark (equity and drawdown at a close of ``session``); return what changed, if
        anything, as a sentence for the event log."""
        event = None
        if session != self.session:
            self.session_base = self.last_equity
            self.session = session
            if self.status == "halted" and self.cause == "daily_loss" and session != self.halted_session:
                self.status, self.cause, self.reason = "active", None, None
                event = f"daily loss halt lifted: session {session} began"
        self.last_equity = equity
        if self.status == "halted":
            return event
        if equity <= 0.0:
            return self._halt("equity", f"equity {equity:.2f} <= 0", session)
        if limits.max_drawdown is not None and drawdown <= -limits.max_drawdown:
            return self._halt(
                "drawdown",
                f"drawdown {drawdown:.2%} breached max_drawdown {limits.max_drawdown:.2%}",
                session,
            )
        base = self.session_base
        if limits.daily_loss_limit is not None and base is not None and base > 0:
            loss = equity / base - 1.0
            if loss <= -limits.daily_loss_limit:
                return self._halt(
                    "daily_loss",
                    f"day's loss {loss:.2%} breached daily_loss_limit {limits.daily_loss_limit:.2%}",
                    session,
                )
        return event

    def _halt(self, cause: HaltCause, reason: str, session: Any) -> str:
        self.status, self.cause, self.reason, self.halted_session = "halted", cause, reason, session
        return f"halted: {reason}; flattening at the next open"

    def pause(self) -> None:
        """A person pauses entries (only reducing orders go out); a halt stays a halt."""
        if self.status == "active":
            self.status, self.reason = "reducing", "entries paused by a person"

    def halt(self, reason: str = "kill switch") -> None:
        """A person's kill switch: flatten and halt until a person resumes."""
        self.status, self.cause, self.reason, self.halted_session = "halted", "person", reason, self.session

    def resume(self) -> None:
        self.status, self.cause, self.reason = "active", None, None

    def snapshot(self) -> dict[str, Any]:
        """The state as plain data (sessions as ISO dates); :meth:`restore` reads it back."""
        out = asdict(self)
        for key in ("session", "halted_session"):
            if isinstance(out[key], dt.date):
                out[key] = out[key].isoformat()
        return out

    @classmethod
    def restore(cls, data: dict[str, Any]) -> RiskState:
        state = cls(**data)
        for key in ("session", "halted_session"):
            value = getattr(state, key)
            if isinstance(value, str):
                setattr(state, key, dt.date.fromisoformat(value))
        return state
