"""Deterministic, memory-bounded parallel maps over faces (joblib's loky process pool).

Two rules make parallel results reproducible and memory flat:

- Work for reductions is cut into chunks of a FIXED size (:data:`CHUNK_SIZE`, independent
  of ``n_jobs``); each chunk is one task returning a partial result and the caller folds
  the partial results in chunk order, so the arithmetic - and the result, bit for bit - is
  the same for any ``n_jobs``.
- Results come back in order through a sliding window: at most ``2 * n_jobs`` tasks are
  submitted ahead of the consumer, so a slow consumer (e.g. a video encoder) never makes
  finished results pile up. (``joblib.Parallel(return_as="generator")`` keeps dispatching
  as workers finish, whatever the consumer does.)
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from joblib import effective_n_jobs
from joblib.executor import get_memmapping_executor

from ._checks import check_n_jobs
from .errors import InvalidInput

#: Faces per task of a reduction (mean face). Fixed so results do not depend on ``n_jobs``.
CHUNK_SIZE = 8


_EXECUTOR: contextvars.ContextVar = contextvars.ContextVar("morphkit_executor", default=None)


@contextlib.contextmanager
def use_executor(executor, width: int) -> Iterator[None]:
    """Run morphkit's per-face work on ``executor`` inside this block, whatever ``n_jobs`` says.

    Args:
        executor: anything with ``submit(fn, *args) -> future`` whose futures have
            ``result()`` and ``cancel()``: a ``concurrent.futures`` executor, or a
            ``distributed.Client`` (a Dask cluster; the image files must be readable
            at the same paths on its workers).
        width: how many tasks ``executor`` runs at once (its threads, or the cluster's
            worker threads); :func:`ordered_map` keeps ``2 * width`` tasks in flight.

    Raises:
        ValueError: ``width`` is not a positive integer.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise InvalidInput(f"width must be a positive number of workers, got {width!r}")
    token = _EXECUTOR.set((executor, width))
    try:
        yield
    finally:
        _EXECUTOR.reset(token)


def chunk_bounds(n: int, chunk_size: int = CHUNK_SIZE) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in chunks of ``chunk_size``."""
    if chunk_size < 1:
        raise InvalidInput(f"chunk_size must be >= 1, got {chunk_size}")
    return [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]


def ordered_map(fn: Callable[[Any], Any], items: Iterable, n_jobs: int = 1,
                lookahead: int | None = None) -> Iterator[Any]:
    """``fn(item)`` for each item, yielded lazily and in order.

    Args:
        fn: a picklable callable (module-level function or ``functools.partial`` of one).
        items: iterable of picklable items, read lazily.
        n_jobs: worker processes (``1`` = run here, ``-1`` = all cores), via the reusable
            loky executor that ``joblib.Parallel`` uses too; inside :func:`use_executor`
            the work goes to that executor instead. (Taking loky's own
            ``get_reusable_executor`` instead leaves a process-wide executor that a later
            ``joblib.Parallel`` call reuses and fails on: joblib needs its memmapping
            subclass.)
        lookahead: tasks in flight ahead of the consumer (default twice the workers:
            ``2 * n_jobs``, or ``2 * width`` of :func:`use_executor`).

    Yields:
        The results in the order of ``items``. A worker's exception is re-raised here.
    """
    external = _EXECUTOR.get()
    if external is not None:
        executor, n = external
    else:
        n = effective_n_jobs(check_n_jobs(n_jobs))
        if n == 1:
            for item in items:
                yield fn(item)
            return
        executor = get_memmapping_executor(n)
    window = max(1, int(lookahead) if lookahead else 2 * n)
    source = iter(items)
    pending = deque(executor.submit(fn, item) for item in itertools.islice(source, window))
    try:
        while pending:
            result = pending.popleft().result()
            for item in itertools.islice(source, 1):  # keep the window full
                pending.append(executor.submit(fn, item))
            yield result
    finally:
        for future in pending:
            future.cancel()


def _run_chunk(task, worker: Callable[..., Any], shared: dict) -> Any:
    chunk, start = task
    return worker(chunk, start=start, **shared)


def map_chunks(worker: Callable[..., Any], items: Sequence, n_jobs: int = 1,
               chunk_size: int = CHUNK_SIZE, **shared: Any) -> Iterator[Any]:
    """Run ``worker(items[start:stop], start=start, **shared)`` for each fixed-size chunk.

    Args:
        worker: a picklable (module-level) function.
        items: the per-face work items (each chunk's slice is sent to a worker).
        n_jobs: worker processes (``1`` = in this process, ``-1`` = all cores).
        chunk_size: items per task; keep the default for results independent of ``n_jobs``.
        shared: keyword arguments passed to every call.

    Yields:
        Each chunk's result, in chunk order.
    """
    tasks = ((items[s:e], s) for s, e in chunk_bounds(len(items), chunk_size))
    return ordered_map(functools.partial(_run_chunk, worker=worker, shared=shared), tasks, n_jobs)
