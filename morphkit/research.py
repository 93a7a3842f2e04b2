"""Face-research transforms on arrays: symmetrising, prototype transforms, continua, masks.

The stimuli of face-perception studies, as Psychomorph and WebMorph make them
(Tiddeman, Burt and Perrett, "Prototyping and transforming facial textures for
perception research", IEEE CG&A 21(5), 2001; Benson and Perrett 1991):

- :func:`symmetrize`: average a face with its mirror image (landmarks mirrored with
  the 68-point permutation), in shape, colour or both.
- :func:`transform`: Psychomorph's transform ``new = original + p (B - A)`` along the
  line from prototype ``A`` to prototype ``B``, with separate percentages for shape
  and colour.
- :func:`continuum`: the faces between two images at even steps (shape and colour).
- :func:`apply_mask`: the face outline (convex hull of jaw and brows) or an oval,
  feathered, on a colour or transparent (RGBA) background.

Every function takes uint8 ``(H, W, 3)`` RGB images and float ``(68, 2)`` ``(x, y)``
pixel landmarks (iBUG 300-W order) and returns new arrays; warps are piecewise affine
over the Delaunay triangulation of the landmarks plus the frame border points.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import check_image, check_landmarks
from .errors import InvalidInput
from .frame import with_border
from .ibug68 import BROWS, LEFT_EYE, MIRROR, RIGHT_EYE
from .mean import face_mask
from .morph import Morpher
from .triangulation import triangulate
from .warp import WarpTarget

MASKS = ("outline", "oval")


def _warp(image: np.ndarray, src, dst) -> np.ndarray:
    """Piecewise-affine warp of a whole image so that landmarks ``src`` land on ``dst``."""
    h, w = image.shape[:2]
    target = with_border(dst, w, h)
    return WarpTarget(target, triangulate(target), w, h).warp(image, with_border(src, w, h), "replicate")


def mirror_landmarks(landmarks, width: int) -> np.ndarray:
    """The landmarks of the mirror image of a ``width``-pixel-wide image: ``x -> width - 1 - x``,
    points renumbered with :data:`MIRROR` (the left eye's corner becomes the right eye's). float32 ``(68, 2)``."""
    lm = check_landmarks(landmarks)
    out = lm.copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out[MIRROR].astype(np.float32)


def symmetrize(image, landmarks, shape: bool = True, color: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Average a face with its mirror image.

    Args:
        image: uint8 ``(H, W, 3)``, the face roughly centred (e.g. aligned into a frame).
        landmarks: ``(68, 2)`` of ``image``.
        shape: make the shape symmetric (the mean of the landmarks and their mirror).
        color: make the colour symmetric (average the face and its mirror, both
            warped to the output shape).

    Returns:
        ``(image uint8 (H, W, 3), landmarks float32 (68, 2))`` of the symmetrised face.

    Raises:
        ValueError: bad image or landmarks, or neither ``shape`` nor ``color``.
    """
    image = check_image(image)
    lm = check_landmarks(landmarks).astype(np.float64)
    if not (shape or color):
        raise InvalidInput("symmetrize needs shape=True, color=True or both")
    w = image.shape[1]
    mirrored_img = np.ascontiguousarray(image[:, ::-1])
    mirrored_lm = mirror_landmarks(lm, w).astype(np.float64)
    out_lm = (lm + mirrored_lm) / 2.0 if shape else lm
    face = _warp(image, lm, out_lm) if shape else image
    if color:
        other = _warp(mirrored_img, mirrored_lm, out_lm)
        face = np.clip(np.rint((face.astype(np.float64) + other) / 2.0), 0, 255).astype(np.uint8)
    return face, out_lm.astype(np.float32)


