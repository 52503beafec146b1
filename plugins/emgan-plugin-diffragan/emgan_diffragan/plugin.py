"""Hook implementations only: what the DiffraGAN plugin adds to emgan.

Factories are named by import path, so that listing plugins does not import torch.
"""

from pathlib import Path

from emgan_core import Command, Component, RecipeDir, hookimpl


@hookimpl
def emgan_simulators():
    return [Component("abtem-triplet", "emgan_diffragan.simulator:TripletSimulator",
                      "abTEM multislice triplet: diffraction pattern, noisy low-res and high-res image")]


@hookimpl
def emgan_generators():
    return [Component("diffragan-unet", "emgan_diffragan.networks:DiffraGANUNet",
                      "pix2pix U-Net on (diffraction, low-res image) → high-res image (DiffraGAN)")]


@hookimpl
def emgan_tasks():
    return [Component("diffragan", "emgan_diffragan.task:DiffraGANTask",
                      "conditional GAN phasing: diffraction + low-res → high-res")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("diffragan", "emgan_diffragan.cli:configure",
                    "DiffraGAN: simulate triplets, build datasets, generate, evaluate")]
