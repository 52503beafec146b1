"""emgan bench: a checkpoint against simulator baselines on real map–model pairs; the report."""

import csv
import json
import shutil
import subprocess

import pytest
import yaml

RECIPE = {
    "description": "model -> map toy (tests)",
    "task": {"name": "paired"},
    "simulator": {"name": "gaussian", "params": {"resolution": 2.0, "voxel_size": 1.34}},
    "generator": {"name": "toy-conv", "params": {"channels": 4}},
    "losses": [{"name": "l1"}],
    "train": {"steps": 10, "batch_size": 2, "patch_size": 16, "log_every": 5, "val_every": 10,
              "checkpoint_every": 10},
    "eval": {"window": 16, "window_core": 10, "blend": "crop"},
}


@pytest.fixture(scope="module")
def report(example_plugin, data_dir, tmp_path_factory, emgan):
    run_emgan = emgan
    d = tmp_path_factory.mktemp("bench")
    recipe = dict(RECIPE, data={"train": [{"model": str(data_dir / "3J6B_chain9.pdb"),
                                            "target": str(data_dir / "emd2566_3J6B_chain9.mrc")}]})
    (d / "r.yaml").write_text(yaml.safe_dump(recipe))
    run_emgan("run", d / "r.yaml", "-o", d / "run", check_rc=0)
    bench = {
        "name": "tests",
        "inputs": [
            {"label": "emd2566", "input": str(data_dir / "3J6B_chain9.pdb"),
             "reference": str(data_dir / "emd2566_3J6B_chain9.mrc"), "resolution": 3.2},
            {"label": "emringer", "input": str(data_dir / "emringerweb_test_model.pdb"),
             "reference": str(data_dir / "emringerweb_test_map.ccp4"), "resolution": 3.0},
        ],
        "methods": [
            {"label": "gaussian-2A", "simulator": {"name": "gaussian", "params": {"resolution": 2.0}}},
            {"label": "gaussian-own", "simulator": {"name": "gaussian", "params": {"resolution": "${resolution}"}}},
            {"label": "gan", "checkpoint": str(d / "run")},
            {"label": "noise", "control": "noise"},
        ],
        "metrics": ["ssim", "chimerax-correlation", "box-correlation-about-mean", "thresholded-pcc", "fsc"],
        "normalise": "none",
        "note": "A tiny model: plumbing only.",
    }
    (d / "bench.yaml").write_text(yaml.safe_dump(bench, sort_keys=False))
    proc = run_emgan("bench", d / "bench.yaml", "-o", d / "out", check_rc=0)
    return d / "out", proc


def test_outputs_and_tables(report):
    out, proc = report
    for name in ["results.csv", "results.json", "report.md", "report.html"]:
        assert (out / name).exists()
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 8 and {r["method"] for r in rows} == {"gaussian-2A", "gaussian-own", "gan", "noise"}
    for r in rows:
        assert -1 <= float(r["box_cam"]) <= 1 and float(r["seconds"]) > 0
    data = json.loads((out / "results.json").read_text())
    assert set(data["summary"]) == {"gaussian-2A", "gaussian-own", "gan", "noise"}
    # the noise control loses clearly on ChimeraX's correlation inside the output's contour
    assert data["summary"]["noise"]["cc"]["mean"] < data["summary"]["gaussian-own"]["cc"]["mean"] - 0.3
    assert data["summary"]["gan"]["ssim"]["n"] == 2
    assert all("fsc" in r["curves"] for r in data["results"])
    # the map's own resolution gives a better baseline than 2 Å on these cut-outs (as in the papers)
    own = data["summary"]["gaussian-own"]["box_cam"]["mean"]
    two = data["summary"]["gaussian-2A"]["box_cam"]["mean"]
    assert own > two
    md = (out / "report.md").read_text()
    assert "| gaussian-own |" in md and "mean / median" in md
    assert md.splitlines()[2] == "A tiny model: plumbing only." and "n = 2 inputs × 4 methods" in md
    assert "cc [chimerax-correlation] (mean / median)" in md and "pcc_p90 [thresholded-pcc]" in md
    assert "| chimerax-correlation | cc, cam, contour_points, contour_level | ChimeraX" in md


def test_html_is_self_contained(report):
    html = (report[0] / "report.html").read_text()
    assert html.count("<table") == 3 and html.count("data:image/png;base64,") >= 5 + 2 + 2
    assert "src=\"http" not in html
    assert "ssim vs resolution" in html  # the inputs give resolutions 3.2 and 3.0 Å


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_html_renders_in_headless_chromium(report, tmp_path):
    page = report[0] / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert dom.count("<table") == 3 and dom.count("<img") >= 9
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000


def test_bad_benchmark_is_one_line_per_problem(example_plugin, tmp_path, emgan):
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({
        "inputs": [{"input": "missing.pdb", "reference": "missing.mrc"}],
        "methods": [{"simulator": {"name": "gausian"}}, {"label": "x"}, {"control": "nois"}],
        "metrics": ["sim"]}))
    proc = emgan("bench", tmp_path / "b.yaml", "-o", tmp_path / "out")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 6, proc.stderr
    assert any("methods.2.control: unknown control 'nois'" in ln for ln in lines)
    assert any("did you mean 'gaussian'" in ln for ln in lines)
    assert any("did you mean 'ssim'" in ln for ln in lines)
    assert not (tmp_path / "out").exists()
