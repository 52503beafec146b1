"""The records plugins return from their hooks (no heavy imports, so any module may use them).

A component's factory may be given as ``"package.module:attribute"``: it is imported on first use,
so that listing plugins, recipes and commands does not import torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


def _import(path: str) -> Any:
    module, _, attribute = path.partition(":")
    obj = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


@lru_cache(maxsize=None)
def _resolve(target: Any, wrap: Any) -> Any:
    obj = _import(target) if isinstance(target, str) else target
    if isinstance(wrap, str):
        wrap = _import(wrap)
    return wrap(obj) if wrap is not None else obj


@dataclass(frozen=True)
class Component:
    """A registered part: ``factory(**params)`` builds it; ``summary`` is one line for listings.

    ``target`` is the factory itself or its import path ``"package.module:attribute"`` (imported
    when the component is first used); ``wrap``, if given (a callable or an import path), turns the
    imported object into the factory (e.g. a metric function into a metric factory).
    """

    name: str
    target: Callable[..., Any] | str
    summary: str
    wrap: Callable[[Any], Callable[..., Any]] | str | None = None

    @property
    def factory(self) -> Callable[..., Any]:
        if not isinstance(self.target, str) and self.wrap is None:
            return self.target
        try:
            return _resolve(self.target, self.wrap)
        except (ImportError, AttributeError) as err:
            from .errors import RegistryError

            raise RegistryError(f"component '{self.name}' cannot be loaded from {self.target!r} "
                                f"({type(err).__name__}: {err})") from err

    def __post_init__(self):
        for path in (self.target, self.wrap):
            if isinstance(path, str) and ":" not in path:
                raise ValueError(f"component '{self.name}': an import path looks like "
                                 f"'package.module:attribute', got {path!r}")


@dataclass(frozen=True)
class RecipeDir:
    """A folder of recipe YAML files shipped by a plugin."""

    path: Path


@dataclass(frozen=True)
class Command:
    """A plugin subcommand: ``configure(parser)`` adds arguments and sets ``func`` (args -> int).

    ``configure`` may be an import path ``"package.module:function"``: it is imported only when the
    command is run (or its ``--help`` asked for), so ``emgan --help`` stays fast.
    """

    name: str
    configure: Callable[[Any], None] | str
    summary: str

    def configurator(self) -> Callable[[Any], None]:
        """The ``configure`` function, imported if given by path."""
        if not isinstance(self.configure, str):
            return self.configure
        try:
            return _resolve(self.configure, None)
        except (ImportError, AttributeError) as err:
            from .errors import RegistryError

            raise RegistryError(f"command '{self.name}' cannot be loaded from {self.configure!r} "
                                f"({type(err).__name__}: {err})") from err


@dataclass(frozen=True)
class ModelFile:
    """One file of a trained model: inside the package (``path``) or fetched from ``url`` on first
    use; either way refused unless its SHA-256 is ``sha256``. ``name`` is its file name in the cache."""

    name: str
    sha256: str
    url: str | None = None
    path: str | Path | None = None
    size: int | None = None  # bytes, for the listing

    def __post_init__(self):
        if (self.url is None) == (self.path is None):
            raise ValueError(f"model file '{self.name}': give exactly one of url (fetched) or path (shipped)")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"model file '{self.name}': sha256 must be 64 lower-case hex digits")


@dataclass(frozen=True)
class Model:
    """A trained model a plugin ships: ``emgan infer NAME …`` and the plugins' ``--model NAME``.

    ``task`` is the task its checkpoint loads into (``struc2mapgan``), ``files`` the files it needs,
    ``card`` the markdown model card (data, recipe, steps, hardware and time, license, and the
    held-out comparison with the classical baseline), ``license`` its licence (SPDX id).
    ``checkpoint`` names the file that is the emgan checkpoint; a model published in another
    format gives ``convert`` instead: ``"package.module:function"`` called as
    ``function(paths: dict[name, Path], output: Path)`` to write the checkpoint once, in the cache.
    """

    name: str
    task: str
    summary: str
    files: tuple[ModelFile, ...]
    card: str | Path
    license: str
    checkpoint: str | None = None
    convert: str | None = None

    @classmethod
    def bundled(cls, folder: str | Path, *, task: str, summary: str, sha256: str, size: int,
                license: str = "MIT") -> "Model":
        """A model shipped inside its plugin, laid out as ``models/NAME/NAME.pt`` beside
        ``models/NAME/card.md``: the folder's name is the model's."""
        folder = Path(folder)
        file = f"{folder.name}.pt"
        return cls(folder.name, task=task, summary=summary,
                   files=(ModelFile(file, sha256, path=folder / file, size=size),),
                   card=folder / "card.md", license=license, checkpoint=file)
