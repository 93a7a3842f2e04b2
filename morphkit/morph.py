"""Two-face morphs and caricatures: piecewise-affine warp plus cross-dissolve.

Reference: T. Beier and S. Neely, "Feature-based image metamorphosis", SIGGRAPH 1992
(warp + cross-dissolve morphing); G. Wolberg, "Image morphing: a survey", The Visual
Computer 14, 1998; P.J. Benson and D.I. Perrett, "Perception and recognition of
photographic quality facial caricatures", Eur. J. Cogn. Psychol. 3(1), 1991.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import check_fraction, check_image, check_landmarks
from .errors import InvalidInput
from .frame import with_border
from .triangulation import check_triangles, triangulate
from .warp import WarpTarget, border_mode, pixel_grid


def morph_triangles(pts_a, pts_b, width: int, height: int) -> np.ndarray:
    """Delaunay triangles for morphing two faces: computed on their halfway shape
    (landmarks averaged, plus the 8 border points), to be reused for every frame.

    Returns:
        int32 ``(m, 3)`` indices into the 76-point arrays (68 landmarks, then
        :func:`~morphkit.frame.border_points`).
    """
    a = check_landmarks(pts_a, "pts_a")
    b = check_landmarks(pts_b, "pts_b")
    return triangulate(with_border((a + b) / 2.0, width, height))


class Morpher:
    """Renders morph frames between two aligned faces of the same size.

    Holds both images, their 76 points (68 landmarks + 8 border points) and one
    triangulation, so that the frames of a transition only pay for the warps.

    Args:
        img_a, img_b: uint8 ``(H, W, 3)`` images of the same size, already aligned.
        pts_a, pts_b: ``(68, 2)`` landmarks of each, in pixels.
        triangles: int ``(m, 3)`` into the 76 points; default :func:`morph_triangles`.
        border: how source pixels beyond an image's edge are read (see
            :func:`~morphkit.warp.piecewise_affine_warp`).

    Raises:
        ValueError: images of different sizes, bad landmarks or triangles.
    """

    def __init__(self, img_a, pts_a, img_b, pts_b, triangles=None, border: str = "replicate"):
        self.img_a = check_image(img_a, "img_a")
        self.img_b = check_image(img_b, "img_b")
        if self.img_a.shape != self.img_b.shape:
            raise InvalidInput(
                f"img_a and img_b must have the same size, got {self.img_a.shape} and {self.img_b.shape}"
            )
        self.height, self.width = self.img_a.shape[:2]
        if self.width < 2 or self.height < 2:
            raise InvalidInput(f"images must be at least 2x2 pixels, got {self.img_a.shape}")
        a = check_landmarks(pts_a, "pts_a")
        b = check_landmarks(pts_b, "pts_b")
        self.pts_a = with_border(a, self.width, self.height)
        self.pts_b = with_border(b, self.width, self.height)
        if triangles is None:
            triangles = triangulate((self.pts_a + self.pts_b) / 2.0)
        self.triangles = check_triangles(triangles, self.pts_a.shape[0])
        border_mode(border)
        self.border = border

    def shape(self, warp_frac: float) -> np.ndarray:
        """The intermediate 76-point shape ``(1 - w) A + w B``: float64 ``(76, 2)``."""
        w = check_fraction(warp_frac, "warp_frac")
        return (1.0 - w) * self.pts_a + w * self.pts_b

    def frame(self, warp_frac: float, dissolve_frac: float) -> np.ndarray:
        """One morph frame: both faces warped to the shape at ``warp_frac``, then
        cross-dissolved ``(1 - d) A' + d B'``. Returns uint8 ``(H, W, 3)``."""
        shape = self.shape(warp_frac)
        d = check_fraction(dissolve_frac, "dissolve_frac")
        w = check_fraction(warp_frac, "warp_frac")
        target = WarpTarget(shape, self.triangles, self.width, self.height)
        if d == 0.0:
            return target.warp(self.img_a, self.pts_a, self.border)
        if d == 1.0:
            return target.warp(self.img_b, self.pts_b, self.border)
        # Since S = (1 - w) A + w B vertex by vertex, the per-triangle affines satisfy
        # p = (1 - w) T_A(p) + w T_B(p) for every pixel p: only one remap table needs the
        # per-pixel gather; the other follows with two multiply-adds (divide by the larger
        # weight, so float error is amplified at most 2x).
        gx, gy = pixel_grid(self.width, self.height)
        if w >= 0.5:
            ax, ay = target.maps(self.pts_a)
            bx, by = _other_map(gx, ax, 1.0 - w, w), _other_map(gy, ay, 1.0 - w, w)
        else:
            bx, by = target.maps(self.pts_b)
            ax, ay = _other_map(gx, bx, w, 1.0 - w), _other_map(gy, by, w, 1.0 - w)
        mode = border_mode(self.border)
        wa = cv2.remap(self.img_a, ax, ay, cv2.INTER_LINEAR, borderMode=mode)
        wb = cv2.remap(self.img_b, bx, by, cv2.INTER_LINEAR, borderMode=mode)
        return cv2.addWeighted(wa, 1.0 - d, wb, d, 0.0)


def _other_map(grid: np.ndarray, known: np.ndarray, w_known: float, w_other: float) -> np.ndarray:
    """Solve ``grid = w_known * known + w_other * other`` for ``other`` (float32)."""
    other = known * np.float32(-w_known)
    other += grid
    other *= np.float32(1.0 / w_other)
    return other


def morph_pair(img_a, pts_a, img_b, pts_b, warp_frac: float, dissolve_frac: float,
               triangles=None) -> np.ndarray:
    """Morph between two aligned faces: shape interpolation plus cross-dissolve.

    The intermediate shape is ``S = (1 - warp_frac) * A + warp_frac * B`` (68 landmarks
    and the 8 fixed border points); both images are piecewise-affine warped onto ``S``
    and blended ``(1 - dissolve_frac) * A' + dissolve_frac * B'``. ``warp_frac = 0,
    dissolve_frac = 0`` returns ``img_a`` and ``1, 1`` returns ``img_b`` (to within
    interpolation rounding). Use :class:`Morpher` to render many frames of one pair.

    Args:
        img_a, img_b: uint8 ``(H, W, 3)`` RGB, the same size, already aligned
            (e.g. by :func:`~morphkit.align.align_face`).
        pts_a, pts_b: ``(68, 2)`` landmarks of each, pixels.
        warp_frac, dissolve_frac: fractions in ``[0, 1]``.
        triangles: int ``(m, 3)`` indices into the 76 points (landmarks + border); default
            :func:`morph_triangles` (Delaunay on the halfway shape).

    Returns:
        uint8 ``(H, W, 3)``.

    Raises:
        ValueError: different image sizes, bad landmarks, fractions outside [0, 1].
    """
    check_fraction(warp_frac, "warp_frac")
    check_fraction(dissolve_frac, "dissolve_frac")
    return Morpher(img_a, pts_a, img_b, pts_b, triangles).frame(warp_frac, dissolve_frac)
