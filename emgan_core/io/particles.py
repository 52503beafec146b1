"""RELION particle STAR files and the .mrcs stacks they point at.

Reads RELION 3.1+ files (``data_optics`` + ``data_particles``, origins in Å) and 3.0-style single
blocks (pixel size from rlnDetectorPixelSize × 10⁴ / rlnMagnification, origins in pixels). Image
paths ``k@stack.mrcs`` are found relative to the STAR file's folder, then the working folder.
Origins are kept in Å (``shift_x``, ``shift_y``): relion_project shifts a projection by −origin to
match its particle.

Nothing is guessed silently: a file without a pixel size is refused when read, one without
``rlnDefocusU`` is refused by :meth:`ParticleTable.require_ctf` (what every CTF operation calls),
and RELION's defaults for missing ``rlnVoltage`` / ``rlnSphericalAberration`` /
``rlnAmplitudeContrast`` (300 kV, 2.7 mm, 0.1) are announced on stderr, once per file, when a CTF
uses them.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

from ..errors import EmganError
from .atomic import atomic_output, note_input
from .maps import _check_extended_header


@dataclass
class ParticleTable:
    """One row per particle with resolved columns, and the STAR blocks it came from.

    ``rows`` columns: stack (Path), index (0-based), pixel_size (Å/pixel), rot, tilt, psi (degrees),
    shift_x, shift_y (Å), defocus_u, defocus_v (Å; NaN without rlnDefocusU), defocus_angle
    (degrees), voltage (kV), cs (mm), amplitude_contrast, phase_shift (degrees), b_factor (Å²).
    """

    path: Path
    blocks: dict[str, pd.DataFrame]
    particle_block: str
    rows: pd.DataFrame
    missing: frozenset = frozenset()  # STAR columns with a default (CTF_DEFAULTS, rlnDefocusU) that were absent

    def __len__(self) -> int:
        return len(self.rows)

    def require_ctf(self) -> "ParticleTable":
        """Check that the file holds what a CTF needs; call before any CTF operation.

        No ``rlnDefocusU``: an error naming the file and the column. Missing voltage, Cs or
        amplitude contrast: RELION's defaults are used and said on stderr once per file."""
        if "rlnDefocusU" in self.missing:
            raise EmganError("no rlnDefocusU column: the CTF needs each particle's defocus (turn the CTF off "
                             "or add the column)", str(self.path))
        defaults = [f"{column} = {value:g}{unit}" for column, (_, value, unit) in CTF_DEFAULTS.items()
                    if column in self.missing]
        key = (str(Path(self.path).resolve()), tuple(defaults))
        if defaults and key not in _ANNOUNCED:
            _ANNOUNCED.add(key)
            print(f"{self.path}: not in the STAR file, using RELION's defaults: {', '.join(defaults)}",
                  file=sys.stderr)
        return self


#: STAR column → (row name, RELION's default, unit) for the optics a CTF needs besides the defocus
CTF_DEFAULTS = {"rlnVoltage": ("voltage", 300.0, " kV"), "rlnSphericalAberration": ("cs", 2.7, " mm"),
                "rlnAmplitudeContrast": ("amplitude_contrast", 0.1, "")}
_ANNOUNCED: set = set()


def _read_blocks(path: Path) -> dict[str, pd.DataFrame]:
    import starfile

    if not path.is_file():
        raise EmganError("STAR file not found", str(path))
    note_input(path)
    try:
        data = starfile.read(path, always_dict=True)
    except Exception as exc:  # starfile raises assorted parser errors
        detail = " ".join(str(exc).split())  # parser messages may span lines
        raise EmganError(f"not a readable STAR file ({exc.__class__.__name__}: {detail})", str(path)) from None
    blocks = {k: v for k, v in data.items() if isinstance(v, pd.DataFrame)}
    if not blocks:
        raise EmganError("STAR file holds no loop_ table", str(path))
    for name, block in blocks.items():
        twice = block.columns[block.columns.duplicated()]
        if len(twice):
            raise EmganError(f"column {twice[0]} is listed twice in data_{name}", str(path))
    return blocks


