"""Loaders for labelled 68-point landmark datasets.

Six formats, named on the command line as ``FORMAT:PATH`` (docs/architecture.md):

- ``landmarks-csv``: a folder with ``images/`` and ``landmarks.csv``, labels used as
  stored. ``landmarks.csv`` is either what ``landmarker predict images/ --out
  landmarks.csv`` and ``morphkit bulk-label`` write (:mod:`landmarker.io.landmarks_csv`:
  ``image,face,left,top,right,bottom,score,x0,y0,...,x67,y67[,fit,...]``; the box becomes
  the face's dataset box) or the plain layout (a header, then ``file, x0, y0, ...,
  x67, y67``). Image names are relative to ``images/``. PATH may also name the CSV file
  itself, e.g. a bulk-label run's ``RUN_DIR/landmarks.csv``: image names are then relative
  to the archive that ``bulk-label.json`` beside it names (else to the CSV's folder), and
  ``reviewed_only`` keeps the faces a person corrected in ``morphkit review``. Each image
  is its own identity for the identity split. Rows whose ``sha1`` (the digest of the photo
  they were made from) differs from the image file's are skipped, one warning per file.
- ``ytf68``: the same folder layout holding ytf68 (udacity/P1_Facial_Keypoints,
  YouTube Faces frames), whose labels are moved onto the iBUG 300-W convention on
  loading (:func:`load_ytf68`); identities are the people (:func:`ytf68_identity`).
- ``ytf68-raw``: ytf68 with its labels as stored (no correction), same identities.
- ``dlib-xml``: dlib's imglab XML, the layout of ``labels_ibug_300W_train.xml`` of
  the 300-W release: ``<image file=...><box top left width height><part name='00'
  x y/>...``. Image paths resolve relative to the XML file.
- ``pts``: a folder (searched recursively) of images with 300-W ``.pts`` files
  beside them (``version: 1``, ``n_points: 68``, ``{`` 68 lines of ``x y`` ``}``).
  300-W ``.pts`` coordinates are 1-based (Matlab); they are shifted by -1 here.
- ``tem``: a folder of images with WebMorph/Psychomorph ``.tem`` templates beside them;
  the points with a 300-W counterpart are used, the others are ``nan`` (the Face
  Research Lab template's 16, :func:`load_tem`). Evaluation only.

An image path written in a dataset file must stay inside its folder (the XML's
folder; ``images/``) as written: ``..`` is normalised away without resolving
symbolic links, so an image that is a link to a file elsewhere is accepted, and a
path that climbs out with ``..`` or is absolute is refused (:func:`path_inside`).

Every loader returns a list of :class:`FaceSample`, one per labelled face.
:func:`label_correction` says which correction a spec's loader applies to the labels.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from defusedxml import ElementTree

from landmarker.io.decode import is_image_name
from landmarker.io.files import file_sha1
from morphkit.errors import InvalidInput
from morphkit.ibug68 import inter_ocular_distance

log = logging.getLogger(__name__)

N_LANDMARKS = 68


class DatasetError(InvalidInput):
    """A dataset file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class FaceSample:
    """One labelled face.

    Attributes:
        image_path: the image file.
        landmarks: float32 ``(68, 2)``, ``(x, y)`` pixels of that image, iBUG order.
        box: the face box given by the dataset ``(left, top, right, bottom)`` in
            pixels, or None when the format has none.
        identity: who the face belongs to, for identity-disjoint splits.
    """

    image_path: Path
    landmarks: np.ndarray
    box: tuple[float, float, float, float] | None
    identity: str


def ytf68_identity(file_name: str) -> str:
    """The person of a ytf68 frame: the file stem before its last ``_`` (``Luis_Fonsi_21`` -> ``Luis_Fonsi``)."""
    stem = Path(file_name).stem
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


YTF68_OFFSET_TABLE = Path(__file__).resolve().parents[1] / "data" / "ytf68_label_offset.csv"


