"""Fréchet distance between Gaussian fits of two embedding sets (FID, Heusel et al. 2017)."""

from __future__ import annotations

import numpy as np

from ..errors import EmganError
from ..interfaces import MetricResult, as_array


def fid(output, reference) -> MetricResult:
    """‖μ_g − μ_r‖² + Tr(Σ_g + Σ_r − 2 (Σ_g Σ_r)^½) of generated embeddings ``output`` (M, D) and
    real embeddings ``reference`` (N, D); any classifier's features (the Inception network's in
    the original, a trained 3D classifier's for subtomograms). 0 for identical distributions."""
    g, r = as_array(output), as_array(reference)
    if g.ndim != 2 or r.ndim != 2 or g.shape[1] != r.shape[1]:
        raise EmganError(f"FID needs (M, D) and (N, D) embeddings, got {g.shape} and {r.shape}", "metric.fid")
    if min(len(g), len(r)) < 2:
        raise EmganError("FID needs at least 2 samples on each side", "metric.fid")
    mu_g, mu_r = g.mean(0), r.mean(0)
    cov_g, cov_r = np.atleast_2d(np.cov(g, rowvar=False)), np.atleast_2d(np.cov(r, rowvar=False))
    # Tr (Σ_g Σ_r)^½ = Tr (Σ_r^½ Σ_g Σ_r^½)^½: a symmetric PSD matrix, so its eigenvalues are
    # real and the root is stable even for the rank-deficient covariances of few samples.
    w, v = np.linalg.eigh(cov_r)
    root_r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh(root_r @ cov_g @ root_r), 0, None)).sum())
    value = float(np.sum((mu_g - mu_r) ** 2) + np.trace(cov_g) + np.trace(cov_r) - 2 * trace_root)
    return MetricResult({"fid": max(value, 0.0)})
