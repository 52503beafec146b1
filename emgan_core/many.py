"""Inference over many inputs: ``emgan infer CHECKPOINT INPUT... -o FOLDER``, one Dask task per input.

Inputs are files (maps, image stacks, atomic models, particle STAR files, triplet stores), folders
(the input files they hold, by suffix), globs (``'models/*.pdb'``) and CSV tables (one column of
paths, ``input`` unless told; relative paths from the table's folder). Each output goes into the
output folder named after its input: ``1ubq.pdb`` -> ``1ubq.mrc``; stacks, STAR files and triplet
stores give ``.mrcs`` stacks (with a STAR copy beside a STAR input's output, and ``NAME_std`` beside
each with Monte-Carlo dropout).

The tasks run in this process (``workers=1``), on local worker processes or on a running Dask
cluster (:mod:`emgan_core.parallel`). Every task seeds torch with ``seed`` before its inference and
runs torch with ``threads`` threads, so an output is the same whichever worker makes it and whatever
else the run holds: the map of a serial run, voxel for voxel, on the CPU (the files differ only in the
time stamp MRC headers carry).

Resuming: the output folder holds a manifest, ``emgan-infer.json``, written atomically::

    {"format": "emgan-infer/1",
     "outputs": {"1ubq.mrc": {
         "inputs": [{"path": "/data/1ubq.pdb", "sha256": "..."}],
         "checkpoint": {"path": "/runs/demo/checkpoints/step-750.pt", "sha256": "..."},
         "settings": {"seed": 0, "resolution": 3.5, ...},
         "key": "<sha256 of the input hashes, the checkpoint's hash and the settings>",
         "files": {"1ubq.mrc": "<sha256 of the file written>"},
         "device": "cpu", "threads": 1, "seconds": 1.9, "written": "2026-05-01T10:00:00Z"}}}

A run skips an output whose entry has the same key and whose files still have the recorded hashes;
it redoes one whose input, checkpoint or settings changed (replacing the file it wrote before). A
file in the folder that no entry vouches for is replaced only with ``--overwrite``. Workers write
into a hidden staging folder; a finished output is renamed into place only after the manifest that
lists it is on disk, so an interrupted run leaves whole outputs, each with its entry, and nothing
half-written. One run at a time writes into a folder (an OS lock).

A failed input (an unreadable file, say) does not stop the others: they are finished and kept, and
the command then reports each failure on one line naming the input (exit status 2); run it again to
retry only what is missing.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EmganError

MANIFEST = "emgan-infer.json"
FORMAT = "emgan-infer/1"
STAGING = ".emgan-partial"
LOCK = ".emgan-infer.lock"
#: suffixes of the files a folder's inputs are recognised by
INPUT_SUFFIXES = (".pdb", ".cif", ".ent", ".mmcif", ".pdb.gz", ".cif.gz", ".mrc", ".map", ".ccp4", ".mrcs",
                  ".star", ".zarr")
_STACK_SOURCES = (".mrcs", ".star", ".zarr")
#: (task, payload, eval settings as loaded) by checkpoint file identity, device and test mode
_LOADED: dict = {}
#: one inference at a time per process: a worker started with several threads shares the loaded
#: task and torch's thread setting between them
TASK_LOCK = threading.Lock()


def is_collection(item: str) -> bool:
    """Whether a command-line input names several inputs: a folder (not a triplet store), a glob
    that is not itself a file, or a CSV table."""
    path = Path(item)
    if path.is_dir():
        return not _is_store(path)
    if glob.has_magic(item) and not path.exists():
        return True
    return path.suffix.lower() == ".csv"


def _is_store(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or (path / "zarr.json").exists() or (path / ".zgroup").exists()


def _is_input_file(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(INPUT_SUFFIXES) and (path.is_file() or _is_store(path))


def _from_table(path: Path, column: str | None) -> list[Path]:
    from .io.manifest import read_manifest

    if not path.is_file():
        raise EmganError("input table not found", str(path))
    try:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise EmganError(f"not a readable CSV table ({err})", str(path)) from None
    if column is None:
        column = "input" if "input" in header else header[0] if len(header) == 1 else None
        if column is None:
            raise EmganError(f"which column holds the inputs? give --column (one of {', '.join(header)})", str(path))
    if column not in header:
        raise EmganError(f"no column '{column}' (columns: {', '.join(header)})", str(path))
    rows = read_manifest(path, paths=[column])
    missing = [i + 2 for i, row in enumerate(rows) if not row.get(column)]
    if missing:
        raise EmganError(f"line {missing[0]}: no path in column '{column}'", str(path))
    return [Path(row[column]) for row in rows]


def expand_inputs(items, column: str | None = None) -> list[Path]:
    """The input files ``items`` name (files, folders, globs, CSV tables), in order, each once.
    A missing file, an empty folder or a glob that matches nothing is a one-line error."""
    found: list[Path] = []
    for item in map(str, items):
        path = Path(item)
        if path.is_dir() and not _is_store(path):
            files = sorted(p for p in path.iterdir() if _is_input_file(p))
            if not files:
                raise EmganError("no inputs in this folder (maps, stacks, atomic models, STAR files)", item)
        elif glob.has_magic(item) and not path.exists():
            files = [Path(p) for p in sorted(glob.glob(item, recursive=True))
                     if Path(p).is_file() or _is_store(Path(p))]
            if not files:
                raise EmganError("matches no file", item)
        elif path.suffix.lower() == ".csv":
            files = _from_table(path, column)
        else:
            files = [path]
        found += files
    missing = [p for p in found if not p.exists()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise EmganError(f"input not found{more}", str(missing[0]))
    unique = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def _split(source: str | os.PathLike) -> tuple[str, str]:
    name = Path(source).name
    suffix = next((s for s in sorted(INPUT_SUFFIXES, key=len, reverse=True) if name.lower().endswith(s)),
                  Path(name).suffix)
    return (name[: len(name) - len(suffix)] if suffix else name), suffix.lower()


def input_stem(source: str | os.PathLike) -> str:
    """An input's name without its input suffix (``1ubq.pdb.gz`` -> ``1ubq``)."""
    return _split(source)[0]


