"""Make a compact copy of a ytf68 folder for training on another machine.

The copy holds what ``landmarker train --boxes`` needs and nothing more:

- ``images/``: every frame as a grayscale JPEG (the network sees luma only),
  shrunk where the face is larger than training at ``--max-img-size`` px needs
  (the crop side, ``crop_scale`` x the face box, is kept at least ``--margin`` x
  that size), so the copy is a fraction of the original's size;
- ``landmarks.csv``: the landmarks as stored (the loader corrects them), scaled with their image;
- ``boxes.csv``: the face boxes the training detector (``--detector``, default
  ``hog``, as ``landmarker train`` uses) finds in the *original* frames, scaled.

File names are kept, so the identity split (``split_by_identity``) is the same
as on the original. Training on the copy with ``--boxes copy/boxes.csv`` chooses
each face's box exactly as training on the original with the detector does.

    python tools/compact_ytf68.py ../shared/datasets/ytf68 runs/ytf68-compact
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed
from PIL import Image

from landmarker.inference.detect import make_detector
from landmarker.io.boxes_csv import write_boxes_csv
from landmarker.io.datasets import load_ytf68
from landmarker.io.decode import read_image, to_gray
from landmarker.model import crop as C
from landmarker.training.data import face_box_for


def _compact(chunk, out_images: Path, detector: str, max_img_size: int, margin: float, quality: int):
    det = make_detector(detector)
    rows = []
    for s in chunk:
        image = read_image(s.image_path)
        found = det(image)
        dets = [d.box for d in found]
        box, _ = face_box_for(s, found)
        side = C.crop_square(box)[2]
        scale = min(1.0, margin * max_img_size / side)
        gray = to_gray(image)
        if scale < 1.0:
            h, w = gray.shape
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            sx, sy = size[0] / w, size[1] / h
        else:
            sx = sy = 1.0
        Image.fromarray(gray).save(out_images / s.image_path.name, quality=quality)
        # cv2.resize keeps pixel edges aligned: a landmark (pixel-centre
        # coordinates) maps as x' = (x + 0.5) * s - 0.5, a box (edge coordinates,
        # see landmarker.model.crop.crop_square) as x' = x * s
        pts = (s.landmarks + 0.5) * np.array([sx, sy], np.float32) - 0.5
        boxes = [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in dets]
        rows.append((s.image_path.name, pts, boxes))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", help="ytf68 folder (images/ + landmarks.csv)")
    p.add_argument("dst", help="folder to write")
    p.add_argument("--detector", default="hog")
    p.add_argument("--max-img-size", type=int, default=128, help="largest training crop side to keep full detail for")
    p.add_argument("--margin", type=float, default=1.25, help="kept crop side / max-img-size (default 1.25)")
    p.add_argument("--quality", type=int, default=95)
    p.add_argument("--n-jobs", type=int, default=-1)
    args = p.parse_args(argv)
    samples = load_ytf68(args.src, correct_offset=False)  # the copy keeps the labels as stored
    dst = Path(args.dst)
    (dst / "images").mkdir(parents=True, exist_ok=True)
    chunks = [samples[i : i + 64] for i in range(0, len(samples), 64)]
    parts = Parallel(n_jobs=args.n_jobs)(
        delayed(_compact)(c, dst / "images", args.detector, args.max_img_size, args.margin, args.quality)
        for c in chunks
    )
    rows = [r for part in parts for r in part]
    with open(dst / "landmarks.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([""] + [str(i) for i in range(136)])
        for name, pts, _ in rows:
            w.writerow([name] + [f"{v:.3f}" for v in pts.reshape(-1)])
    write_boxes_csv(dst / "boxes.csv", [(name, *b) for name, _, boxes in rows for b in boxes])
    size = sum(f.stat().st_size for f in (dst / "images").iterdir())
    n_boxes = sum(len(b) for _, _, b in rows)
    print(f"{len(rows)} frames, {n_boxes} detector boxes, images {size / 1e6:.1f} MB -> {dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
