"""``landmarker evaluate``: accuracy of a model on labelled faces, as a user would run it.

Each labelled face is matched to the detector's box that overlaps it (IoU > 0.3
with the box made from its landmarks), and the landmarks are predicted from that
box, exactly as ``predict`` would. A face the detector misses is predicted from
the landmark-derived box (the training rule) so NME covers every face; it is
also counted, and ``failure_rate_undetected`` counts those faces as failures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .backends import default_onnx_path
from .datasets import FaceSample, load_dataset, split_by_identity
from .decode import read_image
from .metrics import FAILURE_THRESHOLD, nme, plot_ced, point_errors, summarise
from .model import SHIPPED_WEIGHTS, card_path, load_card
from .predictor import Landmarker
from .training_data import face_box_for


def evaluate_samples(model: Landmarker, samples: list[FaceSample]) -> dict:
    """Predict every labelled face and measure it.

    Returns:
        dict with ``pred`` and ``gt`` float32 ``(n, 68, 2)``, ``nme`` ``(n,)``,
        ``mae`` ``(n,)`` pixels, ``detected`` bool ``(n,)``.
    """
    by_image: dict[Path, list[int]] = {}
    for i, s in enumerate(samples):
        by_image.setdefault(s.image_path, []).append(i)
    pred = np.zeros((len(samples), 68, 2), np.float32)
    detected = np.zeros(len(samples), bool)
    for path, idxs in tqdm(by_image.items(), desc="evaluate", unit="image"):
        image = read_image(path)
        dets = model.detector(image)
        boxes = []
        for i in idxs:
            s = samples[i]
            box, source = face_box_for(FaceSample(s.image_path, s.landmarks, None, s.identity), dets)
            boxes.append(box)
            detected[i] = source == "detector"
        pred[idxs] = model.predict_boxes(image, boxes)
    gt = np.stack([s.landmarks for s in samples]).astype(np.float32)
    errors = point_errors(pred, gt)
    return {"pred": pred, "gt": gt, "nme": nme(pred, gt), "mae": errors.mean(axis=1), "detected": detected}


def evaluate_command(args) -> int:
    """Run ``landmarker evaluate``; prints the metrics and writes the CED PNG."""
    samples = load_dataset(args.data)
    if args.split != "all":
        train, val = split_by_identity(samples, args.val_fraction, args.seed)
        samples = val if args.split == "val" else train
    if not samples:
        raise ValueError(f"{args.data}: no faces in split {args.split!r}")
    model = Landmarker(args.weights, detector=args.detector, backend=getattr(args, "backend", "torch"))
    res = evaluate_samples(model, samples)
    stats = summarise(res["nme"], res["mae"])
    nme_undet = np.where(res["detected"], res["nme"], np.inf)
    stats["detected"] = int(res["detected"].sum())
    stats["failure_rate_undetected"] = float((nme_undet > FAILURE_THRESHOLD).mean())
    stats["data"] = args.data
    stats["split"] = args.split if args.split == "all" else f"{args.split} (val_fraction {args.val_fraction}, seed {args.seed})"
    print(f"data            {args.data} [{stats['split']}]")
    print(f"faces           {stats['faces']} ({stats['detected']} found by the {args.detector} detector)")
    print(f"NME mean        {100 * stats['nme_mean']:.2f}%  (inter-ocular, points 36-45)")
    print(f"NME median      {100 * stats['nme_median']:.2f}%")
    print(f"failure rate    {100 * stats['failure_rate']:.2f}%  (NME > {FAILURE_THRESHOLD:.2f})")
    print(f"failure rate    {100 * stats['failure_rate_undetected']:.2f}%  (undetected faces counted as failures)")
    print(f"MAE             {stats['mae_px']:.2f} px")
    plot_ced({"landmarker": res["nme"]}, args.ced, title=f"CED on {Path(args.data.partition(':')[2]).name} ({args.split})")
    print(f"CED curve       {args.ced}")
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=2) + "\n")
    if args.update_card:
        default = default_onnx_path() if getattr(args, "backend", "torch") == "onnx" else SHIPPED_WEIGHTS
        weights = Path(args.weights) if args.weights else default
        card = load_card(weights)
        card["validation"] = {
            "command": "landmarker evaluate " + " ".join(
                [f"--data {args.data}", f"--split {args.split}", f"--val-fraction {args.val_fraction}",
                 f"--seed {args.seed}", f"--detector {args.detector}"]),
            **stats,
        }
        card_path(weights).write_text(json.dumps(card, indent=2) + "\n")
        print(f"model card      {card_path(weights)} updated")
    return 0
