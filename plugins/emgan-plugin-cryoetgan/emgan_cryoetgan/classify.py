"""Class probabilities of a set by a trained classifier, as a CSV table (``emgan cryoetgan
classify``)."""

from __future__ import annotations

import numpy as np

from emgan_core.api import atomic_output, check_output, load_for_inference, read_set


def classify_set(classifier, table, output, column: str | None = None) -> tuple[float | None, int]:
    """Write ``output`` (CSV: label, predicted, one probability column per class) for the samples of
    ``table``'s ``column`` by the ``task/classify`` model at ``classifier``; (accuracy on the
    labelled samples, how many are labelled), accuracy None when none is."""
    import pandas as pd

    check_output(output)
    task = load_for_inference(classifier, task="classify")[0]
    data = read_set(table, column)
    probs, _ = task.predict(data.samples)
    predictions = pd.DataFrame({"label": data.labels, "predicted": np.array(task.classes)[probs.argmax(1)]})
    for i, c in enumerate(task.classes):
        predictions[f"p_{c}"] = probs[:, i].round(5)
    with atomic_output(output) as tmp:
        predictions.to_csv(tmp, index=False)
    labelled = data.labels != ""
    if not labelled.any():
        return None, 0
    return float((predictions["label"] == predictions["predicted"])[labelled].mean()), int(labelled.sum())
