"""Hook implementations only: what the DiffraGAN plugin adds to emgan."""

from pathlib import Path

from emgan_core import Command, Component, RecipeDir, hookimpl

from . import cli
from .networks import DiffraGANUNet
from .simulator import TripletSimulator
from .task import DiffraGANTask


@hookimpl
def emgan_simulators():
    return [Component("abtem-triplet", TripletSimulator,
                      "abTEM multislice triplet: diffraction pattern, noisy low-res and high-res image")]


@hookimpl
def emgan_generators():
    return [Component("diffragan-unet", DiffraGANUNet,
                      "pix2pix U-Net on (diffraction, low-res image) → high-res image (DiffraGAN)")]


@hookimpl
def emgan_tasks():
    return [Component("diffragan", DiffraGANTask, "conditional GAN phasing: diffraction + low-res → high-res")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("diffragan", cli.configure, "DiffraGAN: simulate triplets, build datasets, generate, evaluate")]
