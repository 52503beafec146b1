"""Safe file output: atomic writes, no silent overwrite, never over a command's own input.

* :func:`atomic_output` writes to a temporary file beside the target, flushes it to disk (fsync)
  and renames it onto the target only if the block succeeds: readers never see a half-written
  file, a failure (or a killed process) leaves at most a ``.NAME.*`` temporary file behind.
* An existing file is replaced only when told: ``overwrite=True``, or ``--overwrite`` on the
  command line (:func:`output_policy`). Files a program owns and rewrites by design (a run
  directory's logs and checkpoints) are written with ``replace=True``.
* A file the running command has read (:func:`note_input`, called by every reader in
  :mod:`emgan_core.io` and by checkpoint loading) is never written over, ``--overwrite`` or not.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import EmganError

#: whether existing outputs may be replaced (the command line's ``--overwrite``)
_OVERWRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("emgan_overwrite", default=False)
#: the files the running command reads: {(st_dev, st_ino) or real path}; None outside a command
_INPUTS: contextvars.ContextVar[set | None] = contextvars.ContextVar("emgan_inputs", default=None)


def _identity(path: str | os.PathLike):
    """(device, inode) of an existing file, else its real path."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        return os.path.realpath(path)


@contextlib.contextmanager
def output_policy(overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()):
    """Inside the block: replace existing outputs only if ``overwrite``; refuse to write over any
    of ``inputs`` or any file read through :func:`note_input`. The CLI runs each command in one."""
    known = {_identity(p) for p in inputs if p}
    tokens = (_OVERWRITE.set(bool(overwrite)), _INPUTS.set(known))
    try:
        yield
    finally:
        _INPUTS.reset(tokens[1])
        _OVERWRITE.reset(tokens[0])


def overwrite_allowed() -> bool:
    """True when the running command may replace existing outputs (``--overwrite``)."""
    return _OVERWRITE.get()


def note_input(path: str | os.PathLike) -> None:
    """Record ``path`` as read by the running command (no effect outside a command)."""
    inputs = _INPUTS.get()
    if inputs is not None:
        inputs.add(_identity(path))


def is_input(path: str | os.PathLike) -> bool:
    inputs = _INPUTS.get()
    return bool(inputs) and _identity(path) in inputs


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


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                 overwrite: bool | None = None) -> Path:
    """``path`` checked as a new output before any work: writable, not one of ``inputs`` (or of
    the files the command has read), and not an existing file unless ``overwrite`` (default: the
    command's ``--overwrite``)."""
    path = check_writable(path)
    given = {_identity(p) for p in inputs if p}
    if _identity(path) in given or is_input(path):
        raise EmganError("is an input of this command: refusing to write over it (choose another output name)",
                         str(path))
    if os.path.lexists(path) and not (overwrite_allowed() if overwrite is None else overwrite):
        raise EmganError("exists already: not overwritten (give --overwrite to replace it)", str(path))
    return path


def _fsync(path: str | os.PathLike, directory: bool = False) -> None:
    """Flush ``path`` (a file, or a folder's entries) to disk; folders that refuse it are skipped."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def flush_tree(path: Path) -> None:
    """fsync a written file, or every file of a written folder (e.g. a zarr store)."""
    if path.is_dir():
        for root, _dirs, files in os.walk(path):
            for name in files:
                _fsync(os.path.join(root, name))
            _fsync(root, directory=True)
    elif path.exists():
        _fsync(path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None, *, replace: bool = False,
                  overwrite: bool | None = None):
    """Yield a temporary path next to ``path``; flush it to disk and rename it onto ``path`` only if
    the block succeeds.

    ``replace=True``: a file the caller owns and rewrites (run directory files, checkpoints).
    Otherwise ``path`` is checked by :func:`check_output` (an existing file is replaced only with
    ``overwrite`` or ``--overwrite``; a command's input never).
    """
    path = check_writable(path) if replace else check_output(path, overwrite=overwrite)
    suffix = suffix if suffix is not None else "".join(path.suffixes) or ".tmp"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent or ".")
    except OSError as err:  # e.g. a folder that lists as writable but is not (/proc)
        raise EmganError(f"cannot write ({err.strerror or err})", str(path)) from None
    os.close(fd)
    os.unlink(tmp)  # writers such as mrcfile.new refuse to overwrite
    try:
        yield Path(tmp)
        flush_tree(Path(tmp))
        os.replace(tmp, path)
        _fsync(path.parent if str(path.parent) else ".", directory=True)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            os.unlink(tmp)
        if isinstance(err, OSError):  # disk full, quota, I/O error: the user's to fix
            raise EmganError(f"cannot write ({err.strerror or err})", str(path)) from err
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`atomic_output` leaves in ``folder`` when a process is killed
    mid-write (``.NAME.XXXXXXXX…``); only for folders a process owns exclusively (a locked run
    directory). Returns what was removed."""
    removed = []
    for entry in Path(folder).glob(".*"):
        if is_temporary(entry) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


#: ``.NAME.`` + mkstemp's eight random characters + a suffix: a temporary of :func:`atomic_output`
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}(\.[^.]+)*$")


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a temporary file of :func:`atomic_output`."""
    return bool(_TEMPORARY.match(Path(path).name))


def try_lock(fd: int) -> None:
    """An exclusive, non-blocking lock on ``fd`` (BlockingIOError when another process holds it)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
