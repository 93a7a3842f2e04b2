"""The faces of a bulk-label run for review, and the one way corrections are saved.

A :class:`ReviewStore` opens the run's journal (:class:`jobs.bulk_output.Journal`, which holds
its lock until :meth:`ReviewStore.close`: no bulk-label run writes there meanwhile, and none
may be writing when the store opens) and lists its faces worst fit first. :meth:`ReviewStore.save`
records a correction in the journal (tables ``reviews`` and ``edits``, one transaction) and
rewrites the run's ``landmarks.csv`` atomically before it returns, so whatever was saved
survives a crash, a Ctrl-C and a resumed bulk-label (see :mod:`jobs.bulk_output`). Saves are
serialised by a lock: two browser tabs saving one face leave the later one's points, and both
in ``edits``.

Images are found only by the names the journal holds, below the archive that its settings
name; nothing a client sends becomes a path.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from landmarker.io.decode import image_size
from landmarker.io.landmarks_csv import parse_row
from morphkit.errors import InvalidInput
from morphkit.ibug68 import N_POINTS

from ..bulk_output import ENCODING, Journal, OutputError


def face_id(image: str, face: int) -> str:
    """The id of face number ``face`` of ``image`` (a name as in ``landmarks.csv``): stable across
    restarts and runs, URL-safe, e.g. ``"3f2a9c0b1d4e-0"``."""
    return f"{hashlib.sha1(image.encode(*ENCODING)).hexdigest()[:12]}-{int(face)}"


@dataclass(frozen=True)
class ReviewFace:
    """One face of the run.

    Attributes:
        id: :func:`face_id`.
        image: the image's name as in ``landmarks.csv`` (relative to the archive, POSIX separators).
        face: the face's number in its image (0: the largest).
        fit: the fit score, % of the inter-ocular distance (None: not labelled with ``--flip-average``).
        reviewed: a person saved its landmarks.
        box: ``(left, top, right, bottom)`` float pixels (the detector's).
        landmarks: float ``(68, 2)`` ``(x, y)`` pixels of the upright image.
        size: the image's ``(width, height)`` pixels as recorded (None: not recorded).
    """

    id: str
    image: str
    face: int
    fit: float | None
    reviewed: bool
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    size: tuple[int, int] | None

    def as_json(self) -> dict:
        """The face as ``GET /api/faces`` lists it (points to 1/100 px, as ``landmarks.csv``)."""
        return {"id": self.id, "image": self.image, "face": self.face, "fit": self.fit, "reviewed": self.reviewed,
                "box": [round(v, 2) for v in self.box],
                "landmarks": np.round(np.asarray(self.landmarks, np.float64), 2).tolist(),
                "size": list(self.size) if self.size else None, "crop": list(thumb_crop(self))}


def _face(image: str, face: int, row: list[str]) -> ReviewFace:
    """The :class:`ReviewFace` of a journal row (:data:`landmarker.io.landmarks_csv.REVIEWED_HEADER` layout)."""
    record = parse_row(row)
    fit = record.face.fit
    return ReviewFace(
        id=face_id(image, face), image=image, face=face, fit=fit if math.isfinite(fit) else None,
        reviewed=record.reviewed, box=record.face.box,
        landmarks=np.asarray(record.face.landmarks, np.float64), size=record.size)


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


def check_landmarks(value, size: tuple[int, int]) -> np.ndarray:
    """A client's landmarks as float ``(68, 2)`` pixels, checked.

    Args:
        value: what the client sent: 68 ``[x, y]`` numbers.
        size: the image's ``(width, height)``; every point must lie inside ``[0, width] x [0, height]``.

    Raises:
        InvalidInput: not 68 pairs of finite numbers, or a point outside the image (named).
    """
    if not isinstance(value, list) or len(value) != N_POINTS or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                        for v in p) for p in value):
        raise InvalidInput(f"landmarks must be {N_POINTS} [x, y] pairs of numbers")
    pts = np.asarray(value, np.float64)
    if not np.isfinite(pts).all():
        raise InvalidInput("landmarks must be finite numbers")
    w, h = size
    outside = np.flatnonzero((pts[:, 0] < 0) | (pts[:, 0] > w) | (pts[:, 1] < 0) | (pts[:, 1] > h))
    if outside.size:
        i = int(outside[0])
        raise InvalidInput(f"point {i} ({pts[i, 0]:g}, {pts[i, 1]:g}) lies outside the {w}x{h} image "
                           f"({outside.size} point(s) outside)")
    return pts


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
            faces = worst_fit_first(_face(i, f, row) for i, f, row in self._journal.faces())
            self._faces: OrderedDict[str, ReviewFace] = OrderedDict((f.id, f) for f in faces)
        except BaseException:
            self._journal.close()
            raise

    def faces(self) -> list[ReviewFace]:
        """Every face, worst fit first (then those without a fit score)."""
        with self._lock:
            return list(self._faces.values())

    def get(self, face_id: str) -> ReviewFace | None:
        """The face of that id, or None."""
        return self._faces.get(face_id)

    def image_path(self, face: ReviewFace) -> Path:
        """The photo of ``face``: its journal name below the archive (a name that would climb out of
        it is refused).

        Raises:
            InvalidInput: the name leaves the archive.
        """
        norm = Path(os.path.normpath(face.image))
        if norm.is_absolute() or norm.parts[:1] == ("..",):
            raise InvalidInput(f"{face.image!r}: not a path inside the archive")
        return self.archive / norm

    def size(self, face: ReviewFace) -> tuple[int, int]:
        """The ``(width, height)`` of the face's image: as recorded, else read from the file's header.

        Raises:
            ImageDecodeError: the file cannot be read (:func:`landmarker.io.decode.image_size`).
            InvalidInput: the name leaves the archive (:meth:`image_path`).
        """
        return face.size or image_size(self.image_path(face))

    def save(self, face_id: str, landmarks) -> ReviewFace:
        """Record a person's landmarks for a face, written through to the journal and ``landmarks.csv``.

        Args:
            face_id: :func:`face_id` of the face.
            landmarks: 68 ``[x, y]`` pixels (checked by :func:`check_landmarks`).

        Returns:
            The face as stored, ``reviewed`` True.

        Raises:
            KeyError: no face of that id.
            InvalidInput: landmarks that are not 68 finite points inside the image.
            OutputError: the files cannot be written.
        """
        face = self._faces.get(face_id)
        if face is None:
            raise KeyError(face_id)
        size = self.size(face)
        pts = check_landmarks(landmarks, size)
        with self._lock:
            row = self._journal.review(face.image, face.face, pts.tolist())
            stored = replace(_face(face.image, face.face, row), size=size)  # a size read from the file kept
            self._faces[face_id] = stored
        return stored

    def close(self) -> None:
        """Release the journal (and its lock)."""
        with self._lock:
            self._journal.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
