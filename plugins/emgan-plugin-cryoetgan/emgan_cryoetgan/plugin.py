"""Hook implementations only: what the CryoETGAN plugin adds to emgan.

Factories are named by import path, so that listing plugins does not import torch.
"""

from pathlib import Path

from emgan_core.api import Command, Component, Model, RecipeDir, hookimpl

MODELS = Path(__file__).parent / "models"


@hookimpl
def emgan_simulators():
    return [Component("subtomogram", "emgan_cryoetgan.simulator:SubtomogramSimulator",
                      "subtomogram of a structure: tilt series ±60° with CTF, dose, ice and neighbours, WBP "
                      "(or the conventional wedge model)")]


@hookimpl
def emgan_generators():
    return [Component("cycle3d", "emgan_cryoetgan.networks:CycleGenerator",
                      "CycleGAN ResNet generator (c7s1-32 … u32, c7s1-1) with a noise channel, 3D or 2D")]


@hookimpl
def emgan_critics():
    return [Component("cycle3d", "emgan_cryoetgan.networks:CycleCritic",
                      "C64-C128-C256 at stride 1, instance and spectral norm, 3D or 2D (CryoETGAN)")]


@hookimpl
def emgan_classifiers():
    return [Component("cnn3d", "emgan_cryoetgan.networks:SubtomogramClassifier",
                      "small CNN classifier with embeddings (FID, IS, PRDC), 3D or 2D")]


@hookimpl
def emgan_tasks():
    return [Component("cycle", "emgan_cryoetgan.task:CycleTask",
                      "unpaired cycle-consistent GAN between two domains (CycleGAN, CryoETGAN)"),
            Component("classify", "emgan_cryoetgan.task:ClassifyTask",
                      "supervised classification of labelled subtomograms or images")]


@hookimpl
def emgan_metrics():
    wrap = "emgan_core.api:metric_factory"
    return [Component("classifier-scores", "emgan_cryoetgan.metrics:classifier_scores",
                      "FID, PRDC, Inception Score and accuracy of a sample set on a trained classifier's embeddings",
                      wrap=wrap),
            Component("sample-ssim", "emgan_cryoetgan.metrics:sample_ssim",
                      "mean SSIM of a sample set with its paired ground truth", wrap=wrap),
            Component("class-diversity", "emgan_cryoetgan.metrics:class_diversity",
                      "per-class spread of a sample set (0: mode collapse)", wrap=wrap)]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("cryoetgan", "emgan_cryoetgan.cli:configure",
                    "CryoETGAN: simulate subtomograms and sets, generate, classify, evaluate, downstream test")]


@hookimpl
def emgan_models():
    return [Model.bundled(MODELS / "cryoetgan-synthetic", task="cycle",
                          summary="cycle GAN 16³ at 7 Å/voxel, Gaussian maps → simulated subtomograms; does not "
                                  "help: downstream accuracy at chance against 0.68 conventional (card)",
                          sha256="06b47a64cc771f0f2aa45e7da31af5e16111f039e4b67ba5a8567203702e80f8",
                          size=1_334_377),
            Model.bundled(MODELS / "cryoetgan-microtubules", task="cycle",
                          summary="cycle GAN 16³ at 21 Å/voxel, microtubule lattice models → real subtomograms; "
                                  "does not help: downstream accuracy 0.11–0.32, conventional 0.32, real 0.65 (card)",
                          sha256="13a6b57906350bb084f4df33e9198899621e797138e4003e80b182b81eb61cbb",
                          size=1_333_587)]
