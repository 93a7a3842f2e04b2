"""A face found in an image: its box, detector score, 68 landmarks and fit score; box geometry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Face:
    """One face found in an image.

    Attributes:
        box: ``(left, top, right, bottom)`` in image pixels.
        score: the detector's score (higher is surer; ``nan`` for given boxes).
        landmarks: float32 ``(68, 2)``, ``(x, y)`` image pixels, iBUG 300-W order.
        fit: the fit score, % of the inter-ocular distance: mean distance between the
            landmarks predicted on the face crop and on its mirror image (lower is a
            surer fit; ``nan`` unless predicted with ``flip_average``).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    fit: float = float("nan")


def box_iou(a, b) -> float:
    """Intersection over union of two ``(left, top, right, bottom)`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
