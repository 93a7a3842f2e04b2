"""``morphkit transform | caricature | continuum | symmetrize | align``: face-research stimuli from files.

Inputs are image files and folders (walked recursively, :func:`landmarker.io.files.find_images`;
the ``--out`` folder and folders our commands wrote are skipped). Each input face is
labelled (:func:`jobs.collection.attach_landmarks`: the largest face; several faces are
reported) and aligned (:func:`morphkit.align_face`: eye centres fixed) into the frame of
the prototypes, or, for an image that team-means wrote, taken as it is with its mean
shape from the ``shapes.csv`` beside it. ``symmetrize`` keeps each photo's size by
default: the face is levelled and centred at scale 1 (``--width/--height`` give a fixed
frame instead). ``align`` moves each photo's face into one output frame itself (:mod:`jobs.align`) and
writes ``landmarks.csv`` of its outputs. Labelling and the per-face warps run on the job's workers
(:func:`jobs.workers.job_workers`: ``--n-jobs`` threads or a Dask cluster); the outputs
do not depend on how many. The arrays work is :mod:`morphkit.research`.

Outputs are PNG files in ``--out`` (RGBA with ``--mask-color transparent``: RGB 0 wherever alpha is 0,
and ``continuum``'s ``strip.png`` keeps the alpha too), named
``<input stem>-<tool>-<percentages>.png`` (a negative percentage written with ``m``:
``x-caricature-m50.png``; a name already taken gets ``-2``, ``-3``, ...), plus a
``report.csv`` of what was made from what; a bad input is reported and skipped, and a face
turned too far to symmetrise (:func:`morphkit.research.yaw_note`) is made with a warning there.
``align`` names its outputs ``<input stem>.png`` (or ``.jpg``), and its report has three more columns
(the face used, the mode, the scale factor).
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from landmarker.inference.labelling import ModelSpec
from landmarker.io.atomic import atomic_write
from landmarker.io.decode import ImageDecodeError, read_image
from landmarker.io.face import Face as FaceRow
from landmarker.io.files import file_sha1, find_images, mark_output
from landmarker.io.landmarks_csv import read_landmarks_csv, write_landmarks_csv
from landmarker.io.names import bounded_file_stem
from landmarker.io.overlay import save_png
from landmarker.model.crop import box_from_landmarks
from morphkit import CanonicalFrame, align_face, image_grid
from morphkit.align import scale_of
from morphkit.errors import InvalidInput, UserError
from morphkit.ibug68 import eye_centres
from morphkit.masks import apply_mask
from morphkit.parallel import ordered_map
from morphkit.research import caricature, continuum, symmetrize, transform, yaw_note

from .align import IMAGE_FORMATS, REPORT_COLUMNS, check_align, placed, plan_of, upscale_note
from .collection import CollectionError, Portrait, attach_landmarks, check_options, frame_of, output_frame
from .outputs import RunOutputs
from .results import ToolResult
from .workers import job_workers, preload

log = logging.getLogger(__name__)

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


def _aligned(path, landmarks, is_mean: bool, frame: CanonicalFrame | None,
             photo: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The face of ``path`` in ``frame`` (None: :func:`photo_frame`); a mean image already there as it is;
    with ``photo`` the photo as decoded.

    Raises:
        ImageDecodeError: the file does not decode. ValueError: landmarks that cannot align.
    """
    image = read_image(path)
    if photo or is_mean and (frame is None or image.shape[:2] == (frame.height, frame.width)):
        return image, np.asarray(landmarks, dtype=np.float32)
    if frame is None:
        frame = photo_frame(landmarks, image.shape[1], image.shape[0])
    return align_face(image, landmarks, frame)


