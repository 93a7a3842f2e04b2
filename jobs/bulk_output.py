"""The journal of bulk-label, from which a run stopped at any moment resumes.

Each chunk of images labelled is recorded in one transaction of ``OUT/.bulk-label.sqlite``
(SQLite, WAL, ``synchronous=FULL``): after a kill (SIGKILL, power loss) a file is in it with
all its rows or not at all. ``landmarks.csv`` and ``report.csv`` (docs/architecture.md,
"Files written") are written from the journal, each atomically, landmarks first: during a
run as often as that takes at most :data:`CSV_SHARE` of its time, and at its end (Ctrl-C and
errors included). A killed run may leave them behind the journal; the next one rewrites them.

The journal holds the run's settings (copied to ``bulk-label.json`` for people): resuming
with another archive or model is refused. A file whose size or modification time differs
from when it was labelled is labelled again. A run holds the journal's lock from start to
end (SQLite's exclusive locking mode; the kernel drops it with the process), so a second
run into the same ``--out`` is refused. An ``--out`` of a version before the journal (CSV
files only) is imported once: each file with a whole report row and as many whole landmarks
rows as it counts faces.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landmarker.io.atomic import atomic_write
from landmarker.io.landmarks_csv import HEADER, HEADERS, face_row, iter_landmarks_csv
from morphkit.errors import InvalidInput

log = logging.getLogger(__name__)

REPORT_HEADER = ["image", "status", "faces", "message", "bytes", "mtime_ns"]  # the file as labelled: size, mtime
STATUSES = ("ok", "no_face", "error")
LANDMARKS, REPORT, SETTINGS, JOURNAL = "landmarks.csv", "report.csv", "bulk-label.json", ".bulk-label.sqlite"
ENCODING = ("utf-8", "surrogateescape")  # file names that are not UTF-8 survive the round trip
CSV_SHARE = 0.1  # the share of a run's time that rewriting the CSV files may take
_FILES = """CREATE TABLE IF NOT EXISTS files (  -- one row per file met, in the order met
    seq INTEGER PRIMARY KEY, image BLOB NOT NULL UNIQUE, status TEXT NOT NULL, faces INTEGER NOT NULL,
    bytes INTEGER, mtime_ns INTEGER, report BLOB NOT NULL, landmarks BLOB NOT NULL)"""  # its CSV rows
_INSERT = "INSERT OR REPLACE INTO files VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)"  # seq: the next one


class OutputError(InvalidInput):
    """The output folder holds files bulk-label cannot resume from, or another run writes there."""


@dataclass(frozen=True)
class Done:
    """A file already reported by an earlier run: its ``status``, number of ``faces`` and
    ``fingerprint`` (``(bytes, mtime_ns)`` of the file as it was labelled)."""

    status: str
    faces: int
    fingerprint: tuple[int, int] | None = None


def fingerprint(path: str | os.PathLike) -> tuple[int, int] | None:
    """A file's ``(bytes, mtime_ns)``: a photo edited in place under the same name gets another one.
    None when the file cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(*ENCODING)


