"""``morphkit export RUN_DIR --format tem|pts|coco|dlib-xml|jsonl --out OUT``: a bulk-label run's labels
in the formats other tools read.

The faces are those of the run's ``landmarks.csv``, read from its journal by the one path that
writes that file (:meth:`jobs.bulk_output.Journal.faces`): the model's points with every review
correction in place, the faces a person added, and no rejected face ("not a face"). ``OUT`` is a
folder (made when missing), or for coco, dlib-xml and jsonl a file name with the format's suffix
(``--out faces.json``), written instead of the default name; per format:

- ``tem``: ``OUT/<image path without extension>_<face>.tem`` for each face, mirroring the archive's
  folders: Psychomorph/WebMorph templates of 68 points in iBUG order with the contours as lines
  (:func:`landmarker.io.exchange.tem_text`), read by the ``tem`` loader;
- ``pts``: the same names with ``.pts``: 300-W files, 1-based pixels (:func:`landmarker.io.exchange.pts_text`);
- ``coco``: ``OUT/labels_coco.json``, COCO keypoints (:func:`landmarker.io.exchange.coco_keypoints`),
  ``file_name`` the image's path in the archive, each annotation with ``face`` (its number in the run)
  and ``reviewed``;
- ``dlib-xml``: ``OUT/labels.xml`` (:func:`landmarker.io.dlib_xml.write_dlib_xml`, integer pixels),
  image paths relative to ``OUT`` (our loader, and so ``landmarker train``, needs ``OUT`` above the
  archive); an image whose name XML cannot hold is left out with a warning;
- ``jsonl``: ``OUT/labels.jsonl``, one JSON object per face: ``image``, ``face``, ``box``, ``score``,
  ``fit``, ``landmarks`` (68 x [x, y] pixels), ``reviewed``, ``width``, ``height``, ``sha1``.

Names of the per-face files cannot collide: the journal holds each image path once and each face
number once per image, and the face number is the name's last ``_``-separated part, so the name gives
back ``(path without extension, face)``. Only two photos whose paths differ in their extension alone
(``a.jpg``, ``a.png``) share a path without extension: those keep their extension (``a.jpg_0.tem``);
should even that meet another name, the export is refused before writing.

``OUT`` holds a manifest per format (``.morphkit-export-<format>.json``: the run and the files
written): exporting a run again into its ``OUT`` replaces that export (files of the earlier one that
this one does not write are removed); an ``OUT`` holding another run's export in that format, or a
file of the same name that no export wrote, is refused. Ctrl-C leaves none of this run's files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from landmarker.io.atomic import atomic_write
from landmarker.io.decode import ImageDecodeError, image_size
from landmarker.io.exchange import coco_keypoints, pts_text, tem_text
from landmarker.io.landmarks_csv import REVIEWED_HEADER, Row, parse_row
from morphkit.errors import InvalidInput

from .bulk_label import write_xml_of
from .bulk_output import Journal, OutputError
from .outputs import RunOutputs
from .results import ExportResult

log = logging.getLogger(__name__)

FORMATS = ("tem", "pts", "coco", "dlib-xml", "jsonl")
#: The file of each single-file format, in ``OUT``.
SINGLE = {"coco": "labels_coco.json", "dlib-xml": "labels.xml", "jsonl": "labels.jsonl"}


@dataclass(frozen=True)
class _Face:
    """One exported face: its image's path in the archive, its number there and its row."""

    image: str
    face: int
    row: Row


