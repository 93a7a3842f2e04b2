"""The iBUG 300-W 68-point markup: regions, mirror permutation, eye corners, drawing connectivity.

The one place that knows which index is which (Sagonas et al., 300 Faces in-the-Wild
Challenge, ICCV-W 2013; the markup dlib's 68-point predictor follows). "Left" and
"right" are the image's: the image-left eye (36-41) is the subject's right eye.
Numpy only, so both morphkit and the landmarker use it.
"""

from __future__ import annotations

import numpy as np

N_POINTS = 68

JAW = slice(0, 17)
LEFT_BROW = slice(17, 22)  # image-left
RIGHT_BROW = slice(22, 27)
BROWS = slice(17, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_BASE = slice(31, 36)
LEFT_EYE = slice(36, 42)  # image-left (the subject's right eye)
RIGHT_EYE = slice(42, 48)
OUTER_MOUTH = slice(48, 60)
INNER_MOUTH = slice(60, 68)

#: Outer eye corners, whose distance is the inter-ocular distance (IOD) of 300-W's NME.
OUTER_EYE_CORNERS = (36, 45)

#: ``(name, points, closed)`` of each drawn contour, in index order (``closed``: a loop).
CONTOURS = (
    ("jaw", JAW, False),
    ("left brow", LEFT_BROW, False),
    ("right brow", RIGHT_BROW, False),
    ("nose bridge", NOSE_BRIDGE, False),
    ("nose base", NOSE_BASE, False),
    ("left eye", LEFT_EYE, True),
    ("right eye", RIGHT_EYE, True),
    ("outer mouth", OUTER_MOUTH, True),
    ("inner mouth", INNER_MOUTH, True),
)

#: Points of each region, for per-region figures: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
           "mouth": range(48, 68)}

#: ``MIRROR[i]`` is the point that point ``i`` becomes in the mirror image: point ``i`` of a
#: mirrored face is point ``MIRROR[i]`` of the original (an involution: ``MIRROR[MIRROR] == arange(68)``).
MIRROR = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge (on the midline)
    + [35, 34, 33, 32, 31]  # nose base
    + [45, 44, 43, 42, 47, 46]  # image-left eye <- image-right eye
    + [39, 38, 37, 36, 41, 40]  # image-right eye <- image-left eye
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer mouth
    + [64, 63, 62, 61, 60, 67, 66, 65],  # inner mouth
    dtype=np.int64,
)


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """Centres of the image-left and image-right eyes: float64 ``(..., 2, 2)`` from ``(..., 68, 2)``
    landmarks, ``[mean of points 36-41, mean of 42-47]``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.stack([lm[..., LEFT_EYE, :].mean(axis=-2), lm[..., RIGHT_EYE, :].mean(axis=-2)], axis=-2)


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """Outer-eye-corner distance (points 36 and 45) of ``(..., 68, 2)`` landmarks, in their units: shape ``(...)``."""
    lm = np.asarray(landmarks)
    a, b = OUTER_EYE_CORNERS
    return np.linalg.norm(lm[..., a, :] - lm[..., b, :], axis=-1)