def output_name(source: str | os.PathLike) -> str:
    """The file an input's output gets: its name without the input suffix, ``.mrc`` for a map and
    ``.mrcs`` for a stack (the output of a stack, a STAR file or a triplet store)."""
    stem, suffix = _split(source)
    return stem + (".mrcs" if suffix in _STACK_SOURCES else ".mrc")


def digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder (a triplet store): its files' relative paths and bytes."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f"\0{f.relative_to(path).as_posix()}\0".encode())
        with open(f, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _input_files(source: Path) -> list[Path]:
    """The files an input's output depends on: itself, and for a STAR file the stacks it names."""
    if source.suffix.lower() != ".star":
        return [source]
    from .io import read_particle_star

    stacks = sorted({Path(s) for s in read_particle_star(source).rows["stack"]})
    return [source] + [s for s in stacks if s.exists()]


# -- the task run on a worker --------------------------------------------------------------------

def _loaded(checkpoint: str, device: str, test_mode: str | None):
    """The task of ``checkpoint`` ready for inference, loaded once per process (keyed by the
    file's identity, so a replaced file is loaded again)."""
    from .inference import load_for_inference

    st = os.stat(checkpoint)
    key = (checkpoint, st.st_mtime_ns, st.st_size, device, test_mode)
    if key not in _LOADED:
        if len(_LOADED) >= 2:
            _LOADED.clear()
        task, payload = load_for_inference(checkpoint, device, test_mode=test_mode)
        _LOADED[key] = (task, payload, task.eval)
    return _LOADED[key]


def infer_job(job: dict) -> dict:
    """One input's inference (a Dask task): the output (and its std map, STAR copy) written whole
    into the staging folder. Returns {"files": {final name: [staged path, sha256]}, "seconds",
    "device"}."""
    with TASK_LOCK:
        return _infer_job(job)


def _infer_job(job: dict) -> dict:
    from .inference import _infer, resolve_device, std_path
    from .io import read_map, read_particle_star, write_any, write_star_copy
    from .parallel import thread_limit
    from .transforms import resample_to_grid
    from .volume import Volume

    device = resolve_device(job["device"])
    task, payload, eval_settings = _loaded(job["checkpoint"], device, job["test_mode"])
    task.eval = eval_settings.replace(**job["eval"])
    source, staging = job["source"], Path(job["staging"])
    options = dict(job["options"])
    table = read_particle_star(source) if source.lower().endswith(".star") else None
    if table is not None:
        if not getattr(task, "accepts_star", False):
            raise EmganError(f"task/{payload['components']['task']['name']} does not take particle STAR files",
                             source)
        options["star"] = table
    t0 = time.perf_counter()
    with thread_limit(job["threads"]):
        out, std = _infer(task, source, device, options, job["mc_samples"], job["seed"])
        if job["ref_map"]:
            if not isinstance(out, Volume):
                raise EmganError("--ref-map applies to maps, not image stacks", source)
            ref = read_map(job["ref_map"])
            out, std = resample_to_grid(out, ref), (resample_to_grid(std, ref) if std is not None else None)
    seconds = time.perf_counter() - t0
    name = job["name"]
    staged = {name: staging / name}
    write_any(out, staged[name], overwrite=True)
    if std is not None:
        staged[std_path(name).name] = staging / std_path(name).name
        write_any(std, staged[std_path(name).name], overwrite=True)
    if table is not None:
        star = Path(name).with_suffix(".star").name
        staged[star] = write_star_copy(table, staged[name], staging / star)
    return {"files": {k: [str(p), digest(p)] for k, p in staged.items()}, "seconds": seconds, "device": device,
            "threads": job["threads"]}


# -- the run -----------------------------------------------------------------------------------

@dataclass
class ManyReport:
    """What a run did: outputs written now, outputs already up to date, inputs that failed (input ->
    its error line) and the manifest."""

    folder: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    manifest: Path | None = None
    seconds: float = 0.0


@dataclass
class _Plan:
    source: Path
    name: str
    files: list[str]  # every file the output consists of (names in the folder)
    entry: dict


def read_infer_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of an output folder ({"format", "outputs"}); an empty one if there is none."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "outputs": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EmganError(f"unreadable manifest ({err}); move it away to start afresh", str(path)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("outputs"), dict):
        raise EmganError(f"not an emgan-infer manifest (format {FORMAT})", str(path))
    return data


def _write_manifest(folder: Path, manifest: dict) -> None:
    from .io.atomic import atomic_output

    with atomic_output(folder / MANIFEST, replace=True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _key(entry: dict) -> str:
    what = {"inputs": [i["sha256"] for i in entry["inputs"]], "checkpoint": entry["checkpoint"]["sha256"],
            "settings": entry["settings"]}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _plans(sources: list[Path], folder: Path, checkpoint: dict, settings: dict, mc: bool) -> list[_Plan]:
    """Every input's output file names and manifest entry (its hashes); two inputs that would write
    one output are an error."""
    from .inference import std_path

    plans, owners = [], {}
    for source in sources:
        name = output_name(source)
        files = [name] + ([std_path(name).name] if mc else [])
        if source.suffix.lower() == ".star":
            files.append(Path(name).with_suffix(".star").name)
        for f in files:
            if f in owners:
                raise EmganError(f"two inputs would write {folder / f}: {owners[f]} and {source} (give them "
                                 "different names, or run them into different folders)", str(source))
            owners[f] = source
        entry = {"inputs": [{"path": str(p.resolve()), "sha256": digest(p)} for p in _input_files(source)],
                 "checkpoint": checkpoint, "settings": settings}
        entry["key"] = _key(entry)
        plans.append(_Plan(source, name, files, entry))
    return plans


def _up_to_date(plan: _Plan, old: dict | None, folder: Path) -> bool:
    return (old is not None and old.get("key") == plan.entry["key"]
            and set(old.get("files", {})) == set(plan.files)
            and all((folder / f).is_file() or (folder / f).is_dir() for f in plan.files)
            and all(digest(folder / f) == sha for f, sha in old["files"].items()))


def _check_outputs(plans: list[_Plan], manifest: dict, folder: Path, inputs: list, overwrite: bool) -> list[_Plan]:
    """The plans to run: all but the up-to-date ones. An existing file no entry vouches for (its
    recorded hash) is refused without ``overwrite``; an input is never written over."""
    from .io.atomic import check_output

    todo, refused = [], []
    for plan in plans:
        old = manifest["outputs"].get(plan.name)
        if _up_to_date(plan, old, folder):
            continue
        for f in plan.files:
            path = check_output(folder / f, inputs, overwrite=True)  # writable, not an input
            ours = old is not None and path.exists() and old.get("files", {}).get(f) == digest(path)
            if os.path.lexists(path) and not ours and not overwrite:
                refused.append(str(path))
        todo.append(plan)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise EmganError(f"exists already and is not an output this manifest vouches for: not overwritten "
                         f"(give --overwrite to replace it){more}", refused[0])
    return todo


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Hold the folder's lock file for the block. The file stays: removing it would let a process that
    opened the old one and one that creates a new one both hold "the" lock."""
    from .io.atomic import try_lock

    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            try_lock(fd)
        except BlockingIOError:
            raise EmganError("another emgan infer is writing into this folder: wait for it, or choose another "
                             "folder", str(folder)) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def infer_many(checkpoint, inputs, output, *, column: str | None = None, workers: int = 1,
               scheduler: str | None = None, threads: int | None = 1, ref_map=None, device: str = "auto",
               eval: dict | None = None, resolution: float | None = None, mc_samples: int | None = None,
               test_mode: str | None = None, seed: int = 0, overwrite: bool | None = None) -> ManyReport:
    """Run a checkpoint's inference on every input ``inputs`` name (files, folders, globs, CSV
    tables with paths in ``column``) into the folder ``output``, one Dask task per input, resuming
    what an earlier run finished (see the module notes). ``workers``: local worker processes (1: in
    this process); ``scheduler``: a running cluster's address instead. ``threads``: torch threads
    per task (None: torch's default; the same number gives the same maps however many workers).
    The other options are :func:`~emgan_core.inference.infer_to_file`'s. Returns a
    :class:`ManyReport`; raises :class:`~emgan_core.errors.EmganError` with one line per failed input
    after finishing the others."""
    from .io.atomic import overwrite_allowed
    from .parallel import check_workers

    overwrite = overwrite_allowed() if overwrite is None else overwrite
    check_workers(workers, scheduler)
    sources = expand_inputs(inputs, column)
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise EmganError("with several inputs the output is a folder; this is a file", str(folder))
    jobs, check = _prepare(checkpoint, sources, ref_map, device, eval, resolution, mc_samples, test_mode, seed,
                           threads, scheduler)
    if not folder.parent.is_dir():
        raise EmganError(f"cannot write: folder '{folder.parent}' does not exist", str(folder))
    folder.mkdir(exist_ok=True)
    with _folder_lock(folder):
        manifest = read_infer_manifest(folder)
        plans = _plans(sources, folder, *check)
        todo = _check_outputs(plans, manifest, folder, [*sources, ref_map, jobs["checkpoint"]], overwrite)
        staging = folder / STAGING
        shutil.rmtree(staging, ignore_errors=True)  # what a killed run left unfinished
        staging.mkdir()
        report = ManyReport(folder, skipped=[folder / p.name for p in plans if p not in todo],
                            manifest=folder / MANIFEST)
        try:
            _run(todo, jobs, staging, folder, manifest, report, workers, scheduler, len(plans))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return report


def _prepare(checkpoint, sources, ref_map, device, eval, resolution, mc_samples, test_mode, seed, threads,
             scheduler):
    """(the job fields every input shares, (checkpoint identity, settings, mc)) after the checks that
    need no input: the checkpoint loads, the device exists, the reference map reads."""
    from .inference import check_test_mode, resolve_device
    from .io.checkpoints import find_checkpoint
    from .models import resolve_checkpoint

    if not sources:
        raise EmganError("no inputs")
    if mc_samples is not None and int(mc_samples) < 2:
        raise EmganError(f"Monte-Carlo dropout needs at least 2 samples, got {mc_samples}", "--mc-samples")
    if threads is not None and int(threads) < 1:
        raise EmganError(f"threads must be >= 1, got {threads}", "--threads")
    if test_mode is not None:
        check_test_mode(test_mode)
    path = str(find_checkpoint(resolve_checkpoint(checkpoint)).resolve())
    # a device this machine lacks fails here, before any work (a cluster's workers have their own),
    # and so does a broken checkpoint
    _loaded(path, "cpu" if scheduler else resolve_device(device), test_mode)
    if ref_map is not None:
        from .io import read_map

        read_map(ref_map)
    eval = {k: v for k, v in (eval or {}).items() if v is not None}
    options = {"resolution": float(resolution)} if resolution is not None else {}
    settings = {"seed": int(seed), "options": options, "eval": eval, "test_mode": test_mode,
                "mc_samples": None if mc_samples is None else int(mc_samples),
                "ref_map": None if ref_map is None else digest(ref_map)}
    jobs = {"checkpoint": path, "device": device, "test_mode": test_mode, "eval": eval, "options": options,
            "mc_samples": settings["mc_samples"], "seed": int(seed), "threads": threads,
            "ref_map": None if ref_map is None else str(Path(ref_map).resolve())}
    return jobs, ({"path": path, "sha256": digest(path)}, settings, mc_samples is not None)


def _run(todo, jobs, staging, folder, manifest, report, workers, scheduler, total) -> None:
    """Run ``todo`` as tasks; record each finished output in the manifest and rename it into place
    (at most about once a second, and at the end, interrupted or not); raise the failures."""
    from .parallel import run_tasks
    from .progress import Progress

    items = [{**jobs, "source": str(p.source), "name": p.name, "staging": str(staging)} for p in todo]
    pending: list[tuple[_Plan, dict]] = []
    errors: dict[int, Exception] = {}
    last = time.monotonic()
    t0 = time.perf_counter()
    with Progress("inferring", total=total, initial=total - len(todo), unit="input") as bar:
        if report.skipped:
            bar.write(f"emgan: {len(report.skipped)} of {total} outputs up to date in {folder} (skipped)")
        try:
            for index, result, error in run_tasks(infer_job, items, workers=workers, scheduler=scheduler,
                                                  progress=bar):
                if error is not None:
                    errors[index] = error
                    continue
                pending.append((todo[index], result))
                if time.monotonic() - last >= 1.0:
                    _commit(pending, folder, manifest, report)
                    last = time.monotonic()
        finally:
            _commit(pending, folder, manifest, report)
    report.seconds = time.perf_counter() - t0
    _raise_failures(todo, errors, report, total)


def _commit(pending: list, folder: Path, manifest: dict, report: ManyReport) -> None:
    """Write the manifest with the entries of ``pending``, then rename their files into place."""
    if not pending:
        return
    from .io.atomic import _fsync

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for plan, result in pending:
        manifest["outputs"][plan.name] = {**plan.entry, "files": {k: v[1] for k, v in result["files"].items()},
                                          "device": result["device"], "threads": result["threads"],
                                          "seconds": round(result["seconds"], 3), "written": stamp}
    _write_manifest(folder, manifest)
    for plan, result in pending:
        for name, (staged, _) in result["files"].items():
            os.replace(staged, folder / name)
        report.written.append(folder / plan.name)
    _fsync(folder, directory=True)
    pending.clear()


def _raise_failures(todo: list[_Plan], errors: dict[int, Exception], report: ManyReport, total: int) -> None:
    """One line per failed input (an error every input met, once); a failure that is not a user
    error is raised as it is (a bug: its traceback)."""
    for index, error in sorted(errors.items()):
        if not isinstance(error, EmganError):
            raise error
    by_line: dict[str, list[str]] = {}
    for index, error in sorted(errors.items()):
        by_line.setdefault(error.line(), []).append(str(todo[index].source))
    lines = []
    for line, sources in by_line.items():
        named = len(sources) == 1 and (sources[0] in line or Path(sources[0]).name in line)
        if len(sources) == 1:
            lines.append(line if named else f"{sources[0]}: {line}")
        else:
            named = ", ".join(sources[:3]) + (", …" if len(sources) > 3 else "")
            lines.append(f"{line} ({len(sources)} inputs: {named})")
        for s in sources:
            report.failed[s] = line
    if lines:
        kept = "the others are kept; " if report.written or report.skipped else ""
        print(f"emgan: {report.folder}: {len(report.written)} written, {len(report.skipped)} up to date, "
              f"{len(report.failed)} of {total} failed ({kept}run again to retry)", file=sys.stderr, flush=True)
        raise EmganError("\n".join(lines))