@dataclass(frozen=True)
class _Recipe:
    """What to make of each aligned face (sent to the workers with it): ``make(image, landmarks, recipe)``
    gives ``(image, landmarks, note)`` (a module-level function, so a Dask worker can receive it); None:
    the aligned face itself, unmasked. ``photo``: ``make`` gets the photo as decoded, not aligned into
    ``frame`` (it aligns the face itself: ``align``)."""

    frame: CanonicalFrame | None
    make: Callable | None = None
    protos: tuple = ()  # (image, landmarks) of A and B (transform) or of the mean (caricature)
    shape: float = 100.0
    color: float = 0.0
    texture: float = 0.0
    sym: str = "both"
    mask: str | None = None
    mask_color: str = "white"
    photo: bool = False


def _finish(image, landmarks, mask: str | None, mask_color: str):
    if mask is None:
        return image
    return apply_mask(image, landmarks, mask, None if mask_color == "transparent" else COLORS[mask_color])


def _render(face: tuple, recipe: _Recipe):
    """One face's output: ``(image uint8 (H, W, 3|4), landmarks float32 (68, 2), note)``, or the reason it
    failed; ``note`` is ``""`` or a warning for the report (a face turned too far to symmetrise).

    ``face`` is ``(path, landmarks, is_mean)``. With ``recipe.make`` None the aligned face itself.
    """
    path, landmarks, is_mean = face
    try:
        image, lm = _aligned(path, landmarks, is_mean, recipe.frame, recipe.photo)
        if recipe.make is None:
            return image, lm, ""
        image, lm, note = recipe.make(image, lm, recipe)
        return _finish(image, lm, recipe.mask, recipe.mask_color), lm, note
    except ImageDecodeError as err:
        return err.reason
    except UserError as err:  # a face the tools cannot use (our bugs surface)
        return str(err)


def _transformed(image, landmarks, r: _Recipe):
    """``transform``'s face: moved from prototype A towards B (:func:`morphkit.research.transform`)."""
    (a, sa), (b, sb) = r.protos
    image, landmarks = transform(image, landmarks, a, sa, b, sb, r.shape, r.color, r.texture)
    return image, landmarks, ""


def _caricatured(image, landmarks, r: _Recipe):
    """``caricature``'s face: its difference from the mean exaggerated (:func:`morphkit.research.caricature`)."""
    (m, sm), = r.protos
    image, landmarks = caricature(image, landmarks, sm, r.shape, m, r.color, r.texture)
    return image, landmarks, ""


def _symmetric(image, landmarks, r: _Recipe):
    """``symmetrize``'s face, noted when turned too far (:func:`morphkit.research.yaw_note`)."""
    note = yaw_note(landmarks)
    image, landmarks = symmetrize(image, landmarks, shape=r.sym in ("both", "shape"),
                                  color=r.sym in ("both", "color"), max_yaw=None)
    return image, landmarks, note


def _write_report(path: Path, rows: list[list[str]], columns: tuple = ()) -> None:
    """``report.csv``: ``output,input,status,message`` and the tool's own ``columns`` (empty on a skipped
    input) for each output and skipped input."""
    header = ["output", "input", "status", "message", *columns]
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(row + [""] * (len(header) - len(row)) for row in rows)


@dataclass(frozen=True)
class _Options:
    """The options of :func:`run_tool`, as given (``shape`` with the tool's default filled in)."""

    source: str | os.PathLike | None
    dest: str | os.PathLike | None
    mean: str | os.PathLike | None
    shape: float
    color: float
    texture: float
    steps: int
    sym: str
    mask: str | None
    mask_color: str
    width: int | None
    height: int | None
    landmarks_csv: str | os.PathLike | None = None
    eyes: tuple | None = None
    procrustes: bool = False
    rotation: bool = True
    style: str | None = None
    border: str = "replicate"
    image_format: str = "png"


