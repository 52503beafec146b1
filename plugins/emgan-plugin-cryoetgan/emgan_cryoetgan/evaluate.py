"""Score the samples a CryoETGAN model translates against real ones: the shipped benchmark templates
``benchmarks/cryoetgan-evaluate.yaml`` (classifier embeddings) and ``benchmarks/cryoetgan-paired.yaml``
(SSIM with the source's paired ground truth, when it holds one) run on the sets (``emgan cryoetgan
evaluate``)."""

from __future__ import annotations

import json
from pathlib import Path

from emgan_core.api import (
    atomic_output,
    check_output,
    load_benchmark,
    load_for_inference,
    run_benchmark,
    set_columns,
)

#: the benchmarks ``evaluate`` runs, with its sets and options as overrides
TEMPLATE = Path(__file__).parent / "benchmarks" / "cryoetgan-evaluate.yaml"
PAIRED_TEMPLATE = Path(__file__).parent / "benchmarks" / "cryoetgan-paired.yaml"
#: the column of a source set that holds each sample's ground truth in domain B
PAIRED_COLUMN = "subtomogram"


def evaluation_benchmarks(checkpoint, classifier, source, column, real, real_column, k: int = 5,
                          paired_column: str | None = None):
    """:data:`TEMPLATE` (and, with ``paired_column``, :data:`PAIRED_TEMPLATE`) on the sets: the
    translated source set, the source itself (``plain``) and the real set (``real``, its own
    reference) on the classifier's embeddings; the SSIM of the translated and the plain samples with
    the source's paired ground truth."""
    source_entry = {"inputs.0.label": Path(source).parent.name or "source", "inputs.0.input": str(source),
                    "inputs.0.input_column": column, "methods.generated.checkpoint": str(checkpoint)}
    scores = load_benchmark(TEMPLATE, overrides={
        **source_entry, "inputs.0.reference": str(real), "inputs.0.reference_column": real_column,
        "metrics.classifier-scores.params.classifier": str(classifier), "metrics.classifier-scores.params.k": k})
    if paired_column is None:
        return [scores]
    paired = load_benchmark(PAIRED_TEMPLATE, overrides={
        **source_entry, "inputs.0.reference": str(source), "inputs.0.reference_column": paired_column})
    return [scores, paired]


def evaluate(checkpoint, classifier, source, column: str = "density", real=None, real_column: str = "subtomogram",
             k: int = 5, json_path=None) -> dict:
    """``overall``: each score by method (``fid_generated``, ``classifier_accuracy_plain``, …) and
    ``per_class``: each class's spread by method; also written to ``json_path`` if given."""
    from .metrics import load_classifier

    if json_path:
        check_output(json_path)
    load_classifier(str(classifier))  # a wrong checkpoint is one line, before any work; the metric reuses it
    gan = load_for_inference(checkpoint, task="cycle")
    paired = PAIRED_COLUMN if PAIRED_COLUMN in set_columns(source) else None
    overall, per_class = {}, {}
    for bench in evaluation_benchmarks(checkpoint, classifier, source, column, real, real_column, k, paired):
        for method in bench.methods:  # the model loaded once serves every checkpoint method
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
    if json_path:
        with atomic_output(json_path) as tmp:
            tmp.write_text(json.dumps(scores, indent=2))
    return scores
