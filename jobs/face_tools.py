"""``morphkit transform | caricature | continuum | symmetrize``: face-research stimuli from files.

Inputs are image files and folders (walked recursively, :func:`landmarker.io.files.find_images`;
the ``--out`` folder and folders our commands wrote are skipped). Each input face is
labelled (:func:`jobs.collection.attach_landmarks`: the largest face; several faces are
reported) and aligned (:func:`morphkit.align_face`: eye centres fixed) into the frame of
the prototypes, or, for an image that team-means wrote, taken as it is with its mean
shape from the ``shapes.csv`` beside it. ``symmetrize`` keeps each photo's size by
default: the face is levelled and centred at scale 1 (``--width/--height`` give a fixed
frame instead). Labelling and the per-face warps run on the job's workers
(:func:`jobs.workers.job_workers`: ``--n-jobs`` threads or a Dask cluster); the outputs
do not depend on how many. The arrays work is :mod:`morphkit.research`.

Outputs are PNG files in ``--out`` (RGBA with ``--mask-color transparent``: RGB 0 wherever alpha is 0,
and ``continuum``'s ``strip.png`` keeps the alpha too), named
``<input stem>-<tool>-<percentages>.png`` (a negative percentage written with ``m``:
``x-caricature-m50.png``; a name already taken gets ``-2``, ``-3``, ...), plus a
``report.csv`` of what was made from what; a bad input is reported and skipped, and a face
turned too far to symmetrise (:func:`morphkit.research.yaw_note`) is made with a warning there.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from landmarker.inference.labelling import ModelSpec
from landmarker.io.atomic import atomic_write
from landmarker.io.decode import ImageDecodeError, read_image
from landmarker.io.files import find_images, mark_output
from landmarker.io.landmarks_csv import read_landmarks_csv
from landmarker.io.names import bounded_file_stem
from landmarker.io.overlay import save_png
from morphkit import CanonicalFrame, align_face, image_grid
from morphkit.errors import InvalidInput, UserError
from morphkit.ibug68 import eye_centres
from morphkit.masks import apply_mask
from morphkit.parallel import ordered_map
from morphkit.research import caricature, continuum, symmetrize, transform, yaw_note

from .collection import CollectionError, Portrait, attach_landmarks, check_options, frame_of
from .outputs import RunOutputs
from .results import ToolResult
from .workers import job_workers, preload

log = logging.getLogger(__name__)

TOOLS = ("transform", "caricature", "continuum", "symmetrize")
#: Percent of the shape difference each tool adds when ``run_tool(shape=None)`` (and ``--shape`` is not given).
DEFAULT_SHAPE = {"transform": 100.0, "caricature": 50.0}
COLORS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128)}


class Face:
    """An aligned face: ``image`` uint8 ``(H, W, 3)`` in the frame and its ``landmarks`` float32 ``(68, 2)``."""

    def __init__(self, path: Path, image: np.ndarray, landmarks: np.ndarray, source: str):
        self.path, self.image, self.landmarks, self.source = path, image, landmarks, source


def percent_tag(value: float) -> str:
    """A percentage as it appears in output names: ``50`` -> ``50``, ``-50`` -> ``m50``, ``12.5`` -> ``12.5``."""
    text = f"{float(value):g}"
    return "m" + text[1:] if text.startswith("-") else text


def photo_frame(landmarks, width: int, height: int) -> CanonicalFrame:
    """The frame of a ``width`` x ``height`` photo that levels and centres its face at scale 1.

    Aligning into it (:func:`morphkit.align_face`) rotates the face so that its eye
    centres (points 36-41, 42-47) are level and moves their midpoint to the middle
    column, keeping their distance and height: the photo keeps its size and
    resolution, and its face is centred for mirroring.

    Raises:
        ValueError: landmarks without two distinct eye centres.
    """
    eyes = eye_centres(np.asarray(landmarks, dtype=np.float64))
    distance = float(np.linalg.norm(eyes[1] - eyes[0]))
    if distance < 1e-6:
        raise InvalidInput("the two eye centres (points 36-41 and 42-47) coincide")
    eye_y = float(eyes[:, 1].mean()) / max(1, height - 1)
    return CanonicalFrame(width=int(width), height=int(height), eye_y=min(max(eye_y, 0.01), 0.99),
                          eye_distance=min(distance / width, 0.99))


class _Means:
    """Mean shapes that team-means wrote (``shapes.csv`` beside an image), each table read once."""

    def __init__(self):
        self.tables: dict[Path, dict] = {}

    def shape_of(self, path: Path):
        """float32 ``(68, 2)`` mean shape of ``path``, or None when it is not a team-means image."""
        table = path.parent / "shapes.csv"
        if table not in self.tables:
            try:
                self.tables[table] = read_landmarks_csv(table) if table.is_file() else {}
            except (UserError, OSError):
                self.tables[table] = {}
        faces = self.tables[table].get(path.name)
        return np.asarray(faces[0].landmarks, dtype=np.float32) if faces else None


def _inputs(paths, exclude) -> tuple[list[Portrait], list[tuple[str, str]]]:
    """Portraits of the files and folders ``paths`` (folders walked recursively; a file reached twice,
    e.g. a folder given twice, is made once), and ``(path, reason)`` of the paths that give none
    (missing, or a folder without images)."""
    existing, problems = [], []
    for p in map(str, paths):
        if Path(p).exists():
            existing.append(p)
        else:
            problems.append((p, "no such file or folder"))
    items, seen = [], set()
    for path, name in find_images(existing, exclude=exclude) if existing else []:
        key = os.path.normcase(os.path.realpath(path))
        if key not in seen:
            seen.add(key)
            items.append((path, name))
    for p in existing:
        if Path(p).is_dir() and not any(path.is_relative_to(p) for path, _ in items):
            problems.append((p, "a folder without image files"))
    return [Portrait(path, name, "input") for path, name in items], problems


def _aligned(path, landmarks, is_mean: bool, frame: CanonicalFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The face of ``path`` in ``frame`` (None: :func:`photo_frame`); a mean image already there as it is.

    Raises:
        ImageDecodeError: the file does not decode. ValueError: landmarks that cannot align.
    """
    image = read_image(path)
    if is_mean and (frame is None or image.shape[:2] == (frame.height, frame.width)):
        return image, np.asarray(landmarks, dtype=np.float32)
    if frame is None:
        frame = photo_frame(landmarks, image.shape[1], image.shape[0])
    return align_face(image, landmarks, frame)


