"""Hook implementations only: what the DiffraGAN plugin adds to emgan.

Factories are named by import path, so that listing plugins does not import torch.
"""

from pathlib import Path

from emgan_core.api import Command, Component, Model, RecipeDir, hookimpl

MODELS = Path(__file__).parent / "models"


@hookimpl
def emgan_simulators():
    return [Component("abtem-triplet", "emgan_diffragan.simulator:TripletSimulator",
                      "abTEM multislice triplet: diffraction pattern, noisy low-res and high-res image")]


@hookimpl
def emgan_generators():
    return [Component("diffragan-unet", "emgan_diffragan.networks:DiffraGANUNet",
                      "pix2pix U-Net on (diffraction, low-res image) → high-res image (DiffraGAN)"),
            Component("diffragan-phasing-unet", "emgan_diffragan.networks:DiffraGANPhasingUNet",
                      "DiffraGAN U-Net with a classical phaser's output (pattern amplitudes, HIO) as a third channel")]


@hookimpl
def emgan_tasks():
    return [Component("diffragan", "emgan_diffragan.task:DiffraGANTask",
                      "conditional GAN phasing: diffraction + low-res → high-res")]


@hookimpl
def emgan_metrics():
    return [Component("difference-mask", "emgan_diffragan.metrics:masked_fraction",
                      "share of pixels in DiffraGAN's difference mask (|fitted − truth| > threshold × range)",
                      wrap="emgan_core.api:metric_factory")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("diffragan", "emgan_diffragan.cli:configure",
                    "DiffraGAN: simulate triplets, build datasets, generate, export, evaluate")]


@hookimpl
def emgan_models():
    return [Model.bundled(MODELS / "diffragan-phasing-small", task="diffragan",
                          summary="phasing U-Net (16 channels, 6 levels) on 64² triplets at 1.09 Å/pixel, "
                                  "pattern to 11 mrad at 200 kV; FRC-0.143 2.2–3.9 Å from a 5.2 Å low-res "
                                  "image, as the phaser alone (card)",
                          sha256="9a7b5e72ab9bd1b6a08f03e7adbb39aa4ab034c10989b036c9a98cacde2a76f0", size=7_391_469)]
