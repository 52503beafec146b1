"""CryoETGAN plugin: subtomogram simulator, sets, networks, the cycle and classify tasks, scores."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from emgan_cryoetgan import tomography
from emgan_cryoetgan.simulator import SubtomogramSimulator

from emgan_core.api import EmganError, new_set_folder, read_map, read_set, read_structure, write_set
from emgan_core.testing import check_network_contract

SMALL = dict(box=16, voxel_size=6.0, resolution=12.0, method="wedge", snr=10.0, defocus=0.0)
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
    # wedge method: nothing in the missing wedge
    f = np.abs(np.fft.fftn(s.subtomogram.data))
    assert f[~tomography.wedge_mask((24,) * 3, 60.0)].max() < 1e-6 * f.max()
    same = sim.density(atoms, s.angles, s.shift)
    assert np.allclose(same.data, s.density.data)  # orientation and shift reproduce the sample
    other = sim.density(atoms, s.angles + [90.0, 0.0, 0.0], s.shift)
    assert np.corrcoef(other.data.ravel(), s.density.data.ravel())[0, 1] < 0.9
    # WBP without CTF and noise recovers the map (up to the wedge); noise at SNR 0.1 per tilt costs
    # correlation; the reconstruction is a function of the seed
    clean = SubtomogramSimulator(box=24, voxel_size=4.0, method="wbp", snr=None, defocus=0.0)
    noisy = SubtomogramSimulator(box=24, voxel_size=4.0, method="wbp", snr=0.1, defocus=0.0)
    r = {name: np.corrcoef(sim_.corrupt(s.density.data, np.random.default_rng(1)).ravel(),
                           s.density.data.ravel())[0, 1] for name, sim_ in (("clean", clean), ("noisy", noisy))}
    assert r["clean"] > 0.85 and 0.2 < r["noisy"] < r["clean"] - 0.2
    a, b = (noisy.corrupt(s.density.data, np.random.default_rng(k)) for k in (1, 1))
    assert np.array_equal(a, b)


def test_experimental_physics_per_tilt_defocus_dose_and_ice_path():
    sim = SubtomogramSimulator(box=16, voxel_size=7.0, method="wbp", defocus=30000.0, snr=0.1, defocus_spread=10000.0,
                               field_of_view=20000.0, thickness=2000.0, mean_free_path=4000.0, dose=82.0)
    theta = np.deg2rad(sim.angles)
    defoci, snrs = sim.tilt_conditions(np.random.default_rng(5))
    # Δf_i = Δf + x sin θ − z cos θ: the odd part is x sin θ, the even part Δf − z cos θ
    odd, even = (defoci - defoci[::-1]) / 2, (defoci + defoci[::-1]) / 2
    x = np.polyfit(np.sin(theta), odd, 1)[0]
    assert abs(x) <= 10000.0 and np.allclose(odd, x * np.sin(theta), atol=1e-6) and abs(x) > 100
    z = np.polyfit(np.cos(theta), even, 1)[0] * -1
    base = even[len(theta) // 2] + z
    assert abs(z) <= (2000.0 - 16 * 7.0) / 2 and 20000.0 <= base <= 40000.0
    assert np.allclose(even, base - z * np.cos(theta), atol=1e-6)
    # SNR falls with the ice path t / cos θ: at 60°, exp(−t/λ) of the zero-tilt SNR
    assert snrs[len(theta) // 2] == pytest.approx(0.1)
    assert snrs[0] == pytest.approx(0.1 * np.exp(-2000.0 / 4000.0)) and snrs[-1] == snrs[0]
    # dose-symmetric order: 0° first (2 e⁻/Å² per tilt, mid-exposure 1), then +3°, −3°, +6° …, −60° last
    dose = sim.accumulated_dose()
    assert dose[20] == pytest.approx(1.0) and dose[21] == pytest.approx(3.0) and dose[19] == pytest.approx(5.0)
    assert dose[0] == pytest.approx(81.0) and dose[-1] == pytest.approx(79.0)
    # the exposure filter: a cosine at k = 1/28 Å⁻¹ after 40 e⁻/Å² keeps exp(−40 / (2 N_e(k)))
    xx = np.arange(16) * 7.0
    wave = np.cos(2 * np.pi * xx / 28.0)[None, :].repeat(16, 0)
    kept = sim._exposure_filter(wave, 40.0).std() / wave.std()
    assert kept == pytest.approx(np.exp(-40.0 / (2 * (0.245 * (1 / 28.0) ** -1.665 + 2.81))), rel=1e-3)
    # the conventional model has none of it: one defocus, one SNR, no draws from the generator
    conventional = sim.conventional()
    assert conventional.method == "wedge" and conventional.defocus == 30000.0 and conventional.snr == 0.1
    rng = np.random.default_rng(3)
    flat_defoci, flat_snrs = SubtomogramSimulator(box=16, voxel_size=7.0).tilt_conditions(rng)
    assert np.all(flat_defoci == 30000.0) and np.all(flat_snrs == 0.1)
    assert rng.random() == np.random.default_rng(3).random()
    with pytest.raises(EmganError, match="need method: wbp"):
        SubtomogramSimulator(method="wedge", dose=10.0)
    with pytest.raises(EmganError, match="thinner than the box"):
        SubtomogramSimulator(box=16, voxel_size=7.0, thickness=100.0)


def test_neighbours_and_ice_enter_the_imaged_scene_not_the_density(data_dir):
    atoms = read_structure(data_dir / "1ubq.pdb")
    sim = SubtomogramSimulator(box=16, voxel_size=7.0, method="wbp", neighbours=3, ice=0.0, snr=None)
    sim.neighbour_pool = [read_structure(data_dir / "8i2h_ref.pdb")]
    density = sim.density(atoms)
    scene = sim.scene(density, atoms, np.random.default_rng(0))
    extra = scene - density.data
    z, y, x = np.mgrid[:16, :16, :16] - 8
    outer = np.sqrt(x ** 2 + y ** 2 + z ** 2) > 4
    # the neighbours' density lies in the outer shell of the box; the particle's map is untouched
    assert extra.sum() > 0.2 * density.data.sum() and extra[outer].sum() > 0.8 * extra.sum()
    ice = copy.copy(sim)
    ice.neighbours, ice.ice = 0, 0.5
    field = ice.scene(density, atoms, np.random.default_rng(0)) - density.data
    assert field.std() == pytest.approx(0.5 * density.data.std(), rel=1e-3)


def test_simulate_command_writes_maps_and_figure(data_dir, tmp_path, emgan):
    out = tmp_path / "sub.mrc"
    emgan("cryoetgan", "simulate", data_dir / "1aki.pdb", "-o", out, "--png", tmp_path / "sub.png", "--recipe",
          "cryoetgan-quickstart", "--set", "box=16", "--set", "voxel_size=6.0", "--set", "neighbours=0",
          "--seed", "4", check_rc=0)
    sub, density = read_map(out), read_map(tmp_path / "sub_density.mrc")
    assert sub.shape == density.shape == (16, 16, 16) and sub.voxel_size[0] == pytest.approx(6.0)
    assert (tmp_path / "sub.png").stat().st_size > 10_000
    bad = emgan("cryoetgan", "simulate", data_dir / "1aki.pdb", "-o", tmp_path / "x.mrc", "--set", "boxx=16")
    assert bad.returncode == 2 and "boxx" in bad.stderr and not (tmp_path / "x.mrc").exists()


def test_simulate_set_adds_the_conventional_model_of_the_same_particles(data_dir, tmp_path, emgan):
    out = tmp_path / "set"
    emgan("cryoetgan", "simulate-set", data_dir / "1ubq.pdb", data_dir / "1aki.pdb", "-n", "2", "--seed", "7",
          "--conventional", "--recipe", "cryoetgan-quickstart", "-o", out, check_rc=0)
    density, conventional = read_set(out / "set.csv", "density"), read_set(out / "set.csv", "conventional")
    experimental = read_set(out / "set.csv", "subtomogram")
    assert list(conventional.labels) == ["1ubq", "1ubq", "1aki", "1aki"]
    sim = SubtomogramSimulator(box=16, voxel_size=7.0, resolution=14.0, method="wbp", snr=0.1)
    expected = sim.conventional().corrupt(density.samples[3], np.random.default_rng([7, 1, 1, 1]))
    assert np.allclose(conventional.samples[3], expected, atol=1e-5)  # the same particle, the simple model
    missing = ~tomography.wedge_mask((16,) * 3, 60.0)
    power = {name: np.abs(np.fft.fftn(s.samples[0])) ** 2 for name, s in
             (("conventional", conventional), ("experimental", experimental))}
    # the conventional wedge is a hard Fourier mask; the experimental one comes from back-projection
    assert power["conventional"][missing].sum() < 1e-10 * power["conventional"].sum()
    assert power["experimental"][missing].sum() > 1e-4 * power["experimental"].sum()


def test_simulator_rejects_impossible_parameters():
    with pytest.raises(EmganError, match="tilt"):
        SubtomogramSimulator(max_tilt=95.0)
    with pytest.raises(EmganError, match="snr"):
        SubtomogramSimulator(snr=0.0)
    with pytest.raises(EmganError, match="method"):
        SubtomogramSimulator(method="sirt")
    with pytest.raises(EmganError, match="defocus_spread"):
        SubtomogramSimulator(defocus=10000.0, defocus_spread=20000.0)


@pytest.fixture(scope="module")
def sets(tmp_path_factory, data_dir):
    """Two labelled sets (train, test) of 1AKI and 8I2H, 16³ boxes: density, subtomogram (wedge,
    no CTF, SNR 10) and, as a control that should look least like the subtomograms, a
    'conventional' column holding the bare maps."""
    root = tmp_path_factory.mktemp("sets")
    sim = SubtomogramSimulator(**SMALL)
    conventional = SubtomogramSimulator(box=16, voxel_size=6.0, resolution=12.0, method="none")
    paths = {}
    for split, (seed, count) in {"train": (1, 8), "test": (2, 6)}.items():
        cols, labels = {"density": [], "subtomogram": [], "conventional": []}, []
        for k, name in enumerate(("1aki", "8i2h_ref")):
            rng = np.random.default_rng([seed, k])
            atoms = read_structure(data_dir / f"{name}.pdb")
            for _ in range(count):
                s = sim.sample(atoms, rng)
                cols["density"].append(s.density)
                cols["subtomogram"].append(s.subtomogram)
                cols["conventional"].append(s.density.with_data(conventional.corrupt(s.density.data, rng)))
                labels.append(name)
        with new_set_folder(root / split) as folder:
            write_set(folder, cols, labels)
        paths[split] = root / split / "set.csv"
    return paths


def test_set_tables_read_back_and_refuse_bad_input(sets, tmp_path):
    data = read_set(sets["train"], "subtomogram")
    assert data.samples.shape == (16, 16, 16, 16) and data.voxel_size == pytest.approx(6.0)
    assert list(data.labels) == ["1aki"] * 8 + ["8i2h_ref"] * 8
    first = read_map(sets["train"].parent / "subtomogram" / "000000.mrc")
    assert first.voxel_size[0] == pytest.approx(6.0) and np.array_equal(first.data, data.samples[0])
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


def test_critic_is_the_papers_c64_c128_c256_at_stride_1():
    import torch
    from emgan_cryoetgan.networks import CycleCritic

    critic = CycleCritic()
    convs = [m for m in critic.modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 1]
    assert [c.kernel_size for c in convs] == [(4, 4, 4)] * 3 + [(1, 1, 1)]
    assert all(c.stride == (1, 1, 1) for c in convs)
    assert all(hasattr(c, "parametrizations") for c in convs)  # spectral norm on every convolution
    layers = list(critic.body)
    for i, conv in enumerate(convs[:3]):  # instance norm then LeakyReLU 0.2 after each of the three
        j = layers.index(conv)
        assert isinstance(layers[j + 1], torch.nn.InstanceNorm3d) and layers[j + 2].negative_slope == 0.2
    small = CycleCritic(channels=4)
    assert small(torch.zeros(2, 1, 16, 16, 16)).shape == (2, 1, 13, 13, 13)  # one voxel less per layer
    # receptive field: 1 + 3·3 = 10 voxels per axis through the convolutions (instance norm's
    # statistics, which see the whole box, removed to measure it)
    probe = copy.deepcopy(small)
    probe.body = torch.nn.Sequential(*[torch.nn.Identity() if isinstance(m, torch.nn.InstanceNorm3d) else m
                                       for m in probe.body])
    x = torch.zeros(1, 1, 16, 16, 16, requires_grad=True)
    probe(x)[0, 0, 6, 6, 6].backward()
    hit = (x.grad[0, 0].abs() > 0).nonzero()
    # score 6 sees voxels 6 − 3 … 6 + 6 (each 4-wide layer, padding 1, reaches 1 back and 2 ahead)
    assert hit.min(0).values.tolist() == [3, 3, 3] and hit.max(0).values.tolist() == [12, 12, 12]
    assert len(hit) == 10 ** 3  # every voxel of the 10³ field counts


def test_networks_keep_the_paper_shapes():
    import torch
    from emgan_cryoetgan.networks import CycleGenerator

    check_network_contract("generator", "cycle3d", (2, 1, 16, 16, 16), {"channels": 4, "residual_blocks": 1,
                                                                        "noise": False})
    check_network_contract("generator", "cycle3d", (2, 1, 16, 16), {"channels": 4, "noise": False, "spatial_dims": 2})
    check_network_contract("critic", "cycle3d", (2, 1, 16, 16, 16), {"channels": 4})
    logits = check_network_contract("classifier", "cnn3d", (3, 1, 16, 16, 16), {"n_classes": 3, "channels": 4})
    assert logits.shape == (3, 3)
    g = CycleGenerator()  # paper widths: 129 channels into the first up-sampling
    first_up = g.decoder[0]
    assert first_up.in_channels == 129 and first_up.out_channels == 64
    assert sum(type(m).__name__ == "ResidualBlock" for m in g.encoder) == 6
    torch.manual_seed(0)
    x = torch.randn(1, 1, 8, 8, 8)
    assert not torch.equal(g(x), g(x))  # the noise channel: one input, many outputs
    with pytest.raises(ValueError, match="multiple of 4"):
        g(torch.randn(1, 1, 10, 12, 12))


def test_noise_sigma_adds_the_papers_noise_to_domain_a_only():
    from emgan_cryoetgan.task import UnpairedSamples

    from emgan_core.api import normalise

    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, size=(3, 16, 16, 16)), rng.normal(size=(3, 16, 16, 16))
    noisy = UnpairedSamples(a, b, 3.0, length=10, seed=1, noise_a=0.2)
    clean = UnpairedSamples(a, b, 3.0, length=10, seed=1)
    diffs = []
    for i in range(10):
        n, c = noisy[i], clean[i]
        assert np.array_equal(n["b"].numpy(), c["b"].numpy())  # same draws; B untouched
        diffs.append((n["a"] - c["a"]).numpy().ravel())
    diffs = np.concatenate(diffs)
    # σ = 0.2 of the map's standard deviation, i.e. 0.2 / scale in normalised units
    assert diffs.std() == pytest.approx(0.2 / 3.0, rel=0.02) and abs(diffs.mean()) < 0.002
    assert normalise(a[0], "zscore", 3.0).std() == pytest.approx(1 / 3.0, rel=1e-4)


def test_gradient_penalty_is_on_the_mean_patch_score():
    import torch
    from emgan_cryoetgan.task import _gradient_penalty

    # D(x) = mean over 8³ patches of c·x: ‖∇D‖ = c / √512, so c = √512 costs nothing and 2√512 costs 1
    for c, expected in ((512 ** 0.5, 0.0), (2 * 512 ** 0.5, 1.0), (3 * 512 ** 0.5, 4.0)):
        critic = torch.nn.Conv3d(1, 1, 1, bias=False)
        torch.nn.init.constant_(critic.weight, c)
        real, fake = torch.randn(3, 1, 8, 8, 8), torch.randn(3, 1, 8, 8, 8)
        assert _gradient_penalty(critic, real, fake).detach().item() == pytest.approx(expected, abs=1e-5)


def test_cycle_task_3d_generate_and_mc_dropout(sets, tmp_path, emgan):
    import torch

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
    assert "critic/gradient_penalty_a" not in last and "critic/adversarial_b" in last
    from emgan_core.api import load_checkpoint

    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    critic = ckpt["state"]["networks"]["critic_b"]
    weights = [w for name, w in critic.items() if not name.endswith(("._u", "._v"))]  # not spectral-norm buffers
    # clipping held every weight at 0.01 while RMSprop moved them (some sit on the clip limit)
    assert len(weights) > 6 and max(float(w.abs().max()) for w in weights) == pytest.approx(0.01, abs=1e-7)
    out = tmp_path / "generated"
    emgan("cryoetgan", "generate", sets["test"], "--ckpt", run, "-o", out, check_rc=0)
    gen = read_set(out / "set.csv", "generated")
    assert gen.samples.shape == (12, 16, 16, 16) and list(gen.labels) == list(read_set(sets["test"]).labels)
    # the files hold G_ab of the test densities with the recipe's σ 0.2 noise (seed 0), × scale
    from emgan_core.api import load_for_inference

    task = load_for_inference(run, task="cycle")[0]
    assert task.noise_sigma == 0.2
    torch.manual_seed(0)
    again = task.translate(read_set(sets["test"], "density").samples[:2])
    g = task.networks["generator_ab"]
    assert again.shape == (2, 16, 16, 16) and not g.training
    quiet = copy.copy(task)
    quiet.noise_sigma = 0.0
    torch.manual_seed(0)
    without = quiet.translate(read_set(sets["test"], "density").samples[:2])
    assert not np.allclose(without, again)  # the noise reaches the generator
    # Monte-Carlo dropout through the core's infer (the recipe's generators have dropout 0.1)
    emgan("infer", run, sets["test"].parent / "density" / "000000.mrc", "-o", tmp_path / "g.mrc",
          "--mc-samples", "3", check_rc=0)
    mean, std = read_map(tmp_path / "g.mrc"), read_map(tmp_path / "g_std.mrc")
    assert std.shape == (16, 16, 16) and 0 < float(std.data.mean()) < float(np.abs(mean.data).mean())
    # a classifier checkpoint is refused where a cycle GAN is expected
    bad = emgan("cryoetgan", "generate", sets["test"], "--ckpt", sets["train"], "-o", tmp_path / "x")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_cycle_task_2d_recipe(tmp_path, emgan):
    from emgan_core.api import ImageStack, write_image_stack

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
    # the identity term (weight 5) is on and the penalty is reported for both critics
    assert {"critic/gradient_penalty_a", "critic/gradient_penalty_b", "generator/identity"} <= set(last)
    emgan("infer", tmp_path / "run", tmp_path / "b.mrcs", "-o", tmp_path / "b_to_a.mrcs", check_rc=0)
    from emgan_core.api import read_image_stack

    assert read_image_stack(tmp_path / "b_to_a.mrcs").data.shape == (6, 16, 16)


def test_classifier_evaluate_and_downstream(sets, tmp_path, emgan):
    import pandas as pd

    cls = tmp_path / "classifier"
    small = ["classifier.params.n_classes=2", "task.params.flips=false", "classifier.params.channels=8",
             "classifier.params.depth=2",
             "train.steps=200", "train.batch_size=8", "train.val_every=200", "train.log_every=100",
             "train.val_batches=2", "train.checkpoint_every=200", "train.optimizer.lr=0.003",
             f"data.train=[{{set: {sets['train']}, column: subtomogram}}]",
             f"data.val=[{{set: {sets['test']}, column: subtomogram}}]"]
    emgan("run", "cryoetgan-classifier", "-o", cls, *small, check_rc=0)
    # lysozyme (14 kDa) and 8I2H (65 kDa) at SNR 10: 200 steps separate them on held-out particles
    val = json.loads((cls / "metrics.json").read_text())["validation"][-1]
    assert val["val/accuracy"] >= 0.9
    wrong = emgan("run", "cryoetgan-classifier", "-o", tmp_path / "c3", *small, "classifier.params.n_classes=3")
    assert wrong.returncode != 0 and "n_classes 3 but the training data has 2 classes" in wrong.stderr
    pred = tmp_path / "pred.csv"
    proc = emgan("cryoetgan", "classify", cls, sets["test"], "-o", pred, check_rc=0)
    table = pd.read_csv(pred)
    accuracy = float((table["label"] == table["predicted"]).mean())
    assert len(table) == 12 and f"accuracy {accuracy:.3f}" in proc.stdout and accuracy >= 0.9
    probs = table[["p_1aki", "p_8i2h_ref"]].to_numpy()
    assert (np.array(["1aki", "8i2h_ref"])[probs.argmax(1)] == table["predicted"]).all()
    gan = tmp_path / "gan"
    emgan("run", "cryoetgan-quickstart", "-o", gan, *TINY_CYCLE, "data.val=null",
          f"data.train.a=[{{set: {sets['train']}, column: density}}]",
          f"data.train.b=[{{set: {sets['train']}, column: subtomogram}}]", check_rc=0)
    emgan("cryoetgan", "evaluate", "--ckpt", gan, "--classifier", cls, "--source", sets["test"], "--real", sets["test"],
          "--real-column", "subtomogram", "--k", "3", "--json", tmp_path / "scores.json", check_rc=0)
    scores = json.loads((tmp_path / "scores.json").read_text())["overall"]
    # the real set's Inception Score from the classify command's probabilities (5 decimals)
    p = probs / probs.sum(1, keepdims=True)
    marginal = p.mean(0)
    kl = (p * (np.log(np.clip(p, 1e-12, None)) - np.log(marginal))).sum(1).mean()
    assert scores["inception_score_real"] == pytest.approx(np.exp(kl), abs=2e-3)
    # the plain density maps are what the generator must improve on; the real set against itself is
    # the best a set can score (FID ≈ 0, full coverage), and the classifier's accuracy on the plain
    # maps is its accuracy on the source labels
    assert scores["fid_real"] < 1e-6 < scores["fid_plain"] and scores["coverage_real"] == 1.0
    assert {"ssim_generated", "ssim_plain", "classifier_accuracy_generated"} <= set(scores)
    # `emgan bench` with the shipped benchmark file gives the same figures
    from pathlib import Path

    import yaml

    bench = yaml.safe_load((Path(__file__).parents[3] / "benchmarks" / "cryoetgan" / "quickstart.yaml").read_text())
    bench["inputs"][0].update(input=str(sets["test"]), reference=str(sets["test"]))
    bench["methods"][0]["checkpoint"] = str(gan)
    bench["metrics"][0]["params"].update(classifier=str(cls), k=3)
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    emgan("bench", tmp_path / "bench.yaml", "-o", tmp_path / "report", check_rc=0)
    rows = {r["method"]: r["values"] for r in json.loads((tmp_path / "report" / "results.json").read_text())["results"]}
    assert rows["cryoetgan-quickstart"]["fid"] == pytest.approx(scores["fid_generated"], rel=1e-6)
    assert rows["plain-density"]["coverage"] == pytest.approx(scores["coverage_plain"])
    assert rows["real-s"]["inception_score"] == pytest.approx(scores["inception_score_real"], rel=1e-6)
    out = tmp_path / "downstream"
    proc = emgan("cryoetgan", "downstream", gan, "--train", sets["train"], "--real-train", sets["train"],
                 "--test", sets["test"], "-o", out, "--steps", "200", "--k", "3", "classifier.params.channels=8",
                 "classifier.params.depth=2", "train.batch_size=8", "train.optimizer.lr=0.003",
                 "task.params.flips=false", check_rc=0)
    results = json.loads((out / "results.json").read_text())
    assert set(results["accuracy"]) == {"conventional", "cryoetgan", "real"} and results["n_test"] == 12
    assert results["chance"] == 0.5 and results["accuracy"]["real"] >= 0.9  # the ceiling: as the classifier above
    # the printed accuracy of (c) is that of its checkpoint on the test set
    again = emgan("cryoetgan", "classify", out / "classifier-real", sets["test"], "-o", tmp_path / "p2.csv",
                  check_rc=0)
    assert f"accuracy {results['accuracy']['real']:.3f}" in again.stdout
    scores = results["scores_vs_test"]
    # the real training set is nearer the real test set than the control, the bare maps, is (FID on
    # the ceiling classifier's embeddings), and the translations are scored the same way
    assert scores["real"]["fid"] < scores["conventional"]["fid"] and set(scores["cryoetgan"]) >= {"fid", "coverage"}
    assert read_set(out / "generated" / "set.csv", "generated").samples.shape == (16, 16, 16, 16)
    assert "classifier trained on conventional" in proc.stdout


def _ring_radius(boxes: np.ndarray, voxel_size: float) -> float:
    """Å: density-weighted mean distance from the box's y axis of the positive part of the mean box
    averaged along y (a microtubule's wall)."""
    section = boxes.mean(0).mean(1) if boxes.ndim == 4 else boxes.mean(1)
    n = section.shape[0]
    zz, xx = np.mgrid[:n, :n] - (n - 1) / 2
    w = np.clip(section - np.median(section), 0, None)
    return float((np.sqrt(zz ** 2 + xx ** 2) * w).sum() / w.sum() * voxel_size)


def test_lattice_model_radius_follows_the_protofilament_number():
    from emgan_cryoetgan.microtubules import lattice_model

    rng = np.random.default_rng(0)
    radii = {n: np.mean([_ring_radius(lattice_model(n, 24, 10.52, rng), 10.52) for _ in range(3)]) for n in (13, 14)}
    # protofilaments at n · 52 Å / 2π: 107.6 and 115.9 Å (blobs of σ 20 Å widen the weighted mean a little)
    for n in (13, 14):
        assert radii[n] == pytest.approx(n * 52 / (2 * np.pi), abs=6)
    assert 5 < radii[14] - radii[13] < 12


def test_real_microtubule_boxes_put_the_axis_along_y(shared_dir):
    pytest.importorskip("tifffile")
    from emgan_cryoetgan.microtubules import cut_boxes, read_tiff_volume

    folder = shared_dir / "subtomograms"
    if not (folder / "13pf_MT.tif").is_file():
        pytest.skip("no microtubule subtomograms in the shared data")
    radius = {}
    for n in (13, 14):
        volume = read_tiff_volume(folder / f"{n}pf_MT.tif")
        assert volume.voxel_size[0] == pytest.approx(10.52)
        train, test = cut_boxes(volume, 16, 2.0, bin=2)
        assert train.shape[1:] == (16, 16, 16) and len(train) > len(test) > 5
        radius[n] = _ring_radius(np.concatenate([train, test]), 21.04)
    # the wall of a real microtubule at 100-130 Å from the box's y axis, wider with 14 protofilaments
    assert 95 < radius[13] < radius[14] < 135
    with pytest.raises(EmganError, match="TIFF volume not found"):
        read_tiff_volume(folder / "12pf_MT.tif")


def test_plugin_contract(sets, tmp_path):
    from emgan_core.testing import check_plugin

    data = [f"data.train.a=[{{set: {sets['train']}, column: density}}]",
            f"data.train.b=[{{set: {sets['train']}, column: subtomogram}}]", "data.val=null"]
    out = check_plugin("cryoetgan", tmp_path, "cryoetgan-quickstart", [*TINY_CYCLE, *data],
                       source=str(sets["test"].parent / "density" / "000000.mrc"),
                       user_data=("cryoetgan", "cryoetgan-classifier", "cryoetgan-microtubules"))
    assert out.data.shape == (16, 16, 16)


def test_the_shipped_translator_is_the_default(data_dir, tmp_path, emgan):
    """`generate` without --model/--ckpt runs the shipped cryoetgan-synthetic on maps of its geometry
    (16³ at 7 Å): labels carried over, one 16³ sample per input at 7 Å, not the input; both shipped
    translators carry cards."""
    sim = tmp_path / "sim"
    emgan("cryoetgan", "simulate-set", data_dir / "1ubq.pdb", "-n", "2", "--seed", "7", "--recipe",
          "cryoetgan-quickstart", "-o", sim, check_rc=0)
    emgan("cryoetgan", "generate", sim / "set.csv", "-o", tmp_path / "out", check_rc=0)
    source, out = read_set(sim / "set.csv", "density"), read_set(tmp_path / "out" / "set.csv")
    assert list(out.labels) == list(source.labels) == ["1ubq", "1ubq"]
    assert out.samples.shape == (2, 16, 16, 16) and out.voxel_size == pytest.approx(7.0)
    assert np.isfinite(out.samples).all()
    for a, b in zip(source.samples, out.samples):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.999
    # the microtubule translator learnt 21 Å/voxel textures: 7 Å maps are refused, nothing written
    other = emgan("cryoetgan", "generate", sim / "set.csv", "--model", "cryoetgan-microtubules", "-o", tmp_path / "mt")
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1
    assert "samples are 7 Å/voxel but the model was trained at 21 Å/voxel" in other.stderr
    assert not (tmp_path / "mt").exists()
    for name in ("cryoetgan-synthetic", "cryoetgan-microtubules"):
        card = emgan("models", "show", name, check_rc=0).stdout
        assert card.startswith(f"# {name}") and "does not help" in card


def test_recipe_sets_are_simulated_once_into_the_cache(data_dir, tmp_path, monkeypatch, emgan):
    """`{structures, count, seed, column}` items: simulated on first use into the emgan cache (the set
    `simulate-set --conventional` writes), found there afterwards, simulated again for another
    structure file; a classifier needs the recipe's simulator for them."""
    import shutil

    monkeypatch.setenv("EMGAN_CACHE", str(tmp_path / "cache"))
    shutil.copy(data_dir / "1ubq.pdb", tmp_path / "1ubq.pdb")
    item = "{{structures: [{s}], count: 2, seed: {seed}, column: {column}}}"
    data = [f"data.train.a=[{item.format(s=tmp_path / '1ubq.pdb', seed=1, column='density')}]",
            f"data.train.b=[{item.format(s=tmp_path / '1ubq.pdb', seed=2, column='subtomogram')}]",
            f"data.val.a=[{item.format(s=tmp_path / '1ubq.pdb', seed=1, column='conventional')}]",
            f"data.val.b=[{item.format(s=tmp_path / '1ubq.pdb', seed=2, column='subtomogram')}]"]
    run = tmp_path / "run"
    proc = emgan("run", "cryoetgan-quickstart", "-o", run, *TINY_CYCLE, *data, check_rc=0)
    assert (run / "checkpoints" / "last.pt").is_file()
    sets = tmp_path / "cache" / "data" / "cryoetgan-sets"
    entries = sorted(sets.iterdir())
    assert [e.name.rsplit("-", 1)[0] for e in entries] == ["1ubq-n2-seed1", "1ubq-n2-seed2"]
    assert proc.stderr.count("built in") == 2 and "simulating 1ubq: 2 done" in proc.stderr
    # the set simulate-set writes with the recipe's simulator
    emgan("cryoetgan", "simulate-set", tmp_path / "1ubq.pdb", "-n", "2", "--seed", "1", "--conventional",
          "--recipe", "cryoetgan-quickstart", "-o", tmp_path / "by-hand", check_rc=0)
    for column in ("density", "subtomogram", "conventional"):
        cached, by_hand = read_set(entries[0] / "set.csv", column), read_set(tmp_path / "by-hand" / "set.csv", column)
        assert np.array_equal(cached.samples, by_hand.samples) and list(cached.labels) == ["1ubq", "1ubq"]
    # found again, nothing simulated; another structure file under the same name: simulated again
    from emgan_core.api import load_recipe
    from emgan_cryoetgan.sets import cached_set

    sim = SubtomogramSimulator(**load_recipe("cryoetgan-quickstart").data["simulator"]["params"])
    assert cached_set(sim, [tmp_path / "1ubq.pdb"], 2, seed=1, conventional=True) == entries[0] / "set.csv"
    assert len(list(sets.iterdir())) == 2
    shutil.copy(data_dir / "1aki.pdb", tmp_path / "1ubq.pdb")
    again = cached_set(sim, [tmp_path / "1ubq.pdb"], 2, seed=1, conventional=True)
    assert again.parent not in entries and len(list(sets.iterdir())) == 3
    assert not np.array_equal(read_set(again, "density").samples, read_set(entries[0] / "set.csv", "density").samples)
    # the classifier takes such items too, and says when the recipe has no simulator for them
    bad = emgan("run", "cryoetgan-classifier", "-o", tmp_path / "cls", "train.steps=1",
                f"data.train=[{item.format(s=tmp_path / '1ubq.pdb', seed=1, column='subtomogram')}]", "data.val=null")
    assert bad.returncode == 2 and "data.train.0: simulated items need the recipe's 'simulator" in bad.stderr

