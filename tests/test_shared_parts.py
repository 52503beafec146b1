"""The parts every task shares: seeded samples, geometric augmentation, normalisation, the batch
inferer, CSV manifests, and the trainer's one generator pass per step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emgan_core.errors import EmganError
from emgan_core.inferers import BatchInferer
from emgan_core.io.manifest import read_manifest
from emgan_core.training.samples import SeededSamples, geometric
from emgan_core.transforms.intensity import Standardiser, normalise


class NoisySamples(SeededSamples):
    """Sample j is the constant j plus noise from the item's generator; target = 2 × input."""

    def __init__(self, count, length=None, seed=0, augment=None, shape=(1, 4, 4)):
        self.shape = shape
        super().__init__(count, length, seed, augment, spatial_dims=len(shape) - 1)

    def draw(self, j, rng):
        x = j + rng.standard_normal(self.shape).astype(np.float32)
        return {"input": x, "target": 2 * x, "index": j}


def test_items_are_seeded_per_index_and_validation_draws_its_own_noise():
    train, again = NoisySamples(5, length=100, seed=7), NoisySamples(5, length=100, seed=7)
    assert all(torch.equal(train[i]["input"], again[i]["input"]) for i in (0, 3, 99))
    assert not torch.equal(train[1]["input"], NoisySamples(5, length=100, seed=8)[1]["input"])
    picks = {int(train[i]["index"]) for i in range(60)}
    assert picks == set(range(5))  # training items pick samples at random, every one in 60 draws
    val = NoisySamples(5, seed=7)
    assert len(val) == 5 and [int(val[i]["index"]) for i in range(5)] == [0, 1, 2, 3, 4]
    # validation noise is not the training noise of the same index, though the same seed serves both
    val_noise = [(val[i]["input"] - i).numpy() for i in range(5)]
    for i, got in enumerate(val_noise):  # the documented stream (seed, i, 1), not training's (seed, i)
        assert np.allclose(got, np.random.default_rng([7, i, 1]).standard_normal((1, 4, 4)), atol=1e-6)
        assert not np.allclose(got, np.random.default_rng([7, i]).standard_normal((1, 4, 4)))
    with pytest.raises(EmganError, match="no samples"):
        NoisySamples(0)


@pytest.mark.parametrize("shape", [(1, 4, 4), (1, 4, 4, 4)])
def test_flips_and_quarter_turns_move_every_array_together(shape):
    ds = NoisySamples(3, length=40, seed=1, augment={"flips": True, "rot90": True}, shape=shape)
    plain = NoisySamples(3, length=40, seed=1, shape=shape)
    changed = 0
    for i in range(40):
        item = ds[i]
        assert torch.allclose(item["target"], 2 * item["input"])  # input and target stay aligned
        assert sorted(item["input"].flatten().tolist()) == pytest.approx(sorted(plain[i]["input"].flatten().tolist()))
        changed += not torch.equal(item["input"], plain[i]["input"])
    assert changed > 20  # most items are flipped or turned
    # quarter turns need square arrays: a (1, 4, 6) image is only flipped, never turned
    rng = np.random.default_rng(0)
    x = np.arange(24, dtype=np.float32).reshape(1, 4, 6)
    for _ in range(20):
        assert geometric({"x": x}, rng, 2, flips=False, rot90=True)["x"].shape == (1, 4, 6)


def test_normalisations_per_sample_and_constants():
    x = np.stack([np.linspace(2, 6, 16).reshape(4, 4), np.full((4, 4), 3.0)]).astype(np.float32)
    mm = normalise(x, "minmax", per_sample=True)
    assert (mm[0].min(), mm[0].max()) == (0.0, 1.0) and not mm[1].any()
    signed = normalise(x, "signed-minmax", per_sample=True)
    assert (signed[0].min(), signed[0].max()) == (-1.0, 1.0) and not signed[1].any()
    z = normalise(x, "zscore", scale=2.0, per_sample=True)
    assert z[0].mean() == pytest.approx(0, abs=1e-6) and z[0].std() == pytest.approx(0.5, rel=1e-5)
    assert not z[1].any() and z.dtype == np.float32
    whole = normalise(x, "minmax")
    assert whole.min() == 0.0 and whole.max() == 1.0 and whole[1, 0, 0] == pytest.approx(0.25)
    s = Standardiser.of(x[0])
    assert np.allclose(s.invert(s.apply(x[0], 3.0), 3.0), x[0], atol=1e-5)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalise(x, "minmax01")


