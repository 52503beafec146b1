"""simulator/gaussian against an independent plain-numpy reference, and its conventions."""

import math
import time

import numpy as np
import pytest
from scipy.special import erf

from emgan_core.io import read_structure
from emgan_core.metrics import correlation_about_mean
from emgan_core.simulators import GaussianSimulator
from emgan_core.simulators.gaussian import SIGMA_FACTORS


def reference_density(xyz, weights, grid, sigma, sampling):
    """Plain numpy loop over atoms, full-grid evaluation (no cut-off, no vectorisation tricks)."""
    xs, ys, zs = grid.axis_coordinates()
    h = grid.voxel_size
    out = np.zeros(grid.shape)
    for (x, y, z), w in zip(xyz, weights):
        if sampling == "point":
            fx = np.exp(-0.5 * ((xs - x) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            fy = np.exp(-0.5 * ((ys - y) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            fz = np.exp(-0.5 * ((zs - z) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        else:
            s = sigma * math.sqrt(2)
            fx = 0.5 * (erf((xs + h[0] / 2 - x) / s) - erf((xs - h[0] / 2 - x) / s)) / h[0]
            fy = 0.5 * (erf((ys + h[1] / 2 - y) / s) - erf((ys - h[1] / 2 - y) / s)) / h[1]
            fz = 0.5 * (erf((zs + h[2] / 2 - z) / s) - erf((zs - h[2] / 2 - z) / s)) / h[2]
        out += w * fz[:, None, None] * fy[None, :, None] * fx[None, None, :]
    return out


@pytest.mark.parametrize("sampling", ["integral", "point"])
def test_matches_numpy_reference_on_8i2h_subset(data_dir, sampling):
    atoms = read_structure(data_dir / "8i2h_ref.pdb", hydrogens=True)
    subset = atoms.subset(np.arange(len(atoms)) < 300)
    sim = GaussianSimulator(resolution=2.0, voxel_size=1.0, sampling=sampling)
    got = sim.simulate(subset)
    ref = reference_density(subset.xyz, subset.atomic_number, got, sim.sigma, sampling)
    cc = correlation_about_mean(got, ref).values["correlation_about_mean"]
    assert cc >= 0.999, cc
    assert np.allclose(got.data, ref, atol=1e-4 * ref.max())


def test_full_8i2h_wall_time_and_mass(data_dir, capsys):
    atoms = read_structure(data_dir / "8i2h_ref.pdb", hydrogens=True)
    sim = GaussianSimulator(resolution=2.0, voxel_size=1.0)
    sim.simulate(atoms)  # warm-up
    t0 = time.perf_counter()
    vol = sim.simulate(atoms)
    elapsed = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n  gaussian 8I2H ({len(atoms)} atoms, 2 Å, 1 Å voxels, {vol.shape}): {elapsed:.3f} s")
    # integral sampling conserves each atom's weight: total density x voxel volume = sum of Z
    assert vol.data.sum() == pytest.approx(atoms.atomic_number.sum(), rel=1e-4)


def test_integral_mode_is_independent_of_subvoxel_position():
    from emgan_core.io.structures import Atoms

    totals = {"integral": [], "point": []}
    for shift in np.linspace(0, 0.5, 6):
        atoms = Atoms(np.array([[10.0 + shift, 10.0, 10.0]]), np.array([6]), np.array([12.0]),
                      np.zeros(1), np.ones(1), np.array(["C"]), np.array(["A"]), 1)
        for mode in totals:
            v = GaussianSimulator(resolution=2.0, voxel_size=1.0, sampling=mode).simulate(atoms)
            totals[mode].append(v.data.sum())
    assert np.ptp(totals["integral"]) < 1e-4 * 6
    assert np.ptp(totals["point"]) > 0.05 * 6  # what the integral mode fixes


def test_conventions_and_grid(data_dir):
    atoms = read_structure(data_dir / "emringerweb_test_model.pdb")
    molmap = GaussianSimulator(resolution=4.0)
    tempy = GaussianSimulator(resolution=4.0, convention="tempy")
    assert molmap.sigma == pytest.approx(4.0 / (math.pi * math.sqrt(2)))
    assert tempy.sigma == pytest.approx(0.356 * 4.0) and tempy.weights == "mass"
    assert SIGMA_FACTORS["molmap"] == pytest.approx(0.225, abs=1e-3)
    v = molmap.simulate(atoms)
    # the grid covers all atoms plus the 3 x resolution padding and sits on the voxel lattice
    lo = v.origin
    hi = v.origin + (np.array(v.shape[::-1]) - 1) * v.voxel_size
    assert np.all(atoms.xyz.min(0) - 12.0 >= lo - 1.0) and np.all(atoms.xyz.max(0) + 12.0 <= hi + 1.0)
    assert np.allclose(v.origin / v.voxel_size, np.round(v.origin / v.voxel_size))
    z = GaussianSimulator(resolution=4.0, normalise="zscore").simulate(atoms).data
    assert abs(z.mean()) < 1e-5 and z.std() == pytest.approx(1.0, rel=1e-4)
    mm = GaussianSimulator(resolution=4.0, normalise="minmax").simulate(atoms).data
    assert mm.min() == 0.0 and mm.max() == pytest.approx(1.0)


def test_simulate_on_a_given_grid(data_dir):
    from emgan_core.io import read_map

    grid = read_map(data_dir / "emd2566_3J6B_chain9.mrc")
    atoms = read_structure(data_dir / "3J6B_chain9.pdb")
    sim = GaussianSimulator(resolution=4.0).simulate(atoms, grid=grid)
    assert sim.same_grid(grid)
    cc = correlation_about_mean(sim, grid).values["correlation_about_mean"]
    assert cc > 0.5  # the model sits in the experimental map


def test_chunking_gives_the_same_map(data_dir):
    atoms = read_structure(data_dir / "emringerweb_test_model.pdb")
    a = GaussianSimulator(resolution=3.0).simulate(atoms)
    b = GaussianSimulator(resolution=3.0, chunk_voxels=5000).simulate(atoms)
    assert np.allclose(a.data, b.data, atol=1e-6)
