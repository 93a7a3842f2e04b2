"""``python -m jobs bulk-label``: landmarks for every image of an archive.

Walks the archive recursively, runs detection and landmarks on every image in
parallel (joblib, chunks of images per task, one model per worker process), and
writes two files into ``--out`` as results arrive, flushed after every chunk so
a stopped run keeps what it finished:

- ``landmarks.csv``: one row per face (DESIGN.md format);
- ``report.csv``: one row per file: ``image,status,faces,message`` with status
  ``ok``, ``no_face`` or ``error`` (the message says why).

A file that cannot be read is an ``error`` row; the job goes on and exits 0.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

from joblib import Parallel, delayed
from tqdm import tqdm

from landmarker.decode import ImageDecodeError, read_image
from landmarker.files import find_images
from landmarker.landmarks_csv import HEADER, face_row
from landmarker.overlay import draw_faces, save_png
from landmarker.predict import overlay_path

REPORT_HEADER = ["image", "status", "faces", "message"]
CHUNK = 8

_MODELS: dict = {}


def _model(weights, detector, threads):
    """One Landmarker per worker process, loaded on first use."""
    key = (weights, detector)
    if key not in _MODELS:
        from landmarker.predictor import Landmarker

        _MODELS[key] = Landmarker(weights, detector=detector, num_threads=threads)
    return _MODELS[key]


@dataclass
class ImageResult:
    """What happened to one file: ``status`` is ``ok``, ``no_face`` or ``error``."""

    name: str
    status: str
    faces: list
    message: str = ""


def label_images(items, weights=None, detector="hog", overlay_dir=None, threads=None) -> list[ImageResult]:
    """Detect faces and predict landmarks for ``(path, name)`` items; never raises for a bad file."""
    model = _model(weights, detector, threads)
    results, images = [], []
    for path, name in items:
        try:
            images.append((name, read_image(path)))
        except ImageDecodeError as err:
            results.append(ImageResult(name, "error", [], err.reason))
        except Exception as err:  # a file we could not even stat or read
            results.append(ImageResult(name, "error", [], f"{type(err).__name__}: {err}"))
    faces_per_image = model.predict_many([img for _, img in images]) if images else []
    for (name, image), faces in zip(images, faces_per_image):
        if overlay_dir is not None:
            try:
                save_png(draw_faces(image, faces), overlay_path(overlay_dir, name))
            except OSError as err:
                results.append(ImageResult(name, "error", faces, f"overlay not written: {err}"))
                continue
        results.append(ImageResult(name, "ok" if faces else "no_face", faces, "" if faces else "no face found"))
    order = {name: i for i, (_, name) in enumerate(items)}
    return sorted(results, key=lambda r: order[r.name])


def bulk_label(
    archive: str | os.PathLike,
    out: str | os.PathLike,
    n_jobs: int = 1,
    weights: str | None = None,
    detector: str = "hog",
    overlay: bool = False,
    progress: bool = True,
) -> dict:
    """Label every image under ``archive`` into ``out``; returns the summary counts.

    Returns:
        dict with ``files``, ``ok``, ``no_face``, ``error``, ``faces``, ``seconds``.

    Raises:
        FileNotFoundError: the archive does not exist.
        ValueError: the archive holds no image files.
    """
    archive, out = Path(archive), Path(out)
    if not archive.is_dir():
        raise FileNotFoundError(f"{archive}: no such folder")
    items = [(str(p), name) for p, name in find_images([archive])]
    if not items:
        raise ValueError(f"{archive}: no image files found (looked for .jpg .png .gif .bmp .tif .webp)")
    out.mkdir(parents=True, exist_ok=True)
    overlay_dir = str(out / "overlays") if overlay else None
    n_workers = max(1, min(n_jobs if n_jobs > 0 else (os.cpu_count() or 1), len(items)))
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    counts = {"files": len(items), "ok": 0, "no_face": 0, "error": 0, "faces": 0}
    t0 = time.time()
    with open(out / "landmarks.csv", "w", newline="") as lm_fh, open(out / "report.csv", "w", newline="") as rep_fh:
        lm_csv, rep_csv = csv.writer(lm_fh), csv.writer(rep_fh)
        lm_csv.writerow(HEADER)
        rep_csv.writerow(REPORT_HEADER)
        jobs = (delayed(label_images)(chunk, weights, detector, overlay_dir, threads) for chunk in chunks)
        results = Parallel(n_jobs=n_workers, return_as="generator")(jobs)
        with tqdm(total=len(items), desc="bulk-label", unit="image", disable=not progress) as bar:
            for chunk_results in results:
                for r in chunk_results:
                    for i, face in enumerate(r.faces):
                        lm_csv.writerow(face_row(r.name, i, face))
                    rep_csv.writerow([r.name, r.status, len(r.faces), r.message])
                    counts[r.status] += 1
                    counts["faces"] += len(r.faces) if r.status != "error" else 0
                lm_fh.flush()
                rep_fh.flush()
                bar.update(len(chunk_results))
    counts["seconds"] = round(time.time() - t0, 1)
    return counts
