"""Collections of portraits: which images, in which groups, with which landmarks.

A collection is a folder of images (docs/architecture.md). Groups come from a manifest CSV
(:mod:`jobs.manifest`: a column naming the image file or its stem, and the
``--group-by`` column), or without one from sub-folders, or else the whole folder
is one group. Images a manifest does not name are skipped and reported.

Landmarks come from an existing ``landmarks.csv`` (written by bulk-label) or are
detected once per image, in parallel, by the landmarker. An image without a face
is reported and skipped; with several faces the largest is used (by the visible part of its
box) and the report says so. Landmarks from a ``landmarks.csv`` are used only for the photo
they were made from (its recorded size and ``sha1``): another photo is labelled again.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from landmarker.inference.labelling import ModelSpec, label_images
from landmarker.inference.parallel import label_chunks
from landmarker.io.atomic import atomic_write
from landmarker.io.decode import ImageDecodeError, image_size
from landmarker.io.face import inside_photo, visible_area
from landmarker.io.files import file_sha1, find_images
from landmarker.io.landmarks_csv import iter_records, read_landmarks_table
from landmarker.io.names import AmbiguousName, NameIndex
from morphkit import CanonicalFrame
from morphkit.errors import InvalidInput
from morphkit.frame import MAX_WIDTH, MIN_WIDTH, collection_frame, eye_distance, resized

from .bulk_label import CHUNK
from .bulk_output import JOURNAL, SETTINGS
from .manifest import ManifestError, manifest_groups
from .review.store import face_id

log = logging.getLogger(__name__)

UNLISTED = "unlisted"


@dataclass
class Portrait:
    """One image of a collection and what the jobs learned about it.

    ``landmarks`` is float32 ``(68, 2)`` of the largest face, or None (then
    ``note`` says why it is skipped). ``group`` None means the image is not in any
    group (a manifest does not name it): it is reported and skipped.
    """

    path: Path
    name: str
    group: str | None
    landmarks: np.ndarray | None = None
    faces: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)


class CollectionError(InvalidInput):
    """The collection, its manifest or its landmarks file cannot be used."""


def check_options(*checks: tuple[str, object, bool, str]) -> None:
    """Refuse the first ``(flag, value, ok, rule)`` with ``ok`` False, naming the flag and its rule.

    Raises:
        CollectionError: ``"--flag VALUE: RULE"``.
    """
    for flag, value, ok, rule in checks:
        if not ok:
            raise CollectionError(f"{flag} {value}: {rule}")


def frame_of(width: int | None, height: int | None) -> CanonicalFrame:
    """The output frame of ``--width`` x ``--height`` pixels; a side not given (None) follows the given one in
    the default frame's proportions (450 x 550), rounded to an even number.

    Raises:
        CollectionError: neither side given, or a side under 16 pixels (the message names the flag).
    """
    if width is None and height is None:
        raise CollectionError("--width/--height: give one or both")
    check_options(*((flag, v, v >= 16, "must be 16 pixels or more") for flag, v in (("--width", width),
                                                                                   ("--height", height))
                    if v is not None))
    return resized(CanonicalFrame(), width, height, minimum=16)


def output_frame(width: int | None, height: int | None, portraits: list[Portrait]) -> tuple[CanonicalFrame, str]:
    """The frame of a job's means, movie or stimuli, and why: ``--width/--height`` when given (:func:`frame_of`),
    else chosen from the faces of ``portraits`` that have landmarks (:func:`morphkit.frame.collection_frame`:
    their median eye-centre distance kept, so the median face is neither enlarged nor shrunk), else the
    default 450 x 550. The one rule every job's default frame follows.

    Returns:
        ``(frame, why)``: ``why`` a phrase for the console and the report, e.g. ``"210 x 256, from the faces
        (median eye-centre distance 52.5 px, warped at scale 1.00)"``.

    Raises:
        CollectionError: a bad ``--width`` or ``--height``.
    """
    if width is not None or height is not None:
        frame = frame_of(width, height)
        given = " and ".join(f"--{k} {v}" for k, v in (("width", width), ("height", height)) if v is not None)
        rest = "" if width is not None and height is not None else ", the other side in the default proportions"
        return frame, f"{frame.width} x {frame.height}, from {given}{rest}"
    lms = [p.landmarks for p in portraits if p.landmarks is not None]
    if not lms:
        frame = CanonicalFrame()
        return frame, f"{frame.width} x {frame.height}, the default (no face to size it from)"
    stack = np.stack(lms)
    frame, d = collection_frame(stack), eye_distance(stack)
    scale = frame.eye_distance * frame.width / d
    natural = d / frame.eye_distance
    clamp = f"; clamped to {MIN_WIDTH}..{MAX_WIDTH} px wide" if not MIN_WIDTH <= natural <= MAX_WIDTH else ""
    return frame, (f"{frame.width} x {frame.height}, from the faces (median eye-centre distance {d:.1f} px, "
                   f"warped at scale {scale:.2f}{clamp}; --width/--height to choose)")


def load_collection(
    sources: list[str | os.PathLike],
    manifest: str | os.PathLike | None = None,
    group_by: str | None = None,
    include_unlisted: bool = False,
    exclude=(),
) -> list[Portrait]:
    """The portraits of a collection folder, or of image files given in order.

    Args:
        sources: one folder, or two or more image files (a file may repeat: each
            occurrence is its own portrait, e.g. A -> B -> A in a morph).
        manifest: CSV giving each image's group (:mod:`jobs.manifest`).
        group_by: the manifest column(s) to group by (``party`` or ``party,gender``);
            required with ``manifest``, refused without one.
        include_unlisted: put images the manifest does not name in a group
            ``unlisted``; by default they are skipped and reported.
        exclude: paths not to take as images (the job's own outputs); folders our
            commands wrote are skipped anyway (:data:`landmarker.io.files.OUTPUT_MARKER`).

    Returns:
        portraits in a stable order (folder: sorted by name; files: as given).

    Raises:
        CollectionError: no images, ``--group-by`` without ``--manifest`` (or the
            reverse), or an unusable manifest.
        FileNotFoundError: a source or the manifest does not exist.
    """
    if manifest is not None and not group_by:
        raise CollectionError("--manifest needs --group-by COLUMN (the manifest column that gives the group)")
    if group_by and manifest is None:
        raise CollectionError("--group-by needs --manifest CSV (without one, groups are the sub-folders)")
    items = find_images(sources, exclude=exclude)
    if not items:
        raise CollectionError(f"{' '.join(map(str, sources))}: no image files found")
    names = [n for _, n in items]
    if manifest is not None:
        try:
            groups, absent = manifest_groups(manifest, group_by, items)
        except ManifestError as err:
            raise CollectionError(str(err)) from err
        if not groups:
            raise CollectionError(f"{manifest}: names none of the {len(items)} images of the collection")
    elif len(sources) == 1 and Path(sources[0]).is_dir():
        root = Path(sources[0]).resolve().name or "collection"
        groups = {n: (n.split("/")[0] if "/" in n else root) for n in names}
    else:
        groups = {n: "images" for n in names}
    portraits = []
    for p, n in items:
        group = groups.get(n, UNLISTED if include_unlisted else None)
        note = "" if group is not None else f"not in the manifest {Path(manifest).name} (--include-unlisted to use it)"
        portraits.append(Portrait(p, n, group, note=note))
    if manifest is not None and absent:  # rows naming no photo: reported, never silently dropped
        log.warning(f"{manifest}: {len(absent)} row(s) name no image of the collection (line {absent[0][0]}: "
                    f"{absent[0][1]!r}); see the report")
        for line, value in absent:
            portraits.append(Portrait(Path(value), value, None,
                                      note=f"named in {Path(manifest).name} (line {line}), no such image here"))
    return portraits


def attach_landmarks(
    portraits: list[Portrait],
    landmarks_csv: str | os.PathLike | None = None,
    n_jobs: int | None = -1,
    spec: ModelSpec = ModelSpec(),
    executor=None,
    whole_faces: bool = False,
) -> list[Portrait]:
    """Fill in ``landmarks`` (the face of the largest visible box area), ``faces`` and ``note`` of each portrait.

    From ``landmarks_csv`` when given (rows matched by the file itself when the CSV is a bulk-label run's,
    whose settings name its archive; else by image name, or by file name when the CSV was written for
    another folder, several rows of one file name told apart by their ``sha1``: :func:`_row_of`; the
    corrected points where ``morphkit review``
    corrected them, and with a bulk-label run's file ``extra["review"]`` = ``(run folder, face id)``
    for the report's link to the face's review page; a photo whose size differs from the
    image size the row records, or whose bytes differ from those its ``sha1`` records, or, in
    files without either, whose landmarks fall outside it, is not the photo the row was made
    from: it is labelled again, one warning line says so and its note says why), else by labelling each image once
    with ``spec`` (:func:`landmarker.inference.labelling.label_images`) on ``n_jobs`` worker
    threads, or on the job's ``executor`` (:func:`jobs.workers.job_workers`).

    Portraits without a group (not in the manifest) are left alone. A file given
    twice is labelled once and both portraits get its landmarks. With ``whole_faces`` (the face
    tools) a face whose landmarks leave the photo (:func:`landmarker.io.face.inside_photo`) is
    not used: the next largest one is, or none (the note says so).

    Raises:
        CollectionError: the landmarks CSV is malformed, names none of the images,
            or names one of them ambiguously (by a file name several rows share).
    """
    wanted = [p for p in portraits if p.group is not None]
    if landmarks_csv is None:
        _label(wanted, n_jobs, spec, executor, whole_faces)
        return portraits
    try:
        table, sizes, digests = read_landmarks_table(landmarks_csv)
    except (ValueError, OSError) as err:
        raise CollectionError(str(err)) from err
    relabel: list[Portrait] = []  # photos the CSV's landmarks do not belong to
    run = Path(landmarks_csv).parent
    review_run = run if (run / JOURNAL).is_file() else None  # a bulk-label run's file: faces can be reviewed
    numbers: dict[str, list] = {}  # image -> its rows' face numbers (rejected faces leave gaps)
    if review_run is not None:
        for row in iter_records(landmarks_csv):
            numbers.setdefault(row.image, []).append(row.number)
    archive = _archive_of(run) if review_run is not None else None
    index = NameIndex([(archive / k if archive else Path(k), k) for k in table])
    hits = 0
    for p in wanted:
        key = _row_of(index, p, digests, str(landmarks_csv))

        hits += key is not None
        why = _other_photo(p.path, sizes.get(key), digests.get(key), table.get(key, [])) if key else ""
        if why:
            p.note = f"{why}: labelled again"
            relabel.append(p)
            continue
        _set_faces(p, table.get(key, []) if key else [], "" if key else "no row in the landmarks CSV",
                   sizes.get(key) if key else None, whole_faces)
        if review_run is not None and p.landmarks is not None:  # its page in morphkit review
            p.extra["review"] = (str(review_run), face_id(key, numbers[key][p.extra["face"]]))
    if wanted and not hits:
        example = next(iter(table), "nothing")
        raise CollectionError(
            f"{landmarks_csv}: names none of the {len(wanted)} images of the collection (it names e.g. "
            f"{example!r}); give the landmarks.csv that bulk-label wrote for this folder, or leave out --landmarks"
        )
    if relabel:
        log.warning(f"{len(relabel)} photo(s) are not the images {landmarks_csv} was made from ({relabel[0].name}: "
                    f"{relabel[0].note}); see the report")
        notes = {id(p): p.note for p in relabel}
        _label(relabel, n_jobs, spec, executor, whole_faces)
        for p in relabel:  # keep why it was labelled again (a face note, if any, after it)
            p.note = notes[id(p)] + (f"; {p.note}" if p.note and p.note != notes[id(p)] else "")
    return portraits


def _archive_of(run: Path) -> Path | None:
    """The archive a bulk-label run labelled (its settings file), None when unreadable."""
    try:
        return Path(json.loads((run / SETTINGS).read_text(encoding="utf-8"))["archive"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _row_of(index: NameIndex, p: Portrait, digests: dict, where: str) -> str | None:
    """The landmarks CSV's image name for portrait ``p``: the row of its very file (a bulk-label run's rows are
    paths in its archive), else the one its name matches; of several rows sharing a file name (``a/x.jpg``,
    ``b/x.jpg`` for inputs ``a`` and ``b``) the one whose recorded SHA-1 is the file's.

    Raises:
        CollectionError: several rows match and none records the file's SHA-1.
    """
    here = index.at_path(p.path)
    if here is not None:
        return here
    try:
        return index.find(p.name, where=where)
    except AmbiguousName as err:
        candidates = index.find_all(p.name)
        try:
            sha1 = file_sha1(p.path)
        except OSError:
            raise CollectionError(str(err)) from err
        same = [c for c in candidates if digests.get(c) == sha1]
        if same:  # several: copies of one photo, labelled alike
            return same[0]
        raise CollectionError(str(err)) from err


def _other_photo(path: Path, recorded: tuple[int, int] | None, sha1: str | None, faces: list) -> str:
    """Why the landmarks of a CSV row do not belong to the photo at ``path`` ("" when they may).

    With the image size the CSV recorded: a photo of another size; with the file's SHA-1 it
    recorded: a file of other bytes. Without either (files written before the ``width,height``
    columns): landmarks outside the photo.
    """
    try:
        actual = image_size(path)
    except ImageDecodeError:
        return ""  # the job reports an unreadable photo when it decodes it
    if recorded is not None and tuple(recorded) != actual:
        return f"landmarks of a {recorded[0]}x{recorded[1]} image, this photo is {actual[0]}x{actual[1]}"
    if sha1:
        try:
            now = file_sha1(path)
        except OSError:
            return ""  # reported when the job decodes it
        return "" if now == sha1 else (f"changed since it was labelled (sha1 {now[:12]}, the landmarks' photo "
                                       f"{sha1[:12]})")
    if recorded is not None:
        return ""
    w, h = actual
    margin = 0.05 * max(w, h)
    for f in faces:
        lm = np.asarray(f.landmarks)
        if (lm.min(axis=0) < -margin).any() or lm[:, 0].max() > w + margin or lm[:, 1].max() > h + margin:
            return f"landmarks outside this {w}x{h} photo"
    return ""


def _label(wanted: list[Portrait], n_jobs, spec: ModelSpec, executor, whole_faces: bool = False) -> None:
    """Label each portrait's image once with ``spec`` and attach its faces (:func:`_set_faces`)."""
    by_path: dict[str, list[Portrait]] = {}
    for p in wanted:
        by_path.setdefault(str(p.path), []).append(p)
    items = [(path, ps[0].name) for path, ps in by_path.items()]
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    with tqdm(total=len(items), desc="landmarks", unit="image") as bar:
        for chunk, results in zip(chunks, label_chunks(label_images, chunks, n_jobs, executor, spec=spec.resolved())):
            for (path, _), r in zip(chunk, results):
                for p in by_path[path]:
                    _set_faces(p, r.faces, r.message if r.status == "error" else "", r.size, whole_faces)
            bar.update(len(chunk))


