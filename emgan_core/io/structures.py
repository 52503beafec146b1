"""Atomic models (PDB, mmCIF, optionally gzipped) read with gemmi into plain arrays.

Coordinates are in Å and in (x, y, z) order. Hydrogens, waters and hetero residues are
selected by explicit arguments, never by accident.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from ..errors import EmganError
from .atomic import note_input

STRUCTURE_SUFFIXES = (".pdb", ".cif", ".ent", ".mmcif", ".pdb.gz", ".cif.gz")


def is_structure_path(path) -> bool:
    """Whether ``path`` names an atomic model file (by suffix)."""
    return str(path).lower().endswith(STRUCTURE_SUFFIXES)


def _open_structure(path: Path, model: int) -> gemmi.Structure:
    """The gemmi structure of ``path``; a missing or unparsable file or a bad model index is one line."""
    where = str(path)
    if not path.exists():
        raise EmganError("file not found", where)
    note_input(path)
    try:
        st = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError, OSError, IndexError) as err:  # IndexError: an empty mmCIF file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if isinstance(err, IndexError):
            first = "no data block"
        raise EmganError(f"not a readable PDB/mmCIF file ({first})", where) from None
    if len(st) == 0:
        raise EmganError("no models (no ATOM/HETATM records)", where)
    if not 0 <= model < len(st):
        raise EmganError(f"model index {model} out of range: file has {len(st)} model(s)", where)
    return st


def _kept_atoms(model, chains: set | None, hydrogens: bool, waters: bool, hetero: bool):
    """(x, y, z, Z, mass, B, occupancy, element, chain, atom name) of each kept atom, the number of
    residues with a kept atom, and the number of atoms read."""
    kept, residues, n_read = [], 0, 0
    for ch in model:
        if chains is not None and ch.name not in chains:
            continue
        for res in ch:
            is_water = res.is_water()
            before = len(kept)
            for atom in res:
                n_read += 1
                if (is_water and not waters) or (not is_water and res.het_flag == "H" and not hetero):
                    continue
                el = atom.element
                if (atom.is_hydrogen() and not hydrogens) or el.atomic_number == 0:
                    continue
                p = atom.pos
                if not (math.isfinite(p.x) and math.isfinite(p.y) and math.isfinite(p.z)):
                    raise ValueError(f"atom {atom.name} of {res.name} {res.seqid.num} in chain {ch.name} has a "
                                     f"non-finite coordinate ({p.x}, {p.y}, {p.z})")
                kept.append(((p.x, p.y, p.z), el.atomic_number, el.weight, atom.b_iso, atom.occ,
                             el.name, ch.name, atom.name))
            residues += len(kept) > before
    return kept, residues, n_read


@dataclass
class Atoms:
    """Atom arrays of one model. ``xyz`` (n, 3) float64 Å in (x, y, z) order."""

    xyz: np.ndarray
    atomic_number: np.ndarray  # (n,) int
    mass: np.ndarray  # (n,) float, Daltons
    b_factor: np.ndarray  # (n,) float, Å²
    occupancy: np.ndarray  # (n,) float
    element: np.ndarray  # (n,) str
    chain: np.ndarray  # (n,) str
    n_residues: int
    source: str = ""
    name: np.ndarray | None = None  # (n,) str: atom names (CA, CB, OD1…), when read from a file

    #: atom names of the protein backbone (and nucleic-acid phosphate-sugar backbone)
    BACKBONE = frozenset({"N", "CA", "C", "O", "OXT", "P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'",
                          "O3'", "C2'", "O2'", "C1'"})

    def backbone(self) -> np.ndarray:
        """Boolean (n,): atoms of the backbone (by atom name; all False without names)."""
        if self.name is None:
            return np.zeros(len(self), bool)
        return np.isin(self.name, list(self.BACKBONE))

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    def subset(self, mask: np.ndarray) -> "Atoms":
        """Atoms where ``mask`` is true (residue count unchanged)."""
        return Atoms(
            self.xyz[mask], self.atomic_number[mask], self.mass[mask], self.b_factor[mask],
            self.occupancy[mask], self.element[mask], self.chain[mask], self.n_residues, self.source,
            None if self.name is None else self.name[mask],
        )

    def centre_of_mass(self) -> np.ndarray:
        """Mass-weighted centre (x, y, z) in Å."""
        return (self.xyz * self.mass[:, None]).sum(0) / self.mass.sum()


def read_structure(
    path: str | os.PathLike,
    *,
    hydrogens: bool = False,
    waters: bool = False,
    hetero: bool = True,
    chains: list[str] | None = None,
    model: int = 0,
    first_altloc_only: bool = True,
) -> Atoms:
    """Read one model of a PDB/mmCIF file.

    Args:
        hydrogens: keep H and D atoms (default: drop them; most maps are simulated without).
        waters: keep water molecules (default: drop).
        hetero: keep HETATM residues other than water (ligands, ions; default: keep).
        chains: keep only these chain IDs (default: all).
        model: index of the model in a multi-model file (NMR ensembles), 0 = first.
        first_altloc_only: keep only the first alternative conformation of each atom.

    Raises :class:`EmganError` when the file is missing or unreadable, or when no atom is left.
    """
    where = str(path)
    st = _open_structure(Path(path), model)
    if first_altloc_only:
        st.remove_alternative_conformations()
    wanted = set(chains) if chains else None
    seen = {ch.name for ch in st[model]}
    if wanted is not None and not wanted & seen:
        raise EmganError(f"no chain named {sorted(wanted)}; chains in the file: {sorted(seen)}", where)
    try:
        atoms, residues, n_read = _kept_atoms(st[model], wanted, hydrogens, waters, hetero)
    except ValueError as err:
        raise EmganError(str(err), where) from None
    if not atoms:
        reason = "the file has no atoms" if n_read == 0 else (
            f"no atoms left after selection ({n_read} read; hydrogens={hydrogens}, "
            f"waters={waters}, hetero={hetero})"
        )
        raise EmganError(reason, where)
    xyz, z, mass, b, occ, elem, chain_ids, names = zip(*atoms)
    return Atoms(
        xyz=np.asarray(xyz, dtype=np.float64),
        atomic_number=np.asarray(z, dtype=np.int64),
        mass=np.asarray(mass, dtype=np.float64),
        b_factor=np.asarray(b, dtype=np.float64),
        occupancy=np.asarray(occ, dtype=np.float64),
        element=np.asarray(elem),
        chain=np.asarray(chain_ids),
        n_residues=int(residues),
        source=where,
        name=np.asarray(names),
    )
