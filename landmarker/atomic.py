"""All-or-nothing file writes: one helper for every file our commands write.

:func:`atomic_write` opens a temporary file beside the target (``.NAME.XXXX.tmp``,
hidden, unique per writer), and when the block ends without error flushes it,
fsyncs it and renames it over the target, so a reader sees the old file or the new
one, never half of one, and a crash leaves at most a hidden temp file, which the
block removes on any error (Ctrl-C included). :func:`atomic_path` does the same
for writers that want a path (``np.savez``, ``cv2.imwrite``, safetensors).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsync'ed and renamed to ``path``.

    Args:
        path: the file to write (its folder is made when missing).
        suffix: the temporary file's suffix (default ``path``'s own, for writers that
            choose the format by extension).

    Raises:
        IsADirectoryError: ``path`` is a folder.
    """
    path = Path(path)
    _check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + (path.suffix if suffix is None else suffix),
                               dir=path.parent)
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
    """
    path = Path(path)
    _check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