def _set_faces(p: Portrait, faces: list, error: str, size: tuple[int, int] | None = None,
               whole_faces: bool = False) -> None:
    """Attach the face of the largest visible box area (:func:`landmarker.io.face.visible_area` in an image
    of ``size`` ``(width, height)``; read from the file when None and needed). With ``whole_faces`` the
    largest one whose landmarks stay inside the photo, or none (the note says why)."""
    p.faces = len(faces)
    if error:
        p.note = error
        return
    if not faces:
        p.note = "no face found"
        return
    if size is None and (len(faces) > 1 or whole_faces):
        try:
            size = image_size(p.path)
        except ImageDecodeError:
            size = None  # reported when the job decodes it
    order = sorted(range(len(faces)), key=lambda i: -(visible_area(faces[i].box, size) if size else
                                                      (faces[i].box[2] - faces[i].box[0])
                                                      * (faces[i].box[3] - faces[i].box[1])))
    usable = [i for i in order if not whole_faces or size is None or inside_photo(faces[i].landmarks, size)]
    if not usable:
        p.note = (f"{'its face' if len(faces) == 1 else f'each of its {len(faces)} faces'}: landmarks leave the "
                  f"photo ({size[0]}x{size[1]}), cut off by the frame: no face a face tool can use")
        return
    p.extra["face"] = usable[0]
    chosen = faces[usable[0]]
    p.landmarks = np.asarray(chosen.landmarks, dtype=np.float32)
    p.extra["fit"] = float(getattr(chosen, "fit", float("nan")))
    if len(faces) > 1:
        passed = order.index(usable[0])  # larger faces left out: cut off by the frame
        p.note = f"{len(faces)} faces, used the largest" + (
            f" whose landmarks stay inside the photo ({passed} larger leave the photo, cut off by the frame)"
            if passed else "")


