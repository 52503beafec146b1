"""Metric functions against direct definitions and known cases."""

import numpy as np
import pytest
from scipy import ndimage

from emgan_core import Volume
from emgan_core.metrics import (box_correlation, box_correlation_about_mean, frc, fsc, pearson,
                                psnr, ssim, thresholded_pcc)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = ndimage.gaussian_filter(rng.random((24, 26, 28)), 2)
    b = a + 0.01 * rng.standard_normal(a.shape)
    return a, b


def test_correlations_match_definitions(pair):
    a, b = pair
    assert pearson(a, b).values["pearson"] == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    direct = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
    assert box_correlation(a, b).values["box_cc"] == pytest.approx(direct)
    level = np.percentile(a, 70)
    m = a > level
    am, bm = a[m] - a[m].mean(), b[m] - b[m].mean()
    direct = (am * bm).sum() / np.sqrt((am * am).sum() * (bm * bm).sum())
    got = box_correlation_about_mean(a, b, above=level).values["box_cam"]
    assert got == pytest.approx(direct)


def test_identical_inputs(pair):
    a, _ = pair
    assert ssim(a, a).values["ssim"] == pytest.approx(1.0)
    assert thresholded_pcc(a, a).values["pcc_p90"] == pytest.approx(1.0)
    assert psnr(a, a).values["psnr_dB"] == float("inf")
    assert ssim(a, a[::-1].copy()).values["ssim"] < 0.9


def test_fsc_finds_a_lowpass_cutoff():
    """Noise band-limited at 1/8 Å⁻¹ vs its unfiltered self plus fresh noise above the cut-off."""
    rng = np.random.default_rng(3)
    n, voxel = 64, 2.0
    f = np.fft.fftfreq(n, voxel)
    r = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)
    base = rng.standard_normal((n, n, n))
    other = rng.standard_normal((n, n, n))
    keep = r < 1 / 8.0
    a = np.fft.ifftn(np.fft.fftn(base)).real
    b = np.fft.ifftn(np.where(keep, np.fft.fftn(base), np.fft.fftn(other))).real
    res = fsc(Volume(a, voxel_size=voxel), Volume(b, voxel_size=voxel)).values
    assert 7.0 < res["resolution_0.5_A"] < 9.0
    assert 7.0 < res["resolution_0.143_A"] < 9.0
    curve = fsc(Volume(a, voxel_size=voxel), Volume(b, voxel_size=voxel)).curves["fsc"]
    assert curve["y"][0] == pytest.approx(1.0) and curve["x"][-1] == pytest.approx(1 / (2 * voxel))


def test_frc_on_images_and_stacks():
    rng = np.random.default_rng(4)
    img = ndimage.gaussian_filter(rng.random((3, 64, 64)), 1.5)
    noisy = img + 0.02 * rng.standard_normal(img.shape)
    clean_res = frc(img, img).values["resolution_0.5_A"]
    noisy_res = frc(noisy, img).values["resolution_0.5_A"]
    assert clean_res == pytest.approx(2.0, rel=0.05)  # Nyquist at 1 Å/pixel
    assert noisy_res > clean_res


def test_shape_mismatch_is_a_user_error():
    from emgan_core import EmganError

    with pytest.raises(EmganError, match="resample"):
        pearson(np.zeros((3, 3, 3)), np.zeros((3, 3, 4)))


def _prdc_brute_force(fake, real, k):
    """Naeem et al.'s definitions, one loop per sample."""
    def radius(x, i):
        d = sorted(np.linalg.norm(x - x[i], axis=1))
        return d[k]  # d[0] is the sample itself

    rr = [radius(real, i) for i in range(len(real))]
    fr = [radius(fake, j) for j in range(len(fake))]
    dist = lambda a, b: float(np.linalg.norm(a - b))  # noqa: E731
    precision = np.mean([any(dist(f, r) <= rr[i] for i, r in enumerate(real)) for f in fake])
    recall = np.mean([any(dist(r, f) <= fr[j] for j, f in enumerate(fake)) for r in real])
    density = sum(dist(f, r) <= rr[i] for f in fake for i, r in enumerate(real)) / (k * len(fake))
    coverage = np.mean([min(dist(r, f) for f in fake) <= rr[i] for i, r in enumerate(real)])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize("shift,k", [(0.0, 3), (0.7, 5), (3.0, 4)])
