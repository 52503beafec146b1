"""Loss terms shared by the methods: adversarial (BCE, least squares, Wasserstein, hinge, SRGAN probability) and pixel."""

from .adversarial import BCELoss, HingeLoss, LeastSquaresLoss, ProbabilityLoss, WassersteinLoss
from .pixel import L1Loss, MSELoss, SmoothL1Loss

__all__ = ["BCELoss", "HingeLoss", "L1Loss", "LeastSquaresLoss", "MSELoss", "ProbabilityLoss", "SmoothL1Loss",
           "WassersteinLoss"]
