"""Particle-denoising plugin: simulator, STAR pairing on a hand-made particle set, training, inference
on .mrcs/STAR with a STAR copy, scores, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from emgan_denoise.particles import reference_projections
from emgan_denoise.simulator import ProjectionSimulator
from scipy import ndimage

from emgan_core.api import (
    ImageStack,
    Volume,
    apply_ctf,
    ctf_2d,
    fit_to,
    image_scores,
    project_real,
    read_image_stack,
    read_particle_images,
    read_particle_star,
    write_image_stack,
    write_map,
    write_particle_star,
)

TINY = ["task.params.scale=1.0", "train.steps=12", "train.batch_size=4", "train.val_every=12",
        "train.val_batches=1", "train.log_every=6", "train.checkpoint_every=12",
        "generator.params.channels=4", "critic.params.channels=4",
        "simulator.params.image_size=64", "simulator.params.pixel_size=1.5"]


def tiny_data(data_dir):
    return [f"data.train=[{{structure: {data_dir / '1ubq.pdb'}, count: 16}}]",
            f"data.val=[{{structure: {data_dir / '1orc.pdb'}, count: 4}}]"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    """The Gaussian map of 1ORC in a 64³ box at 1.5 Å (written as MRC) and its array."""
    sim = ProjectionSimulator(image_size=64, pixel_size=1.5, resolution=3.0)
    from emgan_core.api import read_structure

    vol = sim.volume_for(read_structure(data_dir / "1orc.pdb"))
    path = tmp_path_factory.mktemp("ref") / "1orc_ref.mrc"
    write_map(path, Volume(vol, voxel_size=1.5, origin=(0.0, 0.0, 0.0)))
    return path, vol


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir, emgan):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    emgan("run", "denoise-quickstart", *TINY, *tiny_data(data_dir), "-o", run, check_rc=0)
    return run


def test_simulator_pairs_and_noise_level(data_dir):
    sim = ProjectionSimulator(image_size=64, pixel_size=1.5, ctf=True, snr=0.5)
    pairs = sim.simulate(data_dir / "1orc.pdb", count=40, seed=3)
    assert pairs.noisy.data.shape == pairs.clean.data.shape == (40, 64, 64)
    assert pairs.noisy.pixel_size == 1.5 and pairs.angles.shape == (40, 3)
    assert np.all((pairs.defocus >= 1e4) & (pairs.defocus <= 2.5e4))
    noise = pairs.noisy.data - pairs.clean.data
    snr = pairs.clean.data.reshape(40, -1).var(1) / noise.reshape(40, -1).var(1)
    assert np.median(snr) == pytest.approx(0.5, rel=0.1)
    again = sim.simulate(data_dir / "1orc.pdb", count=40, seed=3)
    assert np.array_equal(again.noisy.data, pairs.noisy.data)  # seeded
    by_sigma = ProjectionSimulator(image_size=64, pixel_size=1.5, sigma=2.0).simulate(data_dir / "1orc.pdb", 8)
    assert (by_sigma.noisy.data - by_sigma.clean.data).std() == pytest.approx(2.0, rel=0.05)
    silent = ProjectionSimulator(image_size=64, pixel_size=1.5, sigma=0.0).simulate(data_dir / "1orc.pdb", 2)
    assert np.array_equal(silent.noisy.data, silent.clean.data)


def test_simulator_agrees_with_direct_real_space_sum(data_dir):
    """Fourier-slice projections vs an independent scipy rotate-and-sum of the same volume."""
    from emgan_core.api import read_structure

    sim = ProjectionSimulator(image_size=48, pixel_size=1.5, sigma=0.0)
    vol = sim.volume_for(read_structure(data_dir / "1orc.pdb"))
    angles = np.array([[10.0, 40.0, 70.0], [200.0, 95.0, -30.0], [-60.0, 170.0, 15.0]])
    got = sim.simulate(read_structure(data_dir / "1orc.pdb"), angles=angles).clean.data
    n = 48
    for a, img in zip(angles, got):
        # rotate the volume with scipy so that projecting along z gives P(x, y) = ∫ V(Aᵀ r) dz
        from emgan_core.api import euler_matrix

        m = euler_matrix(*a)  # rows act on (x, y, z); scipy works on (z, y, x) indices
        perm = m.T[::-1, ::-1]
        centre = np.full(3, n // 2)
        rotated = ndimage.affine_transform(vol, perm, offset=centre - perm @ centre, order=1)
        direct = rotated.sum(0) * 1.5
        assert np.corrcoef(direct.ravel(), img.ravel())[0, 1] >= 0.99


def make_particle_set(folder, vol, pixel=1.5, n=6, seed=0):
    """Hand-made particles: real-space projections, scipy sub-pixel shifts by −origin, CTF, STAR 3.1."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform([-180, 0, -180], [180, 180, 180], size=(n, 3))
    origins = rng.uniform(-4.5, 4.5, size=(n, 2))  # Å
    defocus = rng.uniform(1.2e4, 2.2e4, size=n)
    images = project_real(vol, angles, pixel)
    parts = []
    for img, (ox, oy), d in zip(images, origins, defocus):
        moved = ndimage.shift(img, (-oy / pixel, -ox / pixel), order=3, mode="constant")
        parts.append(apply_ctf(moved, ctf_2d(img.shape, pixel, d, voltage=300.0, cs=2.7, amplitude_contrast=0.1)))
    stack = folder / "hand.mrcs"
    write_image_stack(stack, ImageStack(np.stack(parts), pixel))
    with mrcfile.open(stack, "r+") as mrc:  # the common trap: stacks whose header has no pixel size
        mrc.voxel_size = 0.0
    star = write_particle_star(folder / "hand.star", stack, angles, pixel, vol.shape[0], defocus,
                               extra={"rlnOriginXAngst": origins[:, 0], "rlnOriginYAngst": origins[:, 1]})
    return star, np.stack(parts)


