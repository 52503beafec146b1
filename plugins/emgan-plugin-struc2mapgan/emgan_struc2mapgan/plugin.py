"""Hook implementations only: what the struc2mapGAN plugin adds to emgan.

Factories are named by import path, so that listing plugins does not import torch.
"""

from pathlib import Path

from emgan_core.api import Command, Component, Model, RecipeDir, hookimpl

MODELS = Path(__file__).parent / "models"


@hookimpl
def emgan_generators():
    return [Component("unetpp3d", "emgan_struc2mapgan.networks:UNetPP3D",
                      "3D nested U-Net (UNet++), residual blocks, optional FiLM "
                                            "resolution conditioning (struc2mapGAN)")]


@hookimpl
def emgan_critics():
    return [Component("struc2mapgan", "emgan_struc2mapgan.networks:Struc2mapCritic",
                      "4 strided 3D convolutions + 3 FC layers, one logit "
                                                      "per cube (struc2mapGAN)")]


@hookimpl
def emgan_tasks():
    return [Component("struc2mapgan", "emgan_struc2mapgan.task:Struc2mapGANTask",
                      "simulated map of a model → experimental-like map, paired cubes (struc2mapGAN)")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("struc2mapgan", "emgan_struc2mapgan.cli:configure",
                    "struc2mapGAN: curate training pairs, generate maps")]


@hookimpl
def emgan_models():
    return [Model.bundled(MODELS / "struc2mapgan-small", task="struc2mapgan",
                          summary="UNet++ 8-16-32 on backbone and side-chain molmaps at the map's resolution, "
                                  "trained on 6 EMDB maps; above molmap on 4 held-out maps (card)",
                          sha256="350e8ea12612919fef0b17f52a37c76953abab9b22a8caeecbf29a69fbf22c8a", size=613_133)]
