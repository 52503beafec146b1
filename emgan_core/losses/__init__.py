"""Loss terms shared by the methods: adversarial (BCE, least squares, Wasserstein, hinge) and pixel."""

from .adversarial import BCELoss, HingeLoss, LeastSquaresLoss, WassersteinLoss
from .pixel import L1Loss, MSELoss, SmoothL1Loss

__all__ = ["BCELoss", "HingeLoss", "L1Loss", "LeastSquaresLoss", "MSELoss", "SmoothL1Loss",
           "WassersteinLoss"]
