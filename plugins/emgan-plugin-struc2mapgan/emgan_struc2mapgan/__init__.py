"""struc2mapGAN for emgan: experimental-like cryo-EM maps from atomic models."""

__version__ = "0.3.0"
