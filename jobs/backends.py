"""Where the per-image work of a job runs: local worker processes, or a Dask cluster.

Both go through joblib, so the job's loop is the same:

- ``loky`` (default): joblib's local worker processes on this machine;
- ``dask``: the workers of a Dask distributed cluster, through joblib's Dask
  backend (``joblib.parallel_config(backend="dask")`` with a
  ``distributed.Client`` connected to the scheduler). The task function must be
  importable on the workers (the project installed there) and the files it reads
  and writes must sit at the same paths on every worker (a shared file system).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

BACKENDS = ("loky", "dask")


def choose_backend(backend: str | None, scheduler: str | None) -> str:
    """The backend to use: ``dask`` when a scheduler is given, else ``loky``.

    Raises:
        ValueError: ``dask`` without a scheduler, a scheduler with ``loky``, or an
            unknown backend.
    """
    backend = backend or ("dask" if scheduler else "loky")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose {', '.join(BACKENDS)})")
    if backend == "dask" and not scheduler:
        raise ValueError("--backend dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    if backend == "loky" and scheduler:
        raise ValueError("--scheduler is only used with --backend dask")
    return backend


@contextmanager
def parallel_backend(
    backend: str, scheduler: str | None, n_jobs: int, n_tasks: int, connect_timeout: float = 20.0
) -> Iterator[tuple[int, int | None]]:
    """Set up joblib for ``backend``; yields ``(n_jobs for joblib.Parallel, torch threads per task)``.

    Args:
        backend: ``loky`` or ``dask`` (see :func:`choose_backend`).
        scheduler: Dask scheduler address (``tcp://host:8786``), for ``dask``.
        n_jobs: local worker processes (``-1``: one per core); ignored by ``dask``,
            which uses every worker thread of the cluster.
        n_tasks: number of tasks, so that no more local processes start than tasks.
        connect_timeout: seconds to wait for the scheduler.

    For ``loky`` the cores are shared out between the processes (threads =
    cores // processes). For ``dask`` threads is None: Dask's nanny starts workers
    with ``OMP_NUM_THREADS=1``, and ``dask worker --nworkers`` sets the processes.

    Raises:
        ValueError: the scheduler cannot be reached.
    """
    if backend == "loky":
        cores = os.cpu_count() or 1
        n_workers = max(1, min(n_jobs if n_jobs > 0 else cores, n_tasks))
        yield n_workers, max(1, cores // n_workers)
        return
    import joblib
    from distributed import Client

    try:
        client = Client(scheduler, timeout=connect_timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    with client, joblib.parallel_config(backend=_dask_backend(client)):
        yield -1, None


def _dask_backend(client):
    """joblib's Dask backend on ``client``, made never to fall back to running in this process.

    joblib runs a call whose effective ``n_jobs`` is 1 sequentially in the calling
    process, and its Dask backend counts the cluster's worker threads: on a cluster
    with a single worker thread all the work would silently stay here. Counting at
    least 2 keeps it on the cluster (Dask queues what its workers cannot start yet).
    """
    try:
        from joblib._dask import DaskDistributedBackend
    except ImportError:  # a joblib that moved it: the registered name, with its one-thread caveat
        return "dask"

    class ClusterOnlyDaskBackend(DaskDistributedBackend):
        def effective_n_jobs(self, n_jobs):
            return max(2, super().effective_n_jobs(n_jobs))

    return ClusterOnlyDaskBackend(client=client)
