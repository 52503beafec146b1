"""``emgan cryoetgan simulate|simulate-set|generate|classify|evaluate|downstream``."""

from __future__ import annotations

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

# -- simulation -------------------------------------------------------------------------------------

def _simulator(args, where: str):
    return simulator_from("subtomogram", args.recipe, args.sim_params, where)


def _simulate_arguments(p) -> None:
    p.add_argument("structure", help="PDB or mmCIF file")
    p.add_argument("-o", "--output", required=True, help="subtomogram MRC; the density goes to NAME_density.mrc")
    p.add_argument("--png", help="figure: XY/XZ central slices and the Fourier k_y = 0 plane of the density, the "
                   "subtomogram and the same reconstruction without noise")
    p.add_argument("--angles", nargs=3, type=float, metavar=("ROT", "TILT", "PSI"),
                   help="RELION Euler angles, degrees (default: random)")
    p.add_argument("--seed", type=int, default=0, help="orientation, shift and noise seed")
    add_simulator_args(p, "--set box=24 --set neighbours=0")


def cmd_simulate(args) -> int:
    from .simulate import density_path, simulate_subtomogram

    sample, sim, seconds = simulate_subtomogram(args.structure, args.output, args.recipe, args.sim_params, args.png,
                                                args.angles, args.seed)
    out = Path(args.output)
    print(f"{out}: {sample.subtomogram.shape} at {sim.voxel_size:g} Å/voxel ({sim.method}, tilts ±{sim.max_tilt:g}° "
          f"step {sim.angles[1] - sim.angles[0]:g}°, defocus {sim.defocus:g} Å, snr {sim.snr}), angles "
          f"{np.round(sample.angles, 1).tolist()}, {seconds:.2f} s; density: {density_path(out)}")
    return 0


def _simulate_set_arguments(p) -> None:
    p.add_argument("structures", nargs="+", help="PDB or mmCIF files; each one's file stem is its label")
    p.add_argument("-n", "--count", type=int, required=True, help="particles per structure")
    p.add_argument("-o", "--output", required=True, help="set folder (DIR/set.csv, DIR/density/, DIR/subtomogram/)")
    p.add_argument("--seed", type=int, default=0, help="orientations, shifts and noise")
    p.add_argument("--conventional", action="store_true",
                   help="also a 'conventional' column: the same particles by the conventional model (one CTF, "
                        "missing wedge as a Fourier mask, Gaussian noise at the same SNR)")
    add_simulator_args(p, "--set box=24 --set neighbours=0")


def cmd_simulate_set(args) -> int:
    from emgan_core.api import new_set_folder

    from .sets import simulate_set

    if args.count < 1:
        raise EmganError(f"--count must be >= 1, got {args.count}", "--count")
    sim = _simulator(args, "cryoetgan simulate-set")
    t0 = time.perf_counter()
    with new_set_folder(args.output, overwrite_allowed()) as folder:
        names = simulate_set(sim, args.structures, args.count, folder, seed=args.seed,
                             conventional=args.conventional)
    print(f"{args.output}/set.csv: {len(names) * args.count} particles ({args.count} × {', '.join(names)}), box "
          f"{sim.box}³ at {sim.voxel_size:g} Å/voxel, {sim.method}; {time.perf_counter() - t0:.1f} s")
    return 0


# -- trained models ----------------------------------------------------------------------------------

DEFAULT_MODEL = "cryoetgan-synthetic"
"""The shipped translator of the quickstart's domains (its card: ``emgan models show cryoetgan-synthetic``)."""


def _generate_arguments(p) -> None:
    p.add_argument("set", help="set table (CSV/STAR)")
    add_model_arguments(p, DEFAULT_MODEL, "16³ boxes at 7 Å/voxel, Gaussian maps → subtomograms")
    p.add_argument("-o", "--output", required=True, help="new set folder (DIR/set.csv, DIR/generated/)")
    p.add_argument("--column", default="density", help="path column of the table to translate (density)")
    p.add_argument("--direction", choices=("ab", "ba"), help="default: the recipe's (ab: domain A to B)")


def cmd_generate(args) -> int:
    from .generate import translate_set

    n = translate_set(trained_model(args), args.set, args.output, args.column, args.direction, overwrite_allowed())
    print(f"{args.output}/set.csv: {n} generated samples from {args.set} ({args.column})")
    return 0


def _classify_arguments(p) -> None:
    p.add_argument("classifier", help="run folder or checkpoint of task/classify")
    p.add_argument("set", help="set table")
    p.add_argument("--column", help="path column (default: subtomogram, density, generated or path)")
    p.add_argument("-o", "--output", required=True, help="CSV: label, predicted, one probability column per class")


def cmd_classify(args) -> int:
    from .classify import classify_set

    accuracy, labelled = classify_set(args.classifier, args.set, args.output, args.column)
    if accuracy is not None:
        print(f"accuracy {accuracy:.3f} on {labelled} labelled samples; {args.output}")
    return 0


