"""Face detectors compared: recall on real frames, false faces on images without faces, speed.

For each detector (``hog``: dlib alone, the old default; ``hog+haar``: the default,
HOG with a Haar-verified fallback; ``haar``: OpenCV's cascade alone):

- recall on the identity-held-out ytf68 validation frames (``split_by_identity(samples,
  0.1, 0)``, as ``landmarker train``): a labelled face counts as found when a box has
  IoU > 0.3 with the box made from its landmarks (the matching rule of
  ``landmarker.training_data.face_box_for``); ``other boxes`` counts boxes matching no
  labelled face (false faces, or real unlabelled faces in the background);
- false faces (boxes) on ``dogs.jpg`` (dlib's example photo of dogs), on 20 random-noise
  images (white and blurred noise) and 20 blank or gradient images;
- milliseconds per image: mean over the validation frames (detection only, decoded
  images in memory, one thread) and over the 41 face-free images.

    .venv/bin/python benchmarks/bench_detector.py            # all 327 validation frames
    .venv/bin/python benchmarks/bench_detector.py --n 100    # the first 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "ytf68"
DOGS = ROOT / "tests" / "data" / "dlib-faces" / "dogs.jpg"


def noise_images(n: int = 20, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB uint8 noise images of 200-600 px a side: odd ones blurred (sigma 1-5 px) into blobs."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(200, 600, 2))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 2:
            img = cv2.normalize(cv2.GaussianBlur(img, (0, 0), 1 + i % 5), None, 0, 255, cv2.NORM_MINMAX)
        out.append(img)
    return out


def blank_images(n: int = 20, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB uint8 images of 200-600 px a side: flat colours, linear and radial gradients."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(200, 600, 2))
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        if i % 3 == 0:
            t = np.zeros((h, w), np.float32)
        elif i % 3 == 1:
            a = rng.uniform(0, np.pi)
            t = x * np.cos(a) + y * np.sin(a)
        else:
            t = np.hypot(x - rng.uniform(0, w), y - rng.uniform(0, h))
        t = (t - t.min()) / (np.ptp(t) or 1.0)
        out.append((c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.uint8))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ytf68 folder")
    ap.add_argument("--n", type=int, default=None, help="use only the first N validation frames")
    ap.add_argument("--detectors", default="hog,hog+haar,haar")
    args = ap.parse_args()

    import cv2

    from landmarker.crop import box_from_landmarks
    from landmarker.datasets import load_dataset, split_by_identity
    from landmarker.decode import read_image
    from landmarker.detect import box_iou, make_detector
    from landmarker.training_data import MATCH_IOU

    cv2.setNumThreads(1)
    _, val = split_by_identity(load_dataset(f"ytf68:{args.data}"), 0.1, 0)
    val = val[: args.n] if args.n else val
    frames: dict = {}
    for s in val:
        frames.setdefault(s.image_path, []).append(box_from_landmarks(s.landmarks))
    images = {p: read_image(p) for p in frames}
    negatives = {"dogs.jpg": [read_image(DOGS)], "noise": noise_images(), "blank/gradient": blank_images()}

    rows = []
    for name in args.detectors.split(","):
        detect = make_detector(name)
        detect(next(iter(images.values())))  # warm up
        found = other = 0
        t = time.perf_counter()
        dets = {p: detect(img) for p, img in images.items()}
        ms_faces = (time.perf_counter() - t) / len(images) * 1000
        for p, boxes in frames.items():
            found += sum(any(box_iou(d.box, b) > MATCH_IOU for d in dets[p]) for b in boxes)
            other += sum(all(box_iou(d.box, b) <= MATCH_IOU for b in boxes) for d in dets[p])
        false, t, n_neg = {}, time.perf_counter(), 0
        for kind, imgs in negatives.items():
            per = [len(detect(img)) for img in imgs]
            false[kind] = f"{sum(per)} in {sum(v > 0 for v in per)}/{len(per)}"
            n_neg += len(imgs)
        ms_neg = (time.perf_counter() - t) / n_neg * 1000
        n_faces = sum(len(b) for b in frames.values())
        rows.append([name, f"{100 * found / n_faces:.1f}% ({found}/{n_faces})", str(other),
                     false["dogs.jpg"], false["noise"], false["blank/gradient"], f"{ms_faces:.1f}", f"{ms_neg:.1f}"])

    header = ["detector", "ytf68 val recall", "other boxes", "dogs.jpg", "noise", "blank/gradient",
              "ms/frame", "ms/no-face img"]
    print(f"ytf68 validation frames: {len(images)} (identity split 0.1, seed 0); false faces as 'boxes in images'")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
