"""Hook implementations only: what the particle-denoising plugin adds to emgan.

Factories are named by import path, so that listing plugins does not import torch.
"""

from pathlib import Path

from emgan_core.api import Command, Component, Model, RecipeDir, hookimpl

MODELS = Path(__file__).parent / "models"


@hookimpl
def emgan_simulators():
    return [Component("projection", "emgan_denoise.simulator:ProjectionSimulator",
                      "noisy and clean projections of a map or a model (Fourier slice or real space, CTF, noise)")]


@hookimpl
def emgan_generators():
    return [Component("denoise-unet", "emgan_denoise.networks:DenoiseUNet",
                      "pix2pix U-Net on particle images, the denoising paper's 8 levels × 64 channels")]


@hookimpl
def emgan_critics():
    return [Component("denoise-patchgan", "emgan_denoise.networks:DenoisePatchGAN",
                      "PatchGAN on (noisy, clean) particle image pairs, 70×70 receptive field by default")]


@hookimpl
def emgan_tasks():
    return [Component("denoise", "emgan_denoise.task:DenoiseTask",
                      "pix2pix denoising of particle images (noisy → clean projection)")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("denoise", "emgan_denoise.cli:configure",
                    "particle denoising: simulate pairs, denoise stacks, evaluate")]


@hookimpl
def emgan_models():
    return [Model.bundled(MODELS / "denoise-small", task="denoise",
                          summary="U-Net (16 channels, 6 levels) for 64² particles at 1.5 Å/pixel, SNR ≈ 0.1, "
                                  "no CTF; above low-pass, Wiener and non-local means on FRC, PSNR and SSIM on 2 "
                                  "held-out proteins (card)",
                          sha256="4455458d95e18367626285eca3dbfce8007c8a94f4c4bdd9f2682b97904a2120", size=7_386_917)]
