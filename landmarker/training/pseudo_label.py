"""Pseudo-labels for self-training, and a label audit, from test-time augmentation (TTA).

Self-training (Noisy Student: Xie et al., "Self-training with Noisy Student improves
ImageNet classification", CVPR 2020): a teacher labels unlabelled portraits, the
labels it is sure of become extra training data, and a student learns from them
under strong augmentation. Here the teacher is a trained model run on each face's
crop under :data:`TTA_VIEWS` (mirror x crop scale x in-plane rotation); the views'
landmarks, mapped back into the photo, are averaged into the pseudo-label, and their
*spread* (mean distance of each view's points from the average, in % of the
inter-ocular distance) says how sure the teacher is: an equivariant prediction is
one the transforms do not move. Faces whose spread is within the ``keep`` quantile
of the collection are kept.

The same TTA average is an independent reading of a *labelled* face: :func:`audit_labels`
scores each label's NME against it, and the faces far beyond the rest (above
``Q3 + k * IQR`` of the collection) are flagged as likely label errors
(``landmarker pseudo-label --audit``; ``landmarker train --exclude`` leaves them out).

Outputs of :func:`pseudo_label` (a ``landmarks-csv`` training set):
``OUT/landmarks.csv`` (the plain layout ``file,x0,y0,...,x67,y67``, kept faces only),
``OUT/images`` (a link to the photo folder) and ``OUT/pseudo_labels.csv`` (every photo:
``image,status,spread_iod_pct,kept``, the spread in % of the IOD).
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
from pathlib import Path

import numpy as np
import torch

from landmarker.io.atomic import atomic_write
from landmarker.io.datasets import FaceSample
from landmarker.io.decode import ImageDecodeError, read_image, to_gray
from landmarker.io.landmarks_csv import point_fields
from landmarker.model import crop as C
from landmarker.model.network import load_model
from morphkit.errors import InvalidInput
from morphkit.ibug68 import MIRROR, inter_ocular_distance

log = logging.getLogger(__name__)

TTA_VIEWS = tuple(itertools.product((False, True), (0.95, 1.0, 1.05), (-6.0, 0.0, 6.0)))
"""``(mirror, crop side factor, rotation in degrees)`` of each test-time view: 18 views."""


def tta_landmarks(model: torch.nn.Module, gray: np.ndarray, box, img_size: int,
                  views=TTA_VIEWS) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of one face from every view, mapped back into the photo.

    Args:
        model: a landmark network (``(B, 1, N, N)`` -> ``(B, 136)``), eval mode.
        gray: uint8 ``(H, W)`` photo.
        box: ``(left, top, right, bottom)`` face box, pixels.
        img_size: the network's crop side ``N``.
        views: ``(mirror, side factor, degrees)`` tuples.

    Returns:
        ``(mean float32 (68, 2), views float32 (V, 68, 2))``, photo pixels.
    """
    cx, cy, side = C.crop_square(box)
    crops, inverses = [], []
    for flip, factor, angle in views:
        m = C.crop_matrix(cx, cy, side * factor, img_size, angle, flip)
        crops.append(C.normalise(C.warp_crop(gray, m, img_size)))
        inverses.append(C.invert_affine(m))
    x = torch.from_numpy(np.stack(crops)[:, None])
    with torch.no_grad():
        out = model(x).float().numpy().reshape(len(views), 68, 2)
    pts = C.from_targets(out, img_size)
    back = []
    for (flip, _, _), p, inv in zip(views, pts, inverses):
        q = C.apply_affine(p, inv)
        back.append(q[MIRROR] if flip else q)
    every = np.stack(back).astype(np.float32)
    return every.mean(axis=0), every


def spread_iod(views: np.ndarray) -> float:
    """Mean distance of the views' points from their average, as a share of the average's
    inter-ocular distance (points 36, 45); ``views`` ``(V, 68, 2)``."""
    mean = views.mean(axis=0)
    return float(np.linalg.norm(views - mean, axis=-1).mean() / inter_ocular_distance(mean))


