"""``python -m jobs bulk-label``: landmarks for every image of an archive.

Walks the archive recursively, runs detection and landmarks on every image in
parallel (joblib, chunks of :data:`CHUNK` images per task, one model per worker
process) and writes into ``--out`` as results arrive:

- ``landmarks.csv``: one row per face (docs/architecture.md, "Files written");
- ``report.csv``: one row per file: ``image,status,faces,message`` with status
  ``ok``, ``no_face`` or ``error`` (the message says why);
- ``landmarks.xml`` with ``fmt="dlib-xml"``: the same faces as dlib/iBUG XML
  (:mod:`landmarker.io.dlib_xml`), written atomically at the end from
  ``landmarks.csv``, image paths relative to ``out``.

A file that cannot be read is an ``error`` row; the job goes on and exits 0.

Resumable: each chunk is recorded in one transaction of a SQLite journal in ``--out``,
from which both CSV files are written (:mod:`jobs.bulk_output`). Running again with
the same ``--out`` skips the files already recorded, unless a file changed since (its
size or modification time: it is labelled again); ``--out`` of another archive, or
another model, is refused, and so is a second run into an ``--out`` being written;
``restart=True`` starts over.
Chunks are cut from the full sorted file list, not from what is left, so a resumed
run sends the same images through the network together and gets the same numbers.

The per-image work is :func:`landmarker.inference.labelling.label_images`, the labelling
path of every command, on local worker threads or a Dask cluster
(:mod:`landmarker.inference.parallel`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from tqdm import tqdm

from landmarker.inference.labelling import ImageResult, ModelSpec, label_images
from landmarker.inference.parallel import cluster, label_chunks
from landmarker.io.dlib_xml import write_dlib_xml, xml_safe
from landmarker.io.files import find_images, mark_output
from morphkit.errors import InvalidInput

from .bulk_output import REPORT_HEADER, STATUSES, Journal, faces_by_image, fingerprint
from .results import BulkLabelResult

log = logging.getLogger(__name__)

__all__ = ["CHUNK", "REPORT_HEADER", "ImageResult", "label_images", "bulk_label"]

CHUNK = 8
FORMATS = ("csv", "dlib-xml")
XML = "landmarks.xml"

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
        log.warning(f"bulk-label: {name!r} left out of {XML}: its name cannot be stored in XML")
    return n_images, n_boxes, len(left_out)


def bulk_label(
    archive: str | os.PathLike,
    out: str | os.PathLike,
    *,
    n_jobs: int = -1,
    spec: ModelSpec = ModelSpec(),
    overlay: bool = False,
    progress: bool = True,
    restart: bool = False,
    fmt: str = "csv",
    scheduler: str | None = None,
) -> BulkLabelResult:
    """Label every image under ``archive`` into ``out``; returns the summary counts.

    The defaults here are those of ``morphkit bulk-label`` (its options read them from this signature).

    Args:
        archive: folder of images, walked recursively.
        out: output folder; when it holds an earlier run's files, the run resumes.
        n_jobs: local worker threads (``-1``: one per core); not used with Dask.
        spec: the model (weights, backend, detector, flip averaging).
        overlay: also write ``out/overlays/<image>.png``.
        progress: show a progress bar.
        restart: ignore and overwrite what an earlier run left in ``out``.
        fmt: ``csv`` (landmarks.csv + report.csv) or ``dlib-xml`` (also landmarks.xml).
        scheduler: Dask scheduler address, e.g. ``tcp://10.0.0.5:8786``: run the
            per-image work there.

    Returns:
        :class:`jobs.results.BulkLabelResult`: ``files``, ``ok``, ``no_face``, ``error``,
        ``faces`` (all counted over the whole report, resumed files included), ``resumed``
        (files already done by an earlier run), ``seconds``, ``xml`` (its path, or None)
        and ``overlays_added`` (overlays drawn for resumed files).

    Raises:
        FileNotFoundError: the archive does not exist.
        ValueError: the archive holds no image files, ``out`` holds files bulk-label
            cannot resume from, a resume with other settings, a bad format, a
            model the backend cannot run, or an unreachable Dask scheduler.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    archive, out = Path(archive), Path(out)
    if not archive.is_dir():
        raise FileNotFoundError(f"{archive}: no such folder")
    archive = archive.resolve()
    out = out.resolve()
    items = [(str(p), name) for p, name in find_images([archive], exclude=[out])]  # never our own outputs
    if not items:
        raise InvalidInput(f"{archive}: no image files found (looked for .jpg .png .gif .bmp .tif .webp)")
    with cluster(scheduler) as client:  # an unreachable scheduler is refused before anything is written
        mark_output(out)
        settings = {"archive": str(archive), **spec.settings()}
        spec = spec.resolved()
        prints = {name: fingerprint(path) for path, name in items}  # before labelling: a later edit shows next time
        t0 = time.time()
        with Journal(out, settings, restart) as journal:
            if restart and fmt != "dlib-xml" and (out / XML).exists():
                (out / XML).unlink()  # it would describe the run we start over from
            done = journal.done()
            changed = {n for n, d in done.items() if n in prints and d.fingerprint != prints[n]}
            if changed:
                log.warning(f"bulk-label: {len(changed)} file(s) changed since an earlier run labelled them (e.g. "
                            f"{min(changed)}): labelled again")
                journal.forget(changed)
                done = {n: d for n, d in done.items() if n not in changed}
            counts = {"files": 0, "ok": 0, "no_face": 0, "error": 0, "faces": 0}
            for d in done.values():
                _count(counts, d.status, d.faces)
            counts["resumed"] = sum(counts[s] for s in STATUSES)
            chunks = [[it for it in items[i : i + CHUNK] if it[1] not in done] for i in range(0, len(items), CHUNK)]
            chunks = [c for c in chunks if c]
            overlay_dir = str(out / "overlays") if overlay else None
            try:
                if chunks:
                    journal.write_csv(final=False)  # a killed run's CSV files may lag behind its journal
                    results = label_chunks(label_images, chunks, n_jobs, client, spec=spec, overlay_dir=overlay_dir)
                    with tqdm(
                        total=counts["resumed"] + sum(len(c) for c in chunks), initial=counts["resumed"],
                        desc="bulk-label", unit="image", disable=not progress,
                    ) as bar:
                        for chunk_results in results:
                            journal.add(chunk_results, prints)
                            journal.write_csv(final=False)
                            for r in chunk_results:
                                _count(counts, r.status, len(r.faces))
                            bar.update(len(chunk_results))
            finally:  # Ctrl-C or an error too: the CSV files hold everything recorded
                journal.write_csv()
            if overlay and done:
                counts["overlays_added"] = _overlays_for_resumed(out, items, done, Path(overlay_dir), progress)
            counts["files"] = sum(counts[s] for s in STATUSES)
            counts["xml"] = None
            if fmt == "dlib-xml" or (out / XML).exists():  # an existing XML is kept in step with the CSV
                write_xml(out, archive)
                counts["xml"] = str(out / XML)
    counts["seconds"] = round(time.time() - t0, 1)
    return BulkLabelResult(files=counts["files"], ok=counts["ok"], no_face=counts["no_face"], error=counts["error"],
                           faces=counts["faces"], resumed=counts["resumed"], seconds=counts["seconds"],
                           xml=counts["xml"], overlays_added=counts.get("overlays_added", 0))


