"""Atomic file output: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import EmganError


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, with one line, when ``path`` cannot be written (missing folder, no permission)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise EmganError("is a directory, expected a file name", str(path))
    if parent.exists() and not parent.is_dir():
        raise EmganError(f"cannot write: '{parent}' is a file, not a folder", str(path))
    if not parent.is_dir():
        raise EmganError(f"cannot write: folder '{parent}' does not exist", str(path))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EmganError(f"cannot write: no permission to write in folder '{parent}'", str(path))
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    path = check_writable(path)
    suffix = suffix if suffix is not None else "".join(path.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent or ".")
    os.close(fd)
    os.unlink(tmp)  # writers such as mrcfile.new refuse to overwrite
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):  # disk full, quota, I/O error: the user's to fix
            raise EmganError(f"cannot write ({err.strerror or err})", str(path)) from err
        raise
