"""DiffraGAN for emgan: phasing single-molecule electron diffraction with a conditional GAN."""

__version__ = "0.3.0"
