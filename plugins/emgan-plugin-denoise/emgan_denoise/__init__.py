"""GAN denoising of single-particle cryo-EM images (pix2pix on projections) for emgan."""

__version__ = "0.3.0"