class _Job:
    """One run of a face tool: the shared part of every tool (inputs labelled, outputs, report).

    A tool's function (:data:`TOOL_FUNCTIONS`) gets it once the inputs and prototypes are labelled, and makes
    its outputs with :meth:`prototype`, :meth:`each`, :meth:`save_each` and :meth:`save`.
    """

    def __init__(self, tool: str, out_dir: Path, outputs: RunOutputs, portraits: list[Portrait],
                 protos: dict[str, Portrait], problems: list[tuple[str, str]], options: _Options, n_images: int):
        self.tool, self.out_dir, self.outputs, self.options = tool, out_dir, outputs, options
        self.portraits, self.protos, self.problems, self.n_images = portraits, protos, problems, n_images
        self.rows: list[list[str]] = [["", p, "skipped", why] for p, why in problems]
        self.taken: set[str] = set()
        self.written = 0

    def recipe(self, frame: CanonicalFrame | None, make: Callable | None, protos: tuple = ()) -> _Recipe:
        """A :class:`_Recipe` with this run's options."""
        o = self.options
        return _Recipe(frame, make, protos, o.shape, o.color, o.texture, o.sym, o.mask, o.mask_color)

    def prototype(self, flag: str, frame: CanonicalFrame | None) -> Face:
        """The aligned prototype of ``flag`` (``frame`` None: a mean as it is, a photo in the default frame).

        Raises:
            CollectionError: ``"--from X: reason"``.
        """
        p = self.protos[flag]
        if p.landmarks is None:
            raise CollectionError(f"{flag} {p.path}: {p.note or 'no face'}")
        if frame is None and "mean" not in p.extra:  # a photo: the frame the prototypes' faces keep their size in
            frame, why = output_frame(None, None, [q for q in self.protos.values() if "mean" not in q.extra])
            log.info(f"{self.tool}: frame {why}")
        result = _render((p.path, p.landmarks, "mean" in p.extra), _Recipe(frame))
        if isinstance(result, str):
            raise CollectionError(f"{flag} {p.path}: {result}")
        return Face(p.path, result[0], result[1], "shapes.csv" if "mean" in p.extra else "landmarker")

    def save(self, name: str, image, source_path, note: str = "", extra: tuple = (), suffix: str = ".png",
             writer: Callable = save_png) -> Path:
        """Write ``image`` as ``<name><suffix>`` (``-2``, ... when taken) with ``writer`` and its report row
        (``extra``: the tool's own columns, :attr:`_Tool.columns`); returns the file's path."""
        stem = bounded_file_stem(name, self.taken)
        path = self.outputs.add(self.out_dir / f"{stem}{suffix}")
        writer(image, path)
        self.written += 1
        self.rows.append([path.name, str(source_path), "ok", note, *map(str, extra)])
        return path

    def each(self, recipe: _Recipe, done: Callable) -> None:
        """Render every input face with ``recipe`` on the job's workers, in input order, calling
        ``done(portrait, (image, landmarks, note))`` for each made; then report those that failed."""
        mark_output(self.out_dir)  # (after the prototypes: a bad one leaves no folder behind)
        usable = [p for p in self.portraits if p.landmarks is not None]
        results = ordered_map(partial(_render, recipe=recipe), [(p.path, p.landmarks, "mean" in p.extra)
                                                                for p in usable])
        for p, result in zip(usable, results):
            if isinstance(result, str):
                p.landmarks, p.note = None, result
            else:
                done(p, result)
        for p in self.portraits:
            if p.landmarks is None:
                self.rows.append(["", str(p.path), "skipped", p.note])
                self.problems.append((str(p.path), p.note))

    def save_each(self, recipe: _Recipe, name: Callable[[str], str]) -> None:
        """:meth:`each` saving every face made as ``name(input stem)`` (its note warned and reported)."""
        def done(p: Portrait, result) -> None:
            if result[2]:
                log.warning(f"{self.tool}: {p.path}: {result[2]}")
            self.save(name(p.path.stem), result[0], p.path, "; ".join(n for n in (p.note, result[2]) if n))

        self.each(recipe, done)


def _prototype_frame(face: Face) -> CanonicalFrame:
    return CanonicalFrame(width=face.image.shape[1], height=face.image.shape[0])


