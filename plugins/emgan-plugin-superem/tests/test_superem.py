"""SuperEM plugin: published-weight import, network, data preparation, metrics, training, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from emgan_superem.metrics import cube_correlations, cube_improvement, model_resolution
from emgan_superem.networks import SRResNet3D
from emgan_superem.prepare import model_volume_contour, nonempty_cubes, pad_for_cubes, prepare_input, prepare_pair
from emgan_superem.weights import load_published_state, translate

from emgan_core.api import EmganError, GaussianSimulator, read_map, read_structure
from emgan_core.testing import check_network_contract

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


def test_cube_scores_match_chimerax_measure_correlation_and_pearson():
    """Per cube: ChimeraX ``measure correlation <map> inMap <model-map cube>`` at the cube's 1 % level
    (about zero: the paper's score; about the mean), and Pearson over the whole cube."""
    from emgan_core.api import Volume, chimerax_correlation

    rng = np.random.default_rng(0)
    ref = rng.random((30, 29, 31)) ** 4
    out = 0.5 * ref + 0.5 * rng.random(ref.shape)
    cc = cube_correlations(out, ref, cube=10, stride=10)
    assert len(cc) == 3 * 3 * 4  # padded to 10 + k·10 along each axis
    pa, pb = np.zeros((30, 30, 40)), np.zeros((30, 30, 40))
    pa[:30, :29, :31], pb[:30, :29, :31] = out, ref
    a, b = pa[10:20, 20:30, 30:40], pb[10:20, 20:30, 30:40]
    cx = chimerax_correlation(output=Volume(b.astype(np.float32)), reference=Volume(a.astype(np.float32))).values
    k = 1 * 12 + 2 * 4 + 3
    assert cc[k] == pytest.approx(cx["cc"], abs=1e-6)
    assert cube_correlations(out, ref, 10, 10, method="about-mean")[k] == pytest.approx(cx["cam"], abs=1e-6)
    pearson = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert cube_correlations(out, ref, 10, 10, method="pearson")[k] == pytest.approx(pearson)
    top = b.ravel() >= np.quantile(b, 0.99)  # 10 of the 1,000 points, by hand
    u, v = b.ravel()[top], a.ravel()[top]
    assert top.sum() == 10 and cc[k] == pytest.approx(u @ v / np.sqrt((u @ u) * (v @ v)))
    better = ref + 0.1 * (out - ref)
    res = cube_improvement(out, better, ref, cube=10, stride=10)
    assert res["improved_fraction"] == 1.0 and res["cubes"] == 36 and res["method"] == "about-zero"
    # the paper's valid cubes: neither the input nor the reference cube all zero
    ref0 = ref.copy()
    ref0[:10, :10] = 0
    assert cube_improvement(out, better, ref0, cube=10, stride=10)["cubes"] == 36 - 4


def test_model_volume_contour_encloses_the_model_volume(data_dir):
    """EMD-2566 cut-out + 3J6B chain 9: 2,865 atoms, 18,764 Da → 22,705 Å³ at 1.21 Å³/Da = 9,436
    voxels of 1.34³ Å³; the level is the 9,436-th highest voxel."""
    src, atoms = read_map(data_dir / EMD2566), read_structure(data_dir / CHAIN9)
    mass = sum(__import__("gemmi").Element(e).weight for e in atoms.element)
    assert mass == pytest.approx(18764, abs=1) and float(atoms.mass.sum()) == pytest.approx(mass, rel=1e-6)
    level = model_volume_contour(src, atoms)
    n = round(mass * 1.21 / 1.34 ** 3)
    assert n == 9436
    assert level == pytest.approx(np.sort(src.data.ravel())[::-1][n - 1])
    assert level == pytest.approx(0.05248, abs=5e-5)
    assert (src.data >= level).sum() == n
    pair = prepare_pair(data_dir / EMD2566, data_dir / CHAIN9, resolution=3.2, contour="auto")
    assert pair.contour == level
    assert (pair.input.data > 0).mean() < (prepare_pair(data_dir / EMD2566, data_dir / CHAIN9, 3.2).input.data > 0).mean()
    tiny = src.with_data(np.where(src.data > 0.3, src.data, 0))  # fewer positive voxels than the model fills
    assert model_volume_contour(tiny, atoms) == pytest.approx(float(tiny.data[tiny.data > 0].min()))


def test_window_rules_on_a_real_map(data_dir):
    """Stride-4 windows on the thresholded EMD-2566 cut-out (62×69×46 at 1 Å): the published rule
    (centre voxel above the contour) keeps 262 of 924 grid windows, 'nonempty' 920; each count
    equals a direct loop, and the merged output equals a direct loop over the kept windows."""
    from emgan_core.api import PatchInferer, grid_starts

    src, atoms = read_map(data_dir / EMD2566), read_structure(data_dir / CHAIN9)
    data = prepare_input(src, 1.0, model_volume_contour(src, atoms)).data
    padded = pad_for_cubes(data, 25, 4)
    starts = grid_starts(data.shape, 25, 4).numpy()
    assert len(starts) == 11 * 12 * 7  # padded to 65 × 69 × 49
    brute = {"centre": [s for s in starts if padded[tuple(s + 12)] > 0],
             "nonempty": [s for s in starts if padded[s[0]:s[0] + 25, s[1]:s[1] + 25, s[2]:s[2] + 25].any()],
             "core": [s for s in starts if padded[s[0] + 10:s[0] + 14, s[1] + 10:s[1] + 14, s[2] + 10:s[2] + 14].any()]}
    counts = {rule: PatchInferer(25, "average", stride=4, windows=rule).count(data) for rule in brute}
    assert counts == {rule: len(v) for rule, v in brute.items()}
    assert counts["centre"] == 262 and counts["nonempty"] == 920
    assert PatchInferer(25, "average", stride=8, windows="centre").count(data) == 36

    def fn(x):  # position-dependent, so a misplaced window changes the result
        return x * 2 + torch.arange(25, dtype=x.dtype)

    out = PatchInferer(25, "average", stride=4, batch_size=16, windows="centre")(fn, data)[0]
    total, weight = np.zeros_like(padded), np.zeros_like(padded)
    for z, y, x in brute["centre"]:
        total[z:z + 25, y:y + 25, x:x + 25] += padded[z:z + 25, y:y + 25, x:x + 25] * 2 + np.arange(25)
        weight[z:z + 25, y:y + 25, x:x + 25] += 1
    expect = np.where(weight > 0, total / np.maximum(weight, 1), 0)[:62, :69, :46]
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5)
    assert (weight[:62, :69, :46] == 0).mean() > 0.05  # voxels no kept window covers stay 0
    with pytest.raises(EmganError, match="unknown window rule"):
        PatchInferer(25, "average", stride=4, windows="middle")


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
    # a particle stack is not a map: refused in one line before any work, nothing written
    from emgan_core.api import ImageStack, write_image_stack

    stack = tmp_path / "particles.mrcs"
    write_image_stack(stack, ImageStack(np.random.default_rng(0).random((5, 64, 64), dtype=np.float32), 1.0))
    bad = emgan("superem", "enhance", stack, "-o", tmp_path / "stack.mrc", "--ckpt", ckpt)
    assert bad.returncode == 2 and "particle image stack, not a 3D map" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "stack.mrc").exists()
    # the output may not be the checkpoint (or the map) it reads, --overwrite or not
    before = ckpt.read_bytes()
    for extra in ([], ["--overwrite"]):
        proc = emgan("superem", "enhance", src_path, "-o", ckpt, "--ckpt", ckpt, *extra)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert f"{ckpt}: " in proc.stderr and ("is an input" in proc.stderr or "exists already" in proc.stderr)
    assert ckpt.read_bytes() == before
    again = emgan("superem", "enhance", src_path, "-o", out, "--ckpt", ckpt, "--stride", "12")
    assert again.returncode == 2 and "exists already" in again.stderr and "--overwrite" in again.stderr


