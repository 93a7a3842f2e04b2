"""Where per-image work runs: threads of this process, or a Dask cluster.

Labelling is decoding (Pillow), dlib's HOG, OpenCV and ONNX Runtime, which all
release the GIL, so local workers are threads: they start at once, share the
process's imports, and each keeps its own model (:mod:`landmarker.inference.labelling`).
On two cores, two threads label 1.9x as fast as one (``benchmarks/bench_label_vs_dlib_script.py``);
worker processes spent a second each importing and loading the model before the
first image.

With ``--scheduler ADDRESS`` the chunks go to a Dask cluster instead
(``distributed.Client.map``; the ``[dask]`` extra). Every worker needs this
project installed and the files at the same paths (a shared file system).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from morphkit.errors import InvalidInput, MissingDependency, extra_hint


def n_jobs_arg(text: str) -> int:
    """argparse type of ``--n-jobs``: a positive number of cores, or -1 (every core)."""
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if n < 1 and n != -1:
        raise argparse.ArgumentTypeError(f"must be a positive number of cores or -1 (every core), got {n}")
    return n


def add_parallel_options(parser) -> None:
    """Add ``--n-jobs`` and ``--scheduler`` (see :func:`label_chunks`) to an argparse parser."""
    parser.add_argument("--n-jobs", type=n_jobs_arg, default=-1,
                        help="cores to use on this machine: one worker thread each (-1: every core)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the per-image work on this Dask cluster, e.g. tcp://10.0.0.5:8786 (needs "
                        "morphkit-faces[dask] and the files at the same paths on every worker)")


def cpu_count() -> int:
    """Cores this process may use (``os.sched_getaffinity`` where it exists)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def workers_for(n_jobs: int | None, n_tasks: int) -> tuple[int, int]:
    """``(worker threads, CPU threads per worker)`` for ``n_jobs`` cores (None or -1: every core).

    ``n_jobs`` is the number of cores the work may use: one worker per core, each
    running its network on one core, except that no more workers start than there
    are tasks, and the cores left over go to the workers' networks (ONNX Runtime's
    intra-op threads).

    Raises:
        ValueError: ``n_jobs`` is 0 or below -1.
    """
    if n_jobs is None or n_jobs == -1:
        n_jobs = cpu_count()
    if n_jobs < 1:
        raise InvalidInput(f"--n-jobs must be a positive number or -1 (one per core), got {n_jobs}")
    n = max(1, min(n_jobs, n_tasks))
    return n, max(1, n_jobs // n)


CONNECT_TIMEOUT = 5.0  # seconds to wait for a Dask scheduler (a typo should not cost a minute)


@contextmanager
def cluster(scheduler: str | None, connect_timeout: float | None = None):
    """A ``distributed.Client`` on ``scheduler`` for the block (None: yields None, no cluster).

    Raises:
        ValueError: the scheduler cannot be reached.
        ImportError: Dask's ``distributed`` is not installed (the ``[dask]`` extra).
    """
    if not scheduler:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise MissingDependency(f"--scheduler needs Dask: {extra_hint('dask')}") from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise InvalidInput(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
    with client:
        yield client


def label_chunks(fn: Callable[..., Any], chunks: Sequence, n_jobs: int | None = None, executor=None,
               **kwargs: Any) -> Iterator[Any]:
    """``fn(chunk, threads=T, **kwargs)`` for each chunk, results yielded in chunk order.

    The labelling map: worker threads that each run a network with ``T`` ONNX Runtime
    threads, or a Dask cluster. (morphkit's per-face work has its own deterministic map,
    :func:`morphkit.parallel.map_chunks`, which runs on the same executor inside a job.)

    Args:
        fn: a module-level function (importable on Dask workers).
        chunks: the tasks' first arguments.
        n_jobs: cores to use locally (None or -1: all): one worker thread each
            (:func:`workers_for`); ``T`` is each worker's ONNX Runtime threads. Not
            used with ``executor``.
        executor: run the chunks there instead (``T`` = 1): anything with
            ``submit(fn, *args, **kwargs)`` whose futures have ``result()`` and
            ``cancel()`` - a job's thread pool, or a ``distributed.Client`` (:func:`cluster`).

    Raises:
        Whatever ``fn`` raises, here, in order.
    """
    if not chunks:
        return
    threads = 1
    own = None
    if executor is None:
        n, threads = workers_for(n_jobs, len(chunks))
        if n == 1:
            for chunk in chunks:
                yield fn(chunk, threads=threads, **kwargs)
            return
        from concurrent.futures import ThreadPoolExecutor

        # (joblib's threading backend polls for results with sleeps: 0.8 s of 2 s on 100 portraits)
        executor = own = ThreadPoolExecutor(n, thread_name_prefix="label")
    futures = [executor.submit(fn, chunk, threads=threads, **kwargs) for chunk in chunks]
    try:
        for future in futures:
            yield future.result()
    finally:  # a consumer that stops early (an error, Ctrl-C) leaves no work queued
        for future in futures:
            future.cancel()
        if own is not None:
            own.shutdown(wait=True)
