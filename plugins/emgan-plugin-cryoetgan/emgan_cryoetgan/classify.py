"""``task/classify``: supervised training of a registered classifier on labelled sample sets.

Data (recipe ``data``): ``train`` and optionally ``val``, lists of set tables (CSV/STAR, or
``{set: TABLE, column: NAME}``) whose ``label`` column names each sample's class. The classes are
the sorted training labels; the classifier's ``n_classes`` must match. Loss: cross-entropy (with
``label_smoothing``). The trained classifier gives class probabilities (accuracy, Inception
Score) and embeddings (FID, PRDC) through :meth:`ClassifyTask.predict`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from emgan_core.errors import EmganError
from emgan_core.interfaces import Task

from .samples import LabelledSamples, normalise
from .sets import LabelledSet, read_samples


class ClassifyTask(Task):
    """Cross-entropy classification of (z, y, x) samples (or (y, x) images).

    Args:
        scale: per-sample normalisation headroom, as ``task/cycle``. flips: random axis flips.
        label_smoothing: of the cross-entropy.
    """

    roles = {"classifier": "classifier"}
    optional_roles = frozenset()

    def __init__(self, scale: float = 3.0, flips: bool = True, label_smoothing: float = 0.0):
        if not scale > 0 or not 0 <= label_smoothing < 1:
            raise ValueError("scale must be > 0 and label_smoothing in [0, 1)")
        self.scale, self.flips, self.label_smoothing = float(scale), bool(flips), float(label_smoothing)
        self.classes: list[str] = []
        self.eval = {}

    def bind(self, networks, losses, train=None, data=None, eval=None, simulator=None):
        super().bind(networks, losses, train, data, eval, simulator)
        if losses:
            raise EmganError("task/classify uses cross-entropy: remove the losses section", "losses")

    @property
    def classifier(self):
        return self.networks["classifier"]

    # -- data -------------------------------------------------------------------------------------

    def _set(self, split: str) -> LabelledSet | None:
        items = self.data.get(split)
        if not items:
            return None
        items = [items] if isinstance(items, (str, dict)) else items
        sets = [read_samples(item, f"data.{split}.{i}") for i, item in enumerate(items)]
        for i, s in enumerate(sets):
            if (s.labels == "").any():
                raise EmganError("samples without a label: give a table with a 'label' column", f"data.{split}.{i}")
        return LabelledSet(np.concatenate([s.samples for s in sets]), np.concatenate([s.labels for s in sets]),
                           sets[0].voxel_size, sets[0].table)

    def class_indices(self, labels: np.ndarray, where: str) -> np.ndarray:
        """Labels as indices into :attr:`classes`; a label the classifier does not know is an error."""
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise EmganError(f"labels {unknown} are not among the trained classes {self.classes}", where)
        return np.array([index[c] for c in labels], np.int64)

    def train_dataset(self, seed: int):
        data = self._set("train")
        if data is None:
            raise EmganError("no training data", "data.train")
        self.classes = sorted(set(data.labels))
        n = getattr(getattr(self.classifier, "module", self.classifier), "n_classes", None)
        if n != len(self.classes):
            raise EmganError(f"the classifier has n_classes {n} but the training data has {len(self.classes)} "
                             f"classes ({', '.join(self.classes)})", "classifier.params.n_classes")
        return LabelledSamples(data.samples, self.class_indices(data.labels, "data.train"), self.scale, 2**62,
                               seed, self.flips)

    def val_dataset(self, seed: int):
        data = self._set("val")
        if data is None:
            return None
        return LabelledSamples(data.samples, self.class_indices(data.labels, "data.val"), self.scale)

    # -- training ---------------------------------------------------------------------------------

    def critic_losses(self, batch):
        return {}

    def generator_losses(self, batch):
        logits = self.classifier(batch["x"])
        return {"classifier/cross_entropy": F.cross_entropy(logits, batch["y"], label_smoothing=self.label_smoothing)}

    def validation_losses(self, batch):
        logits = self.classifier(batch["x"])
        return {"val/cross_entropy": F.cross_entropy(logits, batch["y"]),
                "val/accuracy": (logits.argmax(1) == batch["y"]).double().mean()}

    # -- inference --------------------------------------------------------------------------------

    def inference_spec(self):
        return {"classes": list(self.classes), "scale": self.scale}

    def load_inference_spec(self, spec):
        self.classes = list(spec["classes"])
        self.scale = float(spec.get("scale", self.scale))

    @torch.no_grad()
    def predict(self, samples: np.ndarray, batch_size: int = 32, device: str | torch.device = "cpu"):
        """(class probabilities (N, K), embeddings (N, D)) of (N, *S) samples, each normalised alone."""
        net = self.classifier.to(device).eval()
        probs, feats = [], []
        for s in range(0, len(samples), batch_size):
            x = torch.from_numpy(np.stack([normalise(v, self.scale) for v in samples[s:s + batch_size]])[:, None])
            x = x.to(device)
            f = net.embed(x)
            probs.append(torch.softmax(net(x), 1).double().cpu().numpy())
            feats.append(f.double().cpu().numpy())
        return np.concatenate(probs), np.concatenate(feats)

    def accuracy(self, data: LabelledSet, where: str) -> float:
        """Fraction of ``data``'s samples whose most probable class is their label."""
        probs, _ = self.predict(data.samples)
        return float((probs.argmax(1) == self.class_indices(data.labels, where)).mean())

    def infer(self, source, **options):
        raise EmganError("a classifier gives labels, not maps: use 'emgan cryoetgan classify'", str(source))
