"""All-or-nothing file writes: one helper for every file our commands write.

:func:`atomic_write` opens a temporary file beside the target (``.NAME.XXXX.tmp``,
hidden, unique per writer), and when the block ends without error flushes it,
fsyncs it and renames it over the target, so a reader sees the old file or the new
one, never half of one, and a crash leaves at most a hidden temp file, which the
block removes on any error (Ctrl-C included). :func:`atomic_path` does the same
for writers that want a path (``np.savez``, ``cv2.imwrite``, safetensors).

The file gets the mode any tool's new file gets, ``0o666`` less the process's umask
(``mkstemp`` alone would leave it ``0o600``, unreadable by a web server or a colleague).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_UMASK_LOCK = threading.Lock()


def file_mode() -> int:
    """The mode of a new file here: ``0o666`` less the process's umask (read each time: it can change)."""
    try:  # Linux: read without changing it (os.umask's set-and-restore is not thread-safe)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name")
    for folder in path.parents:  # the nearest existing ancestor must be a folder
        if folder.exists():
            if not folder.is_dir():
                raise NotADirectoryError(f"{path}: {folder} is a file, not a folder")
            break
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)


def _mkstemp(path: Path, suffix: str) -> tuple[int, str]:
    """A temporary file beside ``path``; an unwritable folder is reported by its own name."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except PermissionError:
        raise PermissionError(f"{path.parent}: cannot write in this folder (permission denied)") from None


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsync'ed and renamed to ``path``.

    Args:
        path: the file to write (its folder is made when missing).
        suffix: the temporary file's suffix (default ``path``'s own, for writers that
            choose the format by extension).

    Raises:
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError: a folder on the way to ``path`` is a file.
        PermissionError: the folder cannot be written (the message names it).
    """
    path = Path(path)
    _check_target(path)
    fd, tmp = _mkstemp(path, ".tmp" + (path.suffix if suffix is None else suffix))
    os.fchmod(fd, file_mode())
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None, fsync: bool = True) -> Iterator[IO]:
    """Open ``path`` for writing all or nothing (see the module docstring).

    Args:
        path: the file to write (its folder is made when missing).
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding, newline: as :func:`open` (text mode only).
        fsync: flush the data to disk before the rename (off for files that are cheap to
            make again, e.g. thumbnails: the rename still never shows half a file to readers).

    Raises:
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError: a folder on the way to ``path`` is a file.
        PermissionError: the folder cannot be written (the message names it).
    """
    path = Path(path)
    _check_target(path)
    fd, tmp = _mkstemp(path, ".tmp")
    try:
        os.fchmod(fd, file_mode())
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