def test_star_pairing_on_a_hand_made_particle_set(tmp_path, reference):
    ref_path, vol = reference
    star, particles = make_particle_set(tmp_path, vol)
    table = read_particle_star(star)
    assert len(table) == 6 and table.rows["pixel_size"].iloc[0] == 1.5
    assert np.allclose(read_particle_images(table), particles)
    paired = reference_projections(table, ref_path, 64, ctf=True)
    for p, q in zip(paired, particles):
        assert np.corrcoef(p.ravel(), q.ravel())[0, 1] >= 0.99
    without_ctf = reference_projections(table, ref_path, 64, ctf=False)
    assert np.corrcoef(without_ctf[0].ravel(), particles[0].ravel())[0, 1] < 0.9


def test_ctf_pairing_needs_the_defocus(tmp_path, reference):
    """A STAR file without rlnDefocusU is refused (file and column named) when the pairing applies
    the CTF, and pairs without it."""
    from emgan_core.api import EmganError

    ref_path, vol = reference
    _, particles = make_particle_set(tmp_path, vol)
    table = read_particle_star(tmp_path / "hand.star")
    star = write_particle_star(tmp_path / "no_ctf.star", tmp_path / "hand.mrcs", table.rows[["rot", "tilt", "psi"]],
                               1.5, 64, extra={"rlnOriginXAngst": table.rows["shift_x"].to_numpy(),
                                               "rlnOriginYAngst": table.rows["shift_y"].to_numpy()})
    bare = read_particle_star(star)
    with pytest.raises(EmganError, match=r"no_ctf.star: no rlnDefocusU column"):
        reference_projections(bare, ref_path, 64, ctf=True)
    plain = reference_projections(bare, ref_path, 64, ctf=False)
    assert np.allclose(plain, reference_projections(table, ref_path, 64, ctf=False), atol=1e-5)


def test_real_star_files_parse(shared_dir):
    """RELION 3.1 (optics block; header says 1 Å, STAR 2.806 Å), 3.0-style (pixel size from
    magnification) and a headerless stack."""
    cases = [("particles/relion31/relion31.star", 5, 256, 2.806),
             ("particles/empiar10076/empiar_10076_7.star", 7, 320, 5.0 * 1e4 / 38168),
             ("particles/aspire_sample/sample_particles_relion31.star", 17, 200, None)]
    for rel, n, size, px in cases:
        table = read_particle_star(shared_dir / rel)
        images = read_particle_images(table)
        assert images.shape == (n, size, size)
        last = table.rows.iloc[-1]  # the last particle's image, read straight from its stack
        with mrcfile.open(last["stack"], permissive=True) as mrc:
            assert np.array_equal(images[-1], np.asarray(mrc.data[int(last["index"])], np.float32))
        if px is not None:
            assert table.rows["pixel_size"].iloc[0] == pytest.approx(px, rel=1e-6)
    t31 = read_particle_star(shared_dir / cases[0][0])
    assert t31.rows["voltage"].iloc[0] == 300.0 and t31.rows["defocus_u"].iloc[0] == pytest.approx(13108.082418)
    assert t31.rows["shift_x"].iloc[0] == pytest.approx(0.019324)