def pseudo_label(folder: str | os.PathLike, out: str | os.PathLike, weights: str | os.PathLike | None = None,
                 keep: float = 0.8, detector: str = "hog") -> dict:
    """Label the largest face of every photo under ``folder`` by the TTA average; keep the surest.

    Args:
        folder: photos (walked recursively).
        out: output folder (made); see the module notes for what it holds.
        weights: the teacher's safetensors (default the shipped weights).
        keep: share of the labelled faces kept, those of lowest spread.
        detector: face detector for the boxes.

    Returns:
        ``{"photos", "faces", "kept", "spread_threshold", "spread_median"}`` (spreads as shares of the IOD).

    Raises:
        FileNotFoundError: no such folder.
        ValueError: ``keep`` outside (0, 1], no face in any photo, or ``out`` is ``folder``.
    """
    from landmarker.inference.detect import make_detector
    from landmarker.io.files import find_images

    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    if not 0.0 < keep <= 1.0:
        raise InvalidInput(f"--keep is a share in (0, 1], got {keep}")
    if out.resolve() == folder.resolve():
        raise InvalidInput(f"--out {out}: is the photo folder itself")
    model, card = load_model(weights)
    img_size = int(card["input"]["img_size"])
    detect = make_detector(detector)
    rows, labelled = [], []
    from tqdm import tqdm

    for path, name in tqdm(find_images([folder]), desc="pseudo-labels", unit="photo"):
        try:
            image = read_image(path)
        except ImageDecodeError as err:
            rows.append([name, "error", "", "0"])
            log.warning(str(err))
            continue
        faces = detect(image)
        if not faces:
            rows.append([name, "no_face", "", "0"])
            continue
        mean, views = tta_landmarks(model, to_gray(image), faces[0].box, img_size)
        labelled.append((name, mean, spread_iod(views)))
    if not labelled:
        raise InvalidInput(f"{folder}: no face found in any photo")
    spreads = np.array([s for _, _, s in labelled])
    threshold = float(np.quantile(spreads, keep))
    out.mkdir(parents=True, exist_ok=True)
    link = out / "images"
    if link.is_symlink() or not link.exists():
        if link.is_symlink():
            link.unlink()
        link.symlink_to(folder.resolve(), target_is_directory=True)
    kept = 0
    with atomic_write(out / "landmarks.csv", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file"] + [f"{a}{i}" for i in range(68) for a in "xy"])
        for name, mean, s in labelled:
            ok = s <= threshold
            kept += ok
            rows.append([name, "ok", f"{100 * s:.3f}", str(int(ok))])
            if ok:
                w.writerow([name] + point_fields(mean))
    with atomic_write(out / "pseudo_labels.csv", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "status", "spread_iod_pct", "kept"])
        w.writerows(sorted(rows))
    return {"photos": len(rows), "faces": len(labelled), "kept": kept, "spread_threshold": threshold,
            "spread_median": float(np.median(spreads))}


def audit_labels(samples: list[FaceSample], weights: str | os.PathLike | None = None, detector: str = "hog",
                 k: float = 3.0) -> list[dict]:
    """Score each labelled face's labels against the TTA average of a model.

    Each face is cropped from its training box (:func:`landmarker.model.crop.face_box_for`:
    the detector's box overlapping the labels, else the dataset's, else one from the labels).

    Args:
        samples: labelled faces (landmarks float32 ``(68, 2)`` ``(x, y)`` pixels of their image); at least one.
        weights: the model's safetensors (default the shipped weights).
        detector: face detector whose boxes are preferred; None or ``""``: the dataset's boxes only.
        k: the outlier fence, in interquartile ranges above the third quartile.

    Returns:
        One dict per face, in order: ``image`` (path), ``nme`` (labels vs TTA average,
        share of the IOD), ``spread`` (:func:`spread_iod`) and ``outlier`` (``nme`` above
        ``Q3 + k * IQR`` of all faces).

    Raises:
        ImageDecodeError: an image cannot be decoded (the message names it).
    """
    from tqdm import tqdm

    from landmarker.inference.detect import make_detector
    from landmarker.training.metrics import nme

    model, card = load_model(weights)
    img_size = int(card["input"]["img_size"])
    detect = make_detector(detector) if detector else None
    found = []
    for s in tqdm(samples, desc="label audit", unit="face"):
        image = read_image(s.image_path)
        box, _ = C.face_box_for(s, detect(image) if detect else [])
        mean, views = tta_landmarks(model, to_gray(image), box, img_size)
        found.append((s, float(nme(mean[None], s.landmarks[None])[0]), spread_iod(views)))
    errors = np.array([e for _, e, _ in found])
    q1, q3 = np.quantile(errors, [0.25, 0.75])
    limit = q3 + k * (q3 - q1)
    return [{"image": str(s.image_path), "nme": e, "spread": sp, "outlier": bool(e > limit)} for s, e, sp in found]


def write_audit(specs: list[str], out: str | os.PathLike, weights=None, k: float = 3.0) -> list[dict]:
    """:func:`audit_labels` over the datasets ``specs`` (``FORMAT:PATH``), written to the CSV ``out``
    (``image,nme_pct,spread_pct,outlier``: image path, NME and spread in % of the IOD, 1 for an outlier;
    worst first, written atomically); returns the rows (:func:`audit_labels`' dicts, shares not %).

    Raises:
        DatasetError: a spec cannot be loaded (:func:`landmarker.io.datasets.load_dataset`).
        ImageDecodeError: an image cannot be decoded.
        OSError: ``out`` cannot be written.
    """
    from landmarker.io.datasets import load_dataset

    samples = [s for spec in specs for s in load_dataset(spec)]
    rows = sorted(audit_labels(samples, weights, k=k), key=lambda r: -r["nme"])
    with atomic_write(out, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "nme_pct", "spread_pct", "outlier"])
        for r in rows:
            w.writerow([r["image"], f"{100 * r['nme']:.3f}", f"{100 * r['spread']:.3f}", int(r["outlier"])])
    return rows


def read_exclusions(path: str | os.PathLike) -> set[str]:
    """The images to leave out of training: of an :func:`write_audit` CSV the rows with ``outlier`` 1,
    of any other CSV with an ``image`` column every row; paths as written (resolved).

    Raises:
        FileNotFoundError: no such file.
        ValueError: no ``image`` column (the message names the file).
    """
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "image" not in (reader.fieldnames or []):
            raise InvalidInput(f"{path}: no image column (--exclude takes landmarker audit-labels' CSV)")
        return {str(Path(r["image"]).resolve()) for r in reader if r.get("outlier", "1") == "1"}
