"""Inception Score (Salimans et al. 2016) from a classifier's class probabilities."""

from __future__ import annotations

import numpy as np

from ..errors import EmganError
from ..interfaces import MetricResult, as_array


def inception_score(output, reference=None, splits: int = 1) -> MetricResult:
    """exp(E_x KL(p(y|x) ‖ p(y))) of generated samples' class probabilities ``output`` (M, K),
    rows summing to 1; between 1 (one class, or uniform predictions) and K (confident and
    balanced). ``reference`` is unused (the score needs no real samples); with ``splits`` > 1 the
    mean and standard deviation over that many disjoint splits, as usually reported."""
    p = as_array(output)
    if p.ndim != 2 or (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise EmganError(f"the Inception Score needs (M, K) class probabilities summing to 1, got {p.shape}",
                         "metric.inception-score")
    if not 1 <= splits <= len(p):
        raise EmganError(f"splits must be in [1, {len(p)}], got {splits}", "metric.inception-score")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0, keepdims=True)
        kl = np.where(part > 0, part * (np.log(np.clip(part, 1e-30, None)) - np.log(np.clip(marginal, 1e-30, None))),
                      0.0).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return MetricResult({"inception_score": float(np.mean(scores)), "inception_score_std": float(np.std(scores))})
