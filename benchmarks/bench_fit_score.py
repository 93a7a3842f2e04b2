"""Does the fit score predict landmark error? Spearman correlation and the NME left when the worst fits go.

The fit score (``Landmarker(flip_average=True)``, :attr:`landmarker.io.face.Face.fit`)
is the mean distance, in % of the inter-ocular distance, between the landmarks predicted
on a face crop and on its mirror image. For each ``--data`` set (ytf68's validation
split, dlib-faces' XMLs: labelled by others, not trained on) this prints the Spearman
rank correlation between fit score and NME, the NME mean of all faces, of the 95% with
the best fit (dropping the worst 5%, what ``team-means --max-fit-score`` does), and of
the dropped ones.

    D=../shared/datasets
    .venv/bin/python benchmarks/bench_fit_score.py --data ytf68:$D/ytf68@val \\
        --data dlib-xml:$D/dlib-faces/testing_with_face_landmarks.xml \\
        --data dlib-xml:$D/dlib-faces/training_with_face_landmarks.xml
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from anchor_runs import cpu_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH[@SPLIT], repeatable")
    ap.add_argument("--drop", type=float, default=0.05, help="share of the worst fits dropped (default 0.05)")
    args = ap.parse_args()

    from scipy.stats import spearmanr

    from landmarker.inference.predictor import Landmarker
    from landmarker.io.datasets import load_dataset
    from landmarker.training.evaluate import evaluate_samples, parse_data_spec, select_split

    model = Landmarker(flip_average=True)
    print(f"{cpu_name()}, {os.cpu_count()} CPUs; default model, flip-averaged (the fit score needs the mirrored crop)")
    print("| data | faces | Spearman(fit, NME) | NME all | NME kept | NME dropped | fit threshold (% IOD) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for given in args.data:
        spec, split = parse_data_spec(given, "all")
        samples = select_split(load_dataset(spec), split, 0.1, 0)
        res = evaluate_samples(model, samples, desc=given)
        fit, err = res["fit"], res["nme"]
        rho = spearmanr(fit, err).statistic
        cut = np.quantile(fit, 1 - args.drop)
        kept, dropped = err[fit <= cut], err[fit > cut]
        print(f"| {given} | {len(err)} | {rho:.2f} | {100 * err.mean():.2f}% | {100 * kept.mean():.2f}% | "
              f"{100 * dropped.mean() if len(dropped) else float('nan'):.2f}% | {cut:.2f} |")


if __name__ == "__main__":
    main()