def test_batch_inferer_streams_batches_and_checks_results():
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    sizes = []

    def double(chunk):
        sizes.append(len(chunk))
        return torch.from_numpy(chunk) * 2

    out = BatchInferer(batch_size=4)(double, x)
    assert sizes == [4, 4, 2] and np.array_equal(out, 2 * x) and out.dtype == np.float32
    two = BatchInferer(3)(lambda a, b: a + b, x, x[:, :1])
    assert np.array_equal(two, x + x[:, :1])
    with pytest.raises(EmganError, match="2 results for a batch of 4"):
        BatchInferer(4)(lambda c: c[:2], x)
    with pytest.raises(EmganError, match="differ in length"):
        BatchInferer(4)(lambda a, b: a, x, x[:5])
    with pytest.raises(EmganError, match="batch size"):
        BatchInferer(0)


def test_manifest_rows_by_split_and_kept_with_paths_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "curated"
    folder.mkdir()
    (folder / "a.mrc").write_bytes(b"")
    (folder / "manifest.csv").write_text("label,target,split,kept\n"
                                         "a,a.mrc,train,true\nb,b.mrc,,True\nc,c.mrc,val,true\nd,a.mrc,train,false\n")
    monkeypatch.chdir(tmp_path)
    train = read_manifest(folder / "manifest.csv", "train", paths=("target",))
    assert [r["label"] for r in train] == ["a", "b"]  # blank split is train; rejected rows dropped
    assert train[0]["target"] == str(folder / "a.mrc") and train[1]["target"] == "b.mrc"
    assert [r["label"] for r in read_manifest(folder / "manifest.csv", "val")] == ["c"]
    assert read_manifest(folder / "manifest.csv", "train", columns=("label",))[0] == {"label": "a"}
    with pytest.raises(EmganError, match="manifest not found"):
        read_manifest(folder / "missing.csv")


def test_the_generator_runs_once_per_step_and_serves_both_losses(example_plugin, tmp_path, data_dir, emgan,
                                                               monkeypatch):
    import yaml

    from emgan_core.tasks.paired import PairedTask

    calls = []
    generate, critic, generator = PairedTask.generate, PairedTask.critic_losses, PairedTask.generator_losses

    def counted_generate(self, batch):
        out = generate(self, batch)
        if not out.is_meta:  # validation tries the recipe on the meta device first: not counted
            calls.append(("generate", out.requires_grad, id(out)))
        return out

    def counted(name, method):
        return lambda self, b, g: (g.is_meta or calls.append((name, id(g)))) and None or method(self, b, g)

    monkeypatch.setattr(PairedTask, "generate", counted_generate)
    monkeypatch.setattr(PairedTask, "critic_losses", counted("critic", critic))
    monkeypatch.setattr(PairedTask, "generator_losses", counted("generator", generator))
    m = data_dir / "emringerweb_test_map.ccp4"
    recipe = {"task": {"name": "paired", "params": {"conditional": True}},
              "generator": {"name": "toy-conv", "params": {"channels": 2, "depth": 1}},
              "critic": {"name": "patchgan", "params": {"in_channels": 2, "channels": 2, "spatial_dims": 3}},
              "losses": [{"name": "bce", "weight": 1.0}, {"name": "l1", "weight": 10.0}],
              "data": {"train": [{"input": str(m), "target": str(m)}]},
              "train": {"steps": 3, "batch_size": 2, "patch_size": 8, "critic_steps": 2, "log_every": 1,
                        "val_every": 100, "checkpoint_every": 100}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    emgan("run", tmp_path / "r.yaml", "-o", tmp_path / "run", check_rc=0)
    steps = [calls[i:i + 5] for i in range(0, len(calls), 5)]
    assert len(calls) == 15 and len(steps) == 3
    for step in steps:
        (g1, grad1, last), (g2, grad2, other), c1, c2, gen = step
        # the learning batch's output, with gradients, computed once; the extra critic batch without
        assert (g1, grad1, g2, grad2) == ("generate", True, "generate", False)
        assert c1 == ("critic", other) and c2 == ("critic", last) and gen == ("generator", last)
