"""``emgan cryoetgan simulate|simulate-set|generate|classify|evaluate|downstream``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from emgan_core.api import (
    Action,
    EmganError,
    add_model_arguments,
    add_simulator_args,
    configure_actions,
    load_for_inference,
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
    from emgan_core.api import check_output, read_structure, write_map

    from .figures import slices_figure

    out = check_output(args.output)
    density_path = out.with_name(out.name.split(".")[0] + "_density" + "".join(out.suffixes))
    check_output(density_path)
    if args.png:
        check_output(args.png)
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
    from emgan_core.api import new_set_folder, read_structure, write_set

    if args.count < 1:
        raise EmganError(f"--count must be >= 1, got {args.count}", "--count")
    sim = _simulator(args, "cryoetgan simulate-set")
    structures = [(Path(s).stem, read_structure(s)) for s in args.structures]
    names = [n for n, _ in structures]
    if len(set(names)) != len(names):
        raise EmganError(f"two structures share a file stem (labels must differ): {names}", "structures")
    sim.neighbour_pool = [atoms for _, atoms in structures]
    conventional = sim.conventional() if args.conventional else None
    t0 = time.perf_counter()
    columns = {"density": [], "subtomogram": [], **({"conventional": []} if conventional else {})}
    labels, extra = [], {k: [] for k in ("rot", "tilt", "psi", "shift_x", "shift_y", "shift_z")}
    with new_set_folder(args.output, overwrite_allowed()) as folder:
        for k, (name, atoms) in enumerate(structures):
            rng = np.random.default_rng([args.seed, k])
            for i in range(args.count):
                s = sim.sample(atoms, rng)
                columns["density"].append(s.density)
                columns["subtomogram"].append(s.subtomogram)
                if conventional:
                    noise = np.random.default_rng([args.seed, k, i, 1])
                    columns["conventional"].append(s.density.with_data(conventional.corrupt(s.density.data, noise)))
                labels.append(name)
                for key, v in zip(extra, [*s.angles, *s.shift]):
                    extra[key].append(round(float(v), 4))
        write_set(folder, columns, labels, extra)
    print(f"{args.output}/set.csv: {len(labels)} particles ({args.count} × {', '.join(names)}), box {sim.box}³ at "
          f"{sim.voxel_size:g} Å/voxel, {sim.method}; {time.perf_counter() - t0:.1f} s")
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
    from emgan_core.api import Volume, new_set_folder, read_set, write_set

    task = load_for_inference(trained_model(args), task="cycle")[0]
    data = read_set(args.set, args.column)
    task.check_voxel_size(data.voxel_size, args.set)
    with new_set_folder(args.output, overwrite_allowed()) as folder:
        out = task.translate(data.samples, args.direction)
        volumes = [Volume(v, voxel_size=data.voxel_size) for v in out]
        write_set(folder, {"generated": volumes}, data.labels)
    print(f"{args.output}/set.csv: {len(out)} generated samples from {args.set} ({args.column})")
    return 0


def _classify_arguments(p) -> None:
    p.add_argument("classifier", help="run folder or checkpoint of task/classify")
    p.add_argument("set", help="set table")
    p.add_argument("--column", help="path column (default: subtomogram, density, generated or path)")
    p.add_argument("-o", "--output", required=True, help="CSV: label, predicted, one probability column per class")


def cmd_classify(args) -> int:
    import pandas as pd

    from emgan_core.api import atomic_output, check_output, read_set

    check_output(args.output)
    task = load_for_inference(args.classifier, task="classify")[0]
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


def _evaluate_arguments(p) -> None:
    add_model_arguments(p, DEFAULT_MODEL)
    p.add_argument("--classifier", required=True, help="classifier trained on labelled real (domain B) data")
    p.add_argument("--source", required=True, help="set table of domain-A samples to translate")
    p.add_argument("--column", default="density", help="path column of --source (density)")
    p.add_argument("--real", required=True, help="set table of real domain-B samples")
    p.add_argument("--real-column", default="subtomogram", help="path column of --real (subtomogram)")
    p.add_argument("--k", type=int, default=5, help="neighbours of PRDC (5)")
    p.add_argument("--json", help="also write the scores here")


def evaluation_benchmarks(checkpoint, classifier, source, column, real, real_column, k: int = 5,
                          paired_column: str | None = None):
    """The benchmarks ``evaluate`` runs (as ``benchmarks/cryoetgan/quickstart.yaml`` does through
    ``emgan bench``): the translated source set, the source itself (``plain``) and the real set
    (``real``, its own reference) on the classifier's embeddings; with ``paired_column``, the SSIM of
    the translated and the plain samples with the source's paired ground truth."""
    from emgan_core.api import Benchmark

    methods = [{"label": "generated", "checkpoint": str(checkpoint)}, {"label": "plain", "control": "input"}]
    entry = {"label": Path(source).parent.name or "source", "input": str(source), "input_column": column}
    scores = Benchmark("cryoetgan-evaluate", [{**entry, "reference": str(real), "reference_column": real_column}],
                       methods + [{"label": "real", "control": "reference"}],
                       [{"name": "classifier-scores", "params": {"classifier": str(classifier), "k": k}},
                        "class-diversity"], normalise="none")
    if paired_column is None:
        return [scores]
    paired = Benchmark("cryoetgan-paired", [{**entry, "reference": str(source), "reference_column": paired_column}],
                       [dict(m) for m in methods], ["sample-ssim"], normalise="none")
    return [scores, paired]


