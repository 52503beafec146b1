"""Hook implementations only: what the CryoETGAN plugin adds to emgan."""

from pathlib import Path

from emgan_core import Command, Component, RecipeDir, hookimpl

from . import cli
from .classify import ClassifyTask
from .cycle import CycleTask
from .networks import CycleCritic, CycleGenerator, SubtomogramClassifier
from .simulator import SubtomogramSimulator


@hookimpl
def emgan_simulators():
    return [Component("subtomogram", SubtomogramSimulator,
                      "subtomogram of a structure: tilt series ±60° with CTF and noise, WBP (or wedge mask)")]


@hookimpl
def emgan_generators():
    return [Component("cycle3d", CycleGenerator,
                      "CycleGAN ResNet generator (c7s1-32 … u32, c7s1-1) with a noise channel, 3D or 2D")]


@hookimpl
def emgan_critics():
    return [Component("cycle3d", CycleCritic, "C64-C128-C256 PatchGAN with spectral norm, 3D or 2D (CryoETGAN)")]


@hookimpl
def emgan_classifiers():
    return [Component("cnn3d", SubtomogramClassifier, "small CNN classifier with embeddings (FID, IS, PRDC), 3D or 2D")]


@hookimpl
def emgan_tasks():
    return [Component("cycle", CycleTask, "unpaired cycle-consistent GAN between two domains (CycleGAN, CryoETGAN)"),
            Component("classify", ClassifyTask, "supervised classification of labelled subtomograms or images")]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("cryoetgan", cli.configure,
                    "CryoETGAN: simulate subtomograms and sets, generate, classify, evaluate, downstream test")]
