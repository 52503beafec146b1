"""Hook implementations only: what the SuperEM plugin adds to emgan."""

from pathlib import Path

from emgan_core import Command, Component, RecipeDir, hookimpl
from emgan_core.metrics import metric_component

from . import cli
from .metrics import cube_correlation
from .networks import SRResNet3D, SuperEMCritic
from .task import SuperEMTask


@hookimpl
def emgan_generators():
    return [Component("srresnet3d", SRResNet3D, "3D SRResNet, dilated residual blocks (SuperEM / EM-GAN)")]


@hookimpl
def emgan_critics():
    return [Component("superem", SuperEMCritic, "10 3D convolutions, group norm, PReLU, dropout (SuperEM)")]


@hookimpl
def emgan_tasks():
    return [Component("superem", SuperEMTask, "map → model-map super-resolution on 25 Å cubes (SuperEM)")]


@hookimpl
def emgan_metrics():
    return [metric_component("cube-cc", cube_correlation)]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("superem", cli.configure, "SuperEM: import published weights, enhance and evaluate maps")]