def _find_stack(name: str, star: Path) -> Path:
    for candidate in (star.parent / name, Path(name)):
        try:
            found = candidate.is_file()
        except (OSError, ValueError) as err:  # a name too long, a NUL byte
            raise EmganError(f"particle stack {name!r} cannot be a file ({getattr(err, 'strerror', None) or err})",
                             str(star)) from None
        if found:
            note_input(candidate)
            return candidate
    raise EmganError(f"particle stack {name!r} not found next to the STAR file or in {os.getcwd()}", str(star))


def read_particle_star(path: str | os.PathLike, pixel_size: float | None = None) -> ParticleTable:
    """Parse a particle STAR file; ``pixel_size`` (Å/pixel) overrides what the file says."""
    path = Path(path)
    blocks = _read_blocks(path)
    name = next((k for k, v in blocks.items() if "rlnImageName" in v.columns), None)
    if name is None:
        raise EmganError("no table with rlnImageName (a particle STAR file is needed)", str(path))
    parts = blocks[name].copy()
    if parts.empty:
        raise EmganError(f"the particle table data_{name} lists no particles", str(path))
    optics = blocks.get("optics")
    if optics is not None and "rlnOpticsGroup" in parts.columns:
        parts = _join_optics(parts, optics, path)

    n = len(parts)
    col = lambda key, default: _numbers(parts, key, path) if key in parts else np.full(n, default)  # noqa: E731
    if pixel_size is not None:
        px = np.full(n, float(pixel_size))
    elif "rlnImagePixelSize" in parts:
        px = col("rlnImagePixelSize", 0.0)
    elif {"rlnDetectorPixelSize", "rlnMagnification"} <= set(parts.columns):
        with np.errstate(all="ignore"):  # a zero or huge value: refused below
            px = col("rlnDetectorPixelSize", 0.0) * 1e4 / col("rlnMagnification", 1.0)
    else:
        raise EmganError("no pixel size: no rlnImagePixelSize column (nor rlnDetectorPixelSize with "
                         "rlnMagnification); pass it explicitly", str(path))
    if not np.all(np.isfinite(px) & (px > 0)):
        raise EmganError("pixel size must be a positive number for every particle", str(path))
    if "rlnOriginXAngst" in parts:
        sx, sy = col("rlnOriginXAngst", 0.0), col("rlnOriginYAngst", 0.0)
    else:
        with np.errstate(over="ignore"):
            sx, sy = col("rlnOriginX", 0.0) * px, col("rlnOriginY", 0.0) * px

    stacks, index, cache = [], [], {}
    names = parts["rlnImageName"].map(str).tolist()  # a cell that reads as a number: its text (NaN too)
    for i, image_name in enumerate(names):
        k, sep, stack = image_name.partition("@")
        if not sep or not (k.strip().isascii() and k.strip().isdigit()) or int(k) < 1:
            raise EmganError(f"particle {i + 1}: rlnImageName {image_name!r} is not 'N@stack.mrcs'", str(path))
        if stack not in cache:
            cache[stack] = _find_stack(stack, path)
        stacks.append(cache[stack])
        index.append(int(k) - 1)
    _check_indices(stacks, index, names, path)
    du = col("rlnDefocusU", np.nan)
    missing = frozenset(c for c in ("rlnDefocusU", *CTF_DEFAULTS) if c not in parts)
    rows = pd.DataFrame({
        "stack": stacks, "index": index, "pixel_size": px,
        "rot": col("rlnAngleRot", 0.0), "tilt": col("rlnAngleTilt", 0.0), "psi": col("rlnAnglePsi", 0.0),
        "shift_x": sx, "shift_y": sy,
        "defocus_u": du, "defocus_v": col("rlnDefocusV", np.nan), "defocus_angle": col("rlnDefocusAngle", 0.0),
        **{name: col(column, value) for column, (name, value, _) in CTF_DEFAULTS.items()},
        "phase_shift": col("rlnPhaseShift", 0.0),
        "b_factor": col("rlnCtfBfactor", 0.0),
    })
    rows["defocus_v"] = rows["defocus_v"].fillna(rows["defocus_u"])
    return ParticleTable(path, blocks, name, rows, missing)


