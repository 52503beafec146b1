"""``emgan superem import-weights|enhance|evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from emgan_core.cli import add_action, add_actions
from emgan_core.errors import EmganError

EXAMPLES = {
    "import-weights": "emgan superem import-weights G_model -o superem.ckpt",
    "enhance": "emgan superem enhance map.mrc -o enhanced.mrc --ckpt superem.ckpt --contour 0.02",
    "evaluate": "emgan superem evaluate map.mrc enhanced.mrc --model model.pdb --resolution 3.3",
}


def _parser(sub, name: str, help: str) -> argparse.ArgumentParser:
    return add_action(sub, name, help, EXAMPLES[name])


def configure(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    p = _parser(sub, "import-weights", "convert the published EM-GAN generator (G_model) to an emgan checkpoint")
    p.add_argument("weights", help="published state dict (EM-GAN model/G_model)")
    p.add_argument("-o", "--output", required=True, help="emgan checkpoint to write (atomically)")
    p.add_argument("--stride", type=int, default=4, help="default inference stride in voxels (4)")
    p.set_defaults(func=cmd_import)

    p = _parser(sub, "enhance", "enhance a whole map with a SuperEM generator")
    p.add_argument("map", help="input map (MRC/CCP4), any voxel size")
    p.add_argument("-o", "--output", required=True, help="output MRC, on the input's grid (written atomically)")
    p.add_argument("--ckpt", required=True, help="checkpoint file or run directory")
    p.add_argument("--stride", type=int, help="cube stride in voxels (paper: 4)")
    p.add_argument("--blend", choices=["average", "hann"], help="merge of overlapping cubes (paper: average)")
    p.add_argument("--fast", action="store_true", help="stride 8: ~5× faster, r ≥ 0.99 with stride 4 (benchmarks/superem_infer.py)")
    p.add_argument("--contour", type=float, help="zero densities below this level (map units) first")
    p.add_argument("--batch-size", type=int, help="cubes per forward pass (8)")
    p.add_argument("--device", default="auto", help="cpu, cuda … (default: cuda if available)")
    p.set_defaults(func=cmd_enhance)

    p = _parser(sub, "evaluate", "compare a map and its enhanced version against the model")
    p.add_argument("before", help="input map")
    p.add_argument("after", help="enhanced map (same grid as the input)")
    p.add_argument("--model", required=True, help="atomic model fitted in the map (PDB/mmCIF)")
    p.add_argument("--resolution", type=float, required=True, help="reported resolution of the input map (Å)")
    p.add_argument("--contour", type=float, help="contour of the input map (map units)")
    p.add_argument("--stride", type=int, default=12, help="cube grid step for the per-cube CC (12)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_import(args) -> int:
    from emgan_core.io.atomic import check_writable

    from .weights import import_weights

    check_writable(args.output)
    state = import_weights(args.weights, args.output, stride=args.stride)
    n = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    print(f"{args.output}: SuperEM generator, {n:,} parameters (published: 884,258 incl. 15 unused PReLU "
          f"weights), {len(state)} tensors")
    return 0


def cmd_enhance(args) -> int:
    from emgan_core.inference import load_for_inference, resolve_device
    from emgan_core.io import read_map, write_map
    from emgan_core.io.atomic import check_writable

    check_writable(args.output)
    source = read_map(args.map)
    device = resolve_device(args.device)
    task, _ = load_for_inference(args.ckpt, device)
    if not hasattr(task, "cube"):
        raise EmganError("not a SuperEM checkpoint (task is not superem)", args.ckpt)
    t0 = time.perf_counter()
    stride, blend = (args.stride or 8, args.blend) if args.fast else (args.stride, args.blend)
    out = task.infer(source, batch_size=args.batch_size, device=device, stride=stride, contour=args.contour,
                     blend=blend)
    seconds = time.perf_counter() - t0
    write_map(args.output, out)
    print(f"{args.output}: shape {out.shape}, {out.voxel_size[0]:.4g} Å voxels, {seconds:.1f} s on {device}")
    return 0


def cmd_evaluate(args) -> int:
    from emgan_core.io import read_map, read_structure
    from emgan_core.metrics import fsc
    from emgan_core.transforms import resample_to_grid

    from .metrics import cube_improvement, model_resolution
    from .prepare import prepare_input, prepare_pair

    pair = prepare_pair(args.before, args.model, args.resolution, args.contour)
    after = prepare_input(read_map(args.after), 1.0)
    after = after.with_data(resample_to_grid(after, pair.input).data)
    atoms = read_structure(args.model)
    cubes = cube_improvement(pair.input, after, pair.target, stride=args.stride)
    d_before, d_after = model_resolution(pair.input, atoms), model_resolution(after, atoms)
    f_before, f_after = fsc(pair.input, pair.target).values, fsc(after, pair.target).values
    report = {"cubes": cubes, "d_model_before_A": d_before["d_model_A"], "d_model_after_A": d_after["d_model_A"],
              "fsc_before": f_before, "fsc_after": f_after, "target_resolution_A": pair.target_resolution}
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"per-cube CC vs the {pair.target_resolution:g} Å model map ({int(cubes['cubes'])} cubes): "
          f"{cubes['cc_before']:.3f} → {cubes['cc_after']:.3f}, improved in {100 * cubes['improved_fraction']:.1f} %")
    print(f"d_model: {d_before['d_model_A']:.2f} Å → {d_after['d_model_A']:.2f} Å "
          f"(improvement {d_before['d_model_A'] - d_after['d_model_A']:+.2f} Å)")
    for t in ("0.5", "0.143"):
        print(f"FSC-{t} with the model map: {f_before[f'resolution_{t}_A']:.2f} Å → {f_after[f'resolution_{t}_A']:.2f} Å")
    return 0
