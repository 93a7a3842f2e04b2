"""Shape augmentation: a training face warped onto another face's shape, its labels exact by construction.

A labelled face ``(context crop, landmarks)`` is moved by a piecewise-affine warp
(:class:`morphkit.warp.WarpTarget`, Delaunay triangles of the 68 landmarks plus the
context crop's 8 border points) from its own shape onto a *target shape*: its own
landmarks moved a random share ``t`` of the way towards a donor face's landmarks,
the donor first Procrustes-aligned onto it (:func:`morphkit.procrustes.fit_similarity`:
rotation, scale and position stay the face's own; what changes is the shape: face
width, eye spacing, nose and mouth size, expression, the yaw seen in the outline).
The warped pixels and the target shape are a new labelled face, so a few thousand
adult faces cover many more shapes. The warp and the training crop's own affine
augmentation are sampled in ONE resampling (the warp's maps are built directly in
crop pixels), so the crop is no softer than an unwarped one.

A target whose triangles fold over (triangles whose orientation differs between the
two shapes, e.g. towards a donor in profile) would tear the image: a draw whose
folded triangles cover more than :data:`MAX_FOLD` of the squared inter-ocular
distance is refused and the crop is cut unwarped. Smaller folds (the slivers
between the inner lips of a closed mouth) are taken: they move a few pixels.

The warp: A. Goshtasby, "Piecewise linear mapping functions for image registration",
Pattern Recognition 19(6), 1986 (:mod:`morphkit.warp`).
"""

from __future__ import annotations

import cv2
import numpy as np

from landmarker.model import crop as C
from morphkit.frame import border_points
from morphkit.ibug68 import inter_ocular_distance
from morphkit.procrustes import fit_similarity
from morphkit.triangulation import signed_areas, triangulate
from morphkit.warp import WarpTarget

MAX_FOLD = 0.02
"""Largest area of folded-over target triangles taken, as a share of the squared inter-ocular distance."""


def blended_shape(own: np.ndarray, donor: np.ndarray, t: float) -> np.ndarray:
    """``own`` moved the share ``t`` of the way to ``donor`` aligned onto it by a similarity.

    Args:
        own, donor: ``(68, 2)`` ``(x, y)`` landmarks, pixels of any frames.
        t: 0 gives ``own``, 1 gives the aligned donor.

    Returns:
        float64 ``(68, 2)`` in ``own``'s pixels.
    """
    own = np.asarray(own, np.float64)
    aligned, _ = fit_similarity(donor, own)
    return own + t * (aligned - own)


def shape_warped_crop(context: np.ndarray, own: np.ndarray, target: np.ndarray, m: np.ndarray,
                      out_size: int) -> np.ndarray | None:
    """Cut the crop of matrix ``m`` out of ``context`` warped so that ``own`` lands on ``target``.

    Args:
        context: uint8 ``(S, S)`` grayscale context crop.
        own: ``(68, 2)`` landmarks in context pixels.
        target: ``(68, 2)`` target shape in context pixels.
        m: float64 ``(2, 3)`` context -> crop pixels (may rotate, scale and mirror).
        out_size: crop side ``N``.

    Returns:
        uint8 ``(N, N)`` crop whose landmarks are ``apply_affine(target, m)``, or None when
        the target's folded triangles cover more than :data:`MAX_FOLD` (the caller cuts
        the crop unwarped).
    """
    side_h, side_w = context.shape[:2]
    border = border_points(side_w, side_h).astype(np.float64)
    src = np.concatenate([np.asarray(own, np.float64), border])
    dst = np.concatenate([np.asarray(target, np.float64), border])
    triangles = triangulate(dst)
    a_src, a_dst = signed_areas(src, triangles), signed_areas(dst, triangles)
    folded = np.abs(a_dst[a_src * a_dst <= 0]).sum()
    if folded > MAX_FOLD * float(inter_ocular_distance(dst[:68])) ** 2:
        return None
    warp = WarpTarget(C.apply_affine(dst, m).astype(np.float64), triangles, out_size, out_size)
    map_x, map_y = warp.maps(src)
    return cv2.remap(context, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
