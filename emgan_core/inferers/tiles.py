"""Each output voxel computed once: a fully convolutional generator run over a whole volume in tiles.

A window inferer (:class:`~emgan_core.inferers.PatchInferer`) computes every voxel once per window
that covers it: (window / stride)³ ≈ 244 times for SuperEM's 25³ windows at stride 4, (32 / 20)³ ≈ 4
times for struc2mapGAN's 32³ boxes with 20³ cores. A fully convolutional network needs none of that:
its output at a voxel depends only on the input within its receptive field. :class:`TiledInferer`
cuts the volume into tiles of ``core`` voxels, runs each with a ``halo`` of input around it, and
keeps the core. With a halo at least the receptive field (:func:`receptive_field`) and tile edges on
the network's size multiple (the product of its downsampling strides), the result is the network run
on the whole volume at once, up to float rounding, in as little memory as one tile
(:func:`tile_for_memory`).

It is a different computation from window averaging: a network trained on zero-padded windows (SuperEM's
25³ cubes) sees, inside a window, zeros where a whole-volume pass sees the neighbouring density, so
where the receptive field is larger than the window the two differ (see the tasks' documentation).

Arrays are (C, z, y, x); the function run on a tile takes and returns (1, C, z, y, x) tensors.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import torch

from ..errors import EmganError


def _up(n: int, multiple: int) -> int:
    return -(-int(n) // multiple) * multiple


class TiledInferer:
    """Run ``fn`` over a (C, z, y, x) array in tiles of ``core`` voxels with ``halo`` voxels of context.

    Args:
        core: edge of the part of each tile that is kept, in voxels (one int or one per axis, z-y-x);
            rounded up to ``multiple``.
        halo: voxels of input added on every side of a core (clipped at the volume's edges, where a
            whole-volume pass has its border too); at least the network's receptive field for a
            result equal to a whole-volume pass. Rounded up to ``multiple``.
        multiple: the network's size multiple (2^levels for a U-Net): tiles start and end on it, so
            that every tile sees the same downsampling grid as the whole volume.
    """

    def __init__(self, core: int | tuple[int, int, int], halo: int = 0, multiple: int = 1):
        if int(multiple) < 1:
            raise EmganError(f"must be at least 1, got {multiple}", "multiple")
        self.multiple = int(multiple)
        cores = [int(c) for c in np.broadcast_to(np.atleast_1d(core), (3,))]
        if min(cores) < 1 or int(halo) < 0:
            raise EmganError(f"tile cores must be >= 1 and the halo >= 0 voxels, got {cores} and {halo}", "eval.window")
        self.core = tuple(_up(c, self.multiple) for c in cores)
        self.halo = _up(int(halo), self.multiple)

    def tiles(self, shape) -> list[tuple[tuple[slice, ...], tuple[slice, ...], tuple[slice, ...]]]:
        """(tile region, core region, core within the tile) of every tile, as slices of the volume
        padded to the size multiple (z, y, x)."""
        padded = [_up(n, self.multiple) for n in shape]
        out = []
        for starts in np.ndindex(*[-(-p // c) for p, c in zip(padded, self.core)]):
            core = [(s * c, min((s + 1) * c, p)) for s, c, p in zip(starts, self.core, padded)]
            tile = [(max(0, a - self.halo), min(p, b + self.halo)) for (a, b), p in zip(core, padded)]
            out.append((tuple(slice(a, b) for a, b in tile), tuple(slice(a, b) for a, b in core),
                        tuple(slice(a - t, b - t) for (a, b), (t, _) in zip(core, tile))))
        return out

    def computed_voxels(self, shape) -> int:
        """Voxels the network computes over a volume of ``shape``: cores plus halos."""
        return int(sum(np.prod([s.stop - s.start for s in tile]) for tile, _, _ in self.tiles(shape)))

    @torch.no_grad()
    def __call__(self, fn: Callable[[torch.Tensor], torch.Tensor], array) -> np.ndarray:
        data = np.asarray(array, np.float32)
        if data.ndim == 3:
            data = data[None]
        if data.ndim != 4:
            raise EmganError(f"expected a (C, z, y, x) or (z, y, x) array, got shape {data.shape}", "input")
        shape = data.shape[1:]
        padded = [_up(n, self.multiple) for n in shape]
        source = np.zeros((data.shape[0], *padded), np.float32)
        source[:, :shape[0], :shape[1], :shape[2]] = data
        out = None
        for tile, core, inner in self.tiles(shape):
            result = fn(torch.from_numpy(np.ascontiguousarray(source[(slice(None), *tile)]))[None])
            result = result.detach().float().cpu().numpy()[0]
            if out is None:
                out = np.zeros((result.shape[0], *padded), np.float32)
            out[(slice(None), *core)] = result[(slice(None), *inner)]
        return out[:, :shape[0], :shape[1], :shape[2]]


def size_multiple(network: torch.nn.Module) -> int:
    """The size a network's inputs must be a multiple of: its ``size_multiple`` attribute, else 1."""
    return int(getattr(network, "size_multiple", 1) or 1)


