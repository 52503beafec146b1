"""struc2mapGAN plugin: networks at paper size, curation on real pairs, train → generate end to end."""

import csv

import numpy as np
import pytest
import torch
import yaml
from emgan_struc2mapgan.curate import curate, curate_pair
from emgan_struc2mapgan.identity import assign_splits, chain_sequences, identity_clusters, sequence_identity
from emgan_struc2mapgan.networks import ResidualBlock, Struc2mapCritic, UNetPP3D

from emgan_core.api import EmganError, Volume, get_registry, read_map, read_structure, soft_mask

PAPER_GENERATOR_PARAMETERS = 10_289_333  # the authors' GeneratorNestedUNet (model/gan.py)


from emgan_core.testing import pretend_memory  # noqa: E402
from emgan_core.testing import run_emgan as emgan  # noqa: E402 - in this process (fast)


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_registered_through_the_entry_point():
    reg = get_registry(refresh=True)
    assert reg.get("generator", "unetpp3d").distribution == "emgan-plugin-struc2mapgan"
    assert reg.get("critic", "struc2mapgan").plugin == "struc2mapgan"
    assert "struc2mapgan" in reg.commands


def test_parameter_counts_at_paper_widths(capsys):
    g, c = UNetPP3D(), Struc2mapCritic()
    n_g, n_c = count(g), count(c)
    with capsys.disabled():
        print(f"\n  unetpp3d (32-64-128-256): {n_g:,} parameters (paper 10,289,333, "
              f"{100 * (n_g / PAPER_GENERATOR_PARAMETERS - 1):+.3f} %); struc2mapgan critic: {n_c:,}")
    assert abs(n_g / PAPER_GENERATOR_PARAMETERS - 1) < 0.005
    assert 1.15e6 < n_c < 1.25e6
    # the authors' node: two 3³ convolutions, a 3³ projection (+ instance norm) on the skip when the
    # channel count changes, no affine norm parameters; a 1³ head without activation
    node = g.nodes["0_1"]
    assert [m.kernel_size for m in node.body if isinstance(m, torch.nn.Conv3d)] == [(3, 3, 3)] * 2
    assert node.skip[0].kernel_size == (3, 3, 3) and node.skip[0].in_channels == 32 + 64
    assert isinstance(g.nodes["1_1"].skip, torch.nn.Sequential) and g.nodes["0_3"].skip[0].in_channels == 3 * 32 + 64
    assert not any(m.affine for m in g.modules() if isinstance(m, torch.nn.InstanceNorm3d))
    assert g.head.kernel_size == (1, 1, 1)
    assert isinstance(ResidualBlock(8, 8).skip, torch.nn.Identity)


def test_shapes_and_linear_head():
    g = UNetPP3D((4, 8, 16, 32))
    x = torch.rand(2, 1, 32, 32, 32)
    with torch.no_grad():
        y = g(x)
        assert y.shape == x.shape
        # no sigmoid: the output is the head's affine map of the last node, so a bias shift moves it
        # by exactly that much, outside [0, 1] if need be
        g.head.bias += 3.0
        shifted = g(x)
    assert torch.allclose(shifted - y, torch.full_like(y, 3.0), atol=1e-5)
    assert float(shifted.mean()) > 2.0  # a sigmoid head could not leave [0, 1]
    assert Struc2mapCritic(widths=(4, 8, 16, 32), hidden=(8, 4))(x).shape == (2, 1)
    with pytest.raises(ValueError, match="at least 16 voxels"):
        Struc2mapCritic(widths=(4, 8, 16, 32))(torch.rand(1, 1, 8, 16, 16))
    with pytest.raises(ValueError, match="multiple of 8"):
        g(torch.rand(1, 1, 20, 32, 32))
    f = UNetPP3D((4, 8, 16), resolution_conditioning=True)
    with torch.no_grad():
        a = f(x, resolution=torch.tensor([2.0, 2.0]))
        b = f(x, resolution=torch.tensor([6.0, 6.0]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="resolution"):
        f(x)


def test_soft_mask_against_hand_values():
    grid = Volume(np.zeros((1, 1, 12), np.float32), 1.0, (0.0, 0.0, 0.0))  # x = 0 … 11 Å
    m = soft_mask(grid, np.array([[2.0, 0.0, 0.0]]), radius=3.0, edge=3.0)[0, 0]
    # distance d = |x − 2|: 1 up to 3 Å, 0.5·(1 + cos(π (d − 3) / 3)) up to 6 Å, then 0
    want = [1, 1, 1, 1, 1, 1, 0.5 * (1 + np.cos(np.pi / 3)), 0.5 * (1 + np.cos(2 * np.pi / 3)), 0, 0, 0, 0]
    assert np.allclose(m, want, atol=1e-6)
    binary = soft_mask(grid, np.array([[2.4, 0.0, 0.0]]), radius=3.0, edge=0.0)[0, 0]
    assert binary.tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]  # exact distances: 5 is 2.6 Å away


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
    # the map's own units, masked: not normalised (the task normalises), solvent and beyond at 0
    raw = read_map(row.map).data
    assert target.data.max() > 0 > target.data.min() and target.data.max() <= raw.max() + 1e-6
    assert np.count_nonzero(target.data == 0) > 0


