"""End-to-end labelling speed: ``bulk-label`` against the plain dlib script (the anchor), one run.

The anchor is ``../shared/anchors/dlib-landmarks`` (dlib's HOG upsampled once +
``shape_predictor_68_face_landmarks.dat``, one process, in the anchors' virtualenv made
by ``../shared/anchors/setup-anchors``). Both label the same ``--n`` portraits from
raw files, start-up included, alternating the anchor and each variant of ours
(``--variants``: default options, ``--n-jobs 1``, ``--n-jobs 2``) ``--rounds`` times;
the best time of each counts. Prints the CPU, each variant's speed against the
anchor (anchor time / ours: above 1 means we are faster) and ``--n-jobs 2``
against ``--n-jobs 1``.

    bash ../shared/anchors/setup-anchors /tmp/anchors-venv
    ANCHORS_VENV=/tmp/anchors-venv .venv/bin/python benchmarks/bench_label_vs_dlib_script.py --n 300
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from anchor_runs import ANCHORS, PORTRAITS, best_of_alternating, copy_portraits, cpu_name, ours, require_anchors_venv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=PORTRAITS, help="folder of portraits (default: congress)")
    ap.add_argument("--n", type=int, default=300, help="portraits to label (the first N by name)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default=";--n-jobs 1;--n-jobs 2",
                    help="bulk-label option sets separated by ';' (empty: the defaults)")
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(";")]
    require_anchors_venv()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "images"
        n = copy_portraits(args.images, src, args.n)
        anchor = [str(ANCHORS / "dlib-landmarks"), str(src), str(Path(tmp) / "dlib.csv")]
        out = Path(tmp) / "ours"
        rows = {}
        best = best_of_alternating(
            anchor, {v: ours("bulk-label", str(src), "--out", str(out), "--restart", *v.split()) for v in variants},
            args.rounds, after=lambda v: rows.__setitem__(v, sum(1 for _ in open(out / "landmarks.csv")) - 1))
        rows_dlib = sum(1 for _ in open(Path(tmp) / "dlib.csv")) - 1
    a = best["anchor"]
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; {n} portraits from {args.images}; best of {args.rounds}, alternating")
    print("| method | seconds | faces | speed vs the dlib script |\n|---|---:|---:|---:|")
    print(f"| plain dlib script (anchor: HOG upsampled once + ERT 68, one process) | {a:.2f} | {rows_dlib} | 1.00x |")
    for v in variants:
        print(f"| bulk-label {v or '(default options)'} | {best[v]:.2f} | {rows[v]} | {a / best[v]:.2f}x |")
    if "--n-jobs 1" in best and "--n-jobs 2" in best:
        print(f"--n-jobs 2 against --n-jobs 1: {best['--n-jobs 1'] / best['--n-jobs 2']:.2f}x")


if __name__ == "__main__":
    main()
