"""Face boxes given by the user (``landmarker predict --boxes FILE``) instead of a detector.

The file is a CSV with a header holding at least the columns
``image,left,top,right,bottom`` (any order, other columns ignored), one row per
face box in pixels; an image may have several rows. ``image`` names an image the
way ``landmarks.csv`` does (the path relative to the folder given, POSIX
separators) or by its file name alone when that is unique.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from morphkit.errors import InvalidInput

Box = tuple[float, float, float, float]
COLUMNS = ("image", "left", "top", "right", "bottom")


def read_boxes_csv(path: str | os.PathLike) -> dict[str, list[Box]]:
    """Read a boxes file; returns image (as written) -> boxes ``(left, top, right, bottom)`` in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a CSV with the columns above, a non-numeric or non-finite
            coordinate, or a box without area (the message names the file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such boxes file")
    boxes: dict[str, list[Box]] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise InvalidInput(f"{path}: boxes file lacks column(s) {', '.join(missing)} "
                                   f"(needs {','.join(COLUMNS)})")
            reader.fieldnames = header
            for row in reader:
                line = reader.line_num
                name = (row.get("image") or "").strip()
                if not name:
                    raise InvalidInput(f"{path}:{line}: empty image name")
                try:
                    box = tuple(float(row[c]) for c in COLUMNS[1:])
                except (TypeError, ValueError):
                    raise InvalidInput(f"{path}:{line}: non-numeric box coordinate") from None
                if not all(math.isfinite(v) for v in box):
                    raise InvalidInput(f"{path}:{line}: non-finite box coordinate")
                if not (box[2] > box[0] and box[3] > box[1]):
                    raise InvalidInput(f"{path}:{line}: box {box} has no area (needs right > left, bottom > top)")
                boxes.setdefault(name, []).append(box)
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not a text CSV file") from None
    except csv.Error as err:
        raise InvalidInput(f"{path}: not a readable CSV ({err})") from err
    if not boxes:
        raise InvalidInput(f"{path}: no boxes in the file")
    return boxes


def write_boxes_csv(path: str | os.PathLike, rows) -> None:
    """Write a boxes file that :func:`read_boxes_csv` reads.

    Args:
        path: the file to write (UTF-8, header ``image,left,top,right,bottom``).
        rows: ``(image, left, top, right, bottom)`` tuples, coordinates in pixels,
            written with 3 decimals.

    Raises:
        OSError: the file cannot be written.
    """
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows([image, *(f"{float(v):.3f}" for v in box)] for image, *box in rows)


def match_boxes(
    path: str | os.PathLike, boxes: dict[str, list[Box]], images: list[tuple[Path, str]]
) -> dict[str, list[Box]]:
    """Attach the boxes of a boxes file to the images found (:func:`landmarker.io.files.find_images`).

    A box's ``image`` matches, in this order: an image's name (its path relative
    to the folder given; ``\\`` read as ``/``); the same file on disk (an absolute
    path or one relative to the working folder); a bare file name that exactly
    one image has.

    Args:
        path: the boxes file (for messages).
        boxes: :func:`read_boxes_csv`'s result.
        images: ``(path, name)`` pairs of the images found.

    Returns:
        name -> boxes, for the images that have boxes.

    Raises:
        ValueError: an ``image`` matches no image found, or several by file name.
    """
    from landmarker.io.names import NameIndex

    index = NameIndex(images)
    out: dict[str, list[Box]] = {}
    for given, bxs in boxes.items():
        name = index.find(given, where=str(path))
        if name is None:
            raise InvalidInput(f"{path}: unknown image {given!r} (not among the images given)")
        out.setdefault(name, []).extend(bxs)
    return out
