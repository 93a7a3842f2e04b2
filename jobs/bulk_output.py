"""The output files of bulk-label, written so that a killed run can be resumed.

``landmarks.csv`` and ``report.csv`` (docs/architecture.md, "Files written") grow by whole
chunks of images. For each chunk the landmarks rows are written and fsync'ed
first, then the report rows: a report row therefore promises that all the rows of
its faces are on disk. A run killed at any moment (SIGKILL, power loss) leaves at
worst a torn last line in either file and landmarks rows of images not yet
reported. :func:`recover` repairs that:

1. a last record without its line end (or with an unclosed quote) is torn: dropped;
2. an image counts as done when it has a whole report row and exactly as many
   whole landmarks rows as that row's ``faces``; the rows of every other image are
   dropped from both files (it is labelled again);
3. the done images are returned, so the job skips them.

Dropping a tail is a truncation; dropping rows in the middle (only possible for a
file edited by hand) rewrites the file to a temporary name and renames it.

``bulk-label.json`` records the archive (its resolved path), the detector and the
weights of the run, so that a resume into the ``--out`` of another archive or with
other settings is refused instead of mixing two archives or models in one file.
``report.csv`` records each file's size and modification time as it was labelled
(``bytes``, ``mtime_ns``): a photo changed since is labelled again (:func:`forget`).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landmarker.io.atomic import atomic_write
from landmarker.io.landmarks_csv import HEADER, HEADERS, face_row, iter_landmarks_csv
from morphkit.errors import InvalidInput

REPORT_HEADER = ["image", "status", "faces", "message", "bytes", "mtime_ns"]  # the file as labelled: size, mtime
STATUSES = ("ok", "no_face", "error")
LANDMARKS, REPORT, SETTINGS, LOCK = "landmarks.csv", "report.csv", "bulk-label.json", ".bulk-label.lock"
ENCODING = ("utf-8", "surrogateescape")  # file names that are not UTF-8 survive the round trip


class OutputError(InvalidInput):
    """The output folder holds files that bulk-label cannot resume from."""


@dataclass(frozen=True)
class Done:
    """A file already reported by an earlier run: its ``status``, number of ``faces`` and
    ``fingerprint`` (``(bytes, mtime_ns)`` of the file as it was labelled)."""

    status: str
    faces: int
    fingerprint: tuple[int, int] | None = None


def _csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(*ENCODING)


def _records(fh) -> Iterator[tuple[int, bytes, list[str] | None]]:
    """``(start, raw bytes, row)`` of each whole CSV record of binary file ``fh`` (offsets from its position).

    A record ends at a line end outside quotes. A torn last record (no line end, or
    an unclosed quote at the end of the file) is not yielded. ``row`` is None when
    the record does not parse as one CSV row.
    """
    start = pos = quotes = 0
    parts: list[bytes] = []
    for line in fh:
        pos += len(line)
        parts.append(line)
        quotes += line.count(b'"')
        if not line.endswith(b"\n"):
            return
        if quotes % 2:
            continue
        raw = b"".join(parts)
        rows = list(csv.reader(io.StringIO(raw.decode(*ENCODING), newline="")))
        yield start, raw, rows[0] if len(rows) == 1 else None
        start, parts, quotes = pos, [], 0


def _header_end(path: Path, header: list[str]) -> int | None:
    """Byte offset after the header of ``path``; None when the file is missing, empty or torn there.

    Raises:
        OutputError: the file starts with another header (not a bulk-label file).
    """
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        first = next(_records(fh), None)
    if first is None:
        return None
    if first[2] != header:
        if (header == HEADER and first[2] in HEADERS) or (header == REPORT_HEADER and first[2] == REPORT_HEADER[:4]):
            raise OutputError(f"{path}: written by an earlier morphkit (fewer columns); --restart to label again")
        raise OutputError(
            f"{path}: not written by bulk-label (header {','.join(first[2] or [])[:60]!r}); "
            "use another --out, or --restart to overwrite it"
        )
    return len(first[1])


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(path: Path, header: list[str]) -> None:
    """Replace ``path`` atomically by a file holding only ``header``."""
    with atomic_write(path, "wb") as fh:
        fh.write(_csv_bytes([header]))
    _fsync_dir(path.parent)


def _keep_rows(path: Path, header: list[str], keep: Callable[[int, list[str] | None], bool]) -> None:
    """Keep the header and the whole records for which ``keep(start, row)`` holds; drop the rest.

    Truncates when only a tail goes; otherwise rewrites to a temporary file and renames.
    """
    head_end = _header_end(path, header)
    if head_end is None:
        _write_new(path, header)
        return
    end, rewrite, cut = head_end, False, False
    with open(path, "rb") as fh:
        fh.seek(head_end)
        for start, raw, row in _records(fh):
            if not keep(start + head_end, row):
                cut = True
            elif cut:
                rewrite = True
                break
            else:
                end = head_end + start + len(raw)
    if not rewrite:
        if path.stat().st_size != end:
            with open(path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
        return
    with open(path, "rb") as src, atomic_write(path, "wb") as dst:
        dst.write(src.read(head_end))
        for start, raw, row in _records(src):
            if keep(start + head_end, row):
                dst.write(raw)
    _fsync_dir(path.parent)


def _report_entry(row: list[str] | None) -> Done | None:
    if row is None or len(row) != len(REPORT_HEADER) or row[1] not in STATUSES:
        return None
    try:
        faces = int(row[2])
        fingerprint = (int(row[4]), int(row[5])) if row[4] and row[5] else None
    except ValueError:
        return None
    return Done(row[1], faces, fingerprint) if faces >= 0 else None


def recover(out: str | os.PathLike) -> dict[str, Done]:
    """Repair the files a stopped run left in ``out``; returns the files already done.

    Returns:
        image name -> :class:`Done`, in report order; empty when there is nothing to
        resume (then both files are created afresh with their headers).

    Raises:
        OutputError: ``report.csv`` or ``landmarks.csv`` in ``out`` was not written by
            bulk-label.
    """
    out = Path(out)
    rep, lm = out / REPORT, out / LANDMARKS
    reported: dict[str, tuple[int, Done]] = {}
    head_end = _header_end(rep, REPORT_HEADER)
    if head_end is not None:
        with open(rep, "rb") as fh:
            fh.seek(head_end)
            for start, _, row in _records(fh):
                entry = _report_entry(row)
                if entry is not None and row[0] not in reported:
                    reported[row[0]] = (start + head_end, entry)
    face_rows: dict[str, int] = {}
    lm_head = _header_end(lm, HEADER)
    if lm_head is not None and reported:
        with open(lm, "rb") as fh:
            fh.seek(lm_head)
            for _, _, row in _records(fh):
                if row is not None and len(row) == len(HEADER):
                    face_rows[row[0]] = face_rows.get(row[0], 0) + 1
    done = {n: (at, d) for n, (at, d) in reported.items() if face_rows.get(n, 0) == d.faces}
    _keep_rows(lm, HEADER, lambda _, row: row is not None and len(row) == len(HEADER) and row[0] in done)
    _keep_rows(rep, REPORT_HEADER, lambda at, row: bool(row) and row[0] in done and done[row[0]][0] == at)
    return {n: d for n, (_, d) in done.items()}


@contextmanager
def exclusive(out: str | os.PathLike) -> Iterator[None]:
    """Hold ``out/.bulk-label.lock`` (``flock``; released by the kernel if the process dies).

    Raises:
        OutputError: another bulk-label run holds it (two runs would write every row twice).
    """
    try:
        import fcntl
    except ImportError:  # not on POSIX: no locking
        yield
        return
    with open(Path(out) / LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"{out}: another bulk-label run is writing there") from None
        yield


def fingerprint(path: str | os.PathLike) -> tuple[int, int] | None:
    """A file's ``(bytes, mtime_ns)``: a photo edited in place under the same name gets another one.
    None when the file cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def forget(out: str | os.PathLike, names) -> None:
    """Drop every row of the images ``names`` from ``landmarks.csv`` and ``report.csv`` (labelled again)."""
    out, names = Path(out), set(names)
    if names:
        _keep_rows(out / LANDMARKS, HEADER, lambda _, row: not row or row[0] not in names)
        _keep_rows(out / REPORT, REPORT_HEADER, lambda _, row: not row or row[0] not in names)


