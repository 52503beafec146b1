"""Throughput of simulator/gaussian vs gemmi's DensityCalculatorX on the same structures.

Prints atoms/s for both (best of N repeats, measured in one run) and their ratio. Structures:
the bundled 8I2H, plus larger ones from ../shared/data when present.

    python benchmarks/simulate_gaussian.py [--resolution 2.0] [--voxel 1.0] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gemmi
import numpy as np

from emgan_core.io import read_structure
from emgan_core.simulators import GaussianSimulator

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [ROOT / "examples/data/8i2h_ref.pdb"] + [
    ROOT.parent / "shared/data/structures" / n for n in ("6NY1.pdb", "4v1w.cif", "5a1a.cif")]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def gemmi_runner(path: Path, resolution: float, voxel: float, padding: float, hydrogens: bool):
    st = gemmi.read_structure(str(path))
    st.setup_entities()
    if not hydrogens:
        st.remove_hydrogens()
    st.remove_ligands_and_waters()
    xyz = np.array([cra.atom.pos.tolist() for cra in st[0].all()])
    size = xyz.max(0) - xyz.min(0) + 2 * padding
    st.cell = gemmi.UnitCell(*size, 90, 90, 90)
    st.spacegroup_hm = "P 1"
    dc = gemmi.DensityCalculatorX()
    dc.d_min = resolution
    dc.rate = resolution / (2 * voxel)  # grid spacing = d_min / (2 rate) = voxel
    dc.set_grid_cell_and_spacegroup(st)
    return lambda: dc.put_model_density_on_grid(st[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=float, default=2.0, help="Å (default 2.0)")
    ap.add_argument("--voxel", type=float, default=1.0, help="Å (default 1.0)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    sim = GaussianSimulator(resolution=args.resolution, voxel_size=args.voxel, device=args.device)
    print(f"resolution {args.resolution} Å, voxel {args.voxel} Å, device {args.device}, "
          f"best of {args.repeats}")
    print(f"{'structure':<16}{'atoms':>8}{'emgan s':>10}{'emgan atoms/s':>16}{'gemmi s':>10}"
          f"{'gemmi atoms/s':>16}{'ratio':>8}")
    for path in CANDIDATES:
        if not path.exists():
            continue
        atoms = read_structure(path, hetero=False)
        sim.simulate(atoms)  # warm-up
        t_emgan = best_of(lambda: sim.simulate(atoms), args.repeats)
        run = gemmi_runner(path, args.resolution, args.voxel, sim.padding, hydrogens=False)
        run()
        t_gemmi = best_of(run, args.repeats)
        n = len(atoms)
        print(f"{path.name:<16}{n:>8}{t_emgan:>10.3f}{n / t_emgan:>16,.0f}{t_gemmi:>10.3f}"
              f"{n / t_gemmi:>16,.0f}{t_gemmi / t_emgan:>8.2f}")
    print("ratio = gemmi time / emgan time (> 1: emgan faster)")


if __name__ == "__main__":
    main()
