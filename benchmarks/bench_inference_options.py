"""Test-time options of the landmark model on the identity-held-out ytf68 validation split.

Compares, for the same weights, boxes and faces: plain prediction, test-time flip
averaging (predict on the mirrored image, un-mirror with the 68-point permutation,
average), two-pass crop refinement (re-crop from the first prediction's landmark box,
predict again) and both. Also prints the mean (x, y) error of plain predictions and of
predictions on the mirrored image mapped back: a gap between the two means the labels are
not mirror-symmetric (ytf68's stored labels were not; the loader now corrects them, see
``landmarker.io.datasets.load_ytf68``). ``Landmarker(flip_average=True)`` is the flip option.

    .venv/bin/python benchmarks/bench_inference_options.py [--weights FILE] [--n N]
"""

from __future__ import annotations

import argparse

import numpy as np

from landmarker.inference.predictor import Landmarker
from landmarker.io.datasets import FaceSample, load_dataset, split_by_identity
from landmarker.io.decode import read_image
from landmarker.model import crop as C
from landmarker.training.data import face_box_for
from landmarker.training.metrics import nme, summarise
from morphkit.ibug68 import MIRROR


def flipped_predict(model: Landmarker, image: np.ndarray, boxes) -> np.ndarray:
    """Landmarks predicted on the mirrored image, mapped back: ``(k, 68, 2)``."""
    w = image.shape[1]
    mirrored = np.ascontiguousarray(image[:, ::-1])
    # boxes are in edge coordinates (landmarker.model.crop.crop_square), landmarks in pixel centres
    mboxes = [(w - b[2], b[1], w - b[0], b[3]) for b in boxes]
    lm = model.predict_boxes(mirrored, mboxes)
    lm[..., 0] = w - 1 - lm[..., 0]
    return lm[:, MIRROR]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="ytf68:../shared/datasets/ytf68")
    ap.add_argument("--weights")
    ap.add_argument("--n", type=int, help="first N validation faces only")
    args = ap.parse_args()
    _, val = split_by_identity(load_dataset(args.data), 0.1, 0)
    val = val[: args.n] if args.n else val
    model = Landmarker(args.weights, detector="hog")
    preds = {k: [] for k in ("plain", "flip", "refine", "refine+flip")}
    mirrored = []
    for s in val:
        image = read_image(s.image_path)
        box, _ = face_box_for(FaceSample(s.image_path, s.landmarks, None, s.identity), model.detector(image))
        p1 = model.predict_boxes(image, [box])
        m1 = flipped_predict(model, image, [box])
        mirrored.append(m1[0])
        f1 = (p1 + m1) / 2
        box2 = C.box_from_landmarks(p1[0])
        p2 = model.predict_boxes(image, [box2])
        box2f = C.box_from_landmarks(f1[0])
        f2 = (model.predict_boxes(image, [box2f]) + flipped_predict(model, image, [box2f])) / 2
        for k, v in zip(preds, (p1, f1, p2, f2)):
            preds[k].append(v[0])
    gt = np.stack([s.landmarks for s in val])
    print(f"{len(val)} validation faces, weights {args.weights or 'shipped'}")
    for name, p in (("plain", preds["plain"]), ("mirrored image, mapped back", mirrored)):
        dx, dy = (np.stack(p) - gt).mean(axis=(0, 1))
        print(f"mean error of {name}: x {dx:+.2f} px, y {dy:+.2f} px")
    print("| test-time option | NME mean | NME median | failure rate | extra network passes |")
    print("| --- | --- | --- | --- | --- |")
    for k, extra in zip(preds, ("0", "1", "1", "3")):
        st = summarise(nme(np.stack(preds[k]), gt))
        print(f"| {k} | {100 * st['nme_mean']:.2f}% | {100 * st['nme_median']:.2f}% | "
              f"{100 * st['failure_rate']:.2f}% | {extra} |")


if __name__ == "__main__":
    main()
