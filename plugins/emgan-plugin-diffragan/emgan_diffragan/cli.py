"""``emgan diffragan simulate|build-dataset|generate|evaluate``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from emgan_core.api import (
    Action,
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
    from .simulate import simulate_triplet

    sim = build_simulator(args.recipe, args.sim_params, "diffragan simulate")
    t, elapsed = simulate_triplet(sim, args.structure, args.output, tuple(args.angles), args.seed)
    s = sim.image_size
    print(f"{Path(args.output)}: diffraction, low, high {s}×{s}; images {t.pixel_size:.4f} Å/pixel over {sim.cell:g} Å; "
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
    from emgan_core.api import Progress

    from .dataset import build_dataset

    sim = build_simulator(args.recipe, args.sim_params, "diffragan build-dataset")
    t0 = time.perf_counter()
    done: dict = {}
    with Progress("simulating triplets", args.orientations * len(args.structures), unit="triplet") as bar:
        def progress(path, computed, total):
            done[path] = computed
            bar.update(sum(done.values()) - bar.done)

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
    from .generate import generate

    stack, n, star = generate(trained_model(args), args.dataset, args.output, args.phaser_only, args.device,
                              args.eval_mode, args.seed)
    print(f"{Path(args.output)}: {n} generated images {stack.data.shape[-1]}² at {stack.pixel_size:.4f} Å/pixel; "
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


def cmd_export(args) -> int:
    from .export import export_store

    paths = export_store(args.dataset, args.output)
    print(f"{args.output}: {', '.join(p.name for p in paths.values())} (the store's finished triplets)")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    scores = evaluate(trained_model(args), args.dataset, args.threshold, args.png, args.control, args.device,
                      args.eval_mode, args.seed)
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(f"{args.dataset}: {scores['settings']['triplets']} triplets, {scores['settings']['pixel_size']:.4f} Å/pixel")
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
