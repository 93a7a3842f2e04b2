"""Face-research transforms on arrays: symmetrising, prototype transforms, continua.

The stimuli of face-perception studies, as Psychomorph and WebMorph make them
(Tiddeman, Burt and Perrett, "Prototyping and transforming facial textures for
perception research", IEEE CG&A 21(5), 2001; Benson and Perrett 1991):

- :func:`symmetrize`: average a face with its mirror image (landmarks mirrored with
  the 68-point permutation), in shape, colour or both; the colour only inside the face
  region (:func:`morphkit.masks.face_region`), so ears, neck and hair stay single, with a
  warning for a face turned too far (:func:`estimate_yaw`).
- :func:`transform`: Psychomorph's transform ``new = original + p (B - A)`` along the
  line from prototype ``A`` to prototype ``B``, with separate percentages for shape,
  colour and texture (colour and texture inside the face region only).
- :func:`continuum`: the faces between two images at even steps (shape and colour).

Masks (the face alone on a colour or transparent background) are :mod:`morphkit.masks`.

Every function takes uint8 ``(H, W, 3)`` RGB images and float ``(68, 2)`` ``(x, y)``
pixel landmarks (iBUG 300-W order) and returns new arrays; warps are piecewise affine
over the Delaunay triangulation of the landmarks plus the frame border points.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ._checks import check_image, check_landmarks
from .errors import InvalidInput
from .frame import with_border
from .ibug68 import MIRROR, NOSE_BRIDGE
from .masks import _axes, face_region
from .morph import Morpher
from .procrustes import fit_similarity
from .triangulation import triangulate
from .warp import WarpTarget

log = logging.getLogger(__name__)

#: Depth of the nose tip in front of the eye centres, in eye-centre distances (about 2.8 cm of 6.3 cm in adult
#: anthropometry), which turns the nose tip's sideways offset into a yaw angle (:func:`estimate_yaw`).
NOSE_DEPTH = 0.45
#: Faces turned further than this (degrees, :func:`estimate_yaw`) are symmetrised with a warning: the mirror
#: image then shows the other side of the nose and cheeks, which no warp puts in correspondence. Chosen by eye
#: on congress headshots (12 portraits from 4 to 26 degrees, ``benchmarks/bench_stimuli.py --docs``): to 12 degrees
#: the symmetric face shows no seam; from 15 some show one at the far temple, and from 20 the mirror brings
#: background into the face. No frl-canada studio portrait (at most 6 degrees) is flagged; a quarter of the
#: congress headshots are.
MAX_YAW = 12.0


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


def estimate_yaw(landmarks) -> float:
    """How far a face is turned left or right, in degrees, from its 68 landmarks.

    The nose tip (the last point of :data:`morphkit.ibug68.NOSE_BRIDGE`) moves sideways
    from the midpoint of the eye centres by ``NOSE_DEPTH * sin(yaw)`` while the eye
    distance shrinks by ``cos(yaw)``, so ``yaw = atan(offset / (NOSE_DEPTH * eye distance))``,
    the offset measured along the line through the eye centres (so in-plane roll does not
    count). A rough estimate (the nose's depth differs between people by about 20%), enough
    to flag faces too turned to symmetrise; positive: the nose points to the image's right.
    On the 40 frontal frl-canada studio portraits it stays within 6 degrees; on congress
    headshots (the first 200 by name) the median is 7 and the 90th percentile 16.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels (iBUG 300-W order).

    Returns:
        float, degrees (0: frontal).

    Raises:
        InvalidInput: bad landmarks or eye centres that coincide.
    """
    lm = check_landmarks(landmarks)
    mid, across, _, d, _ = _axes(lm)
    offset = float(np.dot(lm[NOSE_BRIDGE][-1] - mid, across))
    return math.degrees(math.atan2(offset, NOSE_DEPTH * d))


def yaw_note(landmarks, max_yaw: float = MAX_YAW) -> str:
    """``""`` for a face turned at most ``max_yaw`` degrees (:func:`estimate_yaw`), else a sentence saying
    how far it is turned (for warnings and reports).

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels (iBUG 300-W order).
        max_yaw: the largest turn, in degrees, that gets no note.

    Returns:
        str: ``""`` or one sentence (no trailing full stop).

    Raises:
        InvalidInput: bad landmarks or eye centres that coincide.
    """
    yaw = estimate_yaw(landmarks)
    if abs(yaw) <= float(max_yaw):
        return ""
    return (f"face turned about {abs(yaw):.0f} degrees (more than {float(max_yaw):g}): its mirror image does not "
            "match it, so the symmetric face shows both sides of the nose and cheeks")


def symmetrize(image, landmarks, shape: bool = True, color: bool = True,
               feather: float | None = None, max_yaw: float | None = MAX_YAW) -> tuple[np.ndarray, np.ndarray]:
    """Average a face with its mirror image, the face only (Benson and Perrett 1991; as Psychomorph does).

    The shape: the photo is warped (piecewise affine, frame border fixed) from its landmarks to
    the mean of the landmarks and their mirror image. The colour: the mirror image, warped to
    the same shape, is averaged with it inside the face region of that shape
    (:func:`morphkit.masks.face_region`: the landmark hull with a forehead, feathered) and
    the original is kept outside, so ears, neck, hair and background stay single (the 68 points
    put only the face in correspondence with its mirror image). A face turned more than
    :data:`MAX_YAW` degrees (:func:`estimate_yaw`) is symmetrised with a warning (logger
    ``morphkit.research``): its mirror image shows the other side of the nose and cheeks.

    Args:
        image: uint8 ``(H, W, 3)``, the face roughly centred (e.g. aligned into a frame).
        landmarks: ``(68, 2)`` of ``image``.
        shape: make the shape symmetric (the mean of the landmarks and their mirror).
        color: make the colour symmetric (average the face and its mirror, both
            warped to the output shape, inside the face region).
        feather: sigma in pixels of the face region's soft edge (default 8% of the
            eye-centre distance).
        max_yaw: warn above this many degrees of :func:`estimate_yaw`; None: no check (a
            caller that reports it itself, as ``morphkit symmetrize`` does in ``report.csv``).

    Returns:
        ``(image uint8 (H, W, 3), landmarks float32 (68, 2))`` of the symmetrised face.

    Raises:
        InvalidInput (a ValueError): bad image or landmarks, or neither ``shape`` nor ``color``.
    """
    image = check_image(image)
    lm = check_landmarks(landmarks).astype(np.float64)
    if not (shape or color):
        raise InvalidInput("symmetrize needs shape=True, color=True or both")
    note = yaw_note(lm, max_yaw) if max_yaw is not None else ""
    if note:
        log.warning(f"symmetrize: {note}")
    h, w = image.shape[:2]
    mirrored_img = np.ascontiguousarray(image[:, ::-1])
    mirrored_lm = mirror_landmarks(lm, w).astype(np.float64)
    out_lm = (lm + mirrored_lm) / 2.0 if shape else lm
    face = _warp(image, lm, out_lm) if shape else image
    if color:
        other = _warp(mirrored_img, mirrored_lm, out_lm)
        region = face_region(out_lm, w, h, feather)[..., None]
        mixed = face + region * ((other.astype(np.float64) - face) / 2.0)
        face = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return face, out_lm.astype(np.float32)


def _check_percentages(**pcts) -> None:
    """Raises InvalidInput naming the first of ``pcts`` that is not a finite number."""
    for name, value in pcts.items():
        try:
            ok = np.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidInput(f"{name} must be a finite percentage, got {value!r}")


def caricature(image, landmarks, mean_landmarks, shape_pct: float = 50.0, mean_image=None,
               color_pct: float = 0.0, texture_pct: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Caricature: exaggerate how a face differs from a mean face (the project's one caricature).

    Shape: ``P' = M + (1 + s) (P - M)`` with ``s = shape_pct / 100`` (50 pushes each landmark
    half as far again from the mean; negative values move toward the mean, an
    "anti-caricature"). Without ``mean_image`` the mean shape is first fitted onto the face
    by a least-squares similarity (Procrustes), so only differences of shape - not position,
    size or roll - are exaggerated. With ``mean_image`` (a mean face in the same frame as the
    face, e.g. a team-means output) the shapes are taken as they lie in that frame, and
    colour and texture are exaggerated too: :func:`transform` along the line from the mean
    to the face, inside the face region only.

    Args:
        image, landmarks: the face, uint8 ``(H, W, 3)`` and ``(68, 2)`` pixels.
        mean_landmarks: ``(68, 2)`` mean shape (e.g. :func:`morphkit.procrustes.mean_shape`).
        shape_pct, color_pct, texture_pct: percentages of exaggeration (finite; ``shape_pct``
            above -100).
        mean_image: uint8 mean face of ``image``'s size; needed for colour or texture.

    Returns:
        ``(image uint8 (H, W, 3), landmarks float32 (68, 2))``.

    Raises:
        ValueError: bad images or landmarks, a non-finite percentage or ``shape_pct <= -100``,
            colour or texture without ``mean_image``, or a mean image of another size.

    References: S.E. Brennan, "Caricature generator", Leonardo 18, 1985; Benson and Perrett
    (1991); Tiddeman, Burt and Perrett (2001) for colour and texture.
    """
    image = check_image(image)
    lm = check_landmarks(landmarks).astype(np.float64)
    mean = check_landmarks(mean_landmarks, "mean_landmarks").astype(np.float64)
    _check_percentages(shape_pct=shape_pct, color_pct=color_pct, texture_pct=texture_pct)
    if float(shape_pct) <= -100:
        raise InvalidInput(f"shape_pct must be above -100 (-100 is the mean shape itself), got {shape_pct!r}")
    if mean_image is None:
        if color_pct or texture_pct:
            raise InvalidInput("a colour or texture caricature needs the mean face (mean_image)")
        mean, _ = fit_similarity(mean, lm)
        mean_image = image  # unused: no colour, no texture
    return transform(image, lm, mean_image, mean, image, lm, shape_pct, color_pct, texture_pct)


