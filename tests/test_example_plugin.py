"""A third-party plugin, pip-installed, is listed and usable from recipes and the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emgan_core.api import EvalSettings, PatchInferer
from emgan_core.io import read_map
from emgan_core.recipes import load_recipe, validate
from emgan_core.testing import run_emgan

EXAMPLE = Path(__file__).resolve().parent / "example_plugin"


def test_listed_by_emgan_plugins(example_plugin, emgan):
    info = json.loads(emgan("plugins", "--json", check_rc=0).stdout)
    plugins = {p["name"]: p for p in info["plugins"]}
    assert plugins["example"]["distribution"] == "emgan-plugin-example"
    assert plugins["example"]["components"] == {"generator": ["toy-conv"], "metric": ["mean-abs-diff"],
                                                 "task": ["example-deblur"]}
    assert plugins["core"]["distribution"] == "emgan-core"
    keys = {c["key"] for c in info["components"]}
    assert {"simulator/gaussian", "loss/bce", "metric/fsc", "generator/toy-conv"} <= keys


def test_usable_from_a_recipe(example_plugin, data_dir):
    recipe = validate(load_recipe("example-toy", ["generator.params.channels=3"]))
    spec = recipe.data["generator"]
    net = example_plugin.build("generator", spec["name"], **spec["params"])
    assert sum(p.numel() for p in net.parameters()) > 0
    vol = read_map(data_dir / "emd2566_3J6B_chain9.mrc").data
    settings = EvalSettings.from_mapping(recipe.data["eval"])
    assert (settings.window, settings.window_core, settings.blend) == (16, 10, "crop")
    with torch.no_grad():
        out = PatchInferer.from_settings(settings)(lambda x: net(x), vol)
    assert out.shape == (1,) + vol.shape and np.isfinite(out).all()
    metric = example_plugin.build("metric", "mean-abs-diff", scale=2.0)
    expected = 2.0 * np.mean(np.abs(out[0].astype(np.float64) - vol))
    assert expected > 0 and metric(out[0], vol).values["mean_abs_diff"] == pytest.approx(expected, rel=1e-12)


def test_plugin_metric_from_the_cli(example_plugin, emgan, data_dir, tmp_path):
    from emgan_core.io import write_map

    m = data_dir / "emringerweb_test_map.ccp4"
    reference = read_map(m)
    noise = np.random.default_rng(7).normal(0, reference.data.std(), reference.shape).astype(np.float32)
    write_map(tmp_path / "noisy.mrc", reference.with_data(reference.data + noise))
    proc = emgan("eval", tmp_path / "noisy.mrc", m, "--metrics", "mean-abs-diff,pearson", "--json", check_rc=0)
    values = json.loads(proc.stdout)["metrics"]
    a, b = read_map(tmp_path / "noisy.mrc").data.astype(np.float64), reference.data.astype(np.float64)
    assert values["mean_abs_diff"] == pytest.approx(np.mean(np.abs(a - b)), rel=1e-9)
    assert values["pearson"] == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], rel=1e-9)
    assert 0.5 < values["pearson"] < 0.9  # noise of the map's own spread: clearly not 1


def test_a_paired_method_in_under_150_lines_passes_the_plugin_contract(example_plugin, tmp_path):
    from emgan_core.testing import check_plugin

    package = EXAMPLE / "emgan_example"
    lines = sum(len(p.read_text().splitlines()) for p in package.glob("*.py"))
    assert lines <= 150, f"the example plugin has {lines} lines of Python"
    source = read_map(package / "recipes" / "data" / "emd2566_3J6B_chain9.mrc")
    out = check_plugin("example", tmp_path, "example-deblur", ["train.steps=2"], source=source)
    assert out.data.shape == source.data.shape and np.allclose(out.voxel_size, source.voxel_size)
    # the task's typed data items: a typo is refused before any work
    proc = run_emgan("validate", "example-deblur", "data.train.0.mpa=x.mrc")
    assert proc.returncode != 0 and "data.train.0.mpa: unknown key (did you mean 'map'?)" in proc.stderr
