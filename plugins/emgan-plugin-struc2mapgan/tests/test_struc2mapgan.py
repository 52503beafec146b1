"""struc2mapGAN plugin: networks at paper size, curation on real pairs, train → generate end to end."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from emgan_core.io import read_map, read_structure
from emgan_core.registry import get_registry
from emgan_struc2mapgan.curate import curate_pair
from emgan_struc2mapgan.networks import Struc2mapCritic, UNetPP3D


def emgan(*args, check_rc=None):
    proc = subprocess.run([sys.executable, "-m", "emgan_core.cli.main", *map(str, args)],
                          capture_output=True, text=True)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_registered_through_the_entry_point():
    reg = get_registry(refresh=True)
    assert reg.get("generator", "unetpp3d").distribution == "emgan-plugin-struc2mapgan"
    assert reg.get("critic", "struc2mapgan").plugin == "struc2mapgan"
    assert "struc2mapgan" in reg.commands


def test_parameter_counts_at_paper_widths(capsys):
    g, c = count(UNetPP3D()), count(Struc2mapCritic())
    with capsys.disabled():
        print(f"\n  unetpp3d (32-64-128-256): {g:,} parameters; struc2mapgan critic: {c:,}")
    assert 9.5e6 < g < 10.5e6
    assert 1.15e6 < c < 1.25e6


def test_shapes_and_conditioning():
    g = UNetPP3D((4, 8, 16, 32), convs_per_block=2)
    x = torch.rand(2, 1, 32, 32, 32)
    y = g(x)
    assert y.shape == x.shape and 0 <= float(y.min().detach()) and float(y.max().detach()) <= 1
    assert Struc2mapCritic(widths=(4, 8, 16, 32), hidden=(8, 4))(x).shape == (2, 1)
    with pytest.raises(ValueError, match="at least 16 voxels"):
        Struc2mapCritic(widths=(4, 8, 16, 32))(torch.rand(1, 1, 8, 16, 16))
    with pytest.raises(ValueError, match="multiple of 8"):
        g(torch.rand(1, 1, 20, 32, 32))
    f = UNetPP3D((4, 8, 16), convs_per_block=2, resolution_conditioning=True)
    with torch.no_grad():
        a = f(x, resolution=torch.tensor([2.0, 2.0]))
        b = f(x, resolution=torch.tensor([6.0, 6.0]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="resolution"):
        f(x)


def _check_box(row, atoms, margin, exact_margin):
    target = read_map(row.target)
    lo = target.origin
    hi = target.origin + (np.array(target.shape[::-1]) - 1) * target.voxel_size
    assert np.all(atoms.xyz >= lo) and np.all(atoms.xyz <= hi)  # every atom inside the box
    if exact_margin:  # not clipped by the map edge: the margin holds on every side (1 voxel slack)
        assert np.all(atoms.xyz.min(0) - lo >= margin - 1.0 - 1e-6)
        assert np.all(hi - atoms.xyz.max(0) >= margin - 1.0 - 1e-6)
    assert np.allclose(target.voxel_size, 1.0)
    assert np.allclose(target.origin, np.round(target.origin))  # on the 1 Å lattice: gemmi agrees
    assert target.data.min() == 0.0 and target.data.max() == pytest.approx(1.0)


def test_curate_bundled_pair(data_dir, tmp_path):
    atoms = read_structure(data_dir / "3J6B_chain9.pdb")
    row = curate_pair(data_dir / "emd2566_3J6B_chain9.mrc", data_dir / "3J6B_chain9.pdb", tmp_path / "t.mrc",
                      resolution=3.2, label="emd2566")
    print(f"\n  EMD-2566 / 3J6B chain 9: correlation {row.correlation}, box {row.box_A} Å, {row.note}")
    assert row.kept and row.correlation > 0.65
    _check_box(row, atoms, 5.0, exact_margin=False)


def test_curate_shared_pair_with_full_margin_and_mask(shared_dir, tmp_path):
    atoms = read_structure(shared_dir / "structures" / "1J6Z.pdb")
    row = curate_pair(shared_dir / "maps" / "emd_5170.map", shared_dir / "structures" / "1J6Z.pdb",
                      tmp_path / "t.mrc", resolution=12.0, label="emd5170", margin=8.0, mask=True)
    print(f"\n  EMD-5170 / 1J6Z: correlation {row.correlation}, box {row.box_A} Å")
    assert row.note == "" or "rejected" in row.note
    _check_box(row, atoms, 8.0, exact_margin=True)
    masked = read_map(row.target).data
    assert masked[0].max() == 0.0  # the soft mask zeroes the box faces beyond radius + edge


def test_curate_cli_rejects_and_reports(data_dir, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("map,model,resolution\n"
                     f"{data_dir / 'emd2566_3J6B_chain9.mrc'},{data_dir / '3J6B_chain9.pdb'},3.2\n")
    proc = emgan("struc2mapgan", "curate", pairs, "-o", tmp_path / "c", "--threshold", "0.99")
    assert proc.returncode == 2 and "no pair passed the correlation threshold 0.99" in proc.stderr
    assert "rejected: correlation" in proc.stdout
    rows = list(csv.DictReader(open(tmp_path / "c" / "curated.csv")))
    assert rows[0]["kept"] == "False" and 0 < float(rows[0]["correlation"]) < 0.99
    bad = tmp_path / "bad.csv"
    bad.write_text("map,model,resolution\nnope.mrc,nope.pdb,abc\n")
    proc = emgan("struc2mapgan", "curate", bad, "-o", tmp_path / "d")
    assert proc.returncode == 2 and "bad.csv:2: resolution 'abc' is not a number" in proc.stderr
    bad.write_text("map,model\nx,y\n")
    proc = emgan("struc2mapgan", "curate", bad, "-o", tmp_path / "d")
    assert proc.returncode == 2 and "missing column(s) resolution" in proc.stderr


def curated_bundled_pairs(data_dir, tmp_path, second_split: str):
    """Curate the two bundled pairs (EMD-2566 for training, EMRinger as ``second_split``)."""
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("label,map,model,resolution,split\n"
                     f"a,{data_dir / 'emd2566_3J6B_chain9.mrc'},{data_dir / '3J6B_chain9.pdb'},3.2,train\n"
                     f"b,{data_dir / 'emringerweb_test_map.ccp4'},{data_dir / 'emringerweb_test_model.pdb'},3.5,"
                     f"{second_split}\n")
    emgan("struc2mapgan", "curate", pairs, "-o", tmp_path / "cur", check_rc=0)
    return tmp_path / "cur" / "curated.csv"


def test_train_generate_and_infer_end_to_end(data_dir, tmp_path):
    manifest = curated_bundled_pairs(data_dir, tmp_path, "val")
    run = tmp_path / "run"
    emgan("run", "struc2mapgan-quickstart", "-o", run, f"data.train={manifest}", f"data.val={manifest}",
          "train.steps=4", "train.val_every=2", "train.checkpoint_every=4", "train.patch_size=16",
          "generator.params.widths=[4,8,16]", "critic.params.widths=[4,8,16]", check_rc=0)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["components"]["simulator"] == {"name": "gaussian", "params": {
        "resolution": 2.0, "voxel_size": 1.0, "convention": "molmap"}}
    assert ckpt["inference"]["normalise"] == "minmax" and ckpt["inference"]["core"] == 20
    out = tmp_path / "gen.mrc"
    ref = data_dir / "emringerweb_test_map.ccp4"
    emgan("struc2mapgan", "generate", data_dir / "emringerweb_test_model.pdb", "--ckpt", run,
          "--ref-map", ref, "-o", out, check_rc=0)
    assert read_map(out).same_grid(read_map(ref))
    free = tmp_path / "free.mrc"
    emgan("infer", run, data_dir / "emringerweb_test_model.pdb", "-o", free, check_rc=0)
    v = read_map(free)
    atoms = read_structure(data_dir / "emringerweb_test_model.pdb")
    assert np.allclose(v.voxel_size, 1.0) and np.all(atoms.xyz.min(0) - v.origin > 5)
    proc = emgan("struc2mapgan", "generate", data_dir / "emringerweb_test_model.pdb", "-o", tmp_path / "x.mrc")
    assert proc.returncode == 2 and "no pretrained struc2mapGAN generator" in proc.stderr


def test_shipped_recipes_validate(data_dir, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("label,split,kept,model,target\n")
    for name in ("struc2mapgan", "struc2mapgan-quickstart"):
        emgan("validate", name, f"data.train={manifest}", f"data.val={manifest}", check_rc=0)
    recipe = yaml.safe_load(emgan("recipes", "show", "struc2mapgan", check_rc=0).stdout)
    assert recipe["generator"]["params"]["widths"] == [32, 64, 128, 256]
    assert recipe["losses"][1] == {"name": "smooth-l1", "weight": 100.0}
    assert recipe["train"]["optimizer"]["name"] == "nadam"


def test_resolution_conditioned_model(data_dir, tmp_path):
    """Targets at several resolutions train one FiLM-conditioned model; generation takes --resolution."""
    manifest = curated_bundled_pairs(data_dir, tmp_path, "train")
    run = tmp_path / "run"
    emgan("run", "struc2mapgan-quickstart", "-o", run, f"data.train={manifest}", "data.val=null",
          "train.steps=3", "train.checkpoint_every=3", "train.patch_size=16",
          "generator.params.widths=[4,8,16]", "generator.params.resolution_conditioning=true",
          "critic.params.widths=[4,8,16]", check_rc=0)
    model = data_dir / "emringerweb_test_model.pdb"
    proc = emgan("struc2mapgan", "generate", model, "--ckpt", run, "-o", tmp_path / "x.mrc")
    assert proc.returncode == 2 and "resolution-conditioned" in proc.stderr
    emgan("struc2mapgan", "generate", model, "--ckpt", run, "-o", tmp_path / "r2.mrc", "--resolution", "2", check_rc=0)
    emgan("struc2mapgan", "generate", model, "--ckpt", run, "-o", tmp_path / "r6.mrc", "--resolution", "6", check_rc=0)
    a, b = read_map(tmp_path / "r2.mrc"), read_map(tmp_path / "r6.mrc")
    assert a.same_grid(b) and not np.allclose(a.data, b.data)
