"""The crop rule: from a face box to the square network input, and back.

Face box to crop (measured on 484 ytf68 frames with dlib's HOG detector, see the
model card): the landmarks' centre lies 0.10 box widths below the box centre and
their extent is about 0.95 box widths, with 99% of points within 0.84 box widths
of the box centre. The crop is therefore a square of side ``CROP_SCALE`` (1.6)
box widths, centred ``CROP_SHIFT_Y`` (0.10) box widths below the box centre.

When the detector finds no face for a labelled face (training only), a box is
made from the landmarks' extent with the same ratios inverted
(:func:`box_from_landmarks`), so both kinds of box give the same crops.

Coordinates follow OpenCV: pixel centres sit at integer coordinates, so the
centre of an ``N``-pixel crop is ``(N - 1) / 2``. Network targets are offsets
from the crop centre divided by the crop side: ``t = (p - (N - 1) / 2) / N``,
about ``[-0.5, 0.5]`` for points inside the crop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from morphkit.errors import InvalidInput

if TYPE_CHECKING:
    from landmarker.io.datasets import FaceSample

CROP_SCALE = 1.6
CROP_SHIFT_Y = 0.10
# Landmark extent (mean of width and height) in HOG box widths, median over ytf68.
EXTENT_PER_BOX = 0.94

def box_from_landmarks(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """A detector-like face box ``(left, top, right, bottom)`` from ``(68, 2)`` landmarks.

    Inverts the measured relation between dlib HOG boxes and landmark extents, so
    a face the detector missed is cropped as if it had been found.
    """
    lo, hi = np.nanmin(landmarks, axis=0), np.nanmax(landmarks, axis=0)  # nan: points a template lacks
    extent = float((hi - lo).mean())
    side = extent / EXTENT_PER_BOX
    cx = float((lo[0] + hi[0]) / 2)
    cy = float((lo[1] + hi[1]) / 2) - CROP_SHIFT_Y * side
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def crop_square(box, scale: float = CROP_SCALE, shift_y: float = CROP_SHIFT_Y) -> tuple[float, float, float]:
    """The crop square of a face box: ``(cx, cy, side)`` in image pixels.

    The side is ``scale`` times the box's mean of width and height; the centre is
    ``shift_y`` sides-of-box below the box centre.
    """
    l, t, r, b = box
    size = ((r - l) + (b - t)) / 2.0
    return (l + r) / 2.0 - 0.5, (t + b) / 2.0 - 0.5 + shift_y * size, scale * size


def crop_matrix(
    cx: float, cy: float, side: float, out_size: int, angle_deg: float = 0.0, flip: bool = False
) -> np.ndarray:
    """The 2x3 affine matrix from image pixels to crop pixels.

    Maps the point ``(cx, cy)`` to the crop centre ``((N-1)/2, (N-1)/2)``, scales
    ``side`` image pixels to ``N = out_size`` crop pixels, rotates the content by
    ``angle_deg`` (counter-clockwise on screen) and, with ``flip``, mirrors it
    left-right.

    Returns:
        float64 ``(2, 3)`` matrix for ``cv2.warpAffine``.
    """
    k = out_size / side
    a = np.deg2rad(angle_deg)
    cos, sin = np.cos(a) * k, np.sin(a) * k
    c = (out_size - 1) / 2.0
    # Rotation about the crop centre; image y points down, so this turns content counter-clockwise.
    m = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    m[:, 2] = c - m[:, :2] @ np.array([cx, cy])
    if flip:
        m[0] = -m[0]
        m[0, 2] += out_size - 1
    return m


def apply_affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to ``(..., 2)`` points; returns float32 of the same shape."""
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def invert_affine(m: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix."""
    return cv2.invertAffineTransform(np.asarray(m, dtype=np.float64))


def warp_crop(image: np.ndarray, m: np.ndarray, out_size: int) -> np.ndarray:
    """Warp an image into the ``(N, N)`` grayscale crop of matrix ``m`` (``N = out_size``).

    Only the crop's footprint in the image is read: that region (plus a margin for
    the filters) is cut out, converted to grayscale (an RGB image; ITU-R BT.601 luma,
    as :func:`landmarker.io.decode.to_gray`), area-averaged by an integer factor when
    the crop shrinks the image by more than 2x (so small crops of large photos do
    not alias; at the photo's right and bottom edge a last partial block is filled by
    replicating the edge), and warped with bilinear interpolation. Borders replicate the
    image's edge pixels. The cost follows the face, not the photo: on a 2-core AMD EPYC
    a crop of a 1350 x 1800 portrait's face takes 1.4 ms (6.9 ms reducing the whole photo).

    Args:
        image: uint8 ``(H, W)`` grayscale or ``(H, W, 3)`` RGB image.
        m: float ``(2, 3)`` affine matrix from image pixels to crop pixels (:func:`crop_matrix`).
        out_size: the crop's side ``N`` in pixels.

    Returns:
        uint8 ``(N, N)`` grayscale crop.
    """
    m = np.asarray(m, np.float64)
    h, w = image.shape[:2]
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    f = int(1.0 / scale) if scale < 0.5 else 1
    # the footprint: the crop's corners (one pixel beyond) in image pixels, plus the filters' support
    corners = np.array([[-1.0, -1.0], [out_size, -1.0], [-1.0, out_size], [out_size, out_size]])
    foot = apply_affine(corners, invert_affine(m))
    pad = 2 * f + 1
    x0 = int(np.clip(np.floor(foot[:, 0].min()) - pad, 0, w - 1))
    y0 = int(np.clip(np.floor(foot[:, 1].min()) - pad, 0, h - 1))
    x0, y0 = x0 - x0 % f, y0 - y0 % f  # the area blocks on the image's grid
    x1 = int(np.clip(np.ceil(foot[:, 0].max()) + pad + 1, x0 + 1, w))
    y1 = int(np.clip(np.ceil(foot[:, 1].max()) + pad + 1, y0 + 1, h))
    x1, y1 = min(w, x0 + -(-(x1 - x0) // f) * f), min(h, y0 + -(-(y1 - y0) // f) * f)  # whole blocks
    region = image[y0:y1, x0:x1]
    if region.ndim == 3:
        region = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)
    m = m.copy()
    m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)  # region pixels -> crop pixels
    if f > 1:
        rh, rw = region.shape
        if rh % f or rw % f:  # a region cut by the photo's edge: replicate the edge to whole blocks
            region = cv2.copyMakeBorder(region, 0, -rh % f, 0, -rw % f, cv2.BORDER_REPLICATE)
        # an integer factor takes OpenCV's fast area path (11x: 0.4 ms for a 1100 px region, not 3.8)
        small = cv2.resize(region, (region.shape[1] // f, region.shape[0] // f), interpolation=cv2.INTER_AREA)
        # pixel (u, v) of the small image sits at (f*u + (f-1)/2, f*v + (f-1)/2) of the region
        pre = np.array([[f, 0.0, (f - 1) / 2], [0.0, f, (f - 1) / 2], [0.0, 0.0, 1.0]])
        m, region = m @ pre, small
    return cv2.warpAffine(
        region, m, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def face_crop(image: np.ndarray, box, out_size: int, scale: float = CROP_SCALE,
              shift_y: float = CROP_SHIFT_Y) -> tuple[np.ndarray, np.ndarray]:
    """The network's grayscale crop of one face: uint8 ``(out_size, out_size)`` and its 2x3 matrix
    (image -> crop px).

    Args:
        image: uint8 ``(H, W)`` grayscale or ``(H, W, 3)`` RGB image (:func:`warp_crop`).
        box: the face box ``(left, top, right, bottom)`` in pixels.
        out_size: the crop's side in pixels (the model card's ``img_size``).
        scale, shift_y: the crop rule (:func:`crop_square`; the model card's).

    Raises:
        ValueError: a box without area.
    """
    cx, cy, side = crop_square(box, scale, shift_y)
    if not side > 0:
        raise InvalidInput(f"face box {tuple(box)} has no area")
    m = crop_matrix(cx, cy, side, out_size)
    return warp_crop(image, m, out_size), m


def to_targets(crop_points: np.ndarray, out_size: int) -> np.ndarray:
    """Crop pixels ``(..., 68, 2)`` to network targets: offsets from the crop centre over the side."""
    return (crop_points - (out_size - 1) / 2.0) / out_size


def from_targets(targets: np.ndarray, out_size: int) -> np.ndarray:
    """Network outputs ``(..., 68, 2)`` back to crop pixels (inverse of :func:`to_targets`)."""
    return targets * out_size + (out_size - 1) / 2.0


def normalise(crop: np.ndarray) -> np.ndarray:
    """uint8 crop to float32 in ``[-1, 1]``."""
    return crop.astype(np.float32) * (2.0 / 255.0) - 1.0


MATCH_IOU = 0.3  # a detector box is a labelled face's box when their IoU exceeds this


def face_box_for(sample: FaceSample, detections) -> tuple[tuple[float, float, float, float], str]:
    """The face box of a labelled face (training, evaluation) and where it came from.

    Args:
        sample: a :class:`landmarker.io.datasets.FaceSample` (``landmarks``, ``box``).
        detections: the detector's :class:`landmarker.inference.detect.Detection` list for its image.

    Returns:
        ``(box, source)``: ``(left, top, right, bottom)`` pixels, and ``detector``,
        ``dataset`` or ``landmarks``.

    The detector's box with the highest IoU (> 0.3) against the landmark-derived
    box wins; else the dataset's own box; else the landmark-derived box.
    """
    from landmarker.io.face import box_iou

    lm_box = box_from_landmarks(sample.landmarks)
    best, best_iou = None, MATCH_IOU
    for det in detections:
        iou = box_iou(det.box, lm_box)
        if iou > best_iou:
            best, best_iou = det, iou
    if best is not None:
        return best.box, "detector"
    if sample.box is not None:
        return sample.box, "dataset"
    return lm_box, "landmarks"
