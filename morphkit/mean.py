"""Mean face: every face warped to the Procrustes mean shape and averaged.

Reference: F. Galton, "Composite portraits", Nature 18, 1878 (the idea); D.A. Rowland and
D.I. Perrett, "Manipulating facial appearance through shape and color", IEEE Computer
Graphics and Applications 15(5), 1995 (shape-normalised averaging by warping to the mean
shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import (
    ImageSource,
    check_landmark_stack,
    check_landmarks,
    check_n_jobs,
    check_sources,
    load_image,
)
from .align import _check_frame, align_landmarks, prescale, similarity_to_frame, transform_points
from .errors import InvalidInput
from .frame import CanonicalFrame, with_border
from .masks import composite_on_background, face_mask, face_region
from .parallel import CHUNK_SIZE, map_chunks
from .procrustes import mean_shape
from .texture import energy_shapes, inlier_details, local_energy, texture_prototype, texture_target
from .triangulation import triangulate
from .warp import WarpTarget

_BACKGROUNDS = ("frame", "face")


@dataclass(frozen=True)
class MeanFace:
    """Result of :func:`mean_face`.

    Attributes:
        image: uint8 ``(H, W, 3)`` mean face in the canonical frame.
        shape: float32 ``(68, 2)`` the mean shape it was warped to, frame pixels.
        count: number of faces averaged.
    """

    image: np.ndarray
    shape: np.ndarray
    count: int


def _warped(faces, start: int, target: np.ndarray, triangles: np.ndarray, frame: CanonicalFrame):
    """Each of ``faces`` - ``(image source, landmarks, ...)`` - warped onto the target: uint8 ``(H, W, 3)``."""
    width, height = frame.size
    warp_target = WarpTarget(target, triangles, width, height)
    fill = tuple(int(c) for c in frame.fill)
    for offset, (source, lm, *_) in enumerate(faces):
        image = load_image(source, start + offset)
        matrix = similarity_to_frame(lm, frame)
        small, m = prescale(image, matrix)
        # Points in the (possibly shrunk) source image that land on the target's points:
        # the landmarks, and the frame's border points pulled back into the photo. Warping
        # straight from the photo composes alignment and shape warp into one resampling.
        aligned = transform_points(lm, matrix)
        src = transform_points(with_border(aligned, width, height), np.linalg.inv(m))
        yield warp_target.warp(small, src, frame.border, fill)


def _sum_chunk(faces, start: int, target: np.ndarray, triangles: np.ndarray,
               frame: CanonicalFrame, texture: bool = False):
    """The sum (float64) of ``faces`` - ``(image source, landmarks)`` pairs - warped onto the target, and with
    ``texture`` each face's :func:`~morphkit.texture.local_energy`, per level stacked ``(k, 3, h, w)`` (else None)."""
    total = np.zeros(frame.shape, dtype=np.float64)
    energies = []
    for warped in _warped(faces, start, target, triangles, frame):
        total += warped
        if texture:
            energies.append(local_energy(warped))
    return total, [np.stack(level) for level in zip(*energies)] if texture else None


def _detail_chunk(faces, start: int, target: np.ndarray, triangles: np.ndarray, frame: CanonicalFrame,
                  energy_target: list):
    """Sums over ``faces`` - ``(image source, landmarks, local energy)`` - warped onto the target of their
    :func:`~morphkit.texture.inlier_details`: per level, the weighted detail coefficients and the weights."""
    sums = weights = None
    for warped, (_, _, energy) in zip(_warped(faces, start, target, triangles, frame), faces):
        c, w = inlier_details(warped, energy, energy_target)
        sums, weights = _add_levels(sums, c), _add_levels(weights, w)
    return sums, weights


def _add_levels(total, part):
    """Per-level arrays ``total + part`` (``total`` None: ``part``)."""
    return part if total is None else [a + b for a, b in zip(total, part)]


