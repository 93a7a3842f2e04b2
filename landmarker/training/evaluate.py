"""``landmarker evaluate``: accuracy of a model on labelled faces, as a user would run it.

Several datasets (``--data`` repeated) are measured with one loaded model, one
Markdown table row each: faces, faces found by the detector, NME mean and median,
failure rate and the mean signed (x, y) offset in % of the inter-ocular distance
(:func:`~landmarker.training.metrics.mean_offset_iod`; a labelling-convention difference
between the training data and a test set shows up there). Above the table, one
line per dataset says whether its loader corrected the labels (``ytf68``: its
measured offset removed, :func:`~landmarker.io.datasets.label_correction`) or used
them as stored (every other format, ``ytf68-raw`` included); the JSON rows carry
the same words as ``labels``.

Each labelled face is matched to the detector's box that overlaps it (IoU > 0.3
with the box made from its landmarks), and the landmarks are predicted from that
box, exactly as ``predict`` would. A face the detector misses is predicted from
the landmark-derived box (the training rule) so NME covers every face; it is
also counted, and ``failure_rate_undetected`` counts those faces as failures.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from landmarker.inference.predictor import Landmarker
from landmarker.io.datasets import DatasetError, FaceSample, label_correction, load_dataset, split_by_identity
from landmarker.io.decode import read_image
from landmarker.model.card import ModelCard
from landmarker.model.crop import face_box_for
from landmarker.training.metrics import (
    FAILURE_THRESHOLD,
    mean_offset_iod,
    nme,
    plot_ced,
    point_errors,
    summarise,
)
from morphkit.errors import InvalidInput


def evaluate_samples(model: Landmarker, samples: list[FaceSample], desc: str = "evaluate") -> dict:
    """Predict every labelled face and measure it.

    Returns:
        dict with ``pred`` and ``gt`` float32 ``(n, 68, 2)``, ``nme`` ``(n,)``,
        ``mae`` ``(n,)`` pixels, ``detected`` bool ``(n,)``, ``fit`` ``(n,)`` fit scores
        (% IOD; ``nan`` unless the model flip-averages).
    """
    by_image: dict[Path, list[int]] = {}
    for i, s in enumerate(samples):
        by_image.setdefault(s.image_path, []).append(i)
    pred = np.zeros((len(samples), 68, 2), np.float32)
    fit = np.full(len(samples), np.nan)
    detected = np.zeros(len(samples), bool)
    for path, idxs in tqdm(by_image.items(), desc=desc, unit="image"):
        image = read_image(path)
        dets = model.detector(image)
        boxes = []
        for i in idxs:
            s = samples[i]
            box, source = face_box_for(FaceSample(s.image_path, s.landmarks, None, s.identity), dets)
            boxes.append(box)
            detected[i] = source == "detector"
        pred[idxs], fit[idxs] = model.predict_boxes_with_fit([image], [boxes])[0]
    gt = np.stack([s.landmarks for s in samples]).astype(np.float32)
    errors = point_errors(pred, gt)
    return {"pred": pred, "gt": gt, "nme": nme(pred, gt), "mae": np.nanmean(errors, axis=1), "detected": detected,
            "fit": fit}


def dataset_name(spec: str) -> str:
    """A short name for a ``FORMAT:PATH`` spec: the format and the last path part (``ytf68:ytf68``)."""
    fmt, _, path = spec.partition(":")
    return f"{fmt}:{Path(path).name or path}"


SPLITS = ("all", "train", "val")


def parse_data_spec(spec: str, default_split: str) -> tuple[str, str]:
    """``FORMAT:PATH[@SPLIT]`` -> ``(FORMAT:PATH, split)``; without a suffix the split is ``default_split``.

    A suffix lets one call hold the ytf68 validation split and whole external sets:
    ``--data ytf68:DIR@val --data dlib-xml:testing_with_face_landmarks.xml``.
    """
    head, sep, tail = spec.rpartition("@")
    if sep and tail in SPLITS:
        return head, tail
    return spec, default_split


def select_split(samples: list[FaceSample], split: str, val_fraction: float, seed: int) -> list[FaceSample]:
    """``samples`` itself for ``all``, else the ``train`` or ``val`` part of :func:`split_by_identity`."""
    if split == "all":
        return samples
    train, val = split_by_identity(samples, val_fraction, seed)
    return val if split == "val" else train


def measure(res: dict) -> dict:
    """The numbers of one dataset from :func:`evaluate_samples`'s result.

    Keys: ``faces``, ``detected``, ``nme_mean``, ``nme_median``, ``failure_rate``,
    ``failure_rate_undetected`` (missed faces count as failures), ``mae_px``, and
    ``offset_x_iod`` / ``offset_y_iod`` (:func:`mean_offset_iod`, fractions of the
    inter-ocular distance). With no faces the numbers are None.
    """
    n = len(res["nme"])
    if not n:
        keys = ("nme_mean", "nme_median", "failure_rate", "failure_rate_undetected", "mae_px",
                "offset_x_iod", "offset_y_iod")
        return {"faces": 0, "detected": 0, **dict.fromkeys(keys)}
    stats = summarise(res["nme"], res["mae"])
    stats["detected"] = int(res["detected"].sum())
    nme_undet = np.where(res["detected"], res["nme"], np.inf)
    stats["failure_rate_undetected"] = float((nme_undet > FAILURE_THRESHOLD).mean())
    dx, dy = mean_offset_iod(res["pred"], res["gt"])
    stats["offset_x_iod"], stats["offset_y_iod"] = float(dx), float(dy)
    return stats


def _pct(value, digits: int = 2, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:+.{digits}f}" if signed else f"{100 * value:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    """The rows of :func:`evaluate_command` as a Markdown table (numbers in %)."""
    lines = [
        "| dataset | split | faces | found | NME mean (%) | NME median (%) | "
        f"failure rate (%, NME > {FAILURE_THRESHOLD:.2f}) | mean offset x (% IOD) | mean offset y (% IOD) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['split']} | {r['faces']} | {r['detected']} | {_pct(r['nme_mean'])} | "
            f"{_pct(r['nme_median'])} | {_pct(r['failure_rate'], 1)} | {_pct(r['offset_x_iod'], signed=True)} | "
            f"{_pct(r['offset_y_iod'], signed=True)} |"
        )
    return "\n".join(lines)


def _command_line(args, specs: list[str]) -> str:
    parts = [f"--data {spec}" for spec in specs]
    parts += [f"--split {args.split}", f"--val-fraction {args.val_fraction}", f"--seed {args.seed}",
              f"--detector {args.detector}"]
    if getattr(args, "weights", None):
        parts.append(f"--weights {args.weights}")
    if getattr(args, "backend", None):
        parts.append(f"--backend {args.backend}")
    if getattr(args, "flip_average", False):
        parts.append("--flip-average")
    return "landmarker evaluate " + " ".join(parts)


def evaluate_command(args) -> int:
    """Run ``landmarker evaluate``: one table row per ``--data``, CED PNG, optional JSON and model card.

    Every dataset is loaded (and its split taken) before the model, so a bad spec
    fails at once. A dataset whose split holds no faces gets a row with 0 faces and
    a warning; when none has faces it is an error.

    Raises:
        DatasetError: a spec is malformed or its dataset unreadable (the message names it).
        ValueError: no dataset has faces in the chosen split.
    """
    if getattr(args, "update_card", False) and not args.weights:
        raise InvalidInput("--update-card writes the card beside the weights evaluated: name them with --weights FILE "
                         "(the shipped card is changed only when named: "
                         "--weights landmarker/weights/resnet18_ibug68.onnx)")
    specs = args.data if isinstance(args.data, list) else [args.data]
    from landmarker.model.backends import resolve_backend

    backend, weights = resolve_backend(getattr(args, "backend", None), args.weights)
    selected = []
    for given in specs:
        spec, split = parse_data_spec(given, args.split)
        try:
            samples = select_split(load_dataset(spec), split, args.val_fraction, args.seed)
        except DatasetError as err:
            if spec in str(err):
                raise
            raise DatasetError(f"--data {given}: {err}") from err
        if not samples:
            print(f"landmarker evaluate: warning: {given}: no faces in split {split!r}", file=sys.stderr)
        selected.append((spec, split, samples))
    if not any(samples for _, _, samples in selected):
        raise InvalidInput(f"{', '.join(specs)}: no faces in the chosen splits")

    names = [dataset_name(spec) for spec, _, _ in selected]
    if len(set(names)) < len(names):  # same last path part twice: show the specs in full
        names = [spec for spec, _, _ in selected]
    flip = bool(getattr(args, "flip_average", False))
    model = Landmarker(weights, detector=args.detector, backend=backend, flip_average=flip)
    rows, curves = [], {}
    for (spec, split, samples), name in zip(selected, names):
        if samples:
            res = evaluate_samples(model, samples, desc=name)
            curves[name if split == "all" else f"{name} ({split})"] = res["nme"]
        else:
            res = {"nme": np.zeros(0)}
        rows.append({"data": spec, "name": name, "split": split, "labels": label_correction(spec) or "as stored",
                     **measure(res)})

    print(f"weights: {args.weights or 'shipped'} ({backend}{', flip-averaged' if flip else ''}); "
          f"detector: {args.detector}; "
          f"NME: inter-ocular (points 36-45); offset: mean over faces of mean(pred - gt) / IOD, "
          f"+x right, +y down")
    for r in rows:
        print(f"labels of {r['name']}: {r['labels']}")
    print()
    print(markdown_table(rows))
    title = "CED" + ("" if args.split == "all" else
                     f" ({args.split} split, val_fraction {args.val_fraction}, seed {args.seed})")
    if args.ced:
        plot_ced(curves, args.ced, title=title)
        print(f"\nCED curves: {args.ced}")
    validation = {"command": _command_line(args, specs), "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(validation, indent=2) + "\n")
        print(f"JSON: {args.json}")
    if args.update_card:
        card = ModelCard.load(weights)
        card.data["validation"] = validation
        print(f"model card: {card.save()} updated")
    return 0
