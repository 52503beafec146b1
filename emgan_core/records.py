"""The records plugins return from their hooks (no imports, so any module may use them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Component:
    """A registered part: ``factory(**params)`` builds it; ``summary`` is one line for listings."""

    name: str
    factory: Callable[..., Any]
    summary: str


@dataclass(frozen=True)
class RecipeDir:
    """A folder of recipe YAML files shipped by a plugin."""

    path: Path


@dataclass(frozen=True)
class Command:
    """A plugin subcommand: ``configure(parser)`` adds arguments and sets ``func`` (args -> int)."""

    name: str
    configure: Callable[[Any], None]
    summary: str
