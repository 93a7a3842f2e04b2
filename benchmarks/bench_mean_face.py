"""Time each stage of a mean face on N congress portraits, and the whole team-means job.

Stages (serial, one process, to see where time goes): decode, detect (dlib HOG),
landmarks (ResNet18, batched), align (similarity transform into the frame), warp
(piecewise-affine onto the mean shape), accumulate (running float64 sum). Then the
whole job as a user runs it (`team-means` with --n-jobs 1 and 2), wall clock.

    .venv/bin/python benchmarks/bench_mean_face.py --n 100
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "congress-headshots" / "images"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()

    from landmarker.inference.detect import HogDetector
    from landmarker.inference.predictor import Landmarker
    from landmarker.io.decode import read_image
    from morphkit import CanonicalFrame, WarpTarget, align_face, mean_shape, triangulate, with_border

    paths = sorted(args.images.glob("*.jpg"))[: args.n]
    n = len(paths)
    rows = []

    def stage(name, fn):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        rows.append((name, dt))
        return out

    model = stage("load model + detector", lambda: Landmarker())
    hog = HogDetector()
    images = stage("decode", lambda: [read_image(p) for p in paths])
    dets = stage("detect (HOG)", lambda: [hog(im) for im in images])
    keep = [i for i, d in enumerate(dets) if d]
    lms = stage("landmarks (ResNet18)", lambda: model.predict_boxes_many(
        [images[i] for i in keep], [[dets[i][0].box] for i in keep]))
    lms = np.stack([lm[0] for lm in lms])
    frame = CanonicalFrame()
    aligned = stage("align", lambda: [align_face(images[i], lm, frame) for i, lm in zip(keep, lms)])
    shape = mean_shape(np.stack([a[1] for a in aligned]), frame=frame)
    target_pts = with_border(shape, frame.width, frame.height)
    target = WarpTarget(target_pts, triangulate(target_pts), frame.width, frame.height)
    warped = stage("warp (piecewise affine)", lambda: [
        target.warp(img, with_border(pts, frame.width, frame.height)) for img, pts in aligned])

    def accumulate():
        acc = np.zeros((frame.height, frame.width, 3), np.float64)
        for w in warped:
            acc += w
        return acc / len(warped)

    stage("accumulate", accumulate)
    serial = sum(dt for name, dt in rows if name != "load model + detector")

    from jobs.team_means import team_means

    job = {}
    with tempfile.TemporaryDirectory() as tmp:
        coll = Path(tmp) / "portraits"
        coll.mkdir()
        for p in paths:
            shutil.copy(p, coll / p.name)
        for n_jobs in (1, 2):
            t = time.perf_counter()
            team_means(str(coll), str(Path(tmp) / f"out{n_jobs}"), n_jobs=n_jobs)
            job[n_jobs] = time.perf_counter() - t

    print(f"\nmean face of {n} portraits ({len(keep)} with a face), {os.cpu_count()} CPUs")
    print(f"{'stage':28s} {'total s':>8s} {'ms/face':>8s}")
    for name, dt in rows:
        print(f"{name:28s} {dt:8.2f} {1000 * dt / n:8.1f}")
    print(f"{'sum of stages':28s} {serial:8.2f} {1000 * serial / n:8.1f}")
    for n_jobs, dt in job.items():
        print(f"{f'team-means job, --n-jobs {n_jobs}':28s} {dt:8.2f} {1000 * dt / n:8.1f}   (wall, start to PNGs)")


if __name__ == "__main__":
    main()
