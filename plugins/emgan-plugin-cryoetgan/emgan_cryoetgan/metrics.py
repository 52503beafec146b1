"""CryoETGAN's metrics on sample sets (:class:`emgan_core.io.sets.LabelledSet`), one function each.

Embeddings and class probabilities come from a classifier trained with ``task/classify`` on labelled
real (domain S) samples, the role CB3D plays in the paper; each sample is z-scored by the classifier
itself, so these metrics want ``normalise: none`` in a benchmark.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from emgan_core.api import EmganError, LabelledSet, MetricResult, fid, inception_score, normalise, prdc, ssim


def load_classifier(path: str):
    """The ``task/classify`` model at ``path`` (a checkpoint or run folder), loaded once while its
    files are unchanged: a benchmark scores several methods with it."""
    import os
    from pathlib import Path

    stamp = max((p.stat().st_mtime_ns for p in Path(path).rglob("*.pt")), default=0) if Path(path).is_dir() \
        else (os.stat(path).st_mtime_ns if os.path.exists(path) else 0)
    return _load_classifier(str(path), stamp)


@lru_cache(maxsize=4)
def _load_classifier(path: str, stamp: int):
    from emgan_core.api import load_for_inference

    return load_for_inference(path, task="classify")[0]


def _sets(output, reference) -> tuple[LabelledSet, LabelledSet]:
    if not (isinstance(output, LabelledSet) and isinstance(reference, LabelledSet)):
        raise EmganError("this metric compares sample sets (set tables), not maps or stacks", "metrics")
    return output, reference


def classifier_scores(output, reference, classifier: str, k: int = 5) -> MetricResult:
    """On the embeddings of the ``task/classify`` checkpoint ``classifier``: ``fid`` of the output's
    samples against the reference's, ``precision``/``recall``/``density``/``coverage`` (``k``
    neighbours, Naeem et al. 2020), the ``inception_score`` of the output's class probabilities
    and, when the output carries labels, the classifier's ``accuracy`` on it."""
    output, reference = _sets(output, reference)
    clf = load_classifier(str(classifier))
    p_out, e_out = clf.predict(output.samples)
    _, e_ref = clf.predict(reference.samples)
    values = {"fid": fid(e_out, e_ref).values["fid"], **prdc(e_out, e_ref, k=k).values,
              "inception_score": inception_score(p_out).values["inception_score"]}
    labelled = output.labels != ""
    if labelled.any():
        truth = clf.class_indices(output.labels[labelled], "labels of the scored set")
        values["accuracy"] = float((p_out[labelled].argmax(1) == truth).mean())
    return MetricResult(values)


def sample_ssim(output, reference) -> MetricResult:
    """``ssim``: mean SSIM of the output's samples with the reference's of the same index (a set and
    its paired ground truth), each z-scored."""
    output, reference = _sets(output, reference)
    if output.samples.shape != reference.samples.shape:
        raise EmganError(f"paired sets differ: {output.samples.shape} vs {reference.samples.shape}", "sample-ssim")
    scores = [ssim(normalise(x, "zscore"), normalise(y, "zscore")).values["ssim"]
              for x, y in zip(output.samples, reference.samples)]
    return MetricResult({"ssim": float(np.mean(scores))})


def class_diversity(output, reference) -> MetricResult:
    """``diversity/LABEL`` per class of the output: the mean over voxels of the standard deviation
    across that class's samples, each z-scored (0 when all are the same: mode collapse)."""
    output, _ = _sets(output, reference)
    values = {}
    for label in sorted(set(output.labels)):
        group = normalise(output.samples[output.labels == label], "zscore", per_sample=True)
        values[f"diversity/{label}"] = float(group.std(0).mean()) if len(group) > 1 else 0.0
    return MetricResult(values)
