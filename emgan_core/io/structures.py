"""Atomic models (PDB, mmCIF, optionally gzipped) read with gemmi into plain arrays.

Coordinates are in Å and in (x, y, z) order. Hydrogens, waters and hetero residues are
selected by explicit arguments, never by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from ..errors import EmganError

STRUCTURE_SUFFIXES = (".pdb", ".cif", ".ent", ".mmcif", ".pdb.gz", ".cif.gz")


def is_structure_path(path) -> bool:
    """Whether ``path`` names an atomic model file (by suffix)."""
    return str(path).lower().endswith(STRUCTURE_SUFFIXES)


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

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    def subset(self, mask: np.ndarray) -> "Atoms":
        """Atoms where ``mask`` is true (residue count unchanged)."""
        return Atoms(
            self.xyz[mask], self.atomic_number[mask], self.mass[mask], self.b_factor[mask],
            self.occupancy[mask], self.element[mask], self.chain[mask], self.n_residues, self.source,
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
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise EmganError("file not found", where)
    try:
        st = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError, OSError) as err:
        raise EmganError(f"not a readable PDB/mmCIF file ({err})", where) from None
    if len(st) == 0:
        raise EmganError("no models (no ATOM/HETATM records)", where)
    if not 0 <= model < len(st):
        raise EmganError(f"model index {model} out of range: file has {len(st)} model(s)", where)
    if first_altloc_only:
        st.remove_alternative_conformations()
    wanted_chains = set(chains) if chains else None
    xyz, z, mass, b, occ, elem, chain_ids = [], [], [], [], [], [], []
    n_read = 0
    residues = 0
    seen_chains = set()
    for ch in st[model]:
        seen_chains.add(ch.name)
        if wanted_chains is not None and ch.name not in wanted_chains:
            continue
        for res in ch:
            is_water = res.is_water()
            kept_any = False
            for atom in res:
                n_read += 1
                if is_water and not waters:
                    continue
                if not is_water and res.het_flag == "H" and not hetero:
                    continue
                if atom.is_hydrogen() and not hydrogens:
                    continue
                el = atom.element
                if el.atomic_number == 0:
                    continue
                p = atom.pos
                xyz.append((p.x, p.y, p.z))
                z.append(el.atomic_number)
                mass.append(el.weight)
                b.append(atom.b_iso)
                occ.append(atom.occ)
                elem.append(el.name)
                chain_ids.append(ch.name)
                kept_any = True
            residues += kept_any
    if wanted_chains is not None and not wanted_chains & seen_chains:
        raise EmganError(
            f"no chain named {sorted(wanted_chains)}; chains in the file: {sorted(seen_chains)}", where
        )
    if not xyz:
        reason = "the file has no atoms" if n_read == 0 else (
            f"no atoms left after selection ({n_read} read; hydrogens={hydrogens}, "
            f"waters={waters}, hetero={hetero})"
        )
        raise EmganError(reason, where)
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
    )
