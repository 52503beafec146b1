"""A minimal third-party emgan plugin."""
