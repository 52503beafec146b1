"""Metrics: one function per module, each ``fn(output, reference, **params) -> MetricResult``.

``output`` and ``reference`` share a grid: (z, y, x) volumes, (y, x) images or (n, y, x) stacks,
given as arrays or as Volume/ImageStack (whose spacing FSC/FRC use for resolutions in Å); or, for
sample-set metrics (``prdc``, ``fid``), (M, D) and (N, D) embeddings of generated and real samples (``inception-score``: (M, K) class probabilities).
"""

from __future__ import annotations

import inspect
import typing

from ..interfaces import Metric, MetricResult
from .box_correlation import box_correlation
from .box_correlation_about_mean import box_correlation_about_mean
from .chimerax_correlation import chimerax_contour_level, chimerax_correlation
from .fid import fid
from .frc import frc
from .fsc import fsc
from .image_scores import fit_to, image_scores
from .inception_score import inception_score
from .pearson import pearson
from .prdc import prdc
from .psnr import psnr
from .ssim import ssim
from .thresholded_pcc import thresholded_pcc
from .thresholded_ssim import thresholded_ssim


class FunctionMetric(Metric):
    """A metric function with its parameters bound.

    ``shared_grid`` is False for metrics that place both maps in world coordinates themselves
    (``fn.shared_grid = False``); callers then pass the output on its own grid instead of resampled
    onto the reference's.
    """

    def __init__(self, fn, params: dict):
        self.fn = fn
        self.params = dict(params)
        self.shared_grid = getattr(fn, "shared_grid", True)

    def __call__(self, output, reference) -> MetricResult:
        return self.fn(output, reference, **self.params)


def metric_factory(fn):
    """A factory whose signature is ``fn``'s parameters after (output, reference).

    The registry validates recipe parameters against that signature.
    """
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())[2:]
    hints = typing.get_type_hints(fn)

    def factory(**kwargs):
        return FunctionMetric(fn, kwargs)

    factory.__signature__ = sig.replace(parameters=params)
    factory.__name__ = fn.__name__
    factory.__qualname__ = fn.__qualname__
    factory.__module__ = fn.__module__
    factory.__doc__ = fn.__doc__
    factory.__emgan_hints__ = {p.name: hints[p.name] for p in params if p.name in hints}
    return factory


def metric_component(name: str, fn):
    """A registry Component for metric function ``fn``; its summary is the first docstring line of
    the module holding ``fn`` (one function per module)."""
    import sys

    from ..records import Component

    doc = sys.modules[fn.__module__].__doc__ or fn.__doc__ or ""
    return Component(name, metric_factory(fn), doc.strip().splitlines()[0].rstrip("."))


__all__ = [
    "FunctionMetric", "metric_component", "MetricResult", "box_correlation", "box_correlation_about_mean",
    "chimerax_contour_level", "chimerax_correlation", "frc", "fid", "fit_to", "fsc", "image_scores",
    "inception_score", "metric_factory", "pearson", "prdc", "psnr", "ssim", "thresholded_pcc", "thresholded_ssim",
]
