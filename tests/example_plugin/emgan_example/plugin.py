"""Hook implementations only: what this plugin adds to emgan."""

from pathlib import Path

from emgan_core import Component, RecipeDir, hookimpl
from emgan_core.metrics import metric_factory

from .metrics import mean_abs_diff
from .networks import ToyConvGenerator


@hookimpl
def emgan_generators():
    return [Component("toy-conv", ToyConvGenerator, "toy residual convolution stack (example plugin)")]


@hookimpl
def emgan_metrics():
    return [Component("mean-abs-diff", metric_factory(mean_abs_diff), "mean absolute difference")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]