def test_curate_bundled_pair_masked_and_a_moved_model_rejected(data_dir, tmp_path):
    """The paper's filter, ChimeraX correlation about zero ≥ 0.65, on EMD-2566 / 3J6B chain 9, and
    the control that must lose: the same model moved 6 Å along x."""
    import gemmi

    atoms = read_structure(data_dir / "3J6B_chain9.pdb")
    row = curate_pair(data_dir / "emd2566_3J6B_chain9.mrc", data_dir / "3J6B_chain9.pdb", tmp_path / "t.mrc",
                      resolution=3.2, label="emd2566")
    st = gemmi.read_structure(str(data_dir / "3J6B_chain9.pdb"))
    st[0].transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(6, 0, 0)))
    st.write_pdb(str(tmp_path / "moved.pdb"))
    moved = curate_pair(data_dir / "emd2566_3J6B_chain9.mrc", tmp_path / "moved.pdb", tmp_path / "m.mrc",
                        resolution=3.2, label="moved")
    print(f"\n  EMD-2566 / 3J6B chain 9: ChimeraX correlation {row.correlation} over {row.correlation_points} "
          f"points (min-max target: {row.correlation_minmax}); moved 6 Å: {moved.correlation} "
          f"(min-max target: {moved.correlation_minmax})")
    assert row.kept and row.correlation == pytest.approx(0.857, abs=0.01)
    assert not moved.kept and moved.correlation < 0.55 and "rejected: correlation" in moved.note
    # on the min-max target the same measure cannot tell them apart, which is why it is not used
    assert abs(row.correlation_minmax - moved.correlation_minmax) < 0.03
    _check_box(row, atoms, 6.0, exact_margin=False)
    target = read_map(row.target)
    # masked by default: zero wherever no atom lies within radius + edge (6 Å)
    z, y, x = np.nonzero(target.data > 0)
    xyz = np.stack([x, y, z], 1) * target.voxel_size + target.origin
    from scipy.spatial import cKDTree

    assert cKDTree(atoms.xyz).query(xyz)[0].max() <= 6.0 + 1e-4
    limited = curate_pair(data_dir / "emd2566_3J6B_chain9.mrc", data_dir / "3J6B_chain9.pdb",
                          tmp_path / "r.mrc", resolution=3.2, label="r", max_resolution=3.0)
    assert not limited.kept and "resolution 3.2 Å outside [, 3] Å" in limited.note


