"""Fixtures: those of emgan_core.testing (example data, optional larger data, the CLI) and the example plugin."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = ROOT / "tests" / "example_plugin"


@pytest.fixture(scope="session")
def example_plugin():
    """Install the third-party example plugin into this environment (once), like a user would."""
    try:
        md.distribution("emgan-plugin-example")
    except md.PackageNotFoundError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", str(EXAMPLE_PLUGIN)], check=True)
        importlib.invalidate_caches()
    from emgan_core.registry import get_registry

    return get_registry(refresh=True)