def mean_face(images: list[ImageSource], landmarks, frame: CanonicalFrame = CanonicalFrame(),
              background: str = "frame", n_jobs: int = 1, *, target_shape=None,
              background_color=None, feather: float | None = None, texture: bool = False) -> MeanFace:
    """Mean face of a collection: align, warp every face to the mean shape, average.

    Steps: the landmarks are aligned into ``frame`` (eye centres fixed, see
    :func:`~morphkit.align.align_face`); their Procrustes mean shape is computed
    (:func:`~morphkit.procrustes.mean_shape`) and Delaunay-triangulated once with the 8
    frame border points; each photo is piecewise-affine warped straight onto that shape
    (alignment and warp in one resampling) and added to a float64 running sum, which is
    divided by the count and rounded. The plain mean's memory does not grow with the number of faces.

    Work runs in joblib processes in fixed chunks of :data:`~morphkit.parallel.CHUNK_SIZE`
    faces whose partial sums are added in chunk order, so the result is identical for
    every ``n_jobs``. Images are loaded inside the workers.

    Args:
        images: sequence of ``n`` items, each a uint8 ``(H, W, 3)`` RGB array or a
            zero-argument picklable callable returning one (e.g.
            ``functools.partial(read_image, path)``) so a collection can be streamed.
        landmarks: ``(n, 68, 2)`` landmarks, pixels of each image.
        frame: output geometry.
        background: ``"frame"`` (default) averages the whole frame - hair, shoulders,
            background; ``"face"`` keeps only the face (the mean shape's face region: landmark
            hull with the whole brows and a forehead, Gaussian-feathered, see
            :func:`morphkit.masks.face_region`) on a plain background.
        n_jobs: joblib processes (``1`` = serial, ``-1`` = all cores).
        target_shape: optional ``(68, 2)`` shape in frame pixels to warp to instead of
            this collection's mean (e.g. one common shape for several groups).
        background_color: RGB of the plain background for ``"face"``; default ``frame.fill``.
        feather: mask sigma in pixels for ``"face"`` (default: 8% of the eye distance).
        texture: a texture-preserving mean (Tiddeman, Burt and Perrett 2001,
            :mod:`morphkit.texture`): the detail of the faces that are not outliers at each
            place (:func:`~morphkit.texture.inlier_details`), rescaled to their mean local
            amplitude there (a trimmed mean, :func:`~morphkit.texture.texture_target`), so that
            texture most faces share (skin, brows, lashes) is not averaged away and what a
            minority has (fringes, glasses frames) is neither amplified nor kept as a faint
            trace. It takes a second pass over the faces, and memory grows by about one float32
            plane of the frame per face (their local energies); only inside the
            face region of the mean shape (:func:`morphkit.masks.face_region`: the landmark
            hull and a forehead, feathered), where the faces are in correspondence, with the
            plain mean outside (hair, ears, neck and background are not aligned by the 68
            points, and raising their detail draws amplified outlines).

    Returns:
        :class:`MeanFace` ``(image uint8 (H, W, 3), shape float32 (68, 2), count)``.

    Raises:
        ValueError: landmarks not ``(n, 68, 2)`` or with NaN, image count different from
            ``n``, an image that is not uint8 ``(H, W, 3)`` (also when returned by a
            callable), unknown background, bad ``n_jobs``.
    """
    lm = check_landmark_stack(landmarks)
    sources = check_sources(images, lm.shape[0])
    frame = _check_frame(frame)
    n_jobs = check_n_jobs(n_jobs)
    if background not in _BACKGROUNDS:
        raise InvalidInput(f"background must be one of {_BACKGROUNDS}, got {background!r}")
    width, height = frame.size
    if target_shape is None:
        shape = mean_shape(align_landmarks(lm, frame), frame=frame).astype(np.float64)
    else:
        shape = check_landmarks(target_shape, "target_shape")
    target = with_border(shape, width, height)
    triangles = triangulate(target)
    total = np.zeros(frame.shape, dtype=np.float64)
    n = lm.shape[0]
    # every face's local texture energy (about one float32 plane of the frame each): the target needs their median
    energies = [np.empty((n, *s), np.float32) for s in energy_shapes(height, width)] if texture else []
    faces = list(zip(sources, lm))
    done = 0
    for part, levels in map_chunks(_sum_chunk, faces, n_jobs, CHUNK_SIZE, target=target,
                                   triangles=triangles, frame=frame, texture=texture):
        total += part
        for stack, level in zip(energies, levels or []):
            stack[done:done + len(level)] = level
        done += len(levels[0]) if texture else 0
    if texture:  # a second pass: the detail of the faces that are not outliers at each place (the target needs
        # every face's energy first). It decodes and warps each face again (a few ms beside its two wavelet
        # transforms, ~0.1 s each at 450 x 550) rather than keeping the warped faces: 3 more bytes a pixel a face,
        # and sent to and back from the worker processes.
        energy_target = texture_target(energies)
        items = [(s, lm_i, [e[i] for e in energies]) for i, (s, lm_i) in enumerate(faces)]
        sums = weights = None
        for c, w in map_chunks(_detail_chunk, items, n_jobs, CHUNK_SIZE, target=target, triangles=triangles,
                               frame=frame, energy_target=energy_target):
            sums, weights = _add_levels(sums, c), _add_levels(weights, w)
        details = [a / np.maximum(b, 1e-12) for a, b in zip(sums, weights)]
        image = texture_prototype(total / n, energy_target, face_region(shape, width, height), details)
    else:
        image = np.clip(np.rint(total / n), 0, 255).astype(np.uint8)
    if background == "face":
        color = frame.fill if background_color is None else background_color
        image = composite_on_background(image, face_mask(shape, width, height, feather), color)
    return MeanFace(image=image, shape=shape.astype(np.float32), count=int(lm.shape[0]))
