"""Speed of morph rendering at the canonical 450 x 550 frame, before and with encoding.

    python benchmarks/bench_morph_render.py [--frames N] [--faces K]

Aligns the K largest real faces of tests/data/dlib-faces, then times:
  - one morph frame (Morpher.frame: rasterise the intermediate shape, remap tables, two
    cv2.remap warps, cross-dissolve) over a whole transition;
  - its parts (rasterisation, remap tables, cv2.remap);
  - morph_sequence_frames end to end (holds + transitions, alignment included);
  - the same sequence streamed into an H.264 MP4 (libx264, yuv420p) and into a GIF.
Prints ms per frame and frames per second. Single process; on a shared machine the
numbers vary with its load, hence best and median of several runs for the morph frame.
One morph frame = rasterise the intermediate shape, remap tables, two cv2.remap warps and
the cross-dissolve; hold frames of a sequence are copies, so a sequence runs faster.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from defusedxml import ElementTree
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from morphkit import (  # noqa: E402
    CanonicalFrame,
    Morpher,
    WarpTarget,
    align_face,
    morph_sequence_frames,
    morph_sequence_length,
    write_video,
)

DATA = ROOT / "tests" / "data" / "dlib-faces"


def load_faces(k: int):
    faces = []
    for xml in ("testing_with_face_landmarks.xml", "training_with_face_landmarks.xml"):
        root = ElementTree.parse(str(DATA / xml)).getroot()
        for image_el in root.find("images").findall("image"):
            for box in image_el.findall("box"):
                pts = {int(p.get("name")): (float(p.get("x")), float(p.get("y"))) for p in box.findall("part")}
                if len(pts) == 68:
                    faces.append((DATA / image_el.get("file"), np.array([pts[i] for i in range(68)], np.float32)))
    faces.sort(key=lambda f: -np.ptp(f[1][:, 0]))
    faces = faces[:k]
    return [np.asarray(Image.open(p).convert("RGB")) for p, _ in faces], np.stack([lm for _, lm in faces])


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120, help="morph frames per timing (default 120)")
    ap.add_argument("--faces", type=int, default=3, help="faces in the sequence (default 3)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of the morph-frame timing (default 5)")
    args = ap.parse_args()

    frame = CanonicalFrame()
    images, lms = load_faces(max(2, args.faces))
    (a, pa), (b, pb) = (align_face(images[i], lms[i], frame) for i in (0, 1))
    morpher = Morpher(a, pa, b, pb)
    n = args.frames
    rows = []

    ts = [(k + 1) / (n + 1) for k in range(n)]
    morpher.frame(0.5, 0.5)  # warm-up
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for t in ts:
            morpher.frame(t, t)
        runs.append((time.perf_counter() - t0) / n)
    rows.append((f"morph frame, best of {args.repeat} runs of {n}", min(runs)))
    rows.append((f"morph frame, median of {args.repeat} runs", float(np.median(runs))))

    shape = morpher.shape(0.5)
    rows.append(("  rasterise intermediate shape (WarpTarget)",
                 timed(lambda: WarpTarget(shape, morpher.triangles, frame.width, frame.height), 50)))
    target = WarpTarget(shape, morpher.triangles, frame.width, frame.height)
    rows.append(("  remap tables for one image", timed(lambda: target.maps(morpher.pts_a), 50)))
    mx, my = target.maps(morpher.pts_a)
    rows.append(("  cv2.remap of one image", timed(
        lambda: cv2.remap(a, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), 50)))

    fps = 30
    k = images.__len__()
    seconds = n / fps / max(1, k - 1)  # about n frames in all, half of them transitions
    count = morph_sequence_length(k, fps, seconds, 0.5)

    def sequence():
        return morph_sequence_frames(images, lms, frame, fps=fps, seconds_per_face=seconds, transition_fraction=0.5)

    t0 = time.perf_counter()
    got = sum(1 for _ in sequence())
    assert got == count
    rows.append((f"morph_sequence_frames, {k} faces, {count} frames", (time.perf_counter() - t0) / count))

    with tempfile.TemporaryDirectory() as tmp:
        for label, kwargs in (("MP4 libx264 crf 18 preset medium", {}),
                              ("MP4 libx264 crf 18 preset veryfast", {"preset": "veryfast"})):
            path = Path(tmp) / "movie.mp4"
            t0 = time.perf_counter()
            written = write_video(sequence(), path, fps=fps, **kwargs)
            rows.append((f"  + {label} ({os.path.getsize(path) // 1024} KiB)",
                         (time.perf_counter() - t0) / written))
        path = Path(tmp) / "movie.gif"
        t0 = time.perf_counter()
        written = write_video(sequence(), path, fps=fps, fmt="gif")
        rows.append((f"  + GIF 360 px wide ({written} of {count} frames kept)", (time.perf_counter() - t0) / count))

    print(f"morph rendering at {frame.width}x{frame.height}, {os.cpu_count()} CPUs, "
          f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads)")
    print(f"{'step':<58} {'ms/frame':>9} {'frames/s':>9}")
    for name, sec in rows:
        print(f"{name:<58} {sec * 1000:9.2f} {1.0 / sec:9.1f}")


if __name__ == "__main__":
    main()
