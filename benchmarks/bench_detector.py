"""Face detectors compared: recall on real photos, false faces on images without faces, speed.

For each detector (``hog``: dlib alone, the old default; ``hog+haar``: the default,
HOG with a Haar-verified fallback; ``haar``: OpenCV's cascade alone):

- recall on the identity-held-out ytf68 validation frames (``split_by_identity(samples,
  0.1, 0)``, as ``landmarker train``): a labelled face counts as found when a box has
  IoU > 0.3 with the box made from its landmarks (the matching rule of
  ``landmarker.training.data.face_box_for``); ``other boxes`` counts boxes matching no
  labelled face (false faces, or real unlabelled faces in the background);
- false faces (boxes) on ``dogs.jpg`` (dlib's example photo of dogs), on 20 random-noise
  images (white and blurred noise) and 20 blank or gradient images;
- recall on the 43 face boxes of dlib-faces' ``training.xml`` and ``testing.xml``
  (PASCAL VOC photos, faces of 37-90 px, dlib's own box geometry; IoU > 0.3);
- recall on test photos made from the congress portraits of ``sample_data/``: each
  portrait as a small grayscale photo (150 px wide), and 1920x1080 canvases with three
  portraits of different sizes (faces of about 50, 90 and 380 px). Their true boxes are
  dlib HOG's box on the full-size portrait, mapped into the test photo;
- ``missed vs dlib``: faces that the reference, dlib's HOG upsampled once
  (``dlib.get_frontal_face_detector()(img, 1)``, what the anchors' plain dlib script
  runs), finds and the detector does not, over all the photos above;
- milliseconds per image: mean over the validation frames (detection only, decoded
  images in memory, one thread), the 1920x1080 canvases and the 41 face-free images.

    .venv/bin/python benchmarks/bench_detector.py            # all 327 validation frames
    .venv/bin/python benchmarks/bench_detector.py --n 100    # the first 100
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

import numpy as np
from anchor_runs import cpu_name

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "ytf68"
DLIB_FACES = ROOT / "tests" / "data" / "dlib-faces"
DOGS = DLIB_FACES / "dogs.jpg"
SAMPLE = ROOT / "sample_data" / "images"


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


def dlib_faces_boxes(folder: Path = DLIB_FACES) -> dict[Path, list[tuple[float, float, float, float]]]:
    """The face boxes of ``training.xml`` and ``testing.xml`` (dlib's examples): image path -> boxes."""
    from landmarker.io.datasets import load_dlib_xml_boxes

    out: dict[Path, list] = {}
    for xml in ("training.xml", "testing.xml"):
        for path, boxes in load_dlib_xml_boxes(folder / xml).items():
            out.setdefault(path, []).extend(boxes)
    return out


@functools.lru_cache(maxsize=1)
def _reference_hog():
    from landmarker.inference.detect import HogDetector

    return HogDetector(upsample=1)


def _portrait_box(image: np.ndarray):
    """dlib HOG's (upsampled once) largest box on a full-size portrait, or None."""
    dets = _reference_hog()(image)
    return dets[0].box if dets else None


def small_gray_portraits(paths, width: int = 150) -> list[tuple[np.ndarray, list]]:
    """Each portrait shrunk to ``width`` px wide, grayscale (as RGB), with its true face box mapped in."""
    import cv2

    from landmarker.io.decode import read_image

    out = []
    for path in paths:
        image = read_image(path)
        box = _portrait_box(image)
        if box is None:
            continue
        k = width / image.shape[1]
        small = cv2.resize(image, (width, round(image.shape[0] * k)), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        out.append((gray, [tuple(v * k for v in box)]))
    return out


def group_canvases(paths, n: int = 4, heights=(800, 180, 100), seed: int = 0) -> list[tuple[np.ndarray, list]]:
    """``n`` 1920x1080 RGB canvases, each with three portraits of the given heights (px) on a gradient.

    Returns ``[(canvas, true boxes)]``; the boxes are each portrait's dlib HOG box
    (full size) scaled and moved with it.
    """
    import cv2

    from landmarker.io.decode import read_image

    rng = np.random.default_rng(seed)
    paths = list(paths)
    out = []
    for _ in range(n):
        canvas = np.empty((1080, 1920, 3), np.uint8)
        canvas[:] = np.linspace(rng.uniform(40, 120), rng.uniform(140, 220), 1920)[None, :, None].astype(np.uint8)
        boxes, x = [], 40
        for h in heights:
            image = box = None
            while image is None or box is None:
                image = read_image(paths[int(rng.integers(len(paths)))])
                box = _portrait_box(image)
            k = h / image.shape[0]
            w = round(image.shape[1] * k)
            y = int(rng.integers(0, 1080 - h + 1))
            canvas[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            boxes.append((box[0] * k + x, box[1] * k + y, box[2] * k + x, box[3] * k + y))
            x += w + int(rng.integers(60, 200))
        out.append((canvas, boxes))
    return out


class ReferenceHog:
    """The reference: dlib's HOG frontal detector upsampled once, at dlib's threshold (the plain dlib script)."""

    name = "dlib HOG, upsampled once"

    def __init__(self):
        import dlib

        self._detector = dlib.get_frontal_face_detector()

    def __call__(self, image: np.ndarray):
        from landmarker.inference.detect import Detection

        return [Detection((float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1)), 1.0)
                for r in self._detector(image, 1)]


def match(dets, truth, iou: float) -> tuple[list[bool], int]:
    """Which true boxes a detection overlaps (IoU > ``iou``), and how many detections overlap none."""
    from landmarker.io.face import box_iou

    hit = [any(box_iou(d.box, b) > iou for d in dets) for b in truth]
    other = sum(all(box_iou(d.box, b) <= iou for b in truth) for d in dets)
    return hit, other


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ytf68 folder")
    ap.add_argument("--n", type=int, default=None, help="use only the first N validation frames")
    ap.add_argument("--detectors", default="hog+haar,hog,haar")
    ap.add_argument("--canvases", type=int, default=4, help="1920x1080 three-portrait test photos (default 4)")
    args = ap.parse_args()

    import platform

    import cv2

    from landmarker.inference.detect import make_detector
    from landmarker.io.datasets import load_dataset, split_by_identity
    from landmarker.io.decode import read_image
    from landmarker.model.crop import MATCH_IOU, box_from_landmarks

    cv2.setNumThreads(1)
    _, val = split_by_identity(load_dataset(f"ytf68:{args.data}"), 0.1, 0)
    val = val[: args.n] if args.n else val
    frames: dict = {}
    for s in val:
        frames.setdefault(s.image_path, []).append(box_from_landmarks(s.landmarks))
    sets = {
        "ytf68 val": [(read_image(p), boxes) for p, boxes in frames.items()],
        "dlib-faces": [(read_image(p), boxes) for p, boxes in dlib_faces_boxes().items()],
    }
    portraits = sorted(SAMPLE.glob("*.jpg"))
    sets["150 px gray portraits"] = small_gray_portraits(portraits)
    sets["1920x1080, 3 faces"] = group_canvases(portraits, args.canvases)
    negatives = {"dogs.jpg": [read_image(DOGS)], "noise": noise_images(), "blank/gradient": blank_images()}
    photo_sets = [k for k in sets if k != "ytf68 val"]

    reference = ReferenceHog()
    ref_dets = {k: [reference(img) for img, _ in items] for k, items in sets.items()}
    detectors = [("dlib HOG, upsampled once (reference)", reference)]
    detectors += [(name + (" (default)" if name == "hog+haar" else ""), make_detector(name))
                  for name in args.detectors.split(",")]

    rows = []
    for label, detect in detectors:
        detect(sets["ytf68 val"][0][0])  # warm up
        cells, missed_vs_ref, other_boxes = {}, 0, 0
        ms = {}
        for key, items in sets.items():
            t = time.perf_counter()
            dets = [detect(img) for img, _ in items]
            ms[key] = (time.perf_counter() - t) / len(items) * 1000
            hits = [match(d, truth, MATCH_IOU) for d, (_, truth) in zip(dets, items)]
            found = sum(sum(h) for h, _ in hits)
            total = sum(len(truth) for _, truth in items)
            cells[key] = f"{found}/{total}"
            if key in photo_sets:
                other_boxes += sum(o for _, o in hits)
            # faces the reference finds (any box, labelled or not) that this detector does not
            for d, r in zip(dets, ref_dets[key]):
                missed_vs_ref += sum(not match(d, [rb.box], MATCH_IOU)[0][0] for rb in r)
        false, t, n_neg = {}, time.perf_counter(), 0
        for kind, imgs in negatives.items():
            per = [len(detect(img)) for img in imgs]
            false[kind] = f"{sum(per)}"
            n_neg += len(imgs)
        ms_neg = (time.perf_counter() - t) / n_neg * 1000
        rows.append([label, *[cells[k] for k in sets], str(missed_vs_ref), str(other_boxes),
                     false["dogs.jpg"], false["noise"], false["blank/gradient"],
                     f"{ms['ytf68 val']:.0f}", f"{ms['1920x1080, 3 faces']:.0f}", f"{ms_neg:.0f}"])

    header = ["detector", *[f"{k} found" for k in sets], "missed vs dlib", "other boxes (photos)",
              "dogs.jpg", "noise (20)", "blank (20)", "ms/frame", "ms/1080p", "ms/no-face"]
    print(f"{platform.machine()}, {os.cpu_count()} CPUs ({cpu_name()}); OpenCV 1 thread")
    print(f"ytf68 val: {len(sets['ytf68 val'])} frames (identity split 0.1, seed 0); dlib-faces: training.xml + "
          f"testing.xml; portraits: {len(portraits)} from sample_data/; found = true boxes with IoU > {MATCH_IOU}; "
          "false faces as boxes\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
