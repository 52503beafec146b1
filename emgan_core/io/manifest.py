"""CSV manifests: one row per data item (a map–model pair, a sample), as curation commands write them.

Columns are free; a task names the ones it reads. ``split`` (``train``, ``val``, ``test``; blank means
``train``) selects the rows of one set, and ``kept`` (``true``/``false``, when present) drops the rows
curation rejected. A relative path is taken from the manifest's folder when the file is there, else
from the current folder.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path


def resolve_path(value: str, base: Path) -> str:
    """``value`` relative to ``base`` when that file exists, else as given (current folder)."""
    if not value or Path(value).is_absolute():
        return value
    candidate = base / value
    return str(candidate) if candidate.exists() else value


def read_manifest(path: str | os.PathLike, split: str | None = None, columns=None,
                  paths=()) -> list[dict[str, str]]:
    """The rows of ``path`` (for ``split``, if given; kept rows only) as dicts of their non-empty
    cells, limited to ``columns`` if given; cells of the ``paths`` columns resolved as the module
    says. Raises :class:`~emgan_core.errors.EmganError` naming the file if it is missing or unreadable."""
    from ..errors import EmganError
    from .atomic import note_input

    path = Path(path)
    if not path.is_file():
        raise EmganError("manifest not found", str(path))
    note_input(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise EmganError(f"not a readable CSV manifest ({err})", str(path)) from None
    out = []
    for row in rows:
        if str(row.get("kept", "true")).strip().lower() not in ("true", "1", "yes"):
            continue
        if split is not None and ((row.get("split") or "").strip() or "train") != split:
            continue
        cells = {k: v.strip() for k, v in row.items()
                 if k is not None and v not in (None, "") and (columns is None or k in columns)}
        for k in paths:
            if k in cells:
                cells[k] = resolve_path(cells[k], path.parent)
        out.append(cells)
    return out
