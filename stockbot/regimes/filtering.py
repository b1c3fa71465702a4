"""Forward filtering of a Gaussian HMM: p(z_t | x_1..t), computed here from the parameters.

hmmlearn's ``predict_proba`` (forward-backward) and ``predict`` (Viterbi) condition on the whole
sequence, future included, so they must never produce features. The forward pass here uses only
x_1..t at step t. Every per-step operation works on that step's values alone, in a fixed order, so
filtering a prefix of a sequence gives bit-identical probabilities to filtering the whole of it.
"""

from __future__ import annotations

import math

import numpy as np


def gaussian_log_density(x: np.ndarray, means: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """log N(x_t | mean_k, covar_k) for every t and state k: shape (T, K).

    ``covars`` are full (K, D, D) matrices. The Mahalanobis term is solved by forward substitution
    with elementwise arithmetic (no BLAS), so each row's value does not depend on the other rows.
    """
    n, d = x.shape
    k = means.shape[0]
    out = np.empty((n, k))
    for state in range(k):
        chol = np.linalg.cholesky(covars[state])
        diff = x - means[state]
        z = np.empty_like(diff)
        for i in range(d):
            acc = diff[:, i].copy()
            for j in range(i):
                acc = acc - chol[i, j] * z[:, j]
            z[:, i] = acc / chol[i, i]
        maha = np.zeros(n)
        for i in range(d):
            maha = maha + z[:, i] * z[:, i]
        log_det = 2.0 * sum(math.log(chol[i, i]) for i in range(d))
        out[:, state] = -0.5 * (d * math.log(2.0 * math.pi) + log_det + maha)
    return out


def forward_filter(log_b: np.ndarray, startprob: np.ndarray, transmat: np.ndarray) -> np.ndarray:
    """Filtered state probabilities (T, K) from per-step emission log densities ``log_b``."""
    n, k = log_b.shape
    alpha = np.empty((n, k))
    prior = startprob.astype("float64")
    for t in range(n):
        if t > 0:
            prev = alpha[t - 1]
            prior = np.array([sum(prev[i] * transmat[i, j] for i in range(k)) for j in range(k)])
        row = log_b[t]
        peak = row.max()
        unnorm = prior * np.exp(row - peak)
        total = unnorm.sum()
        if not np.isfinite(total) or total <= 0.0:
            # every state finds x_t impossible (an extreme outlier): keep the prediction
            unnorm, total = prior, prior.sum()
        alpha[t] = unnorm / total
    return alpha
