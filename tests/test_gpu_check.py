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
    # training: both variants ran, and each rate is batch × steps / seconds as printed
    for label in ("training fp32, NCDHW, compile off", "training bf16, channels-last, compile off"):
        value, details = rows[label][1], rows[label][4]
        batch, steps, seconds = re.match(r"batch (\d+), (\d+) steps in ([\d.]+) s", details).groups()
        assert value == pytest.approx(int(batch) * int(steps) / float(seconds), rel=0.02, abs=0.06)
    # SuperEM: both modes ran through the CLI
    assert all(isinstance(rows[f"SuperEM 25³ {m}"][1], float) for m in ("paper mode (stride 4)", "fast mode (--fast)"))
    # generation: the 8I2H case has its 568 residues, and its total is the sum of its stages
    gen = rows["struc2mapGAN generate 8i2h (568 res)"]
    stages = [float(x) for x in re.findall(r"(?:read|simulate|inference|write) ([\d.]+)", gen[4])]
    assert len(stages) == 4 and gen[1] == pytest.approx(sum(stages), abs=0.03)
    assert "140 boxes" in gen[4]  # 125 × 81 × 62 map in 20³ cores: 7 × 5 × 4
    # simulation: emgan and gemmi filled the same grid (a one-voxel shift would drop r far below 0.9)
    sim = rows["Gaussian simulation 8I2H 2 Å (4,254 atoms)"]
    r = float(re.search(r"r = ([\d.]+)", sim[4]).group(1))
    assert 0.93 < r < 0.97  # gemmi adds the atoms' form factors to the same Gaussian blur
    table = (tmp_path / "gpu_check.md").read_text().splitlines()
    assert sum(line.startswith("| training") for line in table) == 2 and len(record["rows"]) == 6
