"""Simulators shared by several methods."""

from .gaussian import GaussianSimulator

__all__ = ["GaussianSimulator"]
