"""DiffraGAN plugin: abTEM triplets, the Dask dataset builder, training, generation and scores."""

from __future__ import annotations

import numpy as np
import pytest

from emgan_core.errors import EmganError
from emgan_diffragan.dataset import TripletStore, build_dataset, plan_angles
from emgan_diffragan.evaluate import compare, difference_mask
from emgan_diffragan.simulator import TripletSimulator

# 32² triplets in a 50 Å cell at 0.5 Å sampling (diffraction to 15 mrad): about 0.2 s each
SMALL = dict(image_size=32, cell=50.0, sampling=0.5, slice_thickness=2.5, max_angle=15.0)
TINY = ["generator.params.channels=4", "generator.params.depth=5", "critic.params.channels=4",
        "train.steps=4", "train.batch_size=4", "train.val_every=4", "train.val_batches=1", "train.log_every=2",
        "train.checkpoint_every=4"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, data_dir):
    """Six triplets of 1ORC, built with two Dask workers."""
    out = tmp_path_factory.mktemp("triplets")
    build_dataset([data_dir / "1orc.pdb"], out, 6, TripletSimulator(**SMALL), chunk=3, workers=2)
    return out / "1orc.zarr"


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_triplet_geometry_units_and_noise(data_dir):
    sim = TripletSimulator(**SMALL, low_snr=0.5)
    t = sim.simulate(data_dir / "1orc.pdb", angles=[[20.0, 60.0, 0.0]], seed=4)
    assert t.diffraction.shape == t.low.shape == t.high.shape == (1, 32, 32)
    assert t.pixel_size == pytest.approx(50.0 / 32)
    # the pattern spans ±max_angle: 2·15 mrad plus one pixel of the odd-sized abTEM pattern
    assert 30.0 <= t.angular_sampling * 32 <= 31.5
    assert t.high.mean() == pytest.approx(1.0, abs=2e-3)  # a unit plane wave keeps its intensity
    assert (t.diffraction >= 0).all() and t.diffraction.sum() < 0.2  # weak scattering, zeroth order blocked
    clean = sim.__class__(**SMALL, dose=1e12).simulate(data_dir / "1orc.pdb", angles=[[20.0, 60.0, 0.0]])
    noise = t.low - clean.low
    assert clean.low.var() / noise.var() == pytest.approx(0.5, rel=0.15)  # the dose gives the target SNR
    assert t.dose[0] == pytest.approx(0.5 * clean.low.mean() / (clean.low.var() * t.pixel_size ** 2), rel=0.01)



def test_triplet_written_as_three_stacks(tmp_path, data_dir, emgan):
    emgan("simulate", "abtem-triplet", data_dir / "1orc.pdb", "-o", tmp_path / "t.mrcs",
          *[f"{k}={v}" for k, v in SMALL.items()], check_rc=0)
    from emgan_core.io import read_image_stack

    high = read_image_stack(tmp_path / "t_high.mrcs")
    pattern = read_image_stack(tmp_path / "t_diffraction.mrcs")
    assert high.data.shape == pattern.data.shape == (1, 32, 32)
    assert high.pixel_size == pytest.approx(50.0 / 32, rel=1e-4) and 0.9 < pattern.pixel_size < 1.0  # mrad
    assert (tmp_path / "t_low.mrcs").exists() and not (tmp_path / "t.mrcs").exists()


def test_in_plane_angle_rotates_the_image(data_dir):
    """psi = 90° is the psi = 0 image turned by 90° (about the cell centre, one pixel off numpy's)."""
    sim = TripletSimulator(**SMALL, dose=1e12)
    t = sim.simulate(data_dir / "1orc.pdb", angles=[[30.0, 50.0, 0.0], [30.0, 50.0, 90.0]])
    turned = np.roll(np.rot90(t.high[0], 1), 1, axis=0)
    assert _corr(turned, t.high[1]) > 0.999
    assert _corr(np.roll(np.rot90(t.high[0], 3), 1, axis=1), t.high[1]) < 0.5


