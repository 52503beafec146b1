"""Hook implementations only: what the SuperEM plugin adds to emgan.

Factories are named by import path, so that listing plugins does not import torch.
"""

from pathlib import Path

from emgan_core import Command, Component, RecipeDir, hookimpl

CUBE_CC_SUMMARY = "per-cube correlation of 25 Å cubes with the reference map (SuperEM Figure 2a)"


@hookimpl
def emgan_generators():
    return [Component("srresnet3d", "emgan_superem.networks:SRResNet3D",
                      "3D SRResNet, dilated residual blocks (SuperEM / EM-GAN)")]


@hookimpl
def emgan_critics():
    return [Component("superem", "emgan_superem.networks:SuperEMCritic",
                      "10 3D convolutions, group norm, PReLU, dropout (SuperEM)")]


@hookimpl
def emgan_tasks():
    return [Component("superem", "emgan_superem.task:SuperEMTask",
                      "map → model-map super-resolution on 25 Å cubes (SuperEM)")]


@hookimpl
def emgan_metrics():
    wrap = "emgan_core.metrics:metric_factory"
    return [Component("cube-cc", "emgan_superem.metrics:cube_correlation", CUBE_CC_SUMMARY, wrap=wrap),
            Component("cube-improvement", "emgan_superem.metrics:cube_improvement_scores",
                      "SuperEM Figure 2a: per-cube CC before and after enhancement, share of cubes improved",
                      wrap=wrap),
            Component("model-resolution", "emgan_superem.metrics:model_resolution_score",
                      "d_model (Å): the model map's resolution that best correlates with the map", wrap=wrap)]


@hookimpl
def emgan_recipes():
    return [RecipeDir(Path(__file__).parent / "recipes")]


@hookimpl
def emgan_commands():
    return [Command("superem", "emgan_superem.cli:configure",
                    "SuperEM: import published weights, enhance and evaluate maps")]
