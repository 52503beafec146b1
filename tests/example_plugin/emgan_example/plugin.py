"""Hook implementations only: what this plugin adds to emgan.

Factories are named by import path ("package.module:attribute"): emgan imports them when a recipe
or command uses them, so listing plugins stays fast. A class or function object works too.
"""

from pathlib import Path

from emgan_core.api import Component, RecipeDir, hookimpl


@hookimpl
def emgan_generators():
    return [Component("toy-conv", "emgan_example.networks:ToyConvGenerator",
                      "toy residual convolution stack (example plugin)")]


@hookimpl
def emgan_tasks():
    return [Component("example-deblur", "emgan_example.task:DeblurTask",
                      "map from its blurred copy, paired GAN (example plugin)")]


@hookimpl
def emgan_metrics():
    return [Component("mean-abs-diff", "emgan_example.metrics:mean_abs_diff", "mean absolute difference",
                      wrap="emgan_core.api:metric_factory")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]
