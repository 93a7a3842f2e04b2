"""Face masks and compositing: the face region (landmark hull plus a synthesised forehead, feathered),
the oval, and a face on a plain or transparent background (one compositor for mean faces, morph frames
and the research tools). :func:`face_region` is also where symmetrising, texture means and texture or
colour transforms act (:mod:`morphkit.research`, :mod:`morphkit.mean`)."""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import check_image, check_landmarks
from .errors import InvalidInput
from .ibug68 import BROWS, JAW, eye_centres

MASKS = ("outline", "oval")

#: Height of the forehead above the brows, as a fraction of the eye-to-chin distance (eye-centre midpoint to
#: point 8, along the face's vertical axis): about 0.55 eye-centre distances, below the hairline of most adults.
FOREHEAD = 0.3
#: How far the forehead points spread sideways from the face's midline (1 = straight above the brows).
FOREHEAD_SPREAD = 1.3
#: The brow ends (temples) are moved outward by this fraction of the eye-centre distance, so that the whole
#: brow lies inside the region by more than the feather.
TEMPLE = 0.3
#: Default feather (Gaussian sigma) of the masks, as a fraction of the eye-centre distance.
FEATHER = 0.08


def _axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """``(eye midpoint, across, up, eye-centre distance, eye-to-chin distance)`` of a face: ``across`` the unit
    vector from the image-left to the image-right eye centre, ``up`` perpendicular to it towards the brows.

    Raises:
        InvalidInput: the two eye centres coincide.
    """
    eyes = eye_centres(lm)
    d = float(np.linalg.norm(eyes[1] - eyes[0]))
    if not d > 1e-6:
        raise InvalidInput("the two eye centres (points 36-41 and 42-47) coincide")
    across = (eyes[1] - eyes[0]) / d
    up = np.array([across[1], -across[0]])
    mid = eyes.mean(axis=0)
    jaw = lm[JAW]
    chin = jaw[len(jaw) // 2]
    return mid, across, up, d, max(float(np.dot(mid - chin, up)), 0.0)


def forehead_points(landmarks, forehead: float = FOREHEAD) -> np.ndarray:
    """Points synthesised over the forehead, as template tools place them above the brows.

    Each brow point (:data:`morphkit.ibug68.BROWS`) is moved up along the face's vertical
    axis (perpendicular to the line through the eye centres) by ``forehead`` times the
    eye-to-chin distance, less towards the temples (``1 - 0.4 t**2``, ``t`` the brow point's
    position across the face, -1..1), and spread sideways from the midline by
    :data:`FOREHEAD_SPREAD`; two temple points put the brow ends :data:`TEMPLE` eye-centre
    distances further out at their own height. This is the role of the forehead and hairline
    points of the Psychomorph / WebMorph face templates (Tiddeman, Burt and Perrett 2001;
    DeBruine, WebMorph), made from the 68 iBUG points.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels (iBUG 300-W order).
        forehead: height above the brows in eye-to-chin distances (0: the brows themselves).

    Returns:
        float64 ``(12, 2)`` pixels: the 10 forehead points (in brow order), then the two temple points
        (image-left, image-right).

    Raises:
        InvalidInput: bad landmarks, eye centres that coincide, a negative or non-finite ``forehead``.
    """
    lm = check_landmarks(landmarks)
    if not (np.isfinite(forehead) and forehead >= 0):
        raise InvalidInput(f"forehead must be a finite fraction >= 0 of the eye-to-chin distance, got {forehead!r}")
    mid, across, up, d, chin = _axes(lm)
    brows = lm[BROWS] - mid
    x, y = brows @ across, brows @ up
    t = np.clip(x / max(np.abs(x).max(), 1e-9), -1.0, 1.0)
    lift = float(forehead) * chin * (1.0 - 0.4 * t ** 2)
    points = mid + np.outer(FOREHEAD_SPREAD * x, across) + np.outer(y + lift, up)
    ends = lm[[BROWS.start, BROWS.stop - 1]]
    temples = ends + np.outer([-TEMPLE * d, TEMPLE * d], across)
    return np.vstack([points, temples])


def region_outline(landmarks, forehead: float = FOREHEAD) -> np.ndarray:
    """The outline of the face region: the convex hull of the 68 landmarks and :func:`forehead_points`.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels. forehead: as in :func:`forehead_points` (0: the bare hull).

    Returns:
        float64 ``(k, 2)`` pixels, the hull's corners in order.

    Raises:
        InvalidInput: bad landmarks, eye centres that coincide, a negative or non-finite ``forehead``.
    """
    lm = check_landmarks(landmarks)
    pts = np.vstack([lm, forehead_points(lm, forehead)]) if forehead != 0 else lm
    return cv2.convexHull(pts.astype(np.float32))[:, 0, :].astype(np.float64)


def _default_feather(lm: np.ndarray, feather: float | None) -> float:
    if feather is None:
        eyes = eye_centres(lm)
        feather = FEATHER * float(np.linalg.norm(eyes[1] - eyes[0]))
    if not np.isfinite(feather) or feather < 0:
        raise InvalidInput(f"feather must be a finite sigma >= 0 pixels, got {feather!r}")
    return float(feather)


def face_region(landmarks, width: int, height: int, feather: float | None = None,
                forehead: float = FOREHEAD) -> np.ndarray:
    """The face region as a soft mask: the landmarks' convex hull extended over the forehead, feathered.

    The one definition of "the face" that masks (``--mask outline``, ``--background face``),
    symmetrising, texture means, texture and colour transforms share: where the 68 points put
    faces in correspondence (brows, eyes, nose, mouth, cheeks, jaw) plus a forehead
    (:func:`forehead_points`), and not hair, ears, neck or background.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels.
        width, height: mask size in pixels.
        feather: Gaussian sigma in pixels; default :data:`FEATHER` (8%) of the eye-centre
            distance. The region is eroded by one sigma first, so the soft edge lies inside it
            (alpha >= 0.9 from about 2.3 sigma inside the outline; on frontal faces the brow
            points lie about :data:`TEMPLE` eye-centre distances, nearly 4 sigma, inside it).
        forehead: height of the forehead in eye-to-chin distances (:func:`forehead_points`);
            0 gives the bare landmark hull.

    Returns:
        float32 ``(height, width)`` in ``[0, 1]`` (1 = face).

    Raises:
        InvalidInput: bad landmarks, a negative or non-finite ``feather`` or ``forehead``.
    """
    lm = check_landmarks(landmarks)
    feather = _default_feather(lm, feather)
    mask = np.zeros((int(height), int(width)), dtype=np.uint8)
    hull = np.round(region_outline(lm, forehead) * 16).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 255, cv2.LINE_AA, 4)
    if feather > 0:
        r = int(round(feather))
        if r > 0:
            mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        out = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigmaX=feather)
    else:
        out = mask.astype(np.float32) / 255.0
    return np.clip(out, 0.0, 1.0)