def transform(image, landmarks, proto_a, shape_a, proto_b, shape_b, shape_pct: float = 100.0,
              color_pct: float = 0.0, texture_pct: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Psychomorph's transform: move a face along the line from prototype A to prototype B.

    ``shape' = shape + s (shape_B - shape_A)`` and ``colour' = colour + c (B - A)`` with
    ``s = shape_pct / 100``, ``c = color_pct / 100``; the colour difference of the
    prototypes is taken with both warped to the new shape. Colour and texture change only
    inside the face region of the new shape (:func:`morphkit.masks.face_region`, feathered):
    the prototypes' hair, collars and backgrounds are not in correspondence with the face's,
    and their difference would paste them onto it. The face and the prototypes
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
        InvalidInput (a ValueError): bad images or landmarks, a percentage that is not a finite
            number, or prototypes of another size than the face.
    """
    image = check_image(image)
    lm = check_landmarks(landmarks).astype(np.float64)
    _check_percentages(shape_pct=shape_pct, color_pct=color_pct, texture_pct=texture_pct)
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
        region = face_region(new_lm, image.shape[1], image.shape[0])
        if color_pct:
            out += float(color_pct) / 100.0 * region[..., None] * (b_w.astype(np.float64) - a_w)
        if texture_pct:
            from .texture import transfer_texture

            out = transfer_texture(np.clip(out, 0, 255), a_w, b_w, texture_pct, region).astype(np.float64)
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
