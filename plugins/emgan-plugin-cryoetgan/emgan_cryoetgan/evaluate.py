"""Scores of generated subtomograms and the downstream-classification experiment.

Embeddings and class probabilities come from a classifier trained with ``task/classify`` on
labelled real (domain B) samples, the role CB3D plays in the paper.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from emgan_core.errors import EmganError
from emgan_core.metrics import fid, inception_score, prdc, ssim

from .samples import normalise
from .sets import LabelledSet, new_set_folder, read_set, write_set


def class_diversity(samples: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per label: mean over voxels of the standard deviation across that label's samples, each
    sample z-scored first (0 when every sample of the class is the same: mode collapse)."""
    out = {}
    for label in sorted(set(labels)):
        group = np.stack([normalise(s, 1.0) for s in samples[labels == label]])
        out[label] = float(group.std(0).mean()) if len(group) > 1 else 0.0
    return out


def mean_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of paired z-scored samples."""
    return float(np.mean([ssim(normalise(x, 1.0), normalise(y, 1.0)).values["ssim"] for x, y in zip(a, b)]))


def evaluate_generated(gan, classifier, source: LabelledSet, real: LabelledSet, paired: LabelledSet | None = None,
                       k: int = 5) -> dict:
    """Translate ``source`` (domain A) with ``gan`` and score the result against ``real`` (domain B):
    FID and PRDC on the classifier's embeddings, Inception Score, the classifier's accuracy on the
    generated samples (labels carried over), per-class diversity, and, when the source has
    ``paired`` ground-truth subtomograms (simulated sets), the mean SSIM to them. The same scores of
    the untranslated source are given as ``plain_*``: what the generator has to improve on."""
    generated = gan.translate(source.samples)
    p_gen, e_gen = classifier.predict(generated)
    p_src, e_src = classifier.predict(source.samples)
    p_real, e_real = classifier.predict(real.samples)
    overall = {"fid_generated": fid(e_gen, e_real).values["fid"], "fid_plain": fid(e_src, e_real).values["fid"],
               "inception_score_generated": inception_score(p_gen).values["inception_score"],
               "inception_score_plain": inception_score(p_src).values["inception_score"],
               "inception_score_real": inception_score(p_real).values["inception_score"]}
    overall.update({f"{name}_generated": v for name, v in prdc(e_gen, e_real, k=k).values.items()})
    overall.update({f"{name}_plain": v for name, v in prdc(e_src, e_real, k=k).values.items()})
    labelled = source.labels != ""
    if labelled.any():
        truth = classifier.class_indices(source.labels[labelled], "source labels")
        overall["classifier_accuracy_generated"] = float((p_gen[labelled].argmax(1) == truth).mean())
        overall["classifier_accuracy_plain"] = float((p_src[labelled].argmax(1) == truth).mean())
    if paired is not None:
        overall["ssim_generated"] = mean_ssim(generated, paired.samples)
        overall["ssim_plain"] = mean_ssim(source.samples, paired.samples)
    generated_div = class_diversity(generated, source.labels)
    real_div = class_diversity(real.samples, real.labels)
    per_class = {label: {"generated_diversity": v, "real_diversity": real_div.get(label, float("nan"))}
                 for label, v in generated_div.items()}
    return {"overall": overall, "per_class": per_class, "n_generated": int(len(generated)), "n_real": int(len(real))}


def _train_classifier(template, train_item: dict, n_classes: int, steps: int | None, run_dir: Path):
    from emgan_core.recipes import Recipe, validate
    from emgan_core.training import Trainer

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
               steps: int | None = None, overwrite: bool = False, overrides: list[str] = ()) -> dict:
    """The paper's experiment: one classifier trained on plain simulations (``train``'s density column),
    one on their CryoETGAN translations, both tested on the real subtomograms of ``test``. Writes
    ``output/{generated, classifier-plain, classifier-cryoetgan, results.json}``."""
    from emgan_core.io.atomic import atomic_output
    from emgan_core.recipes import load_recipe
    from emgan_core.volume import Volume

    from .cli import load_task

    if output.exists() and not overwrite:
        raise EmganError("exists already (give --overwrite to replace it)", str(output))
    template = load_recipe(recipe, list(overrides))
    gan = load_task(checkpoint, "cycle")
    plain = read_set(train, "density")
    real = read_set(test, "subtomogram")
    classes = sorted(set(plain.labels))
    if (plain.labels == "").any() or (real.labels == "").any():
        raise EmganError("both sets need a label column", train)
    output.mkdir(parents=True, exist_ok=True)
    with new_set_folder(output / "generated", overwrite=True) as folder:
        volumes = [Volume(v, voxel_size=plain.voxel_size) for v in gan.translate(plain.samples)]
        write_set(folder, {"generated": volumes}, plain.labels)
    accuracy = {}
    for name, item in (("plain", {"set": str(Path(train)), "column": "density"}),
                       ("cryoetgan", {"set": str(output / "generated" / "set.csv"), "column": "generated"})):
        run_dir = output / f"classifier-{name}"
        if run_dir.exists():
            import shutil

            shutil.rmtree(run_dir)
        _train_classifier(template, item, len(classes), steps, run_dir)
        accuracy[name] = load_task(run_dir, "classify").accuracy(real, test)
    results = {"accuracy": accuracy, "train": str(train), "test": str(test), "classes": classes,
               "n_train": int(len(plain)), "n_test": int(len(real)), "chance": 1.0 / len(classes)}
    with atomic_output(output / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    return results
