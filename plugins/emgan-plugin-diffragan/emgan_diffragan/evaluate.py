"""Score the images a DiffraGAN model generates from a triplet store against its high-res images:
the shipped benchmark template ``benchmarks/diffragan-evaluate.yaml`` run on the store (``emgan
diffragan evaluate``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from emgan_core.api import EmganError, check_output, load_benchmark, run_benchmark

from .export import export_store
from .generate import load_generator

#: the benchmark ``evaluate`` runs, with its files and options as overrides
TEMPLATE = Path(__file__).parent / "benchmarks" / "diffragan-evaluate.yaml"
#: the template's methods that run the model (with their own options), and its controls
CHECKPOINT_METHODS = ("generated", "swapped", "blank", "phaser")
CONTROLS = ("swapped", "blank", "phaser")


def evaluation_benchmark(checkpoint, dataset, exported: dict[str, Path], threshold: float = 0.1,
                         control: bool = False, eval_mode: bool = False, seed: int = 0, phaser: bool = False):
    """:data:`TEMPLATE` on a store and its exported stacks (``high``: the reference, ``low``: the
    baseline): the generated images and the low-res input, with the swapped- and blank-pattern
    controls if asked (``control``) and, for a phasing generator (``phaser``), its classical phaser
    alone: what the network adds."""
    overrides = {"inputs.0.label": Path(dataset).stem, "inputs.0.input": str(dataset),
                 "inputs.0.reference": str(exported["high"]), "inputs.0.baseline": str(exported["low"]),
                 "seed": seed, "metrics.difference-mask.params.threshold": threshold}
    runs = {"swapped": control, "blank": control, "phaser": control and phaser}
    for label in CHECKPOINT_METHODS:
        if not runs.get(label, True):
            overrides[f"methods.{label}"] = None  # not run: left out
            continue
        overrides[f"methods.{label}.checkpoint"] = str(checkpoint)
        if eval_mode:
            overrides[f"methods.{label}.test_mode"] = "eval"
    return load_benchmark(TEMPLATE, overrides=overrides)


def evaluate(checkpoint, dataset, threshold: float = 0.1, png=None, control: bool = False, device: str = "auto",
             eval_mode: bool = False, seed: int = 0) -> dict:
    """Scores by method label (``frc_curve`` with each's values) and the ``settings``; with ``png``,
    a figure of a few triplets with their generated images and difference masks."""
    from .figures import comparison_figure
    from .metrics import difference_mask

    if png:
        check_output(png)  # before the work: a missing folder or an existing file is known now
    task, store, device = load_generator(checkpoint, dataset, device, eval_mode, seed)
    arrays = store.load()
    if control and len(arrays["high"]) < 2:
        raise EmganError("--control needs at least 2 triplets", str(dataset))
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_store(dataset, tmp)
        bench = evaluation_benchmark(checkpoint, dataset, exported, threshold, control, eval_mode, seed,
                                     phaser=hasattr(task.generator, "phased"))
        for method in bench.methods:  # the model loaded once serves every checkpoint method
            if "checkpoint" in method:
                method["_loaded"] = (task, None)
        results = {r.method: r for r in run_benchmark(bench, device)}
    scores = {name: {**r.values, "frc_curve": r.curves.get("frc", {})} for name, r in results.items()}
    if png:
        generated = results["generated"].output.data
        comparison_figure(arrays["diffraction"], arrays["low"], generated, arrays["high"],
                          difference_mask(generated, arrays["high"], threshold), store.pixel_size, png)
    scores["settings"] = {"triplets": int(len(results["generated"].output.data)), "pixel_size": store.pixel_size,
                          "threshold": threshold, "test_mode": task.test_mode, "seed": seed}
    return scores
