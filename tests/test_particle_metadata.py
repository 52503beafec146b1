"""Particle metadata is never guessed silently: real RELION STAR files with a column taken out."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import starfile

from emgan_core.errors import EmganError
from emgan_core.io import read_particle_star


def _without(shared_dir, tmp_path, rel: str, columns: list[str]):
    """Copy a real STAR file (and its stack) into tmp_path with ``columns`` removed from every block."""
    src = shared_dir / rel
    blocks = starfile.read(src, always_dict=True)
    for name, block in blocks.items():
        blocks[name] = block.drop(columns=[c for c in columns if c in block.columns])
    for stack in {str(v).partition("@")[2] for b in blocks.values() if "rlnImageName" in b
                  for v in b["rlnImageName"]}:
        shutil.copy(src.parent / stack, tmp_path / stack)
    out = tmp_path / src.name
    starfile.write(blocks, out, overwrite=True)
    return out


def test_complete_files_need_no_default(shared_dir, capsys):
    t = read_particle_star(shared_dir / "particles/relion31/relion31.star").require_ctf()
    assert t.missing == frozenset() and t.rows["defocus_u"].iloc[0] == pytest.approx(13108.082418)
    e = read_particle_star(shared_dir / "particles/empiar10076/empiar_10076_7.star").require_ctf()
    assert e.missing == frozenset() and e.rows["voltage"].iloc[0] == 300.0
    assert e.rows["cs"].iloc[0] == pytest.approx(2.7) and e.rows["amplitude_contrast"].iloc[0] == pytest.approx(0.07)
    assert capsys.readouterr().err == ""


def test_missing_defocus_is_one_line_naming_file_and_column(shared_dir, tmp_path):
    star = _without(shared_dir, tmp_path, "particles/relion31/relion31.star", ["rlnDefocusU", "rlnDefocusV"])
    table = read_particle_star(star)  # reading alone needs no defocus
    assert np.isnan(table.rows["defocus_u"]).all() and "rlnDefocusU" in table.missing
    with pytest.raises(EmganError) as err:
        table.require_ctf()
    line = str(err.value)
    assert line.startswith(f"{star}: no rlnDefocusU column") and "\n" not in line


def test_missing_pixel_size_names_the_column(shared_dir, tmp_path):
    star = _without(shared_dir, tmp_path, "particles/aspire_sample/sample_particles_relion31.star",
                    ["rlnImagePixelSize"])
    with pytest.raises(EmganError) as err:
        read_particle_star(star)
    assert str(err.value).startswith(f"{star}: no pixel size: no rlnImagePixelSize column")
    assert read_particle_star(star, pixel_size=1.338).rows["pixel_size"].iloc[0] == 1.338


def test_optics_defaults_are_said_once_when_a_ctf_uses_them(shared_dir, tmp_path, capsys):
    star = _without(shared_dir, tmp_path, "particles/empiar10076/empiar_10076_7.star",
                    ["rlnVoltage", "rlnAmplitudeContrast"])
    table = read_particle_star(star)
    assert capsys.readouterr().err == ""  # nothing used yet
    table.require_ctf()
    read_particle_star(star).require_ctf()  # the same file again: said once
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{star}: not in the STAR file, using RELION's defaults: rlnVoltage = 300 kV, "
                   "rlnAmplitudeContrast = 0.1"]
    # the file says 0.07; the default 0.1 stands in for it, and the file's Cs is kept
    assert table.rows["amplitude_contrast"].iloc[0] == 0.1 and table.rows["voltage"].iloc[0] == 300.0
    assert table.missing == frozenset({"rlnVoltage", "rlnAmplitudeContrast"})
