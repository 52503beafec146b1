"""``emgan cryoetgan simulate|simulate-set|generate|classify|evaluate|downstream``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emgan_core.cli import add_action, add_actions, add_simulator_args, simulator_from
from emgan_core.errors import EmganError

EXAMPLES = {
    "simulate": "emgan cryoetgan simulate examples/data/1aki.pdb -o out/1aki_subtomogram.mrc --png out/1aki.png",
    "simulate-set": "emgan cryoetgan simulate-set examples/data/1aki.pdb examples/data/1a0k.pdb --count 48 "
                    "--seed 1 --recipe cryoetgan-quickstart -o out/cryoetgan/train-d",
    "generate": "emgan cryoetgan generate out/cryoetgan/run out/cryoetgan/train-d/set.csv -o out/cryoetgan/generated",
    "classify": "emgan cryoetgan classify out/cryoetgan/classifier out/cryoetgan/test/set.csv -o out/predictions.csv",
    "evaluate": "emgan cryoetgan evaluate out/cryoetgan/run --classifier out/cryoetgan/classifier "
                "--source out/cryoetgan/test/set.csv --real out/cryoetgan/train-s/set.csv",
    "downstream": "emgan cryoetgan downstream out/cryoetgan/run --train out/cryoetgan/train-d/set.csv "
                  "--test out/cryoetgan/test/set.csv -o out/cryoetgan/downstream",
}


def _parser(sub, name: str, help: str) -> argparse.ArgumentParser:
    return add_action(sub, name, help, EXAMPLES[name])


def configure(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    p = _parser(sub, "simulate", "one subtomogram of a structure, its clean density and a PNG of slices")
    p.add_argument("structure", help="PDB or mmCIF file")
    p.add_argument("-o", "--output", required=True, help="subtomogram MRC; the density goes to NAME_density.mrc")
    p.add_argument("--png", help="figure: XY/XZ central slices and the Fourier k_y = 0 plane of the density, the "
                   "subtomogram and the same reconstruction without noise")
    p.add_argument("--angles", nargs=3, type=float, metavar=("ROT", "TILT", "PSI"),
                   help="RELION Euler angles, degrees (default: random)")
    p.add_argument("--seed", type=int, default=0, help="orientation, shift and noise seed")
    add_simulator_args(p, "--set box=24 --set method=wedge")
    p.set_defaults(func=cmd_simulate)

    p = _parser(sub, "simulate-set", "a labelled set: COUNT particles per structure, density and subtomogram")
    p.add_argument("structures", nargs="+", help="PDB or mmCIF files; each one's file stem is its label")
    p.add_argument("-n", "--count", type=int, required=True, help="particles per structure")
    p.add_argument("-o", "--output", required=True, help="set folder (DIR/set.csv, DIR/density/, DIR/subtomogram/)")
    p.add_argument("--seed", type=int, default=0, help="orientations, shifts and noise")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    add_simulator_args(p, "--set box=24 --set method=wedge")
    p.set_defaults(func=cmd_simulate_set)

    p = _parser(sub, "generate", "translate a set with a trained cycle GAN; labels carried over")
    p.add_argument("checkpoint", help="run folder or checkpoint of task/cycle")
    p.add_argument("set", help="set table (CSV/STAR)")
    p.add_argument("-o", "--output", required=True, help="new set folder (DIR/set.csv, DIR/generated/)")
    p.add_argument("--column", default="density", help="path column of the table to translate (density)")
    p.add_argument("--direction", choices=("ab", "ba"), help="default: the recipe's (ab: domain A to B)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = _parser(sub, "classify", "class probabilities of a set with a trained classifier, as CSV")
    p.add_argument("classifier", help="run folder or checkpoint of task/classify")
    p.add_argument("set", help="set table")
    p.add_argument("--column", help="path column (default: subtomogram, density, generated or path)")
    p.add_argument("-o", "--output", required=True, help="CSV: label, predicted, one probability column per class")
    p.set_defaults(func=cmd_classify)

    p = _parser(sub, "evaluate", "FID, Inception Score, PRDC, SSIM and per-class diversity of generated samples")
    p.add_argument("checkpoint", help="run folder or checkpoint of task/cycle")
    p.add_argument("--classifier", required=True, help="classifier trained on labelled real (domain B) data")
    p.add_argument("--source", required=True, help="set table of domain-A samples to translate")
    p.add_argument("--column", default="density", help="path column of --source (density)")
    p.add_argument("--real", required=True, help="set table of real domain-B samples")
    p.add_argument("--real-column", default="subtomogram", help="path column of --real (subtomogram)")
    p.add_argument("--k", type=int, default=5, help="neighbours of PRDC (5)")
    p.add_argument("--json", help="also write the scores here")
    p.set_defaults(func=cmd_evaluate)

    p = _parser(sub, "downstream", "classifier trained on plain simulations vs on generated ones, tested on real")
    p.add_argument("checkpoint", help="run folder or checkpoint of task/cycle")
    p.add_argument("--train", required=True, help="labelled domain-A set (its density column) to train on")
    p.add_argument("--test", required=True, help="labelled real set (its subtomogram column) to test on")
    p.add_argument("-o", "--output", required=True, help="folder: generated set, two classifier runs, results.json")
    p.add_argument("--recipe", default="cryoetgan-classifier", help="classifier recipe (its data is replaced)")
    p.add_argument("--steps", type=int, help="training steps of each classifier (default: the recipe's)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("params", nargs="*", default=[], metavar="KEY=VALUE",
                   help="classifier recipe overrides, e.g. classifier.params.channels=8")
    p.set_defaults(func=cmd_downstream)


# -- simulation -------------------------------------------------------------------------------------

def _simulator(args, where: str):
    return simulator_from("subtomogram", args.recipe, args.sim_params, where)


def cmd_simulate(args) -> int:
    from emgan_core.io import read_structure, write_map
    from emgan_core.io.atomic import check_writable

    from .figures import slices_figure

    out = check_writable(args.output)
    density_path = out.with_name(out.name.split(".")[0] + "_density" + "".join(out.suffixes))
    check_writable(density_path)
    if args.png:
        check_writable(args.png)
    sim = _simulator(args, "cryoetgan simulate")
    atoms = read_structure(args.structure)
    t0 = time.perf_counter()
    sample = sim.sample(atoms, np.random.default_rng(args.seed), angles=args.angles)
    seconds = time.perf_counter() - t0
    write_map(density_path, sample.density)
    write_map(out, sample.subtomogram)
    if args.png:
        import copy

        noiseless = copy.copy(sim)
        noiseless.snr = None
        clean = noiseless.corrupt(sample.density.data, np.random.default_rng(args.seed))
        slices_figure({"density": sample.density.data, "subtomogram": sample.subtomogram.data,
                       "without noise": clean}, sim.voxel_size,
                      args.png, f"{Path(args.structure).stem}, {sim.method}, ±{sim.max_tilt:g}°, "
                      f"{sim.voxel_size:g} Å/voxel")
    print(f"{out}: {sample.subtomogram.shape} at {sim.voxel_size:g} Å/voxel ({sim.method}, tilts ±{sim.max_tilt:g}° "
          f"step {sim.angles[1] - sim.angles[0]:g}°, defocus {sim.defocus:g} Å, snr {sim.snr}), angles "
          f"{np.round(sample.angles, 1).tolist()}, {seconds:.2f} s; density: {density_path}")
    return 0


def cmd_simulate_set(args) -> int:
    from emgan_core.io import read_structure

    from .sets import new_set_folder, write_set

    if args.count < 1:
        raise EmganError(f"--count must be >= 1, got {args.count}", "--count")
    sim = _simulator(args, "cryoetgan simulate-set")
    structures = [(Path(s).stem, read_structure(s)) for s in args.structures]
    names = [n for n, _ in structures]
    if len(set(names)) != len(names):
        raise EmganError(f"two structures share a file stem (labels must differ): {names}", "structures")
    t0 = time.perf_counter()
    density, sub, labels, extra = [], [], [], {k: [] for k in ("rot", "tilt", "psi", "shift_x", "shift_y", "shift_z")}
    with new_set_folder(args.output, args.overwrite) as folder:
        for k, (name, atoms) in enumerate(structures):
            rng = np.random.default_rng([args.seed, k])
            for _ in range(args.count):
                s = sim.sample(atoms, rng)
                density.append(s.density)
                sub.append(s.subtomogram)
                labels.append(name)
                for key, v in zip(extra, [*s.angles, *s.shift]):
                    extra[key].append(round(float(v), 4))
        write_set(folder, {"density": density, "subtomogram": sub}, labels, extra)
    print(f"{args.output}/set.csv: {len(labels)} particles ({args.count} × {', '.join(names)}), box {sim.box}³ at "
          f"{sim.voxel_size:g} Å/voxel, {sim.method}; {time.perf_counter() - t0:.1f} s")
    return 0


# -- trained models ----------------------------------------------------------------------------------

def load_task(checkpoint, task_name: str):
    from emgan_core.inference import load_for_inference

    task, ckpt = load_for_inference(checkpoint)
    name = ckpt["components"]["task"]["name"]
    if name != task_name:
        raise EmganError(f"this is a task/{name} model, expected task/{task_name}", str(checkpoint))
    return task


def cmd_generate(args) -> int:
    from emgan_core.volume import Volume

    from .sets import new_set_folder, read_set, write_set

    task = load_task(args.checkpoint, "cycle")
    data = read_set(args.set, args.column)
    with new_set_folder(args.output, args.overwrite) as folder:
        out = task.translate(data.samples, args.direction)
        volumes = [Volume(v, voxel_size=data.voxel_size) for v in out]
        write_set(folder, {"generated": volumes}, data.labels)
    print(f"{args.output}/set.csv: {len(out)} generated samples from {args.set} ({args.column})")
    return 0


def cmd_classify(args) -> int:
    import pandas as pd

    from emgan_core.io.atomic import atomic_output, check_writable

    from .sets import read_set

    check_writable(args.output)
    task = load_task(args.classifier, "classify")
    data = read_set(args.set, args.column)
    probs, _ = task.predict(data.samples)
    table = pd.DataFrame({"label": data.labels, "predicted": np.array(task.classes)[probs.argmax(1)]})
    for i, c in enumerate(task.classes):
        table[f"p_{c}"] = probs[:, i].round(5)
    with atomic_output(args.output) as tmp:
        table.to_csv(tmp, index=False)
    labelled = data.labels != ""
    if labelled.any():
        print(f"accuracy {float((table['label'] == table['predicted'])[labelled].mean()):.3f} on {int(labelled.sum())} "
              f"labelled samples; {args.output}")
    return 0


def cmd_evaluate(args) -> int:
    from emgan_core.io.atomic import atomic_output, check_writable

    from .evaluate import evaluate_generated
    from .sets import read_set

    if args.json:
        check_writable(args.json)
    gan = load_task(args.checkpoint, "cycle")
    classifier = load_task(args.classifier, "classify")
    source = read_set(args.source, args.column)
    real = read_set(args.real, args.real_column)
    paired = read_set(args.source, "subtomogram") if "subtomogram" in source.table else None
    scores = evaluate_generated(gan, classifier, source, real, paired, k=args.k)
    for name, value in scores["overall"].items():
        print(f"{name:32s} {value:.4f}")
    for label, values in scores["per_class"].items():
        print(f"{label:16s} " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(scores, indent=2))
    return 0


def cmd_downstream(args) -> int:
    from .evaluate import downstream

    results = downstream(args.checkpoint, args.train, args.test, Path(args.output), args.recipe, args.steps,
                         args.overwrite, args.params)
    for name, value in results["accuracy"].items():
        print(f"accuracy on the real test set, classifier trained on {name:10s}: {value:.3f}")
    print(f"{args.output}/results.json")
    return 0
