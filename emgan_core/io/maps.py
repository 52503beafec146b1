"""MRC/CCP4 maps with mrcfile: geometry-exact reading and writing of :class:`~emgan_core.volume.Volume`.

Where a map sits (the MRC trap): the header holds both ORIGIN (Å) and N*START (voxels).
ChimeraX and Mol* use ORIGIN when it is non-zero and N*START × voxel size otherwise; gemmi
applies only N*START. :func:`resolve_origin` is the one place that decides, and
:func:`write_map` writes both fields consistently so that all three tools agree.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import mrcfile
import numpy as np

from ..errors import EmganError
from ..volume import Volume
from .atomic import atomic_output, note_input

_AXIS = {1: "x", 2: "y", 3: "z"}


def _check_extended_header(path: Path) -> None:
    """Refuse an uncompressed file whose NSYMBT (extended header size) is larger than the file, before
    mrcfile reads it: mrcfile allocates NSYMBT bytes first, up to 2 GiB for a corrupt header. The
    byte order is chosen as mrcfile chooses it (machine stamp, else little-endian; the other order
    when only that one gives a valid mode)."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read(1024)
        size = path.stat().st_size
    except OSError:
        return  # mrcfile reports it
    if len(raw) < 1024 or raw[:2] == b"\x1f\x8b" or raw[:3] == b"BZh":
        return  # too short (mrcfile reports it) or compressed (its size is not the file's)

    def read(order: str):
        return np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE.newbyteorder(order))[0]

    try:
        order = mrcfile.utils.byte_order_from_machine_stamp(read("<")["machst"])
    except ValueError:
        order = "<"
    header = read(order)
    try:
        mrcfile.utils.dtype_from_mode(header["mode"])
    except ValueError:
        flipped = read(">" if order == "<" else "<")
        try:
            mrcfile.utils.dtype_from_mode(flipped["mode"])
            header = flipped
        except ValueError:
            pass
    nsymbt = int(header["nsymbt"])
    if nsymbt > size - 1024:
        raise EmganError(f"corrupt header: an extended header of NSYMBT = {nsymbt} bytes does not fit in the "
                         f"file ({size} bytes)", str(path))