def test_images_share_the_core_projection_frame(data_dir):
    """The low-res image of (rot, tilt, psi) matches the core's projection of the Gaussian map at the
    same angles better than the transposed projection (abTEM's (x, y) arrays turned into (y, x)) or
    another orientation's."""
    from emgan_core.simulators import GaussianSimulator, project_real
    from emgan_core.volume import Volume

    sim = TripletSimulator(**SMALL, dose=1e12)
    angles = np.array([[30.0, 50.0, 0.0], [100.0, 120.0, 45.0]])
    low = sim.simulate(data_dir / "1orc.pdb", angles=angles).low
    n, a = 32, 50.0 / 32
    grid = Volume(np.zeros((n, n, n), np.float32), voxel_size=a, origin=-(n // 2) * a * np.ones(3))
    atoms = sim.prepare(sim.read_input(data_dir / "1orc.pdb"))  # centred on its centre of mass
    proj = project_real(GaussianSimulator(5.0, a).simulate(atoms, grid=grid).data, angles, a)
    for i in range(2):
        matched = _corr(proj[i], low[i])
        assert matched > 0.3
        assert matched > _corr(proj[i].T, low[i]) + 0.1 and matched > _corr(proj[1 - i], low[i]) + 0.1


def test_impossible_settings_are_refused(data_dir):
    with pytest.raises(EmganError, match="sampling <="):
        TripletSimulator(sampling=1.0, max_angle=20.0)
    with pytest.raises(EmganError, match="more than the 30 Å cell"):
        TripletSimulator(**{**SMALL, "cell": 30.0}).prepare(TripletSimulator().read_input(data_dir / "1orc.pdb"))
    with pytest.raises(EmganError, match="low_snr or a dose"):
        TripletSimulator(low_snr=None)
    assert plan_angles(5).shape == (5, 3)
    with pytest.raises(EmganError, match="'grid' or 'random'"):
        plan_angles(5, "spiral")


def test_builder_resumes_without_recomputing(tmp_path, data_dir, store):
    sim = TripletSimulator(**SMALL)

    class Interrupt(Exception):
        pass

    def stop(path, done, total):
        raise Interrupt

    with pytest.raises(Interrupt):
        build_dataset([data_dir / "1orc.pdb"], tmp_path, 6, sim, chunk=2, workers=2, on_chunk=stop)
    assert TripletStore(tmp_path / "1orc.zarr").done().sum() == 2
    first = TripletStore(tmp_path / "1orc.zarr").load()
    (report,) = build_dataset([data_dir / "1orc.pdb"], tmp_path, 6, sim, chunk=2, workers=2)
    assert (report.computed, report.skipped) == (4, 2)
    done = TripletStore(tmp_path / "1orc.zarr").load()
    assert np.array_equal(done["low"][first["index"]], first["low"])  # finished chunk untouched
    # the same triplets as the module's store built in chunks of 3: placement and noise seeds agree
    other = TripletStore(store).load()
    assert np.allclose(done["high"], other["high"], atol=1e-5)
    # same noise seeds: FFT rounding may move a rare Poisson draw by one count, nothing more
    assert np.mean(np.abs(done["low"] - other["low"]) < 1e-4) > 0.99
    direct = sim.simulate(data_dir / "1orc.pdb", angles=plan_angles(6)[4:5])
    assert np.allclose(done["high"][4], direct.high[0], atol=1e-6)
    (again,) = build_dataset([data_dir / "1orc.pdb"], tmp_path, 6, sim, chunk=2, workers=2)
    assert (again.computed, again.skipped) == (0, 6)
    with pytest.raises(EmganError, match="cannot resume.*settings"):
        build_dataset([data_dir / "1orc.pdb"], tmp_path, 6, TripletSimulator(**{**SMALL, "low_snr": 2.0}), chunk=2)


def test_scores_and_difference_mask():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((3, 32, 32))
    assert not difference_mask(7.0 * truth - 1.0, truth).any()  # scale and offset are fitted away
    noisy = truth + 0.5 * rng.standard_normal(truth.shape)
    scores = compare({"low": noisy, "generated": truth * 2.0}, truth, pixel_size=1.0)
    assert scores["generated"]["masked_fraction"] == 0.0 and scores["low"]["masked_fraction"] > 0.05
    assert scores["generated"]["ssim"] > 0.99 > scores["low"]["ssim"]
    assert scores["generated"]["frc_0.5_A"] == pytest.approx(2.0)  # Nyquist at 1 Å/pixel


def test_train_generate_and_evaluate(tmp_path, store, emgan):
    run = tmp_path / "run"
    data = [f"data.train=[{{dataset: {store}, indices: [0, 4]}}]", f"data.val=[{{dataset: {store}, indices: [4, 6]}}]",
            "simulator.params.image_size=32"]
    emgan("run", "diffragan-quickstart", *TINY, *data, "-o", run, check_rc=0)
    out = tmp_path / "gen" / "generated.mrcs"
    (tmp_path / "gen").mkdir()
    emgan("diffragan", "generate", run, store, "-o", out, check_rc=0)
    from emgan_core.io import read_image_stack, read_particle_star

    stack = read_image_stack(out)
    assert stack.data.shape == (6, 32, 32) and stack.pixel_size == pytest.approx(50.0 / 32, rel=1e-4)
    assert np.abs(stack.data).max() <= 1.0
    table = read_particle_star(out.with_suffix(".star"))
    angles = table.rows[["rot", "tilt", "psi"]].to_numpy()
    assert np.allclose(angles, TripletStore(store).angles(), atol=1e-4)
    png = tmp_path / "eval.png"
    proc = emgan("diffragan", "evaluate", run, store, "--json", "--control", "--png", png, check_rc=0)
    import json

    scores = json.loads(proc.stdout)
    assert scores["settings"]["triplets"] == 6 and png.stat().st_size > 10_000
    assert scores["control"]["frc_curve"]["y"] != scores["generated"]["frc_curve"]["y"]  # other patterns in
    for name in ("low", "generated", "control"):
        assert 0 < scores[name]["frc_0.5_A"] and -1 <= scores[name]["ssim"] <= 1
    bad = emgan("diffragan", "evaluate", run, tmp_path / "missing.zarr")
    assert bad.returncode == 2 and "no triplet dataset" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
