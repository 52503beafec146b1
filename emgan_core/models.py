"""Trained models by name: files shipped inside a plugin or fetched once by URL and SHA-256 (pooch),
kept in the user's cache, refused when a hash differs, usable offline from a local copy.

The cache is ``$EMGAN_CACHE/models`` (default: the platform's user cache, e.g.
``~/.cache/emgan/models``), one folder per model. ``emgan models fetch NAME --from PATH`` takes a
file (or a folder holding the model's files) that was downloaded elsewhere, checks its hash and
puts it in the cache, for machines without internet access.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .errors import EmganError
from .io.atomic import atomic_output
from .records import Model, ModelFile
from .registry import Registry, get_registry


def cache_root() -> Path:
    """Where fetched models live: ``$EMGAN_CACHE/models`` or the platform's user cache
    (:mod:`emgan_core.cache`)."""
    from .cache import cache_root as root

    return root() / "models"


def get_model(name: str, registry: Registry | None = None) -> Model:
    """The registered model ``name``; an unknown name lists close matches."""
    import difflib

    registry = registry or get_registry()
    if name in registry.models:
        return registry.models[name][0]
    close = difflib.get_close_matches(name, list(registry.models), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    known = ", ".join(sorted(registry.models)) or "none"
    raise EmganError(f"no model of that name{hint}; installed models: {known} (see `emgan models`)", name)


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, file: ModelFile, model: Model) -> Path:
    digest = sha256(path)
    if digest != file.sha256:
        raise EmganError(f"SHA-256 {digest[:16]}… differs from model {model.name}'s {file.sha256[:16]}…: "
                         "refused (a different or damaged file)", str(path))
    return path


def _folder(model: Model) -> Path:
    return cache_root() / model.name


def file_path(model: Model, file: ModelFile, source: str | os.PathLike | None = None) -> Path:
    """The verified local path of one of ``model``'s files: shipped, cached, copied from ``source``
    (a file, or a folder holding it) or downloaded from its URL, in that order."""
    if file.path is not None:
        path = Path(file.path)
        if not path.is_file():
            raise EmganError(f"model {model.name}: shipped file {file.name} is missing from the package "
                             "(reinstall the plugin)", str(path))
        return _verified(path, file, model)
    cached = _folder(model) / file.name
    if cached.is_file() and sha256(cached) == file.sha256:
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        src = Path(source)
        src = src / file.name if src.is_dir() else src
        if not src.is_file():
            raise EmganError(f"not found (model {model.name} needs {file.name})", str(src))
        _verified(src, file, model)
        with atomic_output(cached, overwrite=True) as tmp:
            shutil.copyfile(src, tmp)
        return cached
    return _download(model, file, cached)


def _download(model: Model, file: ModelFile, cached: Path) -> Path:
    import sys

    import pooch

    pooch.get_logger().setLevel("WARNING")  # one line of our own instead of pooch's
    try:
        path = pooch.retrieve(file.url, known_hash=f"sha256:{file.sha256}", fname=file.name,
                              path=cached.parent, progressbar=False)
    except ValueError as err:  # pooch: hash mismatch
        raise EmganError(f"downloaded {file.name} does not have the pinned SHA-256: refused ({err})".splitlines()[0],
                         file.url) from None
    except Exception as err:  # noqa: BLE001 - no network, HTTP errors: one line with the way out
        raise EmganError(f"cannot download {file.name} ({type(err).__name__}); fetch it where there is network "
                         f"access and run `emgan models fetch {model.name} --from FILE`", file.url) from None
    print(f"fetched {file.name} for model {model.name} ({Path(path).stat().st_size / 2**20:.1f} MiB, SHA-256 "
          f"verified) into {cached.parent}", file=sys.stderr)
    return Path(path)


def checkpoint_path(name: str, source: str | os.PathLike | None = None, registry: Registry | None = None) -> Path:
    """The emgan checkpoint of model ``name``, fetched (and converted, for models published in
    another format) on first use."""
    model = get_model(name, registry)
    paths = {f.name: file_path(model, f, source) for f in model.files}
    if model.checkpoint:
        return paths[model.checkpoint]
    converted = _folder(model) / "checkpoint.pt"
    stamp = converted.with_suffix(".sha256")
    key = ",".join(f.sha256 for f in model.files)
    if converted.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return converted
    from .records import _resolve

    convert = _resolve(model.convert, None)
    converted.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(converted, overwrite=True) as tmp:
        convert(paths, tmp)
    with atomic_output(stamp, overwrite=True) as tmp:
        tmp.write_text(key + "\n")
    return converted


def card_text(name: str, registry: Registry | None = None) -> str:
    model = get_model(name, registry)
    try:
        return Path(model.card).read_text()
    except OSError as err:
        raise EmganError(f"model {name}: its card cannot be read ({err.strerror})", str(model.card)) from None


def resolve_checkpoint(value: str | os.PathLike) -> Path:
    """A checkpoint file or run directory as given, else the checkpoint of the registered model of
    that name: what ``emgan infer`` and every command taking a trained model accept."""
    path = Path(value)
    if path.exists() or os.sep in str(value) or path.suffix in (".pt", ".ckpt"):
        return path
    registry = get_registry()
    if str(value) in registry.models:
        return checkpoint_path(str(value), registry=registry)
    return path  # reported by the checkpoint loader: not found
