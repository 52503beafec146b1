"""CryoETGAN plugin: subtomogram simulator, sets, networks, the cycle and classify tasks, scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emgan_core.errors import EmganError
from emgan_core.io import read_map, read_structure
from emgan_core.testing import check_network_contract
from emgan_cryoetgan import tomography
from emgan_cryoetgan.sets import new_set_folder, read_set, write_set
from emgan_cryoetgan.simulator import SubtomogramSimulator

SMALL = dict(box=16, voxel_size=6.0, resolution=12.0, method="wedge", snr=0.5)
TINY_CYCLE = ["generators.generator_ab.params.channels=2", "generators.generator_ba.params.channels=2",
              "generators.generator_ab.params.residual_blocks=1", "generators.generator_ba.params.residual_blocks=1",
              "critics.critic_a.params.channels=4", "critics.critic_b.params.channels=4", "train.steps=3",
              "train.batch_size=2", "train.val_every=3", "train.val_batches=1", "train.log_every=1",
              "train.checkpoint_every=3"]


def _fwhm(profile: np.ndarray) -> int:
    return int((profile > 0.5 * profile.max()).sum())


def test_wbp_missing_wedge_elongates_along_z_and_empties_the_wedge():
    cube = np.zeros((32, 32, 32), np.float32)
    z, y, x = np.mgrid[:32, :32, :32] - 16
    cube[x ** 2 + y ** 2 + z ** 2 <= 16] = 1.0  # a ball of radius 4 voxels
    angles = tomography.tilt_angles(60, 3)
    assert len(angles) == 41 and angles[0] == -60 and angles[-1] == 60
    rec = tomography.weighted_back_projection(tomography.project_tilt_series(cube, angles), angles, 32)
    assert _fwhm(rec[:, 16, 16]) > 1.15 * _fwhm(rec[16, 16, :])  # elongated along the beam
    full = tomography.tilt_angles(90, 3)
    rec_full = tomography.weighted_back_projection(tomography.project_tilt_series(cube, full), full, 32)
    assert abs(_fwhm(rec_full[:, 16, 16]) - _fwhm(rec_full[16, 16, :])) <= 1  # no wedge: round
    power = np.abs(np.fft.fftn(rec)) ** 2
    missing = ~tomography.wedge_mask(rec.shape, 60.0)
    ball_power = np.abs(np.fft.fftn(cube)) ** 2
    # the wedge holds ~1/3 of a ball's power; the ±60° reconstruction has little left there
    assert ball_power[missing].sum() / ball_power.sum() > 0.2
    assert power[missing].sum() / power.sum() < 0.05
    assert np.corrcoef(rec_full.ravel(), cube.ravel())[0, 1] > 0.95


def test_simulator_on_a_real_structure(data_dir):
    atoms = read_structure(data_dir / "1aki.pdb")
    sim = SubtomogramSimulator(box=24, voxel_size=4.0, method="wedge", snr=None)
    s = sim.sample(atoms, np.random.default_rng(0))
    assert s.density.shape == s.subtomogram.shape == (24, 24, 24)
    assert np.allclose(s.density.voxel_size, 4.0) and np.all(np.abs(s.shift) <= 4.0)
    # the centre of mass of the density sits at the box centre plus the shift
    zyx = np.array(np.nonzero(s.density.data > 0)).T
    w = s.density.data[s.density.data > 0]
    com_xyz = ((zyx * w[:, None]).sum(0) / w.sum())[::-1] * 4.0
    assert np.allclose(com_xyz, 12 * 4.0 + s.shift, atol=1.5)
    # wedge method: nothing in the missing wedge, and the CTF flips the sign of some shells
    f = np.abs(np.fft.fftn(s.subtomogram.data))
    assert f[~tomography.wedge_mask((24,) * 3, 60.0)].max() < 1e-6 * f.max()
    same = sim.density(atoms, s.angles, s.shift)
    assert np.allclose(same.data, s.density.data)  # orientation and shift reproduce the sample
    other = sim.density(atoms, s.angles + [90.0, 0.0, 0.0], s.shift)
    assert np.corrcoef(other.data.ravel(), s.density.data.ravel())[0, 1] < 0.9
    wbp = SubtomogramSimulator(box=24, voxel_size=4.0, method="wbp", snr=0.1).simulate(atoms, seed=1)
    assert wbp.shape == (24, 24, 24) and np.isfinite(wbp.data).all() and wbp.data.std() > 0


def test_simulate_command_writes_maps_and_figure(data_dir, tmp_path, emgan):
    out = tmp_path / "sub.mrc"
    emgan("cryoetgan", "simulate", data_dir / "1aki.pdb", "-o", out, "--png", tmp_path / "sub.png", "--recipe",
          "cryoetgan-quickstart", "--set", "box=16", "--set", "voxel_size=6.0", "--set", "method=wedge", check_rc=0)
    sub, density = read_map(out), read_map(tmp_path / "sub_density.mrc")
    assert sub.shape == density.shape == (16, 16, 16) and sub.voxel_size[0] == pytest.approx(6.0)
    assert (tmp_path / "sub.png").stat().st_size > 10_000
    bad = emgan("cryoetgan", "simulate", data_dir / "1aki.pdb", "-o", tmp_path / "x.mrc", "--set", "boxx=16")
    assert bad.returncode == 2 and "boxx" in bad.stderr and not (tmp_path / "x.mrc").exists()


def test_simulator_rejects_impossible_parameters():
    with pytest.raises(EmganError, match="tilt"):
        SubtomogramSimulator(max_tilt=95.0)
    with pytest.raises(EmganError, match="snr"):
        SubtomogramSimulator(snr=0.0)
    with pytest.raises(EmganError, match="method"):
        SubtomogramSimulator(method="sirt")


@pytest.fixture(scope="module")
def sets(tmp_path_factory, data_dir):
    """Two labelled sets (train, test) of 1AKI and 1UBQ, 16³ boxes: density and subtomogram columns."""
    root = tmp_path_factory.mktemp("sets")
    sim = SubtomogramSimulator(**SMALL)
    paths = {}
    for split, (seed, count) in {"train": (1, 6), "test": (2, 4)}.items():
        cols, labels = {"density": [], "subtomogram": []}, []
        for k, name in enumerate(("1aki", "1ubq")):
            rng = np.random.default_rng([seed, k])
            atoms = read_structure(data_dir / f"{name}.pdb")
            for _ in range(count):
                s = sim.sample(atoms, rng)
                cols["density"].append(s.density)
                cols["subtomogram"].append(s.subtomogram)
                labels.append(name)
        with new_set_folder(root / split) as folder:
            write_set(folder, cols, labels)
        paths[split] = root / split / "set.csv"
    return paths


def test_set_tables_read_back_and_refuse_bad_input(sets, tmp_path):
    data = read_set(sets["train"], "subtomogram")
    assert data.samples.shape == (12, 16, 16, 16) and data.voxel_size == pytest.approx(6.0)
    assert sorted(set(data.labels)) == ["1aki", "1ubq"]
    assert read_map(sets["train"].parent / "density" / "000000.mrc").voxel_size[0] == pytest.approx(6.0)
    with pytest.raises(EmganError, match="exists already"):
        with new_set_folder(sets["train"].parent):
            pass
    with pytest.raises(RuntimeError):  # a failure inside leaves no folder behind
        with new_set_folder(tmp_path / "partial") as folder:
            (folder / "x").write_text("half")
            raise RuntimeError("boom")
    assert not (tmp_path / "partial").exists() and not list(tmp_path.iterdir())
    bad = tmp_path / "bad.csv"
    bad.write_text("label,subtomogram\na,missing.mrc\n")
    with pytest.raises(EmganError, match="row 1: sample file not found"):
        read_set(bad)
    with pytest.raises(EmganError, match="no path column"):
        read_set(sets["train"], "generatd")


def test_networks_keep_the_paper_shapes():
    import torch

    from emgan_cryoetgan.networks import CycleCritic, CycleGenerator

    check_network_contract("generator", "cycle3d", (2, 1, 16, 16, 16), {"channels": 4, "residual_blocks": 1,
                                                                        "noise": False})
    check_network_contract("generator", "cycle3d", (2, 1, 16, 16), {"channels": 4, "noise": False, "spatial_dims": 2})
    check_network_contract("critic", "cycle3d", (2, 1, 16, 16, 16), {"channels": 4})
    logits = check_network_contract("classifier", "cnn3d", (3, 1, 16, 16, 16), {"n_classes": 3, "channels": 4})
    assert logits.shape == (3, 3)
    g = CycleGenerator()  # paper widths: 129 channels into the first up-sampling
    first_up = g.decoder[0]
    assert first_up.in_channels == 129 and first_up.out_channels == 64
    assert sum(isinstance(m, torch.nn.Module) and type(m).__name__ == "ResidualBlock" for m in g.encoder) == 6
    torch.manual_seed(0)
    x = torch.randn(1, 1, 8, 8, 8)
    assert not torch.equal(g(x), g(x))  # the noise channel: one input, many outputs
    convs = [m for m in CycleCritic().modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 1]
    assert all(hasattr(c, "parametrizations") for c in convs)  # spectral norm everywhere
    with pytest.raises(ValueError, match="multiple of 4"):
        g(torch.randn(1, 1, 10, 12, 12))


def test_cycle_task_3d_generate_and_mc_dropout(sets, tmp_path, emgan):
    run = tmp_path / "run"
    overrides = [f"data.train.a=[{{set: {sets['train']}, column: density}}]",
                 f"data.train.b=[{{set: {sets['train']}, column: subtomogram}}]",
                 f"data.val.a=[{{set: {sets['test']}, column: density}}]",
                 f"data.val.b=[{{set: {sets['test']}, column: subtomogram}}]"]
    paper_optimisation = ["train.gradient_penalty=null", "train.weight_clip=0.01",
                          "train.optimizer={name: rmsprop, lr: 5.0e-4}"]
    emgan("run", "cryoetgan-quickstart", "-o", run, *TINY_CYCLE, *overrides, *paper_optimisation, check_rc=0)
    metrics = json.loads((run / "metrics.json").read_text())
    assert [m["step"] for m in metrics["validation"]] == [0, 3]
    last = json.loads((run / "scalars.jsonl").read_text().splitlines()[-1])
    assert all(np.isfinite(v) for v in last.values()) and "critic/gradient_penalty_a" not in last
    from emgan_core.training.checkpoint import load_checkpoint

    critic = load_checkpoint(run / "checkpoints" / "last.pt")["state"]["networks"]["critic_b"]
    weights = [w for name, w in critic.items() if not name.endswith(("._u", "._v"))]  # not spectral-norm buffers
    assert len(weights) > 8 and max(float(w.abs().max()) for w in weights) <= 0.01 + 1e-7
    out = tmp_path / "generated"
    emgan("cryoetgan", "generate", run, sets["test"], "-o", out, check_rc=0)
    gen = read_set(out / "set.csv", "generated")
    assert gen.samples.shape == (8, 16, 16, 16) and list(gen.labels) == list(read_set(sets["test"]).labels)
    assert np.abs(gen.samples).max() <= 3.0 + 1e-5  # tanh × scale
    # Monte-Carlo dropout through the core's infer (the recipe's generators have dropout)
    emgan("infer", run, sets["test"].parent / "density" / "000000.mrc", "-o", tmp_path / "g.mrc",
          "--mc-samples", "3", check_rc=0)
    std = read_map(tmp_path / "g_std.mrc")
    assert std.shape == (16, 16, 16) and std.data.mean() > 0
    # a classifier checkpoint is refused where a cycle GAN is expected
    bad = emgan("cryoetgan", "generate", sets["train"], sets["test"], "-o", tmp_path / "x")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_cycle_task_2d_recipe(tmp_path, emgan):
    from emgan_core.io import write_image_stack
    from emgan_core.volume import ImageStack

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16]
    discs = np.stack([((yy - 8 - rng.integers(-2, 3)) ** 2 + (xx - 8) ** 2 < 16).astype(np.float32) for _ in range(6)])
    write_image_stack(tmp_path / "a.mrcs", ImageStack(discs, 2.0))
    write_image_stack(tmp_path / "b.mrcs", ImageStack(discs + rng.normal(0, 0.5, discs.shape).astype(np.float32), 2.0))
    overrides = ["task.params.spatial_dims=2", "generators.generator_ab.params.spatial_dims=2",
                 "generators.generator_ba.params.spatial_dims=2", "critics.critic_a.params.spatial_dims=2",
                 "critics.critic_b.params.spatial_dims=2", f"data.train.a=[{tmp_path / 'a.mrcs'}]",
                 f"data.train.b=[{tmp_path / 'b.mrcs'}]", "data.val=null"]
    emgan("run", "cryoetgan-quickstart", "-o", tmp_path / "run", *TINY_CYCLE, *overrides, check_rc=0)
    last = json.loads((tmp_path / "run" / "scalars.jsonl").read_text().splitlines()[-1])
    assert "critic/gradient_penalty_a" in last and np.isfinite(last["generator/cycle"])
    emgan("infer", tmp_path / "run", tmp_path / "b.mrcs", "-o", tmp_path / "b_to_a.mrcs", check_rc=0)
    from emgan_core.io import read_image_stack

    assert read_image_stack(tmp_path / "b_to_a.mrcs").data.shape == (6, 16, 16)


def test_classifier_evaluate_and_downstream(sets, tmp_path, emgan):
    cls = tmp_path / "classifier"
    small = ["classifier.params.n_classes=2", "classifier.params.channels=4", "classifier.params.depth=2",
             "train.steps=4", "train.batch_size=4", "train.val_every=4", "train.log_every=2", "train.val_batches=2",
             "train.checkpoint_every=4", f"data.train=[{{set: {sets['train']}, column: subtomogram}}]",
             f"data.val=[{{set: {sets['test']}, column: subtomogram}}]"]
    emgan("run", "cryoetgan-classifier", "-o", cls, *small, check_rc=0)
    val = json.loads((cls / "metrics.json").read_text())["validation"][-1]
    assert 0.0 <= val["val/accuracy"] <= 1.0
    wrong = emgan("run", "cryoetgan-classifier", "-o", tmp_path / "c3", *small, "classifier.params.n_classes=3")
    assert wrong.returncode != 0 and "n_classes 3 but the training data has 2 classes" in wrong.stderr
    pred = tmp_path / "pred.csv"
    emgan("cryoetgan", "classify", cls, sets["test"], "-o", pred, check_rc=0)
    import pandas as pd

    table = pd.read_csv(pred)
    assert len(table) == 8 and np.allclose(table[["p_1aki", "p_1ubq"]].sum(axis=1), 1.0, atol=1e-4)
    gan = tmp_path / "gan"
    emgan("run", "cryoetgan-quickstart", "-o", gan, *TINY_CYCLE, "data.val=null",
          f"data.train.a=[{{set: {sets['train']}, column: density}}]",
          f"data.train.b=[{{set: {sets['train']}, column: subtomogram}}]", check_rc=0)
    proc = emgan("cryoetgan", "evaluate", gan, "--classifier", cls, "--source", sets["test"], "--real", sets["train"],
                 "--k", "3", "--json", tmp_path / "scores.json", check_rc=0)
    scores = json.loads((tmp_path / "scores.json").read_text())
    for key in ("fid_generated", "fid_plain", "coverage_generated", "precision_generated", "ssim_generated",
                "inception_score_generated", "classifier_accuracy_generated"):
        assert np.isfinite(scores["overall"][key]), key
    assert 1.0 <= scores["overall"]["inception_score_generated"] <= 2.0 + 1e-9
    assert set(scores["per_class"]) == {"1aki", "1ubq"} and "fid_generated" in proc.stdout
    out = tmp_path / "downstream"
    emgan("cryoetgan", "downstream", gan, "--train", sets["train"], "--test", sets["test"], "-o", out,
          "--steps", "3", "classifier.params.channels=4", check_rc=0)
    results = json.loads((out / "results.json").read_text())
    assert set(results["accuracy"]) == {"plain", "cryoetgan"} and results["n_test"] == 8
    assert all(0.0 <= v <= 1.0 for v in results["accuracy"].values())
    assert read_set(out / "generated" / "set.csv", "generated").samples.shape == (12, 16, 16, 16)
