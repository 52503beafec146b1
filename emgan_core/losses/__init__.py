"""Loss terms shared by the methods: adversarial (BCE, least squares, Wasserstein, hinge, SRGAN probability),
pixel and Fourier."""

from .adversarial import BCELoss, HingeLoss, LeastSquaresLoss, ProbabilityLoss, WassersteinLoss
from .fourier import ShellCorrelationLoss
from .pixel import L1Loss, MSELoss, SmoothL1Loss

__all__ = ["BCELoss", "HingeLoss", "L1Loss", "LeastSquaresLoss", "MSELoss", "ProbabilityLoss", "ShellCorrelationLoss",
           "SmoothL1Loss", "WassersteinLoss"]
