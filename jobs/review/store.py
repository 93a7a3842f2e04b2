"""The faces of a bulk-label run for review, and the one way corrections are saved.

A :class:`ReviewStore` opens the run's journal (:class:`jobs.bulk_output.Journal`, which holds
its lock until :meth:`ReviewStore.close`: no bulk-label run writes there meanwhile, and none
may be writing when the store opens) and lists its faces worst fit first. :meth:`ReviewStore.reject`
marks a face "not a face" (left out of ``landmarks.csv`` and every file made from it; :meth:`ReviewStore.restore`
undoes it) and :meth:`ReviewStore.add` records a face the detector missed in a box a person drew, with the
model's points in it (:func:`landmarker.inference.labelling.label_images`, the run's model), each written
through like a save. :meth:`ReviewStore.save`
records a correction in the journal (tables ``reviews`` and ``edits``, one transaction) exactly as
sent (points outside the photo, of a face cut off by the frame, included: :func:`check_landmarks`) and
rewrites the run's ``landmarks.csv`` (and its ``landmarks.xml`` and the face's overlay, where the run
has them) atomically before it returns, so whatever was saved
survives a crash, a Ctrl-C and a resumed bulk-label (see :mod:`jobs.bulk_output`). Saves are
serialised by a lock: two browser tabs saving one face leave the later one's points, and both
in ``edits``.

Images are found only by the names the journal holds, below the archive that its settings
name; nothing a client sends becomes a path.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from landmarker.io.decode import image_size
from landmarker.io.face import visible_area
from landmarker.io.files import file_sha1, sha1_hex
from landmarker.io.landmarks_csv import parse_row
from morphkit.errors import InvalidInput
from morphkit.ibug68 import N_POINTS

from ..bulk_output import ENCODING, Journal, OutputError

log = logging.getLogger(__name__)


def image_id(image: str) -> str:
    """The id of ``image`` (a name as in ``landmarks.csv``): stable, URL-safe, e.g. ``"3f2a9c0b1d4e"``."""
    return sha1_hex(image.encode(*ENCODING))[:12]


def face_id(image: str, face: int) -> str:
    """The id of face number ``face`` of ``image`` (a name as in ``landmarks.csv``): stable across
    restarts and runs, URL-safe, e.g. ``"3f2a9c0b1d4e-0"`` (:func:`image_id`, the face number)."""
    return f"{image_id(image)}-{int(face)}"


@dataclass(frozen=True)
class ReviewFace:
    """One face of the run.

    Attributes:
        id: :func:`face_id`.
        image: the image's name as in ``landmarks.csv`` (relative to the archive, POSIX separators).
        face: the face's number in its image (0: the largest).
        fit: the fit score, % of the inter-ocular distance (None: not labelled with ``--flip-average``).
        reviewed: a person saved its landmarks.
        rejected: a person marked it "not a face": in no file of the run until restored.
        box: ``(left, top, right, bottom)`` float pixels (the detector's).
        landmarks: float ``(68, 2)`` ``(x, y)`` pixels of the upright image.
        size: the image's ``(width, height)`` pixels as recorded (None: not recorded).
        sha1: the hex SHA-1 of the photo the landmarks were made from (None: not recorded).
        score: the detector's score (None: a box a person drew); see README, "the scores".
    """

    id: str
    image: str
    face: int
    fit: float | None
    reviewed: bool
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    size: tuple[int, int] | None
    sha1: str | None = None
    score: float | None = None
    rejected: bool = False

    def as_json(self) -> dict:
        """The face as ``GET /api/faces`` lists it (points to 1/100 px, as ``landmarks.csv``)."""
        return {"id": self.id, "image": self.image, "face": self.face, "fit": self.fit, "reviewed": self.reviewed,
                "rejected": self.rejected, "score": self.score, "box": [round(v, 2) for v in self.box],
                "landmarks": np.round(np.asarray(self.landmarks, np.float64), 2).tolist(),
                "size": list(self.size) if self.size else None, "crop": list(thumb_crop(self))}


def _face(image: str, face: int, row: list[str], rejected: bool = False) -> ReviewFace:
    """The :class:`ReviewFace` of a journal row (:data:`landmarker.io.landmarks_csv.REVIEWED_HEADER` layout)."""
    record = parse_row(row)
    fit, score = record.face.fit, record.face.score
    return ReviewFace(
        id=face_id(image, face), image=image, face=face, fit=fit if math.isfinite(fit) else None,
        reviewed=record.reviewed, box=record.face.box,
        landmarks=np.asarray(record.face.landmarks, np.float64), size=record.size, sha1=record.sha1,
        score=score if math.isfinite(score) else None, rejected=rejected)


def worst_fit_first(faces) -> list[ReviewFace]:
    """``faces`` sorted by fit score, highest (worst) first, then those without one; ties by image, face."""
    return sorted(faces, key=lambda f: (f.fit is None, -(f.fit or 0.0), f.image, f.face))


def thumb_crop(face: ReviewFace) -> tuple[int, int, int, int]:
    """The part of the photo a face's thumbnail shows: ``(left, top, right, bottom)`` integer pixels,
    a square of 1.6 x the larger side of the face's box and landmarks, clipped to the image."""
    pts = np.asarray(face.landmarks)
    l = min(face.box[0], pts[:, 0].min())
    t = min(face.box[1], pts[:, 1].min())
    r = max(face.box[2], pts[:, 0].max())
    b = max(face.box[3], pts[:, 1].max())
    cx, cy, half = (l + r) / 2, (t + b) / 2, 0.8 * max(r - l, b - t, 8.0)
    w, h = face.size or (math.inf, math.inf)
    left, top = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
    right, bottom = min(w, math.ceil(cx + half)), min(h, math.ceil(cy + half))
    return int(left), int(top), int(max(right, left + 1)), int(max(bottom, top + 1))


#: How far outside the photo a point may lie, as a share of the photo's larger side: the points of a face
#: cut off by the frame (a jaw past the edge) lie outside it and are valid; points further out are a mistake.
OUTSIDE = 0.5


def check_landmarks(value, size: tuple[int, int]) -> np.ndarray:
    """A client's landmarks as float ``(68, 2)`` pixels, checked, unchanged (never moved into the photo).

    Args:
        value: what the client sent: 68 ``[x, y]`` numbers.
        size: the image's ``(width, height)``; every point must lie within :data:`OUTSIDE` times its
            larger side of the image: in ``[-m, width + m] x [-m, height + m]``, ``m = OUTSIDE * max(size)``
            (points of a face cut off by the frame lie outside the photo and are valid).

    Raises:
        InvalidInput: not 68 pairs of finite numbers, or a point further outside the image (named).
    """
    if not isinstance(value, list) or len(value) != N_POINTS or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                        for v in p) for p in value):
        raise InvalidInput(f"landmarks must be {N_POINTS} [x, y] pairs of numbers")
    pts = np.asarray(value, np.float64)
    if not np.isfinite(pts).all():
        raise InvalidInput("landmarks must be finite numbers")
    w, h = size
    m = OUTSIDE * max(w, h)
    outside = np.flatnonzero((pts[:, 0] < -m) | (pts[:, 0] > w + m) | (pts[:, 1] < -m) | (pts[:, 1] > h + m))
    if outside.size:
        i = int(outside[0])
        raise InvalidInput(f"point {i} ({pts[i, 0]:g}, {pts[i, 1]:g}) lies far outside the {w}x{h} image "
                           f"(more than {m:g} px; {outside.size} point(s))")
    return pts


