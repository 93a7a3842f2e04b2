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

Corrections (``morphkit review``, :mod:`jobs.review`) live in the same journal: table
``reviews`` holds each reviewed face's landmarks (image, face number), table ``edits`` every
save in order (the points before and after). ``landmarks.csv`` is written from ``files``
with the reviewed faces' points put in place of the model's and ``reviewed`` set to ``1``
(:data:`landmarker.io.landmarks_csv.REVIEWED_HEADER`), by the one writer
:meth:`Journal.write_csv`; so a resumed, relabelling or restarted run never overwrites a
correction: nothing in bulk-label deletes from ``reviews``. Faces a person marked "not a face"
(table ``rejected``) are left out of ``landmarks.csv`` (and so of every file and job made from it)
until restored; faces a person boxed that the detector missed (table ``added``, the model's points
in the box) are written after the detector's faces of their image, numbered after them; table
``actions`` records every reject, restore and add in order. Like reviews, none of these is touched
by a resumed, relabelling or restarted run (a relabelled file whose detector faces now take an
added face's number moves that face to a free number). A review server holds the journal's lock
like a run does: while one is open, bulk-label into that folder is refused,
and the reverse.
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
from landmarker.io.landmarks_csv import (
    HEADER,
    HEADERS,
    REVIEWED_HEADER,
    SIZE_HEADER,
    SIZE_REVIEWED_HEADER,
    face_row,
    iter_landmarks_csv,
    point_fields,
)
from morphkit.errors import InvalidInput

log = logging.getLogger(__name__)

REPORT_HEADER = ["image", "status", "faces", "message", "bytes", "mtime_ns"]  # the file as labelled: size, mtime
STATUSES = ("ok", "no_face", "error")
LANDMARKS, REPORT, SETTINGS, JOURNAL = "landmarks.csv", "report.csv", "bulk-label.json", ".bulk-label.sqlite"
ENCODING = ("utf-8", "surrogateescape")  # file names that are not UTF-8 survive the round trip
CSV_SHARE = 0.1  # the share of a run's time that rewriting the CSV files may take
JOURNAL_VERSION = 1  # PRAGMA user_version: 1 = landmarks rows with the sha1 column (HEADER)
_FILES = """CREATE TABLE IF NOT EXISTS files (  -- one row per file met, in the order met
    seq INTEGER PRIMARY KEY, image BLOB NOT NULL UNIQUE, status TEXT NOT NULL, faces INTEGER NOT NULL,
    bytes INTEGER, mtime_ns INTEGER, report BLOB NOT NULL, landmarks BLOB NOT NULL)"""  # its CSV rows
_INSERT = "INSERT OR REPLACE INTO files VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)"  # seq: the next one
_REVIEWS = """CREATE TABLE IF NOT EXISTS reviews (  -- reviewed faces: their points win over the model's
    image BLOB NOT NULL, face INTEGER NOT NULL, landmarks TEXT NOT NULL, saved REAL NOT NULL,
    PRIMARY KEY (image, face))"""  # landmarks: JSON 68 x [x, y] pixels; saved: Unix time
_EDITS = """CREATE TABLE IF NOT EXISTS edits (  -- every save of a review, in order: nothing is lost
    seq INTEGER PRIMARY KEY, image BLOB NOT NULL, face INTEGER NOT NULL, before TEXT NOT NULL,
    after TEXT NOT NULL, saved REAL NOT NULL)"""
_REJECTED = """CREATE TABLE IF NOT EXISTS rejected (  -- "not a face": left out of landmarks.csv and every file
    image BLOB NOT NULL, face INTEGER NOT NULL, saved REAL NOT NULL, PRIMARY KEY (image, face))"""
_ADDED = """CREATE TABLE IF NOT EXISTS added (  -- faces a person boxed that the detector missed
    image BLOB NOT NULL, face INTEGER NOT NULL, row BLOB NOT NULL, saved REAL NOT NULL,
    PRIMARY KEY (image, face))"""  # row: its CSV row (HEADER layout, the model's points in the box)
_ACTIONS = """CREATE TABLE IF NOT EXISTS actions (  -- every reject, restore and add, in order
    seq INTEGER PRIMARY KEY, image BLOB NOT NULL, face INTEGER NOT NULL, action TEXT NOT NULL,
    saved REAL NOT NULL)"""


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
        if first is None or (first == header and header != HEADER):
            yield from rows
        elif header == HEADER and first in (HEADER, SIZE_HEADER, REVIEWED_HEADER, SIZE_REVIEWED_HEADER):
            # HEADER rows, a reviewed one followed by "reviewed" (a journal deleted under reviewed faces);
            # files before the sha1 column get it empty
            base, marked = len(SIZE_HEADER), first[-1] == "reviewed"
            for r in rows:
                if len(r) == len(first):
                    sha1 = r[base] if "sha1" in first else ""
                    yield [*r[:base], sha1, *(["reviewed"] if marked and r[-1] == "1" else [])]
        elif (header == HEADER and first in HEADERS) or (header == REPORT_HEADER and first == REPORT_HEADER[:4]):
            raise OutputError(f"{path}: written by an earlier morphkit (fewer columns); --restart to label again")
        else:
            raise OutputError(f"{path}: not written by bulk-label (header {','.join(first)[:60]!r}); "
                              "use another --out, or --restart to overwrite it")


class Journal:
    """The journal of the bulk-label run into ``out``, locked from opening to :meth:`close`.

    Args:
        out: the output folder (it exists).
        settings: the run's settings, a JSON-able dict; ``archive`` names the archive. None:
            open the journal of an earlier run as it is, to review it (:attr:`settings` are its own).
        restart: forget what earlier runs recorded (not the reviews).
        check_same_thread: False lets other threads use the connection (the caller serialises).

    Raises:
        OutputError: another run or a review server holds the journal; or ``out`` holds the
            results of an earlier run with other settings, CSV files not written by
            bulk-label, or a journal SQLite cannot read; with ``settings`` None: ``out`` holds
            no journal.
    """

    def __init__(self, out: str | os.PathLike, settings: dict | None, restart: bool = False,
                 check_same_thread: bool = True):
        self.out, self._next_csv, self._db = Path(out), 0.0, None
        self.settings = settings
        if settings is None and not (self.out / JOURNAL).is_file():
            raise OutputError(f"{self.out}: not the output folder of a bulk-label run (no {JOURNAL} there)")
        try:
            self._db = sqlite3.connect(self.out / JOURNAL, timeout=0, isolation_level=None,
                                       check_same_thread=check_same_thread)
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
                raise OutputError(f"{self.out}: another bulk-label run is writing there, or morphkit review has "
                                  "it open; wait until it ends") from err
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

    def _open(self, settings: dict | None, restart: bool) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS settings (json TEXT NOT NULL)")
        db.execute(_FILES)
        db.execute(_REVIEWS)
        db.execute(_EDITS)
        db.execute(_REJECTED)
        db.execute(_ADDED)
        db.execute(_ACTIONS)
        if db.execute("PRAGMA user_version").fetchone()[0] < JOURNAL_VERSION:
            self._upgrade()
        for name in (LANDMARKS, REPORT):  # what a kill left of an atomic write (we hold the lock)
            for tmp in self.out.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)
        row = db.execute("SELECT json FROM settings").fetchone()
        if settings is None:  # to review: the run as it is
            self.settings = json.loads(row[0]) if row else {}
            return
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

    def _upgrade(self) -> None:
        """Bring the rows of a journal written before the ``sha1`` column (version 0) to the layout of
        :data:`HEADER`, the column empty (its readers then check those photos by size, as before)."""
        old = [(seq, blob) for seq, blob in self._db.execute("SELECT seq, landmarks FROM files WHERE faces > 0")
               if any(len(r) == len(SIZE_HEADER) for r in _rows_of(blob))]
        self._db.executemany("UPDATE files SET landmarks = ? WHERE seq = ?",
                             ((_csv_bytes([*r, ""] if len(r) == len(SIZE_HEADER) else r for r in _rows_of(blob)),
                               seq) for seq, blob in old))
        self._db.execute(f"PRAGMA user_version = {JOURNAL_VERSION}")

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
        reviewed: list[list[str]] = []
        for row in _old_rows(self.out / LANDMARKS, HEADER):
            if row[len(HEADER):] == ["reviewed"]:
                row = row[: len(HEADER)]
                reviewed.append(row)
            if len(row) == len(HEADER) and row[0] in reported:
                faces.setdefault(row[0], []).append(_csv_bytes([row]))
        whole = [(name, row, d) for name, (row, d) in reported.items() if len(faces.get(name, ())) == d.faces]
        self._db.executemany(_INSERT, ((name.encode(*ENCODING), d.status, d.faces, *(d.fingerprint or (None, None)),
                                        _csv_bytes([row]), b"".join(faces.get(name, []))) for name, row, d in whole))
        now = time.time()
        self._db.executemany("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?)",
                             ((r[0].encode(*ENCODING), int(r[1]), json.dumps(_points(r)), now) for r in reviewed))
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
                       _csv_bytes(face_row(r.name, i, f, r.size, r.sha1) for i, f in enumerate(r.faces)))

        results = list(results)
        try:
            with self._transaction() as db:
                db.executemany(_INSERT, rows())
                for r in results:
                    if r.faces:
                        self._renumber_added(r.name.encode(*ENCODING), len(r.faces))
        except sqlite3.OperationalError as err:  # a full disk, a journal deleted under the run
            raise OutputError(f"{self.out / JOURNAL}: cannot record the results: {err}") from err

    def _renumber_added(self, key: bytes, n: int) -> None:
        """Move the faces a person added to image ``key`` whose numbers the detector's ``n`` faces now
        take (a file labelled again) to free numbers, their review and rejection with them."""
        db = self._db
        clash = [f for (f,) in db.execute("SELECT face FROM added WHERE image = ? AND face < ? ORDER BY face",
                                          (key, n))]
        if not clash:
            return
        free = max([n - 1, *_people_faces(db, key)]) + 1
        for old in clash:
            for table in ("added", "reviews", "rejected"):
                db.execute(f"UPDATE {table} SET face = ? WHERE image = ? AND face = ?", (free, key, old))
            log.warning(f"bulk-label: {key.decode(*ENCODING)}: the face added in review as number {old} is now "
                        f"number {free} (the detector's faces take 0-{n - 1})")
            free += 1

    def forget(self, names: Iterable[str]) -> None:
        """Drop the files ``names`` from the journal (to be labelled again)."""
        with self._transaction() as db:
            db.executemany("DELETE FROM files WHERE image = ?", ((n.encode(*ENCODING),) for n in names))

    def write_csv(self, final: bool = True, report: bool = True) -> None:
        """Write ``landmarks.csv`` (reviewed faces' points in place, marked), then ``report.csv``, from
        the journal, each atomically. The one writer of a run's CSV files.

        ``final=False`` (during a run): not fsync'ed (the journal is), and skipped until the
        last write has taken at most :data:`CSV_SHARE` of the time since it began.
        ``report=False``: ``landmarks.csv`` only (a review changes nothing else).

        Raises:
            OSError: a file cannot be written (the one there is left whole).
        """
        start = time.monotonic()
        if not final and start < self._next_csv:
            return
        corrections = self._corrections()
        with atomic_write(self.out / LANDMARKS, "wb", fsync=final) as fh:
            fh.write(_csv_bytes([REVIEWED_HEADER]))
            for image, blob in self._db.execute("SELECT image, landmarks FROM files ORDER BY seq"):
                if not corrections.touch(image):  # the common case, fast
                    fh.write(_reviewed_rows(blob))
                else:
                    fh.write(_csv_bytes(row for _, row, rejected in corrections.rows(image, blob) if not rejected))
        if report:
            with atomic_write(self.out / REPORT, "wb", fsync=final) as fh:
                fh.write(_csv_bytes([REPORT_HEADER]))
                fh.writelines(blob for (blob,) in self._db.execute("SELECT report FROM files ORDER BY seq"))
        end = time.monotonic()
        self._next_csv = end + (end - start) * (1 / CSV_SHARE - 1)

    # --- reviews (morphkit review) ---------------------------------------------------------

    def faces(self, images: Iterable[str] | None = None) -> Iterator[tuple[str, int, list[str], bool]]:
        """Every face recorded, in file order (an image's detected faces, then those a person added), as
        written to ``landmarks.csv``: ``(image, face number, CSV row in the layout of REVIEWED_HEADER,
        rejected)`` (a reviewed face with its corrected points; a rejected one is in no file).

        Args:
            images: only the faces of these images (default: all).
        """
        corrections = self._corrections()
        if images is None:
            found = self._db.execute("SELECT image, landmarks FROM files ORDER BY seq")
        else:
            found = [r for n in images for r in self._db.execute(
                "SELECT image, landmarks FROM files WHERE image = ?", (n.encode(*ENCODING),))]
        for image, blob in found:
            name = image.decode(*ENCODING)
            for face, row, rejected in corrections.rows(image, blob):
                yield name, face, row, rejected

    def _corrections(self) -> _Corrections:
        """What people changed: reviews, rejections and added faces, by image as stored."""
        c = _Corrections({}, {}, {})
        for image, face, points in self._db.execute("SELECT image, face, landmarks FROM reviews"):
            c.reviewed.setdefault(image, {})[face] = json.loads(points)
        for image, face in self._db.execute("SELECT image, face FROM rejected"):
            c.rejected.setdefault(image, set()).add(face)
        for image, face, row in self._db.execute("SELECT image, face, row FROM added ORDER BY image, face"):
            c.added.setdefault(image, []).append(_added_row(row, face))
        return c

    def reviews(self) -> dict[tuple[str, int], list]:
        """The reviewed faces: ``(image, face number) -> 68 x [x, y]`` pixels."""
        return {(image.decode(*ENCODING), face): json.loads(points)
                for image, face, points in self._db.execute("SELECT image, face, landmarks FROM reviews")}

    def review(self, image: str, face: int, landmarks: list) -> list[str]:
        """Record a person's landmarks for face ``face`` of ``image`` (and the edit) in one
        transaction, then rewrite ``landmarks.csv``; returns the face's new CSV row.

        Args:
            landmarks: 68 ``[x, y]`` float pixels (the caller checks them).

        Raises:
            KeyError: the journal holds no such face.
            OutputError: the journal or ``landmarks.csv`` cannot be written.
        """
        key = image.encode(*ENCODING)
        points = [[round(float(x), 3), round(float(y), 3)] for x, y in landmarks]
        try:
            with self._transaction() as db:
                row = self._base_row(key, face)
                if row is None:
                    raise KeyError((image, face))
                old = db.execute("SELECT landmarks FROM reviews WHERE image = ? AND face = ?", (key, face)).fetchone()
                before, after, now = old[0] if old else json.dumps(_points(row)), json.dumps(points), time.time()
                db.execute("INSERT INTO edits VALUES (NULL, ?, ?, ?, ?, ?)", (key, face, before, after, now))
                db.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?)", (key, face, after, now))
        except sqlite3.OperationalError as err:
            raise OutputError(f"{self.out / JOURNAL}: cannot record the correction: {err}") from err
        try:
            self.write_csv(report=False)
        except OSError as err:  # the journal holds the correction: the next write puts it in the file
            raise OutputError(f"{self.out / LANDMARKS}: cannot be written ({err}); the correction is in "
                              f"{JOURNAL}") from err
        return _with_points(row, points)

    def _base_row(self, key: bytes, face: int) -> list[str] | None:
        """The row (``HEADER`` layout, the model's points) of face ``face`` of image ``key``: detected or
        added; None: no such face."""
        found = self._db.execute("SELECT landmarks FROM files WHERE image = ?", (key,)).fetchone()
        row = next((r for r in _rows_of(found[0]) if int(r[1]) == face), None) if found else None
        if row is None and found:
            added = self._db.execute("SELECT row FROM added WHERE image = ? AND face = ?", (key, face)).fetchone()
            row = _added_row(added[0], face) if added else None
        return row

    def _change(self, what: str, change) -> None:
        """Run ``change(db)`` in one transaction, then rewrite ``landmarks.csv`` from the journal.

        Raises:
            KeyError: from ``change`` (no such face or image).
            OutputError: the journal or ``landmarks.csv`` cannot be written.
        """
        try:
            with self._transaction() as db:
                change(db)
        except sqlite3.OperationalError as err:
            raise OutputError(f"{self.out / JOURNAL}: cannot record the {what}: {err}") from err
        try:
            self.write_csv(report=False)
        except OSError as err:  # the journal holds it: the next write puts it in the file
            raise OutputError(f"{self.out / LANDMARKS}: cannot be written ({err}); the {what} is in {JOURNAL}") from err

    def reject(self, image: str, face: int, rejected: bool = True) -> None:
        """Mark face ``face`` of ``image`` "not a face" (``rejected`` False: restore it), recorded in the
        journal (table ``rejected``, and ``actions``) in one transaction, then rewrite ``landmarks.csv``
        without it (with it). Rejecting a rejected face, or restoring one that is not, changes nothing.

        Raises:
            KeyError: the journal holds no such face.
            OutputError: the journal or ``landmarks.csv`` cannot be written.
        """
        key = image.encode(*ENCODING)

        def change(db):
            if self._base_row(key, face) is None:
                raise KeyError((image, face))
            was = db.execute("SELECT 1 FROM rejected WHERE image = ? AND face = ?", (key, face)).fetchone()
            if bool(was) == rejected:
                return
            now = time.time()
            if rejected:
                db.execute("INSERT INTO rejected VALUES (?, ?, ?)", (key, face, now))
            else:
                db.execute("DELETE FROM rejected WHERE image = ? AND face = ?", (key, face))
            db.execute("INSERT INTO actions VALUES (NULL, ?, ?, ?, ?)",
                       (key, face, "reject" if rejected else "restore", now))

        self._change("rejection" if rejected else "restore", change)

    def add_face(self, image: str, row: list[str]) -> tuple[int, list[str]]:
        """Record a face a person boxed in ``image`` (one the detector missed), then rewrite
        ``landmarks.csv`` with it. It gets the next free face number of its image.

        Args:
            row: its ``landmarks.csv`` row (``HEADER`` layout; the face number is set here).

        Returns:
            ``(face number, its row in the layout of REVIEWED_HEADER)``.

        Raises:
            KeyError: the journal holds no such image.
            OutputError: the journal or ``landmarks.csv`` cannot be written.
        """
        key = image.encode(*ENCODING)
        number = []

        def change(db):
            found = db.execute("SELECT faces FROM files WHERE image = ?", (key,)).fetchone()
            if found is None:
                raise KeyError(image)
            face, now = max([found[0] - 1, *_people_faces(db, key)]) + 1, time.time()
            db.execute("INSERT INTO added VALUES (?, ?, ?, ?)", (key, face, _csv_bytes([[image, str(face), *row[2:]]]),
                                                                 now))
            db.execute("INSERT INTO actions VALUES (NULL, ?, ?, ?, ?)", (key, face, "add", now))
            number.append(face)

        self._change("added face", change)
        return number[0], [image, str(number[0]), *row[2 : len(HEADER)], ""]

    def close(self) -> None:
        """Close the journal and release its lock."""
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class _Corrections:
    """People's changes, by image as stored (bytes): ``reviewed`` face -> 68 x [x, y], ``rejected`` face
    numbers, ``added`` rows (``HEADER`` layout)."""

    reviewed: dict[bytes, dict[int, list]]
    rejected: dict[bytes, set[int]]
    added: dict[bytes, list[list[str]]]

    def touch(self, image: bytes) -> bool:
        """Whether a person changed any face of ``image``."""
        return image in self.reviewed or image in self.rejected or image in self.added

    def rows(self, image: bytes, blob: bytes) -> Iterator[tuple[int, list[str], bool]]:
        """The faces of ``image`` (its journal rows ``blob``, then the added ones): ``(face number,
        row in the layout of REVIEWED_HEADER, rejected)``."""
        reviewed, rejected = self.reviewed.get(image, {}), self.rejected.get(image, ())
        for row in [*_rows_of(blob), *self.added.get(image, [])]:
            face = int(row[1])
            yield face, (_with_points(row, reviewed[face]) if face in reviewed else [*row[: len(HEADER)], ""]), \
                face in rejected


