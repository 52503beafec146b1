"""Real labelled subtomograms of microtubules and a helical-lattice model of them (two classes).

Domain S: sub-volumes of a real cryo-ET tomogram (ImageJ TIFF, (z, y, x), protein bright), each
holding one microtubule of known protofilament number (13 or 14). Boxes are cut along the
microtubule's axis, found as the principal axis of the brightest 10 % of voxels (after a 2-voxel
Gaussian smoothing), and resampled (trilinear) so that the axis runs along the box's y and the box's
z stays the beam direction (the axis lies in the specimen plane); then ``bin``-fold averaged. Boxes
are cut every ``step`` voxels along the axis; the first ``train_fraction`` of the axis gives the
training boxes, the rest, after a gap of one box edge (no voxel in both), the held-out test boxes.

Domain D: the helical lattice of an n-protofilament microtubule: tubulin monomers as Gaussian blobs
(σ = ``monomer_sigma`` Å) every 40 Å along each protofilament, protofilaments on a cylinder of
radius n · 52 Å / 2π (52 Å lateral spacing: 108 Å for 13, 116 Å for 14 protofilaments), each
rising 3 × 40 Å / n over its neighbour (a three-start lattice), the axis along y, turned by a
random angle about the axis and shifted by a random fraction of a dimer along it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from emgan_core.api import EmganError, Volume

LATERAL_SPACING = 52.0  # Å between neighbouring protofilaments
MONOMER_RISE = 40.0  # Å between monomers along a protofilament


def read_tiff_volume(path: str | Path, voxel_size: float | None = None) -> Volume:
    """A (z, y, x) float32 volume from an ImageJ TIFF stack; voxel size (Å) from its ``spacing``
    (nm when ``unit`` is nm, as ImageJ writes) unless given."""
    path = Path(path)
    if not path.is_file():
        raise EmganError("TIFF volume not found", str(path))
    try:
        import tifffile
    except ImportError:
        raise EmganError("reading TIFF volumes needs the tifffile package (pip install tifffile)", str(path)) from None
    try:
        with tifffile.TiffFile(path) as tif:
            data = tif.asarray()
            meta = tif.imagej_metadata or {}
    except (tifffile.TiffFileError, ValueError, OSError) as err:
        raise EmganError(f"not a readable TIFF file ({err})", str(path)) from None
    if data.ndim != 3:
        raise EmganError(f"expected a (z, y, x) stack, got shape {data.shape}", str(path))
    if voxel_size is None:
        spacing = meta.get("spacing")
        if spacing is None:
            raise EmganError("no voxel size in the TIFF (ImageJ 'spacing'): give it", str(path))
        voxel_size = float(spacing) * (10.0 if str(meta.get("unit", "nm")).lower() in ("nm", "nanometer") else 1.0)
    return Volume(data.astype(np.float32), voxel_size=float(voxel_size))


def filament_axis(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre (z, y, x) voxels, unit direction (z, y, x)) of the brightest 10 % of the smoothed volume."""
    smooth = ndimage.gaussian_filter(data.astype(np.float64), 2.0)
    points = np.argwhere(smooth > np.percentile(smooth, 90)).astype(np.float64)
    centre = points.mean(0)
    direction = np.linalg.svd(points - centre, full_matrices=False)[2][0]
    return centre, direction * np.sign(direction[np.argmax(np.abs(direction))])


def _frame(direction: np.ndarray) -> np.ndarray:
    """Rows: the box's z (beam, made orthogonal to the axis), y (the axis) and x axes in (z, y, x)."""
    ey = direction / np.linalg.norm(direction)
    ez = np.array([1.0, 0.0, 0.0]) - ey[0] * ey
    ez /= np.linalg.norm(ez)
    ex = np.cross(ez, ey)
    return np.stack([ez, ey, ex])


def cut_boxes(volume: Volume, box: int, step: float, bin: int = 1, train_fraction: float = 0.6):
    """(train boxes, test boxes) of ``box``³ voxels after ``bin``-fold binning, cut along the
    filament axis (see the module docstring); each box normalised to zero mean."""
    if box < 8 or bin < 1 or not 0 < train_fraction < 1 or not step > 0:
        raise EmganError("need box >= 8, bin >= 1, step > 0 and 0 < train_fraction < 1", "microtubules")
    centre, direction = filament_axis(volume.data)
    frame = _frame(direction)
    edge = box * bin
    offsets = (np.arange(edge) - (edge - 1) / 2.0)
    grid = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1) @ frame  # (e, e, e, 3) voxels
    # positions along the axis whose box stays inside the volume
    limits = np.array(volume.data.shape) - 1
    ts = []
    for t in np.arange(-max(limits), max(limits) + 1, step):
        corners = centre + t * direction + grid[[0, -1]][:, [0, -1]][:, :, [0, -1]].reshape(-1, 3)
        inside_yx = (corners[:, 1:] >= 0).all() and (corners[:, 1:] <= limits[1:]).all()
        if inside_yx:
            ts.append(t)
    if len(ts) < 4:
        raise EmganError(f"the filament is too short for {len(ts)} boxes of {edge} voxels", "microtubules")
    ts = np.array(ts)
    split = ts[0] + train_fraction * (ts[-1] - ts[0])
    boxes = {"train": [], "test": []}
    for t in ts:
        part = "train" if t <= split - edge / 2 else "test" if t >= split + edge / 2 else None
        if part is None:
            continue
        coords = (centre + t * direction + grid).transpose(3, 0, 1, 2)
        cut = ndimage.map_coordinates(volume.data, coords, order=1, mode="nearest")
        if bin > 1:
            cut = cut.reshape(box, bin, box, bin, box, bin).mean((1, 3, 5))
        boxes[part].append((cut - cut.mean()).astype(np.float32))
    return np.array(boxes["train"]), np.array(boxes["test"])