def is_grayscale(path: str | os.PathLike) -> bool:
    """Whether a photo is grayscale: its three channels (decoded reduced, long side 64 px or more) agree
    to within JPEG noise (mean spread under 1.5 levels, 99% of pixels within 6). False when it does not decode.
    """
    from landmarker.io.decode import read_image_reduced

    try:
        image = read_image_reduced(path, 0, 64).image
    except ImageDecodeError:
        return False
    spread = image.max(axis=2).astype(np.int16) - image.min(axis=2)
    return bool(spread.mean() < 1.5 and np.percentile(spread, 99) <= 6)


def note_grayscale(groups: list[list[Portrait]], job: str, n_jobs: int | None = 1) -> int:
    """Note grayscale photos averaged together with colour ones: in each list of portraits (a group's mean,
    a movie's faces) that holds both, every grayscale portrait in use gets a note for the report, and one
    console line says how many. The photos are checked on ``n_jobs`` threads (the job's ``--n-jobs``).
    Returns how many were noted."""
    from concurrent.futures import ThreadPoolExecutor

    from landmarker.inference.parallel import workers_for

    noted = []
    used_in = [[p for p in members if p.landmarks is not None] for members in groups]
    paths = list(dict.fromkeys(p.path for used in used_in for p in used))
    with ThreadPoolExecutor(workers_for(n_jobs, max(1, len(paths)))[0]) as pool:  # decoding releases the GIL
        grayscale = dict(zip(paths, pool.map(is_grayscale, paths)))
    for used in used_in:
        gray = [p for p in used if grayscale[p.path]]
        if gray and len(gray) < len(used):
            for p in gray:
                p.note = "; ".join(n for n in (p.note, "grayscale photo, averaged with colour ones") if n)
            noted.extend(gray)
    if noted:
        log.warning(f"{job}: {len(noted)} grayscale photo(s) averaged with colour ones (e.g. {noted[0].name}); "
                    "see the report")
    return len(noted)