def test_curate_shared_pair_with_full_margin_and_mask(shared_dir, tmp_path):
    atoms = read_structure(shared_dir / "structures" / "1J6Z.pdb")
    row = curate_pair(shared_dir / "maps" / "emd_5170.map", shared_dir / "structures" / "1J6Z.pdb",
                      tmp_path / "t.mrc", resolution=12.0, label="emd5170", margin=8.0)
    print(f"\n  EMD-5170 / 1J6Z: correlation {row.correlation}, box {row.box_A} Å")
    assert row.note == "" and row.kept and row.correlation == pytest.approx(0.789, abs=0.01)
    _check_box(row, atoms, 8.0, exact_margin=True)
    masked = read_map(row.target).data
    assert masked[0].max() == 0.0  # the soft mask (on by default) zeroes the box faces beyond radius + edge


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
    bad.write_text("map,model,resolution,split\n"
                   f"{data_dir / 'emd2566_3J6B_chain9.mrc'},{data_dir / '3J6B_chain9.pdb'},3.2,training\n")
    proc = emgan("struc2mapgan", "curate", bad, "-o", tmp_path / "d")
    assert proc.returncode == 2 and "bad.csv:2: split 'training' is not one of train, val, test" in proc.stderr
    pair = f"{data_dir / 'emd2566_3J6B_chain9.mrc'},{data_dir / '3J6B_chain9.pdb'},3.2"
    bad.write_text(f"label,map,model,resolution,split\nx,{pair},train\ny,{pair},test\n")
    proc = emgan("struc2mapgan", "curate", bad, "-o", tmp_path / "e")
    assert proc.returncode == 2 and "pairs x (train) and y (test) are in one sequence-identity cluster " \
        "(most identical chains between them: 100.0 %)" in proc.stderr
    assert not (tmp_path / "e").exists()  # refused before any map is curated
    proc = emgan("struc2mapgan", "curate", pairs, "-o", tmp_path / "d", "--split-fractions", "0.9,0.2,0")
    assert proc.returncode == 2 and "--split-fractions: '0.9,0.2,0' is not three shares" in proc.stderr


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
    assert ckpt["inference"]["normalise"] == "minmax" and ckpt["inference"]["eval"]["window_core"] == 20
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
    # the shipped model simulates at the map's resolution: without one, one line that says so
    proc = emgan("struc2mapgan", "generate", data_dir / "emringerweb_test_model.pdb", "-o", tmp_path / "x.mrc")
    assert proc.returncode == 2 and "give the resolution (Å) to generate at (--resolution)" in proc.stderr


def test_shipped_recipes_validate(data_dir, tmp_path, monkeypatch):
    manifest = tmp_path / "m.csv"
    manifest.write_text("label,split,kept,model,target\n")
    emgan("validate", "struc2mapgan-quickstart", f"data.train={manifest}", f"data.val={manifest}", check_rc=0)
    # the paper recipe is a GPU recipe: where its device has less memory than a step needs (the
    # estimate is about 36 GiB for batch 128), validation says so with the figure; batch 8 fits
    pretend_memory(monkeypatch, 16 * 2**30)
    proc = emgan("validate", "struc2mapgan", f"data.train={manifest}", f"data.val={manifest}")
    assert proc.returncode == 2 and "train.batch_size: one training step needs about 3" in proc.stderr
    assert "(batch 128 of 32×32×32 patches), more than this machine's memory (16.0 GiB)" in proc.stderr
    emgan("validate", "struc2mapgan", f"data.train={manifest}", f"data.val={manifest}", "train.batch_size=8",
          check_rc=0)
    recipe = yaml.safe_load(emgan("recipes", "show", "struc2mapgan", check_rc=0).stdout)
    assert recipe["generator"]["params"]["widths"] == [32, 64, 128, 256]
    assert recipe["losses"][1] == {"name": "smooth-l1", "weight": 100.0}
    assert recipe["train"]["optimizer"] == {"name": "nadam", "lr": 1.0e-4, "betas": [0.9, 0.999]}
    assert recipe["train"]["batch_size"] == 128 and "augment" not in recipe["train"]


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


