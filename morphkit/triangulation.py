"""Delaunay triangulation of landmark (+ border) points."""

from __future__ import annotations

import numpy as np

from ._checks import check_points
from .errors import InvalidInput


def triangulate(points) -> np.ndarray:
    """Delaunay triangulation of a point set (``scipy.spatial.Delaunay``, i.e. Qhull).

    Compute it once on the *target* shape (the mean shape, or the intermediate shape of
    a morph) and reuse the triangles for every image warped to that shape, so that all
    images are cut into corresponding triangles.

    Args:
        points: ``(k, 2)`` ``(x, y)`` coordinates, ``k >= 3``; usually the 68 landmarks
            plus the 8 :func:`~morphkit.frame.border_points` (76 points).

    Returns:
        int32 ``(m, 3)``: each row holds the indices into ``points`` of one triangle's
        vertices, counter-clockwise in image coordinates (y down).

    Raises:
        ValueError: wrong shape, NaN/infinite coordinates, fewer than 3 points, or all
            points on one line.

    Reference: B. Delaunay (1934); C.B. Barber et al., "The Quickhull algorithm for
    convex hulls", ACM TOMS 22(4), 1996.
    """
    pts = check_points(points, "points")
    if pts.shape[0] < 3:
        raise InvalidInput(f"triangulate needs at least 3 points, got {pts.shape[0]}")
    from scipy.spatial import Delaunay, QhullError  # (0.2 s to import: only when first used)

    try:
        tri = Delaunay(pts)
    except QhullError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "degenerate input"
        raise InvalidInput(f"cannot triangulate points: they are degenerate (collinear?): {first}") from err
    simplices = np.ascontiguousarray(tri.simplices, dtype=np.int32)
    # Consistent orientation: positive signed area in (x, y) with y pointing down.
    area = signed_areas(pts, simplices)
    flip = area < 0
    simplices[flip] = simplices[flip][:, [0, 2, 1]]
    return simplices


def signed_areas(points, triangles) -> np.ndarray:
    """Signed areas (pixels^2) of ``triangles`` (m, 3) over ``points`` (k, 2): float64 ``(m,)``."""
    pts = np.asarray(points, dtype=np.float64)
    tri = np.asarray(triangles)
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def check_triangles(triangles, n_points: int, name: str = "triangles") -> np.ndarray:
    """Validate an ``(m, 3)`` integer index array into ``n_points`` points; returns int32."""
    tri = np.asarray(triangles)
    if tri.ndim != 2 or tri.shape[1] != 3 or tri.shape[0] == 0:
        raise InvalidInput(f"{name} must be a non-empty (m, 3) array of point indices, got shape {tri.shape}")
    if not np.issubdtype(tri.dtype, np.integer):
        raise InvalidInput(f"{name} must hold integer point indices, got dtype {tri.dtype}")
    if tri.min() < 0 or tri.max() >= n_points:
        raise InvalidInput(
            f"{name} index out of range: indices must be in [0, {n_points - 1}], "
            f"got [{int(tri.min())}, {int(tri.max())}]"
        )
    return np.ascontiguousarray(tri, dtype=np.int32)
