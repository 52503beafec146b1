"""Fixtures: those of emgan_core.testing (example data, optional larger data, the CLI) and the example plugin."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = ROOT / "tests" / "example_plugin"


def _installed_copy_is_stale() -> bool:
    """True when the example plugin is not installed, or when any of its source files differs from
    the installed (non-editable) copy, so that the tests run the code in the checkout."""
    try:
        dist = md.distribution("emgan-plugin-example")
    except md.PackageNotFoundError:
        return True
    source = EXAMPLE_PLUGIN / "emgan_example"
    for path in source.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            installed = Path(dist.locate_file(Path("emgan_example") / path.relative_to(source)))
            if not installed.is_file() or installed.read_bytes() != path.read_bytes():
                return True
    return False


@pytest.fixture(scope="session")
def example_plugin():
    """The registry with the third-party example plugin, pip-installed (not editable) like a user
    would by the test set-up (``make test``), never during the run: a missing or outdated copy fails."""
    if _installed_copy_is_stale():
        pytest.fail(f"the example plugin ({EXAMPLE_PLUGIN}) is not installed in this environment, or its "
                    f"installed copy differs from the checkout: run `make test` (its set-up installs it) or "
                    f"`{sys.executable} -m pip install --no-deps --no-build-isolation {EXAMPLE_PLUGIN}`")
    from emgan_core.registry import get_registry

    return get_registry(refresh=True)
