"""SuperEM metrics, one function per module."""

from .cube_correlation import cube_correlation, cube_correlations, cube_improvement
from .model_resolution import model_resolution

__all__ = ["cube_correlation", "cube_correlations", "cube_improvement", "model_resolution"]