def face_sources(portraits: list[Portrait]) -> tuple[list, np.ndarray]:
    """What morphkit needs of labelled portraits: one lazy image source each (``read_image`` of its
    path, decoded in the worker) and their landmarks, float32 ``(n, 68, 2)`` pixels.

    Raises:
        ValueError: a portrait without landmarks (callers pass the usable ones).
    """
    from functools import partial

    from landmarker.io.decode import read_image

    if any(p.landmarks is None for p in portraits):
        raise InvalidInput("face_sources takes labelled portraits only")
    return ([partial(read_image, p.path) for p in portraits],
            np.stack([p.landmarks for p in portraits]).astype(np.float32))


def drop_bad_fits(portraits: list[Portrait], max_fit: float | None, source: str) -> int:
    """Skip the faces whose fit score (% IOD, :attr:`landmarker.io.face.Face.fit`) is above ``max_fit``.

    Returns:
        how many were dropped (each says why in its ``note``).

    Raises:
        CollectionError: faces without a fit score (``source`` says how to get them).
    """
    if max_fit is None:
        return 0
    used = [p for p in portraits if p.landmarks is not None]
    if any(not np.isfinite(p.extra.get("fit", float("nan"))) for p in used):
        raise CollectionError(f"--max-fit-score needs fit scores, and {source} has none: label with --flip-average "
                              "(bulk-label --flip-average writes them into landmarks.csv)")
    dropped = 0
    for p in used:
        if p.extra["fit"] > max_fit:
            p.note = f"fit score {p.extra['fit']:.2f}% IOD above --max-fit-score {max_fit:g}: dropped"
            p.landmarks = None
            dropped += 1
    return dropped


