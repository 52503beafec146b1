"""PDB → map wall time of struc2mapGAN (simulation + generator over 32³ boxes + crop merge).

For structures of increasing size (bundled ones, those in ../shared/data, and a 10k+-residue
assembly made by placing several of them side by side), each in a fresh process: residues, atoms,
map shape, boxes, wall time and peak resident memory. The generator has the paper's widths
(32-64-128-256) unless ``--widths`` says otherwise; its weights do not change the time, so a
randomly initialised one is used unless ``--ckpt`` is given. Paper reference points (A100, with
ChimeraX): 14 s for 644 residues, 20 s for 2,501, 53 s for 12,868.

    python benchmarks/struc2mapgan_generate.py [--device cuda] [--widths 8,16,32,64] [--min-residues N] [--max-residues N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
SHARED = ROOT.parent / "shared" / "data" / "structures"


def assembly(out: Path) -> Path | None:
    """5A1A + 4V1W + 2 × 6NY1 placed side by side (10,282 residues), written as mmCIF."""
    import gemmi

    parts = [SHARED / "5a1a.cif", SHARED / "4v1w.cif", SHARED / "6NY1.pdb", SHARED / "6NY1.pdb"]
    if not all(p.exists() for p in parts):
        return None
    base = gemmi.read_structure(str(parts[0]))
    base.remove_ligands_and_waters()
    shift = 0.0
    used = {ch.name for ch in base[0]}
    names = iter(n for n in (f"{a}{b}" for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "0123456789")
                 if n not in used)
    for part in parts[1:]:
        st = gemmi.read_structure(str(part))
        st.remove_ligands_and_waters()
        shift += 200.0
        for ch in st[0]:
            new = base[0].add_chain(ch, unique_name=True)
            new.name = next(names)
        for ch in list(base[0])[-len(st[0]):]:
            for res in ch:
                for atom in res:
                    atom.pos = gemmi.Position(atom.pos.x + shift, atom.pos.y, atom.pos.z)
    base.setup_entities()
    path = out / "assembly.cif"
    base.make_mmcif_document().write_file(str(path))
    return path


def one(args) -> None:
    """Child process: time one structure and print a JSON line."""
    import torch

    from emgan_core.inferers import PatchInferer
    from emgan_core.io import read_structure
    from emgan_core.simulators import GaussianSimulator
    from emgan_core.transforms import normalise
    from emgan_struc2mapgan.networks import UNetPP3D

    torch.manual_seed(0)
    widths = [int(w) for w in args.widths.split(",")]
    gen = UNetPP3D(widths).to(args.device).eval()
    if args.ckpt:
        from emgan_core.inference import load_for_inference

        task, _ = load_for_inference(args.ckpt)
        gen = task.generator.to(args.device).eval()
    t0 = time.perf_counter()
    atoms = read_structure(args.structure)
    vol = GaussianSimulator(resolution=2.0, voxel_size=1.0, device=args.device, normalise="minmax").simulate(atoms)
    t_sim = time.perf_counter() - t0
    inferer = PatchInferer(32, "crop", core=20, batch_size=args.batch_size)
    boxes = len(inferer._sampler(inferer._to_tensor(vol.data)))
    with torch.no_grad():
        out = inferer(lambda x: gen(x.to(args.device)).float().cpu(), normalise(vol.data, "minmax"))
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    print(json.dumps({"residues": atoms.n_residues, "atoms": len(atoms), "shape": list(vol.shape),
                      "boxes": boxes, "simulate_s": t_sim, "total_s": total,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "finite": bool(out.size and float(abs(out).max()) < 1e9)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--widths", default="32,64,128,256")
    ap.add_argument("--ckpt")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-residues", type=int, default=100_000, help="skip larger structures")
    ap.add_argument("--min-residues", type=int, default=0, help="skip smaller structures")
    ap.add_argument("--structure", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.structure:
        one(args)
        return
    candidates = [DATA / "emringerweb_test_model.pdb", DATA / "3J6B_chain9.pdb", DATA / "8i2h_ref.pdb",
                  SHARED / "6NY1.pdb", SHARED / "4v1w.cif", SHARED / "5a1a.cif"]
    with tempfile.TemporaryDirectory() as tmp:
        big = assembly(Path(tmp))
        structures = [p for p in candidates if p.exists()] + ([big] if big else [])
        print(f"device {args.device}, generator widths {args.widths}, 32³ boxes with a 20³ core, "
              f"batch {args.batch_size}")
        print(f"{'structure':<28}{'residues':>9}{'atoms':>8}{'map (z,y,x)':>17}{'boxes':>7}"
              f"{'simulate s':>11}{'total s':>9}{'peak MB':>9}")
        from emgan_core.io import read_structure

        for path in structures:
            if not args.min_residues <= read_structure(path).n_residues <= args.max_residues:
                continue
            cmd = [sys.executable, __file__, "--structure", str(path), "--device", args.device,
                   "--widths", args.widths, "--batch-size", str(args.batch_size)]
            if args.ckpt:
                cmd += ["--ckpt", args.ckpt]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                print(f"{path.name:<28} failed: {proc.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{path.name:<28}{r['residues']:>9}{r['atoms']:>8}{str(tuple(r['shape'])):>17}{r['boxes']:>7}"
                  f"{r['simulate_s']:>11.2f}{r['total_s']:>9.1f}{r['peak_rss_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