def _old_rows(path: Path, header: list[str]) -> Iterator[list[str]]:
    """The rows of a CSV file an earlier version wrote, less a last one without its line end (torn).

    Raises:
        OutputError: the file starts with another header.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        whole = fh.read(1) == b"\n"
    with open(path, newline="", encoding=ENCODING[0], errors=ENCODING[1]) as fh:
        rows = csv.reader(fh)
        if not whole:
            rows = (row for row, _ in itertools.pairwise(rows))
        first = next(rows, None)
        if first is None or first == header:
            yield from rows
        elif (header == HEADER and first in HEADERS) or (header == REPORT_HEADER and first == REPORT_HEADER[:4]):
            raise OutputError(f"{path}: written by an earlier morphkit (fewer columns); --restart to label again")
        else:
            raise OutputError(f"{path}: not written by bulk-label (header {','.join(first)[:60]!r}); "
                              "use another --out, or --restart to overwrite it")


class Journal:
    """The journal of the bulk-label run into ``out``, locked from opening to :meth:`close`.

    Args:
        out: the output folder (it exists).
        settings: the run's settings, a JSON-able dict; ``archive`` names the archive.
        restart: forget what earlier runs recorded.

    Raises:
        OutputError: another run holds the journal; or ``out`` holds the results of an
            earlier run with other settings, CSV files not written by bulk-label, or a
            journal SQLite cannot read.
    """

    def __init__(self, out: str | os.PathLike, settings: dict, restart: bool = False):
        self.out, self._next_csv, self._db = Path(out), 0.0, None
        try:
            self._db = sqlite3.connect(self.out / JOURNAL, timeout=0, isolation_level=None)
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")  # the lock, once taken, is held until close
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a committed chunk survives a power loss too
            with self._transaction():
                self._open(settings, restart)
        except BaseException as err:
            self.close()
            if not isinstance(err, sqlite3.Error):
                raise
            if "locked" in str(err):
                raise OutputError(f"{self.out}: another bulk-label run is writing there") from err
            raise OutputError(f"{self.out / JOURNAL}: {err} (delete it to start over)") from err

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _open(self, settings: dict, restart: bool) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS settings (json TEXT NOT NULL)")
        db.execute(_FILES)
        for name in (LANDMARKS, REPORT):  # what a kill left of an atomic write (we hold the lock)
            for tmp in self.out.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)
        row = db.execute("SELECT json FROM settings").fetchone()
        before, imported = None, 0
        if restart:
            db.execute("DELETE FROM files")
        elif row:
            before = json.loads(row[0])
        else:  # a new journal: take over the CSV files of a version before it
            imported = self._import_csv()
            try:
                before = json.loads((self.out / SETTINGS).read_text())
            except (OSError, ValueError):
                pass
        if isinstance(before, dict) and db.execute("SELECT 1 FROM files LIMIT 1").fetchone():
            changed = [k for k in settings if k in before and before[k] != settings[k]]
            if "archive" in changed:
                raise OutputError(f"{self.out}: holds the landmarks of another archive ({before['archive']}); give "
                                  f"another --out, or --restart to label {settings['archive']} there from scratch")
            if changed:
                what = ", ".join(f"{k} {before[k]!r} (now {settings[k]!r})" for k in changed)
                raise OutputError(f"{self.out}: was labelled with {what}; resume with the same settings, or --restart")
        db.execute("DELETE FROM settings")
        db.execute("INSERT INTO settings VALUES (?)", (json.dumps(settings),))
        with atomic_write(self.out / SETTINGS) as fh:
            fh.write(json.dumps(settings, indent=1) + "\n")
        if imported:
            log.info(f"bulk-label: {self.out}: {imported} file(s) recorded in the CSV files of an earlier version "
                     f"taken over into {JOURNAL}")

    def _import_csv(self) -> int:
        """Import the files that the CSV files of a version before the journal record; returns how many."""
        reported: dict[str, tuple[list[str], Done]] = {}
        for row in _old_rows(self.out / REPORT, REPORT_HEADER):
            try:
                if len(row) == len(REPORT_HEADER) and row[1] in STATUSES and int(row[2]) >= 0:
                    fp = (int(row[4]), int(row[5])) if row[4] and row[5] else None
                    reported.setdefault(row[0], (row, Done(row[1], int(row[2]), fp)))
            except ValueError:  # not a whole row
                pass
        faces: dict[str, list[bytes]] = {}
        for row in _old_rows(self.out / LANDMARKS, HEADER):
            if len(row) == len(HEADER) and row[0] in reported:
                faces.setdefault(row[0], []).append(_csv_bytes([row]))
        whole = [(name, row, d) for name, (row, d) in reported.items() if len(faces.get(name, ())) == d.faces]
        self._db.executemany(_INSERT, ((name.encode(*ENCODING), d.status, d.faces, *(d.fingerprint or (None, None)),
                                        _csv_bytes([row]), b"".join(faces.get(name, []))) for name, row, d in whole))
        return len(whole)

    def done(self) -> dict[str, Done]:
        """The files recorded so far: image name -> :class:`Done`, in the order met."""
        rows = self._db.execute("SELECT image, status, faces, bytes, mtime_ns FROM files ORDER BY seq")
        return {image.decode(*ENCODING): Done(status, faces, None if size is None or mtime is None else (size, mtime))
                for image, status, faces, size, mtime in rows}

    def add(self, results: Iterable, fingerprints: dict) -> None:
        """Record one chunk's ``results`` in one transaction (a kill keeps all of them or none).

        Args:
            results: :class:`landmarker.inference.labelling.ImageResult` (``name``, ``status``,
                ``faces`` largest first, ``message``, ``size``); one replaces an earlier one of its name.
            fingerprints: name -> ``(bytes, mtime_ns)`` of each file as labelled (:func:`fingerprint`).
        """
        def rows():
            for r in results:
                size, mtime = fingerprints.get(r.name) or (None, None)
                report = [r.name, r.status, len(r.faces), r.message, "" if size is None else size,
                          "" if mtime is None else mtime]
                yield (r.name.encode(*ENCODING), r.status, len(r.faces), size, mtime, _csv_bytes([report]),
                       _csv_bytes(face_row(r.name, i, f, r.size) for i, f in enumerate(r.faces)))

        try:
            with self._transaction() as db:
                db.executemany(_INSERT, rows())
        except sqlite3.OperationalError as err:  # a full disk, a journal deleted under the run
            raise OutputError(f"{self.out / JOURNAL}: cannot record the results: {err}") from err

    def forget(self, names: Iterable[str]) -> None:
        """Drop the files ``names`` from the journal (to be labelled again)."""
        with self._transaction() as db:
            db.executemany("DELETE FROM files WHERE image = ?", ((n.encode(*ENCODING),) for n in names))

    def write_csv(self, final: bool = True) -> None:
        """Write ``landmarks.csv``, then ``report.csv``, from the journal, each atomically.

        ``final=False`` (during a run): not fsync'ed (the journal is), and skipped until the
        last write has taken at most :data:`CSV_SHARE` of the time since it began.
        """
        start = time.monotonic()
        if not final and start < self._next_csv:
            return
        for name, header, column in ((LANDMARKS, HEADER, "landmarks"), (REPORT, REPORT_HEADER, "report")):
            with atomic_write(self.out / name, "wb", fsync=final) as fh:
                fh.write(_csv_bytes([header]))
                fh.writelines(blob for (blob,) in self._db.execute(f"SELECT {column} FROM files ORDER BY seq"))
        end = time.monotonic()
        self._next_csv = end + (end - start) * (1 / CSV_SHARE - 1)

    def close(self) -> None:
        """Close the journal and release its lock."""
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> Journal:
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