def _evaluate_arguments(p) -> None:
    add_model_arguments(p, DEFAULT_MODEL)
    p.add_argument("--classifier", required=True, help="classifier trained on labelled real (domain B) data")
    p.add_argument("--source", required=True, help="set table of domain-A samples to translate")
    p.add_argument("--column", default="density", help="path column of --source (density)")
    p.add_argument("--real", required=True, help="set table of real domain-B samples")
    p.add_argument("--real-column", default="subtomogram", help="path column of --real (subtomogram)")
    p.add_argument("--k", type=int, default=5, help="neighbours of PRDC (5)")
    p.add_argument("--json", help="also write the scores here")


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    scores = evaluate(trained_model(args), args.classifier, args.source, args.column, args.real, args.real_column,
                      args.k, json_path=args.json)
    for name, value in scores["overall"].items():
        print(f"{name:32s} {value:.4f}")
    for label, values in scores["per_class"].items():
        print(f"{label:16s} " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return 0


def _downstream_arguments(p) -> None:
    p.add_argument("checkpoint", help="run folder or checkpoint of task/cycle, or a model's name")
    p.add_argument("--train", required=True, help="labelled domain-A set: its density column is translated, its "
                   "conventional column is the baseline")
    p.add_argument("--conventional-column", default="conventional",
                   help="path column of --train with the conventional simulations (conventional)")
    p.add_argument("--real-train", help="labelled real set (subtomogram column): the ceiling classifier, whose "
                   "embeddings give FID and PRDC")
    p.add_argument("--test", required=True, help="labelled real set (its subtomogram column) to test on")
    p.add_argument("--k", type=int, default=5, help="neighbours of PRDC (5)")
    p.add_argument("-o", "--output", required=True, help="folder: generated set, three classifier runs, results.json")
    p.add_argument("--recipe", default="cryoetgan-classifier", help="classifier recipe (its data is replaced)")
    p.add_argument("--steps", type=int, help="training steps of each classifier (default: the recipe's)")
    p.add_argument("params", nargs="*", default=[], metavar="KEY=VALUE",
                   help="classifier recipe overrides, e.g. classifier.params.channels=8")


def cmd_downstream(args) -> int:
    from .downstream import downstream

    results = downstream(args.checkpoint, args.train, args.test, Path(args.output), args.recipe, args.steps,
                         overwrite_allowed(), args.params, args.real_train, args.conventional_column, args.k)
    for name, value in results["accuracy"].items():
        print(f"accuracy on the real test set, classifier trained on {name:12s}: {value:.3f} "
              f"(chance {results['chance']:.3f}, majority class {results['majority']:.3f})")
    for name, values in results["scores_vs_test"].items():
        print(f"{name:12s} vs real test: " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
    print(f"{args.output}/results.json")
    return 0


def _microtubules_arguments(p) -> None:
    p.add_argument("folder", help="folder with 13pf_MT.tif and 14pf_MT.tif (ImageJ TIFF stacks, (z, y, x))")
    p.add_argument("-o", "--output", required=True, help="folder: real-train/, real-test/, model/ (each set.csv)")
    p.add_argument("--box", type=int, default=16, help="box edge after binning, voxels (16)")
    p.add_argument("--bin", type=int, default=2, help="binning of the tomogram (2: 21.04 Å voxels)")
    p.add_argument("--step", type=float, default=2.0, help="spacing of the boxes along the axis, tomogram voxels (2)")
    p.add_argument("--count", type=int, default=64, help="lattice models per class (64)")
    p.add_argument("--seed", type=int, default=0)
    add_simulator_args(p, "--set snr=0.05")


def cmd_microtubules(args) -> int:
    from .microtubules import microtubule_sets

    t0 = time.perf_counter()
    counts, voxel, models = microtubule_sets(args.folder, args.output, box=args.box, bin=args.bin, step=args.step,
                                             count=args.count, seed=args.seed, recipe=args.recipe,
                                             settings=args.sim_params, overwrite=overwrite_allowed())
    print(f"{Path(args.output)}: real boxes {counts} at {voxel:g} Å/voxel, box {args.box}³; {models} lattice models; "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


ACTIONS = (
    Action("simulate", "one subtomogram of a structure, its clean density and a PNG of slices",
           "emgan cryoetgan simulate examples/data/1aki.pdb -o out/1aki_subtomogram.mrc --png out/1aki.png",
           cmd_simulate, _simulate_arguments),
    Action("simulate-set", "a labelled set: COUNT particles per structure, density and subtomogram",
           "emgan cryoetgan simulate-set examples/data/1aki.pdb examples/data/1a0k.pdb --count 48 "
           "--seed 1 --recipe cryoetgan-quickstart -o out/cryoetgan/train-d",
           cmd_simulate_set, _simulate_set_arguments),
    Action("generate", "translate a set with a trained cycle GAN; labels carried over",
           "emgan cryoetgan generate out/cryoetgan/train-d/set.csv -o out/cryoetgan/generated",
           cmd_generate, _generate_arguments),
    Action("classify", "class probabilities of a set with a trained classifier, as CSV",
           "emgan cryoetgan classify out/cryoetgan/classifier out/cryoetgan/test/set.csv -o out/predictions.csv",
           cmd_classify, _classify_arguments),
    Action("evaluate", "FID, Inception Score, PRDC, SSIM and per-class diversity of generated samples",
           "emgan cryoetgan evaluate --ckpt out/cryoetgan/run --classifier out/cryoetgan/classifier "
           "--source out/cryoetgan/test/set.csv --real out/cryoetgan/train-s/set.csv",
           cmd_evaluate, _evaluate_arguments),
    Action("downstream", "classifiers trained on conventional simulations, on generated ones and on real "
                         "subtomograms, tested on held-out real ones; FID/PRDC of the training sets",
           "emgan cryoetgan downstream out/cryoetgan/run --train out/cryoetgan/train-d/set.csv "
           "--real-train out/cryoetgan/train-s/set.csv --test out/cryoetgan/test/set.csv "
           "-o out/cryoetgan/downstream", cmd_downstream, _downstream_arguments),
    Action("microtubules",
           "real 13- and 14-protofilament microtubule subtomograms (train/test along the "
           "axis) and helical-lattice models of them with conventional simulations: three labelled sets",
           "emgan cryoetgan microtubules ../shared/data/subtomograms -o out/cryoetgan/mt",
           cmd_microtubules, _microtubules_arguments),
)
configure = configure_actions(*ACTIONS)
