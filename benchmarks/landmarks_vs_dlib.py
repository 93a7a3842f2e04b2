"""Landmark accuracy and speed: dlib's 68-point shape predictor vs ours (PyTorch, OpenVINO, ONNX Runtime).

One process, the same images and the same face boxes for every method, on each
``--data`` set (repeatable; default the shared ytf68):

- images: the split a ``FORMAT:PATH@SPLIT`` spec names (``all``, ``train`` or ``val`` of
  ``split_by_identity(samples, 0.1, 0)``, as ``landmarker evaluate``); without a suffix a
  ``ytf68`` set's held-out ``val`` split (the split training holds out) and every face of
  other sets; ``--n`` faces spread evenly over it when given;
- boxes: the dlib HOG detector's box for each labelled face (IoU > 0.3 with the box
  made from its landmarks, as training and ``landmarker evaluate`` match them). A face
  the detector misses counts as a failure (NME = inf) for every method;
- dlib: ``shape_predictor_68_face_landmarks.dat`` from face-recognition-models, an
  ensemble of regression trees (Kazemi and Sullivan, "One Millisecond Face Alignment
  with an Ensemble of Regression Trees", CVPR 2014), trained on iBUG 300-W;
- ours: the ResNet18 weights (``--weights``, default shipped) in PyTorch, their fp32
  ONNX export in ONNX Runtime (CPU), the shipped int8 ONNX model (``tools/quantize_onnx.py``)
  on each installed engine (:mod:`landmarker.model.engines`; the default one first), and the
  latter on the default engine with test-time flip averaging (``Landmarker(flip_average=True)``:
  the mirrored crop too, twice the network time).

Times cover the landmark stage only, on decoded images with known boxes: for dlib
the ``shape_predictor`` call; for ours crop + network + mapping back
(``Landmarker.predict_boxes_many``), once one image at a time (the faces of one
image in one batch) and once with all faces batched (``--batch-size``). Each is the
best of ``--repeat`` passes, in ms per face. Accuracy: inter-ocular NME (points 36
and 45), failure = NME > 0.10, and the mean signed (x, y) offset of the predictions
(``landmarker.training.metrics.mean_offset_iod``, % of the inter-ocular distance): a
labelling-convention difference between a method's training data and a test set shows
there. One table row per (dataset, method). Writes one CED plot per dataset and a JSON
of all rows to ``--out-dir``.

    .venv/bin/python benchmarks/landmarks_vs_dlib.py --n 60

ytf68 validation plus both dlib-faces XMLs (dlib-faces' labels come from dlib's own
predictor, so dlib scores flatteringly there; its timings rest on 18-25 faces, so read
the timing columns on the ytf68 rows):

    D=../shared/datasets
    .venv/bin/python benchmarks/landmarks_vs_dlib.py --n 100 --data ytf68:$D/ytf68 \\
        --data dlib-xml:$D/dlib-faces/testing_with_face_landmarks.xml \\
        --data dlib-xml:$D/dlib-faces/training_with_face_landmarks.xml
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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


# the formats of the shipped model's training data (ytf68, 300-W .pts): their held-out split by default
TRAINING_FORMATS = ("ytf68", "ytf68-raw", "pts")


def split_of(spec: str) -> tuple[str, str]:
    """``(FORMAT:PATH, split)`` of ``FORMAT:PATH[@SPLIT]`` (:func:`landmarker.training.evaluate.parse_data_spec`);
    without a suffix the training data's held-out ``val`` split, every face of other sets."""
    from landmarker.training.evaluate import parse_data_spec

    default = "val" if spec.partition(":")[0] in TRAINING_FORMATS else "all"
    return parse_data_spec(spec, default)


def load_faces(spec: str, n: int | None):
    """The faces to measure on: the split :func:`split_of` names (identity split 0.1, seed 0),
    ``n`` faces spread evenly over it when given (all when None)."""
    from landmarker.io.datasets import load_dataset
    from landmarker.training.evaluate import select_split

    path_spec, split = split_of(spec)
    faces = select_split(load_dataset(path_spec), split, 0.1, 0)
    if n is not None and n < len(faces):
        faces = [faces[i] for i in np.unique(np.linspace(0, len(faces) - 1, n).round().astype(int))]
    return faces


def detector_boxes(samples, images, detector):
    """The HOG box of each labelled face, or None where the detector missed it."""
    from landmarker.io.datasets import FaceSample
    from landmarker.training.data import face_box_for

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


TORCH, FP32 = "ours, PyTorch fp32", "ours, ONNX Runtime fp32"


def int8_label(engine: str, default: bool) -> str:
    """The table's name for the int8 model on ``engine`` (:mod:`landmarker.model.engines`)."""
    from landmarker.model.engines import LABELS

    return f"ours, {LABELS[engine]} int8" + (" (default)" if default else "")