def face_mask(landmarks, width: int, height: int, feather: float | None = None) -> np.ndarray:
    """The ``outline`` mask: :func:`face_region` with its default forehead (whole brows and a forehead).

    Args:
        landmarks: ``(68, 2)`` pixels. width, height: mask size.
        feather: Gaussian sigma in pixels; default 8% of the eye-centre distance.

    Returns:
        float32 ``(height, width)`` with values in ``[0, 1]`` (1 = face).

    Raises:
        InvalidInput: bad landmarks or ``feather``.
    """
    return face_region(landmarks, width, height, feather)


def composite_on_background(image: np.ndarray, mask: np.ndarray, color=(255, 255, 255)) -> np.ndarray:
    """``image * mask + color * (1 - mask)``, rounded: the face on a plain background.

    Args:
        image: uint8 ``(H, W, 3)`` RGB. mask: float ``(H, W)`` in ``[0, 1]`` (1 = image).
        color: the background, an RGB triple 0..255.

    Returns:
        uint8 ``(H, W, 3)`` RGB.
    """
    m = np.asarray(mask, dtype=np.float32)[..., None]
    bg = np.asarray(color, dtype=np.float32).reshape(1, 1, 3)
    out = image.astype(np.float32) * m + bg * (1.0 - m)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def oval_mask(landmarks, width: int, height: int, feather: float | None = None) -> np.ndarray:
    """Soft upright oval around the face: as wide as the jaw (points 0-16) plus 5%, from the chin
    (point 8) to a forehead line above the brows by a third of the brow-to-chin height, tilted with
    the eyes.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels. width, height: mask size in pixels.
        feather: Gaussian sigma in pixels; default :data:`FEATHER` (8%) of the eye-centre distance.

    Returns:
        float32 ``(height, width)`` in ``[0, 1]`` (1 = face).

    Raises:
        InvalidInput: bad landmarks, a negative or non-finite ``feather``.
    """
    lm = check_landmarks(landmarks).astype(np.float64)
    sigma = _default_feather(lm, feather)
    centres = eye_centres(lm)
    eyes = centres[1] - centres[0]
    angle = float(np.degrees(np.arctan2(eyes[1], eyes[0])))
    brow = lm[BROWS, 1].min()
    chin = lm[8, 1]
    top = brow - (chin - brow) / 3.0
    half_w = 0.525 * float(np.linalg.norm(lm[16] - lm[0]))
    centre = ((lm[0, 0] + lm[16, 0]) / 2.0, (top + chin) / 2.0)
    mask = np.zeros((int(height), int(width)), np.float32)
    cv2.ellipse(mask, (centre, (2 * half_w, chin - top), angle), 1.0, -1, cv2.LINE_AA)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), sigma) if sigma > 0 else mask, 0.0, 1.0)


