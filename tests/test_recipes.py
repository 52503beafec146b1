"""Recipe validation: every problem on one line with its place; exit status 2; overrides."""

import textwrap

import pytest

from emgan_core import EmganError
from emgan_core.recipes import apply_overrides, load_recipe, validate


def _write(tmp_path, text, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """\
    description: toy
    simulator:
      name: gaussian
      params: {resolution: 4.0, voxel_size: 2.0}
    generator:
      name: toy-conv
      params:
        channels: 4
    losses:
      - {name: l1, weight: 1.0}
    metrics: [pearson, {name: fsc, params: {thresholds: [0.5]}}]
    data:
      train: [{model: DATA/3J6B_chain9.pdb, target: DATA/emd2566_3J6B_chain9.mrc}]
    train: {steps: 10, batch_size: 2, optimizer: {name: adam, lr: 1.0e-3}}
"""


def test_good_recipe_validates(example_plugin, tmp_path, data_dir, emgan):
    path = _write(tmp_path, GOOD.replace("DATA", str(data_dir)))
    proc = emgan("validate", path, check_rc=0)
    assert "ok" in proc.stdout


def test_misspelt_parameter(example_plugin, tmp_path, data_dir, emgan):
    path = _write(tmp_path, GOOD.replace("DATA", str(data_dir)).replace("channels: 4", "chanels: 4"))
    proc = emgan("validate", path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert f"{path}:8: generator.params.chanels: unknown parameter (did you mean 'channels'?)" in lines[0]


def test_unknown_component(example_plugin, tmp_path, data_dir, emgan):
    path = _write(tmp_path, GOOD.replace("DATA", str(data_dir)).replace("name: toy-conv", "name: toy-cnv"))
    proc = emgan("validate", path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{path}:6: generator.name: unknown generator 'toy-cnv' (did you mean 'toy-conv'?)" in lines[0]


def test_missing_file(example_plugin, tmp_path, data_dir, emgan):
    path = _write(tmp_path, GOOD.replace("DATA", str(data_dir)).replace("emd2566", "emd9999"))
    proc = emgan("validate", path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}:13: data.train.0.target: file not found" in lines[0]


def test_several_problems_one_line_each(example_plugin, tmp_path, data_dir, emgan):
    text = (GOOD.replace("DATA", str(data_dir)).replace("channels: 4", "chanels: 4")
            .replace("resolution: 4.0", "resolution: high").replace("steps: 10", "stpes: 10"))
    proc = emgan("validate", _write(tmp_path, text), "--debug")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert any("simulator.params.resolution: expected a number, got 'high'" in ln for ln in lines)
    assert any("generator.params.chanels" in ln for ln in lines)
    assert any("train.stpes: unknown setting (did you mean 'steps'?)" in ln for ln in lines)


def test_unknown_section_and_bad_yaml(tmp_path, emgan):
    proc = emgan("validate", _write(tmp_path, "generatr: {name: x}\n"))
    assert proc.returncode == 2 and "unknown section (did you mean 'generator'?)" in proc.stderr
    proc = emgan("validate", _write(tmp_path, "a: [1, 2\nb: 3\n", "bad.yaml"))
    assert proc.returncode == 2 and "invalid YAML" in proc.stderr and "bad.yaml:" in proc.stderr
    proc = emgan("validate", tmp_path / "absent.yaml")
    assert proc.returncode == 2 and "recipe file not found" in proc.stderr


def test_overrides(example_plugin, tmp_path, data_dir, emgan):
    path = _write(tmp_path, GOOD.replace("DATA", str(data_dir)))
    recipe = load_recipe(path, ["train.steps=2", "generator.params.channels=8", "losses.0.weight=0.5",
                                "train.optimizer.betas=[0.5, 0.999]"])
    assert recipe.data["train"]["steps"] == 2 and recipe.data["generator"]["params"]["channels"] == 8
    assert recipe.data["losses"][0]["weight"] == 0.5
    assert recipe.data["train"]["optimizer"]["betas"] == [0.5, 0.999]
    validate(recipe)
    proc = emgan("validate", path, "generator.params.channels=many")
    assert proc.returncode == 2 and "generator.params.channels: expected an integer, got 'many'" in proc.stderr
    with pytest.raises(EmganError, match="key.path=value"):
        apply_overrides({}, ["train.steps"])


def test_shipped_recipes_by_name(example_plugin, emgan):
    proc = emgan("recipes", check_rc=0)
    assert "example-toy" in proc.stdout and "[example]" in proc.stdout
    assert "toy-conv" in emgan("recipes", "show", "example-toy", check_rc=0).stdout
    emgan("validate", "example-toy", check_rc=0)
    proc = emgan("validate", "example-tyo")
    assert proc.returncode == 2 and "did you mean 'example-toy'" in proc.stderr


def test_exponent_floats_without_a_dot():
    """PyYAML reads 5e-4 as a string; recipes and overrides read it as the float it means."""
    from emgan_core.recipes import apply_overrides, load_yaml

    assert load_yaml("lr: 5e-4\nsteps: 10\nname: a1e3\nb: 1.0e-3") == {"lr": 5e-4, "steps": 10, "name": "a1e3",
                                                                      "b": 1e-3}
    assert apply_overrides({"train": {}}, ["train.lr=2E-4"])["train"]["lr"] == 2e-4


def test_typed_records_report_each_problem_at_its_key(tmp_path):
    """Data items and train.augment are typed records: a typo, a missing key and a wrong type each
    give their own key path."""
    from dataclasses import dataclass

    from emgan_core.params import InputPath, check_record

    @dataclass
    class Pair:
        map: InputPath
        resolution: float
        zone: float | None = None

    (tmp_path / "m.mrc").write_text("x")
    items = [{"map": str(tmp_path / "m.mrc"), "resolution": 3.2, "zoen": 6.0},
             {"map": str(tmp_path / "gone.mrc"), "resolution": "high"},
             {"resolution": 3.0}]
    problems = check_record(items, list[Pair], "data.train")
    assert problems == [
        ("data.train.0.zoen", "unknown key (did you mean 'zone'?); keys: map, resolution, zone"),
        ("data.train.1.map", f"file not found: {tmp_path / 'gone.mrc'}"),
        ("data.train.1.resolution", "expected a number, got 'high'"),
        ("data.train.2", "missing required key 'map'"),
    ]
    assert check_record(items[:1] and [{"map": str(tmp_path / "m.mrc"), "resolution": 3}], list[Pair], "d") == []


def test_augment_typo_is_refused_with_its_line(example_plugin, emgan):
    proc = emgan("validate", "example-toy", "train.augment.flip=true")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "train.augment.flip: unknown key (did you mean 'flips'?)" in proc.stderr
    proc = emgan("validate", "example-toy", "train.patches_per_volume=8")
    assert proc.returncode == 2 and "train.patches_per_volume: unknown setting" in proc.stderr


@pytest.mark.parametrize("recipe,override,needle", [
    ("struc2mapgan-quickstart", "train.steps=-1", "train.steps: must be ≥ 1, got -1"),
    ("struc2mapgan-quickstart", "train.batch_size=0", "train.batch_size: must be ≥ 1, got 0"),
    ("struc2mapgan-quickstart", "train.patch_size=0", "train.patch_size: must be ≥ 1, got 0"),
    ("struc2mapgan-quickstart", "train.checkpoint_every=0", "train.checkpoint_every: must be ≥ 1, got 0"),
    ("struc2mapgan-quickstart", "train.log_every=0", "train.log_every: must be ≥ 1, got 0"),
    ("struc2mapgan-quickstart", "train.device=tpu", "train.device: 'tpu' is not a device torch can name"),
    ("struc2mapgan-quickstart", "train.optimizer.lr=.nan", "train.optimizer.lr: expected a finite number, got nan"),
    ("struc2mapgan-quickstart", "train.optimizer.lr=-1e-3", "train.optimizer.lr: must be > 0, got -0.001"),
    ("struc2mapgan-quickstart", "train.optimizer.momentum=0.9", "train.optimizer.momentum: nadam takes no 'momentum'"),
    ("struc2mapgan-quickstart", "train.ema=1.5", "train.ema: must be > 0 and < 1, got 1.5"),
    ("struc2mapgan-quickstart", "train.patch_size=15",
     "train.patch_size: the networks cannot train on 15×15×15 patches: spatial size (15, 15, 15) must be a multiple of 8"),
    ("struc2mapgan-quickstart", "train.patch_size=1000", "train.patch_size: one training step needs about"),
    ("struc2mapgan-quickstart", "eval.window=30", "eval.window: the generator cannot run on the inference window"),
    ("struc2mapgan-quickstart", "generator.params.widths=[8,0]",
     "generator.params.widths: must be ≥ 1 and ≤ 4096, got [8, 0]"),
    ("superem-quickstart", "generator.params.channels=0", "generator.params.channels: channels >= 1"),
])
def test_impossible_settings_are_refused_before_any_folder_exists(recipe, override, needle, data_dir, tmp_path):
    """`emgan run` validates as `emgan validate` does: one line naming the override, exit 2, no run folder."""
    from emgan_core.testing import run_emgan

    extra = []
    if recipe == "struc2mapgan-quickstart":  # its data come from curation: any manifest passes the schema
        manifest = tmp_path / "m.csv"
        manifest.write_text("label,split,kept,model,target\n")
        extra = [f"data.train={manifest}", f"data.val={manifest}"]
    run = tmp_path / "run"
    for command in (["validate", recipe], ["run", recipe, "-o", run]):
        proc = run_emgan(*command, *extra, override)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert lines[0].startswith(f"emgan: error: override {override}: ") and needle in lines[0], lines[0]
    assert not run.exists()
