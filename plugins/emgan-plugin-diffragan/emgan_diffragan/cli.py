"""``emgan diffragan simulate|build-dataset|generate|evaluate``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from emgan_core.api import (
    Action,
    EmganError,
    add_model_arguments,
    add_simulator_args,
    configure_actions,
    overwrite_allowed,
    simulator_from,
    trained_model,
)


def _test_time_args(p) -> None:
    p.add_argument("--eval-mode", action="store_true", help="generator in eval mode (dropout off, running "
                   "batch-norm statistics) instead of pix2pix's test-time dropout and batch statistics")
    p.add_argument("--seed", type=int, default=0, help="torch seed of the test-time dropout (0)")


def build_simulator(recipe: str | None, params: list[str], where: str):
    """``simulator/abtem-triplet`` with the recipe's settings (if any) updated by KEY=VALUE words."""
    return simulator_from("abtem-triplet", recipe, params, where)


def _simulate_arguments(p) -> None:
    p.add_argument("structure", help="PDB or mmCIF file")
    p.add_argument("-o", "--output", required=True, help="folder for triplet_{diffraction,low,high}.mrcs and triplet.png")
    p.add_argument("--angles", nargs=3, type=float, default=(0.0, 0.0, 0.0), metavar=("ROT", "TILT", "PSI"),
                   help="RELION Euler angles, degrees (0 0 0)")
    p.add_argument("--seed", type=int, default=0, help="Poisson noise seed")
    add_simulator_args(p, "--set image_size=64 --set sampling=0.25")


def cmd_simulate(args) -> int:
    from emgan_core.api import check_output

    from .figures import triplet_figure
    from .simulator import CHANNELS

    sim = build_simulator(args.recipe, args.sim_params, "diffragan simulate")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name in [f"triplet_{c}.mrcs" for c in CHANNELS] + ["triplet.png"]:
        check_output(out / name)
    t0 = time.perf_counter()
    t = sim.simulate(args.structure, angles=[args.angles], seed=args.seed)
    elapsed = time.perf_counter() - t0
    sim.write_output(t, out / "triplet.mrcs")
    triplet_figure(t.diffraction[0], t.low[0], t.high[0], t.pixel_size, t.angular_sampling, out / "triplet.png",
                   f"{Path(args.structure).stem} at ({', '.join(f'{a:g}' for a in args.angles)})°")
    s = sim.image_size
    print(f"{out}: diffraction, low, high {s}×{s}; images {t.pixel_size:.4f} Å/pixel over {sim.cell:g} Å; "
          f"diffraction {t.angular_sampling:.4f} mrad/pixel to ±{sim.max_angle:g} mrad; "
          f"wave sampling {sim.sampling} Å; low-res dose {t.dose[0]:.1f} e/Å²; {elapsed:.2f} s")
    return 0


def _build_dataset_arguments(p) -> None:
    p.add_argument("structures", nargs="+", help="PDB or mmCIF files")
    p.add_argument("-n", "--orientations", type=int, required=True, help="triplets per structure")
    p.add_argument("-o", "--output", required=True, help="dataset folder")
    p.add_argument("--random", action="store_true", help="uniformly random orientations (default: Z-Y-Z grid)")
    p.add_argument("--seed", type=int, default=0, help="orientations (with --random) and noise")
    p.add_argument("--workers", type=int, default=2, help="local Dask worker processes (2)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786) instead")
    p.add_argument("--chunk", type=int, default=8, help="triplets per task (8)")
    add_simulator_args(p, "--set image_size=64 --set sampling=0.25")


def cmd_build(args) -> int:
    from .dataset import build_dataset

    sim = build_simulator(args.recipe, args.sim_params, "diffragan build-dataset")
    t0 = time.perf_counter()

    def progress(path, done, total):
        print(f"{path}: {done}/{total} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    reports = build_dataset(args.structures, args.output, args.orientations, sim,
                            mode="random" if args.random else "grid", seed=args.seed, chunk=args.chunk,
                            workers=args.workers, scheduler=args.scheduler, overwrite=overwrite_allowed(),
                            on_chunk=progress)
    elapsed = time.perf_counter() - t0
    for r in reports:
        print(f"{r.path}: {r.computed} computed, {r.skipped} already done")
    computed = sum(r.computed for r in reports)
    rate = f", {elapsed / computed:.2f} s/triplet" if computed else ""
    print(f"{len(reports)} store(s) in {elapsed:.1f} s{rate}")
    return 0


