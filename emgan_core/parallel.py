"""Independent pieces of work run as Dask tasks: in this process, on local worker processes, or on a
running cluster.

``emgan infer`` over many inputs, ``emgan bench`` (one task per input) and DiffraGAN's dataset
build share this: :func:`dask_client` opens a local cluster of ``workers`` processes (one thread
each) or connects to the scheduler at ``scheduler`` (``tcp://host:8786``); :func:`run_tasks` calls a
function once per item, as one task each, and hands back each result (or its error) as it finishes.
One worker and no scheduler runs the tasks one after the other in this process, without a cluster.

Workers of a running cluster need emgan and the plugins the work uses installed, and see the files
the work names at the same paths (a shared file system).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import EmganError


def check_workers(workers: int, scheduler: str | None = None) -> int:
    """``workers`` as an int ≥ 1 (a one-line error otherwise); with ``scheduler`` (whose cluster has
    its own workers) it is not used: 1."""
    if scheduler:
        return 1
    if isinstance(workers, bool) or not isinstance(workers, (int, float)) or int(workers) != workers or workers < 1:
        raise EmganError(f"workers must be an integer >= 1, got {workers!r}", "workers")
    return int(workers)


@contextlib.contextmanager
def thread_limit(threads: int | None):
    """Inside the block, torch and the numerical libraries (BLAS, OpenMP) use ``threads`` threads
    (unchanged if None): a task's sums then run in one order wherever it runs, and its results are
    the same bytes in this process and on a Dask worker (whose libraries start with one thread)."""
    if not threads:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: str | None = None):
    """A ``dask.distributed.Client`` for the block, closed after it (the local cluster too).

    ``scheduler``: the address of a running Dask scheduler (``tcp://host:8786``); an unreachable one
    is a one-line error naming it. Otherwise a local cluster of ``workers`` processes of one thread
    each, without a dashboard. The cluster's start/stop chatter is silenced; a task's error still
    reaches the caller through its future.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise EmganError("running tasks on Dask workers needs dask and distributed: pip install "
                         "'emgan-core[parallel]' (or run with one worker)",
                         "--scheduler" if scheduler else "--workers") from None

    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="20s")
            except OSError as exc:
                raise EmganError(f"cannot reach the Dask scheduler ({exc})", scheduler) from None
        else:
            # silence_logs: the worker processes' own logging; a heartbeat that races the shutdown
            # no longer prints a traceback. No dashboard; the scheduler's HTTP server (health
            # checks) on a free port, not on 8787 with a warning when another cluster holds it.
            cluster = LocalCluster(n_workers=check_workers(workers), threads_per_worker=1, processes=True,
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                                   silence_logs=logging.CRITICAL)
            client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
        quiet.setLevel(level)


def run_tasks(func: Callable[[Any], Any], items: Iterable, *, workers: int = 1, scheduler: str | None = None,
              client=None, progress=None) -> Iterator[tuple[int, Any, Exception | None]]:
    """Call ``func(item)`` for every item, one Dask task each; yield ``(index, result, None)`` or
    ``(index, None, error)`` as each task finishes (in the order they finish).

    ``func`` must be importable by the workers (a module-level function) and ``items`` picklable.
    The tasks run in this process, in order, when ``workers`` is 1 and no ``scheduler`` or
    ``client`` is given; else on ``client``, or on a cluster opened for the call
    (:func:`dask_client`). An error of one task does not stop the others; an interruption
    (Ctrl-C) closes the cluster and cancels what has not finished. ``progress``
    (:class:`~emgan_core.progress.Progress`) counts every finished task.
    """
    items = list(items)
    if not items:  # nothing to do: no cluster to start
        return
    if client is None and not scheduler and check_workers(workers) == 1:
        for index, item in enumerate(items):
            try:
                outcome = (index, func(item), None)
            except Exception as exc:  # noqa: BLE001 - handed to the caller, who decides
                outcome = (index, None, exc)
            if progress is not None:
                progress.update()
            yield outcome
        return
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(workers, scheduler))
        yield from _on_client(client, func, items, progress)


def _on_client(client, func, items, progress) -> Iterator[tuple[int, Any, Exception | None]]:
    from dask.distributed import as_completed

    futures = {client.submit(func, item, pure=False): index for index, item in enumerate(items)}
    pending = set(futures)
    try:
        for future in as_completed(futures):
            pending.discard(future)
            try:
                outcome = (futures[future], future.result(), None)
            except Exception as exc:  # noqa: BLE001 - handed to the caller, who decides
                outcome = (futures[future], None, exc)
            future.release()  # the worker may drop the result
            if progress is not None:
                progress.update()
            yield outcome
    finally:
        if pending:
            client.cancel(list(pending))
