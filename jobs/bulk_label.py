"""``python -m jobs bulk-label``: landmarks for every image of an archive.

Walks the archive recursively, runs detection and landmarks on every image in
parallel (joblib, chunks of :data:`CHUNK` images per task, one model per worker
process) and writes into ``--out`` as results arrive:

- ``landmarks.csv``: one row per face (DESIGN.md format);
- ``report.csv``: one row per file: ``image,status,faces,message`` with status
  ``ok``, ``no_face`` or ``error`` (the message says why);
- ``landmarks.xml`` with ``fmt="dlib-xml"``: the same faces as dlib/iBUG XML
  (:mod:`landmarker.dlib_xml_writer`), written atomically at the end from
  ``landmarks.csv``, image paths relative to ``out``.

A file that cannot be read is an ``error`` row; the job goes on and exits 0.

Resumable: both CSV files grow by whole chunks, fsync'ed, landmarks before report
(:mod:`jobs.bulk_output`). Running again with the same ``--out`` repairs what a
killed run left and skips the files already reported; ``restart=True`` starts over.
Chunks are cut from the full sorted file list, not from what is left, so a resumed
run sends the same images through the network together and gets the same numbers.

The per-image work runs on local processes or on a Dask cluster
(:mod:`jobs.backends`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from joblib import Parallel, delayed
from tqdm import tqdm

from landmarker.decode import ImageDecodeError, read_image
from landmarker.dlib_xml_writer import write_dlib_xml, xml_safe
from landmarker.detect import DEFAULT_DETECTOR
from landmarker.files import find_images
from landmarker.overlay import draw_faces, save_png
from landmarker.predict import overlay_path

from .backends import choose_backend, parallel_backend
from .bulk_output import (
    REPORT_HEADER,
    STATUSES,
    ChunkWriter,
    check_settings,
    exclusive,
    faces_by_image,
    recover,
    start_fresh,
)

__all__ = ["CHUNK", "REPORT_HEADER", "ImageResult", "label_images", "bulk_label"]

CHUNK = 8
FORMATS = ("csv", "dlib-xml")
XML = "landmarks.xml"

_MODELS: dict = {}
_MODELS_LOCK = threading.Lock()


def _model(weights, detector, threads):
    """One Landmarker (and a lock to use it) per worker process and settings, loaded on first use."""
    key = (weights, detector)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from landmarker.predictor import Landmarker

            _MODELS[key] = (Landmarker(weights, detector=detector, num_threads=threads), threading.Lock())
        return _MODELS[key]


@dataclass
class ImageResult:
    """What happened to one file: ``status`` is ``ok``, ``no_face`` or ``error``."""

    name: str
    status: str
    faces: list
    message: str = ""


def label_images(items, weights=None, detector=DEFAULT_DETECTOR, overlay_dir=None, threads=None) -> list[ImageResult]:
    """Detect faces and predict landmarks for ``(path, name)`` items; never raises for a bad file.

    Importable and picklable by reference, so it runs on joblib and Dask workers
    alike; the model is loaded once per worker process (and shared, under a lock,
    by the threads of a Dask worker).

    Returns:
        one :class:`ImageResult` per item, in the order of ``items``.
    """
    model, lock = _model(weights, detector, threads)
    results, images = [], []
    for path, name in items:
        try:
            images.append((name, read_image(path)))
        except ImageDecodeError as err:
            results.append(ImageResult(name, "error", [], err.reason))
        except Exception as err:  # a file we could not even stat or read
            results.append(ImageResult(name, "error", [], f"{type(err).__name__}: {err}"))
    if images:
        with lock:
            faces_per_image = model.predict_many([img for _, img in images])
    else:
        faces_per_image = []
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


def _count(counts: dict, status: str, faces: int) -> None:
    counts[status] += 1
    counts["faces"] += faces if status != "error" else 0


def write_xml(out: Path, archive: Path) -> tuple[int, int, int]:
    """Regenerate ``out/landmarks.xml`` from ``out/landmarks.csv`` (all images, resumed ones too).

    Image paths are written relative to ``out``. Images whose names XML cannot
    hold are left out with a warning.

    Returns:
        ``(images, boxes, images left out)``.
    """
    left_out = []

    def images():
        for name, faces in faces_by_image(out / "landmarks.csv"):
            rel = Path(os.path.relpath(archive / name, out)).as_posix()
            if xml_safe(rel):
                yield rel, faces
            else:
                left_out.append(name)

    n_images, n_boxes = write_dlib_xml(
        out / XML, images(), name="bulk-label", comment=f"68-point landmarks of {archive.name} by morphkit bulk-label"
    )
    for name in left_out:
        print(f"bulk-label: {name!r} left out of {XML}: its name cannot be stored in XML", file=sys.stderr)
    return n_images, n_boxes, len(left_out)


def bulk_label(
    archive: str | os.PathLike,
    out: str | os.PathLike,
    n_jobs: int = 1,
    weights: str | None = None,
    detector: str = DEFAULT_DETECTOR,
    overlay: bool = False,
    progress: bool = True,
    *,
    restart: bool = False,
    fmt: str = "csv",
    backend: str | None = None,
    scheduler: str | None = None,
) -> dict:
    """Label every image under ``archive`` into ``out``; returns the summary counts.

    Args:
        archive: folder of images, walked recursively.
        out: output folder; when it holds an earlier run's files, the run resumes.
        n_jobs: local worker processes (``-1``: one per core); not used with Dask.
        weights: safetensors file (None: the shipped weights).
        detector: one of ``landmarker.detect.DETECTORS`` (default ``hog+haar``).
        overlay: also write ``out/overlays/<image>.png``.
        progress: show a progress bar.
        restart: ignore and overwrite what an earlier run left in ``out``.
        fmt: ``csv`` (landmarks.csv + report.csv) or ``dlib-xml`` (also landmarks.xml).
        backend: ``loky`` (local processes) or ``dask``; default ``dask`` when
            ``scheduler`` is given, else ``loky``.
        scheduler: Dask scheduler address, e.g. ``tcp://10.0.0.5:8786``.

    Returns:
        dict with ``files``, ``ok``, ``no_face``, ``error``, ``faces`` (all counted
        over the whole report, resumed files included), ``resumed`` (files already
        done by an earlier run), ``seconds`` and ``xml`` (its path, or None).

    Raises:
        FileNotFoundError: the archive does not exist.
        ValueError: the archive holds no image files, ``out`` holds files bulk-label
            cannot resume from, a resume with other settings, a bad format or
            backend, or an unreachable Dask scheduler.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    backend = choose_backend(backend, scheduler)
    archive, out = Path(archive), Path(out)
    if not archive.is_dir():
        raise FileNotFoundError(f"{archive}: no such folder")
    archive = archive.resolve()
    out = out.resolve()
    items = [(str(p), name) for p, name in find_images([archive])]
    if (out / "overlays").is_relative_to(archive):  # --out inside the archive: skip our own overlays
        inside = (out / "overlays").relative_to(archive).as_posix() + "/"
        items = [it for it in items if not it[1].startswith(inside)]
    if not items:
        raise ValueError(f"{archive}: no image files found (looked for .jpg .png .gif .bmp .tif .webp)")
    out.mkdir(parents=True, exist_ok=True)
    settings = {"detector": detector, "weights": str(Path(weights).resolve()) if weights else "shipped"}
    t0 = time.time()
    with exclusive(out):
        done = _prepare(out, settings, restart, fmt)
        counts = {"files": 0, "ok": 0, "no_face": 0, "error": 0, "faces": 0}
        for d in done.values():
            _count(counts, d.status, d.faces)
        counts["resumed"] = sum(counts[s] for s in STATUSES)
        chunks = [[it for it in items[i : i + CHUNK] if it[1] not in done] for i in range(0, len(items), CHUNK)]
        chunks = [c for c in chunks if c]
        overlay_dir = str(out / "overlays") if overlay else None
        if chunks:  # (a finished run re-run needs no workers, nor the cluster)
            with parallel_backend(backend, scheduler, n_jobs, len(chunks)) as (n_workers, threads):
                tasks = (delayed(label_images)(c, weights, detector, overlay_dir, threads) for c in chunks)
                results = Parallel(n_jobs=n_workers, return_as="generator")(tasks)
                with ChunkWriter(out) as writer, tqdm(
                    total=counts["resumed"] + sum(len(c) for c in chunks), initial=counts["resumed"],
                    desc="bulk-label", unit="image", disable=not progress,
                ) as bar:
                    for chunk_results in results:
                        writer.append(chunk_results)
                        for r in chunk_results:
                            _count(counts, r.status, len(r.faces))
                        bar.update(len(chunk_results))
        counts["files"] = sum(counts[s] for s in STATUSES)
        counts["xml"] = None
        if fmt == "dlib-xml" or (out / XML).exists():  # an existing XML is kept in step with the CSV
            write_xml(out, archive)
            counts["xml"] = str(out / XML)
    counts["seconds"] = round(time.time() - t0, 1)
    return counts


def _prepare(out: Path, settings: dict, restart: bool, fmt: str) -> dict:
    """Repair and read what an earlier run left in ``out`` (or start over); returns the files done."""
    done = {} if restart else recover(out)
    check_settings(out, settings, resuming=bool(done))
    if not done:
        start_fresh(out)
        if restart and fmt != "dlib-xml" and (out / XML).exists():
            (out / XML).unlink()  # it would describe the run we start over from
    return done
