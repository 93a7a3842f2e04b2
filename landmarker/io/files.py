"""Finding image files under the paths a user gives."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from landmarker.io.decode import is_image_name

#: A folder holding this file was written by one of our commands (bulk-label, team-means):
#: walks skip it, so a run never takes its own outputs (overlays, means) for input photos.
OUTPUT_MARKER = ".morphkit-output"


def mark_output(folder: str | os.PathLike) -> None:
    """Make ``folder`` (created if missing) and mark it as our output (:data:`OUTPUT_MARKER`)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: is a file; give a folder for the outputs")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{folder}: {parent} is a file, not a folder")
            break
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / OUTPUT_MARKER
    if not marker.exists():
        marker.write_text("written by morphkit; folders holding this file are skipped when looking for photos\n")


def sha1_hex(data: bytes) -> str:
    """The SHA-1 digest of ``data`` as 40 hex digits: the one digest of file names (review ids,
    :func:`jobs.review.store.face_id`) and of photos (:func:`file_sha1`)."""
    return hashlib.sha1(data).hexdigest()


def file_sha1(path: str | os.PathLike) -> str:
    """The SHA-1 digest of a file's bytes as 40 hex digits (the ``sha1`` column of ``landmarks.csv``:
    which photo the landmarks belong to), read in 1 MiB blocks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_images(paths, exclude=()) -> list[tuple[Path, str]]:
    """Expand files and folders into ``(path, name)`` pairs, in a stable order.

    A folder is walked recursively for files with an image extension (any case);
    their ``name`` is the path relative to that folder with POSIX separators. A
    file given directly is taken whatever its extension, named as given.
    Hidden files and folders (names starting with ``.``) are skipped, and so are
    folders our commands wrote (holding :data:`OUTPUT_MARKER`) and the paths in
    ``exclude`` (a job's own ``--out``), below a folder given.

    Names are text that any UTF-8 file can hold: bytes of a file name that are not
    UTF-8 (old archives in Latin-1 or CP437) appear as ``\\xNN`` escapes in
    ``name``, while ``path`` still opens the file.

    Names are unique across files: when two given folders hold files of the same
    relative name (``a/x.jpg`` and ``b/x.jpg``), the later one is named with its
    folder as given (``b/x.jpg``), so CSV rows and overlays never collide. The same
    file listed twice keeps one name (and two entries: callers that want each file
    once drop repeats by path).

    Raises:
        FileNotFoundError: a path does not exist.
    """
    out: list[tuple[Path, str]] = []
    owner: dict[str, Path] = {}  # name -> the file it names
    skip = {os.path.normcase(os.path.abspath(e)) for e in exclude}
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(
                    d for d in dirs
                    if not d.startswith(".") and not _skipped(os.path.join(root, d), skip)
                    and not os.path.exists(os.path.join(root, d, OUTPUT_MARKER))
                )
                for f in files:
                    if not f.startswith(".") and is_image_name(f) and not _skipped(os.path.join(root, f), skip):
                        fp = Path(root) / f
                        found.append((fp, printable_name(fp.relative_to(p).as_posix())))
            for fp, name in sorted(found, key=lambda t: t[1]):
                if name in owner and owner[name].resolve() != fp.resolve():
                    name = printable_name(p.as_posix().rstrip("/") + "/" + fp.relative_to(p).as_posix())
                out.append((fp, name))
                owner.setdefault(name, fp)
        elif p.exists():
            out.append((p, printable_name(p.as_posix())))
            owner.setdefault(out[-1][1], p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def _skipped(path: str, skip: set[str]) -> bool:
    return bool(skip) and os.path.normcase(os.path.abspath(path)) in skip


def printable_name(name: str) -> str:
    """``name`` with undecodable file-name bytes (``os.fsdecode``'s surrogate escapes) as ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
