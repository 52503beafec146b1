"""The generic GAN trainer: one loop for every method, driven by the recipe's Task."""

from .config import TrainConfig
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer"]