def measure_dataset(samples, models, args):
    """Time and score every method on one set; ``None`` when the detector found none of its faces.

    Returns:
        dict with ``n``, ``images``, ``found``, ``curves`` (method -> per-face NME, inf
        for missed faces), ``results`` (method -> numbers) and ``diff`` (largest PyTorch
        vs int8 ONNX landmark difference, px; vs the fp32 ONNX export when there is no int8 model:
        ``diff_to`` names it).
    """
    from landmarker.io.decode import read_image
    from landmarker.training.metrics import mean_offset_iod, nme, summarise

    dlib_sp, hog, ours = models
    n = len(samples)
    images = {s.image_path: read_image(s.image_path) for s in samples}
    boxes = detector_boxes(samples, images, hog)
    groups = group_by_image(samples, boxes)
    found = sum(b is not None for b in boxes)
    if not found:
        return None
    gt = np.stack([s.landmarks for s in samples]).astype(np.float32)

    warm = groups[: min(4, len(groups))]
    runs = {}
    run_dlib(dlib_sp, images, warm, boxes, n)
    runs["dlib ERT 68"] = {"single": best_of(args.repeat, lambda: run_dlib(dlib_sp, images, groups, boxes, n))}
    for label, model in ours.items():
        run_ours(model, images, warm, boxes, n, False)
        run_ours(model, images, groups, boxes, n, True)
        runs[label] = {
            "single": best_of(args.repeat, lambda model=model: run_ours(model, images, groups, boxes, n, False)),
            "batched": best_of(args.repeat, lambda model=model: run_ours(model, images, groups, boxes, n, True)),
        }

    detected = np.array([b is not None for b in boxes])
    curves, results = {}, {}
    for label, timed in runs.items():
        pred = timed["single"][0]
        per_face = np.full(n, np.inf)
        per_face[detected] = nme(pred[detected], gt[detected])
        stats = summarise(per_face)
        dx, dy = mean_offset_iod(pred[detected], gt[detected])
        stats["offset_x_iod"], stats["offset_y_iod"] = float(dx), float(dy)
        stats["detected"] = found
        ms = {k: 1000 * v[1] / found for k, v in timed.items()}
        curves[label] = per_face
        results[label] = {**stats, **{f"ms_per_face_{k}": v for k, v in ms.items()}}
    other = next((k for k in runs if k.endswith("int8 (default)")), FP32)  # --weights without --int8: no int8 model
    diff = float(np.nanmax(np.abs(runs[TORCH]["single"][0] - runs[other]["single"][0])))
    return {"n": n, "images": len(images), "found": found, "curves": curves, "results": results, "diff": diff,
            "diff_to": other}