#: The smallest side of a box a person draws around a face, pixels (the network's crop needs some).
MIN_BOX = 8


def check_box(value, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """A client's face box as ``(left, top, right, bottom)`` float pixels, checked.

    Args:
        value: what the client sent: ``[left, top, right, bottom]`` numbers.
        size: the image's ``(width, height)``; the box must overlap it by half its own area or more.

    Raises:
        InvalidInput: not 4 finite numbers, right <= left or bottom <= top, a side under
            :data:`MIN_BOX` px, or a box mostly outside the image.
    """
    if not isinstance(value, list) or len(value) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise InvalidInput("box must be [left, top, right, bottom]: 4 numbers (pixels)")
    l, t, r, b = (float(v) for v in value)
    if not all(math.isfinite(v) for v in (l, t, r, b)):
        raise InvalidInput("box must be finite numbers")
    if r - l < MIN_BOX or b - t < MIN_BOX:
        raise InvalidInput(f"box {[l, t, r, b]}: right must exceed left and bottom top by {MIN_BOX} px or more")
    if visible_area((l, t, r, b), size) < 0.5 * (r - l) * (b - t):
        raise InvalidInput(f"box {[l, t, r, b]}: mostly outside the {size[0]}x{size[1]} image")
    return l, t, r, b


class ModelUnavailable(RuntimeError):
    """The run's model (the weights its journal names) cannot be loaded to propose points."""


class PhotoChanged(InvalidInput):
    """The photo of a face is no longer the one its landmarks were made from (its ``sha1`` differs)."""


class ReviewStore:
    """The faces of the bulk-label run in ``run_dir``, open for review until :meth:`close`.

    Args:
        run_dir: a bulk-label ``--out`` folder (its ``.bulk-label.sqlite``).
        archive: the archive the run labelled (default: the one its settings name).

    Raises:
        OutputError: no journal there, or a bulk-label run (or another review) has it open.
        FileNotFoundError: the archive is not there.
    """

    def __init__(self, run_dir: str | os.PathLike, archive: str | os.PathLike | None = None):
        self.run_dir = Path(run_dir).resolve()
        self._lock = threading.Lock()
        self._changed: set[str] = set()  # photos found changed since they were labelled (logged once each)
        self._model, self._model_lock = None, threading.Lock()  # the run's model, loaded for the first add
        self._journal = Journal(self.run_dir, None, check_same_thread=False)
        try:
            named = archive or self._journal.settings.get("archive")
            if not named:
                raise OutputError(f"{self.run_dir}: its journal names no archive; give --archive")
            self.archive = Path(named).resolve()
            if not self.archive.is_dir():
                raise FileNotFoundError(f"{self.archive}: the archive {self.run_dir.name} was labelled from "
                                        "is not there (give --archive)")
            self._journal.write_csv(report=False)  # a save that a crash cut short of its CSV write
            faces = worst_fit_first(_face(i, f, row, rej) for i, f, row, rej in self._journal.faces())
            self._faces: OrderedDict[str, ReviewFace] = OrderedDict((f.id, f) for f in faces)
            self._images = {n: d.status for n, d in self._journal.done().items()}  # every file of the run
            self._image_ids = {image_id(n): n for n in self._images}
        except BaseException:
            self._journal.close()
            raise

    def faces(self, rejected: bool = False) -> list[ReviewFace]:
        """Every face, worst fit first (then those without a fit score); ``rejected``: the rejected ones
        too (marked), else only the others."""
        with self._lock:
            return [f for f in self._faces.values() if rejected or not f.rejected]

    def get(self, face_id: str) -> ReviewFace | None:
        """The face of that id, or None."""
        return self._faces.get(face_id)

    def image_path(self, face: ReviewFace) -> Path:
        """The photo of ``face`` (:meth:`photo_path` of its image).

        Raises:
            InvalidInput: the name leaves the archive.
        """
        return self.photo_path(face.image)

    def photo_path(self, image: str) -> Path:
        """The photo named ``image`` in the journal, below the archive (a name that would climb out of
        it is refused).

        Raises:
            InvalidInput: the name leaves the archive.
        """
        norm = Path(os.path.normpath(image))
        if norm.is_absolute() or norm.parts[:1] == ("..",):
            raise InvalidInput(f"{image!r}: not a path inside the archive")
        return self.archive / norm

    def images(self) -> list[dict]:
        """Every image of the run, in the journal's order: ``{"id": image_id(name), "image": name,
        "status": ok|no_face|error, "faces": faces in landmarks.csv (rejected ones not counted)}``."""
        with self._lock:
            shown: dict[str, int] = {}
            for f in self._faces.values():
                shown[f.image] = shown.get(f.image, 0) + (not f.rejected)
            return [{"id": image_id(n), "image": n, "status": st, "faces": shown.get(n, 0)}
                    for n, st in self._images.items()]

    def image_named(self, key: str) -> str | None:
        """The name of the run's image whose :func:`image_id` is ``key``, or None."""
        return self._image_ids.get(key)

    def size(self, face: ReviewFace) -> tuple[int, int]:
        """The ``(width, height)`` of the face's image: as recorded, else read from the file's header.

        Raises:
            ImageDecodeError: the file cannot be read (:func:`landmarker.io.decode.image_size`).
            InvalidInput: the name leaves the archive (:meth:`image_path`).
        """
        return face.size or image_size(self.image_path(face))

    def check_photo(self, face: ReviewFace) -> None:
        """Check that the face's photo is the one its landmarks were made from (the ``sha1`` its row
        records; rows without one are not checked). A changed photo is logged once (one line).

        Raises:
            PhotoChanged: the file's SHA-1 differs; the message names the file and says to label it
                again (``morphkit bulk-label`` into the run relabels changed files).
            OSError: the file cannot be read.
        """
        if face.sha1 is None:
            return
        path = self.image_path(face)
        if file_sha1(path) != face.sha1:
            if face.image not in self._changed:
                self._changed.add(face.image)
                log.warning(f"morphkit review: {path}: changed since it was labelled (sha1 differs): run bulk-label "
                            f"into {self.run_dir} again to label it again")
            raise PhotoChanged(f"{face.image}: the photo changed since it was labelled (its sha1 differs), so "
                               f"these points belong to another picture; run bulk-label into {self.run_dir.name} "
                               "again (it labels changed photos again), then review it")

    def save(self, face_id: str, landmarks) -> ReviewFace:
        """Record a person's landmarks for a face, written through to the journal and ``landmarks.csv``.

        Args:
            face_id: :func:`face_id` of the face.
            landmarks: 68 ``[x, y]`` pixels (checked by :func:`check_landmarks`).

        Returns:
            The face as stored, ``reviewed`` True.

        Raises:
            KeyError: no face of that id.
            InvalidInput: landmarks that are not 68 finite points, or points far outside the image
                (:func:`check_landmarks`).
            PhotoChanged: the photo changed since it was labelled (:meth:`check_photo`).
            OutputError: the files cannot be written.
        """
        face = self._faces.get(face_id)
        if face is None:
            raise KeyError(face_id)
        size = self.size(face)
        pts = check_landmarks(landmarks, size)
        self.check_photo(face)
        with self._lock:
            row = self._journal.review(face.image, face.face, pts.tolist())
            stored = replace(_face(face.image, face.face, row), size=size)  # a size read from the file kept
            self._faces[face_id] = stored
            self._write_derived(stored)
        return stored

    def reject(self, face_id: str, rejected: bool = True) -> ReviewFace:
        """Mark a face "not a face" (``rejected`` False: restore it), written through to the journal,
        ``landmarks.csv`` (without it) and the run's other files, as :meth:`save` does.

        Returns:
            The face as stored, ``rejected`` as asked.

        Raises:
            KeyError: no face of that id.
            OutputError: the files cannot be written.
        """
        face = self._faces.get(face_id)
        if face is None:
            raise KeyError(face_id)
        with self._lock:
            self._journal.reject(face.image, face.face, rejected)
            stored = replace(self._faces[face_id], rejected=rejected)
            self._faces[face_id] = stored
            self._write_derived(stored)
        return stored

    def restore(self, face_id: str) -> ReviewFace:
        """Undo :meth:`reject`: the face is back in every file. Raises as :meth:`reject`."""
        return self.reject(face_id, rejected=False)

    def _load_model(self):
        """The run's model (its journal's settings: weights, backend, flip averaging), loaded once.

        Raises:
            ModelUnavailable: the weights are gone, or cannot be loaded (the message says why).
        """
        from landmarker.inference.labelling import ModelSpec

        with self._model_lock:
            if self._model is None:
                s = self._journal.settings
                spec = ModelSpec(s.get("weights"), s.get("backend"), None, bool(s.get("flip_average", False)))
                try:
                    self._model = spec.resolved().load()
                except (OSError, ValueError, ImportError, RuntimeError) as err:
                    raise ModelUnavailable(f"the run's model ({s.get('weights') or 'the shipped one'}) cannot be "
                                           f"loaded: {err}") from err
            return self._model

    def add(self, image: str, box) -> ReviewFace:
        """Record a face the detector missed: ``box`` drawn by a person on ``image``, with the run's
        model's 68 points in it (:func:`landmarker.inference.labelling.label_images` with the box given;
        score empty), written through like :meth:`save`. It is not reviewed until a person saves it.

        Args:
            image: the image's name as in the run (``landmarks.csv``, ``report.csv``).
            box: ``[left, top, right, bottom]`` pixels of the upright image (:func:`check_box`).

        Returns:
            The new face (the next free face number of its image).

        Raises:
            KeyError: no such image in the run.
            ModelUnavailable: the run's model cannot be loaded.
            InvalidInput: a bad box (:func:`check_box`), or the name leaves the archive.
            PhotoChanged: the photo changed since it was labelled (its ``sha1`` differs from its faces').
            ImageDecodeError: the photo cannot be read (it is an ``error`` of the run, or it went).
            OutputError: the files cannot be written.
        """
        from landmarker.inference.labelling import label_images
        from landmarker.io.decode import ImageDecodeError
        from landmarker.io.landmarks_csv import face_row

        if image not in self._images:
            raise KeyError(image)
        path = self.photo_path(image)
        size = image_size(path)
        l, t, r, b = check_box(box, size)
        model = self._load_model()
        result = label_images([(str(path), image)], boxes={image: [(l, t, r, b)]}, model=model)[0]
        if result.status != "ok":
            raise ImageDecodeError(path, result.message)
        recorded = {f.sha1 for f in self._faces.values() if f.image == image and f.sha1}
        if recorded and result.sha1 not in recorded:
            self.check_photo(next(f for f in self._faces.values() if f.image == image and f.sha1))
        with self._lock:
            number, row = self._journal.add_face(image, face_row(image, 0, result.faces[0], result.size, result.sha1))
            stored = _face(image, number, row)
            self._faces[stored.id] = stored
            self._faces = OrderedDict((f.id, f) for f in worst_fit_first(self._faces.values()))
            self._write_derived(stored)
        return stored

    def _write_derived(self, face: ReviewFace) -> None:
        """After a change, the run's other files that show landmarks, from what the journal holds: its
        ``landmarks.xml`` (a ``--format dlib-xml`` run, :func:`jobs.bulk_label.write_xml`) and the
        overlay of the face's image (an ``--overlay`` run: :func:`landmarker.io.overlay.write_overlay`,
        the faces not rejected; one in the format before JPEG is replaced), where the run has them.

        Raises:
            OutputError: a file cannot be written (the change is in the journal already).
        """
        from landmarker.inference.labelling import overlay_path
        from landmarker.io.decode import ImageDecodeError

        from ..bulk_label import XML, old_overlay, redraw_overlay, write_xml

        try:
            if (self.run_dir / XML).is_file():
                write_xml(self.run_dir, self.archive)
            overlays = self.run_dir / "overlays"
            if overlay_path(overlays, face.image).is_file() or old_overlay(overlays, face.image).is_file():
                faces = sorted((f for f in self._faces.values() if f.image == face.image and not f.rejected),
                               key=lambda f: f.face)
                redraw_overlay(self.image_path(face), face.image, faces, overlays)
        except (OSError, ImageDecodeError) as err:
            raise OutputError(f"{self.run_dir}: the change is saved in the journal and landmarks.csv, but "
                              f"{err}") from err

    def close(self) -> None:
        """Release the journal (and its lock)."""
        with self._lock:
            self._journal.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
