"""Classical filters (the baselines a trained denoiser must beat): what each does to real-looking
particle images, and their use in a benchmark."""

import numpy as np
import pytest
import yaml

from emgan_core import EmganError, ImageStack
from emgan_core.registry import get_registry


@pytest.fixture(scope="module")
def particles(data_dir):
    """32 projections of 1ORC's Gaussian map (64², 1.5 Å/pixel) and their noisy copies at SNR 0.1."""
    from emgan_core.io import read_structure
    from emgan_core.simulators import GaussianSimulator, project_real, random_euler
    from emgan_core.volume import Volume

    atoms = read_structure(data_dir / "1orc.pdb")
    centre = atoms.xyz.mean(0)
    grid = Volume(np.zeros((64, 64, 64), np.float32), voxel_size=1.5, origin=centre - 32 * 1.5)
    vol = GaussianSimulator(resolution=3.0, sampling="integral").simulate(atoms, grid=grid)
    clean = project_real(vol.data, random_euler(32, np.random.default_rng(0)), 1.5)
    sigma = np.sqrt(clean.var(axis=(1, 2), keepdims=True) / 0.1)
    noisy = clean + np.random.default_rng(1).normal(size=clean.shape) * sigma
    return ImageStack(clean.astype(np.float32), 1.5), ImageStack(noisy.astype(np.float32), 1.5)


def _fit_mse(est: np.ndarray, clean: np.ndarray) -> float:
    """Mean squared error after the per-image least-squares fit the image scores use."""
    errors = []
    for e, c in zip(est.astype(np.float64), clean.astype(np.float64)):
        a = np.vstack([e.ravel(), np.ones(e.size)]).T
        coef, *_ = np.linalg.lstsq(a, c.ravel(), rcond=None)
        errors.append(np.mean((a @ coef - c.ravel()) ** 2))
    return float(np.mean(errors))


def test_each_filter_beats_the_noisy_images_and_a_blur_too_wide_loses(particles):
    clean, noisy = particles
    reg = get_registry()
    noisy_error = _fit_mse(noisy.data, clean.data)
    errors = {name: _fit_mse(reg.build("filter", name, **params)(noisy).data, clean.data)
              for name, params in {"lowpass": {"cutoff": 12.0}, "wiener": {"snr": 0.1},
                                   "nl-means": {"snr": 0.1}}.items()}
    assert all(e < 0.5 * noisy_error for e in errors.values()), (errors, noisy_error)
    # a control that must lose: a low-pass far wider than the particle blurs it away
    assert _fit_mse(reg.build("filter", "lowpass", cutoff=200.0)(noisy).data, clean.data) > errors["lowpass"]


def test_a_linear_radial_filter_leaves_each_ring_s_signal_to_noise_unchanged(particles):
    """Signal and noise in one Fourier ring are scaled alike: the FRC of a low-pass with the truth is
    the noisy image's, up to the filter's change across a ring's width (the reason linear filters
    cannot win on FRC, only on PSNR and SSIM); non-local means, not linear, changes it."""
    from emgan_core.metrics._common import shell_correlation

    clean, noisy = particles
    filtered = get_registry().build("filter", "lowpass", cutoff=10.0)(noisy)
    step = np.array([1.5, 1.5])
    a = np.asarray(shell_correlation(noisy.data[0], clean.data[0], step)[1])
    b = np.asarray(shell_correlation(filtered.data[0], clean.data[0], step)[1])
    nlm = get_registry().build("filter", "nl-means", snr=0.1)(noisy)
    c = np.asarray(shell_correlation(nlm.data[0], clean.data[0], step)[1])
    rings = np.isfinite(a) & (np.abs(a) > 0.05)
    assert rings.sum() > 5 and np.abs(a[rings] - b[rings]).max() < 0.02
    assert np.abs(a[rings] - c[rings]).max() > 0.1


def test_the_wiener_filter_needs_the_star_file_to_correct_the_ctf(particles):
    with pytest.raises(EmganError, match="needs the particles' STAR file"):
        get_registry().build("filter", "wiener", snr=0.1, ctf=True)(particles[1])
    with pytest.raises(EmganError, match="snr must be positive"):
        get_registry().build("filter", "wiener", snr=0.0)


def test_filters_are_benchmark_methods(particles, tmp_path, emgan):
    from emgan_core.io import write_image_stack

    clean, noisy = particles
    write_image_stack(tmp_path / "clean.mrcs", clean)
    write_image_stack(tmp_path / "noisy.mrcs", noisy)
    bench = tmp_path / "b.yaml"
    bench.write_text(yaml.safe_dump({
        "name": "filters", "normalise": "none", "metrics": ["image-scores"],
        "inputs": [{"input": str(tmp_path / "noisy.mrcs"), "reference": str(tmp_path / "clean.mrcs")}],
        "methods": [{"filter": {"name": "wiener", "params": {"snr": 0.1}}}, {"label": "noisy", "control": "input"},
                    {"control": "constant"}, {"label": "truth", "control": "reference"},
                    {"label": "truth-shuffled", "control": "reference", "score_against": "shuffled"},
                    {"label": "wiener-shuffled", "filter": {"name": "wiener", "params": {"snr": 0.1}},
                     "score_against": "shuffled"}]}))
    emgan("bench", bench, "-o", tmp_path / "out", check_rc=0)
    import json

    rows = {r["method"]: r["values"] for r in json.loads((tmp_path / "out" / "results.json").read_text())["results"]}
    assert rows["wiener"]["psnr_dB"] > rows["noisy"]["psnr_dB"] + 3
    # (a flat image, fitted to the truth, scores a higher SSIM than SNR-0.1 particles: not a control here)
    assert rows["wiener"]["ssim"] > max(rows["noisy"]["ssim"], rows["control-constant"]["ssim"])
    # scored against other particles' truths (score_against: shuffled), the truth itself and the
    # filtered images lose what needs the right particle
    assert rows["truth"]["frc_0.5_A"] == pytest.approx(3.0, rel=0.01)  # Nyquist at 1.5 Å/pixel
    assert rows["truth-shuffled"]["frc_0.5_A"] > 5 * rows["truth"]["frc_0.5_A"]
    assert rows["wiener-shuffled"]["frc_0.143_A"] > 2 * rows["wiener"]["frc_0.143_A"]
    bench.write_text(bench.read_text().replace("score_against: shuffled", "score_against: shuffle"))
    proc = emgan("bench", bench, "-o", tmp_path / "out2")
    assert proc.returncode == 2 and "methods.4.score_against: expected reference or shuffled" in proc.stderr