def run_faces(run_dir: str | os.PathLike) -> tuple[Path, list[_Face]]:
    """The archive of the bulk-label run in ``run_dir`` and its faces as its ``landmarks.csv`` holds them
    (corrections in place, rejected faces left out), in the file's order.

    Raises:
        OutputError: ``run_dir`` is not a bulk-label run (no journal), or a bulk-label run or
            ``morphkit review`` has it open.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise OutputError(f"{run}: not the output folder of a bulk-label run (no such folder)")
    with Journal(run, None) as journal:
        archive = Path(journal.settings.get("archive") or run).resolve()
        faces = [_Face(name, face, parse_row(row, REVIEWED_HEADER))
                 for name, face, row, rejected in journal.faces() if not rejected]
    return (archive if archive.is_dir() else archive.parent), faces


def face_file_names(faces: list[_Face], suffix: str) -> list[str]:
    """The relative POSIX path of each face's file: ``<image path without extension>_<face><suffix>`` (a
    path shared with another image's: ``<image path>_<face><suffix>``). See the module docstring.

    Raises:
        InvalidInput: an image path that leaves the archive, or two faces given the same name.
    """
    for f in faces:
        p = PurePosixPath(f.image)
        if p.is_absolute() or ".." in p.parts:
            raise InvalidInput(f"{f.image!r}: not a path inside the archive")
    images = {f.image for f in faces}
    stems = Counter(str(PurePosixPath(i).with_suffix("")) for i in images)
    names = []
    for f in faces:
        stem = str(PurePosixPath(f.image).with_suffix(""))
        names.append(f"{stem if stems[stem] == 1 else f.image}_{f.face}{suffix}")
    twice = [n for n, c in Counter(names).items() if c > 1]
    if twice:
        raise InvalidInput(f"two faces would be written to {twice[0]!r}: rename one of their photos")
    return names


def _manifest(out: Path, fmt: str, file: str | None = None) -> Path:
    """The manifest of the ``fmt`` export into the folder ``out`` (``file``: into that file of it)."""
    return out / (f".morphkit-export-{fmt}.json" if file is None else f".morphkit-export-{fmt}-{file}.json")


def _destination(out: Path, fmt: str) -> tuple[Path, str | None]:
    """``(folder, file name or None)``: ``--out labels.json`` (a single-file format, the format's suffix, not
    a folder) names the file itself; any other ``--out`` is the folder."""
    single = SINGLE.get(fmt)
    if single and out.suffix.lower() == Path(single).suffix and not out.is_dir():
        return out.parent, out.name
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out}: is a file; give a folder" + (
            f" (or a {Path(single).suffix} file name)" if single else ""))
    return out, None


def _previous(out: Path, fmt: str, run: Path, file: str | None = None) -> list[str]:
    """The files of an earlier export of ``run`` in ``fmt`` into ``out`` (none: []).

    Raises:
        OutputError: ``out`` holds another run's export in ``fmt``.
    """
    path = _manifest(out, fmt, file)
    if not path.is_file():
        return []
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
        files, earlier = list(before["files"]), before["run"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(f"{path}: not written by morphkit export; give another --out") from None
    if earlier != str(run):
        raise OutputError(f"--out {out}: holds the {fmt} export of another run ({earlier}); give another --out")
    return files


def _jsonl_record(f: _Face) -> dict:
    r = f.row
    return {"image": f.image, "face": f.face, "box": [round(v, 3) for v in r.face.box],
            "score": None if math.isnan(r.face.score) else r.face.score,
            "fit": None if math.isnan(r.face.fit) else r.face.fit,
            "landmarks": [[round(float(x), 3), round(float(y), 3)] for x, y in r.face.landmarks],
            "reviewed": r.reviewed, "width": r.size[0] if r.size else None,
            "height": r.size[1] if r.size else None, "sha1": r.sha1}


def _by_image(faces: list[_Face]) -> list[tuple[str, list[_Face]]]:
    groups: dict[str, list[_Face]] = {}
    for f in faces:
        groups.setdefault(f.image, []).append(f)
    return list(groups.items())


def _size(archive: Path, f: _Face) -> tuple[int, int] | None:
    """The image's ``(width, height)``: from its row, else read from the photo (None: unreadable)."""
    if f.row.size:
        return f.row.size
    try:
        return image_size(archive / f.image)
    except (ImageDecodeError, OSError):
        return None


