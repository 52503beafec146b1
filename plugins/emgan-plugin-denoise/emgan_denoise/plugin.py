"""Hook implementations only: what the particle-denoising plugin adds to emgan."""

from pathlib import Path

from emgan_core import Command, Component, RecipeDir, hookimpl

from . import cli
from .simulator import ProjectionSimulator
from .task import DenoiseTask


@hookimpl
def emgan_simulators():
    return [Component("projection", ProjectionSimulator,
                      "noisy and clean projections of a map or a model (Fourier slice or real space, CTF, noise)")]


@hookimpl
def emgan_tasks():
    return [Component("denoise", DenoiseTask, "pix2pix denoising of particle images (noisy → clean projection)")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("denoise", cli.configure, "particle denoising: simulate pairs, denoise stacks, evaluate")]
