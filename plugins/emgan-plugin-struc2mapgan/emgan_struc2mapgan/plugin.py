"""Hook implementations only: what the struc2mapGAN plugin adds to emgan."""

from pathlib import Path

from emgan_core import Command, Component, RecipeDir, hookimpl

from . import cli
from .networks import Struc2mapCritic, UNetPP3D


@hookimpl
def emgan_generators():
    return [Component("unetpp3d", UNetPP3D, "3D nested U-Net (UNet++), residual blocks, optional FiLM "
                                            "resolution conditioning (struc2mapGAN)")]


@hookimpl
def emgan_critics():
    return [Component("struc2mapgan", Struc2mapCritic, "4 strided 3D convolutions + 3 FC layers, one logit "
                                                      "per cube (struc2mapGAN)")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("struc2mapgan", cli.configure, "struc2mapGAN: curate training pairs, generate maps")]