def test_training_writes_checkpoint_and_validation(trained):
    import torch

    from emgan_core.api import load_for_inference

    metrics = json.loads((trained / "metrics.json").read_text())["validation"]
    assert metrics[-1]["step"] == 12
    assert {"val/l1", "val/mse", "val/input_mse"} <= set(metrics[-1])
    # val/input_mse: the input scaled by its least-squares gain onto the target; a target that is
    # 3 × the input plus a part orthogonal to it leaves exactly that part's mean square
    task, _ = load_for_inference(trained)
    x = torch.zeros(2, 1, 64, 64)
    x[:, :, :32] = 1.0
    rest = torch.zeros_like(x)
    rest[:, :, 32:] = 0.5
    terms = task.validation_losses({"input": x, "target": 3.0 * x + rest})
    assert float(terms["val/input_mse"]) == pytest.approx(0.125, rel=1e-6)  # 0.5² over half the pixels


def test_infer_on_mrcs_writes_stack_and_star_copy(tmp_path, trained, reference, emgan):
    star, particles = make_particle_set(tmp_path, reference[1])
    out = tmp_path / "out" / "denoised.mrcs"
    out.parent.mkdir()
    emgan("infer", trained, tmp_path / "hand.mrcs", "--star", star, "-o", out, "--device", "cpu", check_rc=0)
    den = read_image_stack(out)
    assert den.data.shape == particles.shape and den.pixel_size == pytest.approx(1.5)
    copy = read_particle_star(out.with_suffix(".star"))
    assert [p.resolve() for p in copy.rows["stack"].unique()] == [out.resolve()]
    assert np.array_equal(read_particle_images(copy), den.data)
    original = read_particle_star(star)
    assert np.allclose(copy.rows[["rot", "tilt", "psi", "shift_x"]], original.rows[["rot", "tilt", "psi", "shift_x"]])
    # the STAR file itself as input: same images, same result
    out2 = tmp_path / "out" / "from_star.mrcs"
    emgan("infer", trained, star, "-o", out2, "--device", "cpu", check_rc=0)
    assert np.allclose(read_image_stack(out2).data, den.data, atol=1e-5)
    # pix2pix test time (dropout on, batch statistics), torch seeded with 0: the same as by hand
    import torch

    from emgan_core.api import load_for_inference

    task, _ = load_for_inference(trained)
    g = task.generator
    running = [m.running_mean.clone() for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    x = particles.astype(np.float64)
    mu, sd = x.mean((1, 2), keepdims=True), x.std((1, 2), keepdims=True)
    z = torch.from_numpy(((x - mu) / sd)[:, None].astype(np.float32))

    def by_hand(mode, seed):
        g.train(mode == "pix2pix")
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.track_running_stats = mode != "pix2pix"
        torch.manual_seed(seed)
        with torch.no_grad():
            y = g(z)[:, 0].numpy() * sd * task.scale + mu
        g.eval()
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.track_running_stats = True
        return y

    assert np.allclose(den.data, by_hand("pix2pix", 0), atol=1e-4)
    assert all(torch.equal(a, m.running_mean) for a, m in
               zip(running, [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]))
    out_eval = tmp_path / "out" / "eval.mrcs"
    emgan("infer", trained, star, "-o", out_eval, "--eval-mode", "--device", "cpu", check_rc=0)
    assert np.allclose(read_image_stack(out_eval).data, by_hand("eval", 0), atol=1e-4)
    # Monte-Carlo dropout (core facility): sample i is the pix2pix pass seeded with i
    out3 = tmp_path / "out" / "mc.mrcs"
    emgan("infer", trained, star, "-o", out3, "--mc-samples", "4", "--device", "cpu", check_rc=0)
    mean, std = read_image_stack(out3), read_image_stack(tmp_path / "out" / "mc_std.mrcs")
    draws = np.stack([by_hand("pix2pix", i) for i in range(4)])
    assert np.allclose(mean.data, draws.mean(0), atol=1e-4)
    assert np.allclose(std.data, draws.std(0, ddof=1), atol=1e-4) and std.pixel_size == pytest.approx(1.5)
    assert out3.with_suffix(".star").exists()


def test_bad_inputs_give_one_line_and_no_output(tmp_path, trained, reference, emgan, data_dir):
    star, _ = make_particle_set(tmp_path, reference[1])
    out = tmp_path / "den.mrcs"
    missing = emgan("infer", trained, tmp_path / "hand.mrcs", "--star", tmp_path / "nope.star", "-o", out)
    assert missing.returncode != 0 and "STAR file not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    other = tmp_path / "other.mrcs"
    write_image_stack(other, ImageStack(np.zeros((2, 64, 64), np.float32), 1.5))
    unrelated = emgan("infer", trained, other, "--star", star, "-o", out)
    assert unrelated.returncode != 0 and "no particle of the STAR file points into" in unrelated.stderr
    wrong_px = tmp_path / "px.mrcs"
    write_image_stack(wrong_px, ImageStack(np.zeros((2, 64, 64), np.float32), 2.0))
    px = emgan("infer", trained, wrong_px, "-o", out)
    assert px.returncode != 0 and "trained at 1.500 Å/pixel" in px.stderr
    odd = tmp_path / "odd.mrcs"
    write_image_stack(odd, ImageStack(np.zeros((2, 48, 48), np.float32), 1.5))
    size = emgan("infer", trained, odd, "-o", out)
    assert size.returncode != 0 and "divisible by 64" in size.stderr
    assert not out.exists() and not out.with_suffix(".star").exists()
    broken = tmp_path / "broken.star"
    broken.write_text("data_\nloop_\n_rlnDefocusU #1\n1.0\n")
    bad = emgan("infer", trained, broken, "-o", out)
    assert bad.returncode != 0 and "no table with rlnImageName" in bad.stderr
    # impossible counts and noise levels: one line naming the setting, no folder made
    source = data_dir / "1orc.pdb"
    none = emgan("denoise", "simulate", source, "-n", "0", "-o", tmp_path / "none")
    assert none.returncode == 2 and none.stderr.strip() == ("emgan: error: count: must be at least 1 (particles to "
                                                            "simulate), got 0") and not (tmp_path / "none").exists()
    snr = emgan("denoise", "evaluate", source, "--ckpt", trained, "--snr", "-1")
    assert snr.returncode == 2 and snr.stderr.strip() == "emgan: error: --snr: must be > 0, got -1.0"


def test_the_star_copy_never_replaces_the_input_star(tmp_path, trained, reference, emgan):
    """`infer noisy.mrcs --star particles.star -o particles.mrcs` would put the copy over the input STAR."""
    hand, _ = make_particle_set(tmp_path, reference[1])
    star = hand.rename(tmp_path / "particles.star")  # points at hand.mrcs, beside it
    before = star.read_bytes()
    out = tmp_path / "particles.mrcs"  # its STAR copy would be particles.star
    for extra in ([], ["--overwrite"]):
        proc = emgan("infer", trained, tmp_path / "hand.mrcs", "--star", star, "-o", out, *extra)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert f"the STAR copy of the output goes beside it, as {star.name}, which is the input STAR file" in proc.stderr
    assert star.read_bytes() == before and not out.exists()
    # the input stack as the output: refused, --overwrite or not
    proc = emgan("infer", trained, tmp_path / "hand.mrcs", "--star", star, "-o", tmp_path / "hand.mrcs", "--overwrite")
    assert proc.returncode == 2 and "is an input of this command" in proc.stderr


def test_item_typo_is_one_line(tmp_path, data_dir, emgan):
    bad = emgan("run", "denoise-quickstart", *TINY, f"data.train=[{{structure: {data_dir / '1ubq.pdb'}, cout: 16}}]",
                "-o", tmp_path / "run")
    assert bad.returncode != 0 and "data.train.0" in bad.stderr and "data.train.0.cout: unknown key (did you mean 'count'?)" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_scores_fit_scale_and_reward_a_better_estimate():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    truth = np.stack([np.exp(-((xx - 32 - s) ** 2 + (yy - 30) ** 2) / 60.0) for s in range(-3, 3)])
    noisy = 5.0 * truth + 2.0 + rng.normal(0, 1.0, truth.shape)
    better = truth + rng.normal(0, 0.02, truth.shape)
    assert np.allclose(fit_to(7.0 * truth - 1.0, truth), truth)
    scores = {"noisy": image_scores(noisy, truth, 1.5).values, "denoised": image_scores(better, truth, 1.5).values}
    assert scores["denoised"]["psnr_dB"] > scores["noisy"]["psnr_dB"] + 10
    assert scores["denoised"]["ssim"] > scores["noisy"]["ssim"]
    assert scores["denoised"]["frc_0.5_A"] < scores["noisy"]["frc_0.5_A"]


def test_simulate_command_writes_a_relion_set(tmp_path, data_dir, emgan):
    out = tmp_path / "sim"
    emgan("denoise", "simulate", data_dir / "1orc.pdb", "-n", 5, "--snr", 0.2, "--ctf", "-o", out, check_rc=0)
    table = read_particle_star(out / "particles.star")
    assert len(table) == 5 and table.rows["defocus_u"].between(1e4, 2.5e4).all()
    noisy = read_particle_images(table)
    clean = read_image_stack(out / "clean.mrcs").data
    assert noisy.shape == clean.shape == (5, 64, 64)
    # per-image SNR 0.2 → r = √(0.2 / 1.2) = 0.41
    assert np.corrcoef(noisy.ravel(), clean.ravel())[0, 1] == pytest.approx(0.41, abs=0.05)


def test_plugin_contract(tmp_path, data_dir, reference):
    from emgan_core.api import ImageStack
    from emgan_core.testing import check_plugin

    images = ProjectionSimulator(image_size=64, pixel_size=1.5).project(reference[1], np.zeros((2, 3)))
    out = check_plugin("denoise", tmp_path, "denoise-quickstart", [*TINY, *tiny_data(data_dir), "data.val=null"],
                       source=ImageStack(images.astype(np.float32), 1.5), user_data=("denoise",))
    assert out.data.shape == (2, 64, 64) and out.pixel_size == 1.5


def test_bench_scores_particle_stacks_against_their_truth(tmp_path, data_dir, trained, emgan):
    import yaml

    parts = tmp_path / "heldout"
    emgan("denoise", "simulate", data_dir / "1orc.pdb", "-n", "8", "--snr", "0.1", "-o", parts, check_rc=0)
    bench = yaml.safe_load((Path(__file__).parents[3] / "benchmarks" / "denoise" / "quickstart.yaml").read_text())
    bench["inputs"][0].update(input=str(parts / "noisy.mrcs"), reference=str(parts / "clean.mrcs"),
                              star=str(parts / "particles.star"))
    bench["methods"][0]["checkpoint"] = str(trained)
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench))
    emgan("bench", path, "-o", tmp_path / "report", check_rc=0)
    rows = {r["method"]: r for r in json.loads((tmp_path / "report" / "results.json").read_text())["results"]}
    assert set(rows) == {"denoise-quickstart", "noisy-input", "control-noise", "control-constant"}
    frc = {m: float("inf") if r["values"]["frc_0.5_A"] is None else r["values"]["frc_0.5_A"] for m, r in rows.items()}
    # FRC-0.5 of the noisy particles reaches a finite resolution; uniform noise never crosses 0.5
    assert frc["noisy-input"] < frc["control-noise"]
    assert set(rows["denoise-quickstart"]["values"]) == {"frc_0.5_A", "frc_0.143_A", "psnr_dB", "ssim"}
    # (SSIM is no such control: after the least-squares fit a flat image scores above SNR-0.1 particles)
    # a stack of another shape is refused in one line, naming the method
    bad = dict(bench, inputs=[dict(bench["inputs"][0], reference=str(data_dir / "emd2566_3J6B_chain9.mrc"))])
    path.write_text(yaml.safe_dump(bad))
    proc = emgan("bench", path, "-o", tmp_path / "bad")
    assert proc.returncode != 0 and "denoise-quickstart" in proc.stderr and not (tmp_path / "bad").exists()


