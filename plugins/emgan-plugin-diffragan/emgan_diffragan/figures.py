"""PNG figures: a triplet, and generated images beside their inputs and truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emgan_core.api import new_figure as _figure
from emgan_core.api import save_figure as _save


def triplet_figure(diffraction: np.ndarray, low: np.ndarray, high: np.ndarray, pixel_size: float,
                   angular_sampling: float, path, title: str = "") -> Path:
    """Diffraction pattern (log scale, axes in mrad), low-res and high-res image (axes in Å)."""
    fig, axes = _figure(1, 3)
    s = diffraction.shape[-1]
    half = s * angular_sampling / 2.0
    shown = np.log10(np.maximum(diffraction, diffraction[diffraction > 0].min() if (diffraction > 0).any() else 1))
    axes[0, 0].imshow(shown, cmap="inferno", extent=(-half, half, -half, half))
    axes[0, 0].set(title="diffraction (log10), mrad", xlabel="mrad")
    extent = (0, s * pixel_size, 0, s * pixel_size)
    for ax, image, name in ((axes[0, 1], low, "low-res image"), (axes[0, 2], high, "high-res image")):
        ax.imshow(image, cmap="gray", extent=extent)
        ax.set(title=name, xlabel="Å")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def comparison_figure(diffraction, low, generated, high, masks, pixel_size: float, path, rows: int = 4) -> Path:
    """Rows of (diffraction, low-res, generated, truth, difference mask of the generated image)."""
    rows = min(rows, len(high))
    fig, axes = _figure(rows, 5)
    names = ("diffraction (log)", "low-res input", "generated", "high-res truth", "|generated − truth| mask")
    for r in range(rows):
        d = diffraction[r]
        panels = (np.log10(np.maximum(d, d[d > 0].min() if (d > 0).any() else 1)), low[r], generated[r], high[r],
                  masks[r])
        for c, image in enumerate(panels):
            axes[r, c].imshow(image, cmap="inferno" if c == 0 else "gray")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(names[c])
    fig.suptitle(f"{pixel_size:.3f} Å/pixel")
    fig.tight_layout()
    return _save(fig, path)
