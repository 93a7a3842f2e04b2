"""Procrustes alignment of landmark shapes and the Procrustes mean shape."""

from __future__ import annotations

import numpy as np

from ._checks import check_landmark_stack, check_points
from .errors import InvalidInput
from .frame import CanonicalFrame
from .ibug68 import eye_centres


def fit_similarity(src, dst, rotation: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity transform (rotation, uniform scale, translation) of
    ``src`` onto ``dst`` - ordinary Procrustes analysis, vectorised over shapes.

    With points as complex numbers ``z``, the optimal map is ``z -> a z + t`` with
    ``a = sum(conj(zs_c) zd_c) / sum(|zs_c|^2)`` on centred shapes (no reflection);
    without ``rotation`` ``a`` is the real part of that (the least-squares scale alone).

    Args:
        src: ``(k, 2)`` or ``(n, k, 2)`` source shapes.
        dst: ``(k, 2)`` or ``(n, k, 2)`` target shape(s), broadcast against ``src``.
        rotation: False: scale and translation only (the shapes keep their roll).

    Returns:
        ``(aligned, matrices)``: float64 ``src``-shaped points after the transform, and
        float64 ``(..., 3, 3)`` homogeneous matrices.

    Raises:
        ValueError: shapes that do not match, or a source shape whose points all coincide.

    Reference: J.C. Gower, "Generalized Procrustes analysis", Psychometrika 40, 1975;
    S. Umeyama, IEEE TPAMI 13(4), 1991.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.shape[-1] != 2 or d.shape[-1] != 2 or s.shape[-2] != d.shape[-2]:
        raise InvalidInput(f"fit_similarity needs matching (..., k, 2) shapes, got {s.shape} and {d.shape}")
    zs = s[..., 0] + 1j * s[..., 1]
    zd = d[..., 0] + 1j * d[..., 1]
    ms = zs.mean(axis=-1, keepdims=True)
    md = zd.mean(axis=-1, keepdims=True)
    zs_c, zd_c = zs - ms, zd - md
    denom = np.sum(np.abs(zs_c) ** 2, axis=-1, keepdims=True)
    if np.any(denom <= 1e-12):
        raise InvalidInput("cannot fit a similarity: a source shape has all its points at one place")
    a = np.sum(np.conj(zs_c) * zd_c, axis=-1, keepdims=True) / denom
    if not rotation:
        a = a.real.astype(np.complex128)
    t = md - a * ms
    out = a * zs + t
    aligned = np.stack([out.real, out.imag], axis=-1)
    a, t = a[..., 0], t[..., 0]
    m = np.zeros(a.shape + (3, 3))
    m[..., 0, 0], m[..., 0, 1], m[..., 0, 2] = a.real, -a.imag, t.real
    m[..., 1, 0], m[..., 1, 1], m[..., 1, 2] = a.imag, a.real, t.imag
    m[..., 2, 2] = 1.0
    return aligned, m


def _normalise(shape: np.ndarray) -> np.ndarray:
    c = shape - shape.mean(axis=0)
    return c / np.linalg.norm(c)


def mean_shape(landmarks, frame: CanonicalFrame | None = None, max_iter: int = 100,
               tol: float = 1e-10) -> np.ndarray:
    """Procrustes mean shape of many faces (generalised Procrustes analysis).

    All shapes are centred and scaled to unit size; starting from the first one as the
    estimate, every shape is aligned to the current mean with a least-squares
    similarity transform, the aligned shapes are averaged, and the average is re-centred,
    re-scaled to unit size and its rotation fixed to the reference; repeated until the
    mean moves less than ``tol``.

    Args:
        landmarks: ``(n, 68, 2)`` landmarks (any images, any pose), ``n >= 1``.
        frame: when given, the mean is placed in that frame by the similarity that puts
            its eye centres (means of points 36-41, 42-47) on ``frame.eye_left`` and
            ``frame.eye_right`` - the same place :func:`~morphkit.align.align_face`
            puts every face. Without it the mean is placed by a least-squares similarity
            onto the plain average of the input shapes (right for inputs that already
            share one frame).
        max_iter, tol: iteration limit and convergence threshold (unit-size shapes).

    Returns:
        float32 ``(68, 2)``.

    Raises:
        ValueError: not ``(n, 68, 2)``, no faces, NaN coordinates, a degenerate shape.

    Reference: J.C. Gower (1975); T.F. Cootes et al., "Active shape models - their
    training and application", CVIU 61(1), 1995 (the alignment algorithm, appendix A).
    """
    shapes = check_landmark_stack(landmarks)
    if shapes.reshape(shapes.shape[0], -1).std(axis=1).min() <= 0:
        raise InvalidInput("cannot compute a mean shape: a face has all its landmarks at one place")
    units = np.stack([_normalise(s) for s in shapes])
    reference = units[0]
    mean = reference
    for _ in range(max_iter):
        aligned, _ = fit_similarity(units, mean)
        new = aligned.mean(axis=0)
        new, _ = fit_similarity(new, reference)  # fix the rotation to the reference
        new = _normalise(new)
        done = np.linalg.norm(new - mean) < tol
        mean = new
        if done:
            break
    if frame is not None:
        if not isinstance(frame, CanonicalFrame):
            raise InvalidInput(f"frame must be a CanonicalFrame or None, got {type(frame).__name__}")
        # Two-point similarity (exact): eye centres onto the frame's eyes.
        _, m = fit_similarity(eye_centres(mean), frame.eyes)
    else:
        _, m = fit_similarity(mean, shapes.mean(axis=0))
    out = mean @ m[:2, :2].T + m[:2, 2]
    return out.astype(np.float32)


def exaggerate(landmarks, reference, factor: float, align_reference: bool = True) -> np.ndarray:
    """Shape pushed away from ``reference`` by ``factor``: ``ref + factor * (shape - ref)``.

    With ``align_reference`` the reference is first fitted onto ``landmarks`` by a
    least-squares similarity, so only differences of *shape* - not position, size or
    roll - are exaggerated. Returns float64 ``(k, 2)``.
    """
    lm = check_points(landmarks, "landmarks")
    ref = check_points(reference, "mean_landmarks", lm.shape[0])
    if align_reference:
        ref, _ = fit_similarity(ref, lm)
    return ref + float(factor) * (lm - ref)
