"""Landmark accuracy and speed: dlib's 68-point shape predictor vs ours (PyTorch and ONNX Runtime).

One process, the same images and the same face boxes for all three methods:

- images: the identity-held-out ytf68 validation split (``split_by_identity(samples,
  0.1, 0)``, the split training holds out), ``--n`` faces spread evenly over it;
- boxes: the dlib HOG detector's box for each labelled face (IoU > 0.3 with the box
  made from its landmarks, as training and ``landmarker evaluate`` match them). A face
  the detector misses counts as a failure (NME = inf) for all three methods;
- dlib: ``shape_predictor_68_face_landmarks.dat`` from face-recognition-models, an
  ensemble of regression trees (Kazemi and Sullivan, "One Millisecond Face Alignment
  with an Ensemble of Regression Trees", CVPR 2014), trained on iBUG 300-W;
- ours: the ResNet18 weights (``--weights``, default shipped) in PyTorch, and their
  ONNX export in ONNX Runtime (CPU).

Times cover the landmark stage only, on decoded images with known boxes: for dlib
the ``shape_predictor`` call; for ours crop + network + mapping back
(``Landmarker.predict_boxes_many``), once one image at a time (the faces of one
image in one batch) and once with all faces batched (``--batch-size``). Each is the
best of ``--repeat`` passes, in ms per face. Accuracy: inter-ocular NME (points 36
and 45), failure = NME > 0.10. Writes a CED plot to ``--out-dir``.

    .venv/bin/python benchmarks/landmarks_vs_dlib.py --n 60
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = "ytf68:" + str(Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ytf68")


def dlib_model_path() -> Path:
    """``shape_predictor_68_face_landmarks.dat`` of the face-recognition-models package.

    Found without importing the package when its ``pkg_resources`` import fails
    (setuptools >= 81 no longer ships ``pkg_resources``).

    Raises:
        FileNotFoundError: the package is not installed.
    """
    try:
        import face_recognition_models

        return Path(face_recognition_models.pose_predictor_model_location())
    except ModuleNotFoundError as err:
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("face-recognition-models is not installed (pip install '.[bench]')") from err
        return Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"


def load_faces(spec: str, n: int | None):
    """The validation faces: ``n`` spread evenly over the split (all when None)."""
    from landmarker.datasets import load_dataset, split_by_identity

    _, val = split_by_identity(load_dataset(spec), 0.1, 0)
    if n is not None and n < len(val):
        val = [val[i] for i in np.unique(np.linspace(0, len(val) - 1, n).round().astype(int))]
    return val


def detector_boxes(samples, images, detector):
    """The HOG box of each labelled face, or None where the detector missed it."""
    from landmarker.training_data import face_box_for
    from landmarker.datasets import FaceSample

    dets = {path: detector(image) for path, image in images.items()}
    boxes = []
    for s in samples:
        box, source = face_box_for(FaceSample(s.image_path, s.landmarks, None, s.identity), dets[s.image_path])
        boxes.append(box if source == "detector" else None)
    return boxes


def group_by_image(samples, boxes):
    """``[(image_path, [face indices])]`` of the detected faces, in first-seen order."""
    groups: dict[Path, list[int]] = {}
    for i, (s, b) in enumerate(zip(samples, boxes)):
        if b is not None:
            groups.setdefault(s.image_path, []).append(i)
    return list(groups.items())


def run_dlib(predictor, images, groups, boxes, n):
    """dlib landmarks ``(n, 68, 2)`` (NaN for undetected faces) and seconds spent in the predictor calls."""
    import dlib

    pred = np.full((n, 68, 2), np.nan, np.float32)
    spent = 0.0
    for path, idxs in groups:
        image = images[path]
        for i in idxs:
            l, t, r, b = (int(round(v)) for v in boxes[i])
            rect = dlib.rectangle(l, t, r - 1, b - 1)  # dlib's right/bottom are inclusive
            t0 = time.perf_counter()
            shape = predictor(image, rect)
            spent += time.perf_counter() - t0
            pred[i] = [(p.x, p.y) for p in shape.parts()]
    return pred, spent


def run_ours(model, images, groups, boxes, n, all_at_once: bool):
    """Our landmarks ``(n, 68, 2)`` and seconds: per image, or all faces in one call."""
    pred = np.full((n, 68, 2), np.nan, np.float32)
    if all_at_once:
        t0 = time.perf_counter()
        out = model.predict_boxes_many([images[p] for p, _ in groups], [[boxes[i] for i in idxs] for _, idxs in groups])
        spent = time.perf_counter() - t0
        for (_, idxs), lms in zip(groups, out):
            pred[idxs] = lms
        return pred, spent
    spent = 0.0
    for path, idxs in groups:
        t0 = time.perf_counter()
        lms = model.predict_boxes(images[path], [boxes[i] for i in idxs])
        spent += time.perf_counter() - t0
        pred[idxs] = lms
    return pred, spent


def best_of(repeat: int, fn):
    """Run ``fn`` (returning ``(result, seconds)``) ``repeat`` times; the last result and the least seconds."""
    best, res = float("inf"), None
    for _ in range(repeat):
        res, spent = fn()
        best = min(best, spent)
    return res, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="FORMAT:PATH (default: the shared ytf68)")
    ap.add_argument("--n", type=int, help="use N validation faces spread over the split (default: all)")
    ap.add_argument("--weights", help="safetensors weights (default: shipped)")
    ap.add_argument("--onnx", help="ONNX export to use (default: export --weights into --out-dir)")
    ap.add_argument("--batch-size", type=int, default=64, help="faces per network call when batching all faces")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per method; the fastest counts")
    ap.add_argument("--out-dir", type=Path, default=Path("out/bench"))
    args = ap.parse_args()

    import dlib
    import onnxruntime
    import torch

    from landmarker.decode import read_image
    from landmarker.detect import HogDetector
    from landmarker.metrics import FAILURE_THRESHOLD, nme, plot_ced, summarise
    from landmarker.onnx_export import export_onnx
    from landmarker.predictor import Landmarker

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = Path(args.onnx) if args.onnx else export_onnx(args.weights, args.out_dir / "landmarker.onnx")

    samples = load_faces(args.data, args.n)
    n = len(samples)
    images = {s.image_path: read_image(s.image_path) for s in samples}
    hog = HogDetector()
    boxes = detector_boxes(samples, images, hog)
    groups = group_by_image(samples, boxes)
    found = sum(b is not None for b in boxes)
    if not found:
        raise SystemExit("the HOG detector found none of the faces")
    gt = np.stack([s.landmarks for s in samples]).astype(np.float32)

    dlib_sp = dlib.shape_predictor(str(dlib_model_path()))
    torch_model = Landmarker(args.weights, detector=None, batch_size=args.batch_size, num_threads=threads)
    onnx_model = Landmarker(onnx_path, backend="onnx", detector=None, batch_size=args.batch_size, num_threads=threads)

    warm = groups[: min(4, len(groups))]
    runs = {}
    run_dlib(dlib_sp, images, warm, boxes, n)
    runs["dlib ERT 68"] = {"single": best_of(args.repeat, lambda: run_dlib(dlib_sp, images, groups, boxes, n))}
    for label, model in (("ours, PyTorch", torch_model), ("ours, ONNX Runtime", onnx_model)):
        run_ours(model, images, warm, boxes, n, False)
        run_ours(model, images, groups, boxes, n, True)
        runs[label] = {
            "single": best_of(args.repeat, lambda: run_ours(model, images, groups, boxes, n, False)),
            "batched": best_of(args.repeat, lambda: run_ours(model, images, groups, boxes, n, True)),
        }

    detected = np.array([b is not None for b in boxes])
    curves, rows, results = {}, [], {}
    for label, timed in runs.items():
        pred = timed["single"][0]
        per_face = np.full(n, np.inf)
        per_face[detected] = nme(pred[detected], gt[detected])
        stats = summarise(per_face)
        ms = {k: 1000 * v[1] / found for k, v in timed.items()}
        curves[label] = per_face
        results[label] = {**stats, **{f"ms_per_face_{k}": v for k, v in ms.items()}}
        batched = f"{ms['batched']:.2f}" if "batched" in ms else "—"
        rows.append(f"| {label} | {ms['single']:.2f} | {batched} | {100 * stats['nme_mean']:.2f} | "
                    f"{100 * stats['nme_median']:.2f} | {100 * stats['failure_rate']:.1f} |")
    diff = np.nanmax(np.abs(runs["ours, PyTorch"]["single"][0] - runs["ours, ONNX Runtime"]["single"][0]))

    ced = args.out_dir / "ced_landmarks_vs_dlib.png"
    plot_ced(curves, ced, title=f"CED, ytf68 identity-held-out val, {n} faces")
    (args.out_dir / "landmarks_vs_dlib.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"data: {args.data}, identity-held-out val split (0.1, seed 0), {n} faces in {len(images)} images")
    print(f"boxes: dlib HOG detector; it found {found} of {n} faces. The {n - found} missed face(s) count as "
          f"failures (NME = inf) for all three methods; NME mean is over the {found} found faces.")
    print(f"machine: {platform.machine()} {threads} CPUs, load average {os.getloadavg()[0]:.1f}; torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__} "
          f"({threads} intra-op threads), dlib {dlib.__version__}; best of {args.repeat} passes")
    print(f"largest PyTorch vs ONNX landmark difference: {diff:.4f} px\n")
    print("| method | ms/face, one image at a time | ms/face, all faces batched | NME mean (%) | "
          f"NME median (%) | failure rate (%, NME > {FAILURE_THRESHOLD:.2f}) |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nLandmark stage only (decoded image and face box given): dlib = the shape_predictor call; ours = "
          f"crop + ResNet18 + mapping back, faces of one image per call, or all faces in calls of "
          f"{args.batch_size}. ytf68 frames hold one face each, so 'one image at a time' is one face per call.")
    print(f"CED plot: {ced}")


if __name__ == "__main__":
    main()
