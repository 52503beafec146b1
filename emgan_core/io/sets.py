"""Labelled sample sets on disk (subtomograms, maps, particle images): a table (CSV or RELION STAR)
naming one MRC file per sample.

CSV: a ``label`` column and one or more path columns (``subtomogram``, ``density``, ``generated``
or ``path``; pick one with ``column``); extra columns (angles, shifts) are kept. STAR: the
``rlnImageName`` and ``rlnClassNumber`` columns of the particles block. Paths are relative to the
table. Sets written here are folders ``DIR/set.csv`` + ``DIR/<column>/<index>.mrc``, written into a
temporary folder and renamed into place, so a set exists whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EmganError
from ..volume import Volume
from .atomic import atomic_output, note_input, overwrite_allowed
from .maps import read_map, write_map
from .stacks import read_image_stack

PATH_COLUMNS = ("subtomogram", "density", "generated", "conventional", "path")


@dataclass
class LabelledSet:
    """Samples (N, z, y, x) (or (N, y, x) images) float32 at ``voxel_size`` Å, their labels (N,)
    (strings; empty when unlabelled) and the table's rows."""

    samples: np.ndarray
    labels: np.ndarray
    voxel_size: float
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def data(self) -> np.ndarray:
        """The samples (N, *S), as ``Volume.data`` / ``ImageStack.data`` hold theirs."""
        return self.samples

    def with_samples(self, samples: np.ndarray) -> "LabelledSet":
        """The same labels, voxel size and table with other samples (of the same count)."""
        if len(samples) != len(self.samples):
            raise ValueError(f"{len(samples)} samples for a set of {len(self.samples)}")
        return LabelledSet(np.asarray(samples, np.float32), self.labels, self.voxel_size, self.table)


def _read_table(path: Path) -> tuple[pd.DataFrame, str | None, str | None]:
    """(rows, path column, label column) of a CSV or STAR table."""
    if path.suffix.lower() == ".star":
        import starfile

        blocks = starfile.read(path, always_dict=True)
        rows = blocks.get("particles", next(iter(blocks.values())))
        rows = rows.rename(columns=lambda c: c.lstrip("_"))
        label = "rlnClassNumber" if "rlnClassNumber" in rows else None
        return rows, "rlnImageName" if "rlnImageName" in rows else None, label
    try:
        rows = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise EmganError(f"not a readable CSV table ({err})", str(path)) from None
    return rows, None, "label" if "label" in rows else None


def set_columns(path: str | os.PathLike) -> list[str]:
    """The column names of a set table, without reading its samples."""
    path = Path(path)
    if not path.is_file():
        raise EmganError("set table not found", str(path))
    return [str(c) for c in _read_table(path)[0].columns]


def read_set(path: str | os.PathLike, column: str | None = None) -> LabelledSet:
    """The samples and labels of a set table (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise EmganError("set table not found", str(path))
    note_input(path)
    rows, star_column, label_column = _read_table(path)
    column = column or star_column or next((c for c in PATH_COLUMNS if c in rows), None)
    if column is None or column not in rows:
        raise EmganError(f"no path column {column or ''} (columns: {', '.join(map(str, rows.columns))})", str(path))
    if rows.empty:
        raise EmganError("the set has no rows", str(path))
    volumes = []
    for i, name in enumerate(rows[column]):
        file = (path.parent / str(name).split("@")[-1]) if not Path(str(name)).is_absolute() else Path(name)
        if not file.is_file():
            raise EmganError(f"row {i + 1}: sample file not found: {file}", str(path))
        volumes.append(read_map(file))
    shapes = {v.shape for v in volumes}
    if len(shapes) > 1:
        raise EmganError(f"samples of several shapes {sorted(shapes)}: use one box size", str(path))
    sizes = np.array([v.voxel_size[0] for v in volumes])
    if not np.allclose(sizes, sizes[0], rtol=0.01):
        raise EmganError(f"samples at several voxel sizes ({sizes.min():.3f}–{sizes.max():.3f} Å)", str(path))
    labels = rows[label_column].astype(str).to_numpy() if label_column else np.full(len(rows), "")
    return LabelledSet(np.stack([v.data for v in volumes]).astype(np.float32), labels, float(sizes[0]), rows)


def read_samples(item, where: str) -> LabelledSet:
    """A data item of a recipe: a set table (``path`` or ``{set: path, column: name}``), an .mrcs
    image stack (2D samples, unlabelled) or one MRC map."""
    column = None
    if isinstance(item, dict):
        unknown = set(item) - {"set", "column"}
        if unknown or "set" not in item:
            raise EmganError(f"an item is a path or {{set: TABLE, column: NAME}}, got keys {sorted(item)}", where)
        item, column = item["set"], item.get("column")
    path = Path(str(item))
    if not path.exists():
        raise EmganError("file not found", f"{where}: {path}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".star"):
        return read_set(path, column)
    if suffix == ".mrcs":
        stack = read_image_stack(path)
        return LabelledSet(stack.data.astype(np.float32), np.full(len(stack.data), ""), stack.pixel_size,
                           pd.DataFrame({"path": [str(path)] * len(stack.data)}))
    volume = read_map(path)
    return LabelledSet(volume.data[None].astype(np.float32), np.array([""]), float(volume.voxel_size[0]),
                       pd.DataFrame({"path": [str(path)]}))


@contextlib.contextmanager
def new_set_folder(path: str | os.PathLike, overwrite: bool | None = None):
    """Yield a temporary folder beside ``path``; it becomes ``path`` when the block succeeds. An
    existing ``path`` is replaced only with ``overwrite`` (default: the command's ``--overwrite``)."""
    path = Path(path)
    if path.exists() and not (overwrite_allowed() if overwrite is None else overwrite):
        raise EmganError("exists already (give --overwrite to replace it)", str(path))
    if not path.parent.is_dir():
        raise EmganError(f"folder '{path.parent}' does not exist", str(path))
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_set(folder: Path, columns: dict[str, list[Volume]], labels, extra: dict | None = None) -> Path:
    """Write ``columns`` (name -> one Volume per sample) as ``folder/<name>/NNNNNN.mrc`` and the table
    ``folder/set.csv`` (label, one path column per name, ``extra`` columns). Returns the table."""
    n = len(labels)
    table = {"label": list(labels)}
    for name, volumes in columns.items():
        if len(volumes) != n:
            raise ValueError(f"{name}: {len(volumes)} volumes for {n} labels")
        (folder / name).mkdir(parents=True, exist_ok=True)
        table[name] = []
        for i, volume in enumerate(volumes):
            rel = f"{name}/{i:06d}.mrc"
            write_map(folder / rel, volume)
            table[name].append(rel)
    table.update(extra or {})
    with atomic_output(folder / "set.csv") as tmp:
        pd.DataFrame(table).to_csv(tmp, index=False)
    return folder / "set.csv"
