"""The canonical frame that faces are aligned into, and its border points.

Coordinates follow OpenCV: pixel ``(row i, column j)`` has its centre at ``(x=j, y=i)``,
so a ``W x H`` image spans pixel centres ``0..W-1`` by ``0..H-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._checks import check_landmark_stack, check_points
from .errors import InvalidInput
from .ibug68 import eye_centres

N_BORDER = 8
#: The widths :func:`collection_frame` chooses between, in pixels: below, a mean face or movie is too small to
#: look at; above, the texture means' memory (about one float32 plane of the frame per face) and the warps grow
#: for detail a screen does not show.
MIN_WIDTH, MAX_WIDTH = 160, 900

_BORDER_MODES = ("replicate", "reflect", "constant")


@dataclass(frozen=True)
class CanonicalFrame:
    """Output geometry of face alignment: size and where the two eye centres land.

    Attributes:
        width, height: output size in pixels (default 450 x 550, portrait).
        eye_y: height of both eye centres as a fraction of ``height`` (default 0.42).
        eye_distance: distance between the eye centres as a fraction of ``width``
            (default 0.25). With the defaults the whole head, the neck and the top of
            the shoulders fit in the frame for a typical frontal headshot.
        border: how pixels outside the source photo are filled when the frame reaches
            past its edge: ``"replicate"`` (edge pixels stretched, default),
            ``"reflect"`` (mirror) or ``"constant"`` (``fill`` colour).
        fill: RGB colour used by ``border="constant"``.

    Raises:
        ValueError: non-positive size, eye positions outside the frame, unknown border.
    """

    width: int = 450
    height: int = 550
    eye_y: float = 0.42
    eye_distance: float = 0.25
    border: str = "replicate"
    fill: tuple[int, int, int] = (128, 128, 128)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2:
                raise InvalidInput(f"CanonicalFrame.{name} must be an integer >= 2, got {v!r}")
        if not (0.0 < float(self.eye_y) < 1.0):
            raise InvalidInput(f"CanonicalFrame.eye_y must be a fraction in (0, 1), got {self.eye_y!r}")
        if not (0.0 < float(self.eye_distance) < 1.0):
            raise InvalidInput(
                f"CanonicalFrame.eye_distance must be a fraction in (0, 1), got {self.eye_distance!r}"
            )
        if self.border not in _BORDER_MODES:
            raise InvalidInput(f"CanonicalFrame.border must be one of {_BORDER_MODES}, got {self.border!r}")
        if len(tuple(self.fill)) != 3:
            raise InvalidInput(f"CanonicalFrame.fill must be an (R, G, B) triple, got {self.fill!r}")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return (int(self.width), int(self.height))

    @property
    def shape(self) -> tuple[int, int, int]:
        """NumPy shape of an aligned image: ``(height, width, 3)``."""
        return (int(self.height), int(self.width), 3)

    @property
    def eye_left(self) -> tuple[float, float]:
        """``(x, y)`` pixel position of the image-left eye centre (mean of points 36-41)."""
        cx = (self.width - 1) / 2.0
        return (cx - self.eye_distance * self.width / 2.0, self.eye_y * (self.height - 1))

    @property
    def eye_right(self) -> tuple[float, float]:
        """``(x, y)`` pixel position of the image-right eye centre (mean of points 42-47)."""
        cx = (self.width - 1) / 2.0
        return (cx + self.eye_distance * self.width / 2.0, self.eye_y * (self.height - 1))

    @property
    def eyes(self) -> np.ndarray:
        """float64 ``(2, 2)``: ``[eye_left, eye_right]``."""
        return np.array([self.eye_left, self.eye_right], dtype=np.float64)


def border_points(width: int, height: int) -> np.ndarray:
    """The 8 border points of a ``width x height`` image: 4 corners and 4 edge midpoints.

    Added to the 68 landmarks (giving 76 points) so that the Delaunay triangulation
    covers the whole frame and hair, shoulders and background are warped along with
    the face. Order: top-left, top-middle, top-right, right-middle, bottom-right,
    bottom-middle, bottom-left, left-middle, at pixel centres (corners at
    ``(0, 0)`` and ``(width-1, height-1)``).

    Returns:
        float32 ``(8, 2)`` array of ``(x, y)`` pixel coordinates.

    Raises:
        ValueError: width or height below 2.
    """
    if isinstance(width, bool) or isinstance(height, bool):
        raise InvalidInput("width and height must be integers")
    w, h = int(width), int(height)
    if w != width or h != height or w < 2 or h < 2:
        raise InvalidInput(f"border_points needs integer width and height >= 2, got {width!r} x {height!r}")
    r, b = w - 1.0, h - 1.0
    return np.array(
        [[0, 0], [r / 2, 0], [r, 0], [r, b / 2], [r, b], [r / 2, b], [0, b], [0, b / 2]],
        dtype=np.float32,
    )


def with_border(points, width: int, height: int) -> np.ndarray:
    """``points`` (k, 2) with the 8 :func:`border_points` appended: float64 ``(k + 8, 2)``."""
    pts = check_points(points, "points")
    return np.concatenate([pts, border_points(width, height).astype(np.float64)], axis=0)


def resized(frame: CanonicalFrame, width: int | None = None, height: int | None = None,
            minimum: int = 2) -> CanonicalFrame:
    """``frame`` at another size in pixels, its eye position (fractions of the size), border and fill kept.

    A side given is taken as it is; a side not given (None) follows the other in ``frame``'s proportions,
    rounded to an even number (MP4 needs even sides) and at least ``minimum``.

    Args:
        frame: the frame whose proportions, eye fractions, border and fill are kept.
        width, height: the new sides in pixels (integers), one of them or both.
        minimum: the least size in pixels of a side not given.

    Returns:
        :class:`CanonicalFrame` of ``width x height``.

    Raises:
        InvalidInput: neither side given, or a side :class:`CanonicalFrame` refuses (under 2 pixels).
    """
    if width is None and height is None:
        raise InvalidInput("give a width, a height or both")
    if width is None:
        width = max(int(minimum), 2 * int(round(height * frame.width / frame.height / 2)))
    if height is None:
        height = max(int(minimum), 2 * int(round(width * frame.height / frame.width / 2)))
    return replace(frame, width=int(width), height=int(height))


def collection_frame(landmarks, frame: CanonicalFrame = CanonicalFrame(), min_width: int = MIN_WIDTH,
                     max_width: int = MAX_WIDTH) -> CanonicalFrame:
    """The frame for a collection: ``frame`` scaled so that its faces keep the size they have in their photos.

    The default frame (450 x 550) holds eye centres 112.5 px apart: a collection of 225 x 275
    headshots (eye centres about 52 px apart) would be enlarged twice, enlarging their noise
    and JPEG blocks with it, and 1350 px studio portraits shrunk three times. Here the frame's
    eye-centre distance (``frame.eye_distance * width``) is the faces' median eye-centre
    distance (points 36-41 and 42-47, in their photos' pixels): the median face is warped at
    scale 1, half of them are enlarged, half shrunk. The width is clamped to
    ``min_width..max_width`` and rounded to an even number (MP4 needs even sides), the height
    keeps ``frame``'s proportions (even too); the eye positions and border are ``frame``'s.

    Args:
        landmarks: ``(n, 68, 2)`` landmarks of the faces, pixels of their photos (n >= 1).
        frame: the frame to scale (its proportions, eye height and distance, border).
        min_width, max_width: the range of widths, even, ``16 <= min_width <= max_width``.

    Returns:
        :class:`CanonicalFrame` of ``frame``'s geometry at the chosen size.

    Raises:
        InvalidInput: bad landmarks (none, NaN, not ``(n, 68, 2)``), a median eye-centre distance of 0,
            a bad width range.
    """
    if not (16 <= int(min_width) <= int(max_width)):
        raise InvalidInput(f"need 16 <= min_width <= max_width, got {min_width!r}, {max_width!r}")
    distance = eye_distance(landmarks)
    width = distance / float(frame.eye_distance)
    width = min(max(width, float(min_width)), float(max_width))
    return resized(frame, width=max(2, 2 * int(round(width / 2))))


def eye_distance(landmarks) -> float:
    """The median eye-centre distance of faces (what :func:`collection_frame` matches).

    Args:
        landmarks: ``(n, 68, 2)`` ``(x, y)`` pixels, iBUG 300-W order, ``n >= 1``; the eye centres are the means
            of points 36-41 and 42-47 (:func:`morphkit.ibug68.eye_centres`).

    Returns:
        float, in the landmarks' pixels.

    Raises:
        InvalidInput: bad landmarks (none, NaN, not ``(n, 68, 2)``), a median of 0 (eye centres that coincide).
    """
    eyes = eye_centres(check_landmark_stack(landmarks))
    distance = float(np.median(np.linalg.norm(eyes[:, 1] - eyes[:, 0], axis=-1)))
    if not distance > 1e-6:
        raise InvalidInput("the two eye centres (points 36-41 and 42-47) coincide in most faces")
    return distance
