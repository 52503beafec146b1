"""Tasks shared by several methods."""

from .paired import PairedTask

__all__ = ["PairedTask"]
