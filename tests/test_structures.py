"""Atomic models read with gemmi: counts, explicit selections, mmCIF, NMR ensembles."""

import numpy as np
import pytest

from emgan_core import EmganError
from emgan_core.io import read_structure


def test_8i2h_counts_and_hydrogens(data_dir):
    with_h = read_structure(data_dir / "8i2h_ref.pdb", hydrogens=True)
    without = read_structure(data_dir / "8i2h_ref.pdb")
    assert len(with_h) == 4254
    assert len(without) == 2867
    assert not np.any(without.atomic_number == 1)
    assert with_h.xyz.shape == (4254, 3)
    assert set(np.unique(without.element)) <= {"C", "N", "O", "S", "P", "Zn", "Mg"}


def test_chain_selection_and_unknown_chain(data_dir):
    atoms = read_structure(data_dir / "emringerweb_test_model.pdb", chains=["F"])
    assert len(atoms) == 218 and set(atoms.chain) == {"F"}
    assert atoms.n_residues == 28
    with pytest.raises(EmganError, match="no chain named"):
        read_structure(data_dir / "emringerweb_test_model.pdb", chains=["Q"])


def test_waters_and_hetero_are_explicit(data_dir):
    default = read_structure(data_dir / "3J6B_chain9.pdb")
    no_het = read_structure(data_dir / "3J6B_chain9.pdb", hetero=False)
    assert len(no_het) <= len(default)
    assert np.isfinite(default.b_factor).all() and (default.occupancy > 0).all()


def test_mmcif_and_nmr_models(shared_dir):
    cif = read_structure(shared_dir / "structures" / "4v1w.cif")
    assert len(cif) == 32736 and len(set(cif.chain)) == 24
    first = read_structure(shared_dir / "structures" / "1l2y.pdb")
    other = read_structure(shared_dir / "structures" / "1l2y.pdb", model=5)
    assert len(first) == len(other)
    assert not np.allclose(first.xyz, other.xyz)
    with pytest.raises(EmganError, match="out of range"):
        read_structure(shared_dir / "structures" / "1l2y.pdb", model=38)
