"""simulator/gaussian against hand-computed ChimeraX molmap values, an independent plain-numpy
reference, and its conventions."""

import math
import time

import numpy as np
import pytest
from scipy.special import erf

from emgan_core.io import read_structure
from emgan_core.metrics import box_correlation_about_mean
from emgan_core.simulators import GaussianSimulator
from emgan_core.simulators.gaussian import SIGMA_FACTORS


def reference_density(xyz, weights, grid, sigma, sampling, cutoff=None):
    """Plain numpy loop over atoms, full-grid evaluation (no vectorisation tricks). ``cutoff``
    (σ): ChimeraX's rule, a grid point counts when each axis distance is at most cutoff·σ."""
    xs, ys, zs = grid.axis_coordinates()
    h = grid.voxel_size
    out = np.zeros(grid.shape)
    for (x, y, z), w in zip(xyz, weights):
        if sampling == "point":
            fx = np.exp(-0.5 * ((xs - x) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            fy = np.exp(-0.5 * ((ys - y) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            fz = np.exp(-0.5 * ((zs - z) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            if cutoff is not None:
                fx, fy, fz = (np.where(np.abs(c - p) <= cutoff * sigma, f, 0.0)
                              for c, p, f in ((xs, x, fx), (ys, y, fy), (zs, z, fz)))
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
    cc = box_correlation_about_mean(got, ref).values["box_cam"]
    assert cc >= 0.999, cc
    assert np.allclose(got.data, ref, atol=1e-4 * ref.max())


def test_full_8i2h_wall_time_and_mass(data_dir, capsys):
    atoms = read_structure(data_dir / "8i2h_ref.pdb", hydrogens=True)
    sim = GaussianSimulator(resolution=2.0, voxel_size=1.0, sampling="integral")
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
    cc = box_correlation_about_mean(sim, grid).values["box_cam"]
    assert cc > 0.5  # the model sits in the experimental map


def test_chunking_gives_the_same_map(data_dir):
    atoms = read_structure(data_dir / "emringerweb_test_model.pdb")
    a = GaussianSimulator(resolution=3.0).simulate(atoms)
    b = GaussianSimulator(resolution=3.0, chunk_voxels=5000).simulate(atoms)
    assert np.allclose(a.data, b.data, atol=1e-6)


def two_atoms():
    """C (Z = 6) on a grid point and N (Z = 7) off the lattice, in Å (x, y, z)."""
    from emgan_core.io.structures import Atoms

    return Atoms(np.array([[5.0, 5.0, 5.0], [6.3, 4.6, 5.2]]), np.array([6, 7]), np.array([12.011, 14.007]),
                 np.zeros(2), np.ones(2), np.array(["C", "N"]), np.array(["A", "A"]), 2)


def test_molmap_convention_equals_chimerax_values_computed_by_hand():
    """ChimeraX molmap at R = 3 Å on a 1 Å grid with origin 0: σ = 3/(π√2) = 0.675237 Å, each atom
    Z·(2π)^-3/2·σ^-3·exp(-r²/2σ²) with (2π)^-3/2·σ^-3 = 0.2062344 Å⁻³, grid points kept when every
    axis distance is ≤ 5σ = 3.376 Å (a box, not a sphere). Expected values worked out by hand from
    those numbers; (x, y, z) points, the array is (z, y, x)."""
    from emgan_core.volume import Volume

    sim = GaussianSimulator(resolution=3.0, voxel_size=1.0)  # molmap is the default convention
    assert sim.sampling == "point" and sim.weights == "atomic_number"
    grid = Volume(np.zeros((12, 12, 12), np.float32), voxel_size=1.0, origin=(0.0, 0.0, 0.0))
    v = sim.simulate(two_atoms(), grid=grid).data
    expected = {
        (5, 5, 5): 1.2374062 + 0.1816908,  # C: 6·0.2062344; N: r² = 0.29 Å²
        (6, 5, 5): 0.4132902 + 1.0503753,  # C: r = 1 Å; N: r² = 0.09 + 0.16 + 0.04
        (7, 4, 6): 0.0017178 + 0.2817318,  # C: r² = 6 Å²; N: r² = 0.49 + 0.36 + 0.64
        (9, 5, 5): 0.0 + 3.911044e-4,  # C: |dx| = 4 Å > 5σ, cut; N: dx = 2.7 Å, kept
        (2, 5, 5): 6.400259e-5 + 0.0,  # C: dx = -3 Å, kept; N: |dx| = 4.3 Å, cut
        (8, 8, 5): 3.310418e-9 + 0.0,  # C: (3, 3, 0) Å, r = 4.24 Å > 5σ but inside the box; N: |dy| = 3.4 Å, cut
        (5, 9, 5): 0.0,  # both cut along y
    }
    for (x, y, z), value in expected.items():
        assert v[z, y, x] == pytest.approx(value, rel=2e-5, abs=1e-30), (x, y, z)


def test_molmap_matches_a_full_grid_chimerax_reference_on_8i2h(data_dir):
    atoms = read_structure(data_dir / "8i2h_ref.pdb", hydrogens=True)
    subset = atoms.subset(np.arange(len(atoms)) < 400)
    for res in (2.0, 5.0):
        sim = GaussianSimulator(resolution=res, voxel_size=1.0)
        got = sim.simulate(subset)
        ref = reference_density(subset.xyz, subset.atomic_number, got, sim.sigma, "point", cutoff=5.0)
        cc = box_correlation_about_mean(got, ref).values["box_cam"]
        assert cc >= 0.999999, (res, cc)
        assert np.allclose(got.data, ref, rtol=1e-4, atol=1e-6 * ref.max())
        # the box cutoff matters: without it the corners of each window differ
        no_cut = reference_density(subset.xyz, subset.atomic_number, got, sim.sigma, "point")
        assert np.abs(no_cut - ref).max() > 1e-6 * ref.max()


def test_molmap_bounding_grid_is_chimerax_default():
    """ChimeraX: spacing R/3, origin = atoms' minimum − 3R, ceil((max − min + 6R) / spacing) points."""
    sim = GaussianSimulator(resolution=3.0, voxel_size=None, grid_rule="molmap")
    v = sim.simulate(two_atoms())
    assert v.voxel_size.tolist() == [1.0, 1.0, 1.0]
    assert np.allclose(v.origin, [5.0 - 9.0, 4.6 - 9.0, 5.0 - 9.0])
    assert v.shape == (19, 19, 20)  # z: ceil(18.2), y: ceil(18.4), x: ceil(19.3)
    # the same atoms through the lattice rule give a grid on the voxel lattice instead
    lattice = GaussianSimulator(resolution=3.0, voxel_size=1.0).simulate(two_atoms())
    assert np.allclose(lattice.origin, [-4.0, -5.0, -4.0]) and lattice.shape == (20, 20, 21)


def test_sampling_follows_the_convention_and_is_validated():
    assert GaussianSimulator(convention="tempy").sampling == "integral"
    assert GaussianSimulator(convention="eman2").sampling == "integral"
    assert GaussianSimulator(convention="molmap", sampling="integral").sampling == "integral"
    from emgan_core.errors import EmganError

    with pytest.raises(EmganError, match="sampling"):
        GaussianSimulator(sampling="points")
    with pytest.raises(EmganError, match="convention"):
        GaussianSimulator(convention="chimera")


def test_window_lengths_are_the_tightest_the_cutoff_allows():
    from emgan_core.simulators.gaussian import window_length

    s2, s5 = SIGMA_FACTORS["molmap"] * 2.0, SIGMA_FACTORS["molmap"] * 5.0  # σ in 1 Å voxels
    assert window_length(s2, 5.0, "point") == 5  # 2·5σ = 4.50 voxels → at most 5 points
    assert window_length(s5, 5.0, "point") == 12  # 2·5σ = 11.25
    assert window_length(s2, 5.0, "integral") == 6  # voxel means reach half a voxel further