@functools.lru_cache(maxsize=1)
def ytf68_offset_iod() -> np.ndarray:
    """ytf68's labelling offset against the iBUG 300-W convention, float32 ``(68, 2)``.

    Per point, ``(dx, dy)`` in units of the face's inter-ocular distance (outer eye
    corners 36-45): ytf68 labels as stored = 300-W-convention labels + offset x IOD.
    Read from ``landmarker/data/ytf68_label_offset.csv`` (written by
    ``benchmarks/measure_label_offset.py --raw --write-correction``); see
    :func:`load_ytf68` for the evidence.

    Raises:
        DatasetError: the table is missing or malformed.
    """
    try:
        rows = [r for r in YTF68_OFFSET_TABLE.read_text(encoding="utf-8").splitlines() if r and not r.startswith("#")]
        table = np.loadtxt(rows[1:], delimiter=",", dtype=np.float64)
    except (OSError, ValueError, IndexError) as err:
        raise DatasetError(f"{YTF68_OFFSET_TABLE}: unreadable ytf68 offset table ({err})") from err
    if table.shape != (N_LANDMARKS, 3) or not np.array_equal(table[:, 0], np.arange(N_LANDMARKS)):
        raise DatasetError(f"{YTF68_OFFSET_TABLE}: expected rows point,dx_iod,dy_iod for points 0..67")
    return table[:, 1:].astype(np.float32)


def load_ytf68(folder: str | os.PathLike, correct_offset: bool = True) -> list[FaceSample]:
    """Load a ytf68 folder (``images/`` + ``landmarks.csv``).

    ytf68's labels do not follow the iBUG 300-W convention that dlib, 300-W and
    users expect: they sit right of and below it. Evidence
    (``benchmarks/measure_label_offset.py --raw``): dlib's 68-point predictor,
    trained on 300-W, run from dlib's HOG box on the 3,326 frames HOG finds, puts
    the labels at a median (x, y) offset of (+2.82%, +1.61%) of the inter-ocular
    distance (IOD; bootstrap 95% intervals +2.76..+2.88 and +1.56..+1.66). On
    dlib-faces, whose labels follow 300-W, the same reference is off by only
    (+0.32%, -0.16%) and (+0.15%, -0.13%). The x offset is the same in every region
    (+2.4 to +3.1%), which is what mirror symmetry had shown (a model trained on the
    stored labels predicts 2.5 px further left on mirrored frames mapped back);
    the y offset is not: +4.9% on the nose (ytf68 draws the nose bridge lower),
    -0.3% on the brows, +1 to +2% elsewhere, and some points are placed
    differently in x too (inner brow ends wider apart). So the correction is per
    point: each point moves by minus the 20%-trimmed mean of its offset over the
    3,326 faces (:func:`ytf68_offset_iod`), times the face's IOD. Afterwards the
    same measurement gives (+0.01%, -0.04%) overall and at most 0.3% in any
    region, and a model trained on the stored labels does better on dlib-faces
    with the correction applied to its output (testing XML: NME 5.58% -> 4.22%;
    a constant (x, y) shift alone: 4.72%).

    The folder is read as :func:`load_landmarks_csv` reads it (either layout);
    each face's identity is its person (:func:`ytf68_identity`).

    Args:
        correct_offset: move the labels onto the 300-W convention as above
            (default; the ``ytf68`` format). False gives the labels as stored (the
            ``ytf68-raw`` format).

    Returns:
        One :class:`FaceSample` per row: float32 ``(68, 2)`` ``(x, y)`` pixels.

    Raises:
        DatasetError: as :func:`load_landmarks_csv`.
    """
    return [
        FaceSample(path, correct_ytf68_offset(pts) if correct_offset else pts, box, ytf68_identity(name))
        for name, path, pts, box in _read_landmarks_folder(folder, "ytf68")
    ]


