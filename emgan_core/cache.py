"""The emgan cache: what is fetched or built once and then used again.

``$EMGAN_CACHE`` (default: the platform's user cache, e.g. ``~/.cache/emgan`` on Linux) holds

* ``models/``: trained models fetched by URL (:mod:`emgan_core.models`);
* ``data/<kind>/``: data a task builds from its recipe's inputs on first use (:func:`build_cached`):
  struc2mapGAN's curated pairs, CryoETGAN's simulated sets, DiffraGAN's triplets.

A data entry is a folder named by the SHA-256 of what it is built from: the builder's settings and
the path and bytes of every input file, so a changed input or setting builds a new entry and an old
one is never used for it. An entry is built in a temporary folder beside it and renamed when
complete: it exists whole or not at all. It holds ``emgan-cache.json`` (what it was built from).
While an entry is built, an OS lock (``.NAME.lock`` beside it, left behind by a failed build) keeps
a second process from building it too. Deleting the cache, or any entry of it, is safe when no
emgan process runs: what is needed again is built again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import EmganError
from .io.atomic import flush_tree, try_lock

#: the file in each data entry that says what it was built from
ENTRY_FILE = "emgan-cache.json"


def cache_root() -> Path:
    """The emgan cache: ``$EMGAN_CACHE``, else the platform's user cache (``~/.cache/emgan``)."""
    if os.environ.get("EMGAN_CACHE"):
        return Path(os.environ["EMGAN_CACHE"])
    import pooch

    return Path(pooch.os_cache("emgan"))


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def content_key(settings: dict, files: Iterable[str | os.PathLike] = ()) -> tuple[str, list[dict]]:
    """(SHA-256 hex, [{path, sha256}…]) of ``settings`` (JSON) and of each file's absolute path and
    bytes, in the order given. A missing file is a one-line error naming it."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    listed = []
    for f in files:
        path = Path(f).resolve()
        if not path.is_file():
            raise EmganError("file not found", str(f))
        digest = _file_digest(path)
        listed.append({"path": str(path), "sha256": digest})
        h.update(f"\0{path}\0{digest}".encode())
    return h.hexdigest(), listed


@contextlib.contextmanager
def _locked(lock: Path, entry: Path):
    """Hold the OS lock ``lock`` (waiting, with one line said, while another process holds it)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise EmganError(f"cannot write in the cache ({err.strerror or err}); set EMGAN_CACHE to a writable "
                         "folder", str(lock.parent)) from None
    try:
        waiting = False
        while True:
            try:
                try_lock(fd)
                break
            except BlockingIOError:
                if not waiting:
                    print(f"emgan: waiting for another process to finish {entry}", file=sys.stderr, flush=True)
                    waiting = True
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # releases the lock


def build_cached(kind: str, settings: dict, build: Callable[[Path], object], *,
                 files: Iterable[str | os.PathLike] = (), name: str = "", folder: str | os.PathLike | None = None,
                 resumable: bool = False, what: str | None = None) -> Path:
    """The folder of data built once from ``settings`` and ``files``: built now by ``build(tmp)`` if
    no complete entry exists yet, else the existing one.

    Args:
        kind: the kind of data (``"struc2mapgan-curated"``): entries live in ``$EMGAN_CACHE/data/<kind>/``.
        settings: everything besides the files that decides the result (builder settings, a format
            version); JSON-serialisable.
        build: called with an empty temporary folder to fill (in the same folder as the entry); raising
            in it leaves no entry behind.
        files: the input files; their absolute paths and bytes enter the key.
        name: a readable prefix of the entry's folder name (``<name>-<16 hex>``).
        folder: where entries go instead of ``$EMGAN_CACHE/data/<kind>/`` (a recipe's ``data.cache``).
        resumable: keep the temporary folder of a failed or killed build and hand it to the next
            ``build`` (a builder that resumes what it finds); else a fresh one each time.
        what: the data in words, for the one line said when an entry is built or found.

    Two processes asking for one entry at once: the second waits for the first (an OS lock beside
    the entry) and then uses its result.
    """
    digest, listed = content_key(settings, files)
    root = Path(folder) if folder is not None else cache_root() / "data" / kind
    entry = root / (f"{name}-{digest[:16]}" if name else digest[:16])
    what = what or kind
    if entry.is_dir():
        print(f"emgan: {what}: from the cache, {entry}", file=sys.stderr, flush=True)
        return entry
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EmganError(f"cannot create the cache folder ({err.strerror or err}); set EMGAN_CACHE to a writable "
                         "folder", str(root)) from None
    partial = root / f".{entry.name}.partial"
    lock = root / f".{entry.name}.lock"
    with _locked(lock, entry):
        if entry.is_dir():  # built by another process while this one waited
            print(f"emgan: {what}: from the cache, {entry}", file=sys.stderr, flush=True)
            return entry
        if partial.exists() and not resumable:
            shutil.rmtree(partial)
        partial.mkdir(exist_ok=True)
        start = time.monotonic()
        try:
            build(partial)
            record = {"kind": kind, "settings": settings, "files": listed,
                      "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (partial / ENTRY_FILE).write_text(json.dumps(record, indent=1, default=str) + "\n")
            flush_tree(partial)  # on disk before it is named complete
            os.replace(partial, entry)
        except BaseException:
            if not resumable:
                shutil.rmtree(partial, ignore_errors=True)
            raise
        with contextlib.suppress(OSError):
            lock.unlink()  # waiters hold the old file and find the entry; newcomers find it first
    print(f"emgan: {what}: built in {time.monotonic() - start:.0f} s into the cache, {entry}",
          file=sys.stderr, flush=True)
    return entry