def test_sequence_identity_against_hand_counts():
    rng = np.random.default_rng(0)
    aa = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    base = "".join(rng.choice(aa, 120))
    assert sequence_identity(base, base) == 100.0
    assert sequence_identity(base[40:68], base) == 100.0  # a fragment against its whole chain
    mutated = list(base[:40])
    for k in range(0, 40, 4):  # 10 substitutions in 40 residues: 30 identical of 40
        mutated[k] = "W" if mutated[k] != "W" else "A"
    assert sequence_identity("".join(mutated), base[:40]) == pytest.approx(75.0)
    unrelated = [sequence_identity("".join(rng.choice(aa, 28)), "".join(rng.choice(aa, 195))) for _ in range(10)]
    assert max(unrelated) < 30.0  # gemmi's default scoring gives ~70 % here; the scoring is set


def test_clusters_and_splits_keep_clusters_whole():
    a = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"
    b = a[:30] + "W" * 5 + a[35:]  # 92 % identical to a
    c = "GSHMLEDPVDAFQLGIKKVLEHGWTPREAAVEAAKELNRSPDQILEHARALLEQ"
    d = "PEPTIDESEQWENCEKLMNVRSTYACDEFGHIKLMNPQRSTVWYACDEFGHIKL"
    seqs = [{"A": a}, {"B": c}, {"A": d, "B": b}, {"X": c}]
    clusters = identity_clusters(seqs, 30.0)
    assert clusters == [1, 2, 1, 2]  # 1 and 3 share a chain (a ~ b), 2 and 4 the same chain c
    splits = assign_splits(clusters, [None, "test", None, None], labels=list("pqrs"))
    assert splits == ["train", "test", "train", "test"]
    with pytest.raises(EmganError, match=r"pairs p \(train\) and r \(val\) are in one sequence-identity cluster"):
        assign_splits(clusters, ["train", None, "val", None], labels=list("pqrs"))
    ten = assign_splits(list(range(1, 11)), [None] * 10)
    assert (ten.count("train"), ten.count("val"), ten.count("test")) == (8, 1, 1)


def test_curated_manifest_holds_clusters_and_the_held_out_pair_apart(data_dir, tmp_path, capsys):
    """The README's main job: the EMRinger fragment (a proteasome α subunit) is the test pair and
    shares no cluster with a training pair."""
    rows = curate(data_dir / "struc2mapgan_pairs.csv", tmp_path / "cur")
    by = {r.label: r for r in rows}
    held = by["emringer_fragment"]
    train = [r for r in rows if r.split == "train"]
    with capsys.disabled():
        for r in rows:
            print(f"\n  {r.label}: {r.split}, cluster {r.cluster}, chains {r.chains}, correlation {r.correlation}, "
                  f"most identical pair in another set: {r.nearest_other_split}", end="")
    assert held.split == "test" and held.kept and len(train) >= 1
    assert held.cluster not in {r.cluster for r in train}
    assert float(held.nearest_other_split.split(")")[1].strip(" %")) < 30.0
    seqs_held = chain_sequences(data_dir / "emringerweb_test_model.pdb")
    for r in train:
        for s in chain_sequences(r.model).values():
            assert sequence_identity(seqs_held["F"], s) < 30.0
    manifest = list(csv.DictReader(open(tmp_path / "cur" / "curated.csv")))
    assert [m["cluster"] for m in manifest] == [str(r.cluster) for r in rows]
    assert {m["split"] for m in manifest if m["label"] == "emringer_fragment"} == {"test"}