def load_landmarks_csv(path: str | os.PathLike, reviewed_only: bool = False) -> list[FaceSample]:
    """Load images and their labels as stored: a folder with ``images/`` + ``landmarks.csv``, or
    a ``landmarks.csv`` file (a bulk-label run's: images in the archive its ``bulk-label.json`` names).

    ``landmarks.csv`` is either ``landmarker predict``'s and ``morphkit bulk-label``'s
    file (:mod:`landmarker.io.landmarks_csv`, its box kept as the face's dataset box) or
    the plain layout of a header and ``file, x0, y0, ..., x67, y67`` rows (no box).
    Image names are relative to ``images/`` (the archive; the CSV's folder) and must stay
    inside it (:func:`path_inside`). Each image is its own identity.

    A row that records the ``sha1`` of its photo (:mod:`landmarker.io.landmarks_csv`) is checked
    against the image file now there: when the file's digest differs, the photo was replaced or
    edited since it was labelled and the points belong to another picture, so its rows are
    skipped (not an error: the rest of a large archive still trains), with one warning line per
    such file naming it. Rows without a ``sha1`` (older files, the plain layout) are used as stored.

    Args:
        path: the folder, or the CSV file.
        reviewed_only: only the faces marked reviewed (``reviewed`` column, ``morphkit review``;
            the ``image,face,...`` layout only).

    Returns:
        One :class:`FaceSample` per row: float32 ``(68, 2)`` ``(x, y)`` pixels, unchanged.

    Raises:
        DatasetError: the CSV or a listed image is missing, a row does not hold 136
            numbers, an image name leaves its folder (the message names the file), or
            ``reviewed_only`` and no face is marked reviewed.
    """
    rows = _read_landmarks_folder(path, "landmarks-csv", reviewed_only)
    return [FaceSample(path, pts, box, name) for name, path, pts, box in rows]


def _csv_and_images(path: Path) -> tuple[Path, Path]:
    """``(the landmarks CSV, the folder its image names are relative to)`` of a dataset PATH."""
    if not path.is_file():
        return path / "landmarks.csv", path / "images"
    try:  # a bulk-label run's file: the archive it labelled
        archive = json.loads((path.parent / "bulk-label.json").read_text(encoding="utf-8"))["archive"]
    except (OSError, ValueError, KeyError, TypeError):
        return path, path.parent
    return path, Path(archive)


def _read_landmarks_folder(folder: str | os.PathLike, fmt: str, reviewed_only: bool = False):
    """``(image name, image path, float32 (68, 2) landmarks, box or None)`` for each row of
    ``folder/landmarks.csv`` (or of the CSV file ``folder``), in either layout (:func:`load_landmarks_csv`)."""
    csv_path, images = _csv_and_images(Path(folder))
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: no such file (a {fmt} folder needs images/ and landmarks.csv)")
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
        if header is None:
            raise DatasetError(f"{csv_path}: empty file")
        predicted = header[:2] == ["image", "face"]
        if reviewed_only and not (predicted and "reviewed" in header):  # the plain layout has no such column
            raise DatasetError(f"{csv_path}: has no reviewed column (a bulk-label run's landmarks.csv has; "
                               "mark faces reviewed with morphkit review)")
        rows = _predicted_rows(csv_path, reviewed_only) if predicted else _plain_rows(csv_path)
        out = []
        changed: dict[Path, bool] = {}  # image -> its bytes are not those the rows were made from
        for where, name, pts, box, sha1 in rows:
            image_path = path_inside(images, name, where)
            if not image_path.is_file():
                raise DatasetError(f"{where}: image {image_path} does not exist")
            if sha1:
                if image_path not in changed:
                    changed[image_path] = file_sha1(image_path) != sha1
                    if changed[image_path]:
                        log.warning(f"{where}: {image_path}: changed since it was labelled (its sha1 differs from "
                                    "the one recorded): its rows are skipped")
                if changed[image_path]:
                    continue
            out.append((name, image_path, pts, box))
    except UnicodeDecodeError:
        raise DatasetError(f"{csv_path}: not UTF-8 text") from None
    if not out:
        raise DatasetError(f"{csv_path}: no " + ("face marked reviewed (morphkit review marks them)" if reviewed_only
                                                 else "labelled faces"))
    return out


