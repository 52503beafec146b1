"""``emgan struc2mapgan curate|generate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emgan_core.api import Action, EmganError, add_model_arguments, configure_actions, trained_model

#: the model ``generate`` uses unless told otherwise (``emgan models show struc2mapgan-small``)
DEFAULT_MODEL = "struc2mapgan-small"


def _fractions(text: str) -> dict[str, float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1) > 1e-6:
        raise EmganError(f"'{text}' is not three shares summing to 1 (train,val,test)", "--split-fractions")
    return dict(zip(("train", "val", "test"), values))


def _curate_arguments(p) -> None:
    p.add_argument("pairs", help="CSV with columns map, model, resolution (optional label, split: "
                                 "train/val/test, blank = chosen by curation)")
    p.add_argument("-o", "--out", required=True, help="output folder (maps + curated.csv manifest)")
    p.add_argument("--margin", type=float, help="box margin around the model in Å (default: mask radius + "
                                                "edge with the mask, 3 without, as phenix.map_box)")
    p.add_argument("--voxel-size", type=float, default=1.0, help="voxel size of the targets in Å (1)")
    p.add_argument("--mask", action=argparse.BooleanOptionalAction, default=True,
                   help="mask the map to the model, like phenix.map_box with mask_atoms (default: on)")
    p.add_argument("--mask-radius", type=float, default=3.0, help="mask radius around atoms in Å (3)")
    p.add_argument("--mask-edge", type=float, default=3.0, help="cosine soft edge width in Å (3; 0: binary)")
    p.add_argument("--threshold", type=float, default=0.65,
                   help="minimum ChimeraX correlation of the target in the simulated map (0.65, as the paper)")
    p.add_argument("--min-resolution", type=float, metavar="Å", help="reject pairs with a better resolution")
    p.add_argument("--max-resolution", type=float, metavar="Å", help="reject pairs with a worse resolution")
    p.add_argument("--identity", type=float, default=30.0,
                   help="sequence identity (%%) at which two pairs share a cluster and a set (30, as the paper)")
    p.add_argument("--split-fractions", default="0.8,0.1,0.1", metavar="TRAIN,VAL,TEST",
                   help="shares of the kept pairs for clusters without a given split (0.8,0.1,0.1)")


def cmd_curate(args) -> int:
    from .curate import curate

    rows = curate(args.pairs, args.out, margin=args.margin, voxel_size=args.voxel_size, mask=args.mask,
                  mask_radius=args.mask_radius, mask_edge=args.mask_edge, threshold=args.threshold,
                  min_resolution=args.min_resolution, max_resolution=args.max_resolution,
                  identity_threshold=args.identity, split_fractions=_fractions(args.split_fractions))
    print(f"{'label':<22}{'split':<7}{'cluster':>7}  {'kept':<6}{'corr':>7}{'n':>7}  {'box (Å)':<14}"
          f"{'most identical pair in another set':<38}note")
    for r in rows:
        print(f"{r.label:<22}{r.split:<7}{r.cluster:>7}  {'yes' if r.kept else 'no':<6}{r.correlation:>7.3f}"
              f"{r.correlation_points:>7}  {r.box_A:<14}{r.nearest_other_split or '-':<38}{r.note}")
    kept = sum(r.kept for r in rows)
    print(f"{kept} of {len(rows)} pairs kept; {len({r.cluster for r in rows})} sequence-identity clusters "
          f"(≥ {args.identity:g} %); manifest: {Path(args.out) / 'curated.csv'}", file=sys.stderr)
    if not kept:
        raise EmganError(f"no pair passed the correlation threshold {args.threshold}", args.pairs)
    return 0


def _needs_simulator(task, checkpoint) -> None:
    if task.simulator is None:
        raise EmganError("this checkpoint was not trained from atomic models (no simulator)", str(checkpoint))


def _generate_arguments(p) -> None:
    p.add_argument("structure", metavar="MODEL", help="atomic model, PDB or mmCIF file")
    p.add_argument("-o", "--output", required=True, help="output MRC map (written atomically)")
    add_model_arguments(p, DEFAULT_MODEL, "shipped, above molmap on its held-out maps")
    p.add_argument("--ref-map", metavar="MAP", help="resample the result onto this map's grid")
    p.add_argument("--resolution", type=float, help="resolution of the map to generate, Å (models that simulate "
                   "their input at the map's resolution, as the default one, need it)")
    p.add_argument("--batch-size", type=int, help="32³ boxes per forward pass")
    p.add_argument("--tiles", action="store_true", help="each voxel computed once: the generator over the whole "
                   "map (tiles with a halo of its receptive field where memory is short) instead of 32³ boxes with "
                   "20³ cores; r > 0.99 with the boxes' map (README)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast of the generator's forward passes")
    p.add_argument("--device", default="auto", help="cpu, cuda … (default: cuda if available)")


def cmd_generate(args) -> int:
    from emgan_core.api import infer_to_file

    out, _, seconds, device = infer_to_file(
        trained_model(args), args.structure, args.output, ref_map=args.ref_map, device=args.device,
        eval={"batch_size": args.batch_size, "blend": "tiles" if args.tiles else None,
              "precision": "bf16" if args.bf16 else None}, resolution=args.resolution, check=_needs_simulator)
    print(f"{args.output}: struc2mapGAN map of {args.structure}, shape {out.shape}, {out.voxel_size[0]:.3g} Å voxels, "
          f"{seconds:.2f} s on {device}", file=sys.stderr)
    return 0


ACTIONS = (
    Action("curate", "curate experimental map + model pairs into training targets",
           "emgan struc2mapgan curate examples/data/struc2mapgan_pairs.csv -o out/curated",
           cmd_curate, _curate_arguments),
    Action("generate", "experimental-like map of an atomic model",
           "emgan struc2mapgan generate model.pdb --resolution 3.5 -o generated.mrc --ref-map experimental.mrc\n"
           "  emgan struc2mapgan generate model.pdb -o generated.mrc --ckpt runs/s2m",
           cmd_generate, _generate_arguments),
)
configure = configure_actions(*ACTIONS)
