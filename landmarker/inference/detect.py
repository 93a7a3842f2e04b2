"""Face detectors: dlib's HOG, OpenCV's Haar cascade, and both together (the default).

Every detector takes an RGB uint8 ``(H, W, 3)`` image (or gray ``(H, W)``) and
returns a list of :class:`Detection`, largest box first. Boxes are ``(left, top,
right, bottom)`` floats in pixels of the given image.

``"hog+haar"`` (:class:`HogHaarDetector`, the default) finds faces that dlib's HOG
detector misses (tilted heads, low light) without the false faces of the Haar
cascade (dogs, textures). HOG runs once at a lowered threshold, which costs the same
as at dlib's default because dlib scores every window anyway:

1. HOG boxes scoring >= 0 (dlib's default threshold) are faces, as with ``"hog"``.
2. A weaker HOG box (not overlapping a face of step 1) is a face only when Haar
   cascades, a different detector (Haar-like features and boosting instead of
   gradient histograms and an SVM), find a box over it (IoU >= 0.4): one of the
   cascades ``frontalface_default`` and ``frontalface_alt2`` is enough down to a
   HOG score of -0.3, below that down to -0.8 both must agree.
3. Only when steps 1-2 found no face at all, ``alt2`` searches the whole image
   (faces at least as large as HOG's smallest) and a face is accepted where
   ``default`` agrees (IoU >= 0.5). Its box is mapped to HOG's box geometry
   (measured on 2,945 ytf68 training frames: HOG's box is 0.90 Haar widths wide,
   its centre 0.065 widths lower), so the crop rule of :mod:`landmarker.model.crop`,
   calibrated on HOG boxes, holds for it too.

Candidates overlapping an accepted face (intersection > 0.3 of the smaller box)
are dropped. Step 2 runs the cascades only in a square of twice the candidate's
side around it, so most photos cost one HOG pass plus a few milliseconds; photos
without a face pay for one full ``alt2`` pass too (about 2-3x HOG's time). Faces of
step 2 keep their HOG score (below 0), those of step 3 score ``-1``: higher is
still surer. The thresholds were chosen on the 3,135 ytf68 training frames (HOG
recall 95.9% -> 99.7%; 2 fallback boxes on other real faces in the background and
1 on a logo) and 45 face-free images (dogs, cats, textures, noise: none). On the
identity-held-out validation frames (``benchmarks/bench_detector.py``) recall rises
from HOG's 97.6% to 100%, with no face on ``dogs.jpg``, noise or blank images,
where the Haar cascade alone takes dogs and noise for faces.

HOG runs on the RGB image (dlib takes each pixel's strongest channel gradient), in
two passes (:func:`search_passes`): at native resolution first, which settles a
portrait (a face covering 10% of the photo: about 5 ms for a 225 x 275 headshot),
then upsampled once for images up to 1920 x 1200, as the plain dlib script does
(``dlib.get_frontal_face_detector()(rgb, 1)``); images under 200 px a side are
searched upsampled at once. The benchmark's photos (dlib-faces' 43 boxes, 150 px
grayscale portraits, 1920 x 1080 photos with 50 px faces, ytf68 frames) hold no face
that this reference finds and the default misses. A gray copy lost some (4 of the
benchmark's faces), and so did searching 1080p photos at native size only.

Photos over ``max_pixels`` (24 MP) are searched at a reduced size (long side
``search_side`` px, :class:`Downscaled`) and the boxes mapped back; landmarks are
still predicted on the full image.

References:
- Dalal and Triggs, "Histograms of Oriented Gradients for Human Detection",
  CVPR 2005; dlib's ``get_frontal_face_detector`` (King, "Max-Margin Object
  Detection", arXiv 1502.00046).
- Viola and Jones, "Rapid Object Detection using a Boosted Cascade of Simple
  Features", CVPR 2001; OpenCV's ``haarcascade_frontalface_default.xml`` and
  ``haarcascade_frontalface_alt2.xml`` (Lienhart and Maydt, ICIP 2002).
"""

