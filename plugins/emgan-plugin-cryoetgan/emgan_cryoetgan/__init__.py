"""CryoETGAN for emgan: unpaired subtomogram synthesis with a cycle-consistent Wasserstein GAN."""

__version__ = "0.3.0"
