"""Action mappings: what a policy outputs -> target weights per asset.

- ``discrete`` (one symbol): Discrete(3) = {short, flat, long} when shorting is allowed, else
  Discrete(2) = {flat, long}; the target weight is -1, 0 or +1.
- ``continuous`` (one symbol): Box(-1, 1) = the target weight when shorting is allowed; long-only
  maps a in [-1, 1] to (a + 1) / 2 in [0, 1] (SB3 works best with symmetric boxes).
- ``weights`` (portfolio): Box(-1, 1, N+1) scores -> softmax(SCALE * scores) over N assets + cash;
  the cash share is simply not invested. SCALE lets a bounded score concentrate the portfolio.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numba import njit

SOFTMAX_SCALE = 5.0


@njit(cache=True, nogil=True)
def _position(a: np.ndarray, short: bool) -> np.ndarray:
    x = min(max(float(a.flat[0]), -1.0), 1.0)
    return np.array([x if short else (x + 1.0) * 0.5])


@njit(cache=True, nogil=True)
def _softmax_weights(a: np.ndarray, n_assets: int, scale: float) -> np.ndarray:
    z = np.empty(a.size)
    top = -np.inf
    for i in range(a.size):
        z[i] = scale * min(max(float(a.flat[i]), -1.0), 1.0)
        top = max(top, z[i])
    total = 0.0
    for i in range(a.size):
        z[i] = np.exp(z[i] - top)
        total += z[i]
    return z[:n_assets] / total


class ActionMap:
    def __init__(self, kind: str, n_assets: int, short: bool) -> None:
        self.kind = kind
        self.n_assets = n_assets
        self.short = short
        if kind == "discrete":
            self.space: spaces.Space[Any] = spaces.Discrete(3 if short else 2)
            self._levels = np.array([-1.0, 0.0, 1.0]) if short else np.array([0.0, 1.0])
        elif kind == "continuous":
            self.space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        elif kind == "weights":
            self.space = spaces.Box(-1.0, 1.0, shape=(n_assets + 1,), dtype=np.float32)
        else:
            raise ValueError(f"unknown action kind {kind!r}; use discrete, continuous or weights")

    def __call__(self, action: Any) -> np.ndarray:
        if self.kind == "discrete":
            return self._levels[int(np.asarray(action).reshape(-1)[0])].reshape(1)
        a = np.asarray(action)
        if self.kind == "continuous":
            return _position(a, self.short)
        return _softmax_weights(a, self.n_assets, SOFTMAX_SCALE)