def test_prdc_matches_brute_force(shift, k):
    from emgan_core.metrics import prdc

    rng = np.random.default_rng(int(shift * 10) + k)
    real = rng.normal(size=(60, 8))
    fake = rng.normal(size=(45, 8)) * 0.8 + shift
    got = prdc(fake, real, k=k).values
    want = _prdc_brute_force(fake, real, k)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    if shift == 3.0:
        assert got["coverage"] < 0.2 and got["precision"] < 0.2  # far apart: little overlap
    if shift == 0.0:
        assert got["coverage"] > 0.6


def test_prdc_rejects_bad_shapes():
    from emgan_core.errors import EmganError
    from emgan_core.metrics import prdc

    with pytest.raises(EmganError, match="embeddings"):
        prdc(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(EmganError, match="k must be"):
        prdc(np.random.rand(4, 2), np.random.rand(10, 2), k=4)


def test_resolution_crossing_skips_the_mean_and_a_low_first_dip():
    from emgan_core.metrics._common import resolution_at

    freqs = np.arange(6) * 0.1  # 1/Å
    assert resolution_at(freqs, np.array([1.0, 0.9, 0.7, 0.3, 0.2, 0.1]), 0.5) == pytest.approx(1 / 0.25)
    # a noisy first ring below the threshold and a negative mean: the crossing is the later descent
    assert resolution_at(freqs, np.array([-1.0, 0.3, 0.9, 0.7, 0.3, 0.1]), 0.5) == pytest.approx(1 / 0.35)
    assert resolution_at(freqs, np.array([1.0, 0.3, 0.2, 0.1, 0.0, 0.0]), 0.5) == float("inf")
    assert resolution_at(freqs, np.array([1.0, 0.9, 0.9, 0.9, 0.9, 0.9]), 0.5) == pytest.approx(2.0)


def test_fid_matches_the_closed_form_of_two_gaussians():
    from emgan_core.metrics import fid

    rng = np.random.default_rng(3)
    cov_r, cov_g = np.diag([1.0, 2.0, 0.5]), np.diag([1.5, 1.0, 0.5])
    real = rng.multivariate_normal([0, 0, 0], cov_r, 40000)
    fake = rng.multivariate_normal([1.0, 0, 0], cov_g, 40000)
    # diagonal covariances: |Δμ|² + Σ (√a − √b)²
    want = 1.0 + (1 - np.sqrt(1.5)) ** 2 + (np.sqrt(2.0) - 1) ** 2
    assert fid(fake, real).values["fid"] == pytest.approx(want, abs=0.03)
    assert fid(real[:500], real[:500]).values["fid"] == pytest.approx(0.0, abs=1e-6)


def test_inception_score_bounds():
    from emgan_core.errors import EmganError
    from emgan_core.metrics import inception_score

    confident = np.eye(4)[np.arange(400) % 4]  # sure and balanced: the maximum, K
    assert inception_score(confident).values["inception_score"] == pytest.approx(4.0)
    assert inception_score(np.full((50, 4), 0.25)).values["inception_score"] == pytest.approx(1.0)
    one_class = np.eye(4)[np.zeros(100, int)]  # collapsed onto one class: 1
    assert inception_score(one_class).values["inception_score"] == pytest.approx(1.0)
    assert inception_score(confident, splits=4).values["inception_score_std"] == pytest.approx(0.0)
    with pytest.raises(EmganError, match="probabilities"):
        inception_score(np.ones((5, 3)))
