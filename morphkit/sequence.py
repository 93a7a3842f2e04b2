"""Morph sequences: a movie that holds on each face and morphs into the next."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ._checks import (
    ImageSource,
    check_fraction,
    check_landmark_stack,
    check_n_jobs,
    check_positive,
    check_sources,
    load_image,
)
from .align import _check_frame, align_face
from .errors import InvalidInput
from .frame import CanonicalFrame
from .morph import Morpher
from .parallel import ordered_map


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def sequence_timing(fps: float, seconds_per_face: float, transition_fraction: float) -> tuple[int, int]:
    """Frames per face: ``(hold, transition)``.

    Each face owns ``round(fps * seconds_per_face)`` frames (at least 1), of which
    ``round(that * transition_fraction)`` are the transition into the next face and the
    rest hold the face still.
    """
    fps = check_positive(fps, "fps")
    seconds = check_positive(seconds_per_face, "seconds_per_face")
    frac = check_fraction(transition_fraction, "transition_fraction")
    slot = max(1, _round_half_up(fps * seconds))
    trans = _round_half_up(slot * frac)
    return slot - trans, trans


def morph_sequence_length(n_faces: int, fps: float, seconds_per_face: float,
                          transition_fraction: float = 0.5, loop: bool = False) -> int:
    """Number of frames :func:`morph_sequence_frames` yields:
    ``n * hold + (n - 1) * transition`` (``n * (hold + transition)`` with ``loop``)."""
    if n_faces < 1:
        raise InvalidInput(f"need at least one face, got {n_faces}")
    hold, trans = sequence_timing(fps, seconds_per_face, transition_fraction)
    n_trans = n_faces if (loop and n_faces > 1) else n_faces - 1
    return n_faces * hold + n_trans * trans


def smoothstep(t: float) -> float:
    """Ease-in/ease-out ``3t^2 - 2t^3`` of ``t`` in [0, 1]."""
    return t * t * (3.0 - 2.0 * t)


def _align_item(item) -> tuple[np.ndarray, np.ndarray]:
    source, lm, frame, index = item
    return align_face(load_image(source, index), lm, frame)


def morph_sequence_frames(images: list[ImageSource], landmarks, frame: CanonicalFrame = CanonicalFrame(),
                          fps: float = 30.0, seconds_per_face: float = 2.0,
                          transition_fraction: float = 0.5, n_jobs: int = 1, *,
                          loop: bool = False, ease: bool = True, background: str = "frame",
                          background_color=None) -> Iterator[np.ndarray]:
    """Frames of a morph movie through an ordered list of faces, generated lazily.

    Every face is aligned into ``frame`` (:func:`~morphkit.align.align_face`), shown
    still for the *hold* frames, then morphed into the next face over the *transition*
    frames (:class:`~morphkit.morph.Morpher`: Delaunay triangulation of the pair's halfway
    shape, piecewise-affine warps, cross-dissolve; warp and dissolve fractions both follow
    ``t = k / (transition + 1)``, eased with :func:`smoothstep` when ``ease``). See
    :func:`sequence_timing` and :func:`morph_sequence_length` for the frame counts.

    Memory stays flat whatever the length: frames are produced one at a time, faces are
    loaded and aligned only when needed (with ``n_jobs != 1`` up to ``2 * n_jobs`` faces
    are aligned ahead in joblib workers), and only the two faces of the current
    transition are held.

    Args:
        images: sequence of ``n`` uint8 ``(H, W, 3)`` arrays or zero-argument picklable
            callables returning one.
        landmarks: ``(n, 68, 2)`` landmarks, pixels of each image.
        frame: output geometry; frames are ``(frame.height, frame.width, 3)``.
        fps: frames per second (> 0).
        seconds_per_face: time each face owns, hold plus outgoing transition (> 0).
        transition_fraction: share of that time spent morphing, in [0, 1].
        n_jobs: joblib processes for loading and aligning faces.
        loop: also morph from the last face back to the first (for looping playback).
        ease: ease-in/ease-out the transitions.
        background: ``"frame"`` (default) morphs the whole frame; ``"face"`` shows only
            the face on a plain background: each frame masked by the feathered convex
            hull of its own shape (:func:`~morphkit.masks.face_mask`), as mean faces do.
        background_color: RGB of the plain background; default ``frame.fill``.

    Returns:
        A generator of uint8 ``(H, W, 3)`` frames. Arguments are checked at the call;
        errors loading an image surface while iterating.

    Raises:
        ValueError: bad landmarks, count mismatch, non-positive fps or seconds,
            fraction outside [0, 1], bad ``n_jobs``, unknown ``background``.
    """
    if background not in ("frame", "face"):
        raise InvalidInput(f"background must be 'frame' or 'face', got {background!r}")
    lm = check_landmark_stack(landmarks)
    sources = check_sources(images, lm.shape[0])
    frame = _check_frame(frame)
    hold, trans = sequence_timing(fps, seconds_per_face, transition_fraction)
    n_jobs = check_n_jobs(n_jobs)
    n = lm.shape[0]
    order = list(range(n)) + ([0] if loop and n > 1 else [])
    items = [(sources[i], lm[i], frame, i) for i in order]
    frames = _frames(items, n, hold, trans, n_jobs, ease)
    if background == "face":
        color = frame.fill if background_color is None else background_color
        return _face_only(frames, frame, color)
    return (image for image, _ in frames)


def _face_only(frames, frame: CanonicalFrame, color) -> Iterator[np.ndarray]:
    from .masks import composite_on_background, face_mask

    for image, shape in frames:
        yield composite_on_background(image, face_mask(shape, frame.width, frame.height), color)


def _frames(items, n_faces: int, hold: int, trans: int, n_jobs: int, ease: bool):
    """``(frame, its shape)`` pairs: the frame image and the landmarks its face is warped to."""
    # items: the faces in order, plus face 0 again at the end when looping.
    aligned = ordered_map(_align_item, items, n_jobs)
    img, pts = next(aligned)
    for step in range(len(items)):
        if step < n_faces:  # the repeated first face that closes a loop is not held again
            for _ in range(hold):
                yield img.copy(), pts
        if step == len(items) - 1:
            break
        nxt_img, nxt_pts = next(aligned)
        if trans > 0:
            morpher = Morpher(img, pts, nxt_img, nxt_pts)
            for k in range(1, trans + 1):
                t = k / (trans + 1)
                f = smoothstep(t) if ease else t
                yield morpher.frame(f, f), morpher.shape(f)[:68]
            del morpher
        img, pts = nxt_img, nxt_pts