def input_channels(network: torch.nn.Module) -> int:
    """Channels a network takes: its ``in_channels`` attribute, else its first convolution's."""
    if getattr(network, "in_channels", None):
        return int(network.in_channels)
    conv = next((m for m in network.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)), None)
    if conv is None:
        raise EmganError(f"{type(network).__name__}: cannot tell how many channels it takes", "generator")
    return int(conv.in_channels)


def receptive_field(fn: Callable[[torch.Tensor], torch.Tensor], channels: int, probe: int = 64,
                    multiple: int = 1, largest: int = 1024) -> int | None:
    """Radius (voxels) of the input region that an output voxel of ``fn`` depends on, measured
    through the gradient of the centre output voxel of a random input, one axis at a time on a
    ``probe`` × m × m slab (m: the size multiple), so it costs little; the probe doubles while the
    dependence reaches its ends, up to ``largest``. None: larger than that (a normalisation over the
    whole input, such as instance norm, makes every voxel depend on every other)."""
    while True:
        radius = _field_on_probe(fn, channels, _up(probe, multiple), multiple)
        if radius is not None or probe >= largest:
            return radius
        probe *= 2


def _field_on_probe(fn, channels: int, probe: int, multiple: int) -> int | None:
    gen = torch.Generator().manual_seed(0)
    radius = 0
    for axis in range(3):
        shape = [multiple] * 3
        shape[axis] = probe
        x = torch.rand((1, channels, *shape), generator=gen).requires_grad_(True)
        centre = [s // 2 for s in shape]
        with torch.enable_grad():
            y = fn(x)
            y[(slice(None), slice(None), *centre)].sum().backward()
        reach = x.grad.abs().sum(dim=(0, 1)).sum(dim=tuple(a for a in range(3) if a != axis)) > 0
        idx = torch.nonzero(reach).ravel()
        if idx.numel():
            if int(idx.min()) == 0 or int(idx.max()) == probe - 1:
                return None
            radius = max(radius, int(centre[axis] - idx.min()), int(idx.max() - centre[axis]))
    return radius


def activation_bytes_per_voxel(fn: Callable[[torch.Tensor], torch.Tensor], network: torch.nn.Module,
                               channels: int, probe: int = 16, multiple: int = 1) -> float:
    """Bytes of activations a forward pass of ``fn`` (which runs ``network``) holds per input voxel:
    the outputs of its leaf modules summed (containers pass their children's outputs on), an upper
    bound of the peak under ``no_grad``, measured on a ``probe``³ input."""
    probe = _up(probe, multiple)
    total = [0]

    def count(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            total[0] += output.numel() * output.element_size()

    hooks = [m.register_forward_hook(count) for m in network.modules() if not any(True for _ in m.children())]
    try:
        with torch.no_grad():
            fn(torch.zeros((1, channels, probe, probe, probe)))
    finally:
        for h in hooks:
            h.remove()
    return total[0] / probe ** 3


def available_memory(device) -> int:
    """Bytes free for a tile on ``device``: free GPU memory, or the machine's available memory."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # POSIX without psutil: the free physical pages
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def tile_for_memory(bytes_per_voxel: float, budget: float, halo: int | None, multiple: int, shape) -> tuple[int, int]:
    """(core, halo) of the largest tiles whose input with its halo needs at most ``budget`` bytes:
    the whole volume in one tile (no halo needed) where it fits, else cores of a multiple of
    ``multiple`` voxels with ``halo`` around them. ``halo`` None: the receptive field is unknown, so
    only the whole volume is exact."""
    padded = [_up(n, multiple) for n in shape]
    if np.prod(padded, dtype=np.float64) * bytes_per_voxel <= budget:
        return max(padded), 0
    need = np.prod(padded, dtype=np.float64) * bytes_per_voxel / 2**30
    if halo is None:
        raise EmganError(f"the network's receptive field is larger than can be measured, so tiles must hold the whole "
                         f"volume: about {need:.1f} GiB, more than the {budget / 2**30:.1f} GiB free; set a halo "
                         f"(eval.halo, voxels) or run in windows (without tiles)", "eval.halo")
    edge = int(np.cbrt(budget / max(bytes_per_voxel, 1.0)) + 1e-9)
    core = (edge - 2 * _up(halo, multiple)) // multiple * multiple
    if core < multiple:
        raise EmganError(f"a tile with a {halo}-voxel halo needs more memory than the {budget / 2**30:.1f} GiB free "
                         f"(the whole volume: about {need:.1f} GiB): lower eval.halo or run in windows (without tiles)", "eval.halo")
    return core, halo


#: network -> {(channels, size multiple): receptive field}, measured once per network
_FIELDS: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()

#: share of the free memory one tile may use
MEMORY_SHARE = 0.5


def tiled_inferer(settings, fn: Callable[[torch.Tensor], torch.Tensor], network: torch.nn.Module,
                  channels: int, shape, device="cpu") -> TiledInferer:
    """The :class:`TiledInferer` of an :class:`~emgan_core.settings.inference.EvalSettings` with
    ``blend: tiles`` for ``network`` (run through ``fn`` on (1, ``channels``, z, y, x) inputs) over a
    volume of ``shape``: the halo is ``settings.halo``, else the receptive field measured; the tile
    core is ``settings.tile``, else the whole volume where :data:`MEMORY_SHARE` of the free memory
    holds it, else the largest core that fits with its halo."""
    multiple = size_multiple(network)
    normalised = any(isinstance(m, torch.nn.modules.instancenorm._InstanceNorm) for m in network.modules())
    if normalised:
        import warnings

        warnings.warn(f"{type(network).__name__} normalises each input it sees (instance norm), so over tiles it "
                      "computes another function than over the windows it was trained on", RuntimeWarning,
                      stacklevel=2)
    halo = settings.halo
    if halo is None and not normalised:  # with instance norm every voxel depends on every other: no halo
        key = (channels, multiple)
        known = _FIELDS.setdefault(network, {})
        if key not in known:  # measured once per network, not once per map
            known[key] = receptive_field(fn, channels, multiple=multiple)
        halo = known[key]
    if settings.tile is not None:
        if halo is None:
            raise EmganError("the network's receptive field is larger than can be measured: give eval.halo with "
                             "eval.tile", "eval.tile")
        return TiledInferer(settings.tile, halo, multiple)
    per_voxel = activation_bytes_per_voxel(fn, network, channels, multiple=multiple)
    core, halo = tile_for_memory(per_voxel, MEMORY_SHARE * available_memory(device), halo, multiple, shape)
    return TiledInferer(core, halo, multiple)
