"""Face detectors: dlib's HOG frontal detector (default) and OpenCV's Haar cascade.

Both take an RGB uint8 ``(H, W, 3)`` image (or gray ``(H, W)``) and return a list of
:class:`Detection`, largest box first. Boxes are ``(left, top, right, bottom)``
floats in pixels of the given image.

References:
- Dalal and Triggs, "Histograms of Oriented Gradients for Human Detection",
  CVPR 2005; dlib's ``get_frontal_face_detector`` (King, "Max-Margin Object
  Detection", arXiv 1502.00046).
- Viola and Jones, "Rapid Object Detection using a Boosted Cascade of Simple
  Features", CVPR 2001; OpenCV's ``haarcascade_frontalface_default.xml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import to_gray

DETECTORS = ("hog", "haar")


@dataclass(frozen=True)
class Detection:
    """A face box ``(left, top, right, bottom)`` in pixels and the detector's score (higher is surer)."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        l, t, r, b = self.box
        return max(0.0, r - l) * max(0.0, b - t)


def _upsample_for(gray: np.ndarray) -> int:
    # dlib's HOG window is 80x80: faces smaller than that are found only after
    # upsampling. Portraits and frames under ~600 px are upsampled once.
    return 1 if min(gray.shape[:2]) < 600 else 0


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector.

    Args:
        upsample: how many times dlib doubles the image before searching; None
            chooses 1 for images whose shorter side is under 600 px, else 0.
        threshold: score offset passed to dlib (0 is dlib's default; lower finds more).
    """

    name = "hog"

    def __init__(self, upsample: int | None = None, threshold: float = 0.0):
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample
        self.threshold = threshold

    def __call__(self, image: np.ndarray) -> list[Detection]:
        gray = np.ascontiguousarray(to_gray(image))
        up = _upsample_for(gray) if self.upsample is None else self.upsample
        rects, scores, _ = self._detector.run(gray, up, self.threshold)
        dets = [
            Detection((float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1)), float(s))
            for r, s in zip(rects, scores)
        ]
        return sorted(dets, key=lambda d: -d.area)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades``).

    Scores are the cascade's level weights (higher is surer).
    """

    name = "haar"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 30):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"{path}: OpenCV could not load the Haar cascade")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def __call__(self, image: np.ndarray) -> list[Detection]:
        gray = to_gray(image)
        rects, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
            outputRejectLevels=True,
        )
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        dets = [
            Detection((float(x), float(y), float(x + w), float(y + h)), float(s))
            for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), weights)
        ]
        return sorted(dets, key=lambda d: -d.area)


def make_detector(name: str = "hog"):
    """A detector by name: ``"hog"`` (dlib, default) or ``"haar"`` (OpenCV).

    Raises:
        ValueError: unknown name.
    """
    if name == "hog":
        return HogDetector()
    if name == "haar":
        return HaarDetector()
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


def box_iou(a, b) -> float:
    """Intersection over union of two ``(left, top, right, bottom)`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