def start_fresh(out: str | os.PathLike) -> None:
    """Create ``landmarks.csv`` and ``report.csv`` in ``out`` holding only their headers."""
    out = Path(out)
    _write_new(out / LANDMARKS, HEADER)
    _write_new(out / REPORT, REPORT_HEADER)


def check_settings(out: str | os.PathLike, settings: dict, resuming: bool) -> None:
    """Record the run's ``settings`` in ``out/bulk-label.json``; refuse to resume with others.

    Raises:
        OutputError: resuming, and the earlier run used different settings.
    """
    path = Path(out) / SETTINGS
    if resuming and path.is_file():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError):
            before = None
        if isinstance(before, dict):
            changed = [k for k in settings if k in before and before[k] != settings[k]]
            if "archive" in changed:
                raise OutputError(f"{out}: holds the landmarks of another archive ({before['archive']}); give "
                                  f"another --out, or --restart to label {settings['archive']} there from scratch")
            if changed:
                what = ", ".join(f"{k} {before[k]!r} (now {settings[k]!r})" for k in changed)
                raise OutputError(
                    f"{out}: was labelled with {what}; resume with the same settings, or --restart"
                )
    with atomic_write(path) as fh:
        fh.write(json.dumps(settings, indent=1) + "\n")


class ChunkWriter:
    """Appends the results of whole chunks of images to ``landmarks.csv`` and ``report.csv``.

    Each :meth:`append` writes all landmarks rows of the chunk in one write and
    fsyncs, then all report rows in one write and fsyncs (see the module notes).
    """

    def __init__(self, out: str | os.PathLike):
        out = Path(out)
        self._lm = open(out / LANDMARKS, "ab", buffering=0)
        self._rep = open(out / REPORT, "ab", buffering=0)

    @staticmethod
    def _write(fh, data: bytes) -> None:
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[fh.write(view) :]
        os.fsync(fh.fileno())

    def append(self, results, fingerprints: dict | None = None) -> None:
        """Append ``results`` (objects with ``name``, ``status``, ``faces``, ``message``, ``size``);
        ``fingerprints``: name -> ``(bytes, mtime_ns)`` of each file as labelled (see :func:`fingerprint`)."""
        fingerprints = fingerprints or {}
        self._write(self._lm, _csv_bytes(face_row(r.name, i, f, r.size)
                                         for r in results for i, f in enumerate(r.faces)))
        self._write(self._rep, _csv_bytes([r.name, r.status, len(r.faces), r.message,
                                           *fingerprints.get(r.name, ("", ""))] for r in results))

    def close(self) -> None:
        self._lm.close()
        self._rep.close()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def faces_by_image(path: str | os.PathLike) -> Iterator[tuple[str, list[tuple[tuple, np.ndarray]]]]:
    """Stream a ``landmarks.csv``: ``(image, [(box, landmarks (68, 2) float32), ...])``.

    Consecutive rows of one image are grouped; one image is held in memory at a time.
    Rows are parsed by :func:`landmarker.io.landmarks_csv.iter_landmarks_csv`.

    Raises:
        OutputError: a row does not follow the format (names file and line).
    """
    rows = iter_landmarks_csv(path, errors=ENCODING[1])
    try:
        for name, group in itertools.groupby(rows, key=lambda row: row[0]):
            yield name, [(face.box, face.landmarks) for _, face in group]
    except ValueError as err:
        raise OutputError(str(err)) from err
