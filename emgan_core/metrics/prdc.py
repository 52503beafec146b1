"""Precision, recall, density and coverage of generated samples (Naeem et al. 2020, ICML)."""

from __future__ import annotations

import torch

from ..errors import EmganError
from ..interfaces import MetricResult, as_array


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the row itself (0)


def prdc(output, reference, k: int = 5) -> MetricResult:
    """PRDC of generated embeddings ``output`` (M, D) against real embeddings ``reference`` (N, D).

    Each real sample's k-NN ball (radius to its k-th nearest real neighbour) defines the real
    manifold, likewise for the fakes. precision: fraction of fakes inside some real ball; recall:
    fraction of reals inside some fake ball; density: mean number of real balls holding a fake,
    divided by k (can exceed 1); coverage: fraction of real balls holding at least one fake.
    """
    fake = torch.from_numpy(as_array(output))
    real = torch.from_numpy(as_array(reference))
    if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1]:
        raise EmganError(f"PRDC needs (M, D) and (N, D) embeddings, got {tuple(fake.shape)} and "
                         f"{tuple(real.shape)}", "metric.prdc")
    if not 1 <= k < min(len(fake), len(real)):
        raise EmganError(f"k must be in [1, {min(len(fake), len(real)) - 1}] for these sample counts, got {k}",
                         "metric.prdc")
    real_radius = _kth_neighbour_radius(real, k)
    fake_radius = _kth_neighbour_radius(fake, k)
    d = torch.cdist(real, fake)  # (N, M)
    in_real = d <= real_radius[:, None]
    values = {
        "precision": float(in_real.any(0).double().mean()),
        "recall": float((d <= fake_radius[None, :]).any(1).double().mean()),
        "density": float(in_real.double().sum() / (k * len(fake))),
        "coverage": float((d.min(1).values <= real_radius).double().mean()),
    }
    return MetricResult(values)