def _load(checkpoint, dataset, device, args=None):
    import torch

    from emgan_core.api import load_for_inference, resolve_device

    from .dataset import TripletStore
    from .task import DiffraGANTask

    device = resolve_device(device)
    task, ckpt = load_for_inference(checkpoint, device,
                                    test_mode="eval" if getattr(args, "eval_mode", False) else None)
    torch.manual_seed(int(getattr(args, "seed", 0)))
    if not isinstance(task, DiffraGANTask):
        raise EmganError(f"not a DiffraGAN checkpoint (task/{ckpt['components']['task']['name']})",
                         str(checkpoint))
    return task, TripletStore(dataset), device


DEFAULT_MODEL = "diffragan-phasing-small"
"""The shipped phasing model (its card: ``emgan models show diffragan-phasing-small``)."""


def _generate_arguments(p) -> None:
    p.add_argument("dataset", help="triplet store (.zarr) made with the model's simulator settings")
    add_model_arguments(p, DEFAULT_MODEL, "64² triplets, 70 Å cell, 200 keV")
    p.add_argument("-o", "--output", required=True, help=".mrcs stack; the STAR file is written beside it")
    p.add_argument("--phaser-only", action="store_true", help="the phasing generator's classical phaser alone "
                   "(hybrid input-output from the pattern and the low-res image), without the network")
    p.add_argument("--device", default="auto")
    _test_time_args(p)


def cmd_generate(args) -> int:
    from emgan_core.api import check_output, write_image_stack, write_particle_star

    out = Path(args.output)
    star = out.with_suffix(".star")
    check_output(out)
    check_output(star)
    task, store, device = _load(trained_model(args), args.dataset, args.device, args)
    index = np.flatnonzero(store.done())
    stack = task.infer(store, device=device, indices=index, phaser_only=args.phaser_only)
    settings = store.settings
    write_image_stack(out, stack)
    try:
        write_particle_star(star, out, store.angles()[index], stack.pixel_size, stack.data.shape[-1],
                            voltage=float(settings["energy"]), cs=0.0, amplitude_contrast=0.0)
    except BaseException:
        out.unlink(missing_ok=True)  # no stack without its STAR file
        raise
    print(f"{out}: {len(index)} generated images {stack.data.shape[-1]}² at {stack.pixel_size:.4f} Å/pixel; "
          f"{star} holds their Euler angles")
    return 0


def _evaluate_arguments(p) -> None:
    p.add_argument("dataset", help="triplet store (.zarr), e.g. of a held-out protein")
    add_model_arguments(p, DEFAULT_MODEL)
    p.add_argument("--threshold", type=float, default=0.1, help="difference mask: fraction of the range (0.1)")
    p.add_argument("--png", help="write a figure of a few triplets with their generated images")
    p.add_argument("--control", action="store_true",
                   help="also score images generated with each triplet's diffraction pattern swapped for "
                        "another triplet's (swapped) and with a blank pattern (blank): what the pattern "
                        "contributes; and, for a phasing generator, its classical phaser alone (phaser): "
                        "what the network adds")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print JSON")
    _test_time_args(p)


def _export_arguments(p) -> None:
    p.add_argument("dataset", help="triplet store (.zarr)")
    p.add_argument("-o", "--output", required=True, help="folder for diffraction.mrcs, low.mrcs, high.mrcs")


def export_store(dataset, folder) -> dict[str, Path]:
    """The finished triplets of a store as three .mrcs stacks (written atomically) in ``folder``."""
    from emgan_core.api import ImageStack, check_output, write_image_stack

    from .dataset import CHANNELS, TripletStore

    store, folder = TripletStore(dataset), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.mrcs" for name in CHANNELS}
    for path in paths.values():
        check_output(path)
    arrays = store.load()
    for name, path in paths.items():
        write_image_stack(path, ImageStack(arrays[name], store.pixel_size))
    return paths


def cmd_export(args) -> int:
    paths = export_store(args.dataset, args.output)
    print(f"{args.output}: {', '.join(p.name for p in paths.values())} (the store's finished triplets)")
    return 0