def test_curate_shared_pairs_clusters(data_dir, shared_dir, tmp_path):
    """Real pairs from ../shared/data/pairs: two models of one haemoglobin map fall in one cluster and
    therefore one set; every other pair is its own cluster."""
    pairs = shared_dir / "pairs"
    if not (pairs / "EMD-3488" / "5ni1_updated.cif").exists() or not (pairs / "EMD-6374_seg").is_dir():
        pytest.skip("../shared/data/pairs not present")
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(
        "label,map,model,resolution,split\n"
        f"emringer,{data_dir / 'emringerweb_test_map.ccp4'},{data_dir / 'emringerweb_test_model.pdb'},3.5,test\n"
        f"hb_5me2,{pairs / 'EMD-3488' / 'emd_3488.mrc'},{pairs / 'EMD-3488' / '5me2.pdb'},3.2,\n"
        f"hb_5ni1,{pairs / 'EMD-3488' / 'emd_3488.mrc'},{pairs / 'EMD-3488' / '5ni1_updated.cif'},3.2,\n"
        f"emd6374,{pairs / 'EMD-6374_seg' / '6374.mrc'},{pairs / 'EMD-6374_seg' / '3jb0-D.pdb'},2.9,\n")
    rows = curate(csv_path, tmp_path / "cur", split_fractions={"train": 0.5, "val": 0.5, "test": 0.0})
    by = {r.label: r for r in rows}
    print("\n  " + "; ".join(f"{r.label}: {r.split} c{r.cluster} cc {r.correlation}" for r in rows))
    assert by["hb_5me2"].cluster == by["hb_5ni1"].cluster and by["hb_5me2"].split == by["hb_5ni1"].split
    assert len({by[k].cluster for k in ("emringer", "hb_5me2", "emd6374")}) == 3
    assert {by["hb_5me2"].split, by["emd6374"].split} == {"train", "val"}  # the two clusters share out
    assert all(r.kept and r.correlation >= 0.65 for r in rows)


def test_plugin_contract(tmp_path, data_dir):
    from emgan_core.testing import check_plugin

    pair = (f"data.train=[{{model: {data_dir / 'emringerweb_test_model.pdb'}, "
            f"target: {data_dir / 'emringerweb_test_map.ccp4'}, resolution: 3.0}}]")
    out = check_plugin("struc2mapgan", tmp_path, "struc2mapgan-quickstart",
                       [pair, "data.val=null", "train.batch_size=1", "train.patch_size=32",
                        "generator.params.widths=[4,8,8,8]", "critic.params.widths=[4,4,4,4]"],
                       source=str(data_dir / "emringerweb_test_model.pdb"),
                       user_data=("struc2mapgan", "struc2mapgan-small"))
    assert out.data.ndim == 3 and out.data.max() > out.data.min()