def cmd_evaluate(args) -> int:
    from emgan_core.api import atomic_output, check_output, run_benchmark, set_columns

    from .metrics import load_classifier

    if args.json:
        check_output(args.json)
    load_classifier(str(args.classifier))  # a wrong checkpoint is one line, before any work; the metric reuses it
    gan = load_for_inference(trained_model(args), task="cycle")
    paired = "subtomogram" if "subtomogram" in set_columns(args.source) else None
    benches = evaluation_benchmarks(trained_model(args), args.classifier, args.source, args.column, args.real,
                                    args.real_column, args.k, paired)
    overall, per_class = {}, {}
    for bench in benches:
        for method in bench.methods:
            if "checkpoint" in method:
                method["_loaded"] = gan
        for r in run_benchmark(bench):
            for key, value in r.values.items():
                if key.startswith("diversity/"):
                    per_class.setdefault(key.split("/", 1)[1], {})[f"{r.method}_diversity"] = value
                else:
                    name = "classifier_accuracy" if key == "accuracy" else key
                    overall[f"{name}_{r.method}"] = value
    scores = {"overall": overall, "per_class": per_class}
    for name, value in overall.items():
        print(f"{name:32s} {value:.4f}")
    for label, values in per_class.items():
        print(f"{label:16s} " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(scores, indent=2))
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
    """Three sets for the real-data experiment: ``real-train`` and ``real-test`` (column
    ``subtomogram``: boxes of the real tomograms), ``model`` (columns ``density``: helical-lattice
    models, and ``conventional``: their conventional simulation by ``simulator/subtomogram``
    ``method: wedge`` at the box's voxel size, default CTF 30,000 Å, SNR 0.1)."""
    from emgan_core.api import Volume, new_set_folder, write_set

    from .microtubules import cut_boxes, lattice_model, read_tiff_volume

    folder, out = Path(args.folder), Path(args.output)
    if out.exists() and not overwrite_allowed():
        raise EmganError("exists already (give --overwrite to replace it)", str(out))
    classes = {"13pf": folder / "13pf_MT.tif", "14pf": folder / "14pf_MT.tif"}
    params = ["method=wedge", f"box={args.box}", *args.sim_params]
    t0 = time.perf_counter()
    real = {"train": ([], []), "test": ([], [])}
    voxel = None
    for label, path in classes.items():
        volume = read_tiff_volume(path)
        voxel = volume.voxel_size[0] * args.bin
        for part, boxes in zip(("train", "test"), cut_boxes(volume, args.box, args.step, args.bin)):
            real[part][0].extend(Volume(b, voxel_size=voxel) for b in boxes)
            real[part][1].extend([label] * len(boxes))
    args.sim_params = params + [f"voxel_size={voxel}"]
    sim = _simulator(args, "cryoetgan microtubules")
    out.mkdir(parents=True, exist_ok=True)
    for part, (volumes, labels) in real.items():
        with new_set_folder(out / f"real-{part}", overwrite=True) as tmp:
            write_set(tmp, {"subtomogram": volumes}, labels)
    density, conventional, labels = [], [], []
    for k, label in enumerate(classes):
        rng = np.random.default_rng([args.seed, k])
        for _ in range(args.count):
            model = Volume(lattice_model(int(label[:2]), args.box, voxel, rng), voxel_size=voxel)
            density.append(model)
            conventional.append(model.with_data(sim.corrupt(model.data, rng)))
            labels.append(label)
    with new_set_folder(out / "model", overwrite=True) as tmp:
        write_set(tmp, {"density": density, "conventional": conventional}, labels)
    counts = {part: {c: v[1].count(c) for c in classes} for part, v in real.items()}
    print(f"{out}: real boxes {counts} at {voxel:g} Å/voxel, box {args.box}³; {len(labels)} lattice models; "
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