def _predicted_rows(csv_path: Path, reviewed_only: bool = False):
    """The rows of a ``landmarker predict`` / ``morphkit bulk-label`` file as ``(where, name, pts, box, sha1)``;
    ``reviewed_only``: the rows marked reviewed."""
    from landmarker.io.landmarks_csv import iter_records

    try:
        for row in iter_records(csv_path):
            if row.reviewed or not reviewed_only:
                yield str(csv_path), row.image, row.face.landmarks, tuple(row.face.box), row.sha1
    except UnicodeDecodeError:
        raise
    except ValueError as err:
        raise DatasetError(str(err)) from err


def _plain_rows(csv_path: Path):
    """The rows of a plain ``file, x0, y0, ..., x67, y67`` file (after its header) as
    ``(where, name, pts, None, None)`` (no box, no sha1)."""
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 1 + 2 * N_LANDMARKS:
                raise DatasetError(
                    f"{csv_path}:{line_no}: expected {1 + 2 * N_LANDMARKS} columns (file, x0, y0, ..., x67, y67) "
                    f"or a landmarker predict header, got {len(row)}"
                )
            try:
                pts = np.asarray(row[1:], dtype=np.float32).reshape(N_LANDMARKS, 2)
            except ValueError:
                raise DatasetError(f"{csv_path}:{line_no}: non-numeric landmark value") from None
            yield f"{csv_path}:{line_no}", row[0], pts, None, None


def path_inside(folder: Path, rel: str, where: str) -> Path:
    """``folder / rel`` for an image path ``rel`` that the dataset file ``where`` gives relative to ``folder``.

    The check is on the path as written: ``..`` is normalised away without
    resolving symbolic links, so an image (or a folder on the way) that is a link
    to elsewhere is accepted, while ``rel`` that climbs out of ``folder`` with
    ``..`` or is absolute is refused.

    Returns:
        ``folder`` joined with the normalised ``rel``.

    Raises:
        DatasetError: ``rel`` leaves ``folder`` (the message names ``where`` and ``rel``).
    """
    norm = Path(os.path.normpath(rel))
    if norm.is_absolute() or norm.parts[:1] == ("..",):
        raise DatasetError(f"{where}: image path {rel!r} escapes the folder {folder}")
    return folder / norm


def correct_ytf68_offset(landmarks: np.ndarray) -> np.ndarray:
    """ytf68 labels float32 ``(68, 2)`` pixels moved onto the 300-W convention (see :func:`load_ytf68`).

    Each point moves by minus its :func:`ytf68_offset_iod` times the face's
    inter-ocular distance (outer eye corners of the labels as stored).
    """
    iod = float(inter_ocular_distance(landmarks))
    return (landmarks - ytf68_offset_iod() * iod).astype(np.float32)


def _parse_xml(xml_path: Path):
    if not xml_path.is_file():
        raise DatasetError(f"{xml_path}: no such file")
    try:
        return ElementTree.parse(str(xml_path)).getroot()
    except ElementTree.ParseError as err:
        raise DatasetError(f"{xml_path}: malformed XML ({err})") from err
    except Exception as err:  # defusedxml refuses entity bombs and external entities
        raise DatasetError(f"{xml_path}: refused XML ({type(err).__name__}: {err})") from err


def _xml_images(xml_path: Path, root):
    """``(file attribute, image path, <image> element)`` for each image of a dlib XML; the path
    stays inside the XML's folder (:func:`path_inside`)."""
    base = xml_path.parent.absolute()
    images = root.find("images")
    if images is None:
        raise DatasetError(f"{xml_path}: no <images> element")
    for image_el in images.findall("image"):
        rel = image_el.get("file")
        if not rel:
            raise DatasetError(f"{xml_path}: <image> without a file attribute")
        image_path = path_inside(base, rel, str(xml_path))
        if not image_path.is_file():
            raise DatasetError(f"{xml_path}: image {image_path} does not exist")
        yield rel, image_path, image_el


def _xml_box(xml_path: Path, rel: str, box_index: int, box_el) -> tuple[float, float, float, float]:
    try:
        top, left = float(box_el.get("top")), float(box_el.get("left"))
        width, height = float(box_el.get("width")), float(box_el.get("height"))
    except (TypeError, ValueError):
        raise DatasetError(f"{xml_path}: {rel}: box {box_index} lacks top/left/width/height") from None
    return (left, top, left + width, top + height)


