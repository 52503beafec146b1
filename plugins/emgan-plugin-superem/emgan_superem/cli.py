"""``emgan superem import-weights|enhance|prepare|evaluate``."""

from __future__ import annotations

import json
import sys
import time

from emgan_core.api import Action, EmganError, add_model_arguments, configure_actions, trained_model

from .paper import PAPER_STRIDE


def _import_weights_arguments(p) -> None:
    p.add_argument("weights", help="published state dict (EM-GAN model/G_model)")
    p.add_argument("-o", "--output", required=True, help="emgan checkpoint to write (atomically)")
    p.add_argument("--stride", type=int, help="the checkpoint's inference window stride in voxels (paper: 4)")


def cmd_import(args) -> int:
    from emgan_core.api import check_output

    from .weights import import_weights, parameter_count

    check_output(args.output, inputs=[args.weights])
    state = import_weights(args.weights, args.output, stride=args.stride)
    n = parameter_count(state)
    print(f"{args.output}: SuperEM generator, {n:,} parameters (published: 884,258 incl. 15 unused PReLU "
          f"weights), {len(state)} tensors")
    return 0


def _enhance_arguments(p) -> None:
    p.add_argument("map", help="input map (MRC/CCP4), any voxel size")
    p.add_argument("-o", "--output", required=True, help="output MRC, on the input's grid (written atomically)")
    add_model_arguments(p, "superem-published", "EM-GAN's weights, fetched on first use")
    p.add_argument("--stride", type=int, help="window stride in voxels (eval.window_stride; paper: 4)")
    p.add_argument("--blend", choices=["average", "hann", "tiles"], help="merge of overlapping cubes (paper: "
                   "average); tiles: the network once over the whole map, which is not what it learned on 25³ "
                   "cubes (r 0.35 with paper mode on EMD-2566, 0.25-0.93 on nine real maps: README)")
    p.add_argument("--windows", choices=["centre", "core", "nonempty", "all"],
                   help="cubes computed: centre voxel above the contour (published pipeline, default), "
                        "density in the central stride³ block, any density, all")
    p.add_argument("--fast", action="store_true",
                   help="stride 6: 2.5-3.4× fewer cubes; r 0.992-0.996 with the stride-4 output on maps of "
                        "60³ voxels and more, 0.98 on a 50³ cut-out (README; benchmarks/superem_infer.py)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--contour", type=float, help="zero densities below this level (map units) first")
    g.add_argument("--contour-model", metavar="PDB", help="atomic model: contour at the level enclosing its "
                   "molecular volume (1.21 Å³/Da); without --contour or --contour-model only negatives are zeroed")
    p.add_argument("--batch-size", type=int, help="cubes per forward pass (8)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast: 1.1× faster on 2 CPU cores, r 1.0000 "
                   "with fp32 (README)")
    p.add_argument("--device", default="auto", help="cpu, cuda … (default: cuda if available)")
    p.add_argument("--resolution", type=float, metavar="Å", help="the map's resolution: says whether the "
                   "published network helped maps of that resolution in its card's tests")


#: below this resolution (Å) the published weights' card shows no gain on most maps (1.75–3.9 Å)
NO_GAIN_BELOW = 4.5


def _warn_where_no_gain(resolution: float | None) -> None:
    """One line on stderr when the map's resolution is where the published network's card shows no
    gain (the network may still be what you want; the card has the figures)."""
    if resolution is None:
        print("note: give --resolution to learn whether the published network helped maps of that "
              "resolution in its tests (`emgan models show superem-published`)", file=sys.stderr)
    elif resolution < NO_GAIN_BELOW:
        print(f"warning: at {resolution:g} Å the published network lowered the map's correlation with its model "
              f"on 6 of the 9 maps of 1.75–3.9 Å in its card (flat on 1), and a 1 Å blur did as well; it helped "
              f"the 4.8 Å map (`emgan models show superem-published`)", file=sys.stderr)


def cmd_enhance(args) -> int:
    from emgan_core.api import check_output, load_for_inference, read_map, resolve_device, write_map

    trained = trained_model(args)
    check_output(args.output, inputs=[args.map, args.ckpt, args.contour_model])
    source = read_map(args.map, allow_stack=False)
    contour = args.contour
    if args.contour_model:
        from emgan_core.api import read_structure

        from .prepare import model_volume_contour

        contour = model_volume_contour(source, read_structure(args.contour_model))
    device = resolve_device(args.device)
    task, _ = load_for_inference(trained, device)
    if not hasattr(task, "cube"):
        raise EmganError("not a SuperEM checkpoint (task is not superem)", str(trained))
    if not args.ckpt:  # the published network: its card says where it helps
        _warn_where_no_gain(args.resolution)
    t0 = time.perf_counter()
    from .task import FAST

    settings = task.eval.replace(**(FAST if args.fast else {}))
    task.eval = settings.replace(window_stride=args.stride, blend=args.blend, windows=args.windows,
                                 batch_size=args.batch_size, precision="bf16" if args.bf16 else None)
    out = task.infer(source, device=device, contour=contour)
    seconds = time.perf_counter() - t0
    write_map(args.output, out)
    level = "none (negatives zeroed)" if contour is None else f"{contour:.4g}" + (" (model volume)" if args.contour_model else "")
    print(f"{args.output}: shape {out.shape}, {out.voxel_size[0]:.4g} Å voxels, contour {level}, "
          f"{seconds:.1f} s on {device}")
    return 0