def export(run_dir: str | os.PathLike, out: str | os.PathLike, *, fmt: str) -> ExportResult:
    """Write the labels of the bulk-label run in ``run_dir`` in format ``fmt`` into the folder ``out``.

    Args:
        run_dir: a bulk-label ``--out`` folder (its journal, ``.bulk-label.sqlite``).
        out: the output folder (made when missing); for coco, dlib-xml and jsonl also a file name with the
            format's suffix (``labels.json``, ``faces.xml``, ``faces.jsonl``), written instead of the default name.
        fmt: one of :data:`FORMATS` (the module docstring describes each).

    Returns:
        :class:`jobs.results.ExportResult`: faces and files written, reviewed faces among them.

    Raises:
        InvalidInput: an unknown format; ``out`` is a file; two faces would get one name.
        OutputError: ``run_dir`` is not a bulk-label run or is open in bulk-label or review;
            ``out`` holds another run's export, or a file this export would overwrite that no
            export of this run wrote.
        OSError: a file cannot be written.
    """
    t0 = time.time()
    if fmt not in FORMATS:
        raise InvalidInput(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    out_dir, file = _destination(Path(out), fmt)
    run = Path(run_dir).resolve()
    archive, faces = run_faces(run)
    previous = _previous(out_dir, fmt, run, file)
    if fmt in ("tem", "pts"):
        names = face_file_names(faces, f".{fmt}")
    else:
        names = [file or SINGLE[fmt]]
    taken = [n for n in names if (out_dir / n).exists() and n not in previous]
    if taken:
        raise OutputError(f"--out {out_dir}: {taken[0]} is there and no export of this run wrote it; "
                          "give another --out")
    with RunOutputs(out_dir) as outputs:
        out_dir.mkdir(parents=True, exist_ok=True)  # the folder, or a named file's folder
        if fmt in ("tem", "pts"):
            text = tem_text if fmt == "tem" else pts_text
            for f, name in zip(faces, names):
                with atomic_write(outputs.add(out_dir / name), fsync=False) as fh:
                    fh.write(text(f.row.face.landmarks))
        elif fmt == "jsonl":
            with atomic_write(outputs.add(out_dir / names[0])) as fh:
                for f in faces:
                    fh.write(json.dumps(_jsonl_record(f)) + "\n")
        elif fmt == "coco":
            images = ((image, _size(archive, group[0]),
                       [(f.row.face.box, f.row.face.landmarks, {"face": f.face, "reviewed": f.row.reviewed})
                        for f in group]) for image, group in _by_image(faces))
            data = coco_keypoints(images, description=f"68-point face landmarks of {archive} (morphkit bulk-label "
                                  f"run {run})")
            with atomic_write(outputs.add(out_dir / names[0])) as fh:
                json.dump(data, fh)
        else:
            _write_xml(out_dir, outputs.add(out_dir / names[0]), archive, faces)
        for stale in set(previous) - set(names):
            (out_dir / stale).unlink(missing_ok=True)
        with atomic_write(outputs.add(_manifest(out_dir, fmt, file))) as fh:
            json.dump({"run": str(run), "format": fmt, "files": names}, fh, indent=1)
    path = out_dir if fmt in ("tem", "pts") else out_dir / names[0]
    return ExportResult(faces=len(faces), files=len(names), reviewed=sum(f.row.reviewed for f in faces),
                        seconds=round(time.time() - t0, 1), path=str(path))


def _write_xml(out_dir: Path, path: Path, archive: Path, faces: list[_Face]) -> None:
    """dlib XML of ``faces``, image paths relative to ``out_dir``; names XML cannot hold left out (warned)."""
    groups = ((image, [(f.row.face.box, f.row.face.landmarks) for f in group]) for image, group in _by_image(faces))
    write_xml_of(path, groups, archive, out_dir.resolve(), name="morphkit export",
                 comment=f"68-point landmarks of {archive}", job="export")
