"""The emgan-core version."""

__version__ = "0.3.0"
