"""Fixtures and checks for plugin test suites (a pytest plugin, loaded wherever emgan-core is installed).

Fixtures:

* ``data_dir``: the bundled example data (``examples/data`` of an emgan checkout, or the folder
  named by ``EMGAN_EXAMPLE_DATA``); tests using it skip when neither exists.
* ``shared_dir``: larger optional data (``../shared/data`` beside the checkout, or
  ``EMGAN_SHARED_DATA``); tests using it skip when absent.
* ``emgan``: runs the CLI, ``emgan(*args, cwd=None, check_rc=None, subprocess=False)``: in this
  process (fast: no interpreter or torch start-up) unless ``subprocess=True`` or ``cwd`` is given
  (or ``EMGAN_TEST_SUBPROCESS`` is set, to run a whole suite the slow way);
  either way it returns a ``CompletedProcess`` with the exit status and the text printed.

:func:`check_network_contract` checks what the trainer and inferers rely on from a registered
generator or critic.
"""

from __future__ import annotations

import os
import subprocess
import subprocess as _subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


def _folder(env: str, default: Path) -> Path | None:
    path = Path(os.environ[env]) if os.environ.get(env) else default
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _folder("EMGAN_EXAMPLE_DATA", CHECKOUT / "examples" / "data")
    if path is None:
        pytest.skip("bundled example data not found (set EMGAN_EXAMPLE_DATA)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _folder("EMGAN_SHARED_DATA", CHECKOUT.parent / "shared" / "data")
    if path is None:
        pytest.skip("larger example data (../shared/data) not present")
    return path


def _run_in_process(argv: list[str]) -> subprocess.CompletedProcess:
    """``emgan ARGV`` through :func:`emgan_core.cli.main.main` with stdout and stderr captured."""
    import contextlib
    import io

    from emgan_core.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: --help (0) and usage errors (2)
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(["emgan", *argv], code, out.getvalue(), err.getvalue())


def run_emgan(*args, cwd=None, check_rc=None, subprocess: bool = False) -> "subprocess.CompletedProcess":
    """Run the CLI and return a CompletedProcess with its exit status and text output: in this
    process by default, in a fresh interpreter with ``subprocess=True`` or a ``cwd`` (tests of
    signals, start-up, environment or import behaviour need that)."""
    argv = [str(a) for a in args]
    if subprocess or cwd is not None or os.environ.get("EMGAN_TEST_SUBPROCESS"):
        proc = _subprocess.run([sys.executable, "-m", "emgan_core.cli.main", *argv],
                               capture_output=True, text=True, cwd=cwd)
    else:
        proc = _run_in_process(argv)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def emgan():
    return run_emgan


def check_network_contract(kind: str, name: str, shape: tuple[int, ...], params: dict | None = None):
    """Build ``kind/name`` from the registry and check the contract: it is a torch module, runs on
    a (B, C, *spatial) batch of ``shape``, gives finite values, keeps the spatial size (generators),
    back-propagates to every parameter, and is the same function after a state-dict round trip.
    Returns the output."""
    import torch

    from emgan_core.registry import get_registry

    torch.manual_seed(0)
    net = get_registry().build(kind, name, **(params or {}))
    assert isinstance(net, torch.nn.Module)
    x = torch.rand(shape)
    out = net(x)
    assert torch.isfinite(out).all(), f"{kind}/{name}: non-finite output"
    if kind == "generator":
        assert out.shape[0] == shape[0] and out.shape[2:] == x.shape[2:], f"{kind}/{name}: {tuple(out.shape)}"
    out.float().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not dead, f"{kind}/{name}: parameters without gradient: {dead[:5]}"
    twin = get_registry().build(kind, name, **(params or {}))
    twin.load_state_dict(net.state_dict(), strict=True)
    net.eval(), twin.eval()
    with torch.no_grad():
        assert torch.equal(net(x), twin(x)), f"{kind}/{name}: state dict does not carry the function"
    return out
