"""PNG figures: central slices of volumes and of their Fourier transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emgan_core.api import new_figure, save_figure


def central_slices(volume: np.ndarray) -> dict[str, np.ndarray]:
    """XY (z = centre), XZ (y = centre) slices of a (z, y, x) volume, and log10 |F| on the k_y = 0
    plane (rows k_z, columns k_x, zero frequency in the middle), where a missing wedge shows."""
    z, y, _ = (n // 2 for n in volume.shape)
    spectrum = np.fft.fftshift(np.abs(np.fft.fftn(volume - volume.mean())))[:, volume.shape[1] // 2, :]
    return {"XY": volume[z], "XZ": volume[:, y, :],
            "log|F| (kx, kz)": np.log10(spectrum + spectrum.max() * 1e-6 + 1e-30)}


def slices_figure(volumes: dict[str, np.ndarray], voxel_size: float, path, title: str = "") -> Path:
    """One row per named volume: XY and XZ central slices (axes in Å, z up) and the k_y = 0 plane of
    its Fourier transform (axes in 1/Å)."""
    fig, axes = new_figure(len(volumes), 3)
    for row, (name, volume) in enumerate(volumes.items()):
        n = volume.shape[-1]
        extent = (0, n * voxel_size, 0, volume.shape[0] * voxel_size)
        nyq = 0.5 / voxel_size
        for col, (label, image) in enumerate(central_slices(volume).items()):
            ax = axes[row, col]
            fourier = col == 2
            ax.imshow(image, cmap="magma" if fourier else "gray", origin="lower",
                      extent=(-nyq, nyq, -nyq, nyq) if fourier else extent if label == "XZ" else (0, n * voxel_size,) * 2)
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_xlabel("k_x (1/Å)" if fourier else "x (Å)")
            ax.set_ylabel("k_z (1/Å)" if fourier else ("z (Å)" if label == "XZ" else "y (Å)"))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
