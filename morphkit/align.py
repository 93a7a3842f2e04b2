"""Similarity alignment of faces into a :class:`~morphkit.frame.CanonicalFrame` or any output size.

A face is rotated, scaled and translated (a similarity transform, no shear) so that its
two eye centres - the means of landmarks 36-41 and 42-47 - land exactly on the frame's
eye positions. The transform is the exact two-point similarity of
:func:`morphkit.procrustes.fit_similarity` (the project's one similarity estimator), applied
to the image with ``cv2.warpAffine`` and to the landmarks directly.

Three ways to choose the similarity (each a ``(3, 3)`` matrix from source to output pixels, applied by
:func:`warp_face`): the eye centres onto two given points (:func:`similarity_to_eyes`), all 68 points
onto a target shape by least squares (:func:`similarity_to_shape`: Procrustes, optionally without
rotation), and the FFHQ crop of Karras et al. (:func:`similarity_to_ffhq`).

Pixel centres sit at integer coordinates (OpenCV's convention, :mod:`morphkit.frame`), for the images
and the landmarks alike, so the moved landmarks lie on the warped image's features.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import check_image, check_landmark_stack, check_landmarks, check_points
from .errors import InvalidInput
from .frame import CanonicalFrame
from .ibug68 import MOUTH_CORNERS, eye_centres
from .masks import transparent
from .procrustes import fit_similarity
from .warp import border_mode

#: How :func:`warp_face` fills the output beyond the photo's edge: the photo's edge pixels
#: stretched, mirrored, a plain colour, or transparency (an RGBA output).
BORDERS = ("replicate", "reflect", "constant", "transparent")

#: Below this scale factor an image is first shrunk with ``cv2.INTER_AREA`` (anti-aliased),
#: so the bilinear warp never minifies by more than this.
_MIN_DIRECT_SCALE = 0.8


def _check_frame(frame) -> CanonicalFrame:
    if not isinstance(frame, CanonicalFrame):
        raise InvalidInput(f"frame must be a CanonicalFrame, got {type(frame).__name__}")
    return frame


def similarity_to_frame(landmarks, frame: CanonicalFrame = CanonicalFrame()) -> np.ndarray:
    """The similarity transform taking one face's eye centres onto the frame's eye positions.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixel coordinates in the source image.
        frame: the canonical frame.

    Returns:
        float64 ``(3, 3)`` homogeneous matrix mapping source pixels to frame pixels.

    Raises:
        ValueError: bad landmarks (shape, NaN), or the two eye centres coincide.
    """
    return similarity_to_eyes(landmarks, _check_frame(frame).eyes)


def similarity_to_eyes(landmarks, eyes) -> np.ndarray:
    """The similarity transform taking one face's eye centres exactly onto two points.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixel coordinates in the source image, iBUG 300-W order.
        eyes: ``(2, 2)`` output pixels ``[[x, y] of the image-left eye (points 36-41), [x, y] of the
            image-right eye (points 42-47)]``.

    Returns:
        float64 ``(3, 3)`` homogeneous matrix mapping source pixels to output pixels.

    Raises:
        ValueError: bad landmarks (shape, NaN), ``eyes`` not two distinct finite points, or the
            face's two eye centres coincide.
    """
    lm = check_landmarks(landmarks)
    target = check_points(eyes, "eyes", 2)
    centres = eye_centres(lm)
    if np.linalg.norm(centres[1] - centres[0]) < 1e-6:
        raise InvalidInput("cannot align face: the two eye centres (points 36-41 and 42-47) coincide")
    if np.linalg.norm(target[1] - target[0]) < 1e-6:
        raise InvalidInput(f"cannot align to eyes at one place: {target.tolist()}")
    _, matrix = fit_similarity(centres, target)
    return matrix


def similarity_to_shape(landmarks, target, rotation: bool = True) -> np.ndarray:
    """The least-squares similarity of all 68 points onto ``target`` (ordinary Procrustes analysis,
    :func:`morphkit.procrustes.fit_similarity`), e.g. a collection's mean shape
    (:func:`morphkit.procrustes.mean_shape`) placed in the output.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` source pixels. target: ``(68, 2)`` output pixels.
        rotation: False: scale and translation only (each face keeps its roll).

    Returns:
        float64 ``(3, 3)`` homogeneous matrix mapping source pixels to output pixels.

    Raises:
        ValueError: bad landmarks or target (shape, NaN), or landmarks all at one place.

    Reference: J.C. Gower, "Generalized Procrustes analysis", Psychometrika 40, 1975.
    """
    _, matrix = fit_similarity(check_landmarks(landmarks), check_landmarks(target, "target"), rotation)
    return matrix


def ffhq_quad(landmarks) -> np.ndarray:
    """The oriented square that the FFHQ dataset crops from a face, from its eyes and mouth.

    As ``recreate_aligned_images`` of Karras et al. builds it: ``eye_to_eye`` from the image-left
    eye centre (points 36-41) to the image-right one (42-47), ``eye_to_mouth`` from their midpoint
    to the mouth corners' midpoint (points 48, 54); the square's half-side vector
    ``x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]``, normalised and scaled to
    ``max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|)``, ``y = flipud(x) * [-1, 1]``, centred at
    ``eye_avg + 0.1 eye_to_mouth``.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` source pixels, iBUG 300-W order.

    Returns:
        float64 ``(4, 2)``: the corners ``c - x - y`` (top left), ``c - x + y`` (bottom left),
        ``c + x + y`` (bottom right), ``c + x - y`` (top right), source pixels.

    Raises:
        ValueError: bad landmarks (shape, NaN), or eyes and mouth all at one place.

    Reference: T. Karras, S. Laine and T. Aila, "A style-based generator architecture for generative
    adversarial networks", CVPR 2019 (the FFHQ dataset, github.com/NVlabs/ffhq-dataset).
    """
    lm = check_landmarks(landmarks)
    eye_left, eye_right = eye_centres(lm)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = lm[list(MOUTH_CORNERS)].mean(axis=0) - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    if np.hypot(*x) < 1e-6:
        raise InvalidInput("cannot make the FFHQ crop: the eyes and mouth are at one place")
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def similarity_to_ffhq(landmarks, size: int = 1024) -> np.ndarray:
    """The similarity that maps the FFHQ square (:func:`ffhq_quad`) onto a ``size`` x ``size`` output.

    The quad's corners go to the output's outer pixel edges, ``(-0.5, -0.5)`` to
    ``(size - 0.5, size - 0.5)`` in pixel-centre coordinates, as ``PIL.Image.transform(QUAD)`` of
    ``quad + 0.5`` does in the FFHQ script (one warp here instead of its shrink, crop, pad and resize;
    the border is :func:`warp_face`'s, not FFHQ's blurred reflection).

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` source pixels. size: output side in pixels (FFHQ: 1024).

    Returns:
        float64 ``(3, 3)`` homogeneous matrix mapping source pixels to output pixels.

    Raises:
        ValueError: bad landmarks, eyes and mouth all at one place, a size under 2.
    """
    if isinstance(size, bool) or int(size) != size or size < 2:
        raise InvalidInput(f"size must be an integer >= 2, got {size!r}")
    e = float(size) - 0.5
    _, matrix = fit_similarity(ffhq_quad(landmarks), [[-0.5, -0.5], [-0.5, e], [e, e], [e, -0.5]])
    return matrix


def scale_of(matrix) -> float:
    """The scale factor of a similarity ``matrix``, ``(2, 3)`` or ``(3, 3)`` (of an affine one, the square root
    of its area scale, ``|det|`` of the linear part): output pixels per source pixel, above 1 the face is
    enlarged (upsampled), below 1 shrunk. Returns a float >= 0.

    Raises:
        ValueError: a matrix that is not ``(2, 3)`` or ``(3, 3)`` numbers.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape not in ((2, 3), (3, 3)):
        raise InvalidInput(f"matrix must be a (2, 3) or (3, 3) affine map, got shape {m.shape}")
    return float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))


def transform_points(points, matrix) -> np.ndarray:
    """Apply a ``(3, 3)`` or ``(2, 3)`` affine matrix to ``(..., 2)`` points; float64."""
    m = np.asarray(matrix, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    return pts @ m[:2, :2].T + m[:2, 2]


def align_landmarks(landmarks, frame: CanonicalFrame = CanonicalFrame()) -> np.ndarray:
    """Landmarks moved into the canonical frame, without touching any image.

    Args:
        landmarks: ``(68, 2)`` for one face or ``(n, 68, 2)`` for many, source pixels.
        frame: the canonical frame.

    Returns:
        float32 array of the same shape, in frame pixels; each face's eye centres sit
        on ``frame.eye_left`` / ``frame.eye_right``.

    Raises:
        ValueError: bad shape, NaN coordinates, coincident eye centres.
    """
    arr = np.asarray(landmarks)
    if arr.ndim == 2:
        lm = check_landmarks(arr)
        return transform_points(lm, similarity_to_frame(lm, frame)).astype(np.float32)
    stack = check_landmark_stack(arr)
    return np.stack([transform_points(lm, similarity_to_frame(lm, frame)) for lm in stack]).astype(np.float32)


def prescale(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrink ``image`` with area averaging when ``matrix`` minifies it strongly.

    Returns the (possibly) smaller image and the matrix that maps ITS pixels to the
    same destination, so a following bilinear warp does not alias.
    """
    scale = scale_of(matrix)
    if scale >= _MIN_DIRECT_SCALE:
        return image, matrix
    h, w = image.shape[:2]
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    fx, fy = nw / w, nh / h
    # Pixel-centre mapping of cv2.resize: x_small = (x + 0.5) * fx - 0.5.
    to_small = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]])
    return small, np.asarray(matrix, dtype=np.float64) @ np.linalg.inv(to_small)


def align_face(image: np.ndarray, landmarks, frame: CanonicalFrame = CanonicalFrame()
               ) -> tuple[np.ndarray, np.ndarray]:
    """Align one face into the canonical frame with a similarity transform.

    The transform puts the eye centres (means of points 36-41 and 42-47) on
    ``frame.eye_left`` and ``frame.eye_right``; image and landmarks are moved together.
    Strong minification is done with area averaging first (no aliasing); pixels beyond
    the photo's edge follow ``frame.border``.

    Args:
        image: uint8 ``(H, W, 3)`` RGB.
        landmarks: ``(68, 2)`` ``(x, y)`` pixel coordinates in ``image``, iBUG 300-W order.
        frame: output geometry (default 450 x 550).

    Returns:
        ``(aligned, aligned_landmarks)``: uint8 ``(frame.height, frame.width, 3)`` and
        float32 ``(68, 2)`` in frame pixels.

    Raises:
        ValueError: image not uint8 ``(H, W, 3)``, landmarks not a finite ``(68, 2)``
            array, coincident eye centres, or ``frame`` not a CanonicalFrame.
    """
    frame = _check_frame(frame)
    return warp_face(image, landmarks, similarity_to_frame(landmarks, frame), frame.size, frame.border, frame.fill)


def warp_face(image: np.ndarray, landmarks, matrix, size: tuple[int, int], border: str = "replicate",
              fill=(128, 128, 128)) -> tuple[np.ndarray, np.ndarray]:
    """A photo and its landmarks moved by one affine ``matrix`` into a ``size`` output.

    One ``cv2.warpAffine`` (bilinear; a strong minification is area-averaged first, :func:`prescale`);
    the landmarks are moved by the same matrix in the same pixel-centre convention, so they lie on the
    warped image's features.

    Args:
        image: uint8 ``(H, W, 3)`` RGB.
        landmarks: ``(68, 2)`` ``(x, y)`` pixels of ``image``.
        matrix: ``(3, 3)`` or ``(2, 3)`` affine map from ``image`` pixels to output pixels.
        size: output ``(width, height)`` in pixels.
        border: how output pixels beyond the photo's edge are filled, one of :data:`BORDERS`:
            ``replicate``, ``reflect``, ``constant`` (``fill``) or ``transparent``.
        fill: RGB triple 0..255 for ``border="constant"``.

    Returns:
        ``(warped, moved)``: uint8 ``(height, width, 3)`` RGB, or ``(height, width, 4)`` RGBA with
        ``border="transparent"`` (alpha 0 beyond the photo, RGB 0 there, the edge antialiased), and
        float32 ``(68, 2)`` output pixels.

    Raises:
        ValueError: bad image or landmarks, a singular matrix, an unknown border, a size under 1 px.
    """
    image = check_image(image)
    lm = check_landmarks(landmarks)
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape not in ((2, 3), (3, 3)) or not np.all(np.isfinite(m)) or abs(np.linalg.det(m[:2, :2])) < 1e-12:
        raise InvalidInput(f"matrix must be a finite, invertible (3, 3) or (2, 3) affine map, got {m.tolist()}")
    m = np.vstack([m[:2], [0.0, 0.0, 1.0]])
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise InvalidInput(f"output size must be positive, got {size!r}")
    if border not in BORDERS:
        raise InvalidInput(f"border must be one of {BORDERS}, got {border!r}")
    src, ms = prescale(image, m)
    mode = border_mode("replicate" if border == "transparent" else border)
    warped = cv2.warpAffine(src, ms[:2], (width, height), flags=cv2.INTER_LINEAR, borderMode=mode,
                            borderValue=tuple(int(c) for c in fill))
    if border == "transparent":  # straight alpha: colours at the edge from the photo, coverage from a warped 1
        inside = cv2.warpAffine(np.ones(src.shape[:2], np.float32), ms[:2], (width, height),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        warped = transparent(warped, inside)
    return warped, transform_points(lm, m).astype(np.float32)