def _join_optics(parts: pd.DataFrame, optics: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``parts`` with the columns of its optics group's row of ``optics`` (groups compared by value when
    they are whole numbers, 1 = 1.0 = 01, else as written)."""
    if "rlnOpticsGroup" not in optics.columns:
        raise EmganError("the particles name an rlnOpticsGroup but data_optics has no rlnOpticsGroup column",
                         str(path))
    groups = _group_labels(optics["rlnOpticsGroup"])
    if groups.duplicated().any():
        raise EmganError(f"optics group {groups[groups.duplicated()].iloc[0]!r} is listed twice in data_optics",
                         str(path))
    wanted = _group_labels(parts["rlnOpticsGroup"])
    unknown = np.flatnonzero(~wanted.isin(set(groups)).to_numpy())
    if unknown.size:
        i = int(unknown[0])
        listed = ", ".join(repr(g) for g in groups[:5]) + (", …" if len(groups) > 5 else "")
        raise EmganError(f"particle {i + 1}: rlnOpticsGroup {wanted.iloc[i]!r} is not a group of data_optics "
                         f"({listed or 'none'})", str(path))
    extra = [c for c in optics.columns if c not in parts.columns]
    table = optics[extra].assign(rlnOpticsGroup=groups.to_numpy())
    joined = parts.assign(rlnOpticsGroup=wanted.to_numpy()).merge(table, on="rlnOpticsGroup", how="left")
    return joined.assign(rlnOpticsGroup=parts["rlnOpticsGroup"].to_numpy())


def _group_labels(column: pd.Series) -> pd.Series:
    """Optics group labels: whole numbers as their integer text, anything else as written."""
    labels = pd.Series([str(v).strip() for v in column], index=column.index, dtype=object)
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(numbers) & (np.abs(numbers) < 2**53) & (np.mod(numbers, 1) == 0)
    labels[whole] = [str(int(v)) for v in numbers[whole]]
    return labels


def _numbers(parts: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """A numeric STAR column as float64; a cell that is not a number is an error naming the column
    and the particle (row, 1-based)."""
    values = pd.to_numeric(parts[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values) & parts[column].notna().to_numpy()
                         & (parts[column].astype(str).str.lower() != "nan").to_numpy())
    if bad.size:
        i = int(bad[0])
        raise EmganError(f"{column}, particle {i + 1}: {parts[column].iloc[i]!r} is not a number", str(path))
    return values


def _check_indices(stacks: list[Path], index: list[int], names: list[str], path: Path) -> None:
    """Every ``N@stack`` must name an image the stack holds (its header's image count)."""
    counts = {}
    for stack in dict.fromkeys(stacks):
        _check_extended_header(Path(stack))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with mrcfile.open(stack, mode="r", permissive=True, header_only=True) as mrc:
                    counts[stack] = int(mrc.header.nz) if int(mrc.header.nz) > 0 else 1
        except (ValueError, OSError, OverflowError) as exc:
            raise EmganError(f"cannot read particle stack ({exc})", str(stack)) from None
    for i, (stack, k) in enumerate(zip(stacks, index)):
        if k >= counts[stack]:
            raise EmganError(f"particle {i + 1}: rlnImageName {names[i]!r} asks for image {k + 1}, but "
                             f"{stack.name} holds {counts[stack]}", str(path))


def read_particle_images(table: ParticleTable) -> np.ndarray:
    """(n, y, x) float32 images in STAR order (each stack opened once, memory-mapped)."""
    out = None
    for stack, group in table.rows.groupby("stack", sort=False):
        _check_extended_header(Path(stack))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # headerless stacks (map ID, machine stamp) are common
                mrc = mrcfile.mmap(stack, mode="r", permissive=True)
            with mrc:
                if mrc.data is None or mrc.data.ndim not in (2, 3):
                    found = "no readable data block" if mrc.data is None else f"data of shape {mrc.data.shape}"
                    raise EmganError(f"not a particle image stack ({found})", str(stack))
                data = mrc.data if mrc.data.ndim == 3 else mrc.data[None]
                if group["index"].max() >= data.shape[0]:
                    raise EmganError(f"STAR asks for image {group['index'].max() + 1} but the stack has "
                                     f"{data.shape[0]}", str(stack))
                images = np.asarray(data[group["index"].to_numpy()], dtype=np.float32)
        except (ValueError, OSError, OverflowError) as exc:
            raise EmganError(f"cannot read particle stack ({exc})", str(stack)) from None
        if out is None:
            out = np.zeros((len(table),) + images.shape[1:], np.float32)
        if images.shape[1:] != out.shape[1:]:
            raise EmganError(f"images are {images.shape[1:]}, others {out.shape[1:]}: one box size per STAR",
                             str(stack))
        out[group.index.to_numpy()] = images
    return out


def stack_rows(table: ParticleTable, stack: str | os.PathLike) -> np.ndarray:
    """Boolean mask of the particles whose image lies in ``stack`` (an error if there is none)."""
    source = Path(stack).resolve()
    keep = np.array([Path(s).resolve() == source for s in table.rows["stack"]])
    if not keep.any():
        raise EmganError(f"no particle of the STAR file points into {stack}", str(table.path))
    return keep


def write_star_copy(table: ParticleTable, stack_path: str | os.PathLike, star_path: str | os.PathLike,
                    source_stack: str | os.PathLike | None = None) -> Path:
    """Write ``table``'s STAR file with rlnImageName pointing into ``stack_path`` (atomically).

    Without ``source_stack`` the new stack holds every particle in STAR order (row i → image i + 1).
    With it, the new stack is an image-by-image copy of ``source_stack``: rows that point into it
    keep their image number, other rows are left out.
    """
    import starfile

    star_path = Path(star_path)
    rel = os.path.relpath(Path(stack_path).resolve(), star_path.resolve().parent)
    blocks = {k: v.copy() for k, v in table.blocks.items()}
    particles = blocks[table.particle_block]
    if source_stack is None:
        numbers = np.arange(1, len(table) + 1)
        keep = np.ones(len(table), bool)
    else:
        keep = stack_rows(table, source_stack)
        numbers = table.rows["index"].to_numpy() + 1
    particles["rlnImageName"] = [f"{k:06d}@{rel}" for k in numbers]
    blocks[table.particle_block] = particles[keep].reset_index(drop=True)
    with atomic_output(star_path) as tmp:
        starfile.write(blocks, tmp, overwrite=True)
    return star_path


def write_particle_star(star_path: str | os.PathLike, stack_path: str | os.PathLike, angles: np.ndarray,
                        pixel_size: float, image_size: int, defocus: np.ndarray | None = None,
                        voltage: float = 300.0, cs: float = 2.7, amplitude_contrast: float = 0.1,
                        extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write a RELION 3.1 particle STAR file (optics + particles) for image i + 1 of ``stack_path``.

    ``angles`` (n, 3) RELION (rot, tilt, psi) in degrees; ``defocus`` (n,) Å (no CTF columns when
    None); ``extra`` more particle columns (name → (n,) values). Written atomically.
    """
    import starfile

    star_path = Path(star_path)
    angles = np.atleast_2d(np.asarray(angles, dtype=np.float64))
    n = len(angles)
    rel = os.path.relpath(Path(stack_path).resolve(), star_path.resolve().parent)
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                           "rlnAmplitudeContrast": [amplitude_contrast], "rlnSphericalAberration": [cs],
                           "rlnVoltage": [voltage], "rlnImagePixelSize": [pixel_size],
                           "rlnImageSize": [int(image_size)], "rlnImageDimensionality": [2]})
    particles = {"rlnImageName": [f"{i + 1:06d}@{rel}" for i in range(n)],
                 "rlnAngleRot": angles[:, 0], "rlnAngleTilt": angles[:, 1], "rlnAnglePsi": angles[:, 2],
                 "rlnOriginXAngst": np.zeros(n), "rlnOriginYAngst": np.zeros(n), "rlnOpticsGroup": np.ones(n, int)}
    if defocus is not None:
        particles.update({"rlnDefocusU": np.asarray(defocus, float), "rlnDefocusV": np.asarray(defocus, float),
                          "rlnDefocusAngle": np.zeros(n)})
    particles.update(extra or {})
    with atomic_output(star_path) as tmp:
        starfile.write({"optics": optics, "particles": pd.DataFrame(particles)}, tmp, overwrite=True)
    return star_path
