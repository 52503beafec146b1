"""Benchmark YAML is the one description of every evaluation: each plugin's ``evaluate`` action runs
a template shipped in its package (``emgan_NAME/benchmarks/*.yaml``) with the command's files and
options as overrides, the words ``emgan bench`` takes too; the repository's ``benchmarks/NAME/*.yaml``
that score the same way repeat the template's protocol, and these tests fail when they drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from emgan_core.api import EmganError, ImageStack, RecipeError, load_benchmark, write_image_stack

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ("denoise", "superem", "diffragan", "cryoetgan", "struc2mapgan")


def template(plugin: str, name: str) -> Path:
    return ROOT / "plugins" / f"emgan-plugin-{plugin}" / f"emgan_{plugin}" / "benchmarks" / f"{name}.yaml"


#: shipped template -> the repository's benchmark files that score the same way (the template is
#: the source: change it first, then these)
SAME_EVALUATION = {
    ("denoise", "denoise-evaluate"): ["denoise/quickstart.yaml", "denoise/heldout.yaml",
                                      "denoise/heldout-snr0.05.yaml"],
    ("superem", "superem-evaluate"): ["superem/published.yaml"],
    ("diffragan", "diffragan-evaluate"): ["diffragan/phasing.yaml"],
    ("cryoetgan", "cryoetgan-evaluate"): ["cryoetgan/quickstart.yaml"],
}
TEMPLATES = [*SAME_EVALUATION, ("cryoetgan", "cryoetgan-paired")]


def _protocol(data: dict) -> dict:
    """What makes two benchmarks score the same way: normalisation, grids, metrics and their parameters."""
    return {"normalise": data.get("normalise", "minmax"), "on_reference_grid": data.get("on_reference_grid", False),
            "metrics": data["metrics"]}


def _runs(data: dict) -> tuple[set, set]:
    """(the options of its checkpoint methods, its control kinds)."""
    methods = [m for m in data["methods"] if m]
    return ({json.dumps(m.get("options") or {}, sort_keys=True) for m in methods if "checkpoint" in m},
            {m["control"] for m in methods if "control" in m})


@pytest.mark.parametrize("key", list(SAME_EVALUATION), ids=lambda k: k[1])
def test_repository_benchmarks_score_as_the_shipped_template(key):
    source = yaml.safe_load(template(*key).read_text())
    options, controls = _runs(source)
    for name in SAME_EVALUATION[key]:
        derived = yaml.safe_load((ROOT / "benchmarks" / name).read_text())
        assert _protocol(derived) == _protocol(source), (
            f"benchmarks/{name} no longer scores as {template(*key).relative_to(ROOT)} does: change both")
        # every model run (by its options) and every control of the template is in the file too
        derived_options, derived_controls = _runs(derived)
        assert options <= derived_options and controls <= derived_controls, name


@pytest.mark.parametrize("plugin", sorted({p for p, _ in TEMPLATES}))
def test_templates_are_package_data(plugin):
    pyproject = (ROOT / "plugins" / f"emgan-plugin-{plugin}" / "pyproject.toml").read_text()
    assert re.search(rf'emgan_{plugin} = \[[^\]]*"benchmarks/\*\.yaml"', pyproject), pyproject


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_command_lines_only_parse_and_call(plugin):
    """No evaluation is described in code: ``cli.py`` builds no benchmark and runs none."""
    cli = (ROOT / "plugins" / f"emgan-plugin-{plugin}" / f"emgan_{plugin}" / "cli.py").read_text()
    for needle in ("Benchmark(", "load_benchmark", "run_benchmark", '"methods"', '"metrics"'):
        assert needle not in cli, (plugin, needle)


@pytest.mark.parametrize("key", TEMPLATES, ids=lambda k: k[1])
def test_each_template_names_what_the_command_gives_and_loads_once_given(key, tmp_path):
    path = template(*key)
    data = yaml.safe_load(path.read_text())
    with pytest.raises(RecipeError) as err:  # as shipped: the files are the command's to give
        load_benchmark(path)
    assert all("missing: give" in line and "override" in line for line in err.value.problems), err.value.problems
    given = tmp_path / "given.mrc"
    given.write_bytes(b"")
    files = {f"inputs.{i}.{k}": str(given) for i, item in enumerate(data["inputs"]) for k, v in item.items()
             if v is None}
    files.update({f"methods.{m['label']}.output": str(given) for m in data["methods"] if m.get("output", 0) is None})
    bench = load_benchmark(path, overrides=files)
    assert bench.name == key[1] and [m["label"] for m in bench.methods] == [m["label"] for m in data["methods"]]


def _stacks(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    clean = rng.random((3, 32, 32), dtype=np.float32)
    paths = folder / "noisy.mrcs", folder / "clean.mrcs"
    write_image_stack(paths[0], ImageStack(clean + rng.normal(0, 0.5, clean.shape).astype(np.float32), 1.5))
    write_image_stack(paths[1], ImageStack(clean, 1.5))
    return paths


def test_overrides_by_index_label_and_mapping_and_null_leaves_out(tmp_path):
    noisy, clean = _stacks(tmp_path)
    path = template("denoise", "denoise-evaluate")
    words = load_benchmark(path, overrides=[f"inputs.0.input={noisy}", f"inputs.0.reference={clean}",
                                            "methods.denoised=null", "methods.noisy.label=input", "seed=7",
                                            "inputs.0.label=tiny"])
    assert [m["label"] for m in words.methods] == ["input"] and words.seed == 7
    assert words.inputs == [{"label": "tiny", "input": str(noisy), "reference": str(clean)}]
    # from code: a mapping, values as they are (a file name is never read as YAML)
    odd = tmp_path / "a: b.mrcs"
    odd.write_bytes(noisy.read_bytes())
    mapping = load_benchmark(path, overrides={"inputs.0.input": str(odd), "inputs.0.reference": str(clean),
                                              "metrics.image-scores": "frc"})
    assert mapping.inputs[0]["input"] == str(odd) and mapping.metrics == ["frc"]
    # a problem an override made is reported at the override, in one line
    with pytest.raises(RecipeError) as err:
        load_benchmark(path, overrides=[f"inputs.0.input={tmp_path / 'missing.mrcs'}", f"inputs.0.reference={clean}"])
    assert err.value.problems == [f"override inputs.0.input={tmp_path / 'missing.mrcs'}: inputs.0.input: "
                                  f"file not found: {tmp_path / 'missing.mrcs'}"]
    for bad, needle in ([["methods.nothing.label=x"], "'nothing' is neither an index nor the label or name"],
                        [["methods.5.label=x"], "'5' is not an index of that list"],
                        [["seed"], "must look like key.path=value"]):
        with pytest.raises(EmganError, match=needle):
            load_benchmark(path, overrides=bad)


def test_emgan_bench_takes_the_override_words(tmp_path, emgan):
    noisy, clean = _stacks(tmp_path)
    out = tmp_path / "report"
    emgan("bench", template("denoise", "denoise-evaluate"), f"inputs.0.input={noisy}",
          f"inputs.0.reference={clean}", "methods.denoised=null", "-o", out, check_rc=0)
    rows = json.loads((out / "results.json").read_text())["results"]
    assert [r["method"] for r in rows] == ["noisy"] and set(rows[0]["values"]) >= {"frc_0.5_A", "ssim"}
    bad = emgan("bench", template("denoise", "denoise-evaluate"), "-o", tmp_path / "bad")
    assert bad.returncode == 2 and "inputs.0.input: missing: give the file (override inputs.0.input=FILE)" in bad.stderr
    assert not (tmp_path / "bad").exists()