def evaluation_benchmark(checkpoint, dataset, exported: dict[str, Path], threshold: float = 0.1,
                         control: bool = False, eval_mode: bool = False, seed: int = 0, phaser: bool = False):
    """The benchmark ``evaluate`` runs (the same as a shipped benchmark file would give to ``emgan
    bench``): the generated images and the low-res input (``input`` control on its ``baseline``)
    against the high-res truth, with the swapped- and blank-pattern controls if asked (``control``)
    and, for a phasing generator (``phaser``), its classical phaser alone: what the network adds."""
    from emgan_core.api import Benchmark

    mode = {"test_mode": "eval"} if eval_mode else {}
    methods = [{"label": "generated", "checkpoint": str(checkpoint), **mode},
               {"label": "low", "control": "input"}]
    if control:
        methods += [{"label": p, "checkpoint": str(checkpoint), "options": {"pattern": p}, **mode}
                    for p in ("swapped", "blank")]
        if phaser:
            methods.append({"label": "phaser", "checkpoint": str(checkpoint), "options": {"phaser_only": True},
                            **mode})
    inputs = [{"label": Path(dataset).stem, "input": str(dataset), "reference": str(exported["high"]),
               "baseline": str(exported["low"])}]
    metrics = ["image-scores", {"name": "difference-mask", "params": {"threshold": threshold}}]
    return Benchmark("diffragan-evaluate", inputs, methods, metrics, normalise="none", seed=seed)


def cmd_evaluate(args) -> int:
    import tempfile

    from emgan_core.api import check_output, resolve_device, run_benchmark

    from .figures import comparison_figure
    from .metrics import difference_mask

    if args.png:
        check_output(args.png)  # before the work: a missing folder or an existing file is known now
    task, store, device = _load(trained_model(args), args.dataset, args.device, args)
    arrays = store.load()
    if args.control and len(arrays["high"]) < 2:
        raise EmganError("--control needs at least 2 triplets", args.dataset)
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_store(args.dataset, tmp)
        bench = evaluation_benchmark(trained_model(args), args.dataset, exported, args.threshold, args.control,
                                     args.eval_mode, args.seed, phaser=hasattr(task.generator, "phased"))
        for method in bench.methods:  # the model loaded once serves every checkpoint method
            if "checkpoint" in method:
                method["_loaded"] = (task, None)
        results = {r.method: r for r in run_benchmark(bench, resolve_device(args.device))}
    scores = {name: {**r.values, "frc_curve": r.curves.get("frc", {})} for name, r in results.items()}
    if args.png:
        generated = results["generated"].output.data
        comparison_figure(arrays["diffraction"], arrays["low"], generated, arrays["high"],
                          difference_mask(generated, arrays["high"], args.threshold), store.pixel_size, args.png)
    scores["settings"] = {"triplets": int(len(results["generated"].output.data)), "pixel_size": store.pixel_size,
                          "threshold": args.threshold, "test_mode": task.test_mode, "seed": args.seed}
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(f"{args.dataset}: {scores['settings']['triplets']} triplets, {store.pixel_size:.4f} Å/pixel")
    print(f"{'':10s} {'FRC-0.5 Å':>10s} {'FRC-0.143 Å':>12s} {'SSIM':>6s} {'PSNR dB':>8s} {'masked':>7s}")
    for name in ("low", "generated", "phaser", "swapped", "blank"):
        if name in scores:
            s = scores[name]
            print(f"{name:10s} {s['frc_0.5_A']:10.2f} {s['frc_0.143_A']:12.2f} {s['ssim']:6.3f} "
                  f"{s['psnr_dB']:8.2f} {s['masked_fraction']:7.3f}")
    return 0


ACTIONS = (
    Action("simulate", "simulate one triplet; write its three images (.mrcs) and a PNG",
           "emgan diffragan simulate examples/data/1aki.pdb --angles 0 45 90 -o out/triplet",
           cmd_simulate, _simulate_arguments),
    Action("build-dataset", "simulate N triplets per structure into DIR/<name>.zarr with Dask; resumes",
           "emgan diffragan build-dataset examples/data/1aki.pdb examples/data/1ubq.pdb "
           "--orientations 1078 -o out/triplets --recipe diffragan-quickstart",
           cmd_build, _build_dataset_arguments),
    Action("export", "write a triplet store's three image stacks (.mrcs), e.g. as benchmark references",
           "emgan diffragan export out/triplets/1orc.zarr -o out/1orc", cmd_export, _export_arguments),
    Action("generate", "generate high-res images of a triplet store: .mrcs + RELION STAR with angles",
           "emgan diffragan generate out/triplets/1orc.zarr -o out/1orc_generated.mrcs",
           cmd_generate, _generate_arguments),
    Action("evaluate", "score generated and low-res images against the high-res truth (FRC, SSIM)",
           "emgan diffragan evaluate out/triplets/1orc.zarr --control --png out/1orc.png",
           cmd_evaluate, _evaluate_arguments),
)
configure = configure_actions(*ACTIONS)