from __future__ import annotations

import pickle
import threading
from dataclasses import dataclass

import numpy as np

from landmarker.io.decode import to_gray
from landmarker.io.face import box_iou, visible_area
from morphkit.errors import InvalidInput

DETECTORS = ("hog+haar", "hog", "haar")
DEFAULT_DETECTOR = "hog+haar"


@dataclass(frozen=True)
class Detection:
    """A face box ``(left, top, right, bottom)`` in pixels and the detector's score (higher is surer)."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        l, t, r, b = self.box
        return max(0.0, r - l) * max(0.0, b - t)


HOG_WINDOW = 80  # side of dlib's frontal-face HOG window in pixels


# Images of up to this many pixels are searched upsampled once (1920 x 1200; the
# 2400 px search copy of a huge photo, see Downscaled, is larger and is not).
UPSAMPLE_MAX_PIXELS = 1920 * 1200

# A face whose box covers at least this share of the image makes it a portrait:
# the native-resolution HOG pass is then final (see HogDetector). Congress headshots:
# 17-22%; the 1920x1080 test photos of bench_detector (380 px face): 7%.
PORTRAIT_AREA = 0.10

# Images with a shorter side under this are searched upsampled at once: cheap, and
# their faces are often under HOG's 80-px window (ytf68 has frames of 94-200 px).
SMALL_IMAGE_SIDE = 200


def _upsample_for(shape) -> int:
    # dlib's HOG window is 80x80: faces smaller than that (down to 40 px) are found
    # only after upsampling once, as the plain dlib script does. Images up to
    # UPSAMPLE_MAX_PIXELS (1920x1080 group photos with 50 px faces among them) are
    # upsampled; larger ones are searched at native size, where faces under 80 px
    # are missed, since a 4x larger search would take seconds per photo.
    return 1 if shape[0] * shape[1] <= UPSAMPLE_MAX_PIXELS else 0


def native_pass_first(shape) -> bool:
    """Whether an image of ``shape`` is searched at native resolution first (see :class:`HogDetector`)."""
    return min(shape[:2]) >= SMALL_IMAGE_SIDE and shape[0] * shape[1] <= UPSAMPLE_MAX_PIXELS


def search_passes(shape, find) -> tuple[list[Detection], int]:
    """Run ``find(upsample)`` cheap pass first; returns the faces of the last pass run and its ``upsample``.

    Images where :func:`native_pass_first` holds are searched at native resolution
    (``upsample=0``), and again upsampled once only when that found no portrait face
    (:func:`is_portrait`); others are searched once, at :func:`_upsample_for`'s level.
    """
    if not native_pass_first(shape):
        up = _upsample_for(shape)
        return find(up), up
    faces = find(0)
    return (faces, 0) if is_portrait(faces, shape) else (find(1), 1)


def is_portrait(faces: list[Detection], shape) -> bool:
    """True when a face of HOG score >= 0 covers at least :data:`PORTRAIT_AREA` of an image of ``shape``.

    In such a photo a face small enough to need the upsampled search (under 80 px)
    would be a background face under a third of the main face's side.
    """
    return any(f.score >= 0 and f.area >= PORTRAIT_AREA * shape[0] * shape[1] for f in faces)


_FRONTAL: bytes | None = None
_FRONTAL_LOCK = threading.Lock()


def frontal_face_detector():
    """A dlib frontal face detector of this caller's own.

    dlib's detectors are not safe to share between threads, and building one with
    ``dlib.get_frontal_face_detector`` takes 0.4-0.7 s on a 2-core AMD EPYC (it decodes its
    HOG filters from text, holding the interpreter, so two worker threads take twice that).
    The first call of a process loads the detector that an earlier process saved in the
    cache (:func:`landmarker.io.cache.cache_dir`, dlib's own file format, one file per dlib
    version: about 2 ms), or builds it and saves it there; each call copies that one (a
    pickle round trip in memory: about 3 ms).
    """
    global _FRONTAL
    with _FRONTAL_LOCK:
        if _FRONTAL is None:
            _FRONTAL = pickle.dumps(_load_or_build_frontal())
    return pickle.loads(_FRONTAL)  # our own bytes, made just above


def _load_or_build_frontal():
    import dlib

    from landmarker.io.atomic import atomic_path
    from landmarker.io.cache import cache_dir

    folder = cache_dir("dlib")
    saved = None if folder is None else folder / f"frontal_face_detector-dlib-{dlib.__version__}.svm"
    if saved is not None and saved.is_file():
        try:
            return dlib.fhog_object_detector(str(saved))
        except RuntimeError:  # a damaged file: built and saved again below
            pass
    detector = dlib.get_frontal_face_detector()
    if saved is not None:
        try:
            with atomic_path(saved) as tmp:
                detector.save(str(tmp))
        except (OSError, RuntimeError):  # a cache we cannot write: build it again next time
            pass
    return detector


def by_visible_area(dets: list[Detection], shape) -> list[Detection]:
    """``dets`` largest first by the area of their box inside an image of ``shape`` ``(H, W[, C])``
    (:func:`landmarker.io.face.visible_area`): a face cut off by the frame counts what the photo shows."""
    size = (shape[1], shape[0])
    return sorted(dets, key=lambda d: -visible_area(d.box, size))


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector.

    With ``upsample=None`` (the default) it searches in two passes, the cheap one
    first: at native resolution (about 5 ms for a 225 x 275 portrait, a quarter of
    the upsampled search), and upsampled once (images up to
    :data:`UPSAMPLE_MAX_PIXELS`) only when that pass finds no face large enough to
    make the photo a portrait (:func:`is_portrait`). Images with a side under
    :data:`SMALL_IMAGE_SIDE` are searched upsampled at once.

    Args:
        upsample: how many times dlib doubles the image before searching; None:
            the two passes above.
        threshold: score offset passed to dlib (0 is dlib's default; lower finds more).
    """

    name = "hog"

    def __init__(self, upsample: int | None = None, threshold: float = 0.0):
        self._detector = frontal_face_detector()
        self.upsample = upsample
        self.threshold = threshold

    def run(self, image: np.ndarray, upsample: int | None = None, threshold: float | None = None) -> list[Detection]:
        """HOG on an RGB uint8 ``(H, W, 3)`` or gray ``(H, W)`` image.

        dlib's HOG takes, at each pixel, the gradient of the colour channel where it
        is strongest, so an RGB image finds faces a gray copy can miss (faces
        whose edges differ in hue more than in brightness); give it RGB when there is one.

        Args:
            upsample, threshold: override the detector's own settings for this call.

        Returns:
            :class:`Detection` list, unsorted, with dlib's scores (>= ``threshold``).
        """
        image = np.ascontiguousarray(image)
        up = (_upsample_for(image.shape) if self.upsample is None else self.upsample) if upsample is None else upsample
        thr = self.threshold if threshold is None else threshold
        rects, scores, _ = self._detector.run(image, up, thr)
        return [
            Detection((float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1)), float(s))
            for r, s in zip(rects, scores)
        ]

    def __call__(self, image: np.ndarray) -> list[Detection]:
        if self.upsample is not None:
            return by_visible_area(self.run(image), image.shape)
        return by_visible_area(search_passes(image.shape, lambda up: self.run(image, up))[0], image.shape)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades``).

    Scores are the cascade's level weights (higher is surer).

    Args:
        cascade: file name in ``cv2.data.haarcascades``.
    """

    name = "haar"

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 30,
        cascade: str = "haarcascade_frontalface_default.xml",
    ):
        import cv2

        path = cv2.data.haarcascades + cascade
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"{path}: OpenCV could not load the Haar cascade")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def run(self, gray: np.ndarray, min_size: int | None = None, max_size: int = 0) -> list[Detection]:
        """The cascade on a gray uint8 ``(H, W)`` image; unsorted. Sizes in pixels (0: no limit)."""
        min_size = self.min_size if min_size is None else min_size
        rects, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_size, min_size),
            maxSize=(max_size, max_size),
            outputRejectLevels=True,
        )
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        return [
            Detection((float(x), float(y), float(x + w), float(y + h)), float(s))
            for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), weights)
        ]

    def __call__(self, image: np.ndarray) -> list[Detection]:
        return by_visible_area(self.run(to_gray(image)), image.shape)


# Haar (frontalface_default) box -> HOG box, median over 2,945 ytf68 training frames
# where both found the face: centre 0.065 Haar widths lower, side 0.90 Haar widths.
HAAR_TO_HOG_DY = 0.065
HAAR_TO_HOG_SCALE = 0.90


def haar_to_hog_box(box) -> tuple[float, float, float, float]:
    """Map a Haar cascade box to the box dlib's HOG detector would give the same face."""
    l, t, r, b = box
    w = r - l
    cx, cy = (l + r) / 2.0, (t + b) / 2.0 + HAAR_TO_HOG_DY * w
    half = HAAR_TO_HOG_SCALE * w / 2.0
    return (cx - half, cy - half, cx + half, cy + half)


