"""``python -m jobs team-means``: one mean face per group and a labelled comparison grid.

Output folder: ``<group>.png`` per group, ``comparison.png`` (the means side by
side, each labelled with its group and face count) and ``report.csv`` (which
image went into which mean, and why an image was skipped).
"""

from __future__ import annotations

import re
import time
from functools import partial
from pathlib import Path

import numpy as np

from landmarker.decode import ImageDecodeError, read_image
from landmarker.labelling import ModelSpec
from landmarker.overlay import save_png
from morphkit import CanonicalFrame, image_grid, mean_face

from .collection import Portrait, attach_landmarks, load_collection, write_report
from .workers import job_workers


def safe_name(group: str) -> str:
    """A file-name-safe version of a group name (``New York`` -> ``New_York``)."""
    return re.sub(r"[^\w.-]+", "_", group.strip()).strip("._") or "group"


def group_mean(portraits: list[Portrait], frame: CanonicalFrame, background: str, n_jobs: int = 1):
    """The mean face of the portraits that have landmarks, dropping any whose file fails to decode.

    ``n_jobs`` is morphkit's; inside :func:`jobs.workers.job_workers` the job's workers are used.

    Returns:
        :class:`morphkit.MeanFace`, or None when no portrait is usable.
    """
    usable = [p for p in portraits if p.landmarks is not None]
    while usable:
        try:
            return mean_face(
                [partial(read_image, p.path) for p in usable],
                np.stack([p.landmarks for p in usable]),
                frame=frame,
                background=background,
                n_jobs=n_jobs,
            )
        except ImageDecodeError as err:
            bad = [p for p in usable if str(p.path) == err.path]
            if not bad:
                raise
            for p in bad:
                p.landmarks, p.note = None, err.reason
            usable = [p for p in usable if p.landmarks is not None]
    return None


def team_means(
    collection: str,
    out: str,
    manifest: str | None = None,
    group_by: str | None = None,
    landmarks_csv: str | None = None,
    n_jobs: int = -1,
    background: str = "frame",
    width: int = 450,
    height: int = 550,
    spec: ModelSpec = ModelSpec(),
    scheduler: str | None = None,
) -> dict:
    """Write one mean face per group, the comparison grid and the report into ``out``.

    Args:
        n_jobs: worker threads (-1: one per core) for labelling and warping.
        spec: the model that labels faces (not used with ``landmarks_csv``).
        scheduler: Dask scheduler address: run the per-image work on that cluster.

    Returns:
        dict: ``groups`` (name -> face count), ``images``, ``used``, ``skipped``, ``seconds``.

    Raises:
        jobs.collection.CollectionError, FileNotFoundError: unusable collection or manifest.
    """
    t0 = time.time()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    portraits = load_collection([collection], manifest, group_by)
    frame = CanonicalFrame(width=width, height=height)
    means, labels, counts = [], [], {}
    with job_workers(n_jobs, scheduler) as client:
        attach_landmarks(portraits, landmarks_csv, n_jobs, spec, client)
        groups: dict[str, list[Portrait]] = {}
        for p in portraits:
            groups.setdefault(p.group, []).append(p)
        for group in sorted(groups):
            result = group_mean(groups[group], frame, background)
            if result is None:
                print(f"team-means: group {group!r}: no usable face, no mean written")
                continue
            save_png(result.image, out_dir / f"{safe_name(group)}.png")
            means.append(result.image)
            labels.append(f"{group} ({result.count} {'face' if result.count == 1 else 'faces'})")
            counts[group] = result.count
    if means:
        save_png(image_grid(means, labels), out_dir / "comparison.png")
    write_report(portraits, out_dir / "report.csv")
    used = sum(p.landmarks is not None for p in portraits)
    return {
        "groups": counts,
        "images": len(portraits),
        "used": used,
        "skipped": len(portraits) - used,
        "seconds": round(time.time() - t0, 1),
    }
