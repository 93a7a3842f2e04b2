"""``morphkit morph-movie``: a movie that morphs through a roster of faces.

Each face is held, then morphed into the next (Delaunay piecewise-affine warp
and cross-dissolve, see :mod:`morphkit`). Frames are rendered lazily and
streamed into the encoder, so memory does not grow with the movie's length.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from landmarker.inference.labelling import ModelSpec
from landmarker.io.files import mark_output
from morphkit import (
    morph_sequence_frames,
    morph_sequence_length,
    write_video,
)

from .collection import (
    CollectionError,
    attach_landmarks,
    check_options,
    face_sources,
    frame_of,
    load_collection,
    note_grayscale,
    output_frame,
    write_report,
)
from .html_report import write_report as write_html
from .manifest import read_manifest
from .outputs import RunOutputs
from .results import MorphMovieResult
from .workers import job_workers, preload

log = logging.getLogger(__name__)


def _group_column(manifest: str, group: str) -> str:
    """The manifest column in which ``group`` appears as a value (must be unique)."""
    columns, rows = read_manifest(manifest)
    cols = [c for c in columns if any(r.get(c, "") == group for _, r in rows)]
    if len(cols) != 1:
        if cols:
            raise CollectionError(f"{manifest}: group {group!r} is a value of several columns ({', '.join(cols)}); "
                                  "name the column with --group-by")
        few = []
        for c in columns:
            values = sorted({r.get(c, "") for _, r in rows} - {""})
            if 1 < len(values) <= 12:
                few.append(f"{c} ({', '.join(values)})")
        raise CollectionError(f"{manifest}: no column has the value {group!r}; the groups there: "
                              f"{'; '.join(few) or 'none with 12 values or fewer'}")
    return cols[0]


MOVIE_SUFFIXES = (".mp4", ".gif")


def morph_movie(
    sources: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    manifest: str | os.PathLike | None = None,
    group: str | None = None,
    group_by: str | None = None,
    landmarks_csv: str | os.PathLike | None = None,
    fps: float = 30.0,
    seconds_per_face: float = 1.5,
    transition_fraction: float = 0.5,
    loop: bool = False,
    background: str = "frame",
    n_jobs: int = -1,
    width: int | None = None,
    height: int | None = None,
    spec: ModelSpec = ModelSpec(),
    scheduler: str | None = None,
) -> MorphMovieResult:
    """Render the morph movie of a collection (or of image files, in the order given).

    The defaults here are those of ``morphkit morph-movie`` (its options read them from this signature).

    Args:
        sources: one collection folder, or two or more image files in movie order (a
            file may repeat: ``a.jpg b.jpg a.jpg`` morphs A -> B -> A).
        out: ``MOVIE.mp4`` (H.264) or ``MOVIE.gif`` (``width`` wide); the reports go
            beside it, named after it (``MOVIE.report.csv``, ``MOVIE.html`` with its
            thumbnails in ``MOVIE.faces/``), so several movies can share a folder.
            Interrupted (Ctrl-C), the run leaves none of them.
        manifest, group, group_by: only the faces of one group: of a manifest column,
            or without a manifest of one sub-folder of the collection.
        fps, seconds_per_face: frames per second; seconds each face owns (hold + morph).
        transition_fraction: share of each face's time spent morphing into the next, 0..1.
        loop: morph from the last face back to the first, for looping playback.
        background: ``frame`` (whole frame) or ``face`` (the face on a plain background).
        n_jobs: cores to use (-1: all) for labelling and rendering.
        width, height: frame size in pixels (a GIF's width); one alone: the other in the default frame's
            proportions; neither: chosen from the faces (:func:`jobs.collection.output_frame`: their median
            eye-centre distance kept). The console line and the report say which and why.
        spec: the model that labels faces (not used with ``landmarks_csv``).
        scheduler: Dask scheduler address: run the per-image work on that cluster.

    Returns:
        :class:`jobs.results.MorphMovieResult`: faces used, skipped, frames, seconds, the movie's path.

    Raises:
        jobs.collection.CollectionError: fewer than two usable faces, a bad manifest or
            group, or an unusable ``--out`` or option (the message names the flag).
    """
    t0 = time.time()
    out_path = Path(out)
    if out_path.suffix.lower() not in MOVIE_SUFFIXES:
        raise CollectionError(f"--out {out}: use a .mp4 or .gif file name (got {out_path.suffix or 'no extension'})")
    if out_path.is_dir():
        raise CollectionError(f"--out {out}: is a folder; give the movie's file name, e.g. {out_path / 'morph.mp4'}")
    check_options(("--fps", fps, fps > 0, "must be above 0"),
                  ("--seconds-per-face", seconds_per_face, seconds_per_face > 0, "must be above 0"),
                  ("--transition-fraction", transition_fraction, 0 <= transition_fraction <= 1, "must be in 0..1"))
    if width is not None or height is not None:
        frame_of(width, height)  # refused before any work
    if len(sources) > 1 and any(Path(s).is_dir() for s in sources):
        raise CollectionError("give one collection folder, or two or more image files")
    if len(sources) == 1 and not Path(sources[0]).is_dir():
        raise CollectionError(f"{sources[0]}: a morph needs a folder or at least two image files")
    if group is not None and manifest is not None and group_by is None:
        group_by = _group_column(manifest, group)
    portraits = load_collection(sources, manifest, group_by, exclude=[out_path])
    if group is not None:
        existing = sorted({p.group for p in portraits if p.group is not None})
        portraits = [p for p in portraits if p.group == group]
        if not portraits:
            raise CollectionError(f"--group {group}: no image of the collection is in it; the groups are: "
                                  f"{', '.join(existing)}")
    report_csv, report_html = out_path.with_suffix(".report.csv"), out_path.with_suffix(".html")
    thumbs = out_path.with_name(out_path.stem + ".faces")  # the report's own: two movies in a folder keep theirs
    with RunOutputs(out_path.parent) as outputs:  # Ctrl-C leaves none of this run's outputs
        if not thumbs.exists():
            outputs.add(thumbs)
        preload("scipy.spatial")  # to triangulate; imported while faces are labelled
        with job_workers(n_jobs, scheduler) as executor:  # an unreachable scheduler: refused before the folder
            out_path.parent.mkdir(parents=True, exist_ok=True)
            attach_landmarks(portraits, landmarks_csv, n_jobs, spec, executor, whole_faces=True)  # no edge smear
            note_grayscale([portraits], "morph-movie", n_jobs)
            used = [p for p in portraits if p.landmarks is not None]
            write_report(portraits, outputs.add(report_csv))
            if len(used) < 2:
                raise CollectionError(f"only {len(used)} usable face(s); a morph movie needs two or more "
                                      f"(see {report_csv})")
            frame, frame_why = output_frame(width, height, used)
            frames = morph_sequence_frames(
                *face_sources(used),
                frame=frame,
                fps=fps,
                seconds_per_face=seconds_per_face,
                transition_fraction=transition_fraction,
                loop=loop,
                background=background,
            )
            from tqdm import tqdm

            total = morph_sequence_length(len(used), fps, seconds_per_face, transition_fraction, loop)
            n = write_video(tqdm(frames, total=total, desc="morph-movie", unit="frame"), outputs.add(out_path), fps=fps,
                            gif_width=frame.width)
        mark_output(thumbs)  # a later job over this folder does not take the thumbnails for photos
        write_html(outputs.add(report_html), f"Morph movie {out_path.name}",
                   f"{len(used)} faces, {len(portraits) - len(used)} skipped, {n} frames at {fps:g} fps; "
                   f"frame {frame_why}",
                   portraits, groups_order=list(dict.fromkeys(p.group for p in portraits if p.group)),
                   movie=out_path, files=[out_path, report_csv], thumbs=thumbs)
    return MorphMovieResult(faces=len(used), skipped=len(portraits) - len(used), frames=n,
                            seconds=round(time.time() - t0, 1), path=str(out_path), frame=frame_why)
