"""Drawing faces and landmarks on images, for checking predictions by eye.

An overlay (``bulk-label --overlay``, ``landmarker predict --overlay``, redrawn after a save in
``morphkit review``) is a JPEG of the photo reduced to at most :data:`OVERLAY_SIDE` pixels on its
long side (never enlarged), with each face's box, contours and 68 points drawn in marks whose size
is a fixed share of the face (:func:`mark_sizes`): the points of a 60 px face stay apart, those of a
600 px face stay visible. One implementation for every command: :func:`save_overlay` (an image in
memory) and :func:`write_overlay` (a file, decoded reduced).
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image

from landmarker.io.atomic import atomic_write
from landmarker.io.face import scaled_faces
from morphkit.ibug68 import CONTOURS

#: RGB colour of each kind of contour (:data:`morphkit.ibug68.CONTOURS`).
COLOURS = {"jaw": (255, 210, 0), "brow": (255, 120, 0), "nose": (0, 200, 255), "eye": (0, 255, 90),
           "mouth": (255, 60, 160)}
#: Default longest side of an overlay, pixels (``bulk-label --overlay-size`` for more).
OVERLAY_SIDE = 1024
#: JPEG quality of overlays.
OVERLAY_QUALITY = 85
#: What an overlay's name adds to its image's (:func:`landmarker.inference.labelling.overlay_path`).
OVERLAY_SUFFIX = ".jpg"
#: Point radius and line width as shares of a face's size (the larger side of its box).
POINT_SHARE, LINE_SHARE = 1 / 110, 1 / 220
_SHIFT = 4  # sub-pixel bits for cv2's drawing


def _colour(contour: str) -> tuple[int, int, int]:
    return next(c for kind, c in COLOURS.items() if kind in contour)


def mark_sizes(face_size: float) -> tuple[float, float]:
    """``(point radius, line width)`` in pixels for a face whose box's larger side is ``face_size`` pixels:
    :data:`POINT_SHARE` and :data:`LINE_SHARE` of it (fractions of a pixel for small faces)."""
    return face_size * POINT_SHARE, face_size * LINE_SHARE


def draw_faces(image: np.ndarray, faces) -> np.ndarray:
    """A copy of an RGB uint8 ``(H, W, 3)`` image with each face's box, contours and 68 landmarks drawn.

    Args:
        image: the picture the faces' pixels refer to.
        faces: objects with ``box`` ``(l, t, r, b)`` and ``landmarks`` float ``(68, 2)`` ``(x, y)``
            pixels of ``image``.

    Marks scale with the face (:func:`mark_sizes`): a line narrower than a pixel is drawn one pixel
    wide at that share of opacity, a point of radius under a pixel one pixel in radius at the opacity
    that keeps its area (``radius**2``), so a small face's points stay apart and its marks cover the
    same share of it as a large face's.
    """
    out = np.ascontiguousarray(image.copy())
    one = 1 << _SHIFT
    h, w = out.shape[:2]
    for face in faces:
        l, t, r, b = (float(v) for v in face.box)
        radius, width = mark_sizes(max(r - l, b - t))
        pts = np.asarray(face.landmarks, dtype=np.float64)
        pts = pts[np.isfinite(pts).all(axis=1)]
        reach = max(radius, width) + 3  # the part of the image the face's marks can touch
        xy = np.vstack([pts, [[l, t], [r, b]]])
        x0, y0 = (max(0, int(np.floor(v - reach))) for v in xy.min(axis=0))
        x1, y1 = (min(n, int(np.ceil(v + reach))) for v, n in zip(xy.max(axis=0), (w, h)))
        if x1 <= x0 or y1 <= y0:
            continue
        roi = out[y0:y1, x0:x1]
        shift = np.array([x0, y0], np.float64)

        def fixed(xy, shift=shift):
            return np.round((np.asarray(xy, np.float64) - shift) * one).astype(np.int32)

        layer = roi.copy()  # lines: drawn max(1, width) px wide, blended at min(1, width) opacity
        thick = max(1, int(round(width)))
        cv2.polylines(layer, [fixed([[l, t], [r, t], [r, b], [l, b]])], True, (255, 255, 255), thick, cv2.LINE_AA,
                      shift=_SHIFT)
        full = np.asarray(face.landmarks, dtype=np.float64)
        for name, idx, closed in CONTOURS:
            poly = full[idx]
            if np.isfinite(poly).all():
                cv2.polylines(layer, [fixed(poly)], closed, _colour(name), thick, cv2.LINE_AA, shift=_SHIFT)
        cv2.addWeighted(layer, min(1.0, width), roi, 1 - min(1.0, width), 0, dst=roi)
        layer = roi.copy()  # points: radius max(1, radius), at the opacity that keeps their area
        r16 = int(round(max(1.0, radius) * one))
        for x, y in fixed(pts):
            cv2.circle(layer, (int(x), int(y)), r16, (255, 0, 0), -1, cv2.LINE_AA, shift=_SHIFT)
        alpha = min(1.0, radius * radius)
        cv2.addWeighted(layer, alpha, roi, 1 - alpha, 0, dst=roi)
    return out


def render_overlay(image: np.ndarray, faces, max_side: int = OVERLAY_SIDE) -> np.ndarray:
    """The overlay of ``faces`` on ``image`` (RGB uint8 ``(H, W, 3)``; faces in its pixels): the image
    reduced (area averaging) so that its long side is at most ``max_side`` pixels, the faces drawn on
    it (:func:`draw_faces`). Returns RGB uint8.

    Raises:
        ValueError: ``max_side`` under 16.
    """
    w = image.shape[1]
    image = overlay_base(image, max_side)
    if image.shape[1] != w:
        faces = scaled_faces(faces, image.shape[1] / w)
    return draw_faces(image, faces)


def overlay_base(image: np.ndarray, max_side: int = OVERLAY_SIDE) -> np.ndarray:
    """The image an overlay is drawn on: ``image`` (uint8 ``(H, W, 3)``) reduced by area averaging so that
    its long side is at most ``max_side`` pixels (never enlarged; the same array when it fits).

    Raises:
        ValueError: ``max_side`` under 16.
    """
    if max_side < 16:
        raise ValueError(f"overlay size {max_side}: give 16 px or more")
    h, w = image.shape[:2]
    k = min(1.0, max_side / max(h, w))
    if k == 1:
        return image
    return cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)


def save_jpeg(image: np.ndarray, path: str | os.PathLike, quality: int = OVERLAY_QUALITY) -> None:
    """Write an RGB uint8 image as JPEG (OpenCV's libjpeg-turbo encoder, 3x Pillow's speed on a 225 x 275
    overlay) through a temporary file and a rename: never half-written, but not fsync'ed, since an
    overlay is made again from its photo at will (a resumed ``bulk-label`` redraws a missing or empty one).

    Raises:
        OSError: the file cannot be written.
    """
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image  # not image[..., ::-1]: 10x slower
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the overlay as JPEG")
    with atomic_write(path, "wb", fsync=False) as fh:
        fh.write(data.tobytes())


def save_overlay(image: np.ndarray, faces, path: str | os.PathLike, max_side: int = OVERLAY_SIDE) -> None:
    """Write the overlay of ``faces`` on ``image`` (:func:`render_overlay`) as JPEG to ``path``
    (atomically; folders made).

    Raises:
        OSError: the file cannot be written.
    """
    save_jpeg(render_overlay(image, faces, max_side), path)


def write_overlay(photo: str | os.PathLike, faces, path: str | os.PathLike, max_side: int = OVERLAY_SIDE) -> None:
    """Write the overlay of the image file ``photo`` with ``faces`` (in pixels of the full, upright photo)
    to ``path``: the photo is decoded reduced where it is a large JPEG (no coarser than ``max_side``
    needs, :func:`landmarker.io.decode.read_image_reduced`), then :func:`save_overlay`.

    Raises:
        ImageDecodeError: the photo cannot be decoded.
        OSError: the overlay cannot be written.
    """
    from landmarker.io.decode import read_image_reduced

    image, scale, _ = read_image_reduced(photo, draft_pixels=0, min_side=max_side)
    save_overlay(image, scaled_faces(faces, 1 / scale), path, max_side)


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write an RGB(A) uint8 image as PNG through a temporary file and a rename (never half-written).

    zlib level 3, not Pillow's 6: a 450 x 550 mean face takes 28 ms instead of 67 and 16% more bytes.
    """
    with atomic_write(path, "wb") as fh:
        Image.fromarray(image).save(fh, format="PNG", compress_level=3)
