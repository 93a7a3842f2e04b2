"""Drawing faces and landmarks on images, for checking predictions by eye."""

from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image

from landmarker.io.atomic import atomic_write
from morphkit.ibug68 import CONTOURS

#: RGB colour of each kind of contour (:data:`morphkit.ibug68.CONTOURS`).
COLOURS = {"jaw": (255, 210, 0), "brow": (255, 120, 0), "nose": (0, 200, 255), "eye": (0, 255, 90),
           "mouth": (255, 60, 160)}


def _colour(contour: str) -> tuple[int, int, int]:
    return next(c for kind, c in COLOURS.items() if kind in contour)


def draw_faces(image: np.ndarray, faces) -> np.ndarray:
    """A copy of an RGB uint8 ``(H, W, 3)`` image with each face's box and 68 landmarks drawn.

    ``faces`` are objects with ``box`` ``(l, t, r, b)`` and ``landmarks`` ``(68, 2)``.
    Line widths scale with the face size.
    """
    out = np.ascontiguousarray(image.copy())
    for face in faces:
        l, t, r, b = face.box
        size = max(r - l, b - t)
        thick = max(1, int(round(size / 150)))
        cv2.rectangle(out, (int(l), int(t)), (int(r), int(b)), (255, 255, 255), thick, cv2.LINE_AA)
        pts = np.asarray(face.landmarks, dtype=np.float64)
        for name, idx, closed in CONTOURS:
            poly = np.round(pts[idx] * 16).astype(np.int32)
            cv2.polylines(out, [poly], closed, _colour(name), thick, cv2.LINE_AA, shift=4)
        radius = max(1, int(round(size / 100)))
        for x, y in pts:
            cv2.circle(out, (int(round(x * 16)), int(round(y * 16))), radius * 16, (255, 0, 0), -1, cv2.LINE_AA,
                       shift=4)
    return out


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write an RGB uint8 image as PNG through a temporary file and a rename (never half-written)."""
    with atomic_write(path, "wb") as fh:
        Image.fromarray(image).save(fh, format="PNG")