def test_evaluate_is_the_benchmark_on_simulated_particles(trained, data_dir, emgan):
    from emgan_core.api import load_for_inference

    proc = emgan("denoise", "evaluate", data_dir / "1orc.pdb", "--ckpt", trained, "-n", "4", "--json", check_rc=0)
    scores = json.loads(proc.stdout)
    assert scores["settings"]["count"] == 4 and set(scores) == {"noisy", "denoised", "settings"}
    sim = load_for_inference(trained)[0].simulator
    pairs = sim.simulate(str(data_dir / "1orc.pdb"), count=4, seed=12345)  # the command's default seed
    noisy = image_scores(pairs.noisy.data, pairs.clean.data, sim.pixel_size).values
    for key in ("frc_0.143_A", "psnr_dB", "ssim"):
        assert scores["noisy"][key] == pytest.approx(noisy[key], rel=1e-6)
    assert set(scores["denoised"]) == set(noisy)


def test_the_shipped_recipe_passes_the_dry_run_that_still_refuses_a_bad_size(emgan):
    """denoise-small's Fourier-ring loss has no meta-device kernel: the dry run checks the networks up
    to it and passes, and still refuses an image size the U-Net cannot take."""
    ok = emgan("validate", "denoise-small")
    assert ok.returncode == 0 and ": ok" in ok.stdout, ok.stderr
    bad = emgan("validate", "denoise-small", "simulator.params.image_size=48")
    assert bad.returncode == 2 and "cannot train on 48×48 patches" in bad.stderr, bad.stderr