def _people_faces(db: sqlite3.Connection, key: bytes) -> list[int]:
    """The face numbers of image ``key`` (as stored) that a person added, reviewed or rejected."""
    return [f for table in ("added", "reviews", "rejected")
            for (f,) in db.execute(f"SELECT face FROM {table} WHERE image = ?", (key,))]


def _added_row(blob: bytes, face: int) -> list[str]:
    """The row (``HEADER`` layout) of an added face from its ``added.row`` blob, numbered ``face`` (its
    number may have moved since it was stored: :meth:`Journal._renumber_added`)."""
    row = _rows_of(blob)[0]
    return [row[0], str(face), *row[2:]]


def _rows_of(blob: bytes) -> list[list[str]]:
    """The CSV rows of a journal blob."""
    return list(csv.reader(io.StringIO(blob.decode(*ENCODING), newline="")))


def _points(row: list[str]) -> list[list[float]]:
    """The 68 ``[x, y]`` of a ``landmarks.csv`` row."""
    values = [float(v) for v in row[7:143]]
    return [values[i : i + 2] for i in range(0, 136, 2)]


def _with_points(row: list[str], points: list) -> list[str]:
    """A journal row (``HEADER`` layout) with a reviewer's points put in and marked reviewed."""
    return [*row[:7], *point_fields(points), *row[143 : len(HEADER)], "1"]


def _reviewed_rows(blob: bytes) -> bytes:
    """A file's rows from the journal (``HEADER`` layout), none of them changed by a person, in the layout
    of ``REVIEWED_HEADER`` (the column empty)."""
    if b'"' not in blob:  # no quoted field: every CRLF ends a row
        return blob.replace(b"\r\n", b",\r\n")
    return _csv_bytes([*row, ""] for row in _rows_of(blob))


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
