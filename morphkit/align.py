"""Similarity alignment of faces into a :class:`~morphkit.frame.CanonicalFrame`.

A face is rotated, scaled and translated (a similarity transform, no shear) so that its
two eye centres - the means of landmarks 36-41 and 42-47 - land exactly on the frame's
eye positions. The transform is the exact two-point similarity of
:func:`morphkit.procrustes.fit_similarity` (the project's one similarity estimator), applied
to the image with ``cv2.warpAffine`` and to the landmarks directly.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import check_image, check_landmark_stack, check_landmarks
from .errors import InvalidInput
from .frame import CanonicalFrame
from .ibug68 import eye_centres
from .procrustes import fit_similarity
from .warp import border_mode

#: Below this scale factor an image is first shrunk with ``cv2.INTER_AREA`` (anti-aliased),
#: so the bilinear warp never minifies by more than this.
_MIN_DIRECT_SCALE = 0.8


def _check_frame(frame) -> CanonicalFrame:
    if not isinstance(frame, CanonicalFrame):
        raise InvalidInput(f"frame must be a CanonicalFrame, got {type(frame).__name__}")
    return frame


def similarity_to_frame(landmarks, frame: CanonicalFrame = CanonicalFrame()) -> np.ndarray:
    """The similarity transform taking one face's eye centres onto the frame's eye positions.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixel coordinates in the source image.
        frame: the canonical frame.

    Returns:
        float64 ``(3, 3)`` homogeneous matrix mapping source pixels to frame pixels.

    Raises:
        ValueError: bad landmarks (shape, NaN), or the two eye centres coincide.
    """
    lm = check_landmarks(landmarks)
    frame = _check_frame(frame)
    eyes = eye_centres(lm)
    if np.linalg.norm(eyes[1] - eyes[0]) < 1e-6:
        raise InvalidInput("cannot align face: the two eye centres (points 36-41 and 42-47) coincide")
    _, matrix = fit_similarity(eyes, frame.eyes)
    return matrix


def transform_points(points, matrix) -> np.ndarray:
    """Apply a ``(3, 3)`` or ``(2, 3)`` affine matrix to ``(..., 2)`` points; float64."""
    m = np.asarray(matrix, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    return pts @ m[:2, :2].T + m[:2, 2]


def align_landmarks(landmarks, frame: CanonicalFrame = CanonicalFrame()) -> np.ndarray:
    """Landmarks moved into the canonical frame, without touching any image.

    Args:
        landmarks: ``(68, 2)`` for one face or ``(n, 68, 2)`` for many, source pixels.
        frame: the canonical frame.

    Returns:
        float32 array of the same shape, in frame pixels; each face's eye centres sit
        on ``frame.eye_left`` / ``frame.eye_right``.

    Raises:
        ValueError: bad shape, NaN coordinates, coincident eye centres.
    """
    arr = np.asarray(landmarks)
    if arr.ndim == 2:
        lm = check_landmarks(arr)
        return transform_points(lm, similarity_to_frame(lm, frame)).astype(np.float32)
    stack = check_landmark_stack(arr)
    return np.stack([transform_points(lm, similarity_to_frame(lm, frame)) for lm in stack]).astype(np.float32)


def prescale(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrink ``image`` with area averaging when ``matrix`` minifies it strongly.

    Returns the (possibly) smaller image and the matrix that maps ITS pixels to the
    same destination, so a following bilinear warp does not alias.
    """
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(matrix)[:2, :2]))))
    if scale >= _MIN_DIRECT_SCALE:
        return image, matrix
    h, w = image.shape[:2]
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    fx, fy = nw / w, nh / h
    # Pixel-centre mapping of cv2.resize: x_small = (x + 0.5) * fx - 0.5.
    to_small = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]])
    return small, np.asarray(matrix, dtype=np.float64) @ np.linalg.inv(to_small)


def align_face(image: np.ndarray, landmarks, frame: CanonicalFrame = CanonicalFrame()
               ) -> tuple[np.ndarray, np.ndarray]:
    """Align one face into the canonical frame with a similarity transform.

    The transform puts the eye centres (means of points 36-41 and 42-47) on
    ``frame.eye_left`` and ``frame.eye_right``; image and landmarks are moved together.
    Strong minification is done with area averaging first (no aliasing); pixels beyond
    the photo's edge follow ``frame.border``.

    Args:
        image: uint8 ``(H, W, 3)`` RGB.
        landmarks: ``(68, 2)`` ``(x, y)`` pixel coordinates in ``image``, iBUG 300-W order.
        frame: output geometry (default 450 x 550).

    Returns:
        ``(aligned, aligned_landmarks)``: uint8 ``(frame.height, frame.width, 3)`` and
        float32 ``(68, 2)`` in frame pixels.

    Raises:
        ValueError: image not uint8 ``(H, W, 3)``, landmarks not a finite ``(68, 2)``
            array, coincident eye centres, or ``frame`` not a CanonicalFrame.
    """
    image = check_image(image)
    lm = check_landmarks(landmarks)
    frame = _check_frame(frame)
    matrix = similarity_to_frame(lm, frame)
    src, m = prescale(image, matrix)
    aligned = cv2.warpAffine(
        src, m[:2], frame.size, flags=cv2.INTER_LINEAR,
        borderMode=border_mode(frame.border), borderValue=tuple(int(c) for c in frame.fill),
    )
    return aligned, transform_points(lm, matrix).astype(np.float32)
