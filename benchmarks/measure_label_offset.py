"""Measure a dataset's labelling offset against the iBUG 300-W convention.

A labelled dataset can carry a constant offset against the convention other tools
follow (ytf68 does: ``landmarker.io.datasets.YTF68_OFFSET_IOD``). This script measures
it with a reference that follows 300-W: dlib's 68-point shape predictor
(``shape_predictor_68_face_landmarks.dat``, trained on iBUG 300-W, from
face-recognition-models), run from dlib's HOG box of every labelled face.

For each face the offset is the mean over the 68 points of ``label - reference``,
in units of the face's inter-ocular distance (outer eye corners, points 36 and 45).
Per-face offsets are noisy (the reference's own error is several % of IOD), so the
median over all faces is reported, with a bootstrap 95% interval, per face region
too: a convention offset is the same in every region, a difference in how one
region is drawn is not. As a check, the same is printed for dlib-faces, whose
labels follow 300-W (dlib's bias there should be near 0).

    .venv/bin/python benchmarks/measure_label_offset.py --raw            # ytf68 as stored
    .venv/bin/python benchmarks/measure_label_offset.py                  # after the loader's correction

``--raw`` loads ytf68 without the loader's correction (the measurement that sets
it); without it, the corrected labels should show an offset near 0.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
from landmarks_vs_dlib import detector_boxes, dlib_model_path, group_by_image, run_dlib

from morphkit import ibug68

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
REGIONS = ibug68.REGIONS


def _reference(chunk, model_path: str) -> np.ndarray:
    """dlib HOG (upsampled once) + ERT landmarks ``(n, 68, 2)`` for the faces of ``chunk``; NaN where
    HOG missed the face. The same box matching and predictor calls as ``landmarks_vs_dlib.py``."""
    import dlib

    from landmarker.inference.detect import HogDetector
    from landmarker.io.decode import read_image

    images = {s.image_path: read_image(s.image_path) for s in chunk}
    boxes = detector_boxes(chunk, images, HogDetector(upsample=1))
    pred, _ = run_dlib(dlib.shape_predictor(model_path), images, group_by_image(chunk, boxes), boxes, len(chunk))
    return pred


def offsets_in_iod(labels: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-face, per-point ``(label - ref) / IOD``: ``(n, 68, 2)`` from two ``(n, 68, 2)`` arrays."""
    from landmarker.training.metrics import inter_ocular

    return (labels - ref) / inter_ocular(labels)[:, None, None]


def median_ci(values: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> tuple[float, float, float]:
    """Median of ``(n,)`` values and its bootstrap 95% interval."""
    boots = [np.median(rng.choice(values, values.size)) for _ in range(n_boot)]
    return float(np.median(values)), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def report(name: str, samples, n_jobs: int, save: Path | None = None) -> np.ndarray:
    from joblib import Parallel, delayed

    chunks = [samples[i : i + 100] for i in range(0, len(samples), 100)]
    model_path = str(dlib_model_path())
    ref = np.concatenate(Parallel(n_jobs=n_jobs)(delayed(_reference)(c, model_path) for c in chunks))
    labels = np.stack([s.landmarks for s in samples]).astype(np.float32)
    ok = ~np.isnan(ref[:, 0, 0])
    off = offsets_in_iod(labels[ok], ref[ok])
    rng = np.random.default_rng(0)
    print(f"\n{name}: {ok.sum()} of {len(samples)} faces found by HOG (upsampled once)")
    print("| region | x offset, % IOD (95% CI) | y offset, % IOD (95% CI) |")
    print("|---|---|---|")
    for region, idx in [("all 68", range(68)), *REGIONS.items()]:
        cells = []
        for axis in (0, 1):
            m, lo, hi = median_ci(100 * off[:, list(idx), axis].mean(axis=1), rng)
            cells.append(f"{m:+.2f} ({lo:+.2f} .. {hi:+.2f})")
        print(f"| {region} | {cells[0]} | {cells[1]} |")
    if save is not None:
        np.savez(save, offsets_iod=off)
        print(f"per-face, per-point offsets: {save}")
    return off


def per_point_offset(off: np.ndarray) -> np.ndarray:
    """The per-point offset of ``(n, 68, 2)`` per-face offsets: a 20%-trimmed mean, ``(68, 2)``.

    Trimmed mean rather than median: dlib gives integer pixels, so per-point
    differences are quantised and their median sticks to 0.
    """
    from scipy.stats import trim_mean

    return trim_mean(off, 0.2, axis=0)


def write_correction(path: Path, offset: np.ndarray, n_faces: int) -> None:
    """Write the ``(68, 2)`` offset table read by ``landmarker.io.datasets.ytf68_offset_iod``."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write(f"# ytf68 labels minus dlib's 68-point predictor (300-W), in inter-ocular distances; "
                 f"20%-trimmed mean over {n_faces} faces; benchmarks/measure_label_offset.py --raw\n")
        fh.write("point,dx_iod,dy_iod\n")
        for i, (dx, dy) in enumerate(offset):
            fh.write(f"{i},{dx:.5f},{dy:.5f}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ytf68", type=Path, default=SHARED / "ytf68")
    ap.add_argument("--dlib-faces", type=Path, default=SHARED / "dlib-faces")
    ap.add_argument("--raw", action="store_true", help="ytf68 labels as stored, without the loader's correction")
    ap.add_argument("--n", type=int, help="use N ytf68 faces spread over the dataset (default: all)")
    ap.add_argument("--save", type=Path, help="write ytf68's per-face, per-point offsets (.npz)")
    ap.add_argument("--write-correction", type=Path,
                    help="with --raw: write the per-point offset table the ytf68 loader subtracts "
                    "(landmarker/data/ytf68_label_offset.csv)")
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    from landmarker.io.datasets import load_dlib_xml, load_ytf68

    ytf = load_ytf68(args.ytf68, correct_offset=not args.raw)
    if args.n and args.n < len(ytf):
        ytf = [ytf[i] for i in np.unique(np.linspace(0, len(ytf) - 1, args.n).round().astype(int))]
    print(f"reference: dlib HOG (upsampled once) + shape_predictor_68_face_landmarks.dat; "
          f"{platform.machine()}, {args.n_jobs} processes")
    off = report(f"ytf68 ({'as stored' if args.raw else 'corrected by the loader'})", ytf, args.n_jobs, args.save)
    if args.write_correction:
        if not args.raw:
            raise SystemExit("--write-correction needs --raw (the offset of the labels as stored)")
        write_correction(args.write_correction, per_point_offset(off), len(off))
        print(f"correction table: {args.write_correction}")
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        report(f"dlib-faces {xml} (300-W convention; dlib's own labels)", load_dlib_xml(args.dlib_faces / xml),
               args.n_jobs)


if __name__ == "__main__":
    main()
