"""Sharpness of mean faces: plain mean, texture-preserving mean (Tiddeman et al. 2001), face_morpher.

Sharpness is the mean absolute Laplacian (OpenCV's 3 x 3 aperture) of the gray image
inside the face region: the bounding box of the brow, eye, nose and mouth landmarks
(points 17-67, predicted by our landmarker on the mean itself), after scaling the
image so that the outer eye corners (points 36 and 45) are 200 px apart. A single
portrait is measured the same way for reference. face_morpher's averager (the anchor,
``../shared/anchors/face-morpher-average``, which applies an unsharp mask) averages the
same portraits in the same run. Writes a side-by-side picture.

    bash ../shared/anchors/setup-anchors /tmp/anchors-venv
    ANCHORS_VENV=/tmp/anchors-venv .venv/bin/python benchmarks/bench_texture_mean.py --n 100
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from anchor_runs import ANCHORS, PORTRAITS, copy_portraits, cpu_name, require_anchors_venv

from morphkit.ibug68 import inter_ocular_distance


def sharpness(image: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean |Laplacian| of the gray face region at 200 px between the outer eye corners."""
    k = 200.0 / float(inter_ocular_distance(landmarks))
    scaled = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    pts = landmarks[17:68] * k
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    gray = cv2.cvtColor(scaled, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    return float(np.abs(lap[max(0, y0):y1, max(0, x0):x1]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=PORTRAITS)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--picture", type=Path, default=None,
                    help="write the side-by-side picture here (the README's docs/texture_mean.png comes from "
                         "bench_stimuli.py since issue 21)")
    ap.add_argument("--no-anchor", action="store_true", help="skip face_morpher (no anchors virtualenv)")
    args = ap.parse_args()
    if not args.no_anchor:
        require_anchors_venv()

    from landmarker.inference.labelling import ModelSpec, label_images
    from landmarker.inference.parallel import label_chunks
    from landmarker.io.decode import read_image
    from morphkit import image_grid, mean_face

    model = ModelSpec().resolved().load()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "images"
        n = copy_portraits(args.images, src, args.n)
        paths = sorted(src.iterdir())
        chunks = [[(str(p), p.name) for p in paths[i:i + 8]] for i in range(0, len(paths), 8)]
        results = [r for chunk in label_chunks(label_images, chunks, spec=ModelSpec().resolved()) for r in chunk]
        used = [(p, r.faces[0].landmarks) for p, r in zip(paths, results) if r.faces]
        sources = [partial(read_image, p) for p, _ in used]
        lms = np.stack([lm for _, lm in used])
        means, seconds = {}, {}
        for name, texture in (("plain mean", False), ("texture-preserving mean", True)):
            t = time.perf_counter()
            means[name] = mean_face(sources, lms, texture=texture, n_jobs=1).image
            seconds[name] = time.perf_counter() - t
        if not args.no_anchor:
            out = Path(tmp) / "face_morpher.png"
            t = time.perf_counter()
            subprocess.run([str(ANCHORS / "face-morpher-average"), str(src), str(out)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds["face_morpher averager (anchor)"] = time.perf_counter() - t
            means = {"face_morpher averager (anchor)": read_image(out), **means}
        single = read_image(paths[0])
    rows = {}
    for name, image in {**means, "one portrait": single}.items():
        faces = model.predict(image)
        rows[name] = sharpness(image, faces[0].landmarks) if faces else float("nan")
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; {len(used)} of {n} portraits from {args.images}")
    print("| image | sharpness (mean abs. Laplacian, face region) | seconds |\n|---|---:|---:|")
    for name, value in rows.items():
        print(f"| {name} | {value:.2f} | {seconds.get(name, float('nan')):.1f} |")
    tex, plain = rows["texture-preserving mean"], rows["plain mean"]
    print(f"texture-preserving / plain: {tex / plain:.2f}x")
    if "face_morpher averager (anchor)" in rows:
        print(f"texture-preserving / face_morpher: {tex / rows['face_morpher averager (anchor)']:.2f}x")
    if args.picture is None:
        return
    args.picture.parent.mkdir(parents=True, exist_ok=True)
    tiles = [cv2.resize(im, (300, 367), interpolation=cv2.INTER_AREA) for im in means.values()]
    grid = image_grid(tiles, [f"{k} ({rows[k]:.1f})" for k in means], columns=len(tiles))
    cv2.imwrite(str(args.picture), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"picture: {args.picture}")


if __name__ == "__main__":
    main()
