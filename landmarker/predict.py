"""``landmarker predict``: landmarks for image files and folders into one CSV."""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .decode import ImageDecodeError, read_image
from .files import find_images
from .landmarks_csv import HEADER, face_row
from .overlay import draw_faces, save_png
from .predictor import Landmarker


def overlay_path(overlay_dir: str | os.PathLike, name: str) -> Path:
    """Where the overlay of image ``name`` (relative POSIX path) goes: same sub-path, ``.png``."""
    rel = Path(*[p for p in Path(name).parts if p not in ("..", "/", "\\")])
    return Path(overlay_dir) / rel.with_suffix(rel.suffix + ".png")


def predict_command(args) -> int:
    """Run ``landmarker predict``; returns the exit code (2 when no image was found)."""
    images = find_images(args.paths)
    if not images:
        raise ValueError(f"no image files found under {' '.join(args.paths)}")
    model = Landmarker(args.weights, detector=args.detector)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    n_faces = n_errors = n_none = 0
    t0 = time.time()
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for path, name in tqdm(images, desc="predict", unit="image"):
            try:
                image = read_image(path)
            except ImageDecodeError as err:
                print(f"skipped {err}", file=sys.stderr)
                n_errors += 1
                continue
            faces = model.predict(image)
            n_none += not faces
            for i, face in enumerate(faces):
                writer.writerow(face_row(name, i, face))
            n_faces += len(faces)
            if args.overlay:
                save_png(draw_faces(image, faces), overlay_path(args.overlay, name))
    os.replace(tmp, out)
    print(
        f"{len(images)} images, {n_faces} faces, {n_none} without a face, {n_errors} unreadable, "
        f"{time.time() - t0:.1f}s -> {out}"
    )
    return 0
