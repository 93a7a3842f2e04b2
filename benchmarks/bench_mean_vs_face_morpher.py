"""Mean face from raw files: ``morphkit team-means`` against face_morpher's averager (the anchor), one run.

The anchor is ``../shared/anchors/face-morpher-average`` (face_morpher's averager:
dlib HOG + dlib's 68-point predictor, OpenCV warps, one process) in the anchors'
virtualenv made by ``../shared/anchors/setup-anchors``. Both average the same
``--n`` congress portraits into one mean face of the same size (``--frame``, default
450 x 550, the anchor's default; ours would otherwise choose the frame from the faces,
210 x 256 for congress, and warp less), from raw files, start-up
included, alternating ``--rounds`` times; the best time of each counts. Ours runs
with default options (every core) and with ``--n-jobs 1``. Prints the CPU, each
ratio (anchor time / ours: above 1 means we are faster) and where our time goes
(start-up, labelling, warping: ``benchmarks/bench_mean_face.py`` has the stages).

    bash ../shared/anchors/setup-anchors /tmp/anchors-venv
    ANCHORS_VENV=/tmp/anchors-venv .venv/bin/python benchmarks/bench_mean_vs_face_morpher.py --n 100
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from anchor_runs import (
    ANCHORS,
    PORTRAITS,
    best_of_alternating,
    copy_portraits,
    cpu_name,
    ours,
    ours_env,
    require_anchors_venv,
    timed,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=PORTRAITS, help="folder of portraits (default: congress)")
    ap.add_argument("--n", type=int, default=100, help="portraits to average (the first N by name)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default=";--n-jobs 1", help="team-means option sets separated by ';'")
    ap.add_argument("--frame", default="450x550", help="the mean face's WIDTHxHEIGHT, for both")
    args = ap.parse_args()
    width, height = args.frame.lower().split("x")
    require_anchors_venv()
    variants = [v.strip() for v in args.variants.split(";")]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "images"
        n = copy_portraits(args.images, src, args.n)
        anchor = [str(ANCHORS / "face-morpher-average"), str(src), str(Path(tmp) / "face_morpher.png"), width, height]
        best = best_of_alternating(
            anchor, {v: ours("team-means", str(src), "--out", str(Path(tmp) / "ours"), "--width", width, "--height",
                             height, *v.split()) for v in variants},
            args.rounds)
        used = sum(1 for line in open(Path(tmp) / "ours" / "report.csv") if ",used," in line)
        startup = min(timed(ours("--version"), env=ours_env()) for _ in range(3))
    a = best["anchor"]
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; mean face ({width} x {height}) of {n} portraits from "
          f"{args.images}; best of {args.rounds}, alternating")
    print("| method | seconds | speed vs face_morpher |\n|---|---:|---:|")
    print(f"| face_morpher averager (anchor) | {a:.2f} | 1.00x |")
    for v in variants:
        print(f"| morphkit team-means {v or '(default options)'} | {best[v]:.2f} | {a / best[v]:.2f}x |")
    print(f"faces in our mean: {used}; Python start-up and imports of `morphkit --version`: {startup:.2f} s")
    print(f"10x would need {a / 10:.2f} s")


if __name__ == "__main__":
    main()