def overlap_of_smaller(a, b) -> float:
    """Intersection of two boxes over the area of the smaller one (0..1)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller) if smaller > 0 else 0.0


class HogHaarDetector:
    """HOG, with weak HOG boxes and Haar boxes accepted only when a second detector agrees.

    See the module docstring for the rules and their measurements.

    Args:
        either_threshold: lowest HOG score accepted when one Haar cascade agrees.
        both_threshold: lowest HOG score accepted when both Haar cascades agree
            (dlib's score scale; 0 is its default threshold).
        agree_iou: IoU between a HOG box and a Haar box for them to agree.
        max_candidates: most weak candidates checked per image (highest scores first).
        haar_only: accept faces on which both Haar cascades agree but HOG is silent (step 3).
    """

    name = "hog+haar"

    def __init__(
        self,
        either_threshold: float = -0.3,
        both_threshold: float = -0.8,
        agree_iou: float = 0.4,
        max_candidates: int = 16,
        haar_only: bool = True,
    ):
        self.hog = HogDetector(threshold=min(either_threshold, both_threshold))
        self.haar = (HaarDetector(), HaarDetector(cascade="haarcascade_frontalface_alt2.xml"))
        self.either_threshold = either_threshold
        self.both_threshold = both_threshold
        self.agree_iou = agree_iou
        self.max_candidates = max_candidates
        self.haar_only = haar_only

    def __call__(self, image: np.ndarray) -> list[Detection]:
        gray = np.ascontiguousarray(to_gray(image))
        faces, upsample = search_passes(gray.shape, lambda up: self._verified(image, gray, up))
        if not faces and self.haar_only:
            # alt2 (the more specific cascade) searches the image for faces at least as
            # large as HOG's 80-px window; frontalface_default re-checks each box it finds
            alt2 = self.haar[1].run(gray, max(30, int(HOG_WINDOW / 2**upsample)))
            for a in sorted(alt2, key=lambda d: -d.area):
                default = self._haar_near(gray, a.box, cascades=self.haar[:1])[0]
                for h in default:
                    box = haar_to_hog_box(h.box)
                    if box_iou(h.box, a.box) >= 0.5 and not _overlaps(box, faces):
                        faces.append(Detection(box, -1.0))
        return by_visible_area(faces, gray.shape)

    def _verified(self, image: np.ndarray, gray: np.ndarray, upsample: int) -> list[Detection]:
        """Steps 1 and 2: HOG faces, and weak HOG boxes that the Haar cascades confirm."""
        found = self.hog.run(image, upsample)
        faces = [d for d in found if d.score >= 0.0]
        weak = sorted((d for d in found if d.score < 0.0), key=lambda d: -d.score)
        for d in weak[: self.max_candidates]:
            if _overlaps(d.box, faces):
                continue
            agree = sum(
                any(box_iou(d.box, h.box) >= self.agree_iou for h in dets) for dets in self._haar_near(gray, d.box)
            )
            threshold = self.both_threshold if agree == 2 else self.either_threshold if agree == 1 else 0.0
            if d.score >= threshold:
                faces.append(d)
        return faces

    def _haar_near(self, gray: np.ndarray, box, cascades=None) -> list[list[Detection]]:
        """Each cascade's boxes (image pixels) in a square of twice ``box``'s side around it."""
        cascades = self.haar if cascades is None else cascades
        l, t, r, b = box
        side = max(r - l, b - t)
        cx, cy = (l + r) / 2.0, (t + b) / 2.0
        x0, y0 = max(0, int(cx - side)), max(0, int(cy - side))
        x1, y1 = min(gray.shape[1], int(np.ceil(cx + side))), min(gray.shape[0], int(np.ceil(cy + side)))
        roi = np.ascontiguousarray(gray[y0:y1, x0:x1])
        if roi.size == 0:
            return [[] for _ in cascades]
        sizes = dict(min_size=max(20, int(0.6 * side)), max_size=int(2.0 * side) + 1)
        return [
            [Detection((d.box[0] + x0, d.box[1] + y0, d.box[2] + x0, d.box[3] + y0), d.score)
             for d in haar.run(roi, **sizes)]
            for haar in cascades
        ]


def _overlaps(box, faces: list[Detection], limit: float = 0.3) -> bool:
    return any(overlap_of_smaller(box, f.box) > limit for f in faces)


class Downscaled:
    """Search photos over ``max_pixels`` at a reduced size; boxes come back in full-size pixels.

    The image is shrunk with ``cv2.INTER_AREA`` (area averaging, no aliasing) so its
    long side is ``search_side`` px; only that small copy is made (no full-size gray
    copy: the detector converts the small one). Faces smaller than about
    ``80 / search_side`` of the long side (dlib's 80-px window) are not found: with
    2400 px, faces under 200 px of a 6000 x 4000 photo. Searching 2400 px takes HOG
    about 0.3 s, about as long as decoding the 24 MP JPEG itself.

    Args:
        detector: any detector callable.
        max_pixels: images with more pixels than this (default 24 MP) are reduced.
        search_side: long side of the reduced image in pixels.
    """

    def __init__(self, detector, max_pixels: int = 24_000_000, search_side: int = 2400):
        self.detector = detector
        self.max_pixels = max_pixels
        self.search_side = search_side
        self.name = getattr(detector, "name", type(detector).__name__)

    def __call__(self, image: np.ndarray) -> list[Detection]:
        import cv2

        h, w = image.shape[:2]
        if h * w <= self.max_pixels:
            return self.detector(image)
        k = self.search_side / max(h, w)
        size = (max(1, round(w * k)), max(1, round(h * k)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        sx, sy = w / size[0], h / size[1]
        return [
            Detection((d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy), d.score)
            for d in self.detector(small)
        ]


SEARCH_MAX_PIXELS = 24_000_000  # photos with more pixels are searched at a long side of SEARCH_SIDE
SEARCH_SIDE = 2400


def make_detector(name: str = DEFAULT_DETECTOR, max_pixels: int | None = SEARCH_MAX_PIXELS,
                  search_side: int = SEARCH_SIDE):
    """A detector by name: ``"hog+haar"`` (default), ``"hog"`` (dlib) or ``"haar"`` (OpenCV).

    Args:
        name: one of :data:`DETECTORS`.
        max_pixels: photos with more pixels are searched at a long side of
            ``search_side`` px (:class:`Downscaled`); None searches every photo at full size.

    Raises:
        ValueError: unknown name.
    """
    if name == "hog+haar":
        detector = HogHaarDetector()
    elif name == "hog":
        detector = HogDetector()
    elif name == "haar":
        detector = HaarDetector()
    else:
        raise InvalidInput(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return detector if max_pixels is None else Downscaled(detector, max_pixels, search_side)