@dataclass(frozen=True)
class _Recipe:
    """What to make of each face (sent to the workers with it)."""

    tool: str
    frame: CanonicalFrame | None
    protos: tuple = ()  # (image, landmarks) of A and B (transform) or of the mean (caricature)
    shape: float = 100.0
    color: float = 0.0
    texture: float = 0.0
    sym: str = "both"
    mask: str | None = None
    mask_color: str = "white"


def _finish(image, landmarks, mask: str | None, mask_color: str):
    if mask is None:
        return image
    return apply_mask(image, landmarks, mask, None if mask_color == "transparent" else COLORS[mask_color])


def _render(face: tuple, recipe: _Recipe):
    """One face's output: ``(image uint8 (H, W, 3|4), landmarks float32 (68, 2), note)``, or the reason it
    failed; ``note`` is ``""`` or a warning for the report (a face turned too far to symmetrise).

    ``face`` is ``(path, landmarks, is_mean)``. With ``recipe.tool == "align"`` the aligned face itself.
    """
    path, landmarks, is_mean = face
    try:
        image, lm = _aligned(path, landmarks, is_mean, recipe.frame)
        note = ""
        if recipe.tool == "align":
            return image, lm, note
        if recipe.tool == "transform":
            (a, sa), (b, sb) = recipe.protos
            image, lm = transform(image, lm, a, sa, b, sb, recipe.shape, recipe.color, recipe.texture)
        elif recipe.tool == "caricature":
            (m, sm), = recipe.protos
            image, lm = caricature(image, lm, sm, recipe.shape, m, recipe.color, recipe.texture)
        else:
            note = yaw_note(lm)
            image, lm = symmetrize(image, lm, shape=recipe.sym in ("both", "shape"),
                                   color=recipe.sym in ("both", "color"), max_yaw=None)
        return _finish(image, lm, recipe.mask, recipe.mask_color), lm, note
    except ImageDecodeError as err:
        return err.reason
    except UserError as err:  # a face the tools cannot use (our bugs surface)
        return str(err)


def _output_stem(recipe: _Recipe, stem: str) -> str:
    if recipe.tool == "transform":
        return (f"{stem}-transform-{percent_tag(recipe.shape)}-{percent_tag(recipe.color)}"
                + (f"-{percent_tag(recipe.texture)}" if recipe.texture else ""))
    if recipe.tool == "caricature":
        return f"{stem}-caricature-{percent_tag(recipe.shape)}"
    return f"{stem}-symmetric-{recipe.sym}"


def _write_report(path: Path, rows: list[list[str]]) -> None:
    """``report.csv``: ``output,input,status,message`` for each output and skipped input."""
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["output", "input", "status", "message"])
        w.writerows(rows)