def _overlays_for_resumed(out: Path, items, done: dict, overlay_dir: Path, progress: bool) -> int:
    """Draw the overlays that files labelled by an earlier run without ``--overlay`` lack; returns how many.

    The faces come from ``landmarks.csv`` (no model run). A file that no longer
    decodes is reported on stderr and left without an overlay.
    """
    from landmarker.inference.labelling import overlay_path
    from landmarker.io.decode import ImageDecodeError, read_image
    from landmarker.io.face import Face
    from landmarker.io.overlay import draw_faces, save_png

    missing = [(p, n) for p, n in items
               if n in done and done[n].status != "error" and not overlay_path(overlay_dir, n).exists()]
    if not missing:
        return 0
    wanted = {n for _, n in missing}
    faces = {name: [Face(tuple(box), 0.0, lm) for box, lm in found]
             for name, found in faces_by_image(out / "landmarks.csv") if name in wanted}
    written = 0
    for path, name in tqdm(missing, desc="overlays of resumed files", unit="image", disable=not progress):
        try:
            save_png(draw_faces(read_image(path), faces.get(name, [])), overlay_path(overlay_dir, name))
            written += 1
        except (ImageDecodeError, OSError) as err:
            log.warning(f"bulk-label: {name}: overlay not written: {err}")
    return written
