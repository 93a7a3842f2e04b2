"""Split a landmark error into convention (a constant offset per point) and precision, ours beside dlib's.

Two labellers can place a point differently on every face (the FRL template's jaw and brow points are
not drawn quite where 300-W draws them): that part of the NME is a constant offset per point, the same
on every face. What is left after removing it is precision. For each method, each point's mean offset
over the set's faces (fraction of each face's inter-ocular distance) is subtracted and the NME scored
again. The offset is estimated on the same faces, so the second figure flatters every method alike;
compare the methods, not the figure with other tables.

Same faces, same dlib HOG boxes (upsampled once), landmark stage only, as ``landmarks_vs_dlib.py``:

    .venv/bin/python benchmarks/bias_vs_precision.py --data tem:../shared/datasets/frl-canada
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from landmarks_vs_dlib import detector_boxes, dlib_model_path, group_by_image, load_faces, run_dlib, run_ours

from morphkit.ibug68 import inter_ocular_distance


def nme_without_offset(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """``(NME mean, NME mean with each point's mean offset removed)`` of ``pred`` against ``gt``,
    both float ``(n, 68, 2)`` pixels (NaN where the labels lack a point), as fractions of the IOD."""
    from landmarker.training.metrics import nme

    iod = inter_ocular_distance(gt)[:, None, None]
    with warnings.catch_warnings():  # a point no face has (a template's missing point): NaN, as wanted
        warnings.simplefilter("ignore", RuntimeWarning)
        offset = np.nanmean((pred - gt) / iod, axis=0)  # (68, 2); NaN where no face has the point
    return float(nme(pred, gt).mean()), float(nme(pred - offset[None] * iod, gt).mean())


def main() -> None:
    import dlib

    from landmarker.inference.detect import HogDetector
    from landmarker.inference.predictor import Landmarker
    from landmarker.io.decode import read_image
    from landmarker.model.int8_check import describe_cpu

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH[@SPLIT], as landmarks_vs_dlib.py")
    ap.add_argument("--weights", help="ours: weights file (default: the shipped int8 model)")
    args = ap.parse_args()
    print(f"CPU: {describe_cpu()}; NME mean, % of the IOD")
    print("| data | method | faces | NME | per-point offset removed |\n|---|---|---:|---:|---:|")
    ours = Landmarker(args.weights) if args.weights else Landmarker()
    predictor = dlib.shape_predictor(str(dlib_model_path()))
    for spec in args.data:
        samples = load_faces(spec, None)
        images = {s.image_path: read_image(s.image_path) for s in samples}
        boxes = detector_boxes(samples, images, HogDetector(upsample=1))
        groups, n = group_by_image(samples, boxes), len(samples)
        found = np.array([b is not None for b in boxes])
        gt = np.stack([s.landmarks for s in samples]).astype(np.float32)[found]
        for name, pred in (("dlib ERT 68", run_dlib(predictor, images, groups, boxes, n)[0]),
                           ("ours", run_ours(ours, images, groups, boxes, n, False)[0])):
            plain, debiased = nme_without_offset(pred[found], gt)
            print(f"| {spec} | {name} | {int(found.sum())} | {100 * plain:.2f}% | {100 * debiased:.2f}% |")


if __name__ == "__main__":
    main()