def _prototype(p: Portrait, flag: str, frame: CanonicalFrame | None) -> Face:
    """The aligned prototype of ``flag`` (``frame`` None: a mean as it is, a photo in the default frame).

    Raises:
        CollectionError: ``"--from X: reason"``.
    """
    if p.landmarks is None:
        raise CollectionError(f"{flag} {p.path}: {p.note or 'no face'}")
    result = _render((p.path, p.landmarks, "mean" in p.extra),
                     _Recipe("align", frame if frame is not None or "mean" in p.extra else CanonicalFrame()))
    if isinstance(result, str):
        raise CollectionError(f"{flag} {p.path}: {result}")
    return Face(p.path, result[0], result[1], "shapes.csv" if "mean" in p.extra else "landmarker")


def run_tool(
    tool: str,
    images: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
    dest: str | os.PathLike | None = None,
    mean: str | os.PathLike | None = None,
    shape: float | None = None,
    color: float = 0.0,
    texture: float = 0.0,
    steps: int = 11,
    sym: str = "both",
    mask: str | None = None,
    mask_color: str | None = None,
    width: int | None = None,
    height: int | None = None,
    n_jobs: int | None = -1,
    spec: ModelSpec = ModelSpec(),
    scheduler: str | None = None,
) -> ToolResult:
    """Run one of the tools over ``images`` into the folder ``out``.

    The defaults here (and :data:`DEFAULT_SHAPE`) are those of the ``morphkit`` sub-commands (their
    options read them from this signature).

    Args:
        tool: ``transform``, ``caricature``, ``continuum`` or ``symmetrize``.
        images: image files and folders (walked recursively); a path that does not exist
            or does not decode, or a photo without a face, is reported and skipped.
        out: output folder (PNG files and ``report.csv``); skipped when under a folder given.
        source, dest: prototypes A and B of ``transform`` (needed there); ``mean``: the mean of
            ``caricature`` (needed there).
        shape: percent of the shape difference to add (transform: B - A; caricature: face - mean);
            None: the tool's default, :data:`DEFAULT_SHAPE`.
        color, texture: percent of the colour and texture differences to add (transform, caricature).
        steps: faces of a continuum, 2..101.
        sym: what ``symmetrize`` makes symmetric: ``both``, ``shape`` or ``color``.
        mask: ``outline`` (the face region: landmark hull, whole brows and a forehead) or ``oval``:
            keep only the face; ``mask_color`` (needs ``mask``):
            white (default), black, grey or transparent (RGBA PNG).
        width, height: ``symmetrize`` only: output size in pixels (both or neither; default:
            each photo keeps its size, the face levelled and centred at scale 1).
        n_jobs: cores to use (-1: all) for labelling and warping; the outputs are the same for any.
        spec: the model that labels faces (team-means images with ``shapes.csv`` are not labelled).
        scheduler: Dask scheduler address: run the per-image work on that cluster.

    Returns:
        :class:`jobs.results.ToolResult`: PNG files written, inputs skipped, seconds.

    Raises:
        jobs.collection.CollectionError: an unknown tool, a prototype missing or that cannot be used,
            bad options (the message names the flag), or nothing written.
        ValueError: a bad ``n_jobs`` or an unreachable scheduler.
    """
    t0 = time.time()
    if tool not in TOOLS:
        raise CollectionError(f"unknown tool {tool!r}: use one of {', '.join(TOOLS)}")
    if tool == "transform" and (source is None or dest is None):
        raise CollectionError("transform needs prototypes A and B (source and dest: --from and --to)")
    if tool == "caricature" and mean is None:
        raise CollectionError("caricature needs the mean face (mean: --mean)")
    shape = DEFAULT_SHAPE.get(tool, 0.0) if shape is None else shape
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CollectionError(f"--out {out_dir}: is a file; give a folder")
    if mask_color is not None and mask is None:
        raise CollectionError(f"--mask-color {mask_color}: needs --mask outline or --mask oval (without a mask "
                              "there is no background to colour)")
    mask_color = "white" if mask_color is None else mask_color
    if mask_color not in (*COLORS, "transparent"):
        raise CollectionError(f"--mask-color {mask_color}: use {', '.join(COLORS)} or transparent")
    if tool == "continuum":
        check_options(("--steps", steps, 2 <= steps <= 101, "must be 2..101"))
    frame = None
    if width is not None or height is not None:
        if tool != "symmetrize":
            raise CollectionError(f"--width/--height: {tool} has none (its frame is the prototypes')")
        if width is None or height is None:
            raise CollectionError("--width and --height go together: give both, or neither (each photo keeps "
                                  "its size)")
        frame = frame_of(width, height)
    means = _Means()
    portraits, problems = _inputs(images, exclude=[out_dir])
    protos = {flag: Portrait(Path(p), str(p), "prototype")
              for flag, p in (("--from", source), ("--to", dest), ("--mean", mean)) if p is not None}
    for p in [*protos.values(), *portraits]:
        shape_csv = means.shape_of(p.path)
        if shape_csv is not None:
            p.landmarks, p.faces, p.extra["mean"] = shape_csv, 1, True
    rows = [["", p, "skipped", why] for p, why in problems]
    taken: set[str] = set()
    written = 0
    outputs = RunOutputs(out_dir)  # Ctrl-C leaves none of this run's outputs

    def save(name: str, image, source_path, note: str = "") -> None:
        nonlocal written
        stem = bounded_file_stem(name, taken)
        save_png(image, outputs.add(out_dir / f"{stem}.png"))
        written += 1
        rows.append([f"{stem}.png", str(source_path), "ok", note])

    preload("scipy.spatial")  # to triangulate; imported while faces are labelled
    with outputs, job_workers(n_jobs, scheduler) as executor:
        attach_landmarks([p for p in [*protos.values(), *portraits] if p.landmarks is None], None, n_jobs, spec,
                         executor, whole_faces=True)  # a face cut off by the frame would smear its edge
        for p in [*protos.values(), *portraits]:
            if p.faces > 1 and p.landmarks is not None:
                log.warning(f"{tool}: {p.path}: {p.note}")
        if tool == "transform":
            a = _prototype(protos["--from"], "--from", None)
            frame = CanonicalFrame(width=a.image.shape[1], height=a.image.shape[0])
            b = _prototype(protos["--to"], "--to", frame)
            recipe = _Recipe(tool, frame, ((a.image, a.landmarks), (b.image, b.landmarks)), shape, color, texture,
                             sym, mask, mask_color)
        elif tool == "caricature":
            m = _prototype(protos["--mean"], "--mean", None)
            frame = CanonicalFrame(width=m.image.shape[1], height=m.image.shape[0])
            recipe = _Recipe(tool, frame, ((m.image, m.landmarks),), shape, color, texture, sym, mask, mask_color)
        elif tool == "continuum":
            first_mean = next((p for p in portraits if "mean" in p.extra), None)
            if first_mean is not None:
                try:
                    h, w = read_image(first_mean.path).shape[:2]
                    frame = CanonicalFrame(width=w, height=h)
                except ImageDecodeError:
                    frame = CanonicalFrame()
            else:
                frame = CanonicalFrame()
            recipe = _Recipe("align", frame)
        else:
            recipe = _Recipe(tool, frame, (), shape, color, texture, sym, mask, mask_color)
        mark_output(out_dir)  # (after the prototypes: a bad one leaves no folder behind)
        usable = [p for p in portraits if p.landmarks is not None]
        results = ordered_map(partial(_render, recipe=recipe), [(p.path, p.landmarks, "mean" in p.extra)
                                                                for p in usable])
        done = []
        for p, result in zip(usable, results):
            if isinstance(result, str):
                p.landmarks, p.note = None, result
            elif tool == "continuum":
                done.append((p, result))
            else:
                if result[2]:
                    log.warning(f"{tool}: {p.path}: {result[2]}")
                note = "; ".join(n for n in (p.note, result[2]) if n)
                save(_output_stem(recipe, p.path.stem), result[0], p.path, note)
        for p in portraits:
            if p.landmarks is None:
                rows.append(["", str(p.path), "skipped", p.note])
                problems.append((str(p.path), p.note))
        if tool == "continuum":
            if len(done) != 2:
                raise CollectionError(f"continuum needs two faces, got {len(done)} usable of {len(images)} "
                                      f"({'; '.join(f'{p}: {w}' for p, w in problems)})")
            (pa, (ia, la, _)), (pb, (ib, lb, _)) = done
            strip = []
            for i, (img, lm) in enumerate(continuum(ia, la, ib, lb, steps)):
                pct = round(100 * i / (steps - 1))
                final = _finish(img, lm, mask, mask_color)
                save(f"{pa.path.stem}-{pb.path.stem}-{pct:03d}", final, f"{pa.path} -> {pb.path}")
                strip.append((final, f"{pct}%"))  # RGBA in a transparent run: the strip keeps the alpha
            save_png(image_grid([s for s, _ in strip], [t for _, t in strip], columns=len(strip),
                                tile_width=min(200, strip[0][0].shape[1])), outputs.add(out_dir / "strip.png"))
        _write_report(outputs.add(out_dir / "report.csv"), rows)
    if not written:
        raise CollectionError(f"nothing written: {'; '.join(f'{p}: {w}' for p, w in problems) or 'no input face'}")
    return ToolResult(written=written, skipped=len(problems), seconds=round(time.time() - t0, 1))
