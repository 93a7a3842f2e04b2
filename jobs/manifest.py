"""Manifests: a CSV giving each image of a collection its group.

A manifest has a header; one column names each image (its file name, path or
stem, e.g. ``bioguide``: the column that names the most images of the collection
is used) and the ``--group-by`` column(s) give the group. ``--group-by party,gender``
groups by the pair (``Democrat / F``).

Read as UTF-8 (a BOM is fine); the delimiter is sniffed (``,`` ``;`` tab ``|``:
spreadsheets in many locales write ``;``). Two rows naming the same image with
different groups are refused, naming both lines, and so is a row whose name several
photos of the collection share (``x.jpg`` in two sub-folders: give its path).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from landmarker.io.names import AmbiguousName, NameIndex
from morphkit.errors import InvalidInput

KEY_COLUMNS = ("image", "file", "filename", "path", "bioguide", "id", "name")


class ManifestError(InvalidInput):
    """The manifest cannot be used; the message names the file and the problem."""


def read_manifest(path: str | Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """The columns and ``(line number, row)`` pairs of a manifest CSV.

    Raises:
        FileNotFoundError: no such file.
        ManifestError: not UTF-8, no header, or no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such manifest")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ManifestError(
            f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save it as UTF-8 "
            "(in a spreadsheet: 'CSV UTF-8')"
        ) from err
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    columns = [c.strip() for c in (reader.fieldnames or []) if c is not None]
    if not columns:
        raise ManifestError(f"{path}: empty manifest (no header line)")
    rows = []
    for row in reader:
        clean = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()}
        rows.append((reader.line_num, clean))
    if not rows:
        raise ManifestError(f"{path}: the manifest has a header but no rows")
    return columns, rows


def manifest_groups(path: str | Path, group_by: str, images) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Map image name -> group for the ``(path, name)`` images of a collection.

    Args:
        path: the manifest CSV.
        group_by: a column, or several separated by commas (the group is their values joined by `` / ``).
        images: ``(path, name)`` pairs (:func:`landmarker.io.files.find_images`).

    Returns:
        ``(groups, absent)``: the group of every image the manifest names (images it does
        not name are left out), and ``(line, value)`` of each row that names no image of
        the collection (a photo missing from the folder, or a typo).

    Raises:
        ManifestError: a ``group_by`` column is missing, no column names the images, a
            row names several images, or two rows give one image different groups.
    """
    path = Path(path)
    columns, rows = read_manifest(path)
    wanted = [c.strip() for c in group_by.split(",") if c.strip()]
    missing = [c for c in wanted if c not in columns]
    if not wanted or missing:
        raise ManifestError(f"{path}: no column {', '.join(map(repr, missing or [group_by]))} "
                            f"(columns: {', '.join(columns)})")
    index = NameIndex(images)
    best_col, best_hits = None, 0
    for col in sorted(columns, key=lambda c: (c.lower() not in KEY_COLUMNS, columns.index(c))):
        if col in wanted:
            continue
        hits = sum(1 for _, r in rows if index.find_all(r.get(col, ""), stems=True))
        if hits > best_hits:
            best_col, best_hits = col, hits
    if best_col is None:
        raise ManifestError(f"{path}: no column names the images of the collection (by file name, path or stem)")
    groups: dict[str, str] = {}
    line_of: dict[str, int] = {}
    absent: list[tuple[int, str]] = []
    for line, r in rows:
        group = " / ".join(r.get(c, "") or "unknown" for c in wanted)
        try:
            name = index.find(r.get(best_col, ""), stems=True, where=f"{path}, line {line}")
        except AmbiguousName as err:  # a bare name that two different photos have: which one is meant?
            raise ManifestError(str(err)) from err
        if name is not None:
            if name in groups and groups[name] != group:
                raise ManifestError(
                    f"{path}: lines {line_of[name]} and {line} give {name} two groups "
                    f"({groups[name]!r} and {group!r}); keep one"
                )
            groups[name], line_of[name] = group, line
        elif r.get(best_col, "").strip():
            absent.append((line, r[best_col].strip()))
    return groups, absent
