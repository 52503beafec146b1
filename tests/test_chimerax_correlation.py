"""ChimeraX ``measure correlation`` (metric/chimerax-correlation) and the struc2mapGAN Table-1 metrics:
hand-computed cases, and real maps on which noise and a constant map must lose to molmap."""

import numpy as np
import pytest

from emgan_core import Volume
from emgan_core.io import read_map, read_structure
from emgan_core.metrics import (box_correlation, chimerax_contour_level, chimerax_correlation,
                                thresholded_pcc, thresholded_ssim)
from emgan_core.registry import get_registry
from emgan_core.transforms import normalise


def _linear_map() -> Volume:
    """2×2×2 grid at 1 Å from the origin with value x + 2y + 4z (Å), so trilinear sampling is exact."""
    z, y, x = np.mgrid[0:2, 0:2, 0:2].astype(np.float32)
    return Volume(x + 2 * y + 4 * z, voxel_size=1.0, origin=(0, 0, 0))


def _three_points() -> Volume:
    """Grid points x = 0.25, 0.75, 1.25 Å (y = 0.5, z = 0) with values 1, 3, 2; the last lies
    outside the 2×2×2 map's box (x > 1 Å)."""
    return Volume(np.array([[[1.0, 3.0, 2.0]]]), voxel_size=(0.5, 1.0, 1.0), origin=(0.25, 0.5, 0.0))


def test_hand_computed_case():
    # reference sampled at the three points: 1.25, 1.75 and 0 (outside the box counts as 0)
    got = chimerax_correlation(_three_points(), _linear_map(), level=1.0).values
    assert got["contour_points"] == 3
    assert got["cc"] == pytest.approx(6.5 / np.sqrt(14 * 4.625))     # <u,v>/(|u||v|) = 0.80778
    assert got["cam"] == pytest.approx(0.5 / np.sqrt(2 * 1.625))      # about the means 2 and 1: 0.27735
    above = chimerax_correlation(_three_points(), _linear_map(), level=1.5).values
    assert above["contour_points"] == 2 and above["cc"] == pytest.approx(3 / np.sqrt(13))
    # default level: the one enclosing 1 % of the output's grid points keeps only the highest point
    default = chimerax_correlation(_three_points(), _linear_map()).values
    assert default["contour_points"] == 1 and default["contour_level"] == pytest.approx(2.98)


def test_roles_are_not_symmetric():
    """The output defines the points: with the 2×2×2 map as output, its points ≥ 3.5 are the z = 1 Å
    layer, which lies outside the one-layer (z = 0) three-point map, so every sample is 0."""
    swapped = chimerax_correlation(_linear_map(), _three_points(), level=3.5).values
    assert swapped["contour_points"] == 4 and swapped["cc"] == 0.0 and swapped["cam"] == 0.0


def test_contour_level_encloses_one_percent():
    vol = Volume(np.arange(1000, dtype=np.float32).reshape(10, 10, 10))
    level = chimerax_contour_level(vol)
    assert int((vol.data >= level).sum()) == 10
    assert chimerax_contour_level(vol, 0.25) == pytest.approx(749.25)


def test_thresholded_metrics_follow_the_authors_preprocessing():
    """Values below the 90th percentile of the non-zero voxels become 0, then min–max: two maps that
    differ only below that cut score exactly 1."""
    rng = np.random.default_rng(0)
    a = rng.random((12, 12, 12))
    b = a.copy()
    low = a < np.percentile(a[a != 0], 90)
    b[low] = rng.random(int(low.sum())) * 0.5  # change only what the cut removes
    assert thresholded_pcc(a, b).values["pcc_p90"] == pytest.approx(1.0)
    assert thresholded_ssim(a, b).values["ssim_p90"] == pytest.approx(1.0)
    assert thresholded_pcc(a, b, percentile=0).values["pcc_p0"] < 0.9  # without the cut they differ


@pytest.fixture(scope="module", params=["emringer", "emd2566"])
def real_pair(request, data_dir):
    files = {"emringer": ("emringerweb_test_map.ccp4", "emringerweb_test_model.pdb", 3.5),
             "emd2566": ("emd2566_3J6B_chain9.mrc", "3J6B_chain9.pdb", 3.2)}[request.param]
    ref = read_map(data_dir / files[0])
    model = read_structure(data_dir / files[1])
    molmap = get_registry().build("simulator", "gaussian", resolution=files[2]).simulate(model, grid=ref)
    rng = np.random.default_rng(1)
    return {"reference": ref, "molmap": molmap,
            "noise": ref.with_data(rng.random(ref.shape, dtype=np.float32)),
            "constant": ref.with_data(np.ones(ref.shape, np.float32))}


def test_noise_and_constant_lose_to_molmap_on_a_real_map(real_pair):
    """Measured: molmap cc 0.91-0.92 vs noise 0.19-0.46 and constant 0.19-0.44; pcc_p90 0.29-0.55 vs 0."""
    ref = real_pair["reference"]
    score = {k: chimerax_correlation(real_pair[k], ref).values for k in ("molmap", "noise", "constant")}
    for control in ("noise", "constant"):
        assert score[control]["cc"] < score["molmap"]["cc"] - 0.4
    # inside ChimeraX's default 1 % contour the molmap peaks barely vary, so cam is small for every map
    # (as in the paper's Table 1, 0.3-0.5); the controls are at chance there
    assert score["constant"]["cam"] == 0.0
    assert abs(score["noise"]["cam"]) < 3 / np.sqrt(score["noise"]["contour_points"])
    # at a level enclosing 10 % of the points cam separates them clearly
    wide = {k: chimerax_correlation(real_pair[k], ref, enclosed_fraction=0.1).values["cam"]
            for k in ("molmap", "noise")}
    assert wide["molmap"] > 0.6 and abs(wide["noise"]) < 0.1
    pcc = {k: thresholded_pcc(real_pair[k], ref).values["pcc_p90"] for k in ("molmap", "noise", "constant")}
    assert pcc["molmap"] > 0.25 and abs(pcc["noise"]) < 0.05 and pcc["constant"] == 0.0


def test_whole_box_correlation_is_fooled_by_a_positive_background(real_pair):
    """Why the whole-box variant is not the papers' metric: on min–max maps noise beats molmap."""
    ref = real_pair["reference"].with_data(normalise(real_pair["reference"].data, "minmax"))
    noise = box_correlation(real_pair["noise"], ref).values["box_cc"]
    molmap = box_correlation(real_pair["molmap"].with_data(normalise(real_pair["molmap"].data, "minmax")),
                             ref).values["box_cc"]
    assert noise > molmap