def drop_repeated_photos(groups: list[list[Portrait]]) -> int:
    """In each group, skip the portraits whose file has the bytes of one used before it (the same photo under
    another name: averaged twice it would count twice), with a note naming the first.

    Args:
        groups: lists of portraits (a group's mean each); those without landmarks are left alone.

    Returns:
        how many were skipped.
    """
    dropped = 0
    for members in groups:
        first: dict[str, str] = {}  # sha1 -> the name of the portrait that uses it
        for p in members:
            if p.landmarks is None:
                continue
            try:
                digest = file_sha1(p.path)
            except OSError:
                continue  # reported when the job decodes it
            if digest in first:
                p.note = f"the same photo as {first[digest]} (identical bytes): used once"
                p.landmarks = None
                dropped += 1
            else:
                first[digest] = p.name
    return dropped


def write_report(portraits: list[Portrait], path: str | os.PathLike) -> None:
    """``image,group,status,faces,fit,message`` per portrait (status ``used`` or ``skipped``; ``fit``
    the fit score in % IOD when the landmarks have one)."""
    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "group", "status", "faces", "fit", "message"])
        for p in portraits:
            fit = p.extra.get("fit", float("nan"))
            w.writerow([p.name, p.group or "", "used" if p.landmarks is not None else "skipped", p.faces,
                        "" if not np.isfinite(fit) else f"{fit:.2f}", p.note])
