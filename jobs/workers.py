"""Where a job's per-image work runs: worker threads here, or a Dask cluster.

Labelling goes through :func:`landmarker.inference.parallel.label_chunks`; morphkit's per-face
work (warps, mean faces, morph frames) through :func:`morphkit.parallel.use_executor`
with the same workers: a thread pool of ``n_jobs`` threads (decoding, dlib, OpenCV
and ONNX Runtime release the GIL, and threads cost nothing to start), or the
cluster's ``distributed.Client``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from landmarker.inference.parallel import cluster, workers_for
from morphkit.parallel import use_executor


def preload(*modules: str) -> None:
    """Import ``modules`` in a background thread (e.g. scikit-image while faces are labelled).

    Labelling threads spend their time in code that releases the GIL, so the import
    runs alongside them instead of after them (about 0.3 s of a 2 s team-means run).
    """
    import importlib
    import threading

    def work():
        for name in modules:
            try:
                importlib.import_module(name)
            except ImportError:  # the real import will say what is missing
                pass

    threading.Thread(target=work, name="preload", daemon=True).start()


@contextmanager
def job_workers(n_jobs: int | None, scheduler: str | None) -> Iterator[object]:
    """Set up the workers of a job; yields their executor (for :func:`landmarker.inference.parallel.label_chunks`).

    The executor is the Dask client, a pool of ``n_jobs`` threads, or None for one
    local thread (the work then runs in this thread). Inside the block morphkit's
    per-face work runs on the same workers.

    Raises:
        ValueError: a bad ``n_jobs``, or an unreachable scheduler.
        ImportError: ``scheduler`` without Dask installed.
    """
    n, _ = workers_for(n_jobs, 1 << 30)
    with cluster(scheduler) as client:
        if client is not None:
            with use_executor(client, max(1, sum(client.nthreads().values()))):
                yield client
        elif n == 1:
            yield None
        else:
            with ThreadPoolExecutor(n, thread_name_prefix="worker") as pool, use_executor(pool, n):
                yield pool
