"""Projection geometry (RELION Euler angles), Fourier-slice vs real-space projection, CTF, U-Net."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from emgan_core.errors import EmganError
from emgan_core.io import read_structure
from emgan_core.simulators import (FourierProjector, GaussianSimulator, ctf_2d, electron_wavelength,
                                   euler_matrix, project_real, random_euler, shift_images)
from emgan_core.simulators.projection import matrix_to_euler
from emgan_core.testing import check_network_contract
from emgan_core.volume import Volume

ANGLES = np.array([[0.0, 0.0, 0.0], [30.0, 60.0, -20.0], [120.0, 100.0, 45.0], [-75.0, 150.0, 200.0]])


def direct_projection(volume: np.ndarray, angles) -> np.ndarray:
    """Independent reference: V(Aᵀ r) sampled with scipy (order 1) on the (x, y, z) voxel grid, summed along z."""
    n = volume.shape[0]
    c = np.arange(n) - n // 2
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    r = np.stack([x.ravel(), y.ravel(), z.ravel()])
    out = []
    for a in angles:
        q = euler_matrix(*a).T @ r + n // 2  # (x, y, z) voxel coordinates
        samples = ndimage.map_coordinates(volume, q[::-1], order=1, mode="constant")
        out.append(samples.reshape(n, n, n).sum(0))
    return np.stack(out)


@pytest.fixture(scope="module")
def protein_volume(data_dir):
    atoms = read_structure(data_dir / "1orc.pdb")
    n, a = 48, 1.5
    grid = Volume(np.zeros((n, n, n), np.float32), voxel_size=a, origin=atoms.xyz.mean(0) - (n // 2) * a)
    # voxel means: a smooth, band-limited test volume (point samples alias at σ = 0.68 Å < 1.5 Å voxels)
    return GaussianSimulator(3.0, a, convention="molmap", sampling="integral").simulate(atoms, grid=grid).data


def test_euler_matrices_are_relion_rotations():
    m = euler_matrix(*ANGLES.T)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1.0)
    # RELION: (rot, tilt, psi) = (90, 0, 0) is a rotation by 90° about z: A = [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]
    assert np.allclose(euler_matrix(90, 0, 0), [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-12)
    assert np.allclose(euler_matrix(0, 90, 0), [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-12)
    back = euler_matrix(*matrix_to_euler(m).T)
    assert np.allclose(back, m, atol=1e-9)


def test_random_orientations_are_uniform():
    m = euler_matrix(*random_euler(20000, np.random.default_rng(0)).T)
    # uniform on SO(3): E[R] = 0 and the projection direction (third row) is uniform on the sphere
    assert np.abs(m.mean(0)).max() < 0.02
    assert abs(np.mean(m[:, 2, 2] > 0.5) - 0.25) < 0.01


def test_orientation_grid_is_near_uniform_and_exact_in_count():
    from emgan_core.simulators import grid_euler

    angles = grid_euler(1078)
    assert angles.shape == (1078, 3) and np.array_equal(angles, grid_euler(1078))
    m = euler_matrix(*angles.T)
    assert np.abs(m.mean(0)).max() < 0.005  # E[R] = 0 as for uniform rotations
    assert abs(np.mean(m[:, 2, 2] > 0.5) - 0.25) < 0.005  # equal-area viewing directions
    psi = np.sort(angles[:, 2])
    assert np.diff(psi).max() < 5.0  # in-plane angles fill 0-360°


def test_fourier_resize_is_exact_for_band_limited_images():
    from emgan_core.transforms import fourier_resize

    y, x = np.mgrid[0:48, 0:48] / 48.0
    image = 2.0 + np.cos(2 * np.pi * 3 * x) + 0.5 * np.sin(2 * np.pi * (2 * x + 5 * y))
    small = fourier_resize(image, 16)
    ys, xs = np.mgrid[0:16, 0:16] / 16.0
    assert np.allclose(small, 2.0 + np.cos(2 * np.pi * 3 * xs) + 0.5 * np.sin(2 * np.pi * (2 * xs + 5 * ys)))
    assert np.allclose(fourier_resize(small, 48), image)  # and back, by zero padding
    noise = np.random.default_rng(0).standard_normal((3, 50, 50))
    assert np.allclose(fourier_resize(noise, 20).mean((1, 2)), noise.mean((1, 2)))


@pytest.mark.parametrize("method", ["fourier", "real"])
def test_projections_match_a_direct_real_space_sum(protein_volume, method):
    ref = direct_projection(protein_volume, ANGLES)
    got = (FourierProjector(protein_volume).project(ANGLES) if method == "fourier"
           else project_real(protein_volume, ANGLES))
    for r, g in zip(ref, got):
        assert np.corrcoef(r.ravel(), g.ravel())[0, 1] >= 0.99
    assert np.allclose(got.sum((1, 2)), ref.sum((1, 2)), rtol=0.03)  # line integrals, same units
    # tilt 0: the projection is the plain sum along z
    assert np.allclose(project_real(protein_volume, [[0, 0, 0]], voxel_size=1.5)[0],
                       protein_volume.sum(0) * 1.5, rtol=1e-4, atol=1e-4)


def test_projection_needs_a_cube():
    with pytest.raises(EmganError, match="cubic"):
        project_real(np.zeros((8, 8, 9)), ANGLES)


def test_shift_images_moves_content_by_whole_pixels():
    img = np.zeros((1, 16, 16), np.float32)
    img[0, 5, 7] = 1.0
    out = shift_images(img, [[3.0, -2.0]])[0]  # (dx, dy)
    assert np.unravel_index(np.argmax(out), out.shape) == (3, 10)


def test_ctf_values():
    assert electron_wavelength(200.0) == pytest.approx(0.02508, abs=1e-5)
    assert electron_wavelength(300.0) == pytest.approx(0.01969, abs=1e-5)
    c = ctf_2d((128, 128), 1.0, 20000.0, voltage=300.0, cs=2.7, amplitude_contrast=0.1)
    assert c[0, 0] == pytest.approx(0.1)
    # first zero along x: chi(k) + asin(0.1) = pi, chi = pi λ Δf k² - pi/2 Cs λ³ k⁴ (Cs in Å)
    lam, cs = electron_wavelength(300.0), 2.7e7
    k = np.fft.fftfreq(4096, 1.0)[:2048]
    chi = np.pi * lam * 2e4 * k ** 2 - 0.5 * np.pi * cs * lam ** 3 * k ** 4 + np.arcsin(0.1)
    k0 = k[np.argmax(chi >= np.pi)]
    row = ctf_2d((1, 4096), 1.0, 20000.0)[0, :2048]
    assert k[np.argmax(row < 0)] == pytest.approx(k0, abs=2 / 4096)
    astig = ctf_2d((64, 64), 1.0, 20000.0, 15000.0, astigmatism_angle=0.0)
    assert not np.allclose(astig[0, 5], astig[5, 0])  # u along x, v along y differ
    assert np.all(np.abs(ctf_2d((64, 64), 1.0, 2e4, b_factor=200.0)) <= np.abs(c[::2, ::2]) + 1e-12)


@pytest.mark.parametrize("dims,shape", [(2, (2, 2, 64, 64)), (3, (1, 1, 16, 16, 16))])
def test_unet_contract(dims, shape):
    depth = 6 if dims == 2 else 4
    out = check_network_contract("generator", "unet", shape,
                                 {"in_channels": shape[1], "channels": 8, "depth": depth, "spatial_dims": dims})
    assert out.shape[1] == 1 and float(out.detach().abs().max()) <= 1.0  # tanh


def test_unet_pix2pix_size_and_errors():
    from emgan_core.networks import UNetGenerator
    import torch

    g = UNetGenerator(channels=64, depth=8)  # pix2pix's unet_256
    assert sum(p.numel() for p in g.parameters()) == pytest.approx(54.4e6, rel=0.01)
    with pytest.raises(ValueError, match="divisible by 64"):
        UNetGenerator(channels=4, depth=6)(torch.zeros(1, 1, 48, 48))