def test_evaluate_is_the_benchmark_with_its_controls(tmp_path, data_dir, emgan):
    from pathlib import Path

    import yaml

    ckpt = tmp_path / "superem.ckpt"
    emgan("superem", "import-weights", _write_published(tmp_path), "-o", ckpt, check_rc=0)
    src, model = data_dir / "emringerweb_test_map.ccp4", data_dir / "emringerweb_test_model.pdb"
    enhanced = tmp_path / "enhanced.mrc"
    emgan("superem", "enhance", src, "-o", enhanced, "--ckpt", ckpt, "--stride", "12", check_rc=0)
    proc = emgan("superem", "evaluate", src, enhanced, "--model", model, "--resolution", "3.0", "--json", check_rc=0)
    report = json.loads(proc.stdout)
    assert report["cubes"]["cubes"] > 0 and set(report["controls"]) == {"blur", "mask"}
    assert set(report["cubes"]["by_method"]) == {"about-zero", "about-mean", "pearson"}
    before = report["cubes"]["cc_before"]
    assert 0.0 < before < 1.0
    for c in (v["cubes"] for v in report["controls"].values()):  # one baseline; each control changes the map
        assert c["cc_before"] == before and c["cc_after"] != before
    # the shipped benchmark file on `superem prepare`'s files gives the same baseline figures
    prepared = tmp_path / "prepared"
    emgan("superem", "prepare", src, "--model", model, "--resolution", "3.0", "-o", prepared, check_rc=0)
    bench = yaml.safe_load((Path(__file__).parents[3] / "benchmarks" / "superem" / "published.yaml").read_text())
    bench["inputs"][0].update(input=str(prepared / "input.mrc"), reference=str(prepared / "target.mrc"),
                              model=str(model))
    bench["methods"][0]["checkpoint"] = str(ckpt)
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    emgan("bench", tmp_path / "bench.yaml", "-o", tmp_path / "report", check_rc=0)
    rows = {r["method"]: r["values"] for r in json.loads((tmp_path / "report" / "results.json").read_text())["results"]}
    assert rows["input"]["d_model_A"] == pytest.approx(report["d_model_before_A"], abs=1e-6)
    assert rows["input"]["about-zero/cc_after"] == pytest.approx(report["cubes"]["cc_before"], rel=1e-6)
    assert rows["input"]["about-zero/improved_fraction"] == 0.0  # the input does not improve on itself
    # by Pearson's r over each cube, uniform noise loses to the input; about zero (the paper's score)
    # it does not on this box (0.83 vs 0.68): any positive field correlates about zero with a
    # positive model map
    assert rows["control-noise"]["pearson/cc_after"] < 0.1 < rows["input"]["pearson/cc_after"]


