"""Texture-preserving averages: the individual faces' wavelet texture energy kept in the prototype.

Tiddeman, Burt and Perrett, "Prototyping and transforming facial textures for
perception research", IEEE Computer Graphics and Applications 21(5), 2001. A plain
average of shape-normalised faces keeps their shared low frequencies but cancels the
fine texture (skin, hair, eyelashes) that differs from face to face, so means look
airbrushed. Following the paper, the luminance of each shape-normalised face is
decomposed with a 2-D stationary (undecimated) wavelet transform (PyWavelets'
``swt2``: shift-invariant, so the rescaling below leaves no block pattern) and the prototype's
detail coefficients are the mean's own coefficients, rescaled so that their local
amplitude (root mean square, Gaussian-smoothed within each subband) equals the
individual faces' mean local amplitude: the mean's structure and signs, the
individuals' texture energy. The gain is at least 1 and at most :data:`MAX_GAIN`
(where the mean has almost no detail a larger gain would amplify noise). The coarsest
approximation and the colour (chroma) stay the plain average.

Memory does not grow with the number of faces: the caller keeps two running sums,
the images and the squared luminance detail coefficients (:func:`coefficient_energy`,
``LEVELS x 3`` planes of frame size); the wavelet transform is linear, so the
coefficients of the mean image are the mean coefficients.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidInput

WAVELET = "sym4"
LEVELS = 4
MAX_GAIN = 10.0
SMOOTH = 2.0  # sigma of the local-amplitude estimate, in pixels at the finest level (doubling per level)

# ITU-R BT.601 RGB -> Y, Cb, Cr (offsets left out: only differences matter here)
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)


def _luma(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, dtype=np.float64) @ _RGB_TO_YCC[0]


def _padded(channel: np.ndarray) -> np.ndarray:
    """``channel`` reflect-padded at the bottom and right to a multiple of ``2**LEVELS`` (``swt2`` needs it)."""
    step = 2 ** LEVELS
    ph, pw = (-channel.shape[0]) % step, (-channel.shape[1]) % step
    return np.pad(channel, ((0, ph), (0, pw)), mode="reflect") if ph or pw else channel


def _details(channel: np.ndarray) -> list:
    """``swt2`` of a padded channel: ``[(cA, (cH, cV, cD)), ...]``, coarsest level first."""
    import pywt

    return pywt.swt2(_padded(channel), WAVELET, level=LEVELS, trim_approx=False, norm=True)


def coefficient_energy(image: np.ndarray) -> np.ndarray:
    """Squared detail coefficients of the luminance of an RGB float or uint8 ``(H, W, 3)`` image.

    Returns:
        float64 ``(LEVELS, 3, H', W')``: per level (coarsest first) the horizontal,
        vertical and diagonal details, squared, of the luminance padded to a multiple
        of ``2**LEVELS``.
    """
    return np.square(np.stack([np.stack(d) for _, d in _details(_luma(image))]))


def _rescale_details(image: np.ndarray, gain) -> np.ndarray:
    """``image`` with each luminance detail band ``d`` of level ``i`` (coarsest first) multiplied by
    ``gain(i, band, d, sigma)``; chroma and the coarsest approximation kept. uint8 ``(H, W, 3)``."""
    import pywt

    image = np.asarray(image, dtype=np.float64)
    ycc = image @ _RGB_TO_YCC.T
    levels = _details(ycc[..., 0])
    out = []
    for i, (approx, details) in enumerate(levels):
        sigma = SMOOTH * 2 ** (len(levels) - 1 - i)  # coarser levels vary more slowly
        out.append((approx, tuple(d * gain(i, b, d, sigma) for b, d in enumerate(details))))
    ycc[..., 0] = pywt.iswt2(out, WAVELET, norm=True)[: image.shape[0], : image.shape[1]]
    return np.clip(np.rint(ycc @ _YCC_TO_RGB.T), 0, 255).astype(np.uint8)


def _local_energy(detail: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(np.square(detail), (0, 0), sigma)


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


def texture_prototype(mean_image: np.ndarray, mean_energy: np.ndarray, weight=None) -> np.ndarray:
    """The texture-preserving prototype of a set of shape-normalised faces.

    Only where the faces are in correspondence should the detail be restored: elsewhere
    (hair, ears, collars, background: the 68 points do not align them) the mean's detail is
    the blurred edges of many different outlines, and raising it draws "scribbles". So the
    result is ``plain + weight * (textured - plain)``: callers pass the face region of the
    mean shape (:func:`morphkit.masks.face_region`, landmark hull plus forehead, feathered)
    as ``weight`` and keep the plain mean outside it (:func:`morphkit.mean.mean_face` does).

    Args:
        mean_image: float ``(H, W, 3)`` RGB, the plain mean of the faces (0..255).
        mean_energy: float ``(LEVELS, 3, H', W')``, the mean of their :func:`coefficient_energy`.
        weight: optional float ``(H, W)`` in ``[0, 1]``: where to restore the texture (1: fully,
            0: the plain mean); None restores it everywhere (Tiddeman, Burt and Perrett 2001).

    Returns:
        uint8 ``(H, W, 3)`` RGB: the mean with its luminance detail rescaled to the
        faces' local texture amplitude (module docstring), blended by ``weight``.

    Raises:
        InvalidInput (a ValueError): the energies do not belong to an image of this size; a bad ``weight``.
    """
    import cv2

    mean_energy = np.asarray(mean_energy, dtype=np.float64)
    expected = (LEVELS, 3, *_padded(np.zeros(np.shape(mean_image)[:2])).shape)
    if mean_energy.shape != expected:
        raise InvalidInput(f"energies {mean_energy.shape} do not belong to a {np.shape(mean_image)[:2]} image")

    def gain(level, band, d, sigma):
        faces = cv2.GaussianBlur(mean_energy[level, band], (0, 0), sigma)
        return np.clip(np.sqrt(faces / np.maximum(_local_energy(d, sigma), 1e-12)), 1.0, MAX_GAIN)

    return _blend(mean_image, _rescale_details(mean_image, gain), weight)


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
