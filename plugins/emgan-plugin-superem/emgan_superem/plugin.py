"""Hook implementations only: what the SuperEM plugin adds to emgan.

Factories are named by import path, so that listing plugins does not import torch.
"""

from pathlib import Path

from emgan_core.api import Command, Component, Model, ModelFile, RecipeDir, hookimpl

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
    wrap = "emgan_core.api:metric_factory"
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


#: the published EM-GAN generator (GPL-3.0): fetched from its authors' repository, never bundled
PUBLISHED_URL = ("https://github.com/kiharalab/EM-GAN/raw/48e17e4c0420102a29cfbbf7313975cb07dab374/"
                 "model/G_model")


@hookimpl
def emgan_models():
    return [Model("superem-published", task="superem",
                  summary="EM-GAN's published generator (SuperEM), 884,243 parameters; helped a 4.8 Å map, "
                          "lowered 6 of 9 maps of 1.75–3.9 Å (card)",
                  files=(ModelFile("G_model", "5e6ce94c37b9b27fa37b788e0d1cd04d7c912a9aad9efc4716804a233359df1e",
                                   url=PUBLISHED_URL, size=3_586_003),),
                  card=Path(__file__).parent / "models" / "superem-published.md", license="GPL-3.0-only",
                  convert="emgan_superem.weights:convert_published")]
