"""``landmarker predict``: landmarks for image files and folders into one CSV.

Images are decoded and sent through the model in groups of :data:`IMAGES_PER_BATCH`,
so the faces of consecutive images share network calls. With ``--boxes FILE`` the
face boxes come from that file (:mod:`landmarker.boxes_csv`) instead of the
detector, and their ``score`` is left empty.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .boxes_csv import match_boxes, read_boxes_csv
from .decode import ImageDecodeError, read_image
from .files import find_images
from .landmarks_csv import HEADER, face_row
from .overlay import draw_faces, save_png
from .predictor import Face, Landmarker

IMAGES_PER_BATCH = 16


def overlay_path(overlay_dir: str | os.PathLike, name: str) -> Path:
    """Where the overlay of image ``name`` (relative POSIX path) goes: same sub-path, ``.png``."""
    rel = Path(*[p for p in Path(name).parts if p not in ("..", "/", "\\")])
    return Path(overlay_dir) / rel.with_suffix(rel.suffix + ".png")


def faces_for_boxes(model: Landmarker, images, boxes) -> list[list[Face]]:
    """:class:`Face` lists for given boxes (score ``nan``), largest box first, one network pass.

    Args:
        images: RGB uint8 ``(H, W, 3)`` arrays.
        boxes: per image, a list of ``(left, top, right, bottom)`` boxes in pixels.

    Returns:
        per image, :class:`Face` objects (landmarks float32 ``(68, 2)`` ``(x, y)`` px).

    Raises:
        ValueError: a box without area.
    """
    ordered = [sorted(bxs, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])) for bxs in boxes]
    landmarks = model.predict_boxes_many(images, ordered)
    return [[Face(tuple(b), math.nan, lm) for b, lm in zip(bxs, lms)] for bxs, lms in zip(ordered, landmarks)]


def _decoded_batches(images, size: int):
    """Yield lists of ``(name, RGB array)`` of up to ``size`` readable images; reports unreadable ones."""
    batch = []
    for path, name in images:
        try:
            batch.append((name, read_image(path)))
        except ImageDecodeError as err:
            print(f"skipped {err}", file=sys.stderr)
            batch.append((name, None))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_command(args) -> int:
    """Run ``landmarker predict``; returns the exit code.

    Raises:
        ValueError: no image found, or an unusable ``--boxes`` file (exit 2).
    """
    images = list({p.resolve(): (p, name) for p, name in reversed(find_images(args.paths))}.values())[::-1]
    # a file given twice is labelled once (its first name)
    if not images:
        raise ValueError(f"no image files found under {' '.join(args.paths)}")
    given = None
    if getattr(args, "boxes", None):
        given = match_boxes(args.boxes, read_boxes_csv(args.boxes), images)
        if len(given) < len(images):
            print(f"{len(images) - len(given)} images have no box in {args.boxes}: skipped", file=sys.stderr)
        images = [(p, n) for p, n in images if n in given]
    model = Landmarker(args.weights, detector=None if given is not None else args.detector,
                       backend=getattr(args, "backend", "torch"), flip_average=getattr(args, "flip_average", False))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    n_faces = n_errors = n_none = 0
    t0 = time.time()
    with open(tmp, "w", newline="", encoding="utf-8") as fh, tqdm(total=len(images), desc="predict", unit="image") as bar:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for batch in _decoded_batches(images, IMAGES_PER_BATCH):
            ok = [(name, image) for name, image in batch if image is not None]
            n_errors += len(batch) - len(ok)
            arrays = [image for _, image in ok]
            if given is not None:
                faces_per_image = faces_for_boxes(model, arrays, [given[name] for name, _ in ok])
            else:
                faces_per_image = model.predict_many(arrays)
            for (name, image), faces in zip(ok, faces_per_image):
                n_none += not faces
                for i, face in enumerate(faces):
                    writer.writerow(face_row(name, i, face))
                n_faces += len(faces)
                if args.overlay:
                    save_png(draw_faces(image, faces), overlay_path(args.overlay, name))
            bar.update(len(batch))
    os.replace(tmp, out)
    print(
        f"{len(images)} images, {n_faces} faces, {n_none} without a face, {n_errors} unreadable, "
        f"{time.time() - t0:.1f}s -> {out}"
    )
    return 0
