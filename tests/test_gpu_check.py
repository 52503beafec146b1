"""benchmarks/gpu_check.py keeps working: its --tiny run on the CPU, checked for complete, consistent output."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gpu_check

    return gpu_check


def test_tiny_gpu_check_on_cpu(gpu_check, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["gpu_check.py", "--device", "cpu", "--tiny", "--threads", "1",
                                      "-o", str(tmp_path)])
    assert gpu_check.main() == 0
    record = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = {row[0]: row for row in record["rows"]}
    assert record["benchmark"] == "gpu-check" and record["machine"]["device"] == "cpu"
    raw = record["raw"]
    # training: both variants ran; each rate is batch × steps / seconds of the unrounded figures, and
    # the table shows it rounded, with the figures it came from
    for label in ("training fp32, NCDHW, compile off", "training bf16, channels-last, compile off"):
        r = raw[label]
        assert r["batch"] == 1 and r["steps"] == 1 and r["rate"] == r["batch"] * r["steps"] / r["seconds"]
        assert rows[label][1] == round(r["rate"], 1)
        assert rows[label][4].startswith(f"batch 1, 1 steps in {r['seconds']:.2f} s")
    # SuperEM: both modes ran through the CLI
    assert all(isinstance(rows[f"SuperEM 25³ {m}"][1], float) for m in ("paper mode (stride 4)", "fast mode (--fast)"))
    # generation: the 8I2H case has its 568 residues, and its total is the sum of its stages
    label = "struc2mapGAN generate 8i2h (568 res)"
    gen, r = rows[label], raw[label]
    assert r["total"] == pytest.approx(r["read"] + r["simulate"] + r["inference"] + r["write"], rel=1e-9)
    assert gen[1] == round(r["total"], 2)
    assert r["windows"] == 140 and "140 boxes" in gen[4]  # 125 × 81 × 62 map in 20³ cores: 7 × 5 × 4
    # simulation: emgan and gemmi filled the same grid (a one-voxel shift would drop r far below 0.9)
    sim = rows["Gaussian simulation 8I2H 2 Å (4,254 atoms)"]
    r = float(re.search(r"r = ([\d.]+)", sim[4]).group(1))
    assert 0.93 < r < 0.97  # gemmi adds the atoms' form factors to the same Gaussian blur
    table = (tmp_path / "gpu_check.md").read_text().splitlines()
    assert sum(line.startswith("| training") for line in table) == 2 and len(record["rows"]) == 6
