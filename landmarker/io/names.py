"""Which image a name in a user's file means: one matcher for boxes files, manifests and landmarks CSVs.

A reference (the ``image`` cell of a boxes or landmarks CSV, the key cell of a
manifest) matches, in this order: an image's name (its path relative to the folder
given, ``\\`` read as ``/``); the same file on disk (an absolute path, or one relative
to the working folder); a bare file name that the images have; with ``stems=True``
a file name without extension (a manifest's ``bioguide`` id). A bare name that
several images share is ambiguous: :meth:`NameIndex.find` refuses it,
:meth:`NameIndex.find_all` returns them all.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from morphkit.errors import InvalidInput


class AmbiguousName(InvalidInput):
    """A reference matches several images."""


class NameIndex:
    """Index of ``(path, name)`` image pairs (:func:`landmarker.io.files.find_images`) for matching references."""

    def __init__(self, images):
        self.names = {name for _, name in images}
        self.by_path = {os.path.normcase(os.path.abspath(p)): name for p, name in images}
        self.by_file: dict[str, list[str]] = {}
        self.by_stem: dict[str, list[str]] = {}
        for _, name in images:
            base = PurePosixPath(name).name
            _add(self.by_file, base.lower(), name)
            _add(self.by_stem, PurePosixPath(base).stem.lower(), name)

    def find_all(self, ref: str, stems: bool = False) -> list[str]:
        """Every image name ``ref`` matches (empty when none), by the rules of the module docstring."""
        key = PurePosixPath(str(ref).strip().replace("\\", "/")).as_posix()
        if not key or key == ".":
            return []
        if key in self.names:
            return [key]
        on_disk = self.by_path.get(os.path.normcase(os.path.abspath(key)))
        if on_disk is not None:
            return [on_disk]
        base = PurePosixPath(key).name.lower()
        if base in self.by_file:
            return list(self.by_file[base])
        if stems and PurePosixPath(base).stem.lower() in self.by_stem:
            return list(self.by_stem[PurePosixPath(base).stem.lower()])
        return []

    def at_path(self, path: str | os.PathLike) -> str | None:
        """The name of the image at ``path`` (the same file as indexed, compared as absolute paths), or None."""
        return self.by_path.get(os.path.normcase(os.path.abspath(path)))

    def find(self, ref: str, stems: bool = False, where: str = "") -> str | None:
        """The one image name ``ref`` matches, or None.

        Raises:
            AmbiguousName: several images match (the message names some; ``where`` says
                which file the reference came from).
        """
        found = self.find_all(ref, stems)
        if len(found) > 1:
            raise AmbiguousName(f"{where + ': ' if where else ''}image {ref!r} matches several images "
                                f"({', '.join(found[:3])}{', ...' if len(found) > 3 else ''}); give its path")
        return found[0] if found else None


def _add(index: dict, key: str, name: str) -> None:
    if name not in index.setdefault(key, []):
        index[key].append(name)


def bounded_file_stem(text: str, taken: set[str], limit: int = 80) -> str:
    """A file-name-safe stem for ``text`` (a group name), unique among ``taken`` (case-insensitively).

    Runs of characters other than letters, digits, ``.``, ``-`` and ``_`` become ``_``
    (``New York`` -> ``New_York``); a stem longer than ``limit`` is cut and given a
    short hash of the full text; a stem already taken gets ``-2``, ``-3``, ...
    (``New_York`` and ``New York`` give ``New_York`` and ``New_York-2``). The result
    is added to ``taken``.
    """
    import re

    from landmarker.io.files import sha1_hex

    stem = re.sub(r"[^\w.-]+", "_", text.strip()).strip("._") or "group"
    if len(stem) > limit:
        stem = stem[: limit - 9] + "-" + sha1_hex(text.encode("utf-8", "surrogatepass"))[:8]
    candidate, n = stem, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate.lower())
    return candidate