def lattice_model(protofilaments: int, box: int, voxel_size: float, rng: np.random.Generator,
                  monomer_sigma: float = 20.0) -> np.ndarray:
    """Density (z, y, x) of an n-protofilament microtubule lattice along y (module docstring)."""
    radius = protofilaments * LATERAL_SPACING / (2 * np.pi)
    turn = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(0, 2 * MONOMER_RISE)
    half = box * voxel_size / 2 + 3 * monomer_sigma
    blobs = []
    for k in range(protofilaments):
        phi = turn + 2 * np.pi * k / protofilaments
        y0 = shift + k * 3 * MONOMER_RISE / protofilaments
        ys = np.arange(y0 - half - 2 * MONOMER_RISE, half + 2 * MONOMER_RISE, MONOMER_RISE)
        ys = ys[np.abs(ys) <= half]
        blobs += [(radius * np.sin(phi), y, radius * np.cos(phi)) for y in ys]
    centres = np.array(blobs)  # (z, y, x) Å from the box centre
    axis = (np.arange(box) - (box - 1) / 2.0) * voxel_size
    out = np.zeros((box,) * 3)
    for z, y, x in centres:  # separable Gaussians
        gz, gy, gx = (np.exp(-0.5 * ((axis - c) / monomer_sigma) ** 2) for c in (z, y, x))
        out += gz[:, None, None] * gy[None, :, None] * gx[None, None, :]
    return out.astype(np.float32)


#: the folder :func:`microtubule_sets` reads: each class's tomogram (ImageJ TIFF, (z, y, x))
TOMOGRAMS = {"13pf": "13pf_MT.tif", "14pf": "14pf_MT.tif"}


def microtubule_sets(folder, output, *, box: int = 16, bin: int = 2, step: float = 2.0, count: int = 64,
                     seed: int = 0, recipe: str | None = None, settings: list[str] = (),
                     overwrite: bool = False) -> tuple[dict, float, int]:
    """Three labelled sets in ``output`` for the real-data experiment: ``real-train`` and
    ``real-test`` (column ``subtomogram``: boxes of the real tomograms in ``folder``, see
    :data:`TOMOGRAMS` and :func:`cut_boxes`), ``model`` (columns ``density``: ``count`` helical-lattice
    models per class, and ``conventional``: their conventional simulation by ``simulator/subtomogram``
    ``method: wedge`` at the boxes' voxel size, the ``recipe``'s settings (if any) and ``settings``
    (KEY=VALUE words) applied). Returns ({part: {class: boxes}}, voxel size in Å, lattice models)."""
    from emgan_core.api import new_set_folder, simulator_from, write_set

    folder, out = Path(folder), Path(output)
    if out.exists() and not overwrite:
        raise EmganError("exists already (give --overwrite to replace it)", str(out))
    classes = {label: folder / name for label, name in TOMOGRAMS.items()}
    real = {"train": ([], []), "test": ([], [])}
    voxel = None
    for label, path in classes.items():
        volume = read_tiff_volume(path)
        voxel = volume.voxel_size[0] * bin
        for part, boxes in zip(("train", "test"), cut_boxes(volume, box, step, bin)):
            real[part][0].extend(Volume(b, voxel_size=voxel) for b in boxes)
            real[part][1].extend([label] * len(boxes))
    sim = simulator_from("subtomogram", recipe, ["method=wedge", f"box={box}", *settings, f"voxel_size={voxel}"],
                         "cryoetgan microtubules")
    out.mkdir(parents=True, exist_ok=True)
    for part, (volumes, labels) in real.items():
        with new_set_folder(out / f"real-{part}", overwrite=True) as tmp:
            write_set(tmp, {"subtomogram": volumes}, labels)
    density, conventional, labels = [], [], []
    for k, label in enumerate(classes):
        rng = np.random.default_rng([seed, k])
        for _ in range(count):
            model = Volume(lattice_model(int(label[:2]), box, voxel, rng), voxel_size=voxel)
            density.append(model)
            conventional.append(model.with_data(sim.corrupt(model.data, rng)))
            labels.append(label)
    with new_set_folder(out / "model", overwrite=True) as tmp:
        write_set(tmp, {"density": density, "conventional": conventional}, labels)
    counts = {part: {c: v[1].count(c) for c in classes} for part, v in real.items()}
    return counts, voxel, len(labels)
