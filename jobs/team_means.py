"""``morphkit team-means``: one mean face per group and a labelled comparison grid.

Output folder: ``index.html`` (the report: means, thumbnails of every face used with
its landmarks, skipped faces and why; :mod:`jobs.html_report`), ``<group>.png`` per group (file names
unique and at most 80 characters: ``New York`` and ``New_York`` give ``New_York.png`` and
``New_York-2.png``), ``comparison.png`` (the means side by side, each labelled with
its group and face count), ``shapes.csv`` (each group's mean shape in the
``landmarks.csv`` layout) and ``report.csv`` (which image went into which mean, and
why an image was skipped).
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from landmarker.inference.labelling import ModelSpec
from landmarker.io.decode import ImageDecodeError
from landmarker.io.face import Face
from landmarker.io.files import mark_output
from landmarker.io.landmarks_csv import write_landmarks_csv
from landmarker.io.names import bounded_file_stem
from landmarker.io.overlay import save_png
from morphkit import CanonicalFrame, image_grid, mean_face

from .collection import (
    CollectionError,
    Portrait,
    attach_landmarks,
    check_options,
    drop_bad_fits,
    drop_repeated_photos,
    face_sources,
    frame_of,
    load_collection,
    note_grayscale,
    output_frame,
    write_report,
)
from .html_report import write_report as write_html
from .outputs import RunOutputs
from .results import TeamMeansResult
from .workers import job_workers, preload

log = logging.getLogger(__name__)


def group_mean(portraits: list[Portrait], frame: CanonicalFrame, background: str, n_jobs: int = 1,
               texture: bool = False):
    """The mean face of the portraits that have landmarks, dropping any whose file fails to decode.

    ``n_jobs`` is morphkit's; inside :func:`jobs.workers.job_workers` the job's workers are used.

    Returns:
        :class:`morphkit.MeanFace`, or None when no portrait is usable.
    """
    usable = [p for p in portraits if p.landmarks is not None]
    while usable:
        try:
            return mean_face(
                *face_sources(usable),
                frame=frame,
                background=background,
                n_jobs=n_jobs,
                texture=texture,
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
    collection: str | os.PathLike,
    out: str | os.PathLike,
    *,
    manifest: str | os.PathLike | None = None,
    group_by: str | None = None,
    landmarks_csv: str | os.PathLike | None = None,
    n_jobs: int = -1,
    background: str = "frame",
    width: int | None = None,
    height: int | None = None,
    spec: ModelSpec = ModelSpec(),
    scheduler: str | None = None,
    min_faces: int = 2,
    groups: list[str] | None = None,
    include_unlisted: bool = False,
    texture: bool = False,
    max_fit_score: float | None = None,
) -> TeamMeansResult:
    """Write one mean face per group, the comparison grid, ``shapes.csv`` and the report into ``out``.

    The defaults here are those of ``morphkit team-means`` (its options read them from this signature).

    Args:
        collection: folder of portraits (its own ``out`` and our earlier outputs are skipped).
        out: output folder (created; earlier outputs of the same names are replaced, and the group PNGs
            an earlier run wrote there that this run does not write are removed: its ``shapes.csv``
            names them; a run without any mean removes the earlier run's means, grid, shapes and page).
        manifest, group_by: groups from a manifest CSV column (``party``), or the cross
            of several (``party,gender``); without them, sub-folders are the groups.
        landmarks_csv: use a bulk-label ``landmarks.csv`` instead of labelling.
        n_jobs: cores to use (-1: all) for labelling and warping.
        background: ``frame`` (whole frame) or ``face`` (the face on a plain background).
        width, height: output size in pixels; one alone: the other in the default frame's proportions; neither:
            chosen from the faces (:func:`jobs.collection.output_frame`: their median eye-centre distance
            kept), the same for every group. The console line and the report say which and why.
        spec: the model that labels faces (not used with ``landmarks_csv``).
        scheduler: Dask scheduler address: run the per-image work on that cluster.
        min_faces: a group with fewer usable faces gets no mean (a one-face "mean" is
            one person's photo).
        groups: only these groups, in this order (default: every group, sorted).
        include_unlisted: average images the manifest does not name as a group ``unlisted``.
        texture: texture-preserving means (Tiddeman et al. 2001, :mod:`morphkit.texture`).
        max_fit_score: drop faces whose fit score (% IOD) is above it; the faces are then
            labelled flip-averaged (twice the network time), or need a ``landmarks_csv``
            written with ``--flip-average``.

    Returns:
        :class:`jobs.results.TeamMeansResult`: images, used, skipped, the face count and file of each
        group's mean, seconds.

    Raises:
        jobs.collection.CollectionError, FileNotFoundError: unusable collection, manifest,
            landmarks file or options, or no group with a mean (nothing written but the report).
    """
    t0 = time.time()
    check_options(("--min-faces", min_faces, min_faces >= 1, "must be 1 or more"))
    if width is not None or height is not None:
        frame_of(width, height)  # refused before any work
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CollectionError(f"--out {out_dir}: is a file; team-means writes a folder")
    portraits = load_collection([collection], manifest, group_by, include_unlisted, exclude=[out_dir])
    by_group: dict[str, list[Portrait]] = {}
    for p in portraits:
        if p.group is not None:
            by_group.setdefault(p.group, []).append(p)
    order = sorted(by_group)
    if groups:
        unknown = [g for g in groups if g not in by_group]
        if unknown:
            raise CollectionError(f"--groups: no group {', '.join(map(repr, unknown))}; the groups are: "
                                  f"{', '.join(order)}")
        order = list(dict.fromkeys(groups))
        for p in portraits:
            if p.group is not None and p.group not in order:
                p.note = "group not in --groups"
                p.group = None
    if max_fit_score is not None:
        check_options(("--max-fit-score", max_fit_score, max_fit_score > 0, "must be above 0 (% of the IOD)"))
        spec = ModelSpec(spec.weights, spec.backend, spec.detector, True)  # the fit score needs the mirrored crop
    previous = _previous_means(out_dir)  # an earlier run's means: removed unless this run writes them again
    with RunOutputs(out_dir) as outputs:  # Ctrl-C leaves none of this run's outputs
        means, labels, counts, files, shapes = [], [], {}, {}, []
        taken: set[str] = set()
        preload("scipy.spatial")  # to triangulate; imported while faces are labelled
        with job_workers(n_jobs, scheduler) as executor:  # an unreachable scheduler: refused before the folder
            mark_output(out_dir)
            attach_landmarks(portraits, landmarks_csv, n_jobs, spec, executor, whole_faces=True)  # no edge smear
            dropped = drop_bad_fits(portraits, max_fit_score, landmarks_csv or "the labelling")
            if dropped:
                log.warning(f"team-means: {dropped} face(s) dropped for a fit score above {max_fit_score:g}% IOD "
                            "(see report.csv)")
            repeated = drop_repeated_photos([by_group[g] for g in order])
            if repeated:
                log.warning(f"team-means: {repeated} photo(s) repeat another of their group byte for byte: each "
                            "photo is used once (see report.csv)")
            note_grayscale([by_group[g] for g in order], "team-means", n_jobs)
            frame, frame_why = output_frame(width, height, [p for g in order for p in by_group[g]])
            for group in order:
                members = by_group[group]
                usable = sum(p.landmarks is not None for p in members)
                if usable < min_faces:
                    why = f"group {group!r} has {usable} usable face(s), fewer than --min-faces {min_faces}"
                    log.warning(f"team-means: {why}: no mean written")
                    for p in members:
                        if p.landmarks is not None:
                            p.note = why
                            p.landmarks = None
                    continue
                result = group_mean(members, frame, background, texture=texture)
                if result is None or result.count < min_faces:
                    log.warning(f"team-means: group {group!r}: fewer than --min-faces {min_faces} faces decode, "
                                "no mean written")
                    continue
                stem = bounded_file_stem(group, taken)
                save_png(result.image, outputs.add(out_dir / f"{stem}.png"))
                files[group] = f"{stem}.png"
                means.append(result.image)
                labels.append(f"{group} ({result.count} {'face' if result.count == 1 else 'faces'})")
                counts[group] = result.count
                shapes.append((f"{stem}.png", result.shape))
        write_report(portraits, outputs.add(out_dir / "report.csv"))
        if not means:  # the earlier run's means, grid, shapes and page would describe another run
            _remove_stale(out_dir, previous | {"comparison.png", "shapes.csv", "index.html"}, keep=set())
            raise CollectionError(
                f"{collection}: no group has {min_faces} or more usable faces, so no mean face was written "
                f"(see {out_dir / 'report.csv'})"
            )
        save_png(image_grid(means, labels), outputs.add(out_dir / "comparison.png"))
        write_shapes(shapes, outputs.add(out_dir / "shapes.csv"), frame.width, frame.height)
        used = sum(p.landmarks is not None for p in portraits)
        write_html(outputs.add(out_dir / "index.html"), f"Mean faces of {Path(collection).name}",
                   f"{len(portraits)} images, {used} used, {len(portraits) - used} skipped; "
                   + ", ".join(f"{g}: {n} faces" for g, n in counts.items()) + f"; frame {frame_why}",
                   portraits, groups_order=order, comparison=out_dir / "comparison.png",
                   means={g: (out_dir / f, counts[g]) for g, f in files.items()},
                   files=[out_dir / "report.csv", out_dir / "shapes.csv", out_dir / "comparison.png"])
        _remove_stale(out_dir, previous, keep=set(files.values()))
    return TeamMeansResult(images=len(portraits), used=used, skipped=len(portraits) - used, groups=counts,
                           files=files, seconds=round(time.time() - t0, 1), frame=frame_why)


def _previous_means(out_dir: Path) -> set[str]:
    """The mean PNGs an earlier team-means run wrote into ``out_dir``: the names its ``shapes.csv`` lists
    (plain ``.png`` file names in the folder; none when there is no readable one)."""
    from landmarker.io.landmarks_csv import read_landmarks_csv
    from morphkit.errors import UserError

    try:
        names = read_landmarks_csv(out_dir / "shapes.csv") if (out_dir / "shapes.csv").is_file() else {}
    except (UserError, OSError, ValueError):
        return set()
    return {n for n in names if n.endswith(".png") and "/" not in n and "\\" not in n and not n.startswith(".")}


def _remove_stale(out_dir: Path, previous: set[str], keep: set[str]) -> None:
    """Remove the files ``previous`` (names in ``out_dir`` that an earlier run wrote) that this run did not
    write again (``keep``): one folder never mixes the means of two runs. Says how many on the console."""
    stale = sorted(n for n in previous - keep if (out_dir / n).is_file())
    for name in stale:
        (out_dir / name).unlink(missing_ok=True)
    if stale:
        log.warning(f"team-means: removed {len(stale)} file(s) an earlier run wrote into {out_dir} "
                    f"(e.g. {stale[0]}): not part of this run")


def write_shapes(shapes: list[tuple[str, np.ndarray]], path: Path, width: int, height: int) -> None:
    """``shapes.csv``: each group's mean shape in the ``landmarks.csv`` layout.

    ``image`` names the group's PNG, ``face`` is 0, the box is the whole frame
    (``0, 0, width, height``: the means are in the canonical frame), ``score`` is empty,
    and the 68 points are the mean shape the faces were warped to, frame pixels.
    """
    write_landmarks_csv(path, ((image, 0, Face((0.0, 0.0, float(width), float(height)), math.nan, shape),
                                (width, height), None) for image, shape in shapes))
