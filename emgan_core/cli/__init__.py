"""The ``emgan`` command line."""