def transparent(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with ``mask`` as its alpha: uint8 ``(H, W, 4)`` RGBA whose RGB is 0 wherever alpha is 0.

    Nothing of the photo is left under full transparency, so software that ignores alpha shows no
    unmasked face (PNG alpha is straight, not premultiplied: RGB is kept where alpha > 0).

    Args:
        image: uint8 ``(H, W, 3)`` RGB. mask: float ``(H, W)`` in ``[0, 1]`` (rounded to 0..255).

    Raises:
        InvalidInput: bad image, or a mask of another size.
    """
    image = check_image(image)
    mask = np.asarray(mask, dtype=np.float32)
    if mask.shape != image.shape[:2]:
        raise InvalidInput(f"mask {mask.shape} must be the image's size {image.shape[:2]}")
    alpha = np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8)
    out = np.dstack([image, alpha])
    out[alpha == 0, :3] = 0
    return out


def apply_mask(image, landmarks, kind: str = "outline", color=(255, 255, 255), feather: float | None = None):
    """The face alone: masked by its ``outline`` (:func:`face_region`: the landmark hull with the whole
    brows and a forehead, feathered) or an ``oval`` (:func:`oval_mask`), on a plain ``color`` (RGB) or,
    with ``color=None``, transparent (:func:`transparent`: RGB 0 wherever alpha is 0).

    Args:
        image: uint8 ``(H, W, 3)`` RGB, or ``(H, W, 4)`` RGBA (a face aligned onto a transparent border,
            :func:`morphkit.align.warp_face`): its alpha multiplies the mask.
        landmarks: ``(68, 2)`` pixels of ``image``.
        kind: ``outline`` or ``oval``. color: RGB triple 0..255, or None for transparency.
        feather: Gaussian sigma in pixels (default 8% of the eye-centre distance).

    Returns:
        uint8 ``(H, W, 3)`` RGB, or ``(H, W, 4)`` RGBA with ``color=None``.

    Raises:
        InvalidInput (a ValueError): bad image or landmarks, unknown ``kind``.
    """
    alpha = None
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 4:
        image, alpha = image[..., :3], image[..., 3].astype(np.float32) / 255.0
    image = check_image(image)
    h, w = image.shape[:2]
    if kind not in MASKS:
        raise InvalidInput(f"mask must be one of {', '.join(MASKS)}, got {kind!r}")
    mask = face_mask(landmarks, w, h, feather) if kind == "outline" else oval_mask(landmarks, w, h, feather)
    if alpha is not None:
        mask = mask * alpha
    if color is None:
        return transparent(image, mask)
    return composite_on_background(image, mask, color)
