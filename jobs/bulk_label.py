"""``python -m jobs bulk-label``: landmarks for every image of an archive.

Walks the archive recursively, runs detection and landmarks on every image in
parallel (joblib, chunks of :data:`CHUNK` images per task, one model per worker
process) and writes into ``--out`` as results arrive:

- ``landmarks.csv``: one row per face (docs/architecture.md, "Files written");
- ``report.csv``: one row per file: ``image,status,faces,message`` with status
  ``ok``, ``no_face`` or ``error`` (the message says why);
- ``landmarks.xml`` with ``fmt="dlib-xml"``: the same faces as dlib/iBUG XML
  (:mod:`landmarker.io.dlib_xml`), written atomically at the end from
  ``landmarks.csv``, image paths relative to ``out``;
- ``overlays/<image>.jpg`` with ``overlay=True``: the faces as ``landmarks.csv`` has them drawn on
  the photo reduced to ``overlay_side`` px (:mod:`landmarker.io.overlay`), by one background thread
  of lower priority (:class:`OverlayWriter`), off the labelling's path.

``min_score`` drops the faces whose detector score is under it (the report's message says how many).

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
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from landmarker.inference.labelling import ImageResult, ModelSpec, label_images, overlay_path
from landmarker.inference.parallel import cluster, label_chunks
from landmarker.io.dlib_xml import write_dlib_xml, xml_safe
from landmarker.io.face import scaled_faces
from landmarker.io.files import find_images, mark_output
from landmarker.io.landmarks_csv import parse_row
from landmarker.io.overlay import OVERLAY_SIDE, save_overlay, write_overlay
from morphkit.errors import InvalidInput

from .bulk_output import REPORT_HEADER, STATUSES, Journal, faces_by_image, fingerprint
from .results import BulkLabelResult

log = logging.getLogger(__name__)

__all__ = ["CHUNK", "REPORT_HEADER", "ImageResult", "OverlayWriter", "label_images", "bulk_label",
           "drop_low_scores", "redraw_overlay"]

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
    return write_xml_of(out / XML, faces_by_image(out / "landmarks.csv"), archive, out, name="bulk-label",
                        comment=f"68-point landmarks of {archive.name} by morphkit bulk-label", job="bulk-label")


def write_xml_of(path: Path, groups, archive: Path, rel_to: Path, *, name: str, comment: str,
                 job: str) -> tuple[int, int, int]:
    """Write the dlib XML file ``path`` (:func:`landmarker.io.dlib_xml.write_dlib_xml`, atomically) of
    ``groups``: ``(image name in archive, [(box, landmarks float (68, 2) pixels), ...])`` per image, image
    paths relative to the folder ``rel_to``. An image whose path XML cannot hold is left out, one warning
    line each (``job: ...``).

    Returns:
        ``(images, boxes, images left out)``.

    Raises:
        OSError: the file cannot be written.
    """
    left_out = []

    def images():
        for image, faces in groups:
            rel = Path(os.path.relpath(archive / image, rel_to)).as_posix()
            if xml_safe(rel):
                yield rel, faces
            else:
                left_out.append(image)

    n_images, n_boxes = write_dlib_xml(path, images(), name=name, comment=comment)
    for image in left_out:
        log.warning(f"{job}: {image!r} left out of {path.name}: its name cannot be stored in XML")
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
    min_score: float | None = None,
    overlay_side: int = OVERLAY_SIDE,
) -> BulkLabelResult:
    """Label every image under ``archive`` into ``out``; returns the summary counts.

    The defaults here are those of ``morphkit bulk-label`` (its options read them from this signature).

    Args:
        archive: folder of images, walked recursively; or one image file (its folder is then the
            archive the run records, and the file is named by its file name).
        out: output folder; when it holds an earlier run's files, the run resumes.
        n_jobs: local worker threads (``-1``: one per core); not used with Dask.
        spec: the model (weights, backend, detector, flip averaging).
        overlay: also write ``out/overlays/<image>.jpg`` (JPEG, long side at most ``overlay_side``).
        progress: show a progress bar.
        restart: ignore and overwrite what an earlier run left in ``out``.
        fmt: ``csv`` (landmarks.csv + report.csv) or ``dlib-xml`` (also landmarks.xml).
        scheduler: Dask scheduler address, e.g. ``tcp://10.0.0.5:8786``: run the
            per-image work there.
        min_score: leave out the faces whose detector score is under this (dlib HOG's scale: 0 is
            dlib's own threshold, weaker HOG boxes confirmed by Haar score down to -0.8, Haar-only
            faces -1; :func:`drop_low_scores`); None: keep every face. Recorded with the run's settings.
        overlay_side: the longest side of an overlay, pixels (16 or more).

    Returns:
        :class:`jobs.results.BulkLabelResult`: ``files``, ``ok``, ``no_face``, ``error``,
        ``faces`` (all counted over the whole report, resumed files included), ``resumed``
        (files already done by an earlier run), ``seconds``, ``xml`` (its path, or None),
        ``overlays_added`` (overlays drawn for resumed files) and ``dropped`` (faces under ``min_score``).

    Raises:
        FileNotFoundError: the archive (or the file) does not exist.
        ValueError: the archive holds no image files, ``out`` holds files bulk-label
            cannot resume from, a resume with other settings (``min_score`` included), a bad
            format or ``overlay_side``, a model the backend cannot run, or an unreachable Dask scheduler.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    if overlay_side < 16:
        raise InvalidInput(f"--overlay-size {overlay_side}: give 16 px or more")
    archive, out = Path(archive), Path(out)
    if not archive.exists():
        raise FileNotFoundError(f"{archive}: no such file or folder")
    out = out.resolve()
    if archive.is_dir():
        archive = archive.resolve()
        items = [(str(p), name) for p, name in find_images([archive], exclude=[out])]  # never our own outputs
    else:  # one photo, taken whatever its extension (as landmarker predict does): its folder is the archive
        photo = archive.resolve()
        archive = photo.parent
        items = [(str(photo), photo.name)]
    if not items:
        raise InvalidInput(f"{archive}: no image files found (looked for .jpg .png .gif .bmp .tif .webp)")
    with cluster(scheduler) as client:  # an unreachable scheduler is refused before anything is written
        mark_output(out)
        settings = {"archive": str(archive), **spec.settings(), "min_score": min_score}
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
            counts = {"files": 0, "ok": 0, "no_face": 0, "error": 0, "faces": 0, "dropped": 0}
            for d in done.values():
                _count(counts, d.status, d.faces)
            counts["resumed"] = sum(counts[s] for s in STATUSES)
            chunks = [[it for it in items[i : i + CHUNK] if it[1] not in done] for i in range(0, len(items), CHUNK)]
            chunks = [c for c in chunks if c]
            paths = {name: path for path, name in items}
            overlays = OverlayWriter(out / "overlays", overlay_side) if overlay else None
            try:
                if chunks:
                    journal.write_csv(final=False)  # a killed run's CSV files may lag behind its journal
                    results = label_chunks(label_images, chunks, n_jobs, client, spec=spec,
                                           preview_side=overlay_side if overlays is not None else None)
                    with tqdm(
                        total=counts["resumed"] + sum(len(c) for c in chunks), initial=counts["resumed"],
                        desc="bulk-label", unit="image", disable=not progress,
                    ) as bar:
                        for chunk_results in results:
                            kept = [drop_low_scores(r, min_score) for r in chunk_results]
                            chunk_results = [r for r, _ in kept]
                            counts["dropped"] += sum(n for _, n in kept)
                            journal.add(chunk_results, prints)
                            journal.write_csv(final=False)
                            for r in chunk_results:
                                _count(counts, r.status, len(r.faces))
                            if overlays is not None:
                                _draw(overlays, journal, paths, [r.name for r in chunk_results if r.status != "error"],
                                      {r.name: (r.preview, r.size) for r in chunk_results if r.preview is not None})
                            bar.update(len(chunk_results))
                if overlays is not None and done:
                    missing = [n for n in done if n in paths and done[n].status != "error"
                               and not _has_overlay(overlays.folder, n)]
                    _draw(overlays, journal, paths, missing)
                    counts["overlays_added"] = len(missing)
            except BaseException:
                if overlays is not None:
                    overlays.close(cancel=True)  # a resumed run draws the overlays missing
                raise
            finally:  # Ctrl-C or an error too: the CSV files hold everything recorded
                journal.write_csv()
            if overlays is not None:
                overlays.close()
                counts["overlays_added"] = max(0, counts.get("overlays_added", 0) - overlays.failed)
            counts["files"] = sum(counts[s] for s in STATUSES)
            counts["xml"] = None
            if fmt == "dlib-xml" or (out / XML).exists():  # an existing XML is kept in step with the CSV
                write_xml(out, archive)
                counts["xml"] = str(out / XML)
    counts["seconds"] = round(time.time() - t0, 1)
    return BulkLabelResult(files=counts["files"], ok=counts["ok"], no_face=counts["no_face"], error=counts["error"],
                           faces=counts["faces"], resumed=counts["resumed"], seconds=counts["seconds"],
                           xml=counts["xml"], overlays_added=counts.get("overlays_added", 0),
                           dropped=counts["dropped"])


