"""The ``landmarks.csv`` file format (docs/architecture.md, "Files written").

Header, then one row per face:
``image,face,left,top,right,bottom,score,x0,y0,x1,y1,...,x67,y67,fit,width,height,sha1``.
``image`` is the path relative to the folder given (POSIX separators); ``face``
counts from 0 in order of visible box area, largest first; ``fit`` is the fit score in % of
the inter-ocular distance (:attr:`landmarker.io.face.Face.fit`), empty unless
predicted with ``--flip-average``; ``width, height`` are the pixel size of the
(EXIF-upright) image the landmarks belong to and ``sha1`` the hex SHA-1 digest of the
image file's bytes (:func:`landmarker.io.files.file_sha1`), so that a job given the file can
tell that a photo of the same name is another photo, even one of the same size (each empty
when unknown). A bulk-label run's file has one more column, ``reviewed``
(:data:`REVIEWED_HEADER`): ``1`` on a face whose landmarks a person corrected or confirmed in
``morphkit review``, empty otherwise. Files written before these columns
(:data:`SIZE_REVIEWED_HEADER`, :data:`SIZE_HEADER`, :data:`FIT_HEADER`, :data:`LEGACY_HEADER`)
are read too: their rows have no ``sha1`` (and readers check them by size, as before).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from landmarker.io.face import Face
from morphkit.errors import InvalidInput

LEGACY_HEADER = ["image", "face", "left", "top", "right", "bottom", "score"] + [
    f"{axis}{i}" for i in range(68) for axis in ("x", "y")
]
FIT_HEADER = LEGACY_HEADER + ["fit"]
SIZE_HEADER = FIT_HEADER + ["width", "height"]  # files before the sha1 column
SIZE_REVIEWED_HEADER = SIZE_HEADER + ["reviewed"]
HEADER = SIZE_HEADER + ["sha1"]
REVIEWED_HEADER = HEADER + ["reviewed"]  # bulk-label's file: corrected faces marked (morphkit review)
HEADERS = (REVIEWED_HEADER, HEADER, SIZE_REVIEWED_HEADER, SIZE_HEADER, FIT_HEADER, LEGACY_HEADER)
_BY_LENGTH = {len(h): h for h in (REVIEWED_HEADER, HEADER, SIZE_HEADER, FIT_HEADER, LEGACY_HEADER)}


class Row(NamedTuple):
    """One row of a ``landmarks.csv``: the image's name, its :class:`Face`, the image's ``(width, height)``
    pixels (None: not recorded), whether a person reviewed the face (False in files without the column),
    the hex SHA-1 of the image file the landmarks belong to (None: not recorded) and the face's number
    in its image (the ``face`` column; None when it is not a number)."""

    image: str
    face: Face
    size: tuple[int, int] | None
    reviewed: bool
    sha1: str | None = None
    number: int | None = None


def face_row(image: str, index: int, face: Face, size: tuple[int, int] | None = None,
             sha1: str | None = None) -> list[str]:
    """One CSV row (:data:`HEADER` layout) for face number ``index`` of ``image`` (coordinates to 0.01 px);
    ``size``: the image's ``(width, height)`` in pixels, ``sha1``: the hex SHA-1 of its file's bytes
    (:func:`landmarker.io.files.file_sha1`); None: unknown, left empty."""
    score = "" if face.score is None or math.isnan(face.score) else f"{face.score:.4f}"
    fit = getattr(face, "fit", math.nan)
    return (
        [image, str(index)]
        + [f"{v:.2f}" for v in face.box]
        + [score]
        + point_fields(face.landmarks)
        + ["" if fit is None or math.isnan(fit) else f"{fit:.3f}"]
        + ([str(int(size[0])), str(int(size[1]))] if size else ["", ""])
        + [sha1 or ""]
    )


def write_landmarks_csv(path: str | os.PathLike,
                        rows: Iterable[tuple[str, int, Face, tuple[int, int] | None, str | None]]) -> None:
    """Write a ``landmarks.csv`` (:data:`HEADER` layout) all or nothing (:func:`landmarker.io.atomic.atomic_write`):
    one :func:`face_row` per ``(image, face number, Face, (width, height) or None, sha1 or None)``.

    Raises:
        OSError: the file cannot be written.
    """
    from landmarker.io.atomic import atomic_write

    with atomic_write(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(face_row(*row) for row in rows)


def point_fields(landmarks) -> list[str]:
    """The 136 fields ``x0, y0, ..., x67, y67`` of a row for ``(68, 2)`` ``(x, y)`` pixels (to 0.01 px)."""
    return [f"{v:.2f}" for v in np.asarray(landmarks, dtype=np.float64).reshape(-1)]


def parse_row(row: list[str], header: list[str] | None = None) -> Row:
    """One data row of a ``landmarks.csv`` as a :class:`Row`: box float pixels, ``score``/``fit`` ``nan``
    when empty, landmarks float32 ``(68, 2)`` ``(x, y)`` pixels, size None unless both ``width`` and
    ``height`` are there, sha1 None unless there.

    Args:
        row: the fields.
        header: the file's header, one of :data:`HEADERS`; None: told by the row's length, the
            current layouts (:data:`REVIEWED_HEADER`, :data:`HEADER`) and those before ``width`` (a
            row of :data:`SIZE_REVIEWED_HEADER`, as long as one of :data:`HEADER`, needs ``header``).

    Raises:
        ValueError: a non-numeric value, or a row shorter than the oldest layout.
    """
    if len(row) < len(LEGACY_HEADER):
        raise ValueError(f"{len(row)} columns, expected at least {len(LEGACY_HEADER)}")
    columns = header if header is not None else _BY_LENGTH.get(len(row), LEGACY_HEADER)
    field = dict(zip(columns, row))
    box = tuple(float(v) for v in row[2:6])
    score = float(row[6]) if row[6] else float("nan")
    pts = np.asarray(row[7:143], dtype=np.float32).reshape(68, 2)
    fit = float(field["fit"]) if field.get("fit") else float("nan")
    size = (int(field["width"]), int(field["height"])) if field.get("width") and field.get("height") else None
    reviewed = field.get("reviewed", "") not in ("", "0")
    number = int(row[1]) if row[1].strip().isdigit() else None
    return Row(row[0], Face(box, score, pts, fit), size, reviewed, field.get("sha1") or None, number)


def iter_landmarks_csv(path: str | os.PathLike, errors: str = "strict") -> Iterator[tuple[str, Face]]:
    """Stream a ``landmarks.csv`` row by row: ``(image, Face)``, in file order.

    ``Face.box`` is ``(left, top, right, bottom)`` float pixels, ``score`` a float
    (``nan`` when empty), ``landmarks`` float32 ``(68, 2)`` ``(x, y)`` pixels. Blank
    lines are skipped. The file is read as UTF-8; ``errors`` is the codec's error
    handler (``"surrogateescape"`` keeps file names that are not UTF-8).

    Raises:
        ValueError: the header or a row does not follow the format (names file and line).
    """
    for row in iter_records(path, errors):
        yield row.image, row.face


def iter_rows(path: str | os.PathLike, errors: str = "strict") -> Iterator[tuple[str, Face, tuple[int, int] | None]]:
    """:func:`iter_landmarks_csv` with each row's image size: ``(image, Face, (width, height) or None)``.

    Raises:
        ValueError: the header or a row does not follow the format (names file and line).
    """
    for row in iter_records(path, errors):
        yield row.image, row.face, row.size


def iter_records(path: str | os.PathLike, errors: str = "strict") -> Iterator[Row]:
    """Stream a ``landmarks.csv`` as :class:`Row` records (image, face, size, reviewed, sha1), in file order,
    each parsed by :func:`parse_row` (landmarks float32 ``(68, 2)`` ``(x, y)`` pixels). Blank lines are
    skipped; ``errors`` as in :func:`iter_landmarks_csv`.

    Raises:
        ValueError: the header or a row does not follow the format (names file and line).
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8", errors=errors) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header not in HEADERS:
            raise InvalidInput(f"{path}: not a landmarks.csv (header must start image,face,left,top,...)")
        width = len(header)
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise InvalidInput(f"{path}:{reader.line_num}: {len(row)} columns, expected {width}")
            try:
                record = parse_row(row, header)
            except ValueError:
                raise InvalidInput(f"{path}:{reader.line_num}: non-numeric value") from None
            yield record


def read_landmarks_csv(path: str | os.PathLike) -> dict[str, list[Face]]:
    """Read a ``landmarks.csv``; returns image -> faces in file order (largest first).

    Raises:
        ValueError: the header or a row does not follow the format (names file and line).
    """
    return read_landmarks_table(path)[0]


def read_landmarks_table(path: str | os.PathLike) -> tuple[dict[str, list[Face]], dict[str, tuple[int, int]],
                                                          dict[str, str]]:
    """Read a ``landmarks.csv`` in one pass: image -> faces (as :func:`read_landmarks_csv`),
    image -> ``(width, height)`` pixels and image -> hex SHA-1 of the file, where the file records
    them (files before those columns: none).

    Raises:
        ValueError: the header or a row does not follow the format (names file and line).
    """
    faces: dict[str, list[Face]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    digests: dict[str, str] = {}
    for row in iter_records(path):
        faces.setdefault(row.image, []).append(row.face)
        if row.size is not None:
            sizes[row.image] = row.size
        if row.sha1:
            digests[row.image] = row.sha1
    return faces, sizes, digests
