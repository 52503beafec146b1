"""SuperEM plugin: published-weight import, network, data preparation, metrics, training, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emgan_core.errors import EmganError
from emgan_core.io import read_map, read_structure
from emgan_core.simulators import GaussianSimulator
from emgan_core.testing import check_network_contract
from emgan_superem.metrics import cube_correlations, cube_improvement, model_resolution
from emgan_superem.networks import SRResNet3D
from emgan_superem.prepare import nonempty_cubes, prepare_pair
from emgan_superem.weights import load_published_state, translate

EMD2566 = "emd2566_3J6B_chain9.mrc"
CHAIN9 = "3J6B_chain9.pdb"


def published_style_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the published file's keys and shapes (random values, non-trivial BN stats)."""
    g = torch.Generator().manual_seed(seed)
    state = {}

    def put(key, *shape, scale=0.05):
        state[key] = torch.randn(*shape, generator=g) * scale

    put("block1.0.weight", 32, 1, 9, 9, 9), put("block1.0.bias", 32)
    state["block1.1.weight"] = torch.tensor([0.25])
    for n in range(15):
        for c in (1, 2):
            put(f"model.{n}.conv{c}.weight", 32, 32, 3, 3, 3), put(f"model.{n}.conv{c}.bias", 32)
            state[f"model.{n}.relu{c}.weight"] = torch.tensor([0.1 + 0.01 * n])
            state[f"model.{n}.bn{c}.weight"] = 1 + torch.randn(32, generator=g) * 0.1
            put(f"model.{n}.bn{c}.bias", 32)
            put(f"model.{n}.bn{c}.running_mean", 32)
            state[f"model.{n}.bn{c}.running_var"] = 0.5 + torch.rand(32, generator=g)
            state[f"model.{n}.bn{c}.num_batches_tracked"] = torch.tensor(1000)
    put("blockSLast.0.weight", 32, 32, 3, 3, 3), put("blockSLast.0.bias", 32)
    state["blockSLast.1.weight"] = torch.tensor([0.2])
    put("blockLast.0.weight", 1, 32, 3, 3, 3), put("blockLast.0.bias", 1)
    state["blockLast.1.weight"] = torch.tensor([0.3])
    return state


def published_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The published generator's forward pass written out with torch.nn.functional on its own keys."""
    dil = [1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 16]
    h = F.prelu(F.conv3d(x, state["block1.0.weight"], state["block1.0.bias"], padding=4), state["block1.1.weight"])
    y = h
    for n, d in enumerate(dil):
        p = f"model.{n}."

        def bn(t, k):
            return F.batch_norm(t, state[p + k + ".running_mean"], state[p + k + ".running_var"],
                                state[p + k + ".weight"], state[p + k + ".bias"], False, 0.0, 1e-5)

        r = F.conv3d(y, state[p + "conv1.weight"], state[p + "conv1.bias"], padding=d, dilation=d)
        r = bn(F.prelu(r, state[p + "relu1.weight"]), "bn1")
        r = bn(F.conv3d(r, state[p + "conv2.weight"], state[p + "conv2.bias"], padding=d, dilation=d), "bn2")
        y = y + r
    y = F.prelu(F.conv3d(y, state["blockSLast.0.weight"], state["blockSLast.0.bias"], padding=1),
                state["blockSLast.1.weight"])
    out = F.prelu(F.conv3d(h + y, state["blockLast.0.weight"], state["blockLast.0.bias"], padding=1),
                  state["blockLast.1.weight"])
    return (torch.tanh(out) + 1) / 2


def imported(state) -> SRResNet3D:
    net = SRResNet3D().eval()
    net.load_state_dict(translate(state), strict=True)
    return net


def test_published_structure_parameter_count():
    net = SRResNet3D()
    n = sum(p.numel() for p in net.parameters())
    assert n == 884_258 - 15  # the published file also holds 15 PReLU weights its forward never uses
    assert net.dilations == (1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 16)
    assert sum(v.numel() for k, v in published_style_state().items()
               if not re.search(r"running_|num_batches", k)) == 884_258


