"""Collections of portraits: which images, in which groups, with which landmarks.

A collection is a folder of images (DESIGN.md). Groups come from a manifest CSV
(a column naming the image file or its stem, and the ``--group-by`` column), or
without one from sub-folders, or else the whole folder is one group.

Landmarks come from an existing ``landmarks.csv`` (written by bulk-label) or are
detected once per image, in parallel, by the landmarker. An image without a face
is reported and skipped; with several faces the largest is used and the report
says so.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from landmarker.files import find_images
from landmarker.labelling import ModelSpec, label_images
from landmarker.landmarks_csv import read_landmarks_csv
from landmarker.parallel import map_chunks

from .bulk_label import CHUNK

KEY_COLUMNS = ("image", "file", "filename", "path", "bioguide", "id", "name")


@dataclass
class Portrait:
    """One image of a collection and what the jobs learned about it.

    ``landmarks`` is float32 ``(68, 2)`` of the largest face, or None (then
    ``note`` says why it is skipped).
    """

    path: Path
    name: str
    group: str
    landmarks: np.ndarray | None = None
    faces: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)


class CollectionError(ValueError):
    """The collection, its manifest or its landmarks file cannot be used."""


def _manifest_groups(manifest: Path, group_by: str, names: list[str]) -> dict[str, str]:
    """Map image name -> group from a manifest CSV."""
    with open(manifest, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise CollectionError(f"{manifest}: empty manifest")
    columns = list(rows[0].keys())
    if group_by not in columns:
        raise CollectionError(f"{manifest}: no column {group_by!r} (columns: {', '.join(columns)})")
    by_stem: dict[str, list[str]] = {}
    for n in names:
        by_stem.setdefault(Path(n).stem.lower(), []).append(n)
        by_stem.setdefault(Path(n).name.lower(), []).append(n)
    best_col, best_hits = None, 0
    for col in sorted(columns, key=lambda c: (c.lower() not in KEY_COLUMNS, columns.index(c))):
        hits = sum(1 for r in rows if Path(str(r[col] or "")).stem.lower() in by_stem)
        if hits > best_hits:
            best_col, best_hits = col, hits
    if best_col is None:
        raise CollectionError(f"{manifest}: no column names the images of the collection (by file name or stem)")
    groups: dict[str, str] = {}
    for r in rows:
        key = str(r[best_col] or "")
        for n in by_stem.get(Path(key).name.lower(), by_stem.get(Path(key).stem.lower(), [])):
            groups[n] = (r[group_by] or "").strip() or "unknown"
    return groups


def load_collection(
    sources: list[str | os.PathLike], manifest: str | os.PathLike | None = None, group_by: str | None = None
) -> list[Portrait]:
    """The portraits of a collection folder, or of image files given in order.

    Args:
        sources: one folder, or two or more image files.
        manifest: CSV giving each image's group in column ``group_by``.
        group_by: the manifest column to group by (required with ``manifest``).

    Returns:
        portraits in a stable order (folder: sorted by name; files: as given).
        Images the manifest does not name get the group ``unlisted``.

    Raises:
        CollectionError: no images, or an unusable manifest.
        FileNotFoundError: a source does not exist.
    """
    if manifest is not None and not group_by:
        raise CollectionError("--manifest needs --group-by COLUMN")
    items = find_images(sources)
    if not items:
        raise CollectionError(f"{' '.join(map(str, sources))}: no image files found")
    names = [n for _, n in items]
    if manifest is not None:
        manifest = Path(manifest)
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest}: no such manifest")
        groups = _manifest_groups(manifest, group_by, names)
    elif len(sources) == 1 and Path(sources[0]).is_dir():
        root = Path(sources[0]).resolve().name or "collection"
        groups = {n: (n.split("/")[0] if "/" in n else root) for n in names}
    else:
        groups = {n: "images" for n in names}
    return [Portrait(p, n, groups.get(n, "unlisted")) for p, n in items]


def attach_landmarks(
    portraits: list[Portrait],
    landmarks_csv: str | os.PathLike | None = None,
    n_jobs: int | None = -1,
    spec: ModelSpec = ModelSpec(),
    client=None,
) -> list[Portrait]:
    """Fill in ``landmarks`` (largest face), ``faces`` and ``note`` of each portrait.

    From ``landmarks_csv`` when given (rows matched by image name, or by file name
    when the CSV was written for another folder), else by labelling each image once
    with ``spec`` (:func:`landmarker.labelling.label_images`) on ``n_jobs`` worker
    threads, or on the Dask ``client``'s cluster.

    Raises:
        CollectionError: the landmarks CSV is malformed.
    """
    if landmarks_csv is not None:
        try:
            table = read_landmarks_csv(landmarks_csv)
        except (ValueError, OSError) as err:
            raise CollectionError(str(err)) from None
        by_file = {Path(k).name: v for k, v in table.items()}
        for p in portraits:
            faces = table.get(p.name) or by_file.get(Path(p.name).name)
            _set_faces(p, faces or [], "no row in landmarks CSV" if faces is None else "")
        return portraits
    items = [(str(p.path), p.name) for p in portraits]
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    results = map_chunks(label_images, chunks, n_jobs, client, spec=spec.resolved())
    by_name = {p.name: p for p in portraits}
    with tqdm(total=len(items), desc="landmarks", unit="image") as bar:
        for chunk in results:
            for r in chunk:
                _set_faces(by_name[r.name], r.faces, r.message if r.status == "error" else "")
            bar.update(len(chunk))
    return portraits


def _set_faces(p: Portrait, faces: list, error: str) -> None:
    p.faces = len(faces)
    if error:
        p.note = error
    elif not faces:
        p.note = "no face found"
    else:
        largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        p.landmarks = np.asarray(largest.landmarks, dtype=np.float32)
        if len(faces) > 1:
            p.note = f"{len(faces)} faces, used the largest"


def write_report(portraits: list[Portrait], path: str | os.PathLike) -> None:
    """``image,group,status,faces,message`` per portrait (status ``used`` or ``skipped``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "group", "status", "faces", "message"])
        for p in portraits:
            w.writerow([p.name, p.group, "used" if p.landmarks is not None else "skipped", p.faces, p.note])
    os.replace(tmp, path)
