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
#: The mouth corners (image-left, image-right): the mouth's position in the FFHQ crop (morphkit.align.ffhq_quad).
MOUTH_CORNERS = (48, 54)

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


#: Groups of points that an editor moves together (a brow, an eye, the nose, the mouth, the jaw).
GROUPS = {"jaw": JAW, "left brow": LEFT_BROW, "right brow": RIGHT_BROW, "nose": slice(27, 36),
          "left eye": LEFT_EYE, "right eye": RIGHT_EYE, "mouth": slice(48, 68)}

_NAMED = {
    8: "chin (jaw 9 of 17)", 17: "left brow, outer end", 21: "left brow, inner end", 22: "right brow, inner end",
    26: "right brow, outer end", 27: "nose bridge, top", 30: "nose tip", 31: "nose base, left wing",
    33: "nose base, centre", 35: "nose base, right wing", 36: "left eye, outer corner",
    37: "left eye, upper lid outer", 38: "left eye, upper lid inner", 39: "left eye, inner corner",
    40: "left eye, lower lid inner", 41: "left eye, lower lid outer", 42: "right eye, inner corner",
    43: "right eye, upper lid inner", 44: "right eye, upper lid outer", 45: "right eye, outer corner",
    46: "right eye, lower lid outer", 47: "right eye, lower lid inner", 48: "mouth, left corner",
    51: "upper lip, top centre", 54: "mouth, right corner", 57: "lower lip, bottom centre",
    60: "inner mouth, left corner", 62: "upper lip, inner centre", 64: "inner mouth, right corner",
    66: "lower lip, inner centre",
}


def _point_names() -> tuple[str, ...]:
    names = []
    for name, points, _ in CONTOURS:
        indices = range(N_POINTS)[points]
        names += [_NAMED.get(i, f"{name} {k + 1} of {len(indices)}") for k, i in enumerate(indices)]
    return tuple(names)


#: A name for each point, for people ("left" is image-left): ``POINT_NAMES[36] == "left eye, outer corner"``.
POINT_NAMES = _point_names()