def test_the_shipped_model_beats_molmap_on_its_held_out_pairs(data_dir, tmp_path):
    """The README main job's report (benchmarks/struc2mapgan/quickstart.yaml): the shipped model
    against molmap at the map's resolution, its own input alone and the controls, on the two
    held-out pairs bundled in examples/data (its card's figures)."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = tmp_path / "report"
    emgan("bench", root / "benchmarks" / "struc2mapgan" / "quickstart.yaml", "-o", out, check_rc=0)
    rows = {}
    for r in json.loads((out / "results.json").read_text())["results"]:
        rows.setdefault(r["input"], {})[r["method"]] = r["values"]
    assert set(rows) == {"emringer_fragment", "t20s_alpha_4.8A"}
    for pair, m in rows.items():
        for score in ("cam", "pcc_p90", "ssim_p90"):
            assert m["struc2mapgan-small"][score] > m["molmap-own"][score], (pair, score)
            assert m["struc2mapgan-small"][score] > m["input-alone"][score], (pair, score)
        assert m["control-noise"]["pcc_p90"] < 0.01 and m["control-constant"]["pcc_p90"] == 0.0
    assert rows["t20s_alpha_4.8A"]["struc2mapgan-small"]["pcc_p90"] == pytest.approx(0.566, abs=0.002)


def test_a_pairs_csv_is_curated_once_into_the_cache(data_dir, tmp_path, monkeypatch):
    """The task curates a pairs CSV on first use into the emgan cache, as `curate` does, finds it
    there afterwards, and curates again when a file it names changes; the manifest moves with its maps."""
    import shutil

    from emgan_struc2mapgan.curate import curated_manifest, is_pairs_table

    monkeypatch.setenv("EMGAN_CACHE", str(tmp_path / "cache"))
    for name in ("emringerweb_test_map.ccp4", "emringerweb_test_model.pdb"):
        shutil.copy(data_dir / name, tmp_path / name)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("label,map,model,resolution,split\n"
                     "held,emringerweb_test_map.ccp4,emringerweb_test_model.pdb,3.5,train\n")
    assert is_pairs_table(pairs) and not is_pairs_table(data_dir / "struc2mapgan_pairs.csv.missing")
    tiny = ["train.steps=1", "train.batch_size=1", "train.patch_size=16", "train.val_every=1",
            "train.checkpoint_every=1", "generator.params.widths=[4,8,16]", "critic.params.widths=[4,8,16]"]
    run = tmp_path / "run"
    proc = emgan("run", "struc2mapgan-quickstart", "-o", run, f"data.train={pairs}", f"data.val={pairs}", *tiny,
                 check_rc=0)
    assert (run / "checkpoints" / "last.pt").is_file()
    entries = list((tmp_path / "cache" / "data" / "struc2mapgan-curated").iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("pairs-")
    manifest = entries[0] / "curated.csv"
    assert proc.stderr.count("curating pairs") >= 1 and "1 of 1 pairs of pairs.csv kept" in proc.stderr
    assert proc.stderr.count("built in") == 1 and f"from the cache, {entries[0]}" not in proc.stderr
    # the same rows as `emgan struc2mapgan curate` writes, the targets named relative to the manifest
    emgan("struc2mapgan", "curate", pairs, "-o", tmp_path / "by-hand", check_rc=0)
    cached, by_hand = (list(csv.DictReader(open(m))) for m in (manifest, tmp_path / "by-hand" / "curated.csv"))
    assert [r["target"] for r in cached] == [r["target"] for r in by_hand] == ["held.mrc"]
    assert [r["correlation"] for r in cached] == [r["correlation"] for r in by_hand]
    assert np.array_equal(read_map(entries[0] / "held.mrc").data, read_map(tmp_path / "by-hand" / "held.mrc").data)
    # found again, without curating
    assert curated_manifest(pairs) == manifest
    proc = emgan("run", "struc2mapgan-quickstart", "-o", tmp_path / "run2", f"data.train={pairs}",
                 f"data.val={pairs}", *tiny, check_rc=0)
    assert "curating pairs" not in proc.stderr and proc.stderr.count(f"from the cache, {entries[0]}") == 1
    # a changed map is curated again, into a new entry
    with open(tmp_path / "emringerweb_test_map.ccp4", "r+b") as f:
        f.seek(-4, 2)
        f.write(bytes(4))
    again = curated_manifest(pairs)
    assert again != manifest and again.is_file() and manifest.is_file()



def test_tiles_compute_each_voxel_once_and_agree_with_the_boxes(data_dir):
    """The shipped model over the whole map at once (eval.blend: tiles) against its recipe's 32³ boxes
    with 20³ cores: r ≥ 0.998 on a real structure (trilinear upsampling with aligned corners makes a
    window's output depend a little on its size), from far fewer voxels computed."""
    import numpy as np

    from emgan_core.api import load_for_inference
    from emgan_core.api import tiled_inferer

    task, _ = load_for_inference("struc2mapgan-small")
    source = str(data_dir / "emringerweb_test_model.pdb")
    boxes = task.infer(source, resolution=3.5)
    windows = task.patch_inferer()
    task.eval = task.eval.replace(blend="tiles")
    tiles = task.infer(source, resolution=3.5)
    assert tiles.shape == boxes.shape and np.allclose(tiles.voxel_size, boxes.voxel_size)
    assert np.corrcoef(tiles.data.ravel(), boxes.data.ravel())[0, 1] > 0.998
    grid, x = task._read_source(source, 3.5)
    inferer = tiled_inferer(task.eval, lambda t: task._generate({"input": t}), task.generator, x.shape[0], x.shape[1:])
    assert len(inferer.tiles(x.shape[1:])) == 1  # the whole map in one tile: each voxel computed once
    box_voxels = windows.count(x) * 32**3  # the boxes the recipe's crop blend computes
    assert inferer.computed_voxels(x.shape[1:]) < box_voxels / 3