def test_import_matches_an_independent_forward_pass():
    state = published_style_state()
    x = torch.rand(2, 1, 25, 25, 25, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (imported(state)(x) - published_forward(state, x)).abs().max().item()
    assert diff < 1e-5, diff


def test_published_weights_strict_import_and_forward(shared_dir):
    state = load_published_state(shared_dir / "pretrained" / "emgan_G_model")
    assert len(state) == 249
    net = imported(state)
    x = torch.rand(1, 1, 25, 25, 25, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours, theirs = net(x), published_forward(state, x)
    diff = (ours - theirs).abs().max().item()
    print(f"published weights: max |emgan − independent forward| = {diff:.2e}")
    assert diff < 1e-5
    assert 0.0 <= ours.min() and ours.max() <= 1.0


def test_import_is_strict_about_keys():
    state = published_style_state()
    state["model.3.conv1.weigth"] = state.pop("model.3.conv1.weight")
    with pytest.raises(EmganError, match=r"unexpected keys \['model.3.conv1.weigth'\].*missing keys "
                                         r"\['blocks.3.conv1.weight'\]"):
        translate(state)
    state = published_style_state()
    state["block1.0.weight"] = torch.zeros(16, 1, 9, 9, 9)
    with pytest.raises(EmganError, match=r"block1.0.weight: shape \(16, 1, 9, 9, 9\)"):
        translate(state)


@pytest.mark.parametrize("kind,name,shape,params", [
    ("generator", "srresnet3d", (2, 1, 13, 13, 13), {"channels": 8, "blocks": 3}),
    ("generator", "srresnet3d", (2, 1, 13, 13, 13), {"channels": 8, "blocks": 2, "dilations": 1,
                                                     "block_order": "srgan", "norm": "instance"}),
    ("critic", "superem", (2, 1, 25, 25, 25), {"channels": 16}),
])
def test_network_contract(kind, name, shape, params):
    out = check_network_contract(kind, name, shape, params)
    if kind == "critic":
        assert out.shape == (2, 1, 2, 2, 2)  # four stride-2 convolutions: 25 → 13 → 7 → 4 → 2
    else:
        assert 0 <= out.min() and out.max() <= 1


def test_prepare_pair_on_a_real_map(data_dir):
    pair = prepare_pair(data_dir / EMD2566, data_dir / CHAIN9, resolution=3.2)
    src = read_map(data_dir / EMD2566)
    assert pair.target_resolution == 1.8
    assert np.allclose(pair.input.voxel_size, 1.0) and np.allclose(pair.input.origin, src.origin)
    assert pair.input.shape == pair.target.shape == (62, 69, 46)  # 47×52×35 voxels of 1.34 Å
    for v in (pair.input.data, pair.target.data):
        assert v.min() == 0.0 and v.max() == pytest.approx(1.0)
    starts = nonempty_cubes(pair.input.data, pair.target.data)
    assert len(starts) > 500 and (starts % 4 == 0).all()
    lo = prepare_pair(data_dir / EMD2566, data_dir / CHAIN9, resolution=4.0, contour=0.1)
    assert lo.target_resolution == 3.0
    assert (lo.input.data > 0).mean() < (pair.input.data > 0).mean()
    zoned = prepare_pair(data_dir / EMD2566, data_dir / CHAIN9, resolution=3.2, zone=6.0)
    assert 0.2 < (zoned.input.data > 0).mean() < (pair.input.data > 0).mean()
    assert np.array_equal(zoned.target.data, pair.target.data)
    near = zoned.input.data > 0  # kept voxels hold the map's values, rescaled
    assert np.corrcoef(zoned.input.data[near], pair.input.data[near])[0, 1] > 0.999


def test_cube_correlations_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.random((30, 29, 31)), rng.random((30, 29, 31))
    cc = cube_correlations(a, b, cube=10, stride=10)
    assert len(cc) == 3 * 3 * 4
    pa, pb = np.zeros((30, 30, 40)), np.zeros((30, 30, 40))  # padded to 10 + k·10
    pa[:30, :29, :31], pb[:30, :29, :31] = a, b
    ref = np.corrcoef(pa[10:20, 20:30, 30:40].ravel(), pb[10:20, 20:30, 30:40].ravel())[0, 1]
    assert cc[1 * 12 + 2 * 4 + 3] == pytest.approx(ref)
    better = b + 0.1 * (a - b)
    assert cube_improvement(a, better, b, cube=10, stride=10)["improved_fraction"] == 1.0


def test_model_resolution_recovers_a_known_resolution(data_dir):
    atoms = read_structure(data_dir / CHAIN9)
    truth = GaussianSimulator(resolution=4.0, voxel_size=1.0, padding=6.0).simulate(atoms)
    noisy = truth.with_data(truth.data + np.random.default_rng(0).normal(0, 0.05 * truth.data.std(), truth.shape))
    found = model_resolution(noisy, atoms)
    assert found["d_model_A"] == pytest.approx(4.0, abs=0.15), found
    assert found["correlation"] > 0.95


def _write_published(tmp_path, seed=0):
    path = tmp_path / "G_model"
    torch.save(published_style_state(seed), path)
    return path


def test_cli_import_enhance_keeps_the_grid(tmp_path, data_dir, emgan):
    ckpt = tmp_path / "superem.ckpt"
    proc = emgan("superem", "import-weights", _write_published(tmp_path), "-o", ckpt, check_rc=0)
    assert "884,243 parameters" in proc.stdout
    out = tmp_path / "enhanced.mrc"
    src_path = data_dir / "emringerweb_test_map.ccp4"  # axis order 3,2,1; 1.2156 Å voxels
    emgan("superem", "enhance", src_path, "-o", out, "--ckpt", ckpt, "--stride", "12", "--device", "cpu",
          check_rc=0)
    src, res = read_map(src_path), read_map(out)
    assert res.shape == src.shape
    assert np.allclose(res.voxel_size, src.voxel_size) and np.allclose(res.origin, src.origin)
    assert np.isfinite(res.data).all() and res.data.max() > 0


def test_cli_bad_weights_one_line(tmp_path, emgan):
    junk = tmp_path / "G_model"
    junk.write_bytes(b"not a torch file at all")
    proc = emgan("superem", "import-weights", junk, "-o", tmp_path / "x.ckpt")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert str(junk) in proc.stderr and not (tmp_path / "x.ckpt").exists()
    bad = published_style_state()
    del bad["blockLast.1.weight"]
    torch.save(bad, junk)
    proc = emgan("superem", "import-weights", junk, "-o", tmp_path / "x.ckpt")
    assert proc.returncode == 2 and "missing keys ['tail.1.weight']" in proc.stderr
    assert not (tmp_path / "x.ckpt").exists()


def test_quickstart_training_runs_from_the_identity(tmp_path, data_dir, emgan):
    run = tmp_path / "run"
    emgan("run", "superem-quickstart", "-o", run,
          f"data.train.0.map={data_dir / EMD2566}", f"data.train.0.model={data_dir / CHAIN9}",
          "train.steps=30", "train.batch_size=4", "train.val_every=10", "train.val_batches=1",
          "train.log_every=10", "train.checkpoint_every=30",
          "generator.params.channels=8", "generator.params.blocks=3", check_rc=0)
    val = json.loads((run / "metrics.json").read_text())["validation"]
    assert [v["step"] for v in val] == [0, 10, 20, 30]
    assert 0.2 < val[0]["val/input_cube_cc"] < 0.95  # held-out cubes of a real map vs its model map
    # residual_output: training starts from the identity, so the output scores as the input does
    assert val[0]["val/cube_cc"] == pytest.approx(val[0]["val/input_cube_cc"], abs=1e-6)
    assert val[0]["val/mse"] == pytest.approx(val[0]["val/input_mse"], rel=1e-5)
    assert all(np.isfinite(v["val/mse"]) for v in val) and val[-1]["val/cube_cc"] != val[0]["val/cube_cc"]
    out = tmp_path / "sr.mrc"
    emgan("superem", "enhance", data_dir / EMD2566, "-o", out, "--ckpt", run, "--stride", "12", check_rc=0)
    assert read_map(out).shape == read_map(data_dir / EMD2566).shape
