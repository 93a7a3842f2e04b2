"""Writing 68-point labels in the formats other tools read: 300-W ``.pts``, Psychomorph/WebMorph
``.tem`` and COCO keypoints JSON (dlib XML is :mod:`landmarker.io.dlib_xml`).

Each writer is the inverse of our reader where we have one (:func:`landmarker.io.datasets.read_pts`,
:func:`~landmarker.io.datasets.read_tem` and :func:`~landmarker.io.datasets.tem_landmarks`): a
round trip gives the points back to the 0.001 px written. Landmarks are float ``(68, 2)`` ``(x, y)``
0-based pixels of the image, iBUG 300-W order (:mod:`morphkit.ibug68`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from morphkit.errors import InvalidInput
from morphkit.ibug68 import CONTOURS, N_POINTS, POINT_NAMES


def _points(landmarks) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (N_POINTS, 2) or not np.all(np.isfinite(pts)):
        raise InvalidInput(f"landmarks must be {N_POINTS} finite (x, y) points, got shape {pts.shape}")
    return pts


def _num(v: float) -> str:
    """A coordinate to 0.001 px, without trailing zeros (``12.5``, ``-3``)."""
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def pts_text(landmarks) -> str:
    """The 300-W ``.pts`` file of one face: ``version: 1``, ``n_points: 68``, then ``{`` 68 ``x y``
    lines in 1-based pixels (300-W's convention: :func:`~landmarker.io.datasets.read_pts` subtracts 1) ``}``.

    Raises:
        InvalidInput: landmarks that are not 68 finite points.
    """
    pts = _points(landmarks) + 1.0
    lines = [f"{_num(x)} {_num(y)}" for x, y in pts]
    return "version: 1\nn_points: 68\n{\n" + "\n".join(lines) + "\n}\n"


def tem_lines() -> list[list[int]]:
    """The contours of :data:`morphkit.ibug68.CONTOURS` as ``.tem`` lines: point indices (0-based), a
    closed contour (an eye, the lips) with its first point repeated at its end, as WebMorph draws them."""
    lines = []
    for _, points, closed in CONTOURS:
        idx = list(range(N_POINTS)[points])
        lines.append(idx + idx[:1] if closed else idx)
    return lines


def tem_text(landmarks) -> str:
    """The Psychomorph/WebMorph ``.tem`` template of one face: the point count (68), one ``x y`` line per
    point (0-based pixels, iBUG order), the number of lines, then per line three lines: ``0`` (its
    type), its point count and its point indices (:func:`tem_lines`).

    Raises:
        InvalidInput: landmarks that are not 68 finite points.
    """
    pts = _points(landmarks)
    out = [str(N_POINTS), *(f"{_num(x)}\t{_num(y)}" for x, y in pts)]
    lines = tem_lines()
    out.append(str(len(lines)))
    for line in lines:
        out += ["0", str(len(line)), " ".join(map(str, line))]
    return "\n".join(out) + "\n"


def coco_category() -> dict:
    """The COCO keypoints category of a 68-point face: ``id`` 1, ``keypoints`` the point names
    (:data:`morphkit.ibug68.POINT_NAMES`) and ``skeleton`` the contours' segments as pairs of
    1-based keypoint numbers (COCO's convention)."""
    skeleton = [[a + 1, b + 1] for line in tem_lines() for a, b in zip(line, line[1:])]
    return {"id": 1, "name": "face", "supercategory": "person", "keypoints": list(POINT_NAMES),
            "skeleton": skeleton}


def coco_keypoints(
    images: Iterable[tuple[str, tuple[int, int] | None, Sequence[tuple[Sequence[float], np.ndarray, dict]]]],
    description: str = "",
) -> dict:
    """A COCO keypoints dataset (``info``, ``images``, ``annotations``, ``categories``) of faces.

    Args:
        images: ``(file name, (width, height) pixels or None, faces)``; each face is ``(box (left, top,
            right, bottom) pixels, landmarks (68, 2) pixels, extra)`` with ``extra`` a dict of fields
            added to its annotation (e.g. ``{"reviewed": True}``). Images without a face are listed too.
        description: ``info.description``.

    Returns:
        The dataset as a dict (``json.dump`` it): ids count from 1; each annotation has ``keypoints``
        ``[x, y, 2] * 68`` (2: labelled and visible; 0-based pixels, to 0.001), ``num_keypoints`` 68,
        ``bbox`` ``[x, y, width, height]`` and ``area`` its area, ``iscrowd`` 0, ``category_id`` 1.

    Raises:
        InvalidInput: landmarks that are not 68 finite points.
    """
    out_images, annotations = [], []
    for image_id, (name, size, faces) in enumerate(images, start=1):
        w, h = size if size else (None, None)
        out_images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for box, landmarks, extra in faces:
            pts = _points(landmarks)
            left, top, right, bottom = (round(float(v), 3) for v in box)
            keypoints = [v for x, y in pts for v in (round(float(x), 3), round(float(y), 3), 2)]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "keypoints": keypoints, "num_keypoints": N_POINTS,
                                "bbox": [left, top, round(right - left, 3), round(bottom - top, 3)],
                                "area": round((right - left) * (bottom - top), 3), "iscrowd": 0, **extra})
    return {"info": {"description": description}, "images": out_images, "annotations": annotations,
            "categories": [coco_category()]}