def _transform(job: _Job) -> None:
    """``transform``: each face moved along the line from prototype A (``--from``) to B (``--to``)."""
    o = job.options
    a = job.prototype("--from", None)
    frame = _prototype_frame(a)
    b = job.prototype("--to", frame)
    recipe = job.recipe(frame, _transformed, ((a.image, a.landmarks), (b.image, b.landmarks)))
    job.save_each(recipe, lambda stem: f"{stem}-transform-{percent_tag(o.shape)}-{percent_tag(o.color)}"
                  + (f"-{percent_tag(o.texture)}" if o.texture else ""))


def _caricature(job: _Job) -> None:
    """``caricature``: each face's difference from the mean (``--mean``) exaggerated."""
    m = job.prototype("--mean", None)
    recipe = job.recipe(_prototype_frame(m), _caricatured, ((m.image, m.landmarks),))
    job.save_each(recipe, lambda stem: f"{stem}-caricature-{percent_tag(job.options.shape)}")


def _symmetrize(job: _Job) -> None:
    """``symmetrize``: each face averaged with its mirror image, in its photo's frame or ``--width/--height``."""
    o = job.options
    frame = frame_of(o.width, o.height) if o.width is not None else None
    job.save_each(job.recipe(frame, _symmetric), lambda stem: f"{stem}-symmetric-{o.sym}")


def _continuum(job: _Job) -> None:
    """``continuum``: the faces between two input faces at even steps, and ``strip.png`` of them."""
    o = job.options
    first_mean = next((p for p in job.portraits if "mean" in p.extra), None)
    frame = None
    if first_mean is not None:  # a mean's own frame
        try:
            h, w = read_image(first_mean.path).shape[:2]
            frame = CanonicalFrame(width=w, height=h)
        except ImageDecodeError:
            pass
    if frame is None:  # photos: the frame their faces keep their size in
        frame, why = output_frame(None, None, job.portraits)
        log.info(f"continuum: frame {why}")
    done = []
    job.each(job.recipe(frame, None), lambda p, result: done.append((p, result)))
    if len(done) != 2:
        raise CollectionError(f"continuum needs two faces, got {len(done)} usable of {job.n_images} "
                              f"({'; '.join(f'{p}: {w}' for p, w in job.problems)})")
    (pa, (ia, la, _)), (pb, (ib, lb, _)) = done
    strip = []
    for i, (img, lm) in enumerate(continuum(ia, la, ib, lb, o.steps)):
        pct = round(100 * i / (o.steps - 1))
        final = _finish(img, lm, o.mask, o.mask_color)
        job.save(f"{pa.path.stem}-{pb.path.stem}-{pct:03d}", final, f"{pa.path} -> {pb.path}")
        strip.append((final, f"{pct}%"))  # RGBA in a transparent run: the strip keeps the alpha
    save_png(image_grid([s for s, _ in strip], [t for _, t in strip], columns=len(strip),
                        tile_width=min(200, strip[0][0].shape[1])), job.outputs.add(job.out_dir / "strip.png"))


def _align(job: _Job) -> None:
    """``align``: each face moved into one output frame (:mod:`jobs.align`: eyes on two points, Procrustes onto
    the collection's mean shape, or the FFHQ crop), and ``landmarks.csv`` of the outputs (bulk-label's layout:
    the moved points, a detector-like box from them, the output's size and sha1)."""
    o = job.options
    plan = plan_of(o, [p.landmarks for p in job.portraits if p.landmarks is not None], COLORS)
    suffix, writer = IMAGE_FORMATS[o.image_format]
    rows, upscaled = [], []

    def done(p: Portrait, result) -> None:
        image, moved, _ = result
        scale = scale_of(plan.matrix_of(p.landmarks))  # the worker's matrix again: a 68-point fit, microseconds
        upscale = upscale_note(scale)
        note = "; ".join(n for n in (p.note, upscale) if n)
        if upscale:
            upscaled.append(scale)
        path = job.save(p.path.stem, image, p.path, note, (p.extra.get("face", 0), plan.mode, f"{scale:.3f}"),
                        suffix, writer)
        face = FaceRow(box_from_landmarks(moved), float("nan"), moved, p.extra.get("fit", float("nan")))
        rows.append((path.name, 0, face, (image.shape[1], image.shape[0]), file_sha1(path)))

    job.each(replace(job.recipe(None, partial(placed, plan=plan)), photo=True), done)
    write_landmarks_csv(job.outputs.add(job.out_dir / "landmarks.csv"), rows)
    if upscaled:
        log.warning(f"align: {len(upscaled)} face(s) smaller in the photo than in the output, upscaled up to "
                    f"{max(upscaled):.2f}x; see report.csv")


