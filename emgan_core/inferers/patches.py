"""Split a volume or image into overlapping patches and merge them back, streaming in batches.

``crop`` goes through torchio 1.x's :class:`~torchio.GridSampler` and :class:`~torchio.GridAggregator`
(torchio's main branch renames them; only this module changes). ``average`` and ``hann`` use a
vectorised grid of their own: any stride (torchio needs an even overlap, SuperEM's 25³ cubes at
stride 4 have an odd one), no per-patch Python objects, and a window rule that leaves patches out
before they are cut (``windows``: all, non-empty, centre voxel non-zero, or core non-zero).

Merge modes:

* ``crop``: each patch keeps only its central ``core`` (struc2mapGAN: 32³ patches, 20³ core); the
  input is zero-padded by (patch − core) / 2 so that border voxels also come from a core.
* ``average``: overlapping predictions are averaged with equal weights (SuperEM).
* ``hann``: overlaps are blended with a Hann window, which hides patch seams.

Arrays are (C, z, y, x) or (z, y, x) for volumes and (C, y, x) or (y, x) for images (given as
``spatial_dims=2``). Peak memory is the padded input, the output and (average, hann) one weight
map, plus one batch of patches, whatever the size of the map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np
import torch
import torchio as tio

from ..errors import EmganError

Mode = Literal["crop", "average", "hann"]
WindowRule = Literal["all", "nonempty", "centre", "core"]
WINDOW_RULES = ("all", "nonempty", "centre", "core")


def _as_triple(value, spatial_dims: int, name: str) -> tuple[int, int, int]:
    vals = [int(v) for v in np.atleast_1d(value)]
    if len(vals) == 1:
        vals = vals * spatial_dims
    if len(vals) != spatial_dims:
        raise EmganError(f"needs 1 or {spatial_dims} values, got {len(vals)}", name)
    if spatial_dims == 2:
        vals = [1] + vals
    return tuple(vals)


def padded_extent(size: int, patch: int, stride: int) -> int:
    """Length an axis of ``size`` is zero-padded to so a grid from 0 in steps of ``stride`` ends
    with a patch covering the last voxel: ``patch + k·stride``."""
    return patch + max(0, -(-(size - patch) // stride)) * stride


def grid_starts(shape, patch, stride) -> torch.Tensor:
    """(N, d) patch starts over an array of ``shape`` padded as :func:`padded_extent` says;
    ``patch`` and ``stride`` are one int or one per axis."""
    patch = [int(p) for p in np.broadcast_to(patch, (len(shape),))]
    stride = [int(s) for s in np.broadcast_to(stride, (len(shape),))]
    axes = [torch.arange(0, padded_extent(n, p, s) - p + 1, s) for n, p, s in zip(shape, patch, stride)]
    return torch.cartesian_prod(*axes).reshape(-1, len(shape))


class PatchInferer:
    """Run a patch-wise function over a whole array and merge the outputs.

    Args:
        patch_size: patch edge in voxels (int or one per spatial axis, z-y-x / y-x order).
        mode: ``crop``, ``average`` or ``hann`` (see module docstring).
        core: with ``crop``, the central part kept from each patch (default: the whole patch).
        stride: with ``average``/``hann``, distance between patch starts (default: patch / 2).
        batch_size: patches per call of the function.
        spatial_dims: 3 for volumes, 2 for images.

        skip_empty: patches whose input is all zero are not passed to the function and add
            nothing to the merge (voxels no computed patch covers get 0). Maps with a zero
            background (SuperEM's thresholded inputs) save most of their patches this way.
            Same as ``windows="nonempty"``.
        windows: which grid patches are computed (``average``/``hann`` only): ``all``;
            ``nonempty`` (some input voxel is non-zero); ``centre`` (the patch's centre voxel,
            index ``patch // 2`` per axis, is non-zero: EM-GAN's rule on a map zeroed below its
            contour); ``core`` (some voxel of the central ``stride``-sized block is non-zero, so
            every non-zero voxel gets the patch it is most central in). Patches left out add
            nothing to the merge; voxels that no computed patch covers get 0.

    ``crop`` needs ``patch − core`` to be even (torchio). With ``average``/``hann`` the grid runs
    from the first voxel in steps of ``stride``, and the array is zero-padded at its far end so
    that the last patch covers the last voxel.
    """

    def __init__(
        self,
        patch_size: int | tuple[int, ...],
        mode: Mode = "crop",
        core: int | tuple[int, ...] | None = None,
        stride: int | tuple[int, ...] | None = None,
        batch_size: int = 8,
        spatial_dims: int = 3,
        skip_empty: bool = False,
        windows: WindowRule | None = None,
    ):
        if mode not in ("crop", "average", "hann"):
            raise EmganError(f"unknown merge mode '{mode}' (crop, average, hann)", "mode")
        if spatial_dims not in (2, 3):
            raise EmganError(f"must be 2 or 3, got {spatial_dims}", "spatial_dims")
        self.spatial_dims = spatial_dims
        self.mode = mode
        self.patch_size = _as_triple(patch_size, spatial_dims, "patch_size")
        if mode == "crop":
            keep = self.patch_size if core is None else _as_triple(core, spatial_dims, "core")
            overlap = tuple(p - c for p, c in zip(self.patch_size, keep))
            what, name = "core", "core"
        else:
            default = tuple(max(1, p // 2) for p in self.patch_size[3 - spatial_dims:])
            steps = _as_triple(default if stride is None else stride, spatial_dims, "stride")
            if spatial_dims == 2:
                steps = (1,) + steps[1:]
            overlap = tuple(p - s for p, s in zip(self.patch_size, steps))
            what, name = "stride", "stride"
        if any(o < 0 for o in overlap):
            raise EmganError(f"{what} must not exceed the patch size {self.patch_size}", name)
        self.stride = None if mode == "crop" else tuple(p - o for p, o in zip(self.patch_size, overlap))
        if mode == "crop" and any(o % 2 for o in overlap):
            raise EmganError(
                f"patch size {self.patch_size} minus {what} must be even along every axis "
                f"(got {overlap}); pick a {what} of the same parity as the patch size", name,
            )
        self.overlap = overlap
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise EmganError(f"must be at least 1, got {batch_size}", "batch_size")
        if any(s < 1 for s in (self.stride or (1,))):
            raise EmganError("must be at least 1 along every axis", "stride")
        if windows is not None and windows not in WINDOW_RULES:
            raise EmganError(f"unknown window rule '{windows}' ({', '.join(WINDOW_RULES)})", "windows")
        if mode == "crop" and windows not in (None, "all"):
            raise EmganError("window rules apply to the average and hann merges only", "windows")
        self.windows = "all" if mode == "crop" else windows or ("nonempty" if skip_empty else "all")
        self.skip_empty = bool(skip_empty) if mode == "crop" else self.windows != "all"

    @classmethod
    def from_settings(cls, settings, spatial_dims: int = 3, window=None) -> "PatchInferer":
        """The inferer an :class:`~emgan_core.settings.inference.EvalSettings` describes;
        ``window``: the edge to use where the settings leave it to the model (its training patch).
        With ``crop``, ``windows: nonempty`` skips all-zero windows; other rules need a blend."""
        if settings.blend == "tiles":
            raise EmganError("tiles run through emgan_core.inferers.tiles.tiled_inferer, not windows", "eval.blend")
        size = settings.window if settings.window is not None else window
        if size is None:
            raise EmganError("no window size: set eval.window (voxels)", "eval.window")
        crop = settings.blend == "crop"
        if crop and settings.windows not in ("all", "nonempty"):
            raise EmganError(f"the window rule '{settings.windows}' needs the average or hann blend", "eval.windows")
        return cls(size, settings.blend, core=settings.window_core, stride=settings.window_stride,
                   batch_size=settings.batch_size, spatial_dims=spatial_dims,
                   skip_empty=crop and settings.windows == "nonempty", windows=None if crop else settings.windows)

    def _to_tensor(self, array) -> torch.Tensor:
        array = np.asarray(array, dtype=np.float32)
        if not array.flags.writeable:
            array = array.copy()
        tensor = torch.from_numpy(array)
        if tensor.dim() == self.spatial_dims:
            tensor = tensor.unsqueeze(0)
        if self.spatial_dims == 2:
            tensor = tensor.unsqueeze(1)  # (C, 1, y, x)
        if tensor.dim() != 4:
            raise EmganError(f"expected a {self.spatial_dims}D array (optionally with channels), "
                             f"got shape {tuple(array.shape)}", "input")
        return tensor

    def _sampler(self, tensor: torch.Tensor) -> tio.GridSampler:
        # pad small inputs up to one patch (the aggregator crops the result back)
        deficit = [max(0, p - s) for s, p in zip(tensor.shape[1:], self.patch_size)]
        if any(deficit):
            tensor = torch.nn.functional.pad(tensor, [x for d in reversed(deficit) for x in (0, d)])
        subject = tio.Subject(image=tio.ScalarImage(tensor=tensor))
        return tio.GridSampler(subject, self.patch_size, self.overlap, padding_mode=0)

    def split(self, array) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (patches (B, C, *patch), locations (B, 6)) batches, streaming; locations are
        (z0, y0, x0, z1, y1, x1) in the (padded, for ``crop``) input."""
        tensor = self._to_tensor(array)
        if self.mode == "crop":
            yield from self._batches(self._sampler(tensor))
        else:
            padded = self._pad_to_grid(tensor)
            for patches, starts in self._grid_batches(padded):
                yield patches, torch.cat([starts, starts + torch.tensor(self.patch_size)], 1)

    # -- native grid (average, hann) -------------------------------------------------------------

    def _pad_to_grid(self, tensor: torch.Tensor) -> torch.Tensor:
        spatial = tensor.shape[1:]
        need = [padded_extent(n, p, s) for n, p, s in zip(spatial, self.patch_size, self.stride)]
        extra = [x for n, m in zip(reversed(spatial), reversed(need)) for x in (0, m - n)]
        return torch.nn.functional.pad(tensor, extra) if any(extra) else tensor

    def _kept_starts(self, padded: torch.Tensor) -> torch.Tensor:
        """(N, 3) grid starts of the patches the window rule keeps, in grid order."""
        starts = grid_starts(padded.shape[1:], self.patch_size, self.stride)
        if self.windows == "all" or not len(starts):
            return starts
        occupied = padded.abs().amax(0) > 0  # (z, y, x)
        if self.windows == "centre":
            c = starts + torch.tensor([p // 2 for p in self.patch_size])
            return starts[occupied[c[:, 0], c[:, 1], c[:, 2]]]
        if self.windows == "nonempty":
            offset, size = (0, 0, 0), self.patch_size
        else:  # core: the stride-sized block around the centre
            size = tuple(min(s, p) for s, p in zip(self.stride, self.patch_size))
            offset = tuple(p // 2 - s // 2 for p, s in zip(self.patch_size, size))
        # occupied-voxel count of each box from a 3D summed-area table
        table = torch.nn.functional.pad(occupied.to(torch.int32).cumsum(0).cumsum(1).cumsum(2), (1, 0, 1, 0, 1, 0))
        lo = starts + torch.tensor(offset)
        hi = lo + torch.tensor(size)
        count = torch.zeros(len(starts), dtype=torch.int64)
        for corner in range(8):
            pick = [hi[:, a] if corner >> a & 1 else lo[:, a] for a in range(3)]
            sign = -1 if (3 - bin(corner).count("1")) % 2 else 1
            count += sign * table[pick[0], pick[1], pick[2]].long()
        return starts[count > 0]

    def _grid_batches(self, padded: torch.Tensor):
        """(patches (B, C, *patch), starts (B, 3)) over the grid of a padded (C, z, y, x) tensor,
        only the patches the window rule keeps (full batches: the rule runs before cutting)."""
        starts = self._kept_starts(padded)
        pz, py, px = self.patch_size
        for first in range(0, len(starts), self.batch_size):
            chunk = starts[first:first + self.batch_size]
            patches = torch.stack([padded[:, z:z + pz, y:y + py, x:x + px] for z, y, x in chunk.tolist()])
            yield patches, chunk

    def count(self, array) -> int:
        """How many patches of ``array`` the function would see (after the window rule)."""
        tensor = self._to_tensor(array)
        if self.mode == "crop":
            return len(self._sampler(tensor))
        return len(self._kept_starts(self._pad_to_grid(tensor)))

    def _window(self) -> torch.Tensor:
        if self.mode == "average":
            return torch.ones(self.patch_size)
        # sin² bump that never reaches 0, so every voxel of the array gets weight
        w = [torch.sin(torch.pi * (torch.arange(p) + 0.5) / p) ** 2 for p in self.patch_size]
        return w[0][:, None, None] * w[1][None, :, None] * w[2][None, None, :]

    def _apply(self, fn, patches: torch.Tensor) -> torch.Tensor:
        """``fn`` on a (B, C, *patch) batch (2D patches for ``spatial_dims=2``), checked, as float32
        on the CPU in the (B, C_out, z, y, x) layout of ``patches``."""
        out = fn(patches[:, :, 0] if self.spatial_dims == 2 else patches)
        if self.spatial_dims == 2:
            out = out.unsqueeze(2)
        if tuple(out.shape[2:]) != tuple(patches.shape[2:]):
            raise EmganError(f"patch function returned spatial shape {tuple(out.shape[2:])}, "
                             f"expected {tuple(patches.shape[2:])}", "generator")
        return out.detach().float().cpu()

    def _merge_grid(self, fn, tensor: torch.Tensor) -> np.ndarray:
        spatial = tuple(tensor.shape[1:])
        padded = self._pad_to_grid(tensor)
        window = self._window()
        total = weight = None
        pz, py, px = self.patch_size
        for patches, starts in self._grid_batches(padded):
            out = self._apply(fn, patches) * window
            if total is None:
                total = torch.zeros((out.shape[1],) + tuple(padded.shape[1:]))
                weight = torch.zeros(tuple(padded.shape[1:]))
            for o, (z, y, x) in zip(out, starts.tolist()):
                total[:, z:z + pz, y:y + py, x:x + px] += o
                weight[z:z + pz, y:y + py, x:x + px] += window
        if total is None:  # every patch skipped: the function saw nothing
            total, weight = torch.zeros((1,) + tuple(padded.shape[1:])), torch.ones(padded.shape[1:])
        merged = torch.where(weight > 0, total / weight.clamp_min(1e-12), torch.zeros(()))
        merged = merged[:, : spatial[0], : spatial[1], : spatial[2]]
        return (merged[:, 0] if self.spatial_dims == 2 else merged).numpy()

    def _batches(self, sampler):
        batch, locs = [], []
        for index in range(len(sampler)):
            patch = sampler[index]
            batch.append(patch["image"][tio.DATA])
            locs.append(torch.as_tensor(patch[tio.LOCATION]))
            if len(batch) == self.batch_size:
                yield torch.stack(batch), torch.stack(locs)
                batch, locs = [], []
        if batch:
            yield torch.stack(batch), torch.stack(locs)

    def __call__(self, fn: Callable[[torch.Tensor], torch.Tensor], array) -> np.ndarray:
        """Apply ``fn`` to batches of patches and merge; returns (C_out, *spatial) float32.

        ``fn`` gets (B, C, *patch) tensors (2D patches for ``spatial_dims=2``) and must return
        (B, C_out, *patch) of the same spatial size.
        """
        tensor = self._to_tensor(array)
        if self.mode != "crop":
            return self._merge_grid(fn, tensor)
        spatial = tuple(tensor.shape[1:])
        sampler = self._sampler(tensor)
        aggregator = tio.GridAggregator(sampler, overlap_mode=self.mode)
        skipped, width = [], None  # all-zero patches (skip_empty) and the output channel count
        for patches, locations in self._batches(sampler):
            keep = patches.flatten(1).abs().amax(1) > 0 if self.skip_empty else None
            if keep is None or bool(keep.all()):
                out = self._apply(fn, patches)
            elif bool(keep.any()):
                computed = self._apply(fn, patches[keep])
                out = torch.zeros((len(patches), computed.shape[1]) + tuple(computed.shape[2:]))
                out[keep] = computed
            else:
                skipped.append(locations)
                continue
            width = out.shape[1]
            aggregator.add_batch(out, locations)
        for locations in skipped:  # nothing computed there: the output is 0
            shape = (len(locations), width or tensor.shape[0]) + self.patch_size
            aggregator.add_batch(torch.zeros(shape), locations)
        merged = aggregator.get_output_tensor()[:, : spatial[0], : spatial[1], : spatial[2]]
        if self.spatial_dims == 2:
            merged = merged[:, 0]
        return merged.numpy()


def split_patches(array, patch_size, mode: Mode = "crop", core=None, stride=None, spatial_dims=3):
    """All patches of ``array`` at once: (N, C, *patch) tensor and (N, 6) locations."""
    inferer = PatchInferer(patch_size, mode, core, stride, batch_size=1 << 30, spatial_dims=spatial_dims)
    batches = list(inferer.split(array))
    return batches[0] if len(batches) == 1 else (torch.cat([b[0] for b in batches]),
                                                 torch.cat([b[1] for b in batches]))


def merge_patches(array, fn, patch_size, mode: Mode = "crop", core=None, stride=None,
                  batch_size: int = 8, spatial_dims: int = 3) -> np.ndarray:
    """Split ``array``, apply ``fn`` per batch of patches, merge: one-call form of PatchInferer."""
    return PatchInferer(patch_size, mode, core, stride, batch_size, spatial_dims)(fn, array)
