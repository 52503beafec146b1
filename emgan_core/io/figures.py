"""PNG figures for commands: a grid of panels (matplotlib, Agg backend) saved atomically."""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_output


def new_figure(rows: int, cols: int, size: float = 3.2):
    """(figure, axes[rows, cols]) with ``size``-inch square panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` as PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)