def load_dlib_xml(xml_path: str | os.PathLike, require_landmarks: bool = True) -> list[FaceSample]:
    """Load dlib/iBUG XML (the ``labels_ibug_300W_train.xml`` layout).

    Boxes marked ``ignore='1'`` are skipped. With ``require_landmarks`` a box
    without its 68 parts is an error; without it, such boxes are skipped.

    Raises:
        DatasetError: malformed XML, a part outside 00..67, missing parts, a missing
            image, or an image path that leaves the XML's folder as written
            (:func:`path_inside`; a symbolic link to elsewhere is fine).
    """
    xml_path = Path(xml_path)
    root = _parse_xml(xml_path)
    samples = []
    for rel, image_path, image_el in _xml_images(xml_path, root):
        for box_index, box_el in enumerate(image_el.findall("box")):
            if box_el.get("ignore", "0") not in ("0", ""):
                continue
            box = _xml_box(xml_path, rel, box_index, box_el)
            pts = np.full((N_LANDMARKS, 2), np.nan, dtype=np.float32)
            for part in box_el.findall("part"):
                try:
                    idx = int(part.get("name"))
                    x, y = float(part.get("x")), float(part.get("y"))
                except (TypeError, ValueError):
                    raise DatasetError(f"{xml_path}: {rel}: malformed <part> in box {box_index}") from None
                if not 0 <= idx < N_LANDMARKS:
                    raise DatasetError(f"{xml_path}: {rel}: part name {idx} outside 00..67")
                pts[idx] = (x, y)
            missing = int(np.isnan(pts[:, 0]).sum())
            if missing:
                if require_landmarks:
                    raise DatasetError(
                        f"{xml_path}: {rel}: box {box_index} has {N_LANDMARKS - missing} of 68 parts"
                    )
                continue
            samples.append(FaceSample(image_path, pts, box, rel))
    if not samples:
        raise DatasetError(f"{xml_path}: no labelled faces")
    return samples


def load_dlib_xml_boxes(xml_path: str | os.PathLike) -> dict[Path, list[tuple[float, float, float, float]]]:
    """The face boxes of a dlib/iBUG XML file, with or without parts (e.g. dlib's ``training.xml``).

    Returns:
        image path -> boxes ``(left, top, right, bottom)`` in pixels, in file order;
        boxes marked ``ignore='1'`` are left out, images without boxes map to ``[]``.

    Raises:
        DatasetError: as :func:`load_dlib_xml`.
    """
    xml_path = Path(xml_path)
    root = _parse_xml(xml_path)
    out: dict[Path, list[tuple[float, float, float, float]]] = {}
    for rel, image_path, image_el in _xml_images(xml_path, root):
        boxes = out.setdefault(image_path, [])
        for box_index, box_el in enumerate(image_el.findall("box")):
            if box_el.get("ignore", "0") not in ("0", ""):
                continue
            boxes.append(_xml_box(xml_path, rel, box_index, box_el))
    return out


def read_pts(pts_path: str | os.PathLike) -> np.ndarray:
    """Read a 300-W ``.pts`` file; returns float32 ``(68, 2)`` in 0-based pixels.

    Raises:
        DatasetError: not a 68-point ``.pts`` file.
    """
    pts_path = Path(pts_path)
    text = pts_path.read_text(errors="replace")
    try:
        inner = text[text.index("{") + 1 : text.index("}")]
        values = np.asarray(inner.split(), dtype=np.float32)
    except ValueError:
        raise DatasetError(f"{pts_path}: not a .pts file (needs '{{' ... '}}' with numbers)") from None
    if values.size != 2 * N_LANDMARKS:
        raise DatasetError(f"{pts_path}: {values.size // 2} points, expected {N_LANDMARKS}")
    return values.reshape(N_LANDMARKS, 2) - 1.0