def test_cli_bad_weights_one_line(tmp_path, emgan):
    junk = tmp_path / "G_model"
    junk.write_bytes(b"not a torch file at all")
    proc = emgan("superem", "import-weights", junk, "-o", tmp_path / "x.ckpt")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert str(junk) in proc.stderr and not (tmp_path / "x.ckpt").exists()
    assert "weights_only" not in proc.stderr  # never a hint to load it unsafely
    import argparse

    torch.save({"extra": argparse.Namespace(code=1)}, junk)  # a pickled class: weights_only refuses it
    proc = emgan("superem", "import-weights", junk, "-o", tmp_path / "x.ckpt")
    assert proc.returncode == 2 and "could run code" in proc.stderr and "weights_only" not in proc.stderr
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


def test_plugin_contract(tmp_path, data_dir):
    from emgan_core.api import read_map
    from emgan_core.testing import check_plugin

    source = read_map(data_dir / "emd2566_3J6B_chain9.mrc")
    from emgan_core.api import Volume

    small = Volume(np.ascontiguousarray(source.data[:32, :32, :32]), source.voxel_size, source.origin)
    out = check_plugin("superem", tmp_path, "superem-quickstart",
                       ["train.batch_size=2", "train.val_batches=1", "generator.params.channels=16",
                        "generator.params.blocks=1", "critic.params.channels=16"],
                       source=small, infer_options={"window_stride": 12, "windows": "all"}, user_data=("superem",))
    assert out.data.shape == small.data.shape and np.allclose(out.voxel_size, small.voxel_size)


def test_the_papers_cube_and_stride_are_named_once():
    """25 Å cubes at a stride of 4 voxels: one constant each (paper.py), which every default uses."""
    from pathlib import Path

    import emgan_superem
    from emgan_superem.paper import PAPER_CUBE, PAPER_STRIDE
    from emgan_superem.task import SuperEMTask

    literal = re.compile(r"\b(cube|stride)\w*\s*(:\s*int\s*)?=\s*(25|4)\b")
    found = [f"{p.name}: {m.group(0)}" for p in Path(emgan_superem.__file__).parent.glob("*.py")
             for m in literal.finditer(p.read_text())]
    assert found == []
    task = SuperEMTask()
    assert (task.cube, task.stride, task.eval.window_stride, task._window()) == (PAPER_CUBE, PAPER_STRIDE,
                                                                                  PAPER_STRIDE, PAPER_CUBE)
