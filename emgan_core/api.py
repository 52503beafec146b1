"""The public API of emgan-core: every name a plugin may import, and the only module it imports them from.

    from emgan_core.api import PairedTask, Volume, hookimpl, read_map

Stability: the names listed in ``__all__`` keep their meaning and their call signatures within a
major version of emgan-core (0.x counts as one series: a change that breaks a plugin is named in the
changelog with the release that makes it, and the old name keeps working for that release with a
``DeprecationWarning``). Everything else under ``emgan_core`` is internal: modules may move and
functions change without notice. ``tests/test_import_graph.py`` holds every plugin of this repository
(and its third-party example) to that rule; test suites may also use :mod:`emgan_core.testing`.

Names are loaded on first use (PEP 562), so ``from emgan_core.api import hookimpl, Component`` in a
plugin's ``plugin.py`` does not import torch: ``emgan plugins`` stays fast.
"""

from __future__ import annotations

import importlib

#: area -> {public name: "module" or "module:attribute"}; modules are relative to ``emgan_core``
_AREAS: dict[str, dict[str, str]] = {
    "registration": {
        "hookimpl": "hookspecs", "Command": "records", "Component": "records", "Model": "records",
        "ModelFile": "records", "RecipeDir": "records", "get_registry": "registry",
    },
    "errors": {"EmganError": "errors", "RecipeError": "errors", "RegistryError": "errors"},
    "interfaces": {
        "Simulator": "interfaces", "Generator": "interfaces", "Critic": "interfaces",
        "Classifier": "interfaces", "Loss": "interfaces", "Metric": "interfaces", "MetricResult": "interfaces",
        "Task": "interfaces", "as_array": "interfaces", "PairedTask": "tasks.paired",
    },
    "parameters": {"InputPath": "params", "Range": "params", "require_record": "params"},
    "data": {"Volume": "volume", "ImageStack": "volume"},
    "io": {
        "read_map": "io.maps", "write_map": "io.maps", "read_structure": "io.structures",
        "Atoms": "io.structures", "is_structure_path": "io.structures", "read_any": "io.dispatch",
        "read_image_stack": "io.stacks", "write_image_stack": "io.stacks",
        "read_particle_star": "io.particles", "write_particle_star": "io.particles",
        "read_particle_images": "io.particles", "ParticleTable": "io.particles", "stack_rows": "io.particles",
        "LabelledSet": "io.sets", "read_set": "io.sets", "read_samples": "io.sets", "set_columns": "io.sets",
        "new_set_folder": "io.sets", "write_set": "io.sets", "read_manifest": "io.manifest",
        "atomic_output": "io.atomic", "check_output": "io.atomic", "build_cached": "cache",
        "new_figure": "io.figures", "save_figure": "io.figures",
        "load_checkpoint": "io.checkpoints", "save_checkpoint": "io.checkpoints",
        "torch_load_safely": "io.checkpoints",
    },
    "simulators": {
        "GaussianSimulator": "simulators", "FourierProjector": "simulators", "project_real": "simulators",
        "apply_ctf": "simulators", "ctf_2d": "simulators", "shift_images": "simulators",
        "electron_wavelength": "simulators", "euler_matrix": "simulators", "random_euler": "simulators",
        "grid_euler": "simulators",
    },
    "transforms": {
        "normalise": "transforms", "Standardiser": "transforms.intensity", "resample_to_grid": "transforms",
        "resample_to_voxel_size": "transforms", "fourier_resize": "transforms", "apply_zone": "transforms",
        "soft_mask": "transforms.zone",
    },
    "networks": {"UNetGenerator": "networks.unet", "PatchGANCritic": "networks.patchgan"},
    "metrics": {
        "chimerax_correlation": "metrics", "chimerax_contour_level": "metrics", "fid": "metrics",
        "prdc": "metrics", "ssim": "metrics", "inception_score": "metrics", "image_scores": "metrics",
        "fit_to": "metrics", "pearson": "metrics", "metric_factory": "metrics", "fsc": "metrics", "frc": "metrics",
        "correlate": "metrics._common", "pair": "metrics._common", "shell_correlation": "metrics._common",
    },
    "training": {
        "Trainer": "training.trainer", "PatchPairs": "training.data", "crop": "training.data",
        "SeededSamples": "training.samples", "load_recipe": "recipes", "validate": "recipes",
        "Recipe": "recipes",
    },
    "inference": {
        "EvalSettings": "settings.inference", "load_for_inference": "inference", "infer_to_file": "inference",
        "resolve_device": "inference", "test_time": "inference", "check_test_mode": "inference",
        "PatchInferer": "inferers", "BatchInferer": "inferers", "grid_starts": "inferers",
        "padded_extent": "inferers", "TiledInferer": "inferers.tiles", "tiled_inferer": "inferers.tiles", "mc_dropout": "inferers.mc_dropout:mc_dropout",
        "progress": "progress", "Progress": "progress",
    },
    "parallel work": {"dask_client": "parallel", "run_tasks": "parallel", "infer_many": "many"},
    "benchmarks": {"Benchmark": "bench.harness", "run_benchmark": "bench.harness",
                   "load_benchmark": "bench.harness", "Filter": "filters"},
    "command line": {
        "Action": "cli", "configure_actions": "cli", "add_model_arguments": "cli", "trained_model": "cli",
        "add_simulator_args": "cli", "simulator_from": "cli", "overwrite_allowed": "cli",
    },
}

_WHERE = {name: module for area in _AREAS.values() for name, module in area.items()}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"emgan_core.api has no name {name!r}: it is not part of the public API "
                             f"(see emgan_core.api.__all__)")
    module, _, attribute = module.partition(":")
    value = getattr(importlib.import_module(f"emgan_core.{module}"), attribute or name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