def transform(image, landmarks, proto_a, shape_a, proto_b, shape_b, shape_pct: float = 100.0,
              color_pct: float = 0.0, texture_pct: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Psychomorph's transform: move a face along the line from prototype A to prototype B.

    ``shape' = shape + s (shape_B - shape_A)`` and ``colour' = colour + c (B - A)`` with
    ``s = shape_pct / 100``, ``c = color_pct / 100``; the colour difference of the
    prototypes is taken with both warped to the new shape. The face and the prototypes
    must be in the same frame (a face aligned with :func:`~morphkit.align.align_face`
    into the frame the prototypes were averaged in, e.g. team-means outputs with their
    ``shapes.csv``).

    Args:
        image, landmarks: the face, uint8 ``(H, W, 3)`` and ``(68, 2)``.
        proto_a, shape_a: prototype A (the "from" end): uint8 image and ``(68, 2)``.
        proto_b, shape_b: prototype B (the "to" end).
        shape_pct, color_pct: percentages (100 moves by the whole difference; negative
            moves away from B; values beyond 100 exaggerate).
        texture_pct: percentage of the texture difference (the ratio of the prototypes'
            local wavelet amplitudes, :func:`morphkit.texture.transfer_texture`).

    Returns:
        ``(image uint8 (H, W, 3), landmarks float32 (68, 2))``.

    Raises:
        ValueError: bad images or landmarks, or prototypes of another size than the face.
    """
    image = check_image(image)
    lm = check_landmarks(landmarks).astype(np.float64)
    a, b = check_image(proto_a, "proto_a"), check_image(proto_b, "proto_b")
    sa, sb = (check_landmarks(shape_a, "shape_a").astype(np.float64),
              check_landmarks(shape_b, "shape_b").astype(np.float64))
    if a.shape != image.shape or b.shape != image.shape:
        raise InvalidInput(f"prototypes {a.shape[:2]} and {b.shape[:2]} must be the size of the face {image.shape[:2]} "
                         "(align the face into the prototypes' frame first)")
    new_lm = lm + float(shape_pct) / 100.0 * (sb - sa)
    out = _warp(image, lm, new_lm).astype(np.float64)
    if color_pct or texture_pct:
        a_w, b_w = _warp(a, sa, new_lm), _warp(b, sb, new_lm)
        if color_pct:
            out += float(color_pct) / 100.0 * (b_w.astype(np.float64) - a_w)
        if texture_pct:
            from .texture import transfer_texture

            out = transfer_texture(np.clip(out, 0, 255), a_w, b_w, texture_pct).astype(np.float64)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), new_lm.astype(np.float32)


def continuum(image_a, landmarks_a, image_b, landmarks_b, steps: int = 11) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` faces from A (0%) to B (100%) at even steps of shape and colour.

    Args:
        image_a, landmarks_a, image_b, landmarks_b: two faces of the same size.
        steps: number of faces, >= 2.

    Returns:
        list of ``(image uint8, landmarks float32 (68, 2))``, A first.

    Raises:
        ValueError: bad inputs, different sizes, ``steps < 2``.
    """
    if int(steps) < 2:
        raise InvalidInput(f"steps must be 2 or more, got {steps!r}")
    morpher = Morpher(image_a, landmarks_a, image_b, landmarks_b)
    out = []
    for i in range(int(steps)):
        f = i / (int(steps) - 1)
        out.append((morpher.frame(f, f), morpher.shape(f)[:68].astype(np.float32)))
    return out


def oval_mask(landmarks, width: int, height: int, feather: float | None = None) -> np.ndarray:
    """Soft upright oval around the face: as wide as the jaw (points 0-16) plus 5%, from the chin
    (point 8) to a forehead line above the brows by a third of the brow-to-chin height, tilted with
    the eyes.

    Returns:
        float32 ``(height, width)`` in ``[0, 1]``.
    """
    lm = check_landmarks(landmarks).astype(np.float64)
    eyes = lm[RIGHT_EYE].mean(0) - lm[LEFT_EYE].mean(0)
    angle = float(np.degrees(np.arctan2(eyes[1], eyes[0])))
    brow = lm[BROWS, 1].min()
    chin = lm[8, 1]
    top = brow - (chin - brow) / 3.0
    half_w = 0.525 * float(np.linalg.norm(lm[16] - lm[0]))
    centre = ((lm[0, 0] + lm[16, 0]) / 2.0, (top + chin) / 2.0)
    mask = np.zeros((int(height), int(width)), np.float32)
    cv2.ellipse(mask, (centre, (2 * half_w, chin - top), angle), 1.0, -1, cv2.LINE_AA)
    sigma = 0.08 * float(np.linalg.norm(eyes)) if feather is None else float(feather)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), sigma) if sigma > 0 else mask, 0.0, 1.0)


def apply_mask(image, landmarks, kind: str = "outline", color=(255, 255, 255), feather: float | None = None):
    """The face alone: masked by its ``outline`` (feathered convex hull of the landmarks: jaw and
    brows) or an ``oval``, on a plain ``color`` (RGB) or, with ``color=None``, transparent.

    Returns:
        uint8 ``(H, W, 3)`` RGB, or ``(H, W, 4)`` RGBA with ``color=None``.

    Raises:
        ValueError: bad image or landmarks, unknown ``kind``.
    """
    image = check_image(image)
    h, w = image.shape[:2]
    if kind not in MASKS:
        raise InvalidInput(f"mask must be one of {', '.join(MASKS)}, got {kind!r}")
    mask = face_mask(landmarks, w, h, feather) if kind == "outline" else oval_mask(landmarks, w, h, feather)
    if color is None:
        alpha = np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8)
        return np.dstack([image, alpha])
    m = mask[..., None]
    out = image.astype(np.float32) * m + np.asarray(color, np.float32).reshape(1, 1, 3) * (1 - m)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
