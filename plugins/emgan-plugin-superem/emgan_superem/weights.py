"""Import the published EM-GAN generator weights (a legacy torch state dict) as an emgan checkpoint.

Key translation, checked both ways (every published key is used or known to be unused, every
parameter and buffer of :class:`~.networks.SRResNet3D` is filled, shapes equal):

====================  ==========================
published             emgan
====================  ==========================
block1.0 / block1.1   head.0 (conv) / head.1 (PReLU)
model.N.conv1         blocks.N.conv1
model.N.relu1         blocks.N.act
model.N.bn1 / bn2     blocks.N.norm1 / norm2
model.N.conv2         blocks.N.conv2
model.N.relu2         — (a PReLU the published forward never calls; 15 parameters)
blockSLast.0 / .1     fuse.0 / fuse.1
blockLast.0 / .1      tail.0 / tail.1
====================  ==========================
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from emgan_core.api import EmganError, save_checkpoint, torch_load_safely

from .networks import SRResNet3D

_RULES = [
    (r"^block1\.(\d)\.", r"head.\1."),
    (r"^model\.(\d+)\.relu1\.", r"blocks.\1.act."),
    (r"^model\.(\d+)\.bn(\d)\.", r"blocks.\1.norm\2."),
    (r"^model\.(\d+)\.conv(\d)\.", r"blocks.\1.conv\2."),
    (r"^blockSLast\.(\d)\.", r"fuse.\1."),
    (r"^blockLast\.(\d)\.", r"tail.\1."),
]
_UNUSED = re.compile(r"^model\.\d+\.relu2\.weight$")


def load_published_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The published state dict, loaded with ``weights_only=True`` (no code runs)."""
    state = torch_load_safely(path, "weights file")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EmganError("not a state dict of tensors", str(path))
    return state


def translate(published: dict[str, torch.Tensor], where: str = "weights") -> dict[str, torch.Tensor]:
    """Published keys → :class:`SRResNet3D` keys, strictly: any unknown, missing or mis-shaped
    entry is an error naming it."""
    model = SRResNet3D()
    expected = model.state_dict()
    out, unknown = {}, []
    for key, value in published.items():
        if _UNUSED.match(key):
            continue
        new = key
        for pattern, repl in _RULES:
            new, n = re.subn(pattern, repl, key)
            if n:
                break
        else:
            unknown.append(key)
            continue
        if new not in expected:
            unknown.append(key)
        elif tuple(expected[new].shape) != tuple(value.shape):
            raise EmganError(f"{key}: shape {tuple(value.shape)}, the SuperEM generator expects "
                             f"{tuple(expected[new].shape)} for {new}", where)
        else:
            out[new] = value
    missing = sorted(set(expected) - set(out))
    if unknown or missing:
        parts = ([f"unexpected keys {unknown[:5]}{' …' if len(unknown) > 5 else ''}"] if unknown else []) + \
                ([f"missing keys {missing[:5]}{' …' if len(missing) > 5 else ''}"] if missing else [])
        raise EmganError("not the published EM-GAN generator: " + "; ".join(parts), where)
    model.load_state_dict(out, strict=True)
    return model.state_dict()


def import_weights(source: str | Path, output: str | Path, stride: int | None = None) -> dict[str, torch.Tensor]:
    """Write an emgan checkpoint holding the published generator (recipe ``superem`` structure),
    with the task's inference settings (``stride``: its default window stride in voxels, else the
    paper's); returns its state dict."""
    from .task import SuperEMTask

    state = translate(load_published_state(source), str(source))
    components = {"task": {"name": "superem", "params": {}},
                  "networks": {"generator": {"kind": "generator", "name": "srresnet3d", "params": {}}},
                  "losses": [], "simulator": None}
    task = SuperEMTask()
    task.eval = task.eval.replace(window_stride=stride)
    inference = task.inference_spec()
    save_checkpoint(output, {"step": 0, "seed": 0, "components": components, "inference": inference,
                             "recipe": {"imported_from": str(source)},
                             "state": {"networks": {"generator": state}, "ema": {}}, "rng": {}})
    return state


def convert_published(paths: dict[str, Path], output: Path) -> None:
    """The registered model ``superem-published``'s conversion: the fetched ``G_model`` (EM-GAN's
    published generator) written as an emgan checkpoint at ``output``."""
    import_weights(paths["G_model"], output)


def parameter_count(state: dict[str, torch.Tensor]) -> int:
    """Trained parameters of a state dict (batch-norm running statistics not counted)."""
    return sum(v.numel() for k, v in state.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
