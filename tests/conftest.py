"""Shared fixtures: bundled example data, optional larger data, the CLI, the example plugin."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
SHARED = ROOT.parent / "shared" / "data"
EXAMPLE_PLUGIN = ROOT / "tests" / "example_plugin"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("larger example data (../shared/data) not present")
    return SHARED


def run_emgan(*args, cwd=None, check_rc=None):
    """Run the CLI in a subprocess; returns CompletedProcess with text output."""
    proc = subprocess.run([sys.executable, "-m", "emgan_core.cli.main", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def emgan():
    return run_emgan


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
