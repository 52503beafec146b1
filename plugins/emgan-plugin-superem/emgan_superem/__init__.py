"""SuperEM / EM-GAN for emgan: 3D super-resolution of cryo-EM maps."""

__version__ = "0.3.0"