def drop_low_scores(result: ImageResult, min_score: float | None) -> tuple[ImageResult, int]:
    """``(result without the faces whose detector score is under min_score, how many were dropped)``.

    Faces without a score (boxes given) are kept; the others keep their order (and are numbered
    from 0 when recorded). The message says how many were dropped, and a file left without a face is
    ``no_face``. ``min_score`` None: ``(result, 0)``."""
    kept = [f for f in result.faces if min_score is None or not f.score < min_score]
    dropped = len(result.faces) - len(kept)
    if not dropped:
        return result, 0
    note = f"{dropped} face(s) scoring under --min-score {min_score:g} dropped"
    return replace(result, status="ok" if kept else "no_face", faces=kept,
                   message=note if kept else f"no face found; {note}"), dropped


def _has_overlay(overlay_dir, name: str) -> bool:
    """Whether ``name``'s overlay is there and not empty (overlays are not fsync'ed: a power cut can leave
    an empty one, drawn again by the next run)."""
    try:
        return overlay_path(overlay_dir, name).stat().st_size > 0
    except OSError:
        return False


def old_overlay(overlay_dir, name: str) -> Path:
    """Where an earlier version put the overlay of ``name``: a full-size PNG (``<image>.png``)."""
    return overlay_path(overlay_dir, name).with_suffix(".png")


