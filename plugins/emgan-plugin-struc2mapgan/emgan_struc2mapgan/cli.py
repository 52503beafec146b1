"""``emgan struc2mapgan curate|generate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emgan_core.cli import add_actions
from emgan_core.errors import EmganError

PRETRAINED = Path(__file__).parent / "pretrained" / "struc2mapgan.pt"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    p = sub.add_parser("curate", help="curate experimental map + model pairs into training targets",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  emgan struc2mapgan curate examples/data/struc2mapgan_pairs.csv -o out/curated")
    p.add_argument("pairs", help="CSV with columns map, model, resolution (optional label, split)")
    p.add_argument("-o", "--out", required=True, help="output folder (maps + curated.csv manifest)")
    p.add_argument("--margin", type=float, default=5.0, help="box margin around the model in Å (5)")
    p.add_argument("--voxel-size", type=float, default=1.0, help="voxel size of the targets in Å (1)")
    p.add_argument("--mask", action="store_true", help="apply a soft mask around the atoms")
    p.add_argument("--mask-radius", type=float, default=3.0, help="mask radius around atoms in Å (3)")
    p.add_argument("--mask-edge", type=float, default=3.0, help="cosine soft edge width in Å (3)")
    p.add_argument("--threshold", type=float, default=0.65,
                   help="minimum simulated/experimental correlation (0.65, as the paper)")
    p.add_argument("--sim-level", type=float, default=0.05,
                   help="correlate where the [0, 1] simulated map exceeds this level (0.05)")
    p.set_defaults(func=cmd_curate)

    p = sub.add_parser("generate", help="experimental-like map of an atomic model",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  emgan struc2mapgan generate model.pdb -o generated.mrc --ckpt runs/s2m "
                              "--ref-map experimental.mrc")
    p.add_argument("model", help="PDB or mmCIF file")
    p.add_argument("-o", "--output", required=True, help="output MRC map (written atomically)")
    p.add_argument("--ckpt", help="checkpoint file or run directory (default: the shipped pretrained model)")
    p.add_argument("--ref-map", metavar="MAP", help="resample the result onto this map's grid")
    p.add_argument("--resolution", type=float, help="target resolution in Å (resolution-conditioned models)")
    p.add_argument("--batch-size", type=int, help="32³ boxes per forward pass")
    p.add_argument("--device", default="auto", help="cpu, cuda … (default: cuda if available)")
    p.set_defaults(func=cmd_generate)


def cmd_curate(args) -> int:
    from .curate import curate

    rows = curate(args.pairs, args.out, margin=args.margin, voxel_size=args.voxel_size, mask=args.mask,
                  mask_radius=args.mask_radius, mask_edge=args.mask_edge, threshold=args.threshold,
                  sim_level=args.sim_level)
    print(f"{'label':<22}{'split':<7}{'kept':<6}{'corr':>7}  {'box (Å)':<14}note")
    for r in rows:
        print(f"{r.label:<22}{r.split:<7}{'yes' if r.kept else 'no':<6}{r.correlation:>7.3f}  {r.box_A:<14}{r.note}")
    kept = sum(r.kept for r in rows)
    print(f"{kept} of {len(rows)} pairs kept; manifest: {Path(args.out) / 'curated.csv'}", file=sys.stderr)
    if not kept:
        raise EmganError(f"no pair passed the correlation threshold {args.threshold}", args.pairs)
    return 0


def _needs_simulator(task, checkpoint) -> None:
    if task.simulator is None:
        raise EmganError("this checkpoint was not trained from atomic models (no simulator)", str(checkpoint))


def cmd_generate(args) -> int:
    from emgan_core.inference import infer_to_file

    ckpt = args.ckpt
    if ckpt is None:
        if not PRETRAINED.exists():
            raise EmganError("no pretrained struc2mapGAN generator is installed with this package; train one "
                             "(emgan run struc2mapgan …) and pass --ckpt RUN_DIR", "--ckpt")
        ckpt = PRETRAINED
    out, _, seconds, device = infer_to_file(
        ckpt, args.model, args.output, ref_map=args.ref_map, device=args.device,
        batch_size=args.batch_size, resolution=args.resolution, check=_needs_simulator)
    print(f"{args.output}: struc2mapGAN map of {args.model}, shape {out.shape}, {out.voxel_size[0]:.3g} Å voxels, "
          f"{seconds:.2f} s on {device}", file=sys.stderr)
    return 0
