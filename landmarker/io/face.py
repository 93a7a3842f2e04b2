"""A face found in an image: its box, detector score, 68 landmarks and fit score; box geometry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Face:
    """One face found in an image.

    Attributes:
        box: ``(left, top, right, bottom)`` in image pixels.
        score: the detector's score (higher is surer; ``nan`` for given boxes).
        landmarks: float32 ``(68, 2)``, ``(x, y)`` image pixels, iBUG 300-W order.
        fit: the fit score, % of the inter-ocular distance: mean distance between the
            landmarks predicted on the face crop and on its mirror image (lower is a
            surer fit; ``nan`` unless predicted with ``flip_average``).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    fit: float = float("nan")


def box_iou(a, b) -> float:
    """Intersection over union of two ``(left, top, right, bottom)`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def visible_area(box, size) -> float:
    """The area of the part of a ``(left, top, right, bottom)`` box (pixels) inside an image of ``size``
    ``(width, height)`` pixels: how faces are ordered, largest first (a face cut off by the frame counts
    only what the photo shows of it). 0 for a box outside the image."""
    w = min(float(box[2]), size[0]) - max(float(box[0]), 0.0)
    h = min(float(box[3]), size[1]) - max(float(box[1]), 0.0)
    return max(0.0, w) * max(0.0, h)


def inside_photo(landmarks, size, tolerance: float = 1.0) -> bool:
    """Whether every one of the float ``(68, 2)`` ``(x, y)`` pixel ``landmarks`` lies inside an image of
    ``size`` ``(width, height)`` pixels, give or take ``tolerance`` pixels: a face that a face tool can
    warp without stretching the photo's edge pixels into it."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return bool((pts >= -tolerance).all() and (pts[:, 0] <= size[0] - 1 + tolerance).all()
                and (pts[:, 1] <= size[1] - 1 + tolerance).all())


def scaled_faces(faces, k: float) -> list[Face]:
    """``faces`` (:class:`Face` or objects with ``box``, ``score``, ``landmarks``, ``fit``) in the pixels of
    their image resized ``k`` times (``k`` 2: twice as large): box edges times ``k``, points by pixel
    centres, ``(x + 0.5) * k - 0.5`` (landmarks float32 ``(68, 2)``)."""
    if k == 1:
        return list(faces)
    return [Face(tuple(float(v) * k for v in f.box), f.score,
                 ((np.asarray(f.landmarks, np.float64) + 0.5) * k - 0.5).astype(np.float32),
                 getattr(f, "fit", float("nan"))) for f in faces]