def table_row(name: str, label: str, r: dict) -> str:
    """One Markdown row: dataset, method, timings, NME, failure rate, mean offset (numbers in %)."""
    batched = f"{r['ms_per_face_batched']:.2f}" if "ms_per_face_batched" in r else "—"
    return (f"| {name} | {label} | {r['ms_per_face_single']:.2f} | {batched} | {100 * r['nme_mean']:.2f} | "
            f"{100 * r['nme_median']:.2f} | {100 * r['failure_rate']:.1f} | {100 * r['offset_x_iod']:+.2f} | "
            f"{100 * r['offset_y_iod']:+.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append",
                    help="FORMAT:PATH[@all|train|val], repeatable; without a suffix ytf68 sets are measured on "
                    "their held-out val split, other sets on all faces (default: the shared ytf68)")
    ap.add_argument("--n", type=int, help="use N faces spread over each set's split (default: all)")
    ap.add_argument("--weights", help="safetensors weights (default: shipped)")
    ap.add_argument("--onnx", help="fp32 ONNX export to use (default: export --weights into --out-dir)")
    ap.add_argument("--int8", help="int8 ONNX model (default: the shipped one, when --weights is not given)")
    ap.add_argument("--batch-size", type=int, default=64, help="faces per network call when batching all faces")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per method; the fastest counts")
    ap.add_argument("--out-dir", type=Path, default=Path("out/bench"))
    args = ap.parse_args()
    specs = args.data or [DEFAULT_DATA]

    import dlib
    import onnxruntime
    import torch

    from landmarker.inference.detect import HogDetector
    from landmarker.inference.predictor import Landmarker
    from landmarker.model.card import SHIPPED_ONNX
    from landmarker.model.engines import ENGINES, default_engine, installed, version
    from landmarker.model.export import export_onnx
    from landmarker.training.evaluate import dataset_name
    from landmarker.training.metrics import FAILURE_THRESHOLD, plot_ced

    faces = [(spec, load_faces(spec, args.n)) for spec in specs]  # a bad spec fails before any work
    names = [dataset_name(spec) for spec in specs]
    if len(set(names)) < len(names):
        names = list(specs)

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = Path(args.onnx) if args.onnx else export_onnx(args.weights, args.out_dir / "landmarker.onnx")
    kw = dict(detector=None, batch_size=args.batch_size, num_threads=threads)
    int8 = args.int8 or (None if args.weights else SHIPPED_ONNX)
    ours = {TORCH: Landmarker(args.weights, backend="torch", **kw), FP32: Landmarker(onnx_path, **kw)}
    engines = [default_engine()] + [e for e in ENGINES if e != default_engine() and installed(e)]
    if int8:
        for engine in engines:  # each engine a row; the int8 check may move a run to another engine: said below
            ours[int8_label(engine, engine == engines[0])] = Landmarker(int8, backend=engine, **kw)
        ours[int8_label(engines[0], True) + ", flip-averaged"] = Landmarker(int8, flip_average=True, **kw)
    models = (dlib.shape_predictor(str(dlib_model_path())), HogDetector(), ours)

    rows, results, notes = [], {}, []
    for (spec, samples), name in zip(faces, names):
        m = measure_dataset(samples, models, args)
        split = split_of(spec)[1]
        which = "all faces" if split == "all" else f"identity-held-out {split} split (0.1, seed 0)"
        if m is None:
            notes.append(f"- {name} ({spec}, {which}): the HOG detector found none of its {len(samples)} faces; "
                         "no row")
            continue
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        ced = args.out_dir / f"ced_landmarks_vs_dlib_{slug}.png"
        plot_ced(m["curves"], ced, title=f"CED, {name}, {which}, {m['n']} faces")
        results[spec] = {"name": name, "faces": m["n"], "detected": m["found"], "methods": m["results"]}
        rows += [table_row(name, label, r) for label, r in m["results"].items()]
        notes.append(
            f"- {name} ({spec}): {which}, {m['n']} faces in {m['images']} images; the HOG detector found "
            f"{m['found']}, the {m['n'] - m['found']} missed face(s) count as failures (NME = inf) for all "
            f"methods, NME mean and offsets are over the found faces; largest PyTorch fp32 vs {m['diff_to']} "
            f"landmark difference {m['diff']:.4f} px; CED plot {ced}"
        )
    if not rows:
        raise SystemExit("the HOG detector found none of the faces")
    (args.out_dir / "landmarks_vs_dlib.json").write_text(json.dumps(results, indent=2) + "\n")

    from landmarker.model.int8_check import describe_cpu

    print(f"machine: {describe_cpu()}, {threads} CPUs, load average {os.getloadavg()[0]:.1f}; torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}, "
          f"{', '.join(version(e) for e in engines)} ({threads} threads), dlib {dlib.__version__}; best of "
          f"{args.repeat} passes; boxes: dlib HOG detector")
    for label, model in ours.items():
        if getattr(model.backend, "check", None) is not None:
            print(f"- {label}: runs on {version(model.backend.engine)}, {model.backend.check.describe()}")
    print("\n".join(notes) + "\n")
    print("| dataset | method | ms/face, one image at a time | ms/face, all faces batched | NME mean (%) | "
          f"NME median (%) | failure rate (%, NME > {FAILURE_THRESHOLD:.2f}) | mean offset x (% IOD) | "
          "mean offset y (% IOD) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nLandmark stage only (decoded image and face box given): dlib = the shape_predictor call; ours = "
          f"crop + ResNet18 + mapping back, faces of one image per call, or all faces in calls of "
          f"{args.batch_size}. ytf68 frames hold one face each, so 'one image at a time' is one face per call. "
          f"Timings over a few dozen faces are noisy. Offset: mean over faces of mean(pred - gt) / IOD, "
          f"+x right, +y down.")
    for _spec, r in results.items():
        m = r["methods"]
        dlib_ms = m["dlib ERT 68"]["ms_per_face_single"]
        for label in (int8_label(e, e == engines[0]) for e in engines):
            if label in m:
                print(f"{r['name']}: {label} landmark stage {m[label]['ms_per_face_batched']:.2f} ms/face batched "
                      f"({m[label]['ms_per_face_batched'] / dlib_ms:.2f}x dlib's {dlib_ms:.2f} ms), "
                      f"{m[label]['ms_per_face_single']:.2f} ms one image at a time "
                      f"({m[label]['ms_per_face_single'] / dlib_ms:.2f}x)")
    print(f"JSON: {args.out_dir / 'landmarks_vs_dlib.json'}")


if __name__ == "__main__":
    main()
