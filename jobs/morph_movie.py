"""``python -m jobs morph-movie``: a movie that morphs through a roster of faces.

Each face is held, then morphed into the next (Delaunay piecewise-affine warp
and cross-dissolve, see :mod:`morphkit`). Frames are rendered lazily and
streamed into the encoder, so memory does not grow with the movie's length.
"""

from __future__ import annotations

import csv
import time
from functools import partial
from pathlib import Path

import numpy as np

from landmarker.decode import read_image
from landmarker.labelling import ModelSpec
from morphkit import CanonicalFrame, morph_sequence_frames, morph_sequence_length, write_video

from .collection import CollectionError, attach_landmarks, load_collection, write_report
from .workers import job_workers


def _group_column(manifest: str, group: str) -> str:
    """The manifest column in which ``group`` appears as a value (must be unique)."""
    with open(manifest, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    cols = [c for c in (rows[0].keys() if rows else []) if any((r[c] or "").strip() == group for r in rows)]
    if len(cols) != 1:
        where = "no column" if not cols else f"several columns ({', '.join(cols)})"
        raise CollectionError(f"{manifest}: group {group!r} found in {where}; name the column with --group-by")
    return cols[0]


def morph_movie(
    sources: list[str],
    out: str,
    manifest: str | None = None,
    group: str | None = None,
    group_by: str | None = None,
    landmarks_csv: str | None = None,
    fps: float = 30.0,
    seconds_per_face: float = 1.5,
    n_jobs: int = -1,
    width: int = 450,
    height: int = 550,
    spec: ModelSpec = ModelSpec(),
    scheduler: str | None = None,
) -> dict:
    """Render the morph movie of a collection (or of image files, in the order given).

    Args:
        n_jobs: worker threads (-1: one per core) for labelling and rendering.
        spec: the model that labels faces (not used with ``landmarks_csv``).
        scheduler: Dask scheduler address: run the per-image work on that cluster.

    Returns:
        dict: ``faces`` (used), ``skipped``, ``frames``, ``seconds``, ``path``.

    Raises:
        jobs.collection.CollectionError: fewer than two usable faces, or a bad manifest/group.
    """
    t0 = time.time()
    if len(sources) > 1 and any(Path(s).is_dir() for s in sources):
        raise CollectionError("give one collection folder, or two or more image files")
    if len(sources) == 1 and not Path(sources[0]).is_dir():
        raise CollectionError(f"{sources[0]}: a morph needs a folder or at least two image files")
    if group is not None and manifest is None:
        raise CollectionError("--group needs --manifest")
    if group is not None and group_by is None:
        group_by = _group_column(manifest, group)
    portraits = load_collection(sources, manifest, group_by)
    if group is not None:
        portraits = [p for p in portraits if p.group == group]
        if not portraits:
            raise CollectionError(f"no image of the collection is in group {group!r}")
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with job_workers(n_jobs, scheduler) as client:
        attach_landmarks(portraits, landmarks_csv, n_jobs, spec, client)
        used = [p for p in portraits if p.landmarks is not None]
        write_report(portraits, out_path.with_suffix(".report.csv"))
        if len(used) < 2:
            raise CollectionError(f"only {len(used)} usable face(s); a morph movie needs two or more")
        frame = CanonicalFrame(width=width, height=height)
        frames = morph_sequence_frames(
            [partial(read_image, p.path) for p in used],
            np.stack([p.landmarks for p in used]),
            frame=frame,
            fps=fps,
            seconds_per_face=seconds_per_face,
        )
        from tqdm import tqdm

        total = morph_sequence_length(len(used), fps, seconds_per_face)
        n = write_video(tqdm(frames, total=total, desc="morph-movie", unit="frame"), out_path, fps=fps)
    return {
        "faces": len(used),
        "skipped": len(portraits) - len(used),
        "frames": n,
        "seconds": round(time.time() - t0, 1),
        "path": str(out_path),
    }