def _check_steps(o: _Options) -> None:
    check_options(("--steps", o.steps, 2 <= o.steps <= 101, "must be 2..101"))


@dataclass(frozen=True)
class _Tool:
    """A face tool for the runner (:func:`run_tool`): ``make`` writes its outputs given the run with its
    inputs labelled; ``prototypes``: ``(flag, parameter of run_tool)`` it needs, ``needs`` says which
    in the error; ``sized``: it takes ``width/height``; ``check``: its own options' checks (raises
    CollectionError), run before anything is read; ``columns``: its own columns of ``report.csv``."""

    make: Callable[[_Job], None]
    prototypes: tuple = ()
    needs: str = ""
    sized: bool = False
    check: Callable[[_Options], None] | None = None
    columns: tuple = ()


#: Every tool: a new one is a function and an entry here.
TOOL_FUNCTIONS: dict[str, _Tool] = {
    "transform": _Tool(_transform, (("--from", "source"), ("--to", "dest")),
                       "prototypes A and B (source and dest: --from and --to)"),
    "caricature": _Tool(_caricature, (("--mean", "mean"),), "the mean face (mean: --mean)"),
    "continuum": _Tool(_continuum, check=_check_steps),
    "symmetrize": _Tool(_symmetrize, sized=True),
    "align": _Tool(_align, sized=True, check=partial(check_align, colors=COLORS), columns=REPORT_COLUMNS),
}
TOOLS = tuple(TOOL_FUNCTIONS)


