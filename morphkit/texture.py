"""Texture-preserving averages: the texture most of the faces share kept in the prototype.

Tiddeman, Burt and Perrett, "Prototyping and transforming facial textures for
perception research", IEEE Computer Graphics and Applications 21(5), 2001. A plain
average of shape-normalised faces keeps their shared low frequencies but cancels the
fine texture (skin, hair, eyelashes) that differs from face to face, so means look
airbrushed. Following the paper, the luminance of each shape-normalised face is
decomposed with a 2-D stationary (undecimated) wavelet transform (PyWavelets'
``swt2``: shift-invariant, so the rescaling below leaves no block pattern) and the prototype's
detail coefficients are the mean's own coefficients, rescaled so that their local
amplitude (root mean square, Gaussian-smoothed within each subband) equals a target
amplitude taken from the individual faces: the mean's structure and signs, the
individuals' texture energy. The gain is at least 1 and at most :data:`MAX_GAIN`
(where the mean has almost no detail a larger gain would amplify noise). The coarsest
approximation and the colour (chroma) stay the plain average.

**A robust target.** The paper's target is the faces' *mean* local energy. A mean lets a
minority decide: the fringes of a fifth of the faces or the glasses frames of a tenth carry
so much energy that the mean energy at their place is several times that of the other faces,
and the gain raises the mean's faint trace of them to it (cracked foreheads, rings around the
eyes). Here the target is, per place (each subband sample), a **trimmed mean** of the faces'
local energies (:func:`texture_target`): the mean of the faces whose local amplitude there is
at most :data:`OUTLIER` times the median's, the median being the statistic with the highest
breakdown point, 50% (F. R. Hampel, "A general qualitative definition of robustness", Annals of
Mathematical Statistics 42, 1971; P. J. Huber and E. M. Ronchetti, *Robust Statistics*, 2nd ed.,
Wiley 2009). Detail that fewer than half of the faces have at a place is not restored; skin,
brows, lashes and lips, which every face has, are, at their mean energy (the median alone,
``statistic="median"``, restores less: the faces' energies are skewed). ``statistic="mean"``
gives the paper's target.

**A robust structure.** The mean's own detail still holds a faint trace of the minority (a fifth of
the faces' fringes at a fifth of their contrast), and a gain that lifts the skin texture lifts that
trace with it. So the coefficients rescaled are not the mean image's but, per place, the mean over
the faces whose local amplitude there is at most :data:`OUTLIER` times the target's
(:func:`inlier_details`; a weight falling linearly to 0 at twice that energy, so no seam): a face
whose detail at a place is an outlier is left out there, outliers rejected before averaging as in
Hampel, Ronchetti, Rousseeuw and Stahel, *Robust Statistics: The Approach Based on Influence
Functions*, Wiley 1986, with a fixed multiple of the median as the rule instead of one of the MAD
(where up to half of the faces have the feature, the MAD grows with it). This takes a second pass
over the faces (:func:`morphkit.mean.mean_face` warps them again).

Memory: the median needs every face's energies, so each face's local energy (smooth, being
Gaussian-smoothed at ``sigma``) is kept sampled every ``sigma`` pixels (:func:`local_energy`):
about one float32 plane of the frame per face (``LEVELS x 3`` planes at 1/4, 1/16, 1/64 and
1/256 of the samples), 1 MB a face in a 450 x 550 frame.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidInput

WAVELET = "sym4"
LEVELS = 4
MAX_GAIN = 10.0
SMOOTH = 2.0  # sigma of the local-amplitude estimate, in pixels at the finest level (doubling per level)
#: The per-place statistics of the faces' local energies that :func:`texture_target` offers (the first: default).
STATISTICS = ("trimmed", "median", "mean")
#: A face whose local detail amplitude at a place is more than this multiple of the typical face's there (the
#: median's in :func:`texture_target`, the target's in :func:`inlier_details`) is an outlier there: left out of
#: the target and of the prototype's detail structure (weight 1 up to it, falling linearly in energy to 0 at
#: twice its square).
OUTLIER = 2.0

# ITU-R BT.601 RGB -> Y, Cb, Cr (offsets left out: only differences matter here)
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)


def _luma(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float64) @ _RGB_TO_YCC[0]


def _padded_size(height: int, width: int) -> tuple[int, int]:
    """``(H', W')``: ``height x width`` rounded up to a multiple of ``2**LEVELS`` (``swt2`` needs it)."""
    step = 2 ** LEVELS
    return int(height) + (-int(height)) % step, int(width) + (-int(width)) % step


def _padded(channel: np.ndarray) -> np.ndarray:
    """``channel`` reflect-padded at the bottom and right to :func:`_padded_size`."""
    h, w = _padded_size(*channel.shape[:2])
    ph, pw = h - channel.shape[0], w - channel.shape[1]
    return np.pad(channel, ((0, ph), (0, pw)), mode="reflect") if ph or pw else channel


def _details(channel: np.ndarray) -> list:
    """``swt2`` of a padded channel: ``[(cA, (cH, cV, cD)), ...]``, coarsest level first."""
    import pywt

    return pywt.swt2(_padded(channel), WAVELET, level=LEVELS, trim_approx=False, norm=True)


def _sigma(level: int) -> float:
    """Sigma of the local-energy estimate at ``level`` (coarsest first): coarser levels vary more slowly."""
    return SMOOTH * 2 ** (LEVELS - 1 - level)


def _local_energy(detail: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(np.square(detail), (0, 0), sigma)


def energy_shapes(height: int, width: int) -> list[tuple[int, int, int]]:
    """The shapes of :func:`local_energy`'s arrays for an image of ``height x width``: per level
    (coarsest first) ``(3, H' / s, W' / s)``, ``H' x W'`` the size padded to a multiple of
    ``2**LEVELS`` and ``s`` the level's sigma in pixels (16, 8, 4, 2)."""
    h, w = _padded_size(height, width)
    return [(3, h // int(_sigma(i)), w // int(_sigma(i))) for i in range(LEVELS)]


def local_energy(image: np.ndarray) -> list[np.ndarray]:
    """The local detail energy of the luminance of an RGB float or uint8 ``(H, W, 3)`` image.

    Per level and subband, the squared ``swt2`` detail coefficients Gaussian-smoothed with the
    level's sigma (:data:`SMOOTH` pixels at the finest level, doubling per level), the energy
    whose square root is the local amplitude :func:`texture_prototype` matches. Being smooth at
    that sigma, it is kept sampled every sigma pixels (area average), so storing it per face costs
    about one float32 plane of the image.

    Returns:
        per level, coarsest first, float32 ``(3, H' / s, W' / s)`` (:func:`energy_shapes`): the
        horizontal, vertical and diagonal details' local energy.
    """
    import cv2

    out = []
    for i, (_, details) in enumerate(_details(_luma(image))):
        sigma, step = _sigma(i), int(_sigma(i))
        h, w = details[0].shape
        # float32: what is kept, and OpenCV's wide Gaussian is ~5x faster than in float64 (once per face)
        out.append(np.stack([cv2.resize(_local_energy(d.astype(np.float32), sigma), (w // step, h // step),
                                        interpolation=cv2.INTER_AREA) for d in details]))
    return out


def _inlier_weight(energy, typical) -> np.ndarray:
    """1 where ``energy`` is at most :data:`OUTLIER` squared times ``typical``, falling linearly to 0 at twice that;
    in ``energy``'s float precision (float32 for the faces' stacked energies, which can be large)."""
    energy = np.asarray(energy)
    dtype = np.result_type(energy.dtype, np.float32)
    ratio = energy / np.maximum(OUTLIER ** 2 * np.asarray(typical, dtype), 1e-12).astype(dtype)
    np.subtract(2.0, ratio, out=ratio)
    return np.clip(ratio, 0.0, 1.0, out=ratio)


def texture_target(levels, statistic: str = STATISTICS[0]) -> list[np.ndarray]:
    """The target local energy of a prototype: per place, the ``statistic`` of the faces' local energies.

    Args:
        levels: per level (coarsest first), float ``(n, 3, h, w)``: the :func:`local_energy` of
            each of ``n`` faces at that level, stacked.
        statistic: ``"trimmed"`` (default): the mean of the faces that are not outliers there (local
            amplitude at most :data:`OUTLIER` times the median's; weighted as in :func:`inlier_details`),
            so what only a minority has at a place (a fringe, a glasses frame) is not restored (module
            docstring); ``"median"``: the median; ``"mean"``: the mean energy of all the faces
            (Tiddeman, Burt and Perrett 2001; until issue 29).

    Returns:
        per level, float64 ``(3, h, w)``: what :func:`texture_prototype` takes.

    Raises:
        InvalidInput: an unknown statistic, no faces, or levels that are not :data:`LEVELS`
            arrays of the same number of faces.
    """
    if statistic not in STATISTICS:
        raise InvalidInput(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    levels = list(levels)
    if len(levels) != LEVELS or any(np.ndim(x) != 4 or np.shape(x)[:2] != (np.shape(levels[0])[0], 3)
                                    for x in levels):
        raise InvalidInput(f"levels must be {LEVELS} arrays (n, 3, h, w) of the same n faces")
    if np.shape(levels[0])[0] == 0:
        raise InvalidInput("a texture target needs at least one face")
    if statistic == "mean":
        return [np.asarray(x, dtype=np.float64).mean(axis=0) for x in levels]
    out = []
    for x in levels:
        x = np.asarray(x)
        median = np.median(x, axis=0)
        if statistic == "trimmed":  # weights and products in x's precision, sums in float64 (n faces' worth of memory)
            w = _inlier_weight(x, median)  # at least half of the faces weigh 1 (energy <= median)
            total = w.sum(axis=0, dtype=np.float64)
            median = np.multiply(w, x, out=w).sum(axis=0, dtype=np.float64) / total
        out.append(np.asarray(median, np.float64))
    return out


def inlier_details(image: np.ndarray, energy, target) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One face's luminance detail coefficients, weighted by how typical its detail is at each place.

    The weight is 1 where the face's local energy (``energy``, its :func:`local_energy`) is at most
    :data:`OUTLIER` squared times ``target`` (the typical face's, :func:`texture_target`), falls linearly
    to 0 at twice that, and is 0 above: a face whose detail at a place is an outlier (a fringe on the
    forehead, a glasses frame around the eyes) is left out of the prototype's detail there. Summed over
    the faces and divided by the summed weights, these give the detail coefficients
    :func:`texture_prototype` rescales (its ``details``): the mean detail of the faces that are not
    outliers at each place.

    Args:
        image: RGB ``(H, W, 3)``, the face warped to the prototype's shape.
        energy: its :func:`local_energy`. target: :func:`texture_target` of the faces.

    Returns:
        ``(weighted, weights)``: per level, coarsest first, float64 ``(3, H', W')`` each: the detail
        coefficients times their weights, and the weights.
    """
    import cv2

    weighted, weights = [], []
    for (_, details), e, t in zip(_details(_luma(image)), energy, target):
        h, w = details[0].shape
        small = _inlier_weight(e, t)
        full = np.stack([cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR) for b in small])
        weighted.append(full * np.stack(details))
        weights.append(full)
    return weighted, weights


def _rescale_details(image: np.ndarray, gain, replace=None) -> np.ndarray:
    """``image`` with each luminance detail band ``d`` of level ``i`` (coarsest first) multiplied by
    ``gain(i, band, d, sigma)``; ``replace``: per level ``(3, H', W')`` detail coefficients taken instead of
    the image's own; chroma and the coarsest approximation kept. uint8 ``(H, W, 3)``."""
    import pywt

    image = np.asarray(image, dtype=np.float64)
    ycc = image @ _RGB_TO_YCC.T
    levels = _details(ycc[..., 0])
    out = []
    for i, (approx, details) in enumerate(levels):
        sigma = _sigma(i)
        details = details if replace is None else tuple(replace[i])
        out.append((approx, tuple(d * gain(i, b, d, sigma) for b, d in enumerate(details))))
    ycc[..., 0] = pywt.iswt2(out, WAVELET, norm=True)[: image.shape[0], : image.shape[1]]
    return np.clip(np.rint(ycc @ _YCC_TO_RGB.T), 0, 255).astype(np.uint8)


def _blend(plain: np.ndarray, textured: np.ndarray, weight) -> np.ndarray:
    """``plain + weight * (textured - plain)``, uint8 ``(H, W, 3)``; ``weight`` None: ``textured``.

    Raises:
        InvalidInput: a weight that is not ``(H, W)`` or holds values outside ``[0, 1]`` or NaN.
    """
    if weight is None:
        return textured
    w = np.asarray(weight, dtype=np.float64)
    if w.shape != textured.shape[:2]:
        raise InvalidInput(f"weight {w.shape} must be the image's size {textured.shape[:2]}")
    if not (np.all(np.isfinite(w)) and w.min() >= 0 and w.max() <= 1):
        raise InvalidInput("weight must hold finite values in [0, 1]")
    out = np.asarray(plain, dtype=np.float64) + w[..., None] * (textured.astype(np.float64) - plain)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def texture_prototype(mean_image: np.ndarray, target, weight=None, details=None) -> np.ndarray:
    """The texture-preserving prototype of a set of shape-normalised faces.

    Only where the faces are in correspondence should the detail be restored: elsewhere
    (hair, ears, collars, background: the 68 points do not align them) the mean's detail is
    the blurred edges of many different outlines, and raising it draws "scribbles". So the
    result is ``plain + weight * (textured - plain)``: callers pass the face region of the
    mean shape (:func:`morphkit.masks.face_region`, landmark hull plus forehead, feathered)
    as ``weight`` and keep the plain mean outside it (:func:`morphkit.mean.mean_face` does).

    Args:
        mean_image: float ``(H, W, 3)`` RGB, the plain mean of the faces (0..255).
        target: the faces' target local energy, :func:`texture_target` of their
            :func:`local_energy` (per level, ``(3, h, w)`` of :func:`energy_shapes`).
        weight: optional float ``(H, W)`` in ``[0, 1]``: where to restore the texture (1: fully,
            0: the plain mean); None restores it everywhere (Tiddeman, Burt and Perrett 2001).
        details: optional, per level float ``(3, H', W')``: the detail coefficients to rescale instead
            of the mean's own, the mean detail of the faces that are not outliers at each place
            (:func:`inlier_details`), so that what a minority has does not even show faintly.

    Returns:
        uint8 ``(H, W, 3)`` RGB: the mean with its luminance detail rescaled to the target
        local amplitude (module docstring), blended by ``weight``.

    Raises:
        InvalidInput (a ValueError): a target that does not belong to an image of this size; a bad ``weight``.
    """
    import cv2

    target = [np.asarray(t, dtype=np.float64) for t in target]
    expected = energy_shapes(*np.shape(mean_image)[:2])
    if [t.shape for t in target] != expected:
        raise InvalidInput(f"target {[t.shape for t in target]} does not belong to a {np.shape(mean_image)[:2]} "
                           f"image (expected {expected})")

    def gain(level, band, d, sigma):
        faces = cv2.resize(target[level][band], (d.shape[1], d.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(np.sqrt(faces / np.maximum(_local_energy(d, sigma), 1e-12)), 1.0, MAX_GAIN)

    full = (3, *_padded_size(*np.shape(mean_image)[:2]))
    if details is not None and [np.shape(d) for d in details] != [full] * LEVELS:
        raise InvalidInput(f"details {[np.shape(d) for d in details]} do not belong to a {np.shape(mean_image)[:2]} "
                           f"image (expected {LEVELS} x {full})")
    return _blend(mean_image, _rescale_details(mean_image, gain, details), weight)


def transfer_texture(image: np.ndarray, source: np.ndarray, dest: np.ndarray, percent: float,
                     weight=None) -> np.ndarray:
    """Move a face's texture along the line from ``source`` to ``dest`` (the texture part of a transform).

    All three are RGB images of the same size with the same shape (warped to it). Each
    luminance detail coefficient of ``image`` is multiplied by ``(amp_dest / amp_source) ** (percent / 100)``,
    where ``amp`` is the local amplitude of the prototypes' coefficients (as in
    :func:`texture_prototype`), clipped to ``[1 / MAX_GAIN, MAX_GAIN]``: 100% gives the
    face the texture contrast of ``dest`` where ``source`` had its own (Tiddeman, Burt and
    Perrett 2001). Chroma and the coarsest approximation are kept.

    Args:
        image, source, dest: uint8 or float RGB ``(H, W, 3)`` (0..255).
        percent: how far to move; 0 leaves ``image`` as it is, negative moves away from ``dest``.
        weight: optional float ``(H, W)`` in ``[0, 1]``: where to apply it (``image + weight *
            (transferred - image)``); :func:`morphkit.research.transform` passes the face region
            (:func:`morphkit.masks.face_region`), so the prototypes' hair, collars and background,
            which are not in correspondence, leave no imprint. None: everywhere.

    Returns:
        uint8 ``(H, W, 3)``.

    Raises:
        InvalidInput (a ValueError): images of different sizes; a bad ``weight``.
    """
    if not np.shape(image) == np.shape(source) == np.shape(dest):
        raise InvalidInput(f"image {np.shape(image)}, source {np.shape(source)} and dest {np.shape(dest)} "
                         "must be the same size")
    src, dst = _details(_luma(source)), _details(_luma(dest))
    p = float(percent) / 100.0

    def gain(level, band, d, sigma):
        a = np.sqrt(_local_energy(src[level][1][band], sigma))
        b = np.sqrt(_local_energy(dst[level][1][band], sigma))
        return np.clip((b + 1e-3) / (a + 1e-3), 1.0 / MAX_GAIN, MAX_GAIN) ** p

    return _blend(image, _rescale_details(image, gain), weight)