def _open(path: Path):
    """Open permissively, collecting mrcfile's warnings; fatal ones become EmganError."""
    if not path.exists():
        raise EmganError("file not found", str(path))
    if path.is_dir():
        raise EmganError("is a directory, expected an MRC/CCP4 map", str(path))
    note_input(path)
    _check_extended_header(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mrc = mrcfile.open(str(path), mode="r", permissive=True)
        except (ValueError, OSError, EOFError, OverflowError) as err:  # Overflow: sizes beyond any file
            raise EmganError(f"not a readable MRC/CCP4 map ({err})", str(path)) from None
    notes = [str(w.message) for w in caught]
    for note in notes:
        if "larger than expected" in note:
            mrc.close()
            raise EmganError(f"header disagrees with file size: {note}", str(path))
    if mrc.data is None:
        mrc.close()
        detail = "; ".join(n for n in notes if "data block" in n) or "; ".join(notes)
        raise EmganError(f"truncated or corrupt MRC data block ({detail})", str(path))
    if np.iscomplexobj(mrc.data):
        mode = int(mrc.header.mode)
        mrc.close()
        raise EmganError(f"complex-valued data (MRC mode {mode}, a Fourier transform?), expected real densities",
                         str(path))
    return mrc, notes


def _axis_permutation(header, where: str) -> tuple[int, ...]:
    """Permutation taking the stored (sections, rows, columns) array to (z, y, x)."""
    order = (int(header.maps), int(header.mapr), int(header.mapc))  # axis of data dims 0, 1, 2
    if sorted(order) != [1, 2, 3]:
        raise EmganError(
            f"invalid axis order MAPC,MAPR,MAPS = {order[2]},{order[1]},{order[0]} "
            "(must be a permutation of 1,2,3)",
            where,
        )
    return tuple(order.index(axis) for axis in (3, 2, 1))


def voxel_size_from_header(header, where: str) -> np.ndarray:
    """Voxel size (x, y, z) in Å = CELLA / (MX, MY, MZ) — the sampling, not NX, NY, NZ."""
    cella = np.array([header.cella.x, header.cella.y, header.cella.z], dtype=np.float64)
    sampling = np.array([header.mx, header.my, header.mz], dtype=np.float64)
    if np.any(sampling <= 0) or not np.all(np.isfinite(cella) & (cella > 0)):
        raise EmganError(
            f"header has no valid voxel size (CELLA {cella.tolist()} Å, MX,MY,MZ "
            f"{sampling.astype(int).tolist()})",
            where,
        )
    return cella / sampling


def read_voxel_size(path: str | os.PathLike) -> np.ndarray:
    """Voxel size (x, y, z) in Å of a map, from its header alone (no data read)."""
    path = Path(path)
    if not path.is_file():
        raise EmganError("file not found", str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(str(path), mode="r", permissive=True, header_only=True) as mrc:
                return voxel_size_from_header(mrc.header, str(path))
    except (ValueError, OSError, EOFError) as err:
        raise EmganError(f"not a readable MRC/CCP4 map ({err})", str(path)) from None


def resolve_origin(header, voxel_size: np.ndarray) -> np.ndarray:
    """World position (x, y, z, Å) of the first stored voxel, as ChimeraX and Mol* place the map.

    ORIGIN wins when any of its components is non-zero; otherwise N*START × voxel size. The
    product is formed in float32, the header's own precision, so a written map reads back
    bit-for-bit.
    """
    origin = np.array([header.origin.x, header.origin.y, header.origin.z], dtype=np.float32)
    if np.any(origin != 0):
        return origin.astype(np.float64)
    start = _start_xyz(header)
    with np.errstate(over="ignore", invalid="ignore"):  # a corrupt header: read_map refuses the result
        return (np.asarray(start, np.float32) * voxel_size.astype(np.float32)).astype(np.float64)


def _start_xyz(header) -> tuple[int, int, int]:
    """N*START reordered from (columns, rows, sections) to (x, y, z)."""
    by_axis = {int(header.mapc): int(header.nxstart), int(header.mapr): int(header.nystart),
               int(header.maps): int(header.nzstart)}
    return tuple(by_axis.get(a, 0) for a in (1, 2, 3))


def read_map(path: str | os.PathLike, allow_stack: bool = True) -> Volume:
    """Read an MRC/CCP4 map (optionally gzip/bzip2-compressed) as a (z, y, x) float32 Volume.

    Non-standard axis orders are transposed to (z, y, x); voxel size, ORIGIN and N*START are kept.
    Raises :class:`EmganError` for a missing, truncated or corrupt file, a header that disagrees
    with the file size, or non-finite values; with ``allow_stack`` False, also for a particle
    stack (.mrcs/.star). The MRC space group cannot tell: maps with ISPG 0 (EMD-2566) are common.
    """
    path = Path(path)
    where = str(path)
    if not allow_stack and path.name.lower().endswith((".mrcs", ".mrcs.gz", ".mrcs.bz2", ".star")):
        raise EmganError("this is a particle image stack, not a 3D map (.mrc/.map/.ccp4)", where)
    mrc, _notes = _open(path)
    try:
        header = mrc.header
        if mrc.is_image_stack() or mrc.data.ndim != 3:
            if mrc.data.ndim == 2:
                data = mrc.data[None]
            elif mrc.data.ndim == 3:
                data = mrc.data
            else:
                raise EmganError(f"expected a 3D map, got data of shape {mrc.data.shape}", where)
        else:
            data = mrc.data
        perm = _axis_permutation(header, where)
        voxel = voxel_size_from_header(header, where)
        origin = resolve_origin(header, voxel)
        if not np.all(np.isfinite(origin)):
            raise EmganError(f"header places the map at a non-finite origin {origin.tolist()} Å "
                             "(ORIGIN, or N*START × voxel size)", where)
        start = _start_xyz(header)
        cell = (tuple(float(c) for c in (header.cella.x, header.cella.y, header.cella.z)),
                (int(header.mx), int(header.my), int(header.mz)))
        array = np.array(np.transpose(data, perm), dtype=np.float32, order="C")  # owned, writable
    finally:
        mrc.close()
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise EmganError(f"map contains {bad} NaN or infinite values", where)
    return Volume(array, voxel_size=voxel, origin=origin, start=start, cell=cell)


def _start_for_origin(volume: Volume) -> tuple[int, int, int]:
    """N*START to write: the lattice index of the origin where it lies on the lattice."""
    index = volume.origin / volume.voxel_size
    nearest = np.round(index)
    if np.all(np.abs(index - nearest) < 1e-3):
        return tuple(int(v) for v in nearest)
    warnings.warn(
        f"origin {volume.origin.tolist()} Å is not a whole number of voxels; programs that read "
        "only N*START (gemmi) will place this map differently from ChimeraX",
        RuntimeWarning,
        stacklevel=3,
    )
    return volume.start


def _cell_for(volume: Volume) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """CELLA and MX, MY, MZ: the map's own when they still give its voxel size exactly."""
    if volume.cell is not None:
        cella, sampling = volume.cell
        if np.array_equal(np.asarray(cella, np.float64) / np.asarray(sampling, np.float64),
                          volume.voxel_size):
            return tuple(cella), tuple(sampling)
    n_xyz = np.array(volume.shape[::-1], dtype=np.float64)
    cella = tuple(float(np.float32(c)) for c in volume.voxel_size * n_xyz)
    return cella, tuple(int(n) for n in n_xyz)


def write_map(path: str | os.PathLike, volume: Volume, label: str | None = None,
              overwrite: bool | None = None) -> Path:
    """Write ``volume`` atomically as a standard-order (1, 2, 3) float32 MRC2014 map.

    Both ORIGIN and N*START are written so that ChimeraX, gemmi and mrcfile place the map alike.
    An existing file is replaced only with ``overwrite`` (default: the command's ``--overwrite``;
    see :mod:`emgan_core.io.atomic`).
    """
    path = Path(path)
    data = np.ascontiguousarray(volume.data, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise EmganError("refusing to write a map with NaN or infinite values", str(path))
    start = _start_for_origin(volume)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with mrcfile.new(str(tmp), overwrite=True) as mrc:
            mrc.set_data(data)
            header = mrc.header
            header.mapc, header.mapr, header.maps = 1, 2, 3
            nz, ny, nx = data.shape
            cella, sampling = _cell_for(volume)
            header.mx, header.my, header.mz = sampling
            header.cella = cella
            header.nxstart, header.nystart, header.nzstart = start
            header.origin = tuple(float(np.float32(o)) for o in volume.origin)
            if label:
                mrc.add_label(label[:80])
            mrc.update_header_stats()
    return path
