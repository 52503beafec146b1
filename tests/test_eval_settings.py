"""Inference settings have one owner: the ``eval`` section as a typed record, read from recipes,
checkpoints (today's and earlier ones) and the CLI's flags, and used by the core inferer."""

import numpy as np
import pytest

from emgan_core.api import EmganError, EvalSettings, PatchInferer
from emgan_core.recipes import load_recipe, validate
from emgan_core.settings.inference import apply_eval_options
from emgan_core.settings.train import train_schema
from emgan_core.testing import run_emgan as emgan


def test_defaults_recipe_values_and_flags_stack_in_that_order():
    task_defaults = {"blend": "average", "window_stride": 4, "windows": "centre"}
    s = EvalSettings.from_mapping({"window_stride": 6, "batch_size": 2}, task_defaults)
    assert (s.blend, s.window_stride, s.windows, s.batch_size, s.window) == ("average", 6, "centre", 2, None)
    flagged = s.replace(window_stride=None, windows="all", batch_size=5)  # None: a flag not given
    assert (flagged.window_stride, flagged.windows, flagged.batch_size) == (6, "all", 5)
    assert s.windows == "centre"  # records are values: replace makes a copy


def test_a_bad_value_is_one_line_with_its_place():
    with pytest.raises(EmganError) as err:
        EvalSettings.from_mapping({"batch_size": 0})
    assert err.value.where == "eval.batch_size" and "≥ 1" in err.value.message
    with pytest.raises(EmganError) as err:
        EvalSettings().replace(windows="some")
    assert err.value.where == "eval.windows"
    with pytest.raises(EmganError) as err:
        EvalSettings.from_mapping({"widow": 8})
    assert "did you mean 'window'" in err.value.message


def test_checkpoints_written_before_the_record_still_load():
    """The flat inference specs of earlier checkpoints (the shipped models') map onto the record."""
    paired = {"normalise": "minmax", "patch_size": 32, "core": 20, "mode": "crop", "stride": None,
              "batch_size": 8, "skip_empty": True, "voxel_size": [1.0, 1.0, 1.0]}
    s = EvalSettings.from_stored(paired)
    assert (s.window, s.window_core, s.blend, s.windows, s.batch_size) == (32, 20, "crop", "nonempty", 8)
    superem = {"cube": 25, "stride": 4, "voxel_size": 1.0, "batch_size": 8, "skip_empty": True, "spatial_dims": 3}
    s = EvalSettings.from_stored({"window": 25, **superem}, {"blend": "average", "window_stride": 4, "windows": "centre"})
    assert (s.window, s.window_stride, s.windows, s.blend) == (25, 4, "centre", "average")
    assert EvalSettings.from_stored({"eval": s.as_dict()}) == s


def test_the_shipped_model_reads_its_settings(tmp_path):
    from emgan_core.api import load_for_inference

    task, ckpt = load_for_inference("struc2mapgan-small")
    assert (task.eval.window, task.eval.window_core, task.eval.blend, task.eval.windows) == (32, 20, "crop", "nonempty")
    inferer = task.patch_inferer()
    assert inferer.patch_size == (32, 32, 32) and inferer.skip_empty


def test_the_core_inferer_reads_the_record():
    s = EvalSettings(window=8, blend="average", window_stride=4, windows="nonempty", batch_size=3)
    inferer = PatchInferer.from_settings(s)
    assert (inferer.patch_size, inferer.stride, inferer.windows, inferer.batch_size) == ((8,) * 3, (4,) * 3,
                                                                                         "nonempty", 3)
    data = np.zeros((1, 16, 16, 16), np.float32)
    data[0, 2, 2, 2] = 1
    assert inferer.count(data) < PatchInferer.from_settings(s.replace(windows="all")).count(data)
    with pytest.raises(EmganError, match="needs the average or hann blend"):
        PatchInferer.from_settings(EvalSettings(window=8, windows="centre"))
    with pytest.raises(EmganError, match="set eval.window"):
        PatchInferer.from_settings(EvalSettings())


def test_options_split_between_the_record_and_the_task():
    class Task:
        eval = EvalSettings(batch_size=8)

    task = Task()
    assert apply_eval_options(task, {"batch_size": 2, "resolution": 3.5}) == {"resolution": 3.5}
    assert task.eval.batch_size == 2


def test_training_and_inference_settings_share_no_name_of_another_meaning():
    """``batch_size`` (items per forward pass) and ``precision`` (of the forward passes) are the names
    in both sections, and mean the same thing in both; windows, strides and cores of inference are
    named apart from training patches."""
    from emgan_core.settings.inference import eval_schema

    assert set(eval_schema()) & set(train_schema()) == {"batch_size", "precision"}


def test_a_recipe_with_an_earlier_name_is_read_and_told_the_new_one():
    """Run folders and checkpoints of earlier versions hold the earlier names: they still validate
    (and resume), with one line naming the new field."""
    proc = emgan("validate", "example-toy", "eval.patch_size=16", "eval.skip_empty=true", subprocess=True)
    assert proc.returncode == 0, proc.stderr
    assert "eval.patch_size is now eval.window: read as such; rename it in the recipe (training patches are " \
           "train.patch_size)" in proc.stderr
    assert EvalSettings.from_mapping({"patch_size": 16, "skip_empty": True}).windows == "nonempty"
    recipe = validate(load_recipe("example-toy"))
    assert EvalSettings.from_mapping(recipe.data["eval"]).window == 16


def test_bf16_precision_runs_the_forward_pass_under_autocast():
    import torch

    conv = torch.nn.Conv3d(1, 1, 3)
    x = torch.rand(1, 1, 6, 6, 6)
    with EvalSettings(precision="bf16").autocast("cpu"):
        assert conv(x).dtype == torch.bfloat16
    with EvalSettings().autocast("cpu"):
        assert conv(x).dtype == torch.float32



def test_a_window_rule_that_needs_averaging_is_refused_with_crop():
    task_defaults = {"blend": "average", "window_stride": 4, "windows": "centre"}
    s = EvalSettings.from_mapping({"blend": "crop"}, task_defaults)  # the task's rule, as crop allows
    assert (s.blend, s.windows) == ("crop", "nonempty")
    with pytest.raises(EmganError) as err:
        EvalSettings.from_mapping({"blend": "crop", "windows": "centre"}, task_defaults)
    assert err.value.where == "eval.windows" and "needs the average or hann blend" in err.value.message
    legacy = EvalSettings.from_stored({"cube": 25, "stride": 4, "skip_empty": False, "windows": "centre"}, task_defaults)
    assert legacy.windows == "all"  # skip_empty: false computed every window in earlier versions