def load_pts(folder: str | os.PathLike) -> list[FaceSample]:
    """Load a folder of images with 300-W ``.pts`` files beside them (same stem).

    Raises:
        DatasetError: no image with a ``.pts`` file was found, or a ``.pts`` is malformed.
    """
    return _images_with_labels_beside(folder, ".pts", read_pts)


def photo_identity(relative_path: str | os.PathLike) -> str:
    """The photo a labelled face comes from, for identity-disjoint splits: the path without its
    extension and without a trailing ``_<number>``, the 300-W naming of several faces of one photo
    (``afw/134212_1.jpg`` and ``afw/134212_2.jpg`` -> ``afw/134212``; ``A000360.jpg`` -> ``A000360``).
    """
    p = Path(relative_path).with_suffix("")
    stem = re.sub(r"_\d+$", "", p.name) or p.name
    return str(p.with_name(stem))


def _images_with_labels_beside(folder, suffix: str, read) -> list[FaceSample]:
    """One :class:`FaceSample` per image under ``folder`` (recursively) with a label file of the same
    stem and ``suffix`` beside it; ``read(label path)`` gives its float32 ``(68, 2)`` landmarks.
    The identity is :func:`photo_identity` of the image's path below ``folder``.

    Raises:
        DatasetError: ``folder`` is missing or holds no such pair, or what ``read`` raises.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder")
    samples = []
    for image_path in sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p)):
        label_path = image_path.with_suffix(suffix)
        if label_path.is_file():
            identity = photo_identity(image_path.relative_to(folder))
            samples.append(FaceSample(image_path, read(label_path), None, identity))
    if not samples:
        raise DatasetError(f"{folder}: no images with {suffix} files beside them")
    return samples


#: Face Research Lab 189-point template (WebMorph, webmorphR's ``tem_defs/FRL.csv``): iBUG 300-W index ->
#: FRL point, for the 16 FRL points with a 300-W counterpart by name (eye and mouth corners, brow ends, chin,
#: bottom of the nose, outer and inner lip centres); ../shared/datasets/README.md, frl-canada.
FRL_TO_IBUG = {36: 18, 39: 22, 42: 23, 45: 27, 48: 87, 54: 93, 17: 71, 21: 76, 22: 77, 26: 82, 8: 129, 33: 55,
               51: 90, 57: 106, 62: 96, 66: 101}
TEMPLATES = {189: ("FRL", FRL_TO_IBUG),  # point count -> (name, iBUG index -> template index)
             68: ("iBUG 300-W", {i: i for i in range(N_LANDMARKS)})}  # morphkit export --format tem


def read_tem(tem_path: str | os.PathLike) -> np.ndarray:
    """The points of a Psychomorph/WebMorph ``.tem`` file: float32 ``(n, 2)`` ``(x, y)`` 0-based pixels.

    The format: the number of points on the first line, then one ``x y`` line per point
    (spaces or tabs), then the template's line definitions (not read).

    Raises:
        DatasetError: the file is not such a template (names the file and the line).
    """
    tem_path = Path(tem_path)
    try:
        lines = tem_path.read_text(encoding="utf-8", errors="replace").split("\n")
        n = int(lines[0].strip())
        pts = np.array([[float(v) for v in lines[1 + i].split()[:2]] for i in range(n)], np.float32)
    except (OSError, ValueError, IndexError) as err:
        raise DatasetError(f"{tem_path}: not a .tem template ({err})") from err
    if pts.shape != (n, 2):
        raise DatasetError(f"{tem_path}: expected {n} lines of 'x y' after the point count")
    return pts


def load_tem(folder: str | os.PathLike) -> list[FaceSample]:
    """Load a folder of images with WebMorph/Psychomorph ``.tem`` templates beside them (same stem).

    The template's points that have an iBUG 300-W counterpart are placed at their
    300-W index; the other 300-W points are ``nan`` (left out of NME and offsets,
    :mod:`landmarker.training.metrics`). Built in: the Face Research Lab 189-point template
    (:data:`FRL_TO_IBUG`, 16 points) and the 68-point iBUG one that ``morphkit export --format tem``
    writes (all 68 points). For evaluation only: training refuses faces with missing points.

    Returns:
        One :class:`FaceSample` per image: float32 ``(68, 2)`` ``(x, y)`` pixels, ``nan`` where
        the template has no such point.

    Raises:
        DatasetError: no image with a template, a malformed template, or a template of a
            point count with no map (the message names the file).
    """
    return _images_with_labels_beside(folder, ".tem", tem_landmarks)


def tem_landmarks(tem_path: str | os.PathLike) -> np.ndarray:
    """A ``.tem`` template's points on the 68 iBUG 300-W places: float32 ``(68, 2)``, ``nan`` where
    the template has no counterpart (:data:`TEMPLATES`).

    Raises:
        DatasetError: a malformed template, or one of a point count with no built-in map.
    """
    pts = read_tem(tem_path)
    if len(pts) not in TEMPLATES:
        raise DatasetError(f"{tem_path}: a {len(pts)}-point template; the built-in point maps are for "
                           + ", ".join(f"{name} ({n} points)" for n, (name, _) in TEMPLATES.items()))
    landmarks = np.full((N_LANDMARKS, 2), np.nan, np.float32)
    for ibug, tem in TEMPLATES[len(pts)][1].items():
        landmarks[ibug] = pts[tem]
    return landmarks


LOADERS = {
    "landmarks-csv": load_landmarks_csv,
    "ytf68": load_ytf68,
    "ytf68-raw": functools.partial(load_ytf68, correct_offset=False),
    "dlib-xml": load_dlib_xml,
    "pts": load_pts,
    "tem": load_tem,
}


def _format_of(spec: str) -> tuple[str, str]:
    fmt, sep, path = spec.partition(":")
    if not sep or fmt not in LOADERS:
        raise DatasetError(f"{spec!r}: expected FORMAT:PATH with FORMAT one of {', '.join(LOADERS)}")
    return fmt, path


def load_dataset(spec: str, reviewed_only: bool = False) -> list[FaceSample]:
    """Load ``FORMAT:PATH`` where FORMAT is one of :data:`LOADERS` (see the module docstring).

    Args:
        reviewed_only: only the faces a person reviewed (``landmarks-csv`` only).

    Raises:
        DatasetError: unknown format or a malformed dataset; ``reviewed_only`` with another format.
    """
    fmt, path = _format_of(spec)
    if reviewed_only:
        if fmt != "landmarks-csv":
            raise DatasetError(f"{spec}: only landmarks-csv data has reviewed faces (--reviewed-only)")
        return load_landmarks_csv(path, reviewed_only=True)
    return LOADERS[fmt](path)


def dataset_format(spec: str) -> str:
    """The FORMAT of ``FORMAT:PATH``.

    Raises:
        DatasetError: not ``FORMAT:PATH`` with a known format.
    """
    return _format_of(spec)[0]


def label_correction(spec: str) -> str | None:
    """What loading ``FORMAT:PATH`` does to the labels, for reports; None when they are used as stored.

    Only ``ytf68`` corrects: ``"ytf68 correction applied (points moved by -2.83%, -1.66%
    IOD on average)"``, the mean of minus :func:`ytf68_offset_iod` over the 68 points
    in % of the inter-ocular distance.

    Raises:
        DatasetError: unknown format, or an unreadable offset table.
    """
    if _format_of(spec)[0] != "ytf68":
        return None
    dx, dy = -100 * ytf68_offset_iod().mean(axis=0)
    return f"ytf68 correction applied (points moved by {dx:+.2f}%, {dy:+.2f}% IOD on average)"


def split_by_identity(
    samples: list[FaceSample], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[FaceSample], list[FaceSample]]:
    """Split samples so that no identity is in both parts.

    Each identity goes to validation when a seeded CRC32 hash of its name falls
    below ``val_fraction``: the split is the same on every machine and does not
    move when people are added to the dataset.

    Returns:
        ``(train, val)`` lists.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInput(f"val_fraction must be in [0, 1), got {val_fraction}")
    train, val = [], []
    for sample in samples:
        h = zlib.crc32(f"{seed}:{sample.identity}".encode()) / 2**32
        (val if h < val_fraction else train).append(sample)
    return train, val