def redraw_overlay(photo, name: str, faces, overlay_dir, max_side: int | None = None, preview=None) -> Path:
    """Draw the overlay of image ``name`` (the file ``photo``) with ``faces`` (box and landmarks in the
    photo's pixels) into ``overlay_dir`` (:func:`landmarker.io.overlay.write_overlay`), and remove
    its full-size PNG of an earlier version; returns the overlay's path.

    Args:
        max_side: its longest side, pixels; None: that of the overlay there (a redraw keeps the
            run's ``--overlay-size``), else :data:`landmarker.io.overlay.OVERLAY_SIDE`.
        preview: ``(image, (width, height))``: the photo already decoded and reduced
            (:attr:`landmarker.inference.labelling.ImageResult.preview`) and its full size, drawn on
            instead of decoding ``photo`` again; None: decode it.

    Raises:
        ImageDecodeError: the photo cannot be decoded.
        OSError: the overlay cannot be written.
    """
    from PIL import Image

    path = overlay_path(overlay_dir, name)
    if max_side is None:
        max_side = OVERLAY_SIDE
        try:
            with Image.open(path) as im:
                max_side = max(im.size)
        except (OSError, ValueError):
            pass
    if preview is not None:
        image, (width, _) = preview
        save_overlay(image, scaled_faces(faces, image.shape[1] / width), path, max_side)
    else:
        write_overlay(photo, faces, path, max_side)
    old_overlay(overlay_dir, name).unlink(missing_ok=True)
    return path


def _draw(overlays: OverlayWriter, journal: Journal, paths: dict, names: list[str],
          previews: dict | None = None) -> None:
    """Queue the overlays of ``names`` with their faces as ``landmarks.csv`` has them (corrections in
    place, rejected faces left out, added ones in); ``previews``: name -> ``(image, size)`` of
    :func:`redraw_overlay` for photos still in memory."""
    shown: dict[str, list] = {n: [] for n in names}
    for name, _, row, rejected in journal.faces(names):
        if not rejected:
            shown[name].append(parse_row(row).face)
    for name in names:
        overlays.put(paths[name], name, shown[name], (previews or {}).get(name))


class OverlayWriter:
    """Overlays drawn on one background thread of lower priority, so labelling never waits for them
    (but for a full queue of :data:`QUEUE` images): :meth:`put` queues one, :meth:`close` waits for
    the rest. A photo that no longer decodes, or an overlay that cannot be written, is one warning
    line and counted in :attr:`failed`; the job goes on.

    Args:
        folder: the overlays' folder (``OUT/overlays``).
        max_side: the overlays' longest side, pixels.
    """

    QUEUE = 64

    def __init__(self, folder: Path, max_side: int = OVERLAY_SIDE):
        self.folder, self.max_side = Path(folder), max_side
        self.written = self.failed = 0
        self._queue: queue.Queue = queue.Queue(self.QUEUE)
        self._cancel = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bulk-label overlays", daemon=True)
        self._thread.start()

    def put(self, photo, name: str, faces, preview=None) -> None:
        """Queue the overlay of image ``name`` (the file ``photo``) with ``faces`` (full-size pixels);
        ``preview``: the photo in memory, as :func:`redraw_overlay` takes it."""
        self._queue.put((photo, name, faces, preview))

    def _run(self) -> None:
        from landmarker.io.decode import ImageDecodeError

        while (item := self._queue.get()) is not None:
            if self._cancel.is_set() or self._error is not None:
                continue  # drain: put() never blocks on a writer that stopped
            photo, name, faces, preview = item
            try:
                redraw_overlay(photo, name, faces, self.folder, self.max_side, preview)
                self.written += 1
            except (ImageDecodeError, OSError) as err:
                self.failed += 1
                log.warning(f"bulk-label: {name}: overlay not written: {err}")
            except BaseException as err:  # a bug: raised again by close()
                self._error = err

    def close(self, cancel: bool = False) -> None:
        """Wait until the queued overlays are written (``cancel``: skip those not begun).

        Raises:
            the error that stopped the thread, if one did (not a bad photo: those are warnings).
        """
        if cancel:
            self._cancel.set()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and not cancel:
            raise self._error