def _check(tool: str, o: _Options, out_dir: Path) -> None:
    """The options' checks, before anything is read or written.

    Raises:
        CollectionError: the message names the flag.
    """
    spec = TOOL_FUNCTIONS[tool]
    if any(getattr(o, param) is None for _, param in spec.prototypes):
        raise CollectionError(f"{tool} needs {spec.needs}")
    if out_dir.exists() and not out_dir.is_dir():
        raise CollectionError(f"--out {out_dir}: is a file; give a folder")
    if o.mask_color is not None and o.mask is None:
        raise CollectionError(f"--mask-color {o.mask_color}: needs --mask outline or --mask oval (without a mask "
                              "there is no background to colour)")
    if o.mask_color not in (None, *COLORS, "transparent"):
        raise CollectionError(f"--mask-color {o.mask_color}: use {', '.join(COLORS)} or transparent")
    if o.width is not None or o.height is not None:
        if not spec.sized:
            raise CollectionError(f"--width/--height: {tool} has none (its frame is the prototypes')")
        if o.width is None or o.height is None:
            raise CollectionError(f"--width and --height go together: give both, or neither ({tool}'s default "
                                  "size)")
        frame_of(o.width, o.height)
    if spec.check is not None:
        spec.check(o)


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
    landmarks_csv: str | os.PathLike | None = None,
    eyes: tuple[float, float, float, float] | None = None,
    procrustes: bool = False,
    rotation: bool = True,
    style: str | None = None,
    border: str = "replicate",
    image_format: str = "png",
    n_jobs: int | None = -1,
    spec: ModelSpec = ModelSpec(),
    scheduler: str | None = None,
) -> ToolResult:
    """Run one of the tools over ``images`` into the folder ``out``.

    The defaults here (and :data:`DEFAULT_SHAPE`) are those of the ``morphkit`` sub-commands (their
    options read them from this signature). This is the runner every tool shares (inputs, labelling on
    the job's workers, outputs, report); what each tool makes is its function in :data:`TOOL_FUNCTIONS`
    (:class:`_Tool`).

    Args:
        tool: ``transform``, ``caricature``, ``continuum``, ``symmetrize`` or ``align``.
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
        width, height: ``symmetrize`` and ``align`` only: output size in pixels (both or neither; default:
            ``symmetrize``: each photo keeps its size, the face levelled and centred at scale 1; ``align``:
            450 x 550, or 1024 x 1024 with ``style="ffhq"``).
        landmarks_csv: a ``landmarks.csv`` (bulk-label's, or an earlier align's) to take the faces from
            instead of labelling them (a photo it was not made from is labelled again).
        eyes: ``align``: ``(lx, ly, rx, ry)`` output pixels of the image-left and image-right eye centres
            (default: the canonical frame's of the output size); with ``procrustes``, where the mean
            shape's eyes go.
        procrustes: ``align``: fit all 68 points onto the collection's Procrustes mean shape (least squares)
            instead of putting the eyes exactly on ``eyes``; ``rotation`` False: scale and translation only.
        style: ``align``: ``"ffhq"``: the FFHQ crop (Karras et al. 2019) from the eyes and mouth, square.
        border: ``align``: the output beyond the photo's edge: ``replicate``, ``reflect``, ``transparent``
            (RGBA PNG), a colour name (white, black, grey) or ``#rrggbb``.
        image_format: ``align``: ``png`` or ``jpeg`` (quality 95, no transparency).
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
    if tool not in TOOL_FUNCTIONS:
        raise CollectionError(f"unknown tool {tool!r}: use one of {', '.join(TOOLS)}")
    options = _Options(source, dest, mean, DEFAULT_SHAPE.get(tool, 0.0) if shape is None else shape, color, texture,
                       steps, sym, mask, mask_color, width, height, landmarks_csv,
                       None if eyes is None else tuple(float(v) for v in eyes), procrustes, rotation, style, border,
                       image_format)
    out_dir = Path(out)
    _check(tool, options, out_dir)
    options = replace(options, mask_color="white" if mask_color is None else mask_color)
    means = _Means()
    portraits, problems = _inputs(images, exclude=[out_dir])
    protos = {flag: Portrait(Path(getattr(options, param)), str(getattr(options, param)), "prototype")
              for flag, param in TOOL_FUNCTIONS[tool].prototypes}
    for p in [*protos.values(), *portraits]:
        shape_csv = means.shape_of(p.path)
        if shape_csv is not None:
            p.landmarks, p.faces, p.extra["mean"] = shape_csv, 1, True
    outputs = RunOutputs(out_dir)  # Ctrl-C leaves none of this run's outputs
    job = _Job(tool, out_dir, outputs, portraits, protos, problems, options, len(images))
    preload("scipy.spatial")  # to triangulate; imported while faces are labelled
    with outputs, job_workers(n_jobs, scheduler) as executor:
        attach_landmarks([p for p in [*protos.values(), *portraits] if p.landmarks is None], landmarks_csv, n_jobs,
                         spec, executor, whole_faces=True)  # a face cut off by the frame would smear its edge
        for p in [*protos.values(), *portraits]:
            if p.faces > 1 and p.landmarks is not None:
                log.warning(f"{tool}: {p.path}: {p.note}")
        TOOL_FUNCTIONS[tool].make(job)
        _write_report(outputs.add(out_dir / "report.csv"), job.rows, TOOL_FUNCTIONS[tool].columns)
    if not job.written:
        raise CollectionError(f"nothing written: {'; '.join(f'{p}: {w}' for p, w in problems) or 'no input face'}")
    return ToolResult(written=job.written, skipped=len(problems), seconds=round(time.time() - t0, 1))
