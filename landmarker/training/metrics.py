"""Landmark accuracy metrics: inter-ocular NME, failure rate, MAE, mean offset, CED.

NME follows the 300-W convention (Sagonas et al., "300 Faces In-the-Wild
Challenge", 2016): mean point-to-point Euclidean error over the 68 points,
divided by the inter-ocular distance, the distance between the outer eye
corners (points 36 and 45). Ground-truth points that are ``nan`` (a template
without them, e.g. the ``tem`` format's 16 of 68) are left out of every mean.
"""

from __future__ import annotations

import numpy as np

from morphkit.errors import InvalidInput
from morphkit.ibug68 import inter_ocular_distance

FAILURE_THRESHOLD = 0.10


def inter_ocular(gt: np.ndarray) -> np.ndarray:
    """Distance between points 36 and 45 of ``(..., 68, 2)`` landmarks; shape ``(...)``, pixels."""
    return inter_ocular_distance(gt)


def point_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean error per point; ``(n, 68, 2)`` inputs give ``(n, 68)``, pixels."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def nme(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Inter-ocular NME per face: ``(n, 68, 2)`` each, returns float64 ``(n,)`` (unitless).

    Raises:
        ValueError: shapes differ, or a face has zero inter-ocular distance.
    """
    pred, gt, iod = _checked(pred, gt)
    return np.nanmean(point_errors(pred, gt), axis=-1) / iod


def _checked(pred, gt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pred, gt, IOD)`` as float64, after checking the shapes match and no IOD is zero."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise InvalidInput(f"prediction shape {pred.shape} differs from ground truth {gt.shape}")
    iod = inter_ocular(gt)
    if np.any(~(iod > 0)):
        raise InvalidInput("a ground-truth face has zero (or no) inter-ocular distance (points 36 and 45)")
    return pred, gt, iod


def face_offsets_iod(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean signed offset of each face, in units of its inter-ocular distance.

    For every face: the mean over the 68 points of ``(pred - gt)``, divided by the
    face's ground-truth inter-ocular distance (points 36-45). ``(n, 68, 2)`` inputs
    give float64 ``(n, 2)`` ``(dx, dy)``; a single ``(68, 2)`` face gives ``(2,)``.
    Positive x is right, positive y is down (image axes).

    Raises:
        ValueError: shapes differ, or a face has zero inter-ocular distance.
    """
    pred, gt, iod = _checked(pred, gt)
    return np.nanmean(pred - gt, axis=-2) / iod[..., None]


def mean_offset_iod(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean signed ``(dx, dy)`` offset of predictions from ground truth, in inter-ocular distances.

    The mean over faces of :func:`face_offsets_iod` (the mean over the 68 points of
    ``(pred - gt) / IOD``); float64 ``(2,)``, multiply by 100 for % IOD. Unlike NME,
    errors in opposite directions cancel, so what remains is a systematic shift:
    a model trained on labels placed by another convention (e.g. ytf68's points
    drawn a little off the 300-W positions) shows it here while its NME only
    rises a little. ``(0, 0)`` means no net shift, not no error.

    Args:
        pred, gt: ``(n, 68, 2)`` (or one ``(68, 2)`` face) pixels, same shape.

    Raises:
        ValueError: shapes differ, no faces, or a face has zero inter-ocular distance.
    """
    per_face = face_offsets_iod(pred, gt).reshape(-1, 2)
    if not len(per_face):
        raise InvalidInput("no faces to average")
    return per_face.mean(axis=0)


def summarise(nmes: np.ndarray, maes: np.ndarray | None = None, threshold: float = FAILURE_THRESHOLD) -> dict:
    """Mean and median NME, failure rate (share of faces with NME > ``threshold``) and MAE.

    Args:
        nmes: ``(n,)`` NME per face; ``inf`` counts as a failure (e.g. an undetected face).
        maes: ``(n,)`` mean absolute point error per face in pixels, or None.
    """
    nmes = np.asarray(nmes, dtype=np.float64)
    finite = nmes[np.isfinite(nmes)]
    out = {
        "faces": int(nmes.size),
        "nme_mean": float(finite.mean()) if finite.size else float("nan"),
        "nme_median": float(np.median(nmes)) if nmes.size else float("nan"),
        "failure_rate": float((nmes > threshold).mean()) if nmes.size else float("nan"),
    }
    if maes is not None:
        maes = np.asarray(maes, dtype=np.float64)
        out["mae_px"] = float(maes[np.isfinite(maes)].mean()) if maes.size else float("nan")
    return out


def ced_curve(nmes: np.ndarray, max_nme: float = 0.10, steps: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: share of faces with NME <= x, for x in ``[0, max_nme]``.

    Returns:
        ``(x, fraction)``, each float64 ``(steps,)``.
    """
    x = np.linspace(0.0, max_nme, steps)
    nmes = np.sort(np.asarray(nmes, dtype=np.float64))
    frac = np.searchsorted(nmes, x, side="right") / max(1, nmes.size)
    return x, frac


def plot_ced(curves: dict[str, np.ndarray], path, max_nme: float = 0.10, title: str = "CED") -> None:
    """Write a CED plot PNG with one curve per entry of ``curves`` (label -> per-face NMEs)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.2), dpi=120)
    ax = fig.subplots()
    for label, nmes in curves.items():
        x, frac = ced_curve(nmes, max_nme)
        auc = float(np.trapezoid(frac, x) / max_nme)
        ax.plot(x * 100, frac * 100, label=f"{label} (AUC@{max_nme:.2f} = {auc:.3f})")
    ax.set_xlabel("inter-ocular NME (%)")
    ax.set_ylabel("faces (%)")
    ax.set_xlim(0, max_nme * 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
