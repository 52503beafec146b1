"""The paper's downstream-classification experiment: classifiers trained on conventional
simulations, on CryoETGAN translations and on real subtomograms, each tested on held-out real ones.

Scores of one translated set (FID, PRDC, Inception Score, accuracy, diversity) are metrics
(:mod:`emgan_cryoetgan.metrics`) run by the benchmark harness.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from emgan_core.api import EmganError, fid, new_set_folder, prdc, read_set, write_set


def _train_classifier(template, train_item: dict, n_classes: int, steps: int | None, run_dir: Path):
    from emgan_core.api import Recipe, Trainer, validate

    data = copy.deepcopy(template.data)
    data["data"] = {"train": [train_item]}
    data.setdefault("classifier", {"name": "cnn3d", "params": {}})
    spec = data["classifier"] if isinstance(data["classifier"], dict) else {"name": data["classifier"]}
    spec["params"] = {**(spec.get("params") or {}), "n_classes": n_classes}
    data["classifier"] = spec
    if steps is not None:
        data.setdefault("train", {})["steps"] = int(steps)
    Trainer(validate(Recipe(data, template.path, template.lines)), run_dir).fit()


def downstream(checkpoint, train: str, test: str, output: Path, recipe: str = "cryoetgan-classifier",
               steps: int | None = None, overwrite: bool = False, overrides: list[str] = (),
               real_train: str | None = None, conventional_column: str = "conventional", k: int = 5) -> dict:
    """The paper's experiment (its Table 2 "classification accuracy"): classifiers trained on
    (a) the conventional simulations of ``train`` (its ``conventional_column``), (b) the CryoETGAN
    translations of ``train``'s noise-free density maps and, given ``real_train``, (c) real
    subtomograms (the ceiling), each tested on the real subtomograms of ``test`` (held out).

    With (c), FID and precision / recall / density / coverage (k nearest neighbours, Naeem et al.
    2020) of (a)'s and (b)'s training samples against the test subtomograms are computed on the
    embeddings of classifier (c), the role CB3D plays in the paper: the set that looks more like the
    real data has the lower FID and the higher density / coverage. Writes ``output/{generated,
    classifier-*, results.json}``; results hold the accuracies, the scores, the chance level and the
    wall time of each stage (s)."""
    import time

    from emgan_core.api import Volume, atomic_output, load_for_inference, load_recipe

    if output.exists() and not overwrite:
        raise EmganError("exists already (give --overwrite to replace it)", str(output))
    template = load_recipe(recipe, list(overrides))
    gan = load_for_inference(checkpoint, task="cycle")[0]
    plain = read_set(train, "density")
    conventional = read_set(train, conventional_column)
    real = read_set(test, "subtomogram")
    real_training = read_set(real_train, "subtomogram") if real_train else None
    classes = sorted(set(plain.labels))
    if (plain.labels == "").any() or (real.labels == "").any():
        raise EmganError("both sets need a label column", train)
    gan.check_voxel_size(plain.voxel_size, train)
    output.mkdir(parents=True, exist_ok=True)
    seconds = {}
    t0 = time.perf_counter()
    with new_set_folder(output / "generated", overwrite=True) as folder:
        generated = gan.translate(plain.samples)
        volumes = [Volume(v, voxel_size=plain.voxel_size) for v in generated]
        write_set(folder, {"generated": volumes}, plain.labels)
    seconds["translate"] = time.perf_counter() - t0
    runs = {"conventional": {"set": str(Path(train)), "column": conventional_column},
            "cryoetgan": {"set": str(output / "generated" / "set.csv"), "column": "generated"}}
    if real_train:
        runs["real"] = {"set": str(Path(real_train)), "column": "subtomogram"}
    accuracy, tasks = {}, {}
    for name, item in runs.items():
        run_dir = output / f"classifier-{name}"
        if run_dir.exists():
            import shutil

            shutil.rmtree(run_dir)
        t0 = time.perf_counter()
        _train_classifier(template, item, len(classes), steps, run_dir)
        seconds[f"classifier_{name}"] = time.perf_counter() - t0
        tasks[name] = load_for_inference(run_dir, task="classify")[0]
        accuracy[name] = tasks[name].accuracy(real, test)
    scores = {}
    if real_training is not None:
        judge = tasks["real"]
        _, e_real = judge.predict(real.samples)
        for name, samples in (("conventional", conventional.samples), ("cryoetgan", generated)):
            _, e = judge.predict(samples)
            scores[name] = {"fid": fid(e, e_real).values["fid"], **prdc(e, e_real, k=k).values}
        _, e_train = judge.predict(real_training.samples)  # real vs real: the floor of these scores
        scores["real"] = {"fid": fid(e_train, e_real).values["fid"], **prdc(e_train, e_real, k=k).values}
    results = {"accuracy": accuracy, "scores_vs_test": scores, "train": str(train), "test": str(test),
               "real_train": str(real_train) if real_train else None, "classes": classes, "k": k,
               "n_train": int(len(plain)), "n_test": int(len(real)), "chance": 1.0 / len(classes),
               "majority": float(max((real.labels == c).mean() for c in classes)),
               "seconds": seconds}
    with atomic_output(output / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    return results