def _evaluate_arguments(p) -> None:
    p.add_argument("before", help="input map")
    p.add_argument("after", help="enhanced map (same grid as the input)")
    p.add_argument("--model", required=True, help="atomic model fitted in the map (PDB/mmCIF)")
    p.add_argument("--resolution", type=float, required=True, help="reported resolution of the input map (Å)")
    p.add_argument("--contour", type=float,
                   help="contour of the input map (map units; default: the level enclosing the model's "
                        "molecular volume at 1.21 Å³/Da)")
    p.add_argument("--stride", type=int, default=PAPER_STRIDE, help=f"cube grid step for the per-cube CC (paper: {PAPER_STRIDE})")
    p.add_argument("--cc", choices=["about-zero", "about-mean", "pearson"], default="about-zero",
                   help="per-cube score: Chimera measure correlation about zero (paper, default) or about "
                        "the mean inside the model-map cube's contour, or Pearson over the whole cube")
    p.add_argument("--no-controls", action="store_true",
                   help="skip the controls (the input blurred, and the input's contour mask) scored alongside")
    p.add_argument("--json", action="store_true", help="print JSON")


def _prepare_arguments(p) -> None:
    p.add_argument("map", help="experimental map (MRC/CCP4), any voxel size")
    p.add_argument("--model", required=True, help="atomic model fitted in the map (PDB/mmCIF)")
    p.add_argument("--resolution", type=float, required=True, help="reported resolution of the map (Å)")
    p.add_argument("--contour", type=float, help="contour in map units (default: the level enclosing the "
                   "model's molecular volume at 1.21 Å³/Da)")
    p.add_argument("-o", "--output", required=True, help="folder for input.mrc and target.mrc")


def cmd_prepare(args) -> int:
    from pathlib import Path

    from .prepare import write_pair

    out = Path(args.output)
    pair = write_pair(args.map, args.model, args.resolution, args.contour, out)
    print(f"{out}: input.mrc (1 Å, zeroed below {pair.contour:.4g}, [0, 1]) and target.mrc (model map at "
          f"{pair.target_resolution:g} Å), {pair.input.shape} voxels")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    report = evaluate(args.before, args.after, args.model, args.resolution, args.contour, args.stride, args.cc,
                      with_controls=not args.no_controls)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    cubes, d_before, d_after = report["cubes"], report["d_model_before_A"], report["d_model_after_A"]
    print(f"contour {report['contour']:.4g} ({report['contour_rule']}); reference: model map at "
          f"{report['target_resolution_A']:g} Å; {int(cubes['cubes'])} cubes of 25 Å at stride {args.stride}")
    for name, c in cubes["by_method"].items():
        mark = " (paper)" if name == "about-zero" else ""
        print(f"per-cube CC {name}{mark}: {c['cc_before']:.3f} → {c['cc_after']:.3f}, "
              f"improved in {100 * c['improved_fraction']:.1f} %")
    print(f"d_model: {d_before:.2f} Å → {d_after:.2f} Å (improvement {d_before - d_after:+.2f} Å)")
    for name, c in report.get("controls", {}).items():
        scores = ", ".join(f"{m} {v['cc_after']:.3f} ({100 * v['improved_fraction']:.0f} % up)"
                           for m, v in c["cubes"]["by_method"].items())
        print(f"control '{name}' (should not beat the network): {scores}; d_model {c['d_model_after_A']:.2f} Å")
    f_before, f_after = report["fsc_before"], report["fsc_after"]
    for t in ("0.5", "0.143"):
        print(f"FSC-{t} with the model map: {f_before[f'resolution_{t}_A']:.2f} Å → {f_after[f'resolution_{t}_A']:.2f} Å")
    return 0


ACTIONS = (
    Action("import-weights", "convert the published EM-GAN generator (G_model) to an emgan checkpoint",
           "emgan superem import-weights G_model -o superem.ckpt", cmd_import, _import_weights_arguments),
    Action("enhance", "enhance a whole map with a SuperEM generator",
           "emgan superem enhance map.mrc -o enhanced.mrc --contour-model model.pdb --resolution 4.8",
           cmd_enhance, _enhance_arguments),
    Action("prepare", "write a map and its model map as the paper prepares them (benchmark input and reference)",
           "emgan superem prepare map.mrc --model model.pdb --resolution 3.2 -o out/superem-map",
           cmd_prepare, _prepare_arguments),
    Action("evaluate", "compare a map and its enhanced version against the model",
           "emgan superem evaluate map.mrc enhanced.mrc --model model.pdb --resolution 3.3",
           cmd_evaluate, _evaluate_arguments),
)
configure = configure_actions(*ACTIONS)
