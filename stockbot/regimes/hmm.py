"""Gaussian HMM market regimes: fitted on the training split, frozen, forward-filtered.

``RegimeModel.fit`` standardises the chosen feature columns with the training rows' mean and std,
fits hmmlearn's ``GaussianHMM`` with the configured seed, and orders the states by their mean of the
ordering column (the first ``ret_*`` column by default): state 0 has the lowest mean return, so the
labels mean the same thing across fits. ``scope: market`` fits one HMM on the cross-sectional mean
of each column over the universe and gives every symbol the same probabilities; ``scope: symbol``
fits one HMM per symbol. Inference (:meth:`RegimeModel.filter_proba`) is the forward filter of
:mod:`stockbot.regimes.filtering`, never hmmlearn's smoothed ``predict_proba``. The model is saved
as JSON parameters (no pickle).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stockbot.config import RegimeConfig
from stockbot.errors import RegimeError
from stockbot.jsonio import read_json, write_json
from stockbot.regimes.filtering import forward_filter, gaussian_log_density

log = logging.getLogger(__name__)

FORMAT = "stockbot.hmm/1"
MARKET = "__market__"


def proba_columns(n_states: int) -> list[str]:
    return [f"regime_p{k}" for k in range(n_states)]


@dataclass(frozen=True)
class GaussianHMMParams:
    """One fitted HMM in StockBot's own terms (full covariances, standardisation included)."""

    startprob: np.ndarray  # (K,)
    transmat: np.ndarray  # (K, K)
    means: np.ndarray  # (K, D), in standardised units
    covars: np.ndarray  # (K, D, D), in standardised units
    center: np.ndarray  # (D,) training mean of each column
    scale: np.ndarray  # (D,) training std of each column
    log_likelihood: float
    n_obs: int
    converged: bool

    def filter(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.center) / self.scale
        return forward_filter(gaussian_log_density(z, self.means, self.covars), self.startprob, self.transmat)

    def to_dict(self) -> dict[str, Any]:
        return {
            "startprob": self.startprob.tolist(),
            "transmat": self.transmat.tolist(),
            "means": self.means.tolist(),
            "covars": self.covars.tolist(),
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "log_likelihood": self.log_likelihood,
            "n_obs": self.n_obs,
            "converged": self.converged,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GaussianHMMParams:
        arr = {
            k: np.asarray(d[k], dtype="float64")
            for k in ("startprob", "transmat", "means", "covars", "center", "scale")
        }
        k, dim = arr["means"].shape
        shapes = {
            "startprob": (k,),
            "transmat": (k, k),
            "covars": (k, dim, dim),
            "center": (dim,),
            "scale": (dim,),
        }
        for name, shape in shapes.items():
            if arr[name].shape != shape:
                raise RegimeError(
                    f"malformed HMM parameters: {name} has shape {arr[name].shape}, want {shape}"
                )
        return cls(
            **arr,
            log_likelihood=float(d["log_likelihood"]),
            n_obs=int(d["n_obs"]),
            converged=bool(d["converged"]),
        )


def _fit_one(x: np.ndarray, cfg: RegimeConfig, order_col: int, label: str) -> GaussianHMMParams:
    from hmmlearn.hmm import GaussianHMM

    n, d = x.shape
    min_rows = cfg.n_states * (d + 2) * 5
    if n < min_rows:
        raise RegimeError(
            f"{label}: {n} training rows are too few for a {cfg.n_states}-state HMM on {d} "
            f"columns (need at least {min_rows}); use a longer training split or fewer states"
        )
    center = x.mean(axis=0)
    scale = x.std(axis=0, ddof=0)
    flat = [c for c, s in zip(cfg.columns, scale, strict=True) if not s > 0]
    if flat:
        raise RegimeError(f"{label}: columns {flat} are constant on the training split")
    z = (x - center) / scale
    model = GaussianHMM(
        n_components=cfg.n_states,
        covariance_type=cfg.covariance_type,
        n_iter=cfg.n_iter,
        tol=cfg.tol,
        random_state=cfg.seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            model.fit(z)
        except (ValueError, np.linalg.LinAlgError) as e:
            raise RegimeError(f"{label}: the HMM fit failed ({e}); try fewer states or other columns") from e
    converged = bool(model.monitor_.converged)
    if not converged:
        log.warning("%s: HMM did not converge in %d iterations", label, cfg.n_iter)
    perm = np.argsort(model.means_[:, order_col], kind="stable")
    return GaussianHMMParams(
        startprob=model.startprob_[perm].copy(),
        transmat=model.transmat_[perm][:, perm].copy(),
        means=model.means_[perm].copy(),
        covars=np.asarray(model.covars_)[perm].copy(),
        center=center,
        scale=scale,
        log_likelihood=float(model.score(z)),
        n_obs=n,
        converged=converged,
    )


class RegimeModel:
    """Frozen HMM regimes over feature frames indexed by (timestamp, symbol)."""

    def __init__(self, config: RegimeConfig, models: dict[str, GaussianHMMParams]) -> None:
        self.config = config
        self.models = models

    @property
    def columns(self) -> list[str]:
        return proba_columns(self.config.n_states)

    # ------------------------------------------------------------------ inputs

    def _inputs(self, features: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The HMM input rows per model key (market: cross-sectional mean per timestamp)."""
        missing = [c for c in self.config.columns if c not in features.columns]
        if missing:
            raise RegimeError(f"features lack regime columns {missing}; available: {list(features.columns)}")
        cols = list(self.config.columns)
        if self.config.scope == "market":
            return {MARKET: features[cols].groupby(level="timestamp", sort=True).mean()}
        return {
            str(sym): frame[cols].droplevel("symbol").sort_index()
            for sym, frame in features.groupby(level="symbol", sort=False)
        }

    # ------------------------------------------------------------------ fit / infer

    @classmethod
    def fit(cls, features: pd.DataFrame, config: RegimeConfig) -> RegimeModel:
        """Fit on ``features`` — pass the training split's rows only."""
        model = cls(config, {})
        order_col = list(config.columns).index(config.ordering_column())
        models = {}
        for key, frame in model._inputs(features).items():
            label = "market" if key == MARKET else key
            models[key] = _fit_one(frame.to_numpy("float64"), config, order_col, label)
        if not models:
            raise RegimeError("RegimeModel.fit got no rows; is the training split empty?")
        model.models = models
        return model

    def filter_proba(self, features: pd.DataFrame) -> pd.DataFrame:
        """Forward-filtered p(state_t | x_1..t) per row of ``features`` (same index), columns
        ``regime_p0..regime_p{K-1}``; filtering starts at the first row given."""
        out = []
        for key, frame in self._inputs(features).items():
            params = self.models.get(key)
            if params is None:
                raise RegimeError(f"no fitted HMM for symbol {key!r}; this model knows {sorted(self.models)}")
            proba = pd.DataFrame(
                params.filter(frame.to_numpy("float64")), index=frame.index, columns=self.columns
            )
            if key == MARKET:
                stamps = features.index.get_level_values("timestamp")
                aligned = proba.reindex(stamps)
                aligned.index = features.index
                return aligned
            proba["symbol"] = key
            out.append(proba.set_index("symbol", append=True))
        return pd.concat(out).reindex(features.index)

    def most_likely(self, features: pd.DataFrame) -> pd.Series:
        """The state with the highest filtered probability at each row (``regime_state``)."""
        proba = self.filter_proba(features)
        return pd.Series(proba.to_numpy().argmax(axis=1), index=proba.index, name="regime_state")

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "config": self.config.model_dump(mode="json"),
            "models": {k: v.to_dict() for k, v in self.models.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegimeModel:
        if data.get("format") != FORMAT:
            raise RegimeError(f"not a StockBot HMM file (format {data.get('format')!r}, want {FORMAT})")
        try:
            config = RegimeConfig.model_validate(data["config"])
            models = {k: GaussianHMMParams.from_dict(v) for k, v in data["models"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise RegimeError(f"malformed HMM file: {e}") from e
        return cls(config, models)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RegimeModel:
        return cls.from_dict(read_json(path, RegimeError, "HMM"))
