"""Simulators shared by several methods, and the physics they share (projection, CTF)."""

from .ctf import apply_ctf, ctf_2d, electron_wavelength
from .gaussian import GaussianSimulator
from .projection import FourierProjector, euler_matrix, grid_euler, project_real, random_euler, shift_images

__all__ = ["FourierProjector", "GaussianSimulator", "apply_ctf", "ctf_2d", "electron_wavelength",
           "euler_matrix", "grid_euler", "project_real", "random_euler", "shift_images"]
